/* pal_model.c — the decoder LM, the connector and the three ways audio
 * enters it (brief §2-§4): PLITS (audio rows inserted into the hidden stream
 * at layer s), LAL (audio as extra keys/values of the text queries from
 * layer s on: no queries, no FFN, no residual stream for audio), routing per
 * encoder, summary tokens, and the FLOP counter the tests compare with §4.
 * Tested by tests/plugins/test_pal.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pal_int.h"

#define PAL_EPS 1e-5f

const char *pal_enc_name(pal_enc_kind k)
{
    static const char *names[] = {"ssl", "asr", "clap"};
    return (unsigned)k < 3 ? names[k] : "?";
}

static int enc_from_name(const char *s, size_t len, pal_enc_kind *out)
{
    for (int k = 0; k < 3; k++)
        if (strlen(pal_enc_name((pal_enc_kind)k)) == len && strncmp(s, pal_enc_name((pal_enc_kind)k), len) == 0) {
            *out = (pal_enc_kind)k;
            return 0;
        }
    return -1;
}

/* Next comma-separated item with spaces trimmed; NULL at the end. */
static const char *next_item(const char *p, size_t *len, const char **rest)
{
    while (*p == ' ' || *p == ',' || *p == '\t') p++;
    if (!*p) return NULL;
    const char *q = p;
    while (*q && *q != ',') q++;
    *rest = q;
    const char *e = q;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t')) e--;
    *len = (size_t)(e - p);
    return p;
}

int pal_parse_encoders(const char *s, pal_switches *sw)
{
    sw->n_enc = 0;
    size_t len;
    const char *rest, *it;
    for (const char *p = s ? s : ""; (it = next_item(p, &len, &rest)); p = rest) {
        pal_enc_kind k;
        if (enc_from_name(it, len, &k) < 0)
            return lab_error_set("pal: model.encoders: unknown encoder \"%.*s\" (known: ssl, asr, clap)", (int)len, it);
        for (int i = 0; i < sw->n_enc; i++)
            if (sw->enc[i] == k) return lab_error_set("pal: model.encoders: \"%.*s\" listed twice", (int)len, it);
        if (sw->n_enc == PAL_MAX_ENC) return lab_error_set("pal: model.encoders: at most %d encoders", PAL_MAX_ENC);
        sw->enc[sw->n_enc++] = k;
    }
    if (sw->n_enc == 0) return lab_error_set("pal: model.encoders is empty (use e.g. \"ssl\" or \"ssl,asr,clap\")");
    return 0;
}

int pal_parse_route(const char *s, pal_route mode, pal_switches *sw)
{
    for (int i = 0; i < sw->n_enc; i++) sw->route[i] = mode;
    size_t len;
    const char *rest, *it;
    for (const char *p = s ? s : ""; (it = next_item(p, &len, &rest)); p = rest) {
        const char *colon = memchr(it, ':', len);
        if (!colon) return lab_error_set("pal: model.route: \"%.*s\" is not enc:plits|lal", (int)len, it);
        pal_enc_kind k;
        if (enc_from_name(it, (size_t)(colon - it), &k) < 0)
            return lab_error_set("pal: model.route: unknown encoder \"%.*s\"", (int)(colon - it), it);
        const char *r = colon + 1;
        size_t rl = len - (size_t)(r - it);
        pal_route rt;
        if (rl == 5 && strncmp(r, "plits", 5) == 0)
            rt = PAL_PLITS;
        else if (rl == 3 && strncmp(r, "lal", 3) == 0)
            rt = PAL_LAL;
        else
            return lab_error_set("pal: model.route: \"%.*s\": route must be plits or lal", (int)len, it);
        int found = 0;
        for (int i = 0; i < sw->n_enc; i++)
            if (sw->enc[i] == k) sw->route[i] = rt, found = 1;
        if (!found)
            return lab_error_set("pal: model.route names %s, which is not in model.encoders", pal_enc_name(k));
    }
    return 0;
}

int pal_switches_check(const pal_switches *sw, int64_t L, int64_t M)
{
    if (L < 1 || L > PAL_MAX_L) return lab_error_set("pal: model.layers = %lld must be in [1, %d]", (long long)L, PAL_MAX_L);
    if (sw->start_layer < 0 || sw->start_layer >= L)
        return lab_error_set("pal: model.start_layer = %d must be < model.layers = %lld (audio must enter some layer)",
                             sw->start_layer, (long long)L);
    if (sw->n_enc < 1) return lab_error_set("pal: no encoder");
    if (sw->summary_tokens > 0) {
        if (sw->n_enc != 1)
            return lab_error_set("pal: model.summary_tokens needs exactly one encoder, got %d", sw->n_enc);
        if (M % sw->summary_tokens != 0)
            return lab_error_set("pal: model.summary_tokens = %d must divide the latents M = %lld", sw->summary_tokens,
                                 (long long)M);
    }
    return 0;
}

/* --- parameters ---------------------------------------------------------------- */

static lab_tensor *param(lab_params *p, const char *name, int ndim, const int64_t *shape, float std, lab_rng *rng)
{
    lab_tensor *t = lab_tensor_empty(LAB_F32, ndim, shape, LAB_CPU);
    if (!t) return NULL;
    if (std > 0)
        lab_init_normal_(t, rng, 0.0f, std);
    else if (std == 0)
        lab_init_zeros_(t);
    else
        lab_init_constant_(t, 1.0f);
    return lab_params_add(p, name, t);
}

#define P2(p, nm, a, b, sd) param((p), (nm), 2, (int64_t[]){(a), (b)}, (sd), rng)
#define P1(p, nm, a, sd) param((p), (nm), 1, (int64_t[]){(a)}, (sd), rng)

static int connector_init(pal_connector *c, lab_params *p, const char *pre, int64_t de, int64_t dc, int64_t M,
                          lab_rng *rng)
{
    char n[96];
    c->de = de, c->dc = dc, c->M = M, c->heads = dc % 4 == 0 ? 4 : 1;
    float sd = 0.02f;
#define CN(field, expr, suffix) (snprintf(n, sizeof n, "%s.%s", pre, suffix), (c->field = (expr)) != NULL)
    int ok = CN(z, P2(p, n, M, dc, 1.0f / sqrtf((float)dc)), "latents") && CN(u, P2(p, n, dc, de, 1.0f / sqrtf((float)de)), "U") &&
             CN(nq, P1(p, n, dc, -1), "norm_q") && CN(nk, P1(p, n, dc, -1), "norm_kv") &&
             CN(wq, P2(p, n, dc, dc, sd), "wq") && CN(wk, P2(p, n, dc, dc, sd), "wk") &&
             CN(wv, P2(p, n, dc, dc, sd), "wv") && CN(wo, P2(p, n, dc, dc, sd), "wo") &&
             CN(n2, P1(p, n, dc, -1), "norm_mlp") && CN(m1, P2(p, n, 4 * dc, dc, sd), "mlp1") &&
             CN(m2, P2(p, n, dc, 4 * dc, sd), "mlp2") && CN(type, P1(p, n, dc, sd), "type");
#undef CN
    return ok ? 0 : -1;
}

int pal_model_init(pal_model *m, int64_t L, int64_t d, int64_t heads, int64_t vocab, int64_t dc, int64_t M,
                   const int64_t *de, const pal_switches *sw, lab_rng *rng)
{
    memset(m, 0, sizeof *m);
    if (pal_switches_check(sw, L, M) < 0) return -1;
    if (heads < 1 || d % heads != 0 || (d / heads) % 2 != 0)
        return lab_error_set("pal: model.heads = %lld must divide model.d = %lld into even head widths", (long long)heads,
                             (long long)d);
    m->L = L, m->d = d, m->heads = heads, m->vocab = vocab, m->dc = dc, m->M = M, m->sw = *sw;
    m->rope_base = 10000.0f;
    m->lm = lab_params_new();
    m->integ = lab_params_new();
    char n[96];
    float sd = 0.02f, sdo = 0.02f / sqrtf(2.0f * (float)L);
    if (!(m->emb = P2(m->lm, "embed", vocab, d, sd))) goto fail;
    for (int64_t l = 0; l < L; l++) {
        pal_block *b = &m->blk[l];
#define BN(field, expr, suffix) (snprintf(n, sizeof n, "blk.%lld.%s", (long long)l, suffix), (b->field = (expr)) != NULL)
        int ok = BN(n1, P1(m->lm, n, d, -1), "attn_norm") && BN(wq, P2(m->lm, n, d, d, sd), "wq") &&
                 BN(wk, P2(m->lm, n, d, d, sd), "wk") && BN(wv, P2(m->lm, n, d, d, sd), "wv") &&
                 BN(wo, P2(m->lm, n, d, d, sdo), "wo") && BN(n2, P1(m->lm, n, d, -1), "ffn_norm") &&
                 BN(w1, P2(m->lm, n, 4 * d, d, sd), "ffn_w1") && BN(w2, P2(m->lm, n, d, 4 * d, sdo), "ffn_w2");
#undef BN
        if (!ok) goto fail;
    }
    if (!(m->nf = P1(m->lm, "final_norm", d, -1)) || !(m->head = P2(m->lm, "head", vocab, d, sd))) goto fail;
    for (int e = 0; e < sw->n_enc; e++) {
        m->de[e] = de[e];
        snprintf(n, sizeof n, "con.%s", pal_enc_name(sw->enc[e]));
        if (connector_init(&m->con[e], m->integ, n, de[e], dc, M, rng) < 0) goto fail;
    }
    int64_t np, nl;
    pal_audio_counts(m, &np, &nl);
    if (np > 0 && !(m->w_in = P2(m->integ, "w_in", d, dc, 1.0f / sqrtf((float)dc)))) goto fail;
    if (nl > 0)
        for (int64_t l = sw->start_layer; l < L; l++) {
            snprintf(n, sizeof n, "p.%lld", (long long)l);
            if (!(m->p[l] = P2(m->integ, n, d, dc, 1.0f / sqrtf((float)dc)))) goto fail;
        }
    if (sw->freeze_ffn) pal_set_ffn_trainable(m, 0);
    return 0;
fail:
    pal_model_free(m);
    return -1;
}

void pal_model_free(pal_model *m)
{
    lab_params_free(m->lm);
    lab_params_free(m->integ);
    memset(m, 0, sizeof *m);
}

void pal_set_ffn_trainable(pal_model *m, int on)
{
    for (int64_t l = 0; l < m->L; l++) {
        lab_tensor_set_requires_grad(m->blk[l].n2, on);
        lab_tensor_set_requires_grad(m->blk[l].w1, on);
        lab_tensor_set_requires_grad(m->blk[l].w2, on);
    }
}

void pal_audio_counts(const pal_model *m, int64_t *n_plits, int64_t *n_lal)
{
    *n_plits = *n_lal = 0;
    if (m->sw.summary_tokens > 0) {
        *n_plits = m->sw.summary_tokens;
        *n_lal = m->M;
        return;
    }
    for (int e = 0; e < m->sw.n_enc; e++) *(m->sw.route[e] == PAL_PLITS ? n_plits : n_lal) += m->M;
}

/* --- building blocks ------------------------------------------------------------- */

/* [B, T, d] -> [B, h, T, d/h] */
static lab_tensor *split_heads(lab_tensor *x, int64_t h)
{
    if (!x) return NULL;
    int64_t B = x->shape[0], T = x->shape[1], d = x->shape[2];
    return lab_transpose(lab_reshape(x, 4, (int64_t[]){B, T, h, d / h}), 1, 2);
}

static lab_tensor *merge_heads(lab_tensor *x)
{
    if (!x) return NULL;
    int64_t B = x->shape[0], h = x->shape[1], T = x->shape[2], dh = x->shape[3];
    return lab_reshape(lab_transpose(x, 1, 2), 3, (int64_t[]){B, T, h * dh});
}

static lab_tensor *positions(int64_t n, int64_t start)
{
    lab_tensor *t = lab_tensor_empty(LAB_I64, 1, &n, LAB_CPU);
    if (t)
        for (int64_t i = 0; i < n; i++) lab_tensor_i64(t)[i] = start + i;
    return t;
}

lab_tensor *pal_connector_forward(const pal_connector *c, lab_tensor *e)
{
    if (!e) return NULL;
    if (e->ndim != 3 || e->shape[2] != c->de) {
        char b[64];
        lab_error_set("pal: connector expects encoder output [B, T, %lld], got %s", (long long)c->de,
                      lab_tensor_desc(e, b, sizeof b));
        return NULL;
    }
    int64_t B = e->shape[0];
    lab_tensor *kv = lab_rmsnorm(lab_linear(e, c->u, NULL), c->nk, PAL_EPS);
    lab_tensor *q = lab_linear(lab_rmsnorm(c->z, c->nq, PAL_EPS), c->wq, NULL);
    q = lab_expand(lab_reshape(q, 3, (int64_t[]){1, c->M, c->dc}), 3, (int64_t[]){B, c->M, c->dc});
    lab_tensor *a = lab_attention(split_heads(q, c->heads), split_heads(lab_linear(kv, c->wk, NULL), c->heads),
                                  split_heads(lab_linear(kv, c->wv, NULL), c->heads), NULL, 0);
    lab_tensor *h = lab_add(c->z, lab_linear(merge_heads(a), c->wo, NULL));
    h = lab_add(h, lab_linear(lab_gelu(lab_linear(lab_rmsnorm(h, c->n2, PAL_EPS), c->m1, NULL)), c->m2, NULL));
    return lab_add(h, c->type);
}

int pal_audio_tokens(const pal_model *m, lab_tensor *const *feats, lab_tensor **plits, lab_tensor **lal)
{
    *plits = *lal = NULL;
    lab_tensor *pp[PAL_MAX_ENC], *ll[PAL_MAX_ENC];
    int np = 0, nl = 0;
    for (int e = 0; e < m->sw.n_enc; e++) {
        lab_tensor *c = pal_connector_forward(&m->con[e], feats[e]);
        if (!c) return -1;
        if (m->sw.summary_tokens > 0) {
            int64_t B = c->shape[0], k = m->sw.summary_tokens;
            pp[np++] = lab_mean(lab_reshape(c, 4, (int64_t[]){B, k, m->M / k, m->dc}), 2, 0);
            ll[nl++] = c;
        } else if (m->sw.route[e] == PAL_PLITS)
            pp[np++] = c;
        else
            ll[nl++] = c;
    }
    if (np) *plits = np == 1 ? pp[0] : lab_concat(np, pp, 1);
    if (nl) *lal = nl == 1 ? ll[0] : lab_concat(nl, ll, 1);
    if ((np && !*plits) || (nl && !*lal)) return -1;
    return 0;
}

/* Mask [1, 1, T, Na + T]: audio keys visible to every query, stream keys
 * causal (the §3.2 mask, 1 = may attend). */
static lab_tensor *lal_mask(int64_t T, int64_t na)
{
    int64_t Tk = na + T;
    lab_tensor *mk = lab_tensor_zeros(LAB_F32, 4, (int64_t[]){1, 1, T, Tk}, LAB_CPU);
    if (!mk) return NULL;
    float *v = lab_tensor_f32(mk);
    for (int64_t i = 0; i < T; i++)
        for (int64_t j = 0; j < Tk; j++) v[i * Tk + j] = (j < na || j - na <= i) ? 1.0f : 0.0f;
    return mk;
}

/* One pre-norm block on the stream H [B, T, d] (positions pos). With A
 * ([B, Na, d], LAL tokens already projected by P_l) the audio rows only
 * become keys and values: they are normalised with the same norm, never
 * queries, never FFN inputs, and not returned. */
static lab_tensor *block_forward(const pal_model *m, int l, lab_tensor *H, lab_tensor *pos, lab_tensor *A,
                                 lab_tensor *apos, pal_stats *st)
{
    const pal_block *b = &m->blk[l];
    if (!H) return NULL;
    int64_t B = H->shape[0], T = H->shape[1], d = m->d, h = m->heads, na = A ? A->shape[1] : 0;
    lab_device dev = H->device;
    lab_tensor *x = lab_rmsnorm(H, b->n1, PAL_EPS);
    lab_tensor *q = lab_rope(split_heads(lab_linear(x, b->wq, NULL), h), pos, m->rope_base);
    lab_tensor *k = lab_rope(split_heads(lab_linear(x, b->wk, NULL), h), pos, m->rope_base);
    lab_tensor *v = split_heads(lab_linear(x, b->wv, NULL), h);
    lab_tensor *att;
    if (na > 0) {
        lab_tensor *ah = lab_rmsnorm(A, b->n1, PAL_EPS);
        lab_tensor *ka = split_heads(lab_linear(ah, b->wk, NULL), h);
        if (apos) ka = lab_rope(ka, apos, m->rope_base);
        lab_tensor *va = split_heads(lab_linear(ah, b->wv, NULL), h);
        lab_tensor *mk = lal_mask(T, na);
        if (mk && !lab_device_eq(dev, LAB_CPU)) mk = lab_tensor_to(mk, dev);
        att = lab_attention(q, lab_concat(2, (lab_tensor *[]){ka, k}, 2), lab_concat(2, (lab_tensor *[]){va, v}, 2), mk, 0);
    } else
        att = lab_attention(q, k, v, NULL, 1);
    H = lab_add(H, lab_linear(merge_heads(att), b->wo, NULL));
    lab_tensor *f = lab_linear(lab_silu(lab_linear(lab_rmsnorm(H, b->n2, PAL_EPS), b->w1, NULL)), b->w2, NULL);
    H = lab_add(H, f);
    if (st) {
        double dd = (double)d * (double)d;
        st->block_flops[l] += (double)B * (8.0 * T * dd + 4.0 * na * dd + 4.0 * T * (double)(T + na) * d + 16.0 * T * dd);
        st->ffn_rows[l] += f ? f->shape[0] * f->shape[1] : 0;
        st->q_rows[l] += B * T;
        st->k_rows[l] += B * (T + na);
    }
    return H;
}

lab_tensor *pal_lm_forward(const pal_model *m, lab_tensor *tokens, int64_t n_sys, int64_t slot, lab_tensor *plits,
                           lab_tensor *lal, pal_stats *st, lab_tensor **hidden)
{
    if (!tokens) return NULL;
    int64_t B = tokens->shape[0], Nt = tokens->shape[1];
    int64_t np = plits ? plits->shape[1] : 0, nl = lal ? lal->shape[1] : 0;
    if (np + nl > slot || n_sys > Nt) {
        lab_error_set("pal: %lld audio tokens do not fit the reserved slot of %lld (n_sys %lld, Nt %lld)",
                      (long long)(np + nl), (long long)slot, (long long)n_sys, (long long)Nt);
        return NULL;
    }
    lab_device dev = tokens->device;
    int s = m->sw.start_layer;
    /* Text positions skip the slot in every mode, so they never depend on s. */
    lab_tensor *tpos = lab_tensor_empty(LAB_I64, 1, &Nt, LAB_CPU);
    lab_tensor *fpos = positions(Nt + np, 0);
    if (!tpos || !fpos) return NULL;
    for (int64_t i = 0; i < Nt; i++) lab_tensor_i64(tpos)[i] = i < n_sys ? i : i + slot;
    for (int64_t i = n_sys + np; i < Nt + np; i++) lab_tensor_i64(fpos)[i] = i - np + slot;
    lab_tensor *apos = (nl > 0 && m->sw.audio_rope) ? positions(nl, n_sys + np) : NULL;
    lab_tensor *H = lab_embedding(m->emb, tokens), *pos = tpos;
    lab_tensor *Ain = np > 0 ? lab_linear(plits, m->w_in, NULL) : NULL;
    int inserted = 0;
    for (int l = 0; l < m->L; l++) {
        if (l == s && np > 0) {
            H = lab_concat(3, (lab_tensor *[]){lab_slice(H, 1, 0, n_sys), Ain, lab_slice(H, 1, n_sys, Nt)}, 1);
            pos = fpos;
            inserted = 1;
        }
        lab_tensor *A = NULL;
        if (l >= s && nl > 0) {
            A = lab_linear(lal, m->p[l], NULL);
            if (st) st->proj_flops[l] += 2.0 * (double)B * nl * m->dc * m->d;
        }
        H = block_forward(m, l, H, pos, A, apos, st);
        if (!H) return NULL;
        if (hidden)
            hidden[l] = inserted ? lab_concat(2, (lab_tensor *[]){lab_slice(H, 1, 0, n_sys), lab_slice(H, 1, n_sys + np, Nt + np)}, 1)
                                 : H;
    }
    (void)dev;
    if (inserted) H = lab_concat(2, (lab_tensor *[]){lab_slice(H, 1, 0, n_sys), lab_slice(H, 1, n_sys + np, Nt + np)}, 1);
    return lab_linear(lab_rmsnorm(H, m->nf, PAL_EPS), m->head, NULL);
}

double pal_flops_formula(int active, int64_t nt, int64_t na_plits, int64_t na_lal, int64_t d, int64_t dc)
{
    double dd = (double)d * (double)d;
    if (!active) return 24.0 * nt * dd + 4.0 * (double)nt * nt * d;
    double N = (double)(nt + na_plits);
    return 24.0 * N * dd + 4.0 * na_lal * dd + 4.0 * N * (N + na_lal) * d + 2.0 * na_lal * (double)dc * d;
}

double pal_flops_model(const pal_model *m, int64_t nt)
{
    int64_t np, nl;
    pal_audio_counts(m, &np, &nl);
    double f = 0;
    for (int l = 0; l < m->L; l++) f += pal_flops_formula(l >= m->sw.start_layer, nt, np, nl, m->d, m->dc);
    return f;
}
