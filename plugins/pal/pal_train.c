/* pal_train.c — the curriculum of brief §5 (stage 0 text-only LM, stage 1
 * integration parameters only on single-attribute closed QA, stages 2-3 the
 * LM too on all closed / closed + open QA; AdamW, warm-up then cosine, loss
 * on the answer tokens) and the evaluation (accuracy per question type,
 * caption attribute-F1, CIDEr-D). Stage 0 and the frozen encoders are cached
 * on disk so every variant of a table starts from the same checkpoints.
 * A question type is only asked of the clips it applies to
 * (pal_question_valid): the phrase-transcription question (stage 3, open)
 * only of espeak-ng word clips, the digit/speaker ones only of FSDD clips.
 * Tested by tests/plugins/test_pal.c (end-to-end loss drop) and
 * tests/plugins/test_pal_words.c (sampling and evaluation with word clips). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pal_int.h"

/* Question types per stage (stage 0 is text-only): types 0 .. STAGE_NQ-1. */
static const int STAGE_NQ[4] = {0, 6, 9, PAL_NQ};

/* tokens [B, 1 + qmax + 1 + amax]: <bos> question (left-padded) <ans> answer
 * <eos>, and the rows whose next token is trained (first_row on) with their
 * labels. */
static int build_batch(char **qs, char **as, int64_t B, int qmax, int first_row, lab_tensor **tokens,
                       lab_tensor **rows, lab_tensor **labels)
{
    int64_t amax = 1, ids[64];
    for (int64_t b = 0; b < B; b++) {
        int n = pal_tokenize(as[b], ids, 60);
        if (n < 0) return -1;
        if (n + 1 > amax) amax = n + 1;
    }
    if (amax > PAL_AMAX) amax = PAL_AMAX;
    int64_t Nt = 1 + qmax + 1 + amax;
    lab_tensor *t = lab_tensor_zeros(LAB_I64, 2, (int64_t[]){B, Nt}, LAB_CPU);
    if (!t) return -1;
    int64_t *tv = lab_tensor_i64(t);
    for (int64_t b = 0; b < B; b++) {
        int64_t *r = tv + b * Nt;
        r[0] = PAL_TOK_BOS;
        int nq = pal_tokenize(qs[b], ids, qmax);
        if (nq < 0) return -1;
        for (int i = 0; i < nq; i++) r[1 + qmax - nq + i] = ids[i];
        r[1 + qmax] = PAL_TOK_ANS;
        int na = pal_tokenize(as[b], ids, 60);
        if (na > amax - 1) na = (int)amax - 1;
        for (int i = 0; i < na; i++) r[2 + qmax + i] = ids[i];
        r[2 + qmax + na] = PAL_TOK_EOS;
    }
    int64_t n = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = first_row; p + 1 < Nt; p++) n += tv[b * Nt + p + 1] != PAL_TOK_PAD;
    lab_tensor *ro = lab_tensor_empty(LAB_I64, 1, &n, LAB_CPU), *la = lab_tensor_empty(LAB_I64, 1, &n, LAB_CPU);
    if (!ro || !la) return -1;
    n = 0;
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = first_row; p + 1 < Nt; p++)
            if (tv[b * Nt + p + 1] != PAL_TOK_PAD) {
                lab_tensor_i64(ro)[n] = b * Nt + p;
                lab_tensor_i64(la)[n++] = tv[b * Nt + p + 1];
            }
    *tokens = t, *rows = ro, *labels = la;
    return 0;
}

static lab_tensor *rows_loss(lab_tensor *logits, lab_tensor *rows, lab_tensor *labels)
{
    if (!logits) return NULL;
    int64_t V = logits->shape[2];
    lab_tensor *flat = lab_reshape(logits, 2, (int64_t[]){logits->shape[0] * logits->shape[1], V});
    lab_device dev = logits->device;
    if (!lab_device_eq(dev, LAB_CPU)) rows = lab_tensor_to(rows, dev), labels = lab_tensor_to(labels, dev);
    return lab_cross_entropy(lab_index_select(flat, 0, rows), labels);
}

/* Encoder outputs of the given clips, one tensor per encoder. */
static int gather_feats(const pal_model *m, lab_tensor *const *cache, const int64_t *clip, int64_t B, lab_tensor **f)
{
    lab_tensor *idx = lab_tensor_from_data(LAB_I64, 1, &B, clip, LAB_CPU);
    if (idx && !lab_device_eq(cache[0]->device, LAB_CPU)) idx = lab_tensor_to(idx, cache[0]->device);
    for (int e = 0; e < m->sw.n_enc; e++)
        if (!(f[e] = lab_index_select(cache[e], 0, idx))) return -1;
    return 0;
}

lab_tensor *pal_qa_loss(const pal_model *m, lab_tensor *const *cache, const pal_split *sp, const int64_t *clip,
                        const int *qt, int64_t B)
{
    char **qs = calloc((size_t)B, sizeof(char *)), **as = calloc((size_t)B, sizeof(char *));
    char (*abuf)[192] = calloc((size_t)B, sizeof *abuf);
    lab_tensor *loss = NULL, *tok, *rows, *lab, *f[PAL_MAX_ENC], *pl, *ll;
    if (!qs || !as || !abuf) goto out;
    const int64_t *meta = lab_tensor_i64(sp->meta);
    for (int64_t b = 0; b < B; b++) {
        qs[b] = (char *)pal_question(qt[b]);
        pal_answer(meta + clip[b] * PAL_NMETA, qt[b], abuf[b], sizeof abuf[b]);
        as[b] = abuf[b];
    }
    if (build_batch(qs, as, B, PAL_QMAX, 1 + PAL_QMAX, &tok, &rows, &lab) < 0) goto out;
    if (gather_feats(m, cache, clip, B, f) < 0 || pal_audio_tokens(m, f, &pl, &ll) < 0) goto out;
    int64_t np = pl ? pl->shape[1] : 0, nl = ll ? ll->shape[1] : 0;
    lab_device dev = cache[0]->device;
    if (!lab_device_eq(dev, LAB_CPU)) tok = lab_tensor_to(tok, dev);
    loss = rows_loss(pal_lm_forward(m, tok, 1, np + nl, pl, ll, NULL, NULL), rows, lab);
out:
    free(qs);
    free(as);
    free(abuf);
    return loss;
}

static lab_params *joint(const pal_model *m, int with_lm)
{
    lab_params *p = lab_params_new();
    if (with_lm && lab_params_extend(p, m->lm, "lm.") < 0) goto fail;
    if (lab_params_extend(p, m->integ, "integ.") < 0) goto fail;
    return p;
fail:
    lab_params_free(p);
    return NULL;
}

/* Runs `steps` AdamW steps of loss_fn on params (warm-up then cosine). */
typedef lab_tensor *(*pal_loss_fn)(void *user, lab_rng *rng);

static int run_stage(lab_ctx *ctx, const char *name, lab_params *params, const pal_opts *o, int stage, pal_loss_fn fn,
                     void *user, lab_rng *rng, double *first, double *last)
{
    int64_t steps = o->steps[stage];
    if (steps <= 0) return 0;
    lab_optim_config oc = lab_optim_defaults(LAB_OPTIM_ADAMW);
    oc.lr = (float)o->lr[stage];
    oc.weight_decay = (float)o->wd;
    lab_optim *opt = lab_optim_new(&oc, params);
    if (!opt) return -1;
    int64_t wu = o->warmup < steps ? o->warmup : steps / 10;
    lab_lr_schedule sch = {LAB_LR_COSINE, (float)o->lr[stage], 0.0f, 0, 0, steps + 1, wu};
    double f = 0, l = 0, run = 0;
    int nf = 0, nl = 0;
    for (int64_t s = 0; s < steps; s++) {
        if (ctx && lab_ctx_should_stop(ctx)) {
            /* Stages restart from their cached inputs, so a stop ends the trial. */
            lab_optim_free(opt);
            return lab_error_set("pal: %s stopped at step %lld by a signal (rerun the trial)", name, (long long)s);
        }
        lab_scope_begin();
        lab_tensor *loss = fn(user, rng);
        int rc = loss ? lab_backward(loss) : -1;
        double lv = loss ? lab_tensor_item(loss) : NAN;
        lab_scope_end();
        if (rc < 0 || !isfinite(lv)) {
            lab_optim_free(opt);
            if (rc == 0) lab_error_set("pal: %s: loss is %g at step %lld", name, lv, (long long)s);
            return -1;
        }
        lab_optim_set_lr(opt, lab_lr_at(&sch, s));
        lab_clip_grad_norm(params, 1.0f);
        lab_optim_step(opt);
        lab_optim_zero_grad(opt);
        if (s < 10) f += lv, nf++;
        if (s >= steps - 10) l += lv, nl++;
        run = s == 0 ? lv : 0.95 * run + 0.05 * lv;
        if (ctx) {
            lab_ctx_progress(ctx, stage, 4, s + 1, steps);
            if ((s + 1) % 50 == 0 || s + 1 == steps) {
                char split[32];
                snprintf(split, sizeof split, "stage%d", stage);
                lab_ctx_metrics(ctx, split, LAB_KV({"loss", run}, {"lr", lab_optim_get_lr(opt)}));
            }
        }
    }
    lab_optim_free(opt);
    if (first) *first = f / (nf ? nf : 1);
    if (last) *last = l / (nl ? nl : 1);
    if (ctx) lab_ctx_log(ctx, "pal: %s: %lld steps, loss %.4f -> %.4f", name, (long long)steps, f / (nf ? nf : 1), l / (nl ? nl : 1));
    return 0;
}

typedef struct {
    const pal_model *m;
    lab_tensor *const *cache;
    const pal_split *sp;
    int types[PAL_NQ]; /* the stage's question types that apply to at least one clip */
    int ntypes;
    int64_t B;
} audio_user;

/* A uniform question type of the stage, then a uniform clip it applies to
 * (rejection; the type was chosen because such a clip exists). */
static lab_tensor *audio_loss(void *user, lab_rng *rng)
{
    audio_user *u = user;
    int64_t clip[512];
    int qt[512];
    int64_t B = u->B < 512 ? u->B : 512;
    const int64_t *meta = lab_tensor_i64(u->sp->meta);
    for (int64_t b = 0; b < B; b++) {
        qt[b] = u->types[lab_rng_next_below(rng, (uint64_t)u->ntypes)];
        do
            clip[b] = (int64_t)lab_rng_next_below(rng, (uint64_t)u->sp->n);
        while (!pal_question_valid(meta + clip[b] * PAL_NMETA, qt[b]));
    }
    return pal_qa_loss(u->m, u->cache, u->sp, clip, qt, B);
}

/* The types < nq that apply to at least one clip of sp. */
static int stage_types(const pal_split *sp, int nq, int *types)
{
    const int64_t *meta = lab_tensor_i64(sp->meta);
    int n = 0;
    for (int q = 0; q < nq; q++)
        for (int64_t i = 0; i < sp->n; i++)
            if (pal_question_valid(meta + i * PAL_NMETA, q)) {
                types[n++] = q;
                break;
            }
    return n;
}

int pal_train_audio(lab_ctx *ctx, pal_model *m, const pal_opts *o, lab_tensor *const *cache, const pal_split *train,
                    lab_rng *rng, double *first, double *last)
{
    static const char *names[4] = {"stage 0", "stage 1 (integration only, single-attribute QA)",
                                   "stage 2 (+LM, all closed QA)", "stage 3 (+LM, closed + open QA)"};
    *first = *last = NAN;
    int started = 0;
    for (int stage = 1; stage <= 3; stage++) {
        if (o->steps[stage] <= 0) continue;
        lab_params *p = joint(m, stage >= 2);
        if (!p) return -1;
        if (m->sw.freeze_ffn) pal_set_ffn_trainable(m, 0);
        audio_user u = {m, cache, train, {0}, 0, o->batch};
        u.ntypes = stage_types(train, STAGE_NQ[stage], u.types);
        if (u.ntypes == 0) {
            lab_params_free(p);
            return lab_error_set("pal: %s: no training clip answers any of its questions", names[stage]);
        }
        double f, l;
        int rc = run_stage(ctx, names[stage], p, o, stage, audio_loss, &u, rng, &f, &l);
        lab_params_free(p);
        if (rc < 0) return -1;
        if (!started) *first = f, started = 1;
        *last = l;
    }
    return 0;
}

/* --- stage 0 ---------------------------------------------------------------------- */

typedef struct {
    const pal_model *m;
    char **q, **a;
    int64_t n, B;
    lab_device dev;
} text_user;

static lab_tensor *text_loss(void *user, lab_rng *rng)
{
    text_user *u = user;
    char *qs[512], *as[512];
    int64_t B = u->B < 512 ? u->B : 512;
    for (int64_t b = 0; b < B; b++) {
        int64_t i = (int64_t)lab_rng_next_below(rng, (uint64_t)u->n);
        qs[b] = u->q[i], as[b] = u->a[i];
    }
    lab_tensor *tok, *rows, *lab;
    if (build_batch(qs, as, B, PAL_QMAX0, 0, &tok, &rows, &lab) < 0) return NULL;
    if (!lab_device_eq(u->dev, LAB_CPU)) tok = lab_tensor_to(tok, u->dev);
    return rows_loss(pal_lm_forward(u->m, tok, 1, 0, NULL, NULL, NULL, NULL), rows, lab);
}

static int stage0(lab_ctx *ctx, pal_model *m, const pal_opts *o, lab_rng *rng)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/lm-L%lld-d%lld-h%lld-steps%lld-lr%g-seed%llu.safetensors", o->cache_dir,
             (long long)o->L, (long long)o->d, (long long)o->heads, (long long)o->steps[0], o->lr[0],
             (unsigned long long)o->seed);
    if (access(path, R_OK) == 0) {
        lab_params *src = lab_safetensors_load(path, LAB_CPU, NULL);
        int rc = src ? lab_params_load(m->lm, src, 0) : -1;
        lab_params_free(src);
        if (rc == 0) {
            if (ctx) lab_ctx_log(ctx, "pal: stage 0 LM loaded from %s", path);
            return 0;
        }
        if (ctx) lab_ctx_warn(ctx, "pal: ignoring stage-0 cache %s: %s", path, lab_error());
    }
    text_user u = {m, NULL, NULL, 0, o->batch, o->dev};
    if (pal_corpus_load(o->data_dir, &u.q, &u.a, &u.n) < 0) return -1;
    int rc = u.n > 0 ? 0 : lab_error_set("pal: %s/corpus.txt is empty", o->data_dir);
    if (rc == 0) rc = run_stage(ctx, "stage 0 (text-only LM)", m->lm, o, 0, text_loss, &u, rng, NULL, NULL);
    pal_corpus_free(u.q, u.a, u.n);
    if (rc == 0) {
        const char *meta[] = {"format", "pal-lm-1", NULL};
        rc = lab_safetensors_save(path, m->lm, meta);
    }
    return rc;
}

/* --- evaluation --------------------------------------------------------------------- */

/* Greedy answers (up to maxlen words) of clips[0..B) to question qt. */
static int greedy(const pal_model *m, lab_tensor *const *cache, const int64_t *clip, int64_t B, int qt, int maxlen,
                  char (*out)[192])
{
    lab_tensor *f[PAL_MAX_ENC], *pl, *ll;
    if (gather_feats(m, cache, clip, B, f) < 0 || pal_audio_tokens(m, f, &pl, &ll) < 0) return -1;
    int64_t slot = (pl ? pl->shape[1] : 0) + (ll ? ll->shape[1] : 0);
    int64_t ids[PAL_QMAX + 2], Nmax = 2 + PAL_QMAX + maxlen;
    int nq = pal_tokenize(pal_question(qt), ids, PAL_QMAX);
    if (nq < 0) return -1;
    int64_t *buf = calloc((size_t)(B * Nmax), sizeof(int64_t));
    int *done = calloc((size_t)B, sizeof(int));
    if (!buf || !done) {
        free(buf);
        free(done);
        return lab_error_set("pal: out of memory");
    }
    for (int64_t b = 0; b < B; b++) {
        buf[b * Nmax] = PAL_TOK_BOS;
        for (int i = 0; i < nq; i++) buf[b * Nmax + 1 + PAL_QMAX - nq + i] = ids[i];
        buf[b * Nmax + 1 + PAL_QMAX] = PAL_TOK_ANS;
        out[b][0] = 0;
    }
    int rc = 0;
    for (int t = 0; t < maxlen; t++) {
        int64_t Nt = 2 + PAL_QMAX + t;
        lab_scope_begin();
        lab_tensor *tok = lab_tensor_empty(LAB_I64, 2, (int64_t[]){B, Nt}, LAB_CPU);
        for (int64_t b = 0; b < B; b++) memcpy(lab_tensor_i64(tok) + b * Nt, buf + b * Nmax, sizeof(int64_t) * (size_t)Nt);
        if (!lab_device_eq(cache[0]->device, LAB_CPU)) tok = lab_tensor_to(tok, cache[0]->device);
        lab_tensor *lg = pal_lm_forward(m, tok, 1, slot, pl, ll, NULL, NULL);
        lab_tensor *am = lg ? lab_tensor_to(lab_argmax(lab_slice(lg, 1, Nt - 1, Nt), 2, 0), LAB_CPU) : NULL;
        if (!am) rc = -1;
        for (int64_t b = 0; am && b < B; b++) {
            int64_t w = lab_tensor_i64(am)[b];
            buf[b * Nmax + Nt] = w;
            if (done[b] || w == PAL_TOK_EOS) {
                done[b] = 1;
                continue;
            }
            size_t L = strlen(out[b]);
            snprintf(out[b] + L, 192 - L, "%s%s", L ? " " : "", pal_vocab_word((int)w));
        }
        lab_scope_end();
        if (rc < 0) break;
    }
    free(buf);
    free(done);
    return rc;
}

int pal_evaluate(const pal_model *m, lab_tensor *const *cache, const pal_split *sp, int64_t n_eval, int captions,
                 pal_eval *ev)
{
    for (int q = 0; q < PAL_NQ; q++) ev->acc[q] = NAN;
    ev->heldout = ev->cap_f1 = ev->cider = ev->closed_mean = ev->phrase_wacc = NAN;
    int64_t n = n_eval < sp->n ? n_eval : sp->n, bs = 100;
    const int64_t *meta = lab_tensor_i64(sp->meta);
    int prev = lab_grad_set_enabled(0);
    double held_ok = 0, held_n = 0;
    char (*out)[192] = calloc((size_t)bs, sizeof *out);
    char **cands = calloc((size_t)n + 1, sizeof(char *)), **refs = calloc((size_t)n + 1, sizeof(char *));
    int64_t *valid = malloc(sizeof(int64_t) * (size_t)(n + 1)), ncap = 0;
    int rc = (out && cands && refs && valid) ? 0 : lab_error_set("pal: out of memory");
    /* Without captions (val) the open types are skipped: val only ranks closed accuracy. */
    int nq = captions ? PAL_NQ : PAL_Q_COMPOSE + 1;
    for (int qt = 0; rc == 0 && qt < nq; qt++) {
        int maxlen = qt == PAL_Q_CAPTION ? PAL_AMAX - 1 : qt == PAL_Q_COMPOSE ? 2 : qt == PAL_Q_PHRASE ? 3 : 1;
        int64_t nv = 0;
        for (int64_t i = 0; i < n; i++)
            if (pal_question_valid(meta + i * PAL_NMETA, qt)) valid[nv++] = i;
        if (nv == 0) continue; /* e.g. the phrase question of data without word clips: NaN */
        double ok = 0, wacc = 0;
        for (int64_t i = 0; rc == 0 && i < nv; i += bs) {
            int64_t B = i + bs < nv ? bs : nv - i, clip[100];
            for (int64_t b = 0; b < B; b++) clip[b] = valid[i + b];
            lab_scope_begin();
            rc = greedy(m, cache, clip, B, qt, maxlen, out);
            lab_scope_end();
            for (int64_t b = 0; rc == 0 && b < B; b++) {
                char ref[192];
                const int64_t *mm = meta + clip[b] * PAL_NMETA;
                pal_answer(mm, qt, ref, sizeof ref);
                if (qt == PAL_Q_CAPTION) {
                    char ra[256], ca[256];
                    pal_caption_attrs(ref, ra, sizeof ra);
                    pal_caption_attrs(out[b], ca, sizeof ca);
                    ok += lab_set_f1(ca, ra);
                    cands[ncap] = strdup(out[b]);
                    refs[ncap++] = strdup(ref);
                } else {
                    int hit = strcmp(out[b], ref) == 0;
                    ok += hit;
                    if (qt == PAL_Q_PHRASE) wacc += pal_word_accuracy(out[b], ref);
                    if (mm[PAL_M_HELDOUT] && qt < PAL_Q_COMPOSE) held_ok += hit, held_n += 1;
                }
            }
        }
        ev->acc[qt] = ok / nv;
        if (qt == PAL_Q_PHRASE) ev->phrase_wacc = wacc / nv;
    }
    if (rc == 0) {
        double s = 0;
        int k = 0;
        for (int q = 0; q < PAL_Q_COMPOSE; q++)
            if (isfinite(ev->acc[q])) s += ev->acc[q], k++;
        ev->closed_mean = k ? s / k : NAN;
        ev->heldout = held_n > 0 ? held_ok / held_n : NAN;
        if (captions && ncap > 0) {
            ev->cap_f1 = ev->acc[PAL_Q_CAPTION];
            const char *const **rr = calloc((size_t)ncap, sizeof *rr);
            int *nr = calloc((size_t)ncap, sizeof(int));
            if (rr && nr) {
                for (int64_t i = 0; i < ncap; i++) rr[i] = (const char *const *)&refs[i], nr[i] = 1;
                rc = lab_cider_d((int)ncap, (const char *const *)cands, rr, nr, &ev->cider, NULL);
            } else
                rc = lab_error_set("pal: out of memory");
            free(rr);
            free(nr);
        }
    }
    for (int64_t i = 0; i < ncap; i++) free(cands[i]), free(refs[i]);
    free(cands);
    free(refs);
    free(valid);
    free(out);
    lab_grad_set_enabled(prev);
    return rc;
}

/* --- one variant, end to end ---------------------------------------------------------- */

int pal_run_variant(lab_ctx *ctx, const pal_opts *o, pal_eval *val, pal_eval *test)
{
    pal_data data;
    if (pal_data_load(&data, o->data_dir) < 0) return -1;
    pal_encoder enc[PAL_MAX_ENC];
    lab_tensor *cache[3][PAL_MAX_ENC] = {{0}};
    pal_model m;
    memset(&m, 0, sizeof m);
    memset(enc, 0, sizeof enc);
    int rc = -1;
    int64_t de[PAL_MAX_ENC];
    for (int e = 0; e < o->sw.n_enc; e++) {
        pal_enc_kind k = o->sw.enc[e];
        lab_rng er = lab_rng_make(o->seed, 100 + (uint64_t)k);
        char path[1400];
        snprintf(path, sizeof path, "%s/enc-%s-de%lld-steps%lld-seed%llu.safetensors", o->cache_dir, pal_enc_name(k),
                 (long long)o->de, (long long)o->enc_steps, (unsigned long long)o->seed);
        if (pal_encoder_init(&enc[e], k, o->de, &er) < 0 ||
            pal_encoder_prepare(&enc[e], &data.split[0], o->enc_steps, 32, o->enc_lr, path, &er, ctx) < 0)
            goto out;
        for (int sp = 0; sp < 3; sp++)
            if (!(cache[sp][e] = pal_encoder_cache(&enc[e], &data.split[sp], o->dev))) goto out;
        de[e] = o->de;
    }
    lab_rng mr = lab_rng_make(o->seed, 200); /* the same LM initialisation in every variant */
    if (pal_model_init(&m, o->L, o->d, o->heads, pal_vocab_size(), o->dc, o->M, de, &o->sw, &mr) < 0) goto out;
    if (lab_params_to(m.lm, o->dev) < 0 || lab_params_to(m.integ, o->dev) < 0) goto out;
    lab_rng tr = lab_rng_make(o->seed, 300);
    /* Stage 0 is shared by every variant, so it trains the FFN even when the
     * variant freezes it for the audio stages. */
    pal_set_ffn_trainable(&m, 1);
    if (!o->lm_random && stage0(ctx, &m, o, &tr) < 0) goto out;
    pal_set_ffn_trainable(&m, !o->sw.freeze_ffn);
    if (o->lm_random && ctx) lab_ctx_log(ctx, "pal: stage 0 skipped (model.lm_init = random)");
    double first, last;
    if (pal_train_audio(ctx, &m, o, cache[0], &data.split[0], &tr, &first, &last) < 0) goto out;
    if (val && pal_evaluate(&m, cache[1], &data.split[1], o->n_eval, 0, val) < 0) goto out;
    if (test && pal_evaluate(&m, cache[2], &data.split[2], o->n_eval, 1, test) < 0) goto out;
    if (test) test->first_loss = first, test->final_loss = last;
    rc = 0;
out:
    pal_model_free(&m);
    for (int e = 0; e < PAL_MAX_ENC; e++) {
        pal_encoder_free(&enc[e]);
        for (int sp = 0; sp < 3; sp++) lab_tensor_release(cache[sp][e]);
    }
    pal_data_free(&data);
    return rc;
}
