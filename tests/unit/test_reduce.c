/* Reductions and softmax: the kernels against ref_reduce.c over many
 * [outer, n, inner] splits (parallel paths, column blocks, empty dims, NaN),
 * the ops along every dim with and without keepdim, known values,
 * gradchecks of every differentiable op, and errors. */
#include <stdlib.h>
#include <string.h>

#include "labtest.h"
#include "ref_elementwise.h"

static int64_t rnd(lab_rng *r, int64_t n) { return (int64_t)lab_rng_next_below(r, (uint64_t)n); }

static void assert_shape(const lab_tensor *t, int nd, const int64_t *shape)
{
    cr_assert_not_null(t, "%s", lab_error());
    cr_assert_eq(t->ndim, nd, "ndim %d, want %d", t->ndim, nd);
    for (int i = 0; i < nd; i++)
        cr_assert_eq(t->shape[i], shape[i], "dim %d: %lld, want %lld", i, (long long)t->shape[i], (long long)shape[i]);
}

static float *randn_host(uint64_t seed, int64_t n)
{
    lab_rng r = lab_rng_make(seed, 5);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = (float)lab_rng_next_normal(&r);
    return v;
}

/* --- kernels ------------------------------------------------------------------ */

static const int64_t SPLITS[][3] = {
    {1, 1, 1},     {3, 7, 1},       {4, 5, 6},      {2, 0, 3},       {3, 1, 5},     {1, 1000003, 1},
    {7, 9000, 1},  {1, 300, 700},   {5, 17, 300},   {2, 40000, 1},   {1, 0, 1},     {6, 3, 257},
    {0, 4, 4},     {1, 2049, 1},    {3, 513, 2},    {33000, 2, 1},
};
#define NSPLITS (int)(sizeof SPLITS / sizeof SPLITS[0])

Test(reduce, reduce_kernel_matches_reference)
{
    const lab_backend *be = lab_backend_cpu();
    lab_reduce_op ops[3] = {LAB_RED_SUM, LAB_RED_MAX, LAB_RED_MIN};
    for (int s = 0; s < NSPLITS; s++) {
        int64_t outer = SPLITS[s][0], n = SPLITS[s][1], inner = SPLITS[s][2];
        int64_t m = outer * inner;
        float *x = randn_host(100 + (uint64_t)s, outer * n * inner);
        for (int k = 0; k < 3; k++) {
            float *y = malloc((size_t)(m ? m : 1) * sizeof *y), *yr = malloc((size_t)(m ? m : 1) * sizeof *yr);
            int64_t *a = malloc((size_t)(m ? m : 1) * sizeof *a), *ar = malloc((size_t)(m ? m : 1) * sizeof *ar);
            be->reduce(ops[k], outer, n, inner, y, k ? a : NULL, x);
            lab_ref_reduce(ops[k], outer, n, inner, yr, k ? ar : NULL, x);
            /* sums of up to 1e6 N(0,1) values: error well under 1e-3 absolute */
            int64_t w;
            double e = lt_excess(y, yr, m, k ? 0 : 2e-3, k ? 0 : 1e-5, &w);
            cr_assert(e <= 0, "op %d split [%lld, %lld, %lld] at %lld: got %.9g, want %.9g", k, (long long)outer,
                      (long long)n, (long long)inner, (long long)w, y[w], yr[w]);
            for (int64_t i = 0; k && i < m; i++)
                cr_assert_eq(a[i], ar[i], "op %d split %d arg at %lld", k, s, (long long)i);
            free(y);
            free(yr);
            free(a);
            free(ar);
        }
        free(x);
    }
}

Test(reduce, reduce_kernel_nan_ties_and_empty)
{
    const lab_backend *be = lab_backend_cpu();
    float x[8] = {1, 3, 3, NAN, 5, -2, -2, 0};
    float y[2];
    int64_t a[2];
    /* ties: the first extreme; NaN wins */
    be->reduce(LAB_RED_MAX, 2, 4, 1, y, a, x);
    cr_assert(isnan(y[0]) && a[0] == 3);
    cr_assert(y[1] == 5 && a[1] == 0);
    be->reduce(LAB_RED_MIN, 2, 4, 1, y, a, x);
    cr_assert(isnan(y[0]) && a[0] == 3);
    cr_assert(y[1] == -2 && a[1] == 1);
    float t[6] = {1, 3, 3, 1, 2, 3}; /* [3, 2] along dim 0: columns (1, 3, 2), (3, 1, 3) */
    be->reduce(LAB_RED_MAX, 1, 3, 2, y, a, t);
    cr_assert(y[0] == 3 && a[0] == 1 && y[1] == 3 && a[1] == 0);
    /* one long row with a NaN in the middle, split across threads */
    int64_t n = 200000;
    float *big = randn_host(3, n);
    big[123457] = NAN;
    be->reduce(LAB_RED_MAX, 1, n, 1, y, a, big);
    cr_assert(isnan(y[0]) && a[0] == 123457);
    big[123457] = 100;
    big[150000] = 100;
    be->reduce(LAB_RED_MAX, 1, n, 1, y, a, big);
    cr_assert(y[0] == 100 && a[0] == 123457);
    free(big);
    /* empty reductions give the identity */
    be->reduce(LAB_RED_SUM, 1, 0, 2, y, NULL, x);
    cr_assert(y[0] == 0 && y[1] == 0);
    be->reduce(LAB_RED_MAX, 2, 0, 1, y, a, x);
    cr_assert(y[0] == -INFINITY && a[0] == -1);
}

Test(reduce, softmax_kernels_match_reference)
{
    const lab_backend *be = lab_backend_cpu();
    for (int s = 0; s < NSPLITS; s++) {
        int64_t outer = SPLITS[s][0], n = SPLITS[s][1], inner = SPLITS[s][2], total = outer * n * inner;
        if (total > 300000) continue;
        float *x = randn_host(200 + (uint64_t)s, total), *gy = randn_host(300 + (uint64_t)s, total);
        for (int64_t i = 0; i < total; i++) x[i] *= 4; /* peaky rows */
        size_t bytes = (size_t)(total ? total : 1) * sizeof(float);
        float *y = malloc(bytes), *yr = malloc(bytes), *g = malloc(bytes), *gr = malloc(bytes);
        for (int lg = 0; lg < 2; lg++) {
            be->softmax(outer, n, inner, y, x, lg);
            lab_ref_softmax(outer, n, inner, yr, x, lg);
            lt_assert_close(y, yr, total, 1e-6, 1e-5);
            be->softmax_backward(outer, n, inner, g, gy, yr, lg);
            lab_ref_softmax_backward(outer, n, inner, gr, gy, yr, lg);
            lt_assert_close(g, gr, total, 1e-5, 1e-4);
        }
        free(x);
        free(gy);
        free(y);
        free(yr);
        free(g);
        free(gr);
    }
}

/* --- ops along a dim ----------------------------------------------------------- */

typedef lab_tensor *(*red_fn)(lab_tensor *, int, int);

/* Expected shape of reducing dim d of t. */
static int reduced_shape(const lab_tensor *t, int d, int keep, int64_t *out)
{
    int n = 0;
    for (int i = 0; i < t->ndim; i++) {
        if (i == d && !keep) continue;
        out[n++] = i == d ? 1 : t->shape[i];
    }
    return n;
}

Test(reduce, ops_along_every_dim_match_reference)
{
    lab_rng r = lab_rng_make(4, 0);
    for (int trial = 0; trial < 60; trial++) {
        int nd = 1 + (int)rnd(&r, 4);
        int64_t shape[LAB_MAX_DIMS];
        for (int i = 0; i < nd; i++) shape[i] = rnd(&r, 10) == 0 ? 0 : 1 + rnd(&r, 5);
        for (int d = 0; d < nd; d++) {
            for (int keep = 0; keep < 2; keep++) {
                lab_scope_begin();
                lab_tensor *x = lt_randn(500 + (uint64_t)trial, nd, shape);
                int dim = (trial & 1) ? d - nd : d; /* negative dims as well */
                int64_t outer = 1, n = shape[d], inner = 1, os[LAB_MAX_DIMS];
                for (int i = 0; i < d; i++) outer *= shape[i];
                for (int i = d + 1; i < nd; i++) inner *= shape[i];
                int ond = reduced_shape(x, d, keep, os);
                int64_t m = outer * inner;
                float *ref = malloc((size_t)(m ? m : 1) * sizeof *ref);
                int64_t *arg = malloc((size_t)(m ? m : 1) * sizeof *arg);
                const float *xv = lab_tensor_f32(x);

                lab_tensor *s = lab_sum(x, dim, keep);
                assert_shape(s, ond, os);
                lab_ref_reduce(LAB_RED_SUM, outer, n, inner, ref, NULL, xv);
                lt_assert_tensor_close(s, ref, 1e-5, 1e-5);

                lab_tensor *mean = lab_mean(x, dim, keep);
                assert_shape(mean, ond, os);
                for (int64_t i = 0; i < m; i++) ref[i] = n ? ref[i] / (float)n : NAN;
                lt_assert_tensor_close(mean, ref, 1e-6, 1e-5);

                for (int unb = 0; unb < 2; unb++) {
                    lab_tensor *v = lab_var(x, dim, unb, keep);
                    assert_shape(v, ond, os);
                    for (int64_t o = 0; o < outer; o++)
                        for (int64_t i = 0; i < inner; i++) {
                            double mu = 0, ss = 0;
                            for (int64_t j = 0; j < n; j++) mu += xv[(o * n + j) * inner + i];
                            mu /= (double)n;
                            for (int64_t j = 0; j < n; j++) {
                                double dv = xv[(o * n + j) * inner + i] - mu;
                                ss += dv * dv;
                            }
                            ref[o * inner + i] = n - unb > 0 ? (float)(ss / (double)(n - unb)) : NAN;
                        }
                    lt_assert_tensor_close(v, ref, 1e-5, 1e-4);
                }

                if (n > 0) {
                    lab_tensor *mx = lab_max(x, dim, keep), *am = lab_argmax(x, dim, keep);
                    assert_shape(mx, ond, os);
                    assert_shape(am, ond, os);
                    cr_assert_eq(am->dtype, LAB_I64);
                    lab_ref_reduce(LAB_RED_MAX, outer, n, inner, ref, arg, xv);
                    lt_assert_tensor_close(mx, ref, 0, 0);
                    for (int64_t i = 0; i < m; i++) cr_assert_eq(lab_tensor_i64(am)[i], arg[i]);
                }

                lab_tensor *sm = lab_softmax(x, dim), *ls = lab_log_softmax(x, dim);
                assert_shape(sm, nd, shape);
                assert_shape(ls, nd, shape);
                float *full = malloc((size_t)(x->numel ? x->numel : 1) * sizeof *full);
                lab_ref_softmax(outer, n, inner, full, xv, 0);
                lt_assert_tensor_close(sm, full, 1e-6, 1e-5);
                lab_ref_softmax(outer, n, inner, full, xv, 1);
                lt_assert_tensor_close(ls, full, 1e-6, 1e-5);
                free(full);
                free(ref);
                free(arg);
                lab_scope_end();
            }
        }
    }
}

Test(reduce, known_values)
{
    lab_scope_begin();
    lab_tensor *x = lab_tensor_from_f32((float[]){1, 2, 3, 4, 6, 5}, 2, (int64_t[]){2, 3});
    lt_assert_tensor_close(lab_sum(x, 0, 0), (float[]){5, 8, 8}, 0, 0);
    lt_assert_tensor_close(lab_sum(x, 1, 1), (float[]){6, 15}, 0, 0);
    lt_assert_tensor_close(lab_mean(x, -1, 0), (float[]){2, 5}, 0, 0);
    lt_assert_tensor_close(lab_max(x, 1, 0), (float[]){3, 6}, 0, 0);
    lab_tensor *am = lab_argmax(x, 1, 0);
    cr_assert(lab_tensor_i64(am)[0] == 2 && lab_tensor_i64(am)[1] == 1);
    lt_assert_tensor_close(lab_var(x, 1, 1, 0), (float[]){1, 1}, 0, 1e-6);
    lt_assert_tensor_close(lab_var(x, 0, 0, 0), (float[]){2.25f, 4, 1}, 0, 1e-6);
    lab_tensor *sa = lab_sum_all(x), *ma = lab_mean_all(x);
    cr_assert_eq(sa->ndim, 0);
    cr_assert_float_eq(lab_tensor_item(sa), 21.0f, 0);
    cr_assert_float_eq(lab_tensor_item(ma), 3.5f, 1e-7);
    /* softmax([1, 2, 3]) from PyTorch */
    lab_tensor *v = lab_tensor_from_f32((float[]){1, 2, 3}, 1, (int64_t[]){3});
    lt_assert_tensor_close(lab_softmax(v, 0), (float[]){0.09003057f, 0.24472847f, 0.66524096f}, 1e-7, 1e-6);
    lt_assert_tensor_close(lab_log_softmax(v, 0), (float[]){-2.40760596f, -1.40760596f, -0.40760596f}, 1e-7, 1e-6);
    /* numerically stable: huge inputs, and -inf entries get probability 0 */
    lab_tensor *h = lab_tensor_from_f32((float[]){1000, 1001, 1002, -INFINITY}, 1, (int64_t[]){4});
    lt_assert_tensor_close(lab_softmax(h, 0), (float[]){0.09003057f, 0.24472847f, 0.66524096f, 0}, 1e-7, 1e-6);
    lt_assert_tensor_close(lab_log_softmax(h, 0), (float[]){-2.40760596f, -1.40760596f, -0.40760596f, -INFINITY},
                           1e-6, 1e-6);
    /* empty inputs */
    lab_tensor *e = lt_randn(1, 2, (int64_t[]){0, 3});
    cr_assert_float_eq(lab_tensor_item(lab_sum_all(e)), 0.0f, 0);
    cr_assert(isnan(lab_tensor_item(lab_mean_all(e))));
    lt_assert_tensor_close(lab_sum(e, 0, 0), (float[]){0, 0, 0}, 0, 0);
    assert_shape(lab_sum(e, 1, 0), 1, (int64_t[]){0});
    assert_shape(lab_softmax(e, 1), 2, (int64_t[]){0, 3});
    /* a big sum_all, split across threads, accurate to f32 */
    int64_t n = 1 << 21;
    lab_tensor *ones = lab_tensor_full(LAB_F32, 1, &n, 0.1, LAB_CPU);
    cr_assert_float_eq(lab_tensor_item(lab_sum_all(ones)), 0.1f * (float)n, 0.1f * (float)n * 1e-6f);
    lab_scope_end();
}

/* The gradient of max goes to the first maximum only. */
Test(reduce, max_grad_goes_to_first_argmax)
{
    lab_scope_begin();
    lab_tensor *x = lab_tensor_from_f32((float[]){1, 7, 7, 2, 5, 5}, 2, (int64_t[]){2, 3});
    lab_tensor_set_requires_grad(x, 1);
    lab_tensor *m = lab_max(x, 1, 0);
    lab_tensor *w = lab_tensor_from_f32((float[]){10, 20}, 1, (int64_t[]){2});
    cr_assert_eq(lab_backward(lab_sum_all(lab_mul(m, w))), 0, "%s", lab_error());
    lt_assert_tensor_close(x->grad, (float[]){0, 10, 0, 0, 20, 0}, 0, 0);
    lab_tensor_zero_grad(x);
    lab_backward(lab_sum_all(lab_max(x, 0, 1)));
    lt_assert_tensor_close(x->grad, (float[]){0, 1, 1, 1, 0, 0}, 0, 0);
    /* argmax is never recorded */
    lab_tensor *am = lab_argmax(x, 0, 0);
    cr_assert_null(am->node);
    cr_assert_eq(am->requires_grad, 0);
    lab_scope_end();
}

/* --- gradchecks ------------------------------------------------------------------ */

typedef struct {
    int kind, dim, keep;
} red_case;

static lab_tensor *gc_red(lab_tensor *const *in, void *user)
{
    const red_case *c = user;
    switch (c->kind) {
    case 0: return lab_sum(in[0], c->dim, c->keep);
    case 1: return lab_mean(in[0], c->dim, c->keep);
    case 2: return lab_max(in[0], c->dim, c->keep);
    case 3: return lab_var(in[0], c->dim, 1, c->keep);
    case 4: return lab_var(in[0], c->dim, 0, c->keep);
    case 5: return lab_sum_all(in[0]);
    case 6: return lab_mean_all(in[0]);
    case 7: return lab_softmax(in[0], c->dim);
    case 8: return lab_log_softmax(in[0], c->dim);
    }
    return NULL;
}

Test(reduce, gradcheck_every_reduction)
{
    const char *names[] = {"sum", "mean", "max", "var(unbiased)", "var", "sum_all", "mean_all", "softmax",
                           "log_softmax"};
    for (int kind = 0; kind < 9; kind++) {
        for (int dim = -1; dim < 3; dim++) {
            lab_scope_begin();
            /* distinct values a quarter apart, so that max has no near-ties */
            lab_tensor *x = lab_tensor_empty(LAB_F32, 3, (int64_t[]){2, 3, 4}, LAB_CPU);
            lab_rng r = lab_rng_make(77 + (uint64_t)kind, (uint64_t)(dim + 1));
            float *v = lab_tensor_f32(x);
            for (int i = 0; i < 24; i++) v[i] = (float)i * 0.25f - 3.0f;
            for (int i = 23; i > 0; i--) {
                int j = (int)rnd(&r, i + 1);
                float t = v[i];
                v[i] = v[j];
                v[j] = t;
            }
            lab_tensor_set_requires_grad(x, 1);
            red_case c = {kind, dim, dim & 1};
            int rc = lab_gradcheck(gc_red, 1, &x, &c, 1e-2, 2e-3, 1e-2);
            cr_assert_eq(rc, 0, "%s dim %d: %s", names[kind], dim, lab_error());
            lab_scope_end();
        }
    }
}

/* --- errors ------------------------------------------------------------------------ */

Test(reduce, errors_name_the_op_and_shapes)
{
    lab_scope_begin();
    lab_tensor *x = lt_randn(1, 2, (int64_t[]){2, 3});
    red_fn fns[] = {lab_sum, lab_mean, lab_max, lab_argmax};
    const char *names[] = {"sum", "mean", "max", "argmax"};
    char want[128];
    for (int k = 0; k < 4; k++) {
        cr_assert_null(fns[k](x, 2, 0));
        snprintf(want, sizeof want, "%s: dim 2 is out of range for f32[2, 3]", names[k]);
        lt_assert_error_contains(want);
        cr_assert_null(fns[k](x, -3, 1));
        lt_assert_error_contains("dim -3 is out of range");
    }
    cr_assert_null(lab_var(x, 5, 1, 0));
    lt_assert_error_contains("var: dim 5 is out of range for f32[2, 3]");
    cr_assert_null(lab_softmax(x, 2));
    lt_assert_error_contains("softmax: dim 2 is out of range for f32[2, 3]");
    cr_assert_null(lab_log_softmax(x, -3));
    lt_assert_error_contains("log_softmax: dim -3 is out of range for f32[2, 3]");
    lab_tensor *i = lab_tensor_arange(3, LAB_CPU);
    cr_assert_null(lab_sum(i, 0, 0));
    lt_assert_error_contains("sum: input must be f32, got i64[3]");
    cr_assert_null(lab_mean_all(i));
    lt_assert_error_contains("mean_all: input must be f32, got i64[3]");
    cr_assert_null(lab_softmax(i, 0));
    lt_assert_error_contains("softmax: input must be f32, got i64[3]");
    cr_assert_null(lab_max(lt_randn(2, 2, (int64_t[]){2, 0}), 1, 0));
    lt_assert_error_contains("max: cannot reduce the empty dim 1 of f32[2, 0]");
    cr_assert_null(lab_argmax(lt_randn(2, 1, (int64_t[]){0}), 0, 0));
    lt_assert_error_contains("argmax: cannot reduce the empty dim 0 of f32[0]");
    lab_error_set("earlier");
    cr_assert_null(lab_sum(NULL, 0, 0));
    cr_assert_null(lab_max(NULL, 0, 0));
    cr_assert_null(lab_var(NULL, 0, 1, 0));
    cr_assert_null(lab_sum_all(NULL));
    cr_assert_null(lab_softmax(NULL, 0));
    cr_assert_str_eq(lab_error(), "earlier");
    lab_scope_end();
}
