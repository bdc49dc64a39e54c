/* lab_attention against a naive per-query reference (no mask, causal with
 * Tq == Tk and Tq != Tk, padding masks, full masks, fully blocked rows),
 * gradchecks through masks, and bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "labtest.h"

static void setup(void) { lab_scope_begin(); }
static void teardown(void) { lab_scope_end(); }
TestSuite(attention, .init = setup, .fini = teardown);

/* mask value for (b, h, i, j) under broadcasting, 1 when mask is NULL. */
static float mask_at(const lab_tensor *m, int64_t b, int64_t h, int64_t i, int64_t j)
{
    if (!m) return 1.0f;
    int64_t idx[4] = {b, h, i, j}, off = 0, stride = 1;
    for (int d = m->ndim - 1; d >= 0; d--) {
        int64_t full = idx[4 - m->ndim + d];
        off += (m->shape[d] == 1 ? 0 : full) * stride;
        stride *= m->shape[d];
    }
    return lab_tensor_f32(m)[off];
}

static float *naive_attention(const lab_tensor *q, const lab_tensor *k, const lab_tensor *v, const lab_tensor *mask,
                              int causal)
{
    int64_t B = q->shape[0], H = q->shape[1], Tq = q->shape[2], Tk = k->shape[2], D = q->shape[3];
    const float *Q = lab_tensor_f32(q), *K = lab_tensor_f32(k), *V = lab_tensor_f32(v);
    float *out = calloc((size_t)(B * H * Tq * D), sizeof *out);
    double *s = malloc((size_t)Tk * sizeof *s);
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < Tq; i++) {
                const float *qi = Q + ((b * H + h) * Tq + i) * D;
                double mx = -INFINITY;
                for (int64_t j = 0; j < Tk; j++) {
                    int ok = mask_at(mask, b, h, i, j) != 0.0f && (!causal || j <= i + (Tk - Tq));
                    if (!ok) {
                        s[j] = -INFINITY;
                        continue;
                    }
                    const float *kj = K + ((b * H + h) * Tk + j) * D;
                    double dot = 0;
                    for (int64_t d = 0; d < D; d++) dot += (double)qi[d] * kj[d];
                    s[j] = dot / sqrt((double)D);
                    if (s[j] > mx) mx = s[j];
                }
                if (mx == -INFINITY) continue; /* sees nothing: zeros */
                double z = 0;
                for (int64_t j = 0; j < Tk; j++) z += s[j] == -INFINITY ? 0 : exp(s[j] - mx);
                float *o = out + ((b * H + h) * Tq + i) * D;
                for (int64_t j = 0; j < Tk; j++) {
                    if (s[j] == -INFINITY) continue;
                    double p = exp(s[j] - mx) / z;
                    const float *vj = V + ((b * H + h) * Tk + j) * D;
                    for (int64_t d = 0; d < D; d++) o[d] += (float)(p * vj[d]);
                }
            }
    free(s);
    return out;
}

static void check(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, const lab_tensor *mask, int causal,
                  uint64_t seed)
{
    lab_tensor *q = lt_randn(seed, 4, (int64_t[]){B, H, Tq, D});
    lab_tensor *k = lt_randn(seed + 1, 4, (int64_t[]){B, H, Tk, D});
    lab_tensor *v = lt_randn(seed + 2, 4, (int64_t[]){B, H, Tk, D});
    lab_tensor *o = lab_attention(q, k, v, (lab_tensor *)mask, causal);
    cr_assert_not_null(o, "%s", lab_error());
    cr_assert_eq(o->ndim, 4);
    cr_assert_eq(o->shape[2], Tq);
    cr_assert_eq(o->shape[3], D);
    float *ref = naive_attention(q, k, v, mask, causal);
    lt_assert_tensor_close(o, ref, 1e-5, 1e-4);
    free(ref);
}

/* Padding mask [B, 1, 1, Tk]: batch b sees its first len[b] keys. */
static lab_tensor *pad_mask(int64_t B, int64_t Tk, const int64_t *len)
{
    float *m = malloc((size_t)(B * Tk) * sizeof *m);
    for (int64_t b = 0; b < B; b++)
        for (int64_t j = 0; j < Tk; j++) m[b * Tk + j] = j < len[b] ? 1.0f : 0.0f;
    lab_tensor *t = lab_tensor_from_data(LAB_F32, 4, (int64_t[]){B, 1, 1, Tk}, m, LAB_CPU);
    free(m);
    return t;
}

Test(attention, unmasked_and_causal_match_reference)
{
    check(2, 3, 5, 5, 4, NULL, 0, 1);
    check(1, 1, 1, 1, 1, NULL, 0, 4);
    check(2, 2, 3, 7, 8, NULL, 0, 7);
    check(2, 3, 6, 6, 4, NULL, 1, 10);
    check(1, 2, 3, 6, 5, NULL, 1, 13); /* Tq < Tk: the queries are the last three positions */
    check(1, 2, 6, 3, 5, NULL, 1, 16); /* Tq > Tk: the first three queries see nothing */
}

Test(attention, masks_match_reference)
{
    lab_tensor *pm = pad_mask(3, 5, (int64_t[]){5, 2, 0}); /* batch 2 is fully padded */
    check(3, 2, 4, 5, 3, pm, 0, 20);
    check(3, 2, 5, 5, 3, pm, 1, 23);
    /* A [Tq, Tk] mask shared by every batch and head, one row blocked. */
    float m2[12] = {1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 1};
    lab_tensor *mk = lab_tensor_from_f32(m2, 2, (int64_t[]){3, 4});
    check(2, 2, 3, 4, 4, mk, 0, 26);
    /* A full [B, H, Tq, Tk] mask of random 0/1. */
    lab_rng r = lab_rng_make(5, 5);
    lab_tensor *full = lab_rng_bernoulli(&r, 4, (int64_t[]){2, 3, 4, 6}, 0.6f, LAB_CPU);
    check(2, 3, 4, 6, 2, full, 0, 29);
    check(2, 3, 4, 6, 2, full, 1, 32);
}

Test(attention, fully_masked_rows_are_zero_without_nan)
{
    lab_tensor *q = lt_randn(1, 4, (int64_t[]){2, 1, 3, 4});
    lab_tensor *k = lt_randn(2, 4, (int64_t[]){2, 1, 3, 4});
    lab_tensor *v = lt_randn(3, 4, (int64_t[]){2, 1, 3, 4});
    lab_tensor_set_requires_grad(q, 1);
    lab_tensor_set_requires_grad(k, 1);
    lab_tensor_set_requires_grad(v, 1);
    lab_tensor *mask = pad_mask(2, 3, (int64_t[]){0, 3});
    lab_tensor *o = lab_attention(q, k, v, mask, 0);
    cr_assert_not_null(o, "%s", lab_error());
    const float *ov = lab_tensor_f32(o);
    for (int i = 0; i < 12; i++) cr_assert_eq(ov[i], 0.0f, "blocked batch output %d = %g", i, ov[i]);
    for (int i = 12; i < 24; i++) cr_assert(isfinite(ov[i]));
    cr_assert_eq(lab_backward(lab_sum_all(lab_square(o))), 0, "%s", lab_error());
    lab_tensor *gs[3] = {q->grad, k->grad, v->grad};
    for (int t = 0; t < 3; t++) {
        cr_assert_not_null(gs[t]);
        const float *g = lab_tensor_f32(gs[t]);
        for (int i = 0; i < 24; i++) cr_assert(isfinite(g[i]), "grad %d[%d] = %g", t, i, g[i]);
        for (int i = 0; i < 12; i++) cr_assert_eq(g[i], 0.0f, "blocked batch grad %d[%d] = %g", t, i, g[i]);
    }
    lab_tensor_zero_grad(q);
    lab_tensor_zero_grad(k);
    lab_tensor_zero_grad(v);
}

typedef struct {
    lab_tensor *mask;
    int causal;
} att_args;

static lab_tensor *f_att(lab_tensor *const *in, void *user)
{
    att_args *a = user;
    return lab_attention(in[0], in[1], in[2], a->mask, a->causal);
}

static void grad_att(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, lab_tensor *mask, int causal,
                     uint64_t seed)
{
    lab_tensor *in[3] = {lt_randn(seed, 4, (int64_t[]){B, H, Tq, D}), lt_randn(seed + 1, 4, (int64_t[]){B, H, Tk, D}),
                         lt_randn(seed + 2, 4, (int64_t[]){B, H, Tk, D})};
    for (int i = 0; i < 3; i++) lab_tensor_set_requires_grad(in[i], 1);
    att_args a = {mask, causal};
    cr_assert_eq(lab_gradcheck(f_att, 3, in, &a, 1e-2, 5e-3, 5e-3), 0, "causal %d: %s", causal, lab_error());
}

Test(attention, gradcheck)
{
    grad_att(1, 2, 3, 3, 2, NULL, 0, 1);
    grad_att(2, 1, 3, 3, 2, NULL, 1, 4);
    grad_att(1, 1, 4, 2, 3, NULL, 1, 7); /* Tq > Tk: two queries see nothing */
    lab_tensor *pm = pad_mask(2, 3, (int64_t[]){2, 0});
    grad_att(2, 2, 2, 3, 2, pm, 0, 10);
    grad_att(2, 1, 3, 3, 2, pm, 1, 13);
}

Test(attention, bad_input)
{
    lab_tensor *q = lab_tensor_zeros(LAB_F32, 4, (int64_t[]){2, 4, 5, 8}, LAB_CPU);
    lab_tensor *k = lab_tensor_zeros(LAB_F32, 4, (int64_t[]){2, 4, 6, 8}, LAB_CPU);
    lab_tensor *k7 = lab_tensor_zeros(LAB_F32, 4, (int64_t[]){2, 4, 6, 7}, LAB_CPU);
    cr_assert_null(lab_attention(q, k7, k7, NULL, 0));
    cr_assert_str_eq(lab_error(), "attention: shapes q [2, 4, 5, 8], k [2, 4, 6, 7], v [2, 4, 6, 7] do not match "
                                  "(want q [B, H, Tq, D], k and v [B, H, Tk, D])");
    cr_assert_null(lab_attention(q, k, q, NULL, 0));
    lt_assert_error_contains("attention: shapes q [2, 4, 5, 8], k [2, 4, 6, 8], v [2, 4, 5, 8]");
    lab_tensor *q3 = lab_tensor_zeros(LAB_F32, 3, (int64_t[]){2, 5, 8}, LAB_CPU);
    cr_assert_null(lab_attention(q3, k, k, NULL, 0));
    lt_assert_error_contains("attention: q, k, v must be [B, H, T, D], got q [2, 5, 8]");
    lab_tensor *m = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){5, 5}, LAB_CPU);
    cr_assert_null(lab_attention(q, k, k, m, 0));
    cr_assert_str_eq(lab_error(), "attention: mask [5, 5] does not broadcast to [2, 4, 5, 6]");
    lab_tensor *mi = lab_tensor_zeros(LAB_I64, 2, (int64_t[]){5, 6}, LAB_CPU);
    cr_assert_null(lab_attention(q, k, k, mi, 0));
    cr_assert_str_eq(lab_error(), "attention: mask must be f32, got i64[5, 6]");
    lab_error_clear();
    cr_assert_null(lab_attention(NULL, k, k, NULL, 0));
    cr_assert_null(lab_attention(q, k, NULL, NULL, 1));
    cr_assert_str_eq(lab_error(), "");
}
