/* CPU vs CUDA: convolution (im2col/col2im + gemm) and pooling
 * (kernels/cuda/cuda_conv.cu). Skipped without a usable cuda:0. */
#include <math.h>
#include <stdlib.h>

#include "parity.h"

typedef struct {
    int stride, pad, k;
} cv_arg;

static lab_tensor *conv_fn(lab_tensor *const *in, void *u)
{
    const cv_arg *a = u;
    return lab_conv2d(in[0], in[1], in[2], a->stride, a->pad);
}

static lab_tensor *maxpool_fn(lab_tensor *const *in, void *u)
{
    const cv_arg *a = u;
    return lab_max_pool2d(in[0], a->k, a->stride, a->pad);
}

static lab_tensor *avgpool_fn(lab_tensor *const *in, void *u)
{
    const cv_arg *a = u;
    return lab_avg_pool2d(in[0], a->k, a->stride, a->pad);
}

static lab_tensor *gap_fn(lab_tensor *const *in, void *u)
{
    (void)u;
    return lab_global_avg_pool2d(in[0]);
}

/* A conv output is a C*kh*kw-term dot product (gemm over im2col columns):
 * 2e-6 per term absolute plus 1e-5 relative, as for matmul. The weight
 * gradient sums over N*OH*OW positions, hence its larger term count. */
static void check_conv(const char *name, int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int k, int stride,
                       int pad)
{
    lab_scope_begin();
    lab_tensor *x = lt_randn(1, 4, (int64_t[]){N, C, H, W});
    lab_tensor *w = lt_randn(2, 4, (int64_t[]){O, C, k, k});
    lab_tensor *b = lt_randn(3, 1, &O);
    lab_tensor *in[3] = {x, w, b};
    cv_arg a = {stride, pad, k};
    double terms = (double)(N * H * W > C * k * k ? N * H * W : C * k * k);
    pt_check(name, conv_fn, 3, in, 7u, &a, (pt_tol){2e-6 * (double)(C * k * k), 1e-5, 2e-6 * terms, 1e-5});
    lab_scope_end();
}

Test(parity_conv, conv2d_forward_and_backward)
{
    PT_REQUIRE_GPU();
    check_conv("conv 3x3 pad 1 (MNIST-like)", 4, 1, 28, 28, 8, 3, 1, 1);
    check_conv("conv 3x3 stride 2 pad 1", 3, 5, 17, 13, 6, 3, 2, 1);
    check_conv("conv 5x5 no pad", 2, 3, 12, 16, 4, 5, 1, 0);
    check_conv("conv 1x1 on a 1x1 image", 5, 7, 1, 1, 3, 1, 1, 0);
    check_conv("conv 3x3 stride 3 pad 2", 2, 2, 10, 11, 3, 3, 3, 2);
}

/* Off the cpu conv2d runs the batch in chunks of at most
 * LAB_CONV_BATCH_FLOATS floats per buffer (op_conv.c: images per chunk =
 * cap / max(C*k*k*OH*OW, O*OH*OW)). With a cap of 5000: 27*81 = 2187 per
 * image gives chunks of 2, 2, 2, 1 for N = 7; 54*36 = 1944 gives 2, 2, 1
 * for N = 5; 72*144 = 10368 exceeds the cap, so one image per chunk.
 * (Criterion runs each test in its own process, so the setting stays
 * here; the cap is read at the first conv.) */
Test(parity_conv, conv2d_in_small_chunks)
{
    PT_REQUIRE_GPU();
    setenv("LAB_CONV_BATCH_FLOATS", "5000", 1);
    check_conv("conv 3x3 pad 1, chunks 2, 2, 2, 1", 7, 3, 9, 9, 4, 3, 1, 1);
    check_conv("conv 3x3 stride 2, chunks 2, 2, 1", 5, 6, 11, 11, 5, 3, 2, 1);
    check_conv("conv 3x3, one image per chunk", 3, 8, 12, 12, 4, 3, 1, 1);
}

Test(parity_conv, pooling_forward_and_backward)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    lab_tensor *x = lt_randn(10, 4, (int64_t[]){3, 4, 15, 17});
    lab_tensor *tied = lab_tensor_cast(lt_randint(11, 4, (int64_t[]){3, 4, 15, 17}, 3), LAB_F32);
    cv_arg k2 = {2, 0, 2}, k3s2p1 = {2, 1, 3}, k3s1 = {1, 1, 3};
    /* max picks an element with the CPU's scan order: exact. Its backward
     * adds into gx; with stride == k windows do not overlap, each input
     * receives at most one value: exact. Overlapping windows add with
     * atomics in any order: 1e-6. */
    pt_check("maxpool 2/2", maxpool_fn, 1, &x, 1u, &k2, (pt_tol){0, 0, 0, 0});
    pt_check("maxpool 2/2 with ties", maxpool_fn, 1, &tied, 1u, &k2, (pt_tol){0, 0, 0, 0});
    pt_check("maxpool 3/2 pad 1", maxpool_fn, 1, &x, 1u, &k3s2p1, (pt_tol){0, 0, 1e-6, 1e-6});
    pt_check("maxpool 3/1 pad 1 with ties", maxpool_fn, 1, &tied, 1u, &k3s1, (pt_tol){0, 0, 1e-6, 1e-6});
    /* avg: the CUDA kernels sum in the CPU's order and multiply by the
     * same 1/(k*k), forward and backward: exact. */
    pt_check("avgpool 2/2", avgpool_fn, 1, &x, 1u, &k2, (pt_tol){0, 0, 0, 0});
    pt_check("avgpool 3/2 pad 1", avgpool_fn, 1, &x, 1u, &k3s2p1, (pt_tol){0, 0, 0, 0});
    pt_check("avgpool 3/1 pad 1", avgpool_fn, 1, &x, 1u, &k3s1, (pt_tol){0, 0, 0, 0});
    /* global average pooling is a reduction: sum-order tolerance. */
    pt_check("global avgpool", gap_fn, 1, &x, 1u, NULL, (pt_tol){1e-6, 1e-5, 1e-7, 1e-6});
    lab_scope_end();
}

/* NaN in a window: the value is NaN and, as on the CPU (cpu_conv.c's
 * MAX_STEP), the saved index is the last NaN scanned, so the gradient lands
 * on the same element. Windows holding two NaNs, and a NaN followed by a
 * larger value; 2x2/2 is the CPU's vectorised path, 3/2 pad 1 its general
 * one (overlapping windows: atomics, 1e-6 on the gradient). */
Test(parity_conv, maxpool_nan_routes_the_gradient_like_the_cpu)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    int64_t sh[4] = {2, 3, 9, 10};
    float *v = pt_host(lt_randn(12, 4, sh));
    for (int64_t p = 0; p < sh[0] * sh[1]; p++) {
        float *img = v + p * sh[2] * sh[3];
        img[0 * 10 + 0] = NAN, img[1 * 10 + 1] = NAN; /* 2x2 window (0, 0) */
        img[2 * 10 + 5] = NAN, img[3 * 10 + 4] = NAN; /* 2x2 window (1, 2) */
        img[4 * 10 + 6] = NAN, img[5 * 10 + 7] = 100.0f; /* 2x2 window (2, 3) */
    }
    lab_tensor *x = lab_tensor_from_f32(v, 4, sh);
    free(v);
    cv_arg k2 = {2, 0, 2}, k3s2p1 = {2, 1, 3};
    pt_check("maxpool 2/2 with NaN", maxpool_fn, 1, &x, 1u, &k2, (pt_tol){0, 0, 0, 0});
    pt_check("maxpool 3/2 pad 1 with NaN", maxpool_fn, 1, &x, 1u, &k3s2p1, (pt_tol){0, 0, 1e-6, 1e-6});
    lab_scope_end();
}
