/* pal_enc.c — three small audio encoders trained with three objectives
 * (brief §7), then frozen and their outputs cached:
 *   ssl  (~SSLAM):   2 stride-2 convs + 2 transformer layers, masked-spectrogram reconstruction
 *   asr  (~Whisper): the same shape, supervised on digit + speaker (FSDD clips) and on the
 *                    words (espeak-ng word clips: adjective / noun / verb heads)
 *   clap (~CLAP):    the convs + attention pooling, InfoNCE against caption bag-of-words embeddings
 * Tested through tests/plugins/test_pal.c (shapes, a falling objective) and
 * tests/plugins/test_pal_words.c (the asr objective on word clips). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pal_int.h"

static lab_tensor *eparam(lab_params *p, const char *name, int ndim, const int64_t *shape, float std, lab_rng *rng)
{
    lab_tensor *t = lab_tensor_empty(LAB_F32, ndim, shape, LAB_CPU);
    if (!t) return NULL;
    if (std > 0)
        lab_init_normal_(t, rng, 0, std);
    else if (std == 0)
        lab_init_zeros_(t);
    else
        lab_init_constant_(t, 1);
    return lab_params_add(p, name, t);
}
#define E2(nm, a, b, sd) eparam(e->p, (nm), 2, (int64_t[]){(a), (b)}, (sd), rng)
#define E1(nm, a, sd) eparam(e->p, (nm), 1, (int64_t[]){(a)}, (sd), rng)

int pal_encoder_init(pal_encoder *e, pal_enc_kind kind, int64_t de, lab_rng *rng)
{
    memset(e, 0, sizeof *e);
    if (de < 8 || de % 8 != 0) return lab_error_set("pal: encoder width %lld must be a multiple of 8", (long long)de);
    e->kind = kind, e->de = de, e->heads = 4, e->p = lab_params_new();
    e->nlayers = kind == PAL_ENC_CLAP ? 0 : 2;
    float s1 = 1.0f / sqrtf(2.0f * PAL_MELS), s2 = 1.0f / sqrtf(2.0f * (float)de), sd = 1.0f / sqrtf((float)de);
    int ok = (e->c1 = E2("conv1", de, 2 * PAL_MELS, s1)) && (e->b1 = E1("conv1_b", de, 0)) &&
             (e->c2 = E2("conv2", de, 2 * de, s2)) && (e->b2 = E1("conv2_b", de, 0));
    char n[64];
    for (int l = 0; ok && l < e->nlayers; l++) {
        pal_enc_layer *L = &e->layer[l];
#define LN(f, expr, suf) (snprintf(n, sizeof n, "layer.%d.%s", l, suf), (L->f = (expr)) != NULL)
        ok = LN(n1, E1(n, de, -1), "n1") && LN(wq, E2(n, de, de, sd), "wq") && LN(wk, E2(n, de, de, sd), "wk") &&
             LN(wv, E2(n, de, de, sd), "wv") && LN(wo, E2(n, de, de, sd * 0.5f), "wo") && LN(n2, E1(n, de, -1), "n2") &&
             LN(w1, E2(n, 4 * de, de, sd), "w1") && LN(w2, E2(n, de, 4 * de, sd * 0.25f), "w2");
#undef LN
    }
    if (ok && kind == PAL_ENC_SSL) ok = (e->rec = E2("rec", 4 * PAL_MELS, de, sd)) != NULL;
    if (ok && kind == PAL_ENC_ASR)
        ok = (e->hd = E2("head_digit", 10, de, sd)) && (e->hs = E2("head_speaker", 6, de, sd)) &&
             (e->hwa = E2("head_adj", PAL_N_ADJ + 1, de, sd)) && (e->hwn = E2("head_noun", PAL_N_NOUN, de, sd)) &&
             (e->hwv = E2("head_verb", PAL_N_VERB + 1, de, sd));
    if (ok && kind == PAL_ENC_CLAP)
        ok = (e->pq = E1("pool_q", de, sd)) && (e->pa = E2("proj_audio", 64, de, sd)) &&
             (e->pt = E2("proj_text", 64, pal_vocab_size(), 0.1f));
    if (!ok) {
        pal_encoder_free(e);
        return -1;
    }
    return 0;
}

void pal_encoder_free(pal_encoder *e)
{
    lab_params_free(e->p);
    memset(e, 0, sizeof *e);
}

static lab_tensor *heads4(lab_tensor *x, int64_t h)
{
    int64_t B = x->shape[0], T = x->shape[1], d = x->shape[2];
    return lab_transpose(lab_reshape(x, 4, (int64_t[]){B, T, h, d / h}), 1, 2);
}

lab_tensor *pal_encoder_forward(const pal_encoder *e, lab_tensor *x)
{
    if (!x) return NULL;
    int64_t B = x->shape[0], de = e->de, T = PAL_ENC_T;
    lab_tensor *h = lab_reshape(lab_slice(x, 1, 0, 4 * T), 3, (int64_t[]){B, 2 * T, 2 * PAL_MELS});
    h = lab_gelu(lab_linear(h, e->c1, e->b1));
    h = lab_gelu(lab_linear(lab_reshape(h, 3, (int64_t[]){B, T, 2 * de}), e->c2, e->b2));
    lab_scope_begin();
    lab_tensor *pos = lab_tensor_arange(T, LAB_CPU);
    for (int l = 0; l < e->nlayers; l++) {
        const pal_enc_layer *L = &e->layer[l];
        lab_tensor *a = lab_rmsnorm(h, L->n1, 1e-5f);
        lab_tensor *q = lab_rope(heads4(lab_linear(a, L->wq, NULL), e->heads), pos, 10000.0f);
        lab_tensor *k = lab_rope(heads4(lab_linear(a, L->wk, NULL), e->heads), pos, 10000.0f);
        lab_tensor *v = heads4(lab_linear(a, L->wv, NULL), e->heads);
        lab_tensor *o = lab_reshape(lab_transpose(lab_attention(q, k, v, NULL, 0), 1, 2), 3, (int64_t[]){B, T, de});
        h = lab_add(h, lab_linear(o, L->wo, NULL));
        h = lab_add(h, lab_linear(lab_gelu(lab_linear(lab_rmsnorm(h, L->n2, 1e-5f), L->w1, NULL)), L->w2, NULL));
    }
    lab_keep(h);
    lab_scope_end();
    return h;
}

/* L2-normalise the rows of x [B, D]. */
static lab_tensor *l2norm(lab_tensor *x)
{
    return lab_mul(x, lab_rsqrt(lab_add_scalar(lab_sum(lab_square(x), 1, 1), 1e-8f)));
}

lab_tensor *pal_encoder_loss(const pal_encoder *e, const pal_split *sp, lab_tensor *idx, lab_rng *rng)
{
    int64_t B = idx->shape[0], T = PAL_ENC_T;
    lab_tensor *x = lab_index_select(sp->feats, 0, idx);
    if (!x) return NULL;
    const int64_t *meta = lab_tensor_i64(sp->meta), *iv = lab_tensor_i64(idx);
    if (e->kind == PAL_ENC_SSL) {
        /* Mask 30% of the token spans (4 frames each) and reconstruct them. */
        lab_tensor *keep = lab_tensor_full(LAB_F32, 3, (int64_t[]){B, PAL_FRAMES, 1}, 1.0, LAB_CPU);
        lab_tensor *tm = lab_tensor_zeros(LAB_F32, 3, (int64_t[]){B, T, 1}, LAB_CPU);
        float *kv = lab_tensor_f32(keep), *mv = lab_tensor_f32(tm);
        for (int64_t b = 0; b < B; b++)
            for (int64_t t = 0; t < T; t++)
                if (lab_rng_next_uniform(rng) < 0.3) {
                    mv[b * T + t] = 1;
                    for (int k = 0; k < 4; k++) kv[b * PAL_FRAMES + 4 * t + k] = 0;
                }
        lab_tensor *pred = lab_linear(pal_encoder_forward(e, lab_mul(x, keep)), e->rec, NULL);
        lab_tensor *tgt = lab_reshape(lab_slice(x, 1, 0, 4 * T), 3, (int64_t[]){B, T, 4 * PAL_MELS});
        lab_tensor *err = lab_mul(lab_square(lab_sub(pred, tgt)), tm);
        float cnt = 0;
        for (int64_t i = 0; i < B * T; i++) cnt += mv[i];
        return lab_mul_scalar(lab_sum_all(err), 1.0f / (fmaxf(cnt, 1) * 4 * PAL_MELS));
    }
    lab_tensor *h = pal_encoder_forward(e, x);
    if (e->kind == PAL_ENC_ASR) {
        /* FSDD rows: digit + speaker; word-clip rows: the adjective (or none),
         * noun and verb (or none). Each term is a mean over its own rows. */
        lab_tensor *pooled = lab_mean(h, 1, 0);
        int64_t nf = 0, nw = 0;
        for (int64_t b = 0; b < B; b++) nw += meta[iv[b] * PAL_NMETA + PAL_M_NWORDS] > 0;
        nf = B - nw;
        lab_tensor *rf = lab_tensor_empty(LAB_I64, 1, &nf, LAB_CPU), *rw = lab_tensor_empty(LAB_I64, 1, &nw, LAB_CPU);
        lab_tensor *yd = lab_tensor_empty(LAB_I64, 1, &nf, LAB_CPU), *ys = lab_tensor_empty(LAB_I64, 1, &nf, LAB_CPU);
        lab_tensor *ya = lab_tensor_empty(LAB_I64, 1, &nw, LAB_CPU), *yn = lab_tensor_empty(LAB_I64, 1, &nw, LAB_CPU);
        lab_tensor *yv = lab_tensor_empty(LAB_I64, 1, &nw, LAB_CPU);
        if (!rf || !rw || !yd || !ys || !ya || !yn || !yv) return NULL;
        int64_t jf = 0, jw = 0;
        for (int64_t b = 0; b < B; b++) {
            const int64_t *m = meta + iv[b] * PAL_NMETA;
            if (m[PAL_M_NWORDS] > 0) {
                lab_tensor_i64(rw)[jw] = b;
                lab_tensor_i64(ya)[jw] = m[PAL_M_NWORDS] >= 2 ? m[PAL_M_ADJ] : PAL_N_ADJ;
                lab_tensor_i64(yn)[jw] = m[PAL_M_NOUN];
                lab_tensor_i64(yv)[jw++] = m[PAL_M_NWORDS] >= 3 ? m[PAL_M_VERB] : PAL_N_VERB;
            } else {
                lab_tensor_i64(rf)[jf] = b;
                lab_tensor_i64(yd)[jf] = m[PAL_M_DIGIT];
                lab_tensor_i64(ys)[jf++] = m[PAL_M_SPK];
            }
        }
        lab_tensor *loss = NULL;
        if (nf > 0) {
            lab_tensor *pf = nw > 0 ? lab_index_select(pooled, 0, rf) : pooled;
            loss = lab_add(lab_cross_entropy(lab_linear(pf, e->hd, NULL), yd),
                           lab_cross_entropy(lab_linear(pf, e->hs, NULL), ys));
        }
        if (nw > 0) {
            lab_tensor *pw = nf > 0 ? lab_index_select(pooled, 0, rw) : pooled;
            lab_tensor *lw = lab_add(lab_add(lab_cross_entropy(lab_linear(pw, e->hwa, NULL), ya),
                                             lab_cross_entropy(lab_linear(pw, e->hwn, NULL), yn)),
                                     lab_cross_entropy(lab_linear(pw, e->hwv, NULL), yv));
            loss = loss ? lab_add(loss, lw) : lw;
        }
        return loss;
    }
    /* clap: attention pooling, InfoNCE against the caption's bag of words. */
    int64_t V = pal_vocab_size();
    lab_tensor *w = lab_softmax(lab_reshape(lab_matmul(h, lab_reshape(e->pq, 2, (int64_t[]){e->de, 1})), 2,
                                            (int64_t[]){B, T}), 1);
    lab_tensor *pooled = lab_reshape(lab_matmul(lab_reshape(w, 3, (int64_t[]){B, 1, T}), h), 2, (int64_t[]){B, e->de});
    lab_tensor *bow = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){B, V}, LAB_CPU);
    for (int64_t b = 0; b < B; b++) {
        char cap[256];
        int64_t ids[64];
        pal_answer(meta + iv[b] * PAL_NMETA, PAL_Q_CAPTION, cap, sizeof cap);
        int n = pal_tokenize(cap, ids, 64);
        for (int i = 0; i < n; i++) lab_tensor_f32(bow)[b * V + ids[i]] = 1;
    }
    lab_tensor *za = l2norm(lab_linear(pooled, e->pa, NULL)), *zt = l2norm(lab_linear(bow, e->pt, NULL));
    lab_tensor *logits = lab_mul_scalar(lab_matmul_t(za, zt, 0, 1), 10.0f);
    lab_tensor *y = lab_tensor_arange(B, LAB_CPU);
    return lab_mul_scalar(lab_add(lab_cross_entropy(logits, y), lab_cross_entropy(lab_transpose(logits, 0, 1), y)), 0.5f);
}

int pal_encoder_prepare(pal_encoder *e, const pal_split *train, int64_t steps, int64_t batch, double lr,
                        const char *cache_path, lab_rng *rng, lab_ctx *ctx)
{
    if (cache_path && access(cache_path, R_OK) == 0) {
        lab_params *src = lab_safetensors_load(cache_path, LAB_CPU, NULL);
        int rc = src ? lab_params_load(e->p, src, 0) : -1;
        lab_params_free(src);
        if (rc == 0) {
            if (ctx) lab_ctx_log(ctx, "pal: encoder %s loaded from %s", pal_enc_name(e->kind), cache_path);
            goto freeze;
        }
        if (ctx) lab_ctx_warn(ctx, "pal: ignoring encoder cache %s: %s", cache_path, lab_error());
    }
    {
        lab_optim_config oc = lab_optim_defaults(LAB_OPTIM_ADAMW);
        oc.lr = (float)lr;
        lab_optim *opt = lab_optim_new(&oc, e->p);
        if (!opt) return -1;
        lab_lr_schedule sch = {LAB_LR_COSINE, (float)lr, (float)lr * 0.1f, 0, 0, steps + 1, steps > 20 ? 20 : 0};
        double first = 0, last = 0;
        for (int64_t s = 0; s < steps; s++) {
            lab_scope_begin();
            lab_tensor *idx = lab_rng_randint(rng, 1, &batch, 0, train->n, LAB_CPU);
            lab_tensor *loss = pal_encoder_loss(e, train, idx, rng);
            int rc = loss ? lab_backward(loss) : -1;
            float lv = loss ? lab_tensor_item(loss) : NAN;
            lab_scope_end();
            if (rc < 0) {
                lab_optim_free(opt);
                return -1;
            }
            lab_optim_set_lr(opt, lab_lr_at(&sch, s));
            lab_optim_step(opt);
            lab_optim_zero_grad(opt);
            if (s < 10) first += lv / 10;
            if (s >= steps - 10) last += lv / 10;
        }
        lab_optim_free(opt);
        if (ctx)
            lab_ctx_log(ctx, "pal: encoder %s pre-trained %lld steps: objective %.4f -> %.4f", pal_enc_name(e->kind),
                        (long long)steps, first, last);
        if (cache_path) {
            const char *meta[] = {"format", "pal-encoder-1", NULL};
            if (lab_safetensors_save(cache_path, e->p, meta) < 0) return -1;
        }
    }
freeze:
    for (int i = 0; i < e->p->n; i++) lab_tensor_set_requires_grad(e->p->tensors[i], 0);
    return 0;
}

lab_tensor *pal_encoder_cache(const pal_encoder *e, const pal_split *sp, lab_device dev)
{
    int64_t n = sp->n, T = PAL_ENC_T, de = e->de, bs = 128;
    lab_tensor *out = lab_tensor_own(lab_tensor_empty(LAB_F32, 3, (int64_t[]){n, T, de}, LAB_CPU));
    if (!out) return NULL;
    int prev = lab_grad_set_enabled(0);
    for (int64_t i = 0; i < n; i += bs) {
        int64_t m = i + bs < n ? bs : n - i;
        lab_scope_begin();
        lab_tensor *h = pal_encoder_forward(e, lab_slice(sp->feats, 0, i, i + m));
        if (h) memcpy(lab_tensor_f32(out) + i * T * de, lab_tensor_f32(h), sizeof(float) * (size_t)(m * T * de));
        lab_scope_end();
        if (!h) {
            lab_grad_set_enabled(prev);
            lab_tensor_release(out);
            return NULL;
        }
    }
    lab_grad_set_enabled(prev);
    if (!lab_device_eq(dev, LAB_CPU)) {
        lab_tensor *o = lab_tensor_own(lab_tensor_to(out, dev));
        lab_tensor_release(out);
        out = o;
    }
    return out;
}
