/* Elementwise ops: every op against the plain C reference (ref_elementwise.c)
 * on random shapes with broadcasting, size-1 and empty dims, sizes large
 * enough for the parallel paths, values pinned against PyTorch 1.13,
 * finite-difference gradchecks of every differentiable op, and the errors a
 * user can cause. */
#include <stdlib.h>
#include <string.h>

#include "labtest.h"
#include "ref_elementwise.h"

/* --- helpers ------------------------------------------------------------- */

static int64_t rnd(lab_rng *r, int64_t n) { return (int64_t)lab_rng_next_below(r, (uint64_t)n); }

/* Strides (elements) reading t as `shape` under broadcasting. */
static void bstrides(const lab_tensor *t, int nd, const int64_t *shape, int64_t *st)
{
    int64_t own[LAB_MAX_DIMS], s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        own[i] = s;
        s *= t->shape[i];
    }
    for (int i = 0; i < nd; i++) {
        int j = t->ndim - nd + i;
        st[i] = (j < 0 || (t->shape[j] == 1 && shape[i] != 1)) ? 0 : own[j];
    }
}

/* A random output shape (0..4 dims, sizes 1..5, sometimes 0) and a shape
 * for an operand that broadcasts to it: leading dims dropped, some set to 1. */
static void rand_shape(lab_rng *r, int *nd, int64_t *shape, int allow_empty)
{
    *nd = (int)rnd(r, 5);
    for (int i = 0; i < *nd; i++) shape[i] = (allow_empty && rnd(r, 12) == 0) ? 0 : 1 + rnd(r, 5);
}

static void operand_shape(lab_rng *r, int nd, const int64_t *shape, int *na, int64_t *sa)
{
    *na = nd - (int)rnd(r, nd + 1);
    for (int i = 0; i < *na; i++) sa[i] = rnd(r, 3) == 0 ? 1 : shape[nd - *na + i];
}

static void assert_shape(const lab_tensor *t, int nd, const int64_t *shape)
{
    cr_assert_eq(t->ndim, nd, "ndim %d, want %d", t->ndim, nd);
    for (int i = 0; i < nd; i++)
        cr_assert_eq(t->shape[i], shape[i], "dim %d: %lld, want %lld", i, (long long)t->shape[i], (long long)shape[i]);
}

static float *host(const lab_tensor *t)
{
    float *v = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *v);
    cr_assert_eq(lab_tensor_copy_to_host(t, v), 0);
    return v;
}

typedef lab_tensor *(*bin_fn)(lab_tensor *, lab_tensor *);

/* y = f(a, b) against the reference with a's and b's broadcast strides. */
static void check_binary(bin_fn f, lab_binary_op op, lab_tensor *a, lab_tensor *b, int nd, const int64_t *shape,
                         double atol, double rtol)
{
    lab_tensor *y = f(a, b);
    cr_assert_not_null(y, "%s", lab_error());
    assert_shape(y, nd, shape);
    int64_t sa[LAB_MAX_DIMS], sb[LAB_MAX_DIMS];
    bstrides(a, nd, shape, sa);
    bstrides(b, nd, shape, sb);
    float *ref = malloc((size_t)(y->numel ? y->numel : 1) * sizeof *ref);
    lab_ref_binary(op, nd, shape, ref, lab_tensor_f32(a), sa, lab_tensor_f32(b), sb);
    lt_assert_tensor_close(y, ref, atol, rtol);
    free(ref);
}

static const struct {
    const char *name;
    bin_fn f;
    lab_binary_op op;
} BINS[] = {
    {"add", lab_add, LAB_BIN_ADD}, {"sub", lab_sub, LAB_BIN_SUB},         {"mul", lab_mul, LAB_BIN_MUL},
    {"div", lab_div, LAB_BIN_DIV}, {"pow", lab_pow, LAB_BIN_POW},         {"maximum", lab_maximum, LAB_BIN_MAX},
    {"minimum", lab_minimum, LAB_BIN_MIN}, {"gt", lab_gt, LAB_BIN_GT},   {"lt", lab_lt, LAB_BIN_LT},
    {"eq", lab_eq, LAB_BIN_EQ},
};
#define NBINS (int)(sizeof BINS / sizeof BINS[0])

/* Operand values suited to op k: positive bases for pow, nonzero divisors,
 * small integers for the comparisons so that ties occur. */
static lab_tensor *operand(uint64_t seed, int k, int which, int nd, const int64_t *shape)
{
    lab_binary_op op = BINS[k].op;
    if (op == LAB_BIN_POW) return which == 0 ? lt_rand(seed, nd, shape, 0.3f, 2.5f) : lt_rand(seed, nd, shape, -2.0f, 2.0f);
    if (op == LAB_BIN_DIV && which == 1) {
        lab_tensor *u = lt_rand(seed, nd, shape, 0.5f, 2.0f);
        lab_tensor *s = lab_affine(lab_gt(lt_randn(seed + 1, nd, shape), lab_tensor_scalar(0, LAB_CPU)), 2.0f, -1.0f);
        return lab_mul(u, s);
    }
    if (op == LAB_BIN_MAX || op == LAB_BIN_MIN || op == LAB_BIN_GT || op == LAB_BIN_LT || op == LAB_BIN_EQ)
        return lab_tensor_cast(lt_randint(seed, nd, shape, 3), LAB_F32);
    return lt_randn(seed, nd, shape);
}

/* --- forward against the reference ------------------------------------------ */

Test(elementwise, binary_ops_match_reference_on_random_broadcasts)
{
    lab_rng r = lab_rng_make(11, 0);
    for (int trial = 0; trial < 60; trial++) {
        for (int k = 0; k < NBINS; k++) {
            lab_scope_begin();
            int nd, na, nb;
            int64_t shape[LAB_MAX_DIMS], sa[LAB_MAX_DIMS], sb[LAB_MAX_DIMS];
            rand_shape(&r, &nd, shape, 1);
            operand_shape(&r, nd, shape, &na, sa);
            operand_shape(&r, nd, shape, &nb, sb);
            /* The output is the broadcast of the operands, which may be
             * smaller than `shape` where both picked 1. */
            int64_t out[LAB_MAX_DIMS];
            nd = na > nb ? na : nb;
            for (int i = 0; i < nd; i++) {
                int ia = i - (nd - na), ib = i - (nd - nb);
                int64_t x = ia >= 0 ? sa[ia] : 1, y = ib >= 0 ? sb[ib] : 1;
                out[i] = x == 1 ? y : x;
            }
            lab_tensor *a = operand(100 + (uint64_t)trial, k, 0, na, sa);
            lab_tensor *b = operand(200 + (uint64_t)trial, k, 1, nb, sb);
            check_binary(BINS[k].f, BINS[k].op, a, b, nd, out, 1e-6, 1e-5);
            /* and with the operands swapped */
            if (BINS[k].op != LAB_BIN_POW && BINS[k].op != LAB_BIN_DIV)
                check_binary(BINS[k].f, BINS[k].op, b, a, nd, out, 1e-6, 1e-5);
            lab_scope_end();
        }
    }
}

/* Shapes that take each fast path, above the parallel threshold. */
Test(elementwise, binary_fast_paths_and_parallel_sizes)
{
    struct {
        int na, nb;
        int64_t a[4], b[4];
    } cases[] = {
        {1, 1, {40003}, {40003}},            /* same shape, one long row in chunks */
        {2, 0, {130, 257}, {0}},             /* scalar operand */
        {2, 1, {130, 257}, {257}},           /* bias add */
        {2, 2, {130, 257}, {130, 1}},        /* per-row scalar */
        {2, 2, {1, 257}, {130, 257}},        /* broadcast on the left */
        {3, 3, {12, 1, 60}, {1, 50, 60}},    /* outer product of rows */
        {3, 3, {12, 50, 1}, {1, 50, 60}},    /* general strides */
        {4, 2, {2, 3, 4, 5}, {4, 5}},        /* small, several merged dims */
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int k = 0; k < NBINS; k++) {
            lab_scope_begin();
            lab_tensor *a = operand(7 + c, k, 0, cases[c].na, cases[c].a);
            lab_tensor *b = operand(9 + c, k, 1, cases[c].nb, cases[c].b);
            int nd;
            int64_t out[LAB_MAX_DIMS];
            nd = a->ndim > b->ndim ? a->ndim : b->ndim;
            for (int i = 0; i < nd; i++) {
                int ia = i - (nd - a->ndim), ib = i - (nd - b->ndim);
                int64_t x = ia >= 0 ? a->shape[ia] : 1, y = ib >= 0 ? b->shape[ib] : 1;
                out[i] = x == 1 ? y : x;
            }
            check_binary(BINS[k].f, BINS[k].op, a, b, nd, out, 1e-6, 1e-5);
            lab_scope_end();
        }
    }
}

Test(elementwise, empty_and_scalar_operands)
{
    lab_scope_begin();
    lab_tensor *e = lt_randn(1, 2, (int64_t[]){0, 3});
    lab_tensor *row = lt_randn(2, 1, (int64_t[]){3});
    lab_tensor *y = lab_add(e, row);
    cr_assert_not_null(y, "%s", lab_error());
    assert_shape(y, 2, (int64_t[]){0, 3});
    cr_assert_eq(y->numel, 0);
    /* [2, 0] with [1] -> [2, 0]; [0] with a scalar -> [0] */
    y = lab_mul(lt_randn(3, 2, (int64_t[]){2, 0}), lt_randn(4, 1, (int64_t[]){1}));
    assert_shape(y, 2, (int64_t[]){2, 0});
    y = lab_exp(lt_randn(5, 1, (int64_t[]){0}));
    assert_shape(y, 1, (int64_t[]){0});
    /* two scalars stay a scalar; a scalar with [3] broadcasts */
    lab_tensor *s = lab_tensor_scalar(2.0f, LAB_CPU), *t = lab_tensor_scalar(5.0f, LAB_CPU);
    y = lab_mul(s, t);
    cr_assert_eq(y->ndim, 0);
    cr_assert_float_eq(lab_tensor_item(y), 10.0f, 0);
    y = lab_sub(s, lab_tensor_from_f32((float[]){1, 2, 3}, 1, (int64_t[]){3}));
    lt_assert_tensor_close(y, (float[]){1, 0, -1}, 0, 0);
    lab_scope_end();
}

/* --- unary --------------------------------------------------------------------- */

static lab_tensor *leaky01(lab_tensor *x) { return lab_leaky_relu(x, 0.1f); }
static lab_tensor *clamp_m05_07(lab_tensor *x) { return lab_clamp(x, -0.5f, 0.7f); }
static lab_tensor *pow17(lab_tensor *x) { return lab_pow_scalar(x, 1.7f); }
static lab_tensor *pow2(lab_tensor *x) { return lab_pow_scalar(x, 2.0f); }
static lab_tensor *pow3(lab_tensor *x) { return lab_pow_scalar(x, 3.0f); }
static lab_tensor *pow_half(lab_tensor *x) { return lab_pow_scalar(x, 0.5f); }
static lab_tensor *pow_m1(lab_tensor *x) { return lab_pow_scalar(x, -1.0f); }
static lab_tensor *pow0(lab_tensor *x) { return lab_pow_scalar(x, 0.0f); }
static lab_tensor *add_s(lab_tensor *x) { return lab_add_scalar(x, 1.25f); }
static lab_tensor *mul_s(lab_tensor *x) { return lab_mul_scalar(x, -3.0f); }
static lab_tensor *affine_s(lab_tensor *x) { return lab_affine(x, 0.5f, -2.0f); }

typedef struct {
    const char *name;
    lab_tensor *(*fn)(lab_tensor *);
    lab_unary_op op;
    float p0, p1;
    float lo, hi;   /* input range */
    float kink[2];  /* points to keep inputs away from in gradchecks (NAN: none) */
} ucase;

static const ucase UNARY[] = {
    {"neg", lab_neg, LAB_UN_NEG, 0, 0, -3, 3, {NAN, NAN}},
    {"exp", lab_exp, LAB_UN_EXP, 0, 0, -3, 3, {NAN, NAN}},
    {"log", lab_log, LAB_UN_LOG, 0, 0, 0.2f, 4, {NAN, NAN}},
    {"sqrt", lab_sqrt, LAB_UN_SQRT, 0, 0, 0.2f, 4, {NAN, NAN}},
    {"rsqrt", lab_rsqrt, LAB_UN_RSQRT, 0, 0, 0.3f, 4, {NAN, NAN}},
    {"abs", lab_abs, LAB_UN_ABS, 0, 0, -3, 3, {0, NAN}},
    {"square", lab_square, LAB_UN_SQUARE, 0, 0, -3, 3, {NAN, NAN}},
    {"sin", lab_sin, LAB_UN_SIN, 0, 0, -4, 4, {NAN, NAN}},
    {"cos", lab_cos, LAB_UN_COS, 0, 0, -4, 4, {NAN, NAN}},
    {"relu", lab_relu, LAB_UN_RELU, 0, 0, -3, 3, {0, NAN}},
    {"leaky_relu", leaky01, LAB_UN_LEAKY_RELU, 0.1f, 0, -3, 3, {0, NAN}},
    {"gelu", lab_gelu, LAB_UN_GELU, 0, 0, -4, 4, {NAN, NAN}},
    {"silu", lab_silu, LAB_UN_SILU, 0, 0, -4, 4, {NAN, NAN}},
    {"tanh", lab_tanh, LAB_UN_TANH, 0, 0, -3, 3, {NAN, NAN}},
    {"sigmoid", lab_sigmoid, LAB_UN_SIGMOID, 0, 0, -5, 5, {NAN, NAN}},
    {"softplus", lab_softplus, LAB_UN_SOFTPLUS, 0, 0, -5, 5, {NAN, NAN}},
    {"softplus_wide", lab_softplus, LAB_UN_SOFTPLUS, 0, 0, -30, 30, {20, NAN}},
    {"clamp", clamp_m05_07, LAB_UN_CLAMP, -0.5f, 0.7f, -2, 2, {-0.5f, 0.7f}},
    {"pow_scalar_1.7", pow17, LAB_UN_POW, 1.7f, 0, 0.3f, 3, {NAN, NAN}},
    {"pow_scalar_2", pow2, LAB_UN_POW, 2.0f, 0, -3, 3, {NAN, NAN}},
    {"pow_scalar_3", pow3, LAB_UN_POW, 3.0f, 0, -2, 2, {NAN, NAN}},
    {"pow_scalar_0.5", pow_half, LAB_UN_POW, 0.5f, 0, 0.3f, 3, {NAN, NAN}},
    {"pow_scalar_-1", pow_m1, LAB_UN_POW, -1.0f, 0, 0.3f, 3, {NAN, NAN}},
    {"pow_scalar_0", pow0, LAB_UN_POW, 0.0f, 0, -2, 2, {NAN, NAN}},
    {"add_scalar", add_s, LAB_UN_AFFINE, 1.0f, 1.25f, -3, 3, {NAN, NAN}},
    {"mul_scalar", mul_s, LAB_UN_AFFINE, -3.0f, 0, -3, 3, {NAN, NAN}},
    {"affine", affine_s, LAB_UN_AFFINE, 0.5f, -2.0f, -3, 3, {NAN, NAN}},
};
#define NUNARY (int)(sizeof UNARY / sizeof UNARY[0])

/* Inputs in [lo, hi), at least 0.05 from every kink. */
static lab_tensor *unary_input(const ucase *c, uint64_t seed, int nd, const int64_t *shape)
{
    lab_tensor *x = lt_rand(seed, nd, shape, c->lo, c->hi);
    float *v = lab_tensor_f32(x);
    for (int64_t i = 0; i < x->numel; i++)
        for (int k = 0; k < 2; k++)
            if (!isnan(c->kink[k]) && fabsf(v[i] - c->kink[k]) < 0.05f) v[i] = c->kink[k] + 0.1f;
    return x;
}

Test(elementwise, unary_ops_match_reference)
{
    int64_t shapes[][3] = {{3, 4, 5}, {1, 1, 1}, {0, 4, 1}, {33001, 1, 1}};
    for (int k = 0; k < NUNARY; k++) {
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            lab_scope_begin();
            lab_tensor *x = unary_input(&UNARY[k], 31 + s, 3, shapes[s]);
            lab_tensor *y = UNARY[k].fn(x);
            cr_assert_not_null(y, "%s: %s", UNARY[k].name, lab_error());
            assert_shape(y, 3, shapes[s]);
            float *ref = malloc((size_t)(x->numel ? x->numel : 1) * sizeof *ref);
            lab_ref_unary(UNARY[k].op, x->numel, ref, lab_tensor_f32(x), UNARY[k].p0, UNARY[k].p1);
            float *got = host(y);
            int64_t w;
            double e = lt_excess(got, ref, x->numel, 1e-6, 2e-6, &w);
            cr_assert(e <= 0, "%s at %lld: x %g, got %.9g, want %.9g", UNARY[k].name, (long long)w,
                      lab_tensor_f32(x)[w], got[w], ref[w]);
            free(ref);
            free(got);
            lab_scope_end();
        }
    }
}

Test(elementwise, unary_backward_matches_reference)
{
    int64_t shapes[][2] = {{7, 9}, {33001, 1}};
    for (int k = 0; k < NUNARY; k++) {
        for (size_t s = 0; s < 2; s++) {
            lab_scope_begin();
            lab_tensor *x = unary_input(&UNARY[k], 41 + s, 2, shapes[s]);
            lab_tensor_set_requires_grad(x, 1);
            lab_tensor *y = UNARY[k].fn(x);
            lab_tensor *gy = lt_randn(43 + s, 2, shapes[s]);
            cr_assert_eq(lab_backward_with(y, gy), 0, "%s: %s", UNARY[k].name, lab_error());
            cr_assert_not_null(x->grad, "%s: no grad", UNARY[k].name);
            float *ref = malloc((size_t)x->numel * sizeof *ref);
            lab_ref_unary_backward(UNARY[k].op, x->numel, ref, lab_tensor_f32(gy), lab_tensor_f32(x), NULL,
                                   UNARY[k].p0, UNARY[k].p1);
            float *got = host(x->grad);
            int64_t w;
            double e = lt_excess(got, ref, x->numel, 1e-6, 2e-5, &w);
            cr_assert(e <= 0, "%s grad at %lld: x %g, got %.9g, want %.9g", UNARY[k].name, (long long)w,
                      lab_tensor_f32(x)[w], got[w], ref[w]);
            free(ref);
            free(got);
            lab_scope_end();
        }
    }
}

/* exp, sigmoid and silu use a vectorised exp (kernels/cpu/cpu_math.h):
 * within 2.5 ulp of double-precision exp over the whole float range, with
 * the right limits (0 in the subnormal tail, inf on overflow, NaN kept). */
Test(elementwise, exp_is_accurate_over_the_float_range)
{
    lab_scope_begin();
    int64_t n = 200003;
    lab_tensor *x = lt_rand(3, 1, &n, -110.0f, 90.0f);
    float *ref = malloc((size_t)n * sizeof *ref), *got;
    lab_ref_unary(LAB_UN_EXP, n, ref, lab_tensor_f32(x), 0, 0);
    got = host(lab_exp(x));
    int64_t w;
    /* atol: one step of the subnormal grid, where relative error means little */
    double e = lt_excess(got, ref, n, 3e-45, 3e-7, &w);
    cr_assert(e <= 0, "exp(%.9g) = %.9g, want %.9g", lab_tensor_f32(x)[w], got[w], ref[w]);
    free(got);
    const float ex[] = {-INFINITY, -200, -104, -103.5f, -90, -87.5f, -1e-8f, 0, 1e-8f, 1, 20, 88.7f, 88.72f, 88.73f, 89, 200,
                        INFINITY, NAN};
    const int64_t m = sizeof ex / sizeof ex[0];
    lab_tensor *t = lab_tensor_from_f32(ex, 1, &m);
    const lab_unary_op ops[3] = {LAB_UN_EXP, LAB_UN_SIGMOID, LAB_UN_SILU};
    lab_tensor *ys[3] = {lab_exp(t), lab_sigmoid(t), lab_silu(t)};
    for (int k = 0; k < 3; k++) {
        lab_ref_unary(ops[k], m, ref, ex, 0, 0);
        got = host(ys[k]);
        /* silu(-104) = -104 * sigmoid(-104) underflows in the sigmoid
         * first: off by 7e-44, deep in the subnormals */
        e = lt_excess(got, ref, m, 1e-43, 3e-7, &w);
        cr_assert(e <= 0, "op %d at x = %g: got %.9g, want %.9g", k, ex[w], got[w], ref[w]);
        free(got);
    }
    free(ref);
    lab_scope_end();
}

/* Values and gradients computed once with PyTorch 1.13 (torch.nn.functional
 * and torch.sigmoid / torch.tanh, f32) at x below; grads of y.sum().
 * rtol 1e-4: PyTorch's f32 gelu loses digits in the left tail (at x = -3 it
 * is 4e-5 off the double-precision value, which ours matches to 1e-6; the
 * reference test above holds us to that). */
Test(elementwise, activations_match_pytorch)
{
    const float x[8] = {-25, -3, -0.5f, 0, 0.7f, 2, 19.5f, 21};
    const struct {
        lab_tensor *(*fn)(lab_tensor *);
        float y[8], g[8];
    } ref[] = {
        {lab_gelu,
         {0, -0.00404986739f, -0.154268786f, 0, 0.530625463f, 1.95449996f, 19.5f, 21},
         {0, -0.0119456053f, 0.13250491f, 0.5f, 0.976614118f, 1.0852319f, 1, 1}},
        {lab_silu,
         {-3.47198575e-10f, -0.142277613f, -0.188770339f, 0, 0.467731416f, 1.76159406f, 19.5f, 21},
         {-3.33310629e-10f, -0.0881041065f, 0.260038823f, 0.5f, 0.823386729f, 1.09078431f, 1, 1}},
        {lab_softplus,
         {1.38879437e-11f, 0.048587352f, 0.474076986f, 0.693147182f, 1.10318601f, 2.12692809f, 19.5f, 21},
         {1.38879437e-11f, 0.0474258736f, 0.377540678f, 0.5f, 0.668187797f, 0.880797088f, 1, 1}},
        {lab_sigmoid,
         {1.38879429e-11f, 0.0474258736f, 0.377540678f, 0.5f, 0.668187737f, 0.880797029f, 1, 1},
         {1.38879429e-11f, 0.0451766588f, 0.23500371f, 0.25f, 0.221712887f, 0.104993626f, 0, 0}},
        {lab_tanh,
         {-1, -0.995054781f, -0.462117165f, 0, 0.604367793f, 0.964027584f, 1, 1},
         {0, 0.00986598153f, 0.786447704f, 1, 0.634739578f, 0.070650816f, 0, 0}},
        {leaky01,
         {-2.5f, -0.3f, -0.05f, 0, 0.7f, 2, 19.5f, 21},
         {0.1f, 0.1f, 0.1f, 0.1f, 1, 1, 1, 1}},
    };
    for (size_t k = 0; k < sizeof ref / sizeof ref[0]; k++) {
        lab_scope_begin();
        lab_tensor *t = lab_tensor_from_f32(x, 1, (int64_t[]){8});
        lab_tensor_set_requires_grad(t, 1);
        lab_tensor *y = ref[k].fn(t);
        lt_assert_tensor_close(y, ref[k].y, 1e-7, 1e-4);
        cr_assert_eq(lab_backward(lab_sum_all(y)), 0, "%s", lab_error());
        lt_assert_tensor_close(t->grad, ref[k].g, 1e-7, 1e-4);
        lab_scope_end();
    }
}

/* Kinks, ties and NaN follow PyTorch 1.13. */
Test(elementwise, kinks_ties_and_nan_match_pytorch)
{
    lab_scope_begin();
    lab_tensor *x = lab_tensor_from_f32((float[]){-2, -1, 0, 0.5f, 1, 3}, 1, (int64_t[]){6});
    lab_tensor_set_requires_grad(x, 1);
    lab_backward(lab_sum_all(lab_clamp(x, -1, 1)));
    lt_assert_tensor_close(x->grad, (float[]){0, 1, 1, 1, 1, 0}, 0, 0);
    lab_tensor_zero_grad(x);
    lab_backward(lab_sum_all(lab_relu(x)));
    lt_assert_tensor_close(x->grad, (float[]){0, 0, 0, 1, 1, 1}, 0, 0);
    lab_tensor_zero_grad(x);
    lab_backward(lab_sum_all(lab_abs(x)));
    lt_assert_tensor_close(x->grad, (float[]){-1, -1, 0, 1, 1, 1}, 0, 0);

    /* torch.maximum: ties split the gradient, NaN passes it to both. */
    lab_tensor *a = lab_tensor_from_f32((float[]){1, 2, 2, -1}, 1, (int64_t[]){4});
    lab_tensor *b = lab_tensor_from_f32((float[]){2, 2, 1, NAN}, 1, (int64_t[]){4});
    lab_tensor_set_requires_grad(a, 1);
    lab_tensor_set_requires_grad(b, 1);
    lab_tensor *m = lab_maximum(a, b);
    lt_assert_tensor_close(m, (float[]){2, 2, 2, NAN}, 0, 0);
    lab_backward(lab_sum_all(m));
    lt_assert_tensor_close(a->grad, (float[]){0, 0.5f, 1, 1}, 0, 0);
    lt_assert_tensor_close(b->grad, (float[]){1, 0.5f, 0, 1}, 0, 0);
    lab_tensor_zero_grad(a);
    lab_tensor_zero_grad(b);
    lab_backward(lab_sum_all(lab_minimum(a, b)));
    lt_assert_tensor_close(a->grad, (float[]){1, 0.5f, 0, 1}, 0, 0);
    lt_assert_tensor_close(b->grad, (float[]){0, 0.5f, 1, 1}, 0, 0);

    /* torch.pow at a zero base: 0^2, 0^0, 2^3. */
    lab_tensor *p = lab_tensor_from_f32((float[]){0, 0, 2}, 1, (int64_t[]){3});
    lab_tensor *q = lab_tensor_from_f32((float[]){2, 0, 3}, 1, (int64_t[]){3});
    lab_tensor_set_requires_grad(p, 1);
    lab_tensor_set_requires_grad(q, 1);
    lab_tensor *y = lab_pow(p, q);
    lt_assert_tensor_close(y, (float[]){0, 1, 8}, 0, 0);
    lab_backward(lab_sum_all(y));
    lt_assert_tensor_close(p->grad, (float[]){0, 0, 12}, 0, 1e-6);
    lt_assert_tensor_close(q->grad, (float[]){0, 0, 5.545177459716797f}, 0, 1e-6);

    /* NaN propagates through relu, clamp and maximum as in PyTorch. */
    lab_tensor *n = lab_tensor_from_f32((float[]){NAN}, 1, (int64_t[]){1});
    cr_assert(isnan(lab_tensor_item(lab_relu(n))));
    cr_assert(isnan(lab_tensor_item(lab_clamp(n, 0, 1))));
    lab_scope_end();
}

/* --- where, masks ------------------------------------------------------------ */

Test(elementwise, where_matches_reference)
{
    lab_rng r = lab_rng_make(21, 0);
    for (int trial = 0; trial < 80; trial++) {
        lab_scope_begin();
        int nd, nc, na, nb;
        int64_t shape[LAB_MAX_DIMS], sc[LAB_MAX_DIMS], sa[LAB_MAX_DIMS], sb[LAB_MAX_DIMS];
        rand_shape(&r, &nd, shape, 1);
        operand_shape(&r, nd, shape, &nc, sc);
        operand_shape(&r, nd, shape, &na, sa);
        operand_shape(&r, nd, shape, &nb, sb);
        lab_tensor *c = lab_tensor_cast(lt_randint(300 + trial, nc, sc, 2), LAB_F32);
        lab_tensor *a = lt_randn(400 + trial, na, sa), *b = lt_randn(500 + trial, nb, sb);
        lab_tensor *y = lab_where(c, a, b);
        cr_assert_not_null(y, "%s", lab_error());
        int64_t out[LAB_MAX_DIMS], s1[LAB_MAX_DIMS], s2[LAB_MAX_DIMS], s3[LAB_MAX_DIMS];
        nd = nc > na ? nc : na;
        nd = nb > nd ? nb : nd;
        for (int i = 0; i < nd; i++) {
            out[i] = 1;
            const lab_tensor *ts[3] = {c, a, b};
            for (int k = 0; k < 3; k++) {
                int j = i - (nd - ts[k]->ndim);
                if (j >= 0 && ts[k]->shape[j] != 1) out[i] = ts[k]->shape[j];
            }
        }
        assert_shape(y, nd, out);
        bstrides(c, nd, out, s1);
        bstrides(a, nd, out, s2);
        bstrides(b, nd, out, s3);
        float *ref = malloc((size_t)(y->numel ? y->numel : 1) * sizeof *ref);
        lab_ref_where(nd, out, ref, lab_tensor_f32(c), s1, lab_tensor_f32(a), s2, lab_tensor_f32(b), s3);
        lt_assert_tensor_close(y, ref, 0, 0);
        free(ref);
        lab_scope_end();
    }
    /* a large contiguous case */
    lab_scope_begin();
    int64_t n = 70001;
    lab_tensor *c = lab_tensor_cast(lt_randint(1, 1, &n, 2), LAB_F32);
    lab_tensor *a = lt_randn(2, 1, &n), *b = lt_randn(3, 1, &n);
    lab_tensor *y = lab_where(c, a, b);
    const float *cv = lab_tensor_f32(c), *av = lab_tensor_f32(a), *bv = lab_tensor_f32(b), *yv = lab_tensor_f32(y);
    for (int64_t i = 0; i < n; i++) cr_assert_eq(yv[i], cv[i] != 0 ? av[i] : bv[i]);
    lab_scope_end();
}

Test(elementwise, masks_are_not_recorded)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(1, 1, (int64_t[]){5}), *b = lt_randn(2, 1, (int64_t[]){5});
    lab_tensor_set_requires_grad(a, 1);
    lab_tensor *ms[3] = {lab_gt(a, b), lab_lt(a, b), lab_eq(a, a)};
    for (int k = 0; k < 3; k++) {
        cr_assert_not_null(ms[k]);
        cr_assert_null(ms[k]->node);
        cr_assert_eq(ms[k]->requires_grad, 0);
    }
    lt_assert_tensor_close(ms[2], (float[]){1, 1, 1, 1, 1}, 0, 0);
    /* gt and lt are exclusive, and with eq they cover every pair */
    float *g = host(ms[0]), *l = host(ms[1]);
    for (int i = 0; i < 5; i++) cr_assert_eq(g[i] + l[i], 1.0f); /* randn: no ties */
    free(g);
    free(l);
    lab_scope_end();
}

/* --- gradchecks -------------------------------------------------------------- */

static lab_tensor *gc_unary(lab_tensor *const *in, void *user) { return ((const ucase *)user)->fn(in[0]); }

Test(elementwise, gradcheck_unary_ops)
{
    for (int k = 0; k < NUNARY; k++) {
        lab_scope_begin();
        lab_tensor *x = unary_input(&UNARY[k], 51, 2, (int64_t[]){3, 4});
        lab_tensor_set_requires_grad(x, 1);
        int rc = lab_gradcheck(gc_unary, 1, &x, (void *)&UNARY[k], 1e-2, 1e-2, 1e-2);
        cr_assert_eq(rc, 0, "%s: %s", UNARY[k].name, lab_error());
        lab_scope_end();
    }
}

static lab_tensor *gc_binary(lab_tensor *const *in, void *user)
{
    return BINS[*(const int *)user].f(in[0], in[1]);
}

Test(elementwise, gradcheck_binary_ops_with_broadcasting)
{
    struct {
        int na, nb;
        int64_t a[3], b[3];
    } cases[] = {
        {2, 2, {3, 4}, {3, 4}}, {2, 1, {3, 4}, {4}}, {3, 2, {2, 1, 3}, {4, 1}}, {0, 2, {0}, {2, 3}},
    };
    for (int k = 0; k < NBINS; k++) {
        lab_binary_op op = BINS[k].op;
        if (op == LAB_BIN_GT || op == LAB_BIN_LT || op == LAB_BIN_EQ) continue;
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            lab_scope_begin();
            lab_tensor *in[2];
            if (op == LAB_BIN_POW) {
                in[0] = lt_rand(61 + c, cases[c].na, cases[c].a, 0.5f, 2.0f);
                in[1] = lt_rand(62 + c, cases[c].nb, cases[c].b, -1.5f, 2.0f);
            } else if (op == LAB_BIN_DIV) {
                in[0] = lt_randn(61 + c, cases[c].na, cases[c].a);
                in[1] = lt_rand(62 + c, cases[c].nb, cases[c].b, 0.7f, 2.0f);
            } else if (op == LAB_BIN_MAX || op == LAB_BIN_MIN) {
                /* a in [-2, -0.1] u [0.1, 2] style spread, b in between:
                 * no pair closer than the step */
                in[0] = lt_rand(61 + c, cases[c].na, cases[c].a, -2.0f, 2.0f);
                in[1] = lt_rand(62 + c, cases[c].nb, cases[c].b, -2.0f, 2.0f);
                float *av = lab_tensor_f32(in[0]);
                for (int64_t i = 0; i < in[0]->numel; i++) av[i] = roundf(av[i] * 4) / 4 + 0.125f;
                float *bv = lab_tensor_f32(in[1]);
                for (int64_t i = 0; i < in[1]->numel; i++) bv[i] = roundf(bv[i] * 4) / 4;
            } else {
                in[0] = lt_randn(61 + c, cases[c].na, cases[c].a);
                in[1] = lt_randn(62 + c, cases[c].nb, cases[c].b);
            }
            lab_tensor_set_requires_grad(in[0], 1);
            lab_tensor_set_requires_grad(in[1], 1);
            int rc = lab_gradcheck(gc_binary, 2, in, &k, 1e-2, 1e-2, 1e-2);
            cr_assert_eq(rc, 0, "%s case %zu: %s", BINS[k].name, c, lab_error());
            lab_scope_end();
        }
    }
}

static lab_tensor *gc_where(lab_tensor *const *in, void *user)
{
    return lab_where((lab_tensor *)user, in[0], in[1]);
}

Test(elementwise, gradcheck_where)
{
    lab_scope_begin();
    lab_tensor *c = lab_tensor_cast(lt_randint(5, 2, (int64_t[]){3, 4}, 2), LAB_F32);
    lab_tensor *in[2] = {lt_randn(6, 1, (int64_t[]){4}), lt_randn(7, 2, (int64_t[]){3, 1})};
    lab_tensor_set_requires_grad(in[0], 1);
    lab_tensor_set_requires_grad(in[1], 1);
    cr_assert_eq(lab_gradcheck(gc_where, 2, in, c, 1e-2, 1e-2, 1e-2), 0, "%s", lab_error());
    /* the gradient of each branch is the mask's share of the upstream grad */
    lab_tensor *y = lab_where(c, in[0], in[1]);
    lab_backward(lab_sum_all(y));
    float *cv = lab_tensor_f32(c);
    float ga[4] = {0}, gb[3] = {0};
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 4; j++) {
            ga[j] += cv[i * 4 + j] != 0;
            gb[i] += cv[i * 4 + j] == 0;
        }
    lt_assert_tensor_close(in[0]->grad, ga, 0, 0);
    lt_assert_tensor_close(in[1]->grad, gb, 0, 0);
    lab_scope_end();
}

/* An op used on both sides of a broadcast: x [3, 1] * x^T-like [1, 3] is
 * still one input; gradients from both uses add up. */
static lab_tensor *gc_outer_self(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_mul(in[0], lab_reshape(in[0], 2, (int64_t[]){1, 3}));
}

Test(elementwise, gradcheck_input_used_in_two_broadcasts)
{
    lab_scope_begin();
    lab_tensor *x = lt_randn(8, 2, (int64_t[]){3, 1});
    lab_tensor_set_requires_grad(x, 1);
    cr_assert_eq(lab_gradcheck(gc_outer_self, 1, &x, NULL, 1e-2, 1e-2, 1e-2), 0, "%s", lab_error());
    lab_scope_end();
}

/* --- errors ---------------------------------------------------------------------- */

Test(elementwise, errors_name_the_op_and_shapes)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(1, 2, (int64_t[]){2, 3}), *b = lt_randn(2, 1, (int64_t[]){4});
    cr_assert_null(lab_add(a, b));
    lt_assert_error_contains("add: shapes [2, 3] and [4] do not broadcast");
    cr_assert_null(lab_maximum(b, a));
    lt_assert_error_contains("maximum: shapes [4] and [2, 3] do not broadcast");

    lab_tensor *i = lab_tensor_arange(3, LAB_CPU);
    cr_assert_null(lab_mul(i, a));
    lt_assert_error_contains("mul: a must be f32, got i64[3]");
    cr_assert_null(lab_div(a, i));
    lt_assert_error_contains("div: b must be f32, got i64[3]");
    cr_assert_null(lab_exp(i));
    lt_assert_error_contains("exp: input must be f32, got i64[3]");
    cr_assert_null(lab_gt(i, i));
    lt_assert_error_contains("gt: a must be f32");

    cr_assert_null(lab_where(lt_randn(3, 1, (int64_t[]){2}), b, b));
    lt_assert_error_contains("where: shapes [2] (cond), [4] (a) and [4] (b) do not broadcast");
    cr_assert_null(lab_where(i, a, a));
    lt_assert_error_contains("where: cond must be f32, got i64[3]");

    cr_assert_null(lab_clamp(a, 1.0f, 0.0f));
    lt_assert_error_contains("clamp: empty range [1, 0]");

    /* NULL in, NULL out, and the earlier message stays */
    lab_error_set("earlier");
    cr_assert_null(lab_add(NULL, a));
    cr_assert_null(lab_sub(a, NULL));
    cr_assert_null(lab_relu(NULL));
    cr_assert_null(lab_where(NULL, a, a));
    cr_assert_null(lab_add_scalar(NULL, 1));
    cr_assert_null(lab_clamp(NULL, 0, 1));
    cr_assert_str_eq(lab_error(), "earlier");
    lab_scope_end();
}

/* Failed calls leave nothing behind: memory returns to where it was. */
Test(elementwise, failed_calls_do_not_leak)
{
    size_t before, after;
    lab_tensor *a = lt_randn(1, 2, (int64_t[]){2, 3}), *b = lt_randn(2, 1, (int64_t[]){4});
    lab_memory_stats(LAB_CPU, &before, NULL);
    for (int k = 0; k < 10; k++) {
        cr_assert_null(lab_add(a, b));
        cr_assert_null(lab_where(a, b, a));
    }
    lab_memory_stats(LAB_CPU, &after, NULL);
    cr_assert_eq(before, after);
    lab_tensor_release(a);
    lab_tensor_release(b);
}
