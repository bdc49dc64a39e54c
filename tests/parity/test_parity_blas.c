/* CPU vs CUDA: matrix products through cuBLAS (kernels/cuda/cuda_blas.cu).
 * Skipped without a usable cuda:0. */
#include <math.h>

#include "parity.h"

/* f32 products of N(0,1) entries: each output is a K-term dot product
 * summed in a different order by OpenBLAS and cuBLAS. The error of either
 * is a few ulps of sqrt(K) magnitudes per term; 2e-6*K absolute plus 1e-5
 * relative is ~10x the worst seen for such sums and far below an indexing
 * or transpose mistake (errors of order 1). Gradients are products too. */
static pt_tol gemm_tol(int64_t K)
{
    double a = 2e-6 * (double)K;
    return (pt_tol){a, 1e-5, a, 1e-5};
}

typedef struct {
    int ta, tb;
} tr_arg;

static lab_tensor *matmul_fn(lab_tensor *const *in, void *u)
{
    const tr_arg *t = u;
    return t ? lab_matmul_t(in[0], in[1], t->ta, t->tb) : lab_matmul(in[0], in[1]);
}

static lab_tensor *linear_fn(lab_tensor *const *in, void *u)
{
    (void)u;
    return lab_linear(in[0], in[1], in[2]);
}

Test(parity_blas, matmul_every_transpose)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    const int64_t M = 67, K = 131, N = 45;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            lab_tensor *a = lt_randn(1, 2, ta ? (int64_t[]){K, M} : (int64_t[]){M, K});
            lab_tensor *b = lt_randn(2, 2, tb ? (int64_t[]){N, K} : (int64_t[]){K, N});
            lab_tensor *ab[2] = {a, b};
            tr_arg t = {ta, tb};
            char name[48];
            snprintf(name, sizeof name, "matmul_t ta=%d tb=%d", ta, tb);
            pt_check(name, matmul_fn, 2, ab, 3u, &t, gemm_tol(K > M ? K : M));
        }
    lab_scope_end();
}

Test(parity_blas, batched_and_broadcast_products)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    lab_tensor *a = lt_randn(3, 3, (int64_t[]){6, 17, 33}), *b = lt_randn(4, 3, (int64_t[]){6, 33, 29});
    lab_tensor *w = lt_randn(5, 2, (int64_t[]){33, 29});
    lab_tensor *ab[2] = {a, b}, *aw[2] = {a, w};
    pt_check("batched matmul", matmul_fn, 2, ab, 3u, NULL, gemm_tol(33));
    /* [B,M,K] x [K,N]: the weight is shared (stride 0), its gradient sums
     * over the batch. */
    pt_check("broadcast matmul", matmul_fn, 2, aw, 3u, NULL, gemm_tol(6 * 33));
    tr_arg t = {0, 1};
    lab_tensor *bt = lt_randn(6, 3, (int64_t[]){6, 29, 33});
    lab_tensor *abt[2] = {a, bt};
    pt_check("batched matmul_t", matmul_fn, 2, abt, 3u, &t, gemm_tol(33));
    lab_tensor *x = lt_randn(7, 2, (int64_t[]){128, 784}), *wl = lt_randn(8, 2, (int64_t[]){256, 784});
    lab_tensor *bl = lt_randn(9, 1, (int64_t[]){256});
    lab_tensor *xwb[3] = {x, wl, bl};
    pt_check("linear 784->256", linear_fn, 3, xwb, 7u, NULL, gemm_tol(784));
    lab_scope_end();
}

Test(parity_blas, empty_dims)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    /* K == 0: the product is zeros (C scaled by beta = 0); M or N == 0:
     * nothing to do. */
    lab_tensor *a = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){5, 0}, LAB_CPU);
    lab_tensor *b = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){0, 7}, LAB_CPU);
    lab_tensor *ab[2] = {a, b};
    pt_check("matmul K=0", matmul_fn, 2, ab, 0u, NULL, (pt_tol){0, 0, 0, 0});
    lab_tensor *c = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){0, 4}, LAB_CPU);
    lab_tensor *d = lt_randn(10, 2, (int64_t[]){4, 3});
    lab_tensor *cd[2] = {c, d};
    pt_check("matmul M=0", matmul_fn, 2, cd, 0u, NULL, (pt_tol){0, 0, 0, 0});
    lab_scope_end();
}

Test(parity_blas, tf32_toggle)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    int64_t n = 512;
    lab_tensor *a = lt_randn(11, 2, (int64_t[]){n, n}), *b = lt_randn(12, 2, (int64_t[]){n, n});
    lab_tensor *ab[2] = {a, b};
    cr_assert_eq(lab_cuda_set_tf32(1), 0, "TF32 must be off by default");
    /* TF32 keeps 10 mantissa bits of each factor: relative error ~5e-4 per
     * term, so ~5e-4 * sqrt(K) * |terms| per output. */
    pt_check("matmul with TF32", matmul_fn, 2, ab, 0u, NULL, (pt_tol){5e-4 * sqrt((double)n) * 4, 1e-2, 0, 0});
    cr_assert_eq(lab_cuda_set_tf32(0), 1);
    pt_check("matmul without TF32", matmul_fn, 2, ab, 0u, NULL, gemm_tol(n));
    lab_scope_end();
}
