/* CPU vs CUDA: layernorm and batchnorm (kernels/cuda/cuda_norm.cu).
 * Skipped without a usable cuda:0. */
#include "parity.h"

/* Row statistics are f32 sums in a different order, then the normalised
 * values are O(1): 1e-5 absolute and relative covers the reordering with a
 * wide margin and catches any wrong row, column or formula. The gamma and
 * beta gradients are f32 sums over the rows of O(1) terms that mostly
 * cancel: their reordering error grows like eps * rows (partial sums of
 * size ~sqrt(rows), ~sqrt(rows) roundings), so the gradient tolerance adds
 * 2.5e-7 per row. With 600 rows the CUDA emulator (tests/emu) differed from
 * the cpu by 7e-5 on a gamma gradient of 1.56, which the flat 1e-5 refused;
 * a wrong row or column is off by O(1). */
static const pt_tol NORM = {1e-5, 1e-5, 1e-5, 1e-5};

static pt_tol norm_tol(int64_t rows)
{
    pt_tol t = NORM;
    t.gatol += 2.5e-7 * (double)rows;
    return t;
}

static lab_tensor *ln_fn(lab_tensor *const *in, void *u)
{
    (void)u;
    return lab_layernorm(in[0], in[1], in[2], 1e-5f);
}

static lab_tensor *ln_plain_fn(lab_tensor *const *in, void *u)
{
    (void)u;
    return lab_layernorm(in[0], NULL, NULL, 1e-5f);
}

Test(parity_norm, layernorm_rows_of_every_length)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    /* 1 (degenerate), 37 (warp path, partial lanes), 1024 (warp path
     * edge), 4000 (block path); 600 rows take the split column sums. */
    int64_t shapes[4][2] = {{50, 1}, {33, 37}, {20, 1024}, {600, 4000}};
    for (int k = 0; k < 4; k++) {
        lab_tensor *x = lab_add_scalar(lt_randn((uint64_t)k, 2, shapes[k]), 3.0f);
        lab_tensor *g = lt_randn(10 + (uint64_t)k, 1, &shapes[k][1]);
        lab_tensor *b = lt_randn(20 + (uint64_t)k, 1, &shapes[k][1]);
        lab_tensor *in[3] = {x, g, b};
        char name[64];
        snprintf(name, sizeof name, "layernorm [%lld, %lld]", (long long)shapes[k][0], (long long)shapes[k][1]);
        pt_check(name, ln_fn, 3, in, 7u, NULL, norm_tol(shapes[k][0]));
        pt_check(name, ln_plain_fn, 1, in, 1u, NULL, norm_tol(shapes[k][0]));
    }
    lab_scope_end();
}

typedef struct {
    lab_tensor *rm, *rv; /* running stats on the device of the call */
    int training;
} bn_arg;

static lab_tensor *bn_fn(lab_tensor *const *in, void *u)
{
    bn_arg *a = u;
    return lab_batchnorm(in[0], in[1], in[2], a->rm, a->rv, a->training, 0.1f, 1e-5f);
}

/* Batchnorm on cpu and cuda with their own running stats; compares outputs,
 * gradients and the updated running stats. */
static void check_bn(const char *name, int ndim, const int64_t *shape, int training)
{
    lab_scope_begin();
    int64_t C = shape[1];
    lab_tensor *x = lab_add_scalar(lab_mul_scalar(lt_randn(40, ndim, shape), 2.0f), 1.0f);
    lab_tensor *g = lt_rand(41, 1, &C, 0.5f, 1.5f), *b = lt_randn(42, 1, &C);
    lab_tensor *rm = lt_randn(43, 1, &C), *rv = lt_rand(44, 1, &C, 0.5f, 2.0f);
    lab_tensor *rmg = lab_tensor_to(rm, PT_GPU), *rvg = lab_tensor_to(rv, PT_GPU);
    lab_tensor *rmc = lab_tensor_clone(rm), *rvc = lab_tensor_clone(rv);
    lab_tensor *in[3] = {x, g, b};
    /* pt_check runs the cpu call first, then the cuda one: hand each its
     * own running stats through a small switch. */
    bn_arg a = {rmc, rvc, training};
    lab_tensor *ci[3] = {lab_tensor_detach(x), lab_tensor_detach(g), lab_tensor_detach(b)};
    lab_tensor *gi[3] = {lab_tensor_to(x, PT_GPU), lab_tensor_to(g, PT_GPU), lab_tensor_to(b, PT_GPU)};
    for (int i = 0; i < 3; i++) {
        lab_tensor_set_requires_grad(ci[i], 1);
        lab_tensor_set_requires_grad(gi[i], 1);
    }
    lab_tensor *yc = bn_fn(ci, &a);
    a.rm = rmg;
    a.rv = rvg;
    lab_tensor *yg = bn_fn(gi, &a);
    pt_assert_match(name, yg, yc, NORM.atol, NORM.rtol);
    pt_assert_match("running mean", rmg, rmc, 1e-6, 1e-5);
    pt_assert_match("running var", rvg, rvc, 1e-6, 1e-5);
    lab_tensor *r = lt_randn(45, ndim, shape), *rg = lab_tensor_to(r, PT_GPU);
    cr_assert_eq(lab_backward(lab_sum_all(lab_mul(yc, r))), 0, "%s", lab_error());
    cr_assert_eq(lab_backward(lab_sum_all(lab_mul(yg, rg))), 0, "%s", lab_error());
    const char *names[3] = {"batchnorm dx", "batchnorm dgamma", "batchnorm dbeta"};
    for (int i = 0; i < 3; i++) pt_assert_match(names[i], gi[i]->grad, ci[i]->grad, 1e-4, 1e-4);
    (void)in;
    lab_scope_end();
}

Test(parity_norm, batchnorm_train_and_eval)
{
    PT_REQUIRE_GPU();
    /* S = 1 ([N, C]) and S > 1 ([N, C, H, W]); a channel count below and
     * above the SM-filling split. */
    check_bn("batchnorm1d train", 2, (int64_t[]){256, 48}, 1);
    check_bn("batchnorm1d eval", 2, (int64_t[]){256, 48}, 0);
    check_bn("batchnorm2d train", 4, (int64_t[]){32, 16, 14, 14}, 1);
    check_bn("batchnorm2d eval", 4, (int64_t[]){32, 16, 14, 14}, 0);
    check_bn("batchnorm2d few channels", 4, (int64_t[]){64, 3, 32, 32}, 1);
}
