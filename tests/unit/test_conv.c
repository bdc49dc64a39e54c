/* im2col/col2im and pooling primitives against ref_conv.c; lab_conv2d and
 * the pooling ops against direct references; gradchecks; bad input. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "labtest.h"
#include "ref_nn.h"

static void setup(void) { lab_scope_begin(); }
static void teardown(void) { lab_scope_end(); }
TestSuite(conv, .init = setup, .fini = teardown);

/* C, H, W, kh, kw, stride, pad: stride 1, 2 and 3, padding, non-square
 * kernels, 1x1 images, a kernel wider than the image (pad makes it fit). */
static const int geoms[][7] = {
    {1, 1, 1, 1, 1, 1, 0}, {2, 5, 5, 3, 3, 1, 1}, {3, 7, 6, 3, 2, 2, 1}, {2, 8, 9, 1, 3, 2, 0},
    {4, 4, 4, 5, 5, 1, 2}, {1, 3, 9, 2, 4, 3, 1}, {3, 10, 10, 3, 3, 2, 0}, {64, 14, 14, 3, 3, 1, 1},
    /* stride 1 with output as wide as the input (the block-copy path), also
     * with fewer or more output rows than input rows; and stride 1 without. */
    {2, 5, 6, 3, 1, 1, 0}, {2, 5, 6, 1, 3, 1, 1}, {2, 6, 7, 3, 3, 1, 0}, {1, 4, 5, 2, 2, 1, 1},
};
#define NGEOM (sizeof geoms / sizeof geoms[0])

static int64_t out_size(int64_t n, int k, int s, int p) { return (n + 2 * p - k) / s + 1; }

Test(conv, im2col_col2im_match_reference)
{
    const lab_backend *be = lab_backend_cpu();
    for (size_t gi = 0; gi < NGEOM; gi++) {
        const int *g = geoms[gi];
        int64_t C = g[0], H = g[1], W = g[2];
        int kh = g[3], kw = g[4], s = g[5], p = g[6];
        int64_t OH = out_size(H, kh, s, p), OW = out_size(W, kw, s, p), rows = C * kh * kw;
        lab_tensor *x = lt_randn(gi, 3, (int64_t[]){C, H, W});
        lab_tensor *col = lt_randn(100 + gi, 2, (int64_t[]){rows, OH * OW}); /* garbage to overwrite */
        float *ref = malloc((size_t)(rows * OH * OW) * sizeof *ref);
        be->im2col(lab_tensor_f32(x), C, H, W, kh, kw, s, p, OH, OW, lab_tensor_f32(col));
        lab_ref_im2col(lab_tensor_f32(x), C, H, W, kh, kw, s, p, OH, OW, ref);
        lt_assert_tensor_close(col, ref, 0, 0);
        /* col2im accumulates into what x already holds. */
        lab_tensor *acc = lt_randn(200 + gi, 3, (int64_t[]){C, H, W});
        float *racc = malloc((size_t)(C * H * W) * sizeof *racc);
        memcpy(racc, lab_tensor_f32(acc), (size_t)(C * H * W) * sizeof *racc);
        be->col2im(lab_tensor_f32(col), C, H, W, kh, kw, s, p, OH, OW, lab_tensor_f32(acc));
        lab_ref_col2im(lab_tensor_f32(col), C, H, W, kh, kw, s, p, OH, OW, racc);
        lt_assert_tensor_close(acc, racc, 1e-5, 1e-5);
        free(ref);
        free(racc);
    }
}

Test(conv, pooling_primitives_match_reference)
{
    const lab_backend *be = lab_backend_cpu();
    int cases[][5] = {{1, 1, 1, 1, 0}, {3, 6, 7, 2, 0}, {2, 7, 7, 3, 1}, {5, 9, 8, 3, 2}, {64, 28, 28, 2, 0}};
    int strides[] = {1, 2, 2, 2, 2};
    for (int ci = 0; ci < 5; ci++) {
        int64_t NC = cases[ci][0], H = cases[ci][1], W = cases[ci][2];
        int k = cases[ci][3], pad = cases[ci][4], s = strides[ci];
        if (pad > k / 2) pad = k / 2;
        int64_t OH = out_size(H, k, s, pad), OW = out_size(W, k, s, pad), no = NC * OH * OW;
        lab_tensor *x = lt_randn(ci, 3, (int64_t[]){NC, H, W});
        lab_tensor *gy = lt_randn(50 + ci, 3, (int64_t[]){NC, OH, OW});
        float *y = malloc((size_t)no * sizeof *y), *ry = malloc((size_t)no * sizeof *ry);
        int64_t *idx = malloc((size_t)no * sizeof *idx), *ridx = malloc((size_t)no * sizeof *ridx);
        float *gx = calloc((size_t)(NC * H * W), sizeof *gx), *rgx = calloc((size_t)(NC * H * W), sizeof *rgx);
        be->maxpool2d(NC, H, W, k, s, pad, OH, OW, y, idx, lab_tensor_f32(x));
        lab_ref_maxpool2d(NC, H, W, k, s, pad, OH, OW, ry, ridx, lab_tensor_f32(x));
        lt_assert_close(y, ry, no, 0, 0);
        for (int64_t i = 0; i < no; i++) cr_assert_eq(idx[i], ridx[i], "argmax %lld", (long long)i);
        be->maxpool2d_backward(NC, H, W, OH, OW, gx, lab_tensor_f32(gy), idx);
        lab_ref_maxpool2d_backward(NC, H, W, OH, OW, rgx, lab_tensor_f32(gy), ridx);
        lt_assert_close(gx, rgx, NC * H * W, 0, 0);

        be->avgpool2d(NC, H, W, k, s, pad, OH, OW, y, lab_tensor_f32(x));
        lab_ref_avgpool2d(NC, H, W, k, s, pad, OH, OW, ry, lab_tensor_f32(x));
        lt_assert_close(y, ry, no, 1e-6, 1e-5);
        memset(gx, 0, (size_t)(NC * H * W) * sizeof *gx);
        memset(rgx, 0, (size_t)(NC * H * W) * sizeof *rgx);
        be->avgpool2d_backward(NC, H, W, k, s, pad, OH, OW, gx, lab_tensor_f32(gy));
        lab_ref_avgpool2d_backward(NC, H, W, k, s, pad, OH, OW, rgx, lab_tensor_f32(gy));
        lt_assert_close(gx, rgx, NC * H * W, 1e-6, 1e-5);
        free(y);
        free(ry);
        free(idx);
        free(ridx);
        free(gx);
        free(rgx);
    }
}

Test(conv, maxpool_nan_and_ties)
{
    /* The first maximum of a tie wins; a NaN propagates (as PyTorch). */
    float x[8] = {1, 3, 3, 0, NAN, 2, 5, 5};
    lab_tensor *t = lab_tensor_from_data(LAB_F32, 4, (int64_t[]){1, 2, 2, 2}, x, LAB_CPU);
    lab_tensor *y = lab_max_pool2d(t, 2, 2, 0);
    cr_assert_not_null(y, "%s", lab_error());
    const float *v = lab_tensor_f32(y);
    cr_assert_eq(v[0], 3.0f);
    cr_assert(isnan(v[1]));
    const lab_backend *be = lab_backend_cpu();
    float yy[2];
    int64_t idx[2];
    be->maxpool2d(2, 2, 2, 2, 2, 0, 1, 1, yy, idx, x);
    cr_assert_eq(idx[0], 1);
    cr_assert_eq(idx[1], 0);
    /* The same rules in the vectorised 2x2/2 path: ties, NaNs anywhere in
     * a window (several in one), rows wide enough for whole vectors. */
    int64_t H = 4, W = 22, OH = 2, OW = 11;
    lab_tensor *r = lt_randn(9, 1, (int64_t[]){H * W});
    float *xv = lab_tensor_f32(r);
    for (int i = 0; i < H * W; i += 7) xv[i] = NAN;
    xv[1] = xv[0 + W] = NAN;
    xv[4] = xv[5] = 10.0f;
    float ry[22], yv[22];
    int64_t ridx[22], iv[22];
    be->maxpool2d(1, H, W, 2, 2, 0, OH, OW, yv, iv, xv);
    lab_ref_maxpool2d(1, H, W, 2, 2, 0, OH, OW, ry, ridx, xv);
    for (int i = 0; i < OH * OW; i++) {
        cr_assert(yv[i] == ry[i] || (isnan(yv[i]) && isnan(ry[i])), "y[%d] %g vs %g", i, yv[i], ry[i]);
        cr_assert_eq(iv[i], ridx[i], "idx[%d]", i);
    }
}

static void check_conv(int64_t N, const int *g, int64_t O, int bias, uint64_t seed)
{
    int64_t C = g[0], H = g[1], W = g[2];
    int kh = g[3], kw = g[4], s = g[5], p = g[6];
    lab_tensor *x = lt_randn(seed, 4, (int64_t[]){N, C, H, W});
    lab_tensor *w = lt_randn(seed + 1, 4, (int64_t[]){O, C, kh, kw});
    lab_tensor *b = bias ? lt_randn(seed + 2, 1, &O) : NULL;
    lab_tensor *y = lab_conv2d(x, w, b, s, p);
    cr_assert_not_null(y, "%s", lab_error());
    int64_t OH = out_size(H, kh, s, p), OW = out_size(W, kw, s, p);
    cr_assert_eq(y->shape[0], N);
    cr_assert_eq(y->shape[1], O);
    cr_assert_eq(y->shape[2], OH);
    cr_assert_eq(y->shape[3], OW);
    float *ref = malloc((size_t)(N * O * OH * OW) * sizeof *ref);
    lab_ref_conv2d(N, C, H, W, O, kh, kw, s, p, OH, OW, ref, lab_tensor_f32(x), lab_tensor_f32(w),
                   b ? lab_tensor_f32(b) : NULL);
    lt_assert_tensor_close(y, ref, 1e-4, 1e-4);
    free(ref);
}

Test(conv, conv2d_matches_direct_reference)
{
    for (size_t gi = 0; gi < NGEOM; gi++)
        for (int bias = 0; bias < 2; bias++) {
            check_conv(1, geoms[gi], 3, bias, 10 * gi + bias);     /* batch of 1 */
            check_conv(5, geoms[gi], 4, bias, 10 * gi + bias + 5); /* images over threads */
        }
    int direct[7] = {6, 5, 4, 1, 1, 1, 0}; /* 1x1: no im2col */
    check_conv(3, direct, 7, 1, 99);
}

typedef struct {
    int stride, pad, bias;
} conv_args;

static lab_tensor *f_conv(lab_tensor *const *in, void *user)
{
    const conv_args *a = user;
    return lab_conv2d(in[0], in[1], a->bias ? in[2] : NULL, a->stride, a->pad);
}

static void grad_conv(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int kh, int kw, int s, int p,
                      int bias, uint64_t seed)
{
    lab_tensor *x = lt_randn(seed, 4, (int64_t[]){N, C, H, W});
    lab_tensor *w = lt_randn(seed + 1, 4, (int64_t[]){O, C, kh, kw});
    lab_tensor *b = bias ? lt_randn(seed + 2, 1, &O) : NULL;
    lab_tensor *in[3] = {x, w, b};
    for (int i = 0; i < 3; i++) lab_tensor_set_requires_grad(in[i], 1);
    conv_args a = {s, p, bias};
    int n = bias ? 3 : 2;
    cr_assert_eq(lab_gradcheck(f_conv, n, in, &a, 1e-2, 3e-3, 3e-3), 0, "%s", lab_error());
    /* The first layer: only the parameters need gradients. */
    lab_tensor_set_requires_grad(x, 0);
    cr_assert_eq(lab_gradcheck(f_conv, n, in, &a, 1e-2, 3e-3, 3e-3), 0, "%s", lab_error());
}

Test(conv, conv2d_gradcheck)
{
    grad_conv(2, 2, 5, 4, 3, 3, 2, 2, 1, 1, 1);  /* stride 2, padding, non-square kernel */
    grad_conv(1, 1, 4, 4, 2, 3, 3, 1, 0, 0, 5);  /* batch of 1, no bias */
    grad_conv(3, 3, 3, 2, 2, 1, 1, 1, 0, 1, 9);  /* 1x1 direct path, images over threads */
    grad_conv(4, 2, 3, 3, 2, 2, 2, 1, 1, 1, 13); /* even kernel with padding */
}

typedef struct {
    int k, stride, pad, kind; /* 0 max, 1 avg, 2 global avg */
} pool_args;

static lab_tensor *f_pool(lab_tensor *const *in, void *user)
{
    const pool_args *a = user;
    if (a->kind == 0) return lab_max_pool2d(in[0], a->k, a->stride, a->pad);
    if (a->kind == 1) return lab_avg_pool2d(in[0], a->k, a->stride, a->pad);
    return lab_global_avg_pool2d(in[0]);
}

Test(conv, pool_ops_match_reference_and_gradcheck)
{
    pool_args cases[] = {{2, 2, 0, 0}, {3, 2, 1, 0}, {3, 1, 1, 0}, {2, 2, 0, 1}, {3, 2, 1, 1}, {1, 1, 0, 1}, {0, 0, 0, 2}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pool_args a = cases[i];
        lab_tensor *x = lt_randn(300 + i, 4, (int64_t[]){2, 3, 5, 6});
        lab_tensor *y = f_pool(&x, &a);
        cr_assert_not_null(y, "%s", lab_error());
        if (a.kind < 2) {
            int64_t OH = out_size(5, a.k, a.stride, a.pad), OW = out_size(6, a.k, a.stride, a.pad);
            cr_assert_eq(y->shape[2], OH);
            cr_assert_eq(y->shape[3], OW);
            float *ref = malloc((size_t)(6 * OH * OW) * sizeof *ref);
            if (a.kind == 0) {
                int64_t *idx = malloc((size_t)(6 * OH * OW) * sizeof *idx);
                lab_ref_maxpool2d(6, 5, 6, a.k, a.stride, a.pad, OH, OW, ref, idx, lab_tensor_f32(x));
                free(idx);
            } else {
                lab_ref_avgpool2d(6, 5, 6, a.k, a.stride, a.pad, OH, OW, ref, lab_tensor_f32(x));
            }
            lt_assert_tensor_close(y, ref, 1e-6, 1e-5);
            free(ref);
        } else {
            cr_assert_eq(y->ndim, 2);
            const float *xv = lab_tensor_f32(x);
            float ref[6];
            for (int p = 0; p < 6; p++) {
                double s = 0;
                for (int j = 0; j < 30; j++) s += xv[p * 30 + j];
                ref[p] = (float)(s / 30);
            }
            lt_assert_tensor_close(y, ref, 1e-6, 1e-5);
        }
        lab_tensor_set_requires_grad(x, 1);
        cr_assert_eq(lab_gradcheck(f_pool, 1, &x, &a, 1e-3, 3e-3, 3e-3), 0, "case %zu: %s", i, lab_error());
    }
}

Test(conv, bad_input)
{
    lab_tensor *x = lab_tensor_zeros(LAB_F32, 4, (int64_t[]){8, 3, 32, 32}, LAB_CPU);
    lab_tensor *w = lab_tensor_zeros(LAB_F32, 4, (int64_t[]){16, 4, 3, 3}, LAB_CPU);
    cr_assert_null(lab_conv2d(x, w, NULL, 1, 1));
    cr_assert_str_eq(lab_error(), "conv2d: x [8, 3, 32, 32] has 3 channels but w [16, 4, 3, 3] expects 4");
    lab_tensor *w3 = lab_tensor_zeros(LAB_F32, 4, (int64_t[]){16, 3, 3, 3}, LAB_CPU);
    lab_tensor *b = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){15}, LAB_CPU);
    cr_assert_null(lab_conv2d(x, w3, b, 1, 1));
    cr_assert_str_eq(lab_error(), "conv2d: b [15] does not match w [16, 3, 3, 3] (expected [16])");
    cr_assert_null(lab_conv2d(x, w3, NULL, 0, 1));
    lt_assert_error_contains("conv2d: stride 0");
    lab_tensor *x2 = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){8, 3}, LAB_CPU);
    cr_assert_null(lab_conv2d(x2, w3, NULL, 1, 1));
    cr_assert_str_eq(lab_error(), "conv2d: x must be [N, C, H, W], got [8, 3]");
    lab_tensor *tiny = lab_tensor_zeros(LAB_F32, 4, (int64_t[]){1, 3, 2, 2}, LAB_CPU);
    lab_tensor *w5 = lab_tensor_zeros(LAB_F32, 4, (int64_t[]){1, 3, 5, 5}, LAB_CPU);
    cr_assert_null(lab_conv2d(tiny, w5, NULL, 1, 1));
    cr_assert_str_eq(lab_error(), "conv2d: kernel 5x5 is larger than the padded input [1, 3, 2, 2] (pad 1)");
    lab_tensor *xi = lab_tensor_zeros(LAB_I64, 4, (int64_t[]){1, 3, 4, 4}, LAB_CPU);
    cr_assert_null(lab_conv2d(xi, w3, NULL, 1, 1));
    cr_assert_str_eq(lab_error(), "conv2d: x must be f32, got i64[1, 3, 4, 4]");
    cr_assert_null(lab_max_pool2d(xi, 2, 2, 0));
    cr_assert_str_eq(lab_error(), "max_pool2d: x must be f32, got i64[1, 3, 4, 4]");
    cr_assert_null(lab_max_pool2d(x, 2, 2, 2));
    cr_assert_str_eq(lab_error(), "max_pool2d: pad 2 is more than half the kernel 2");
    cr_assert_null(lab_avg_pool2d(x2, 2, 2, 0));
    cr_assert_str_eq(lab_error(), "avg_pool2d: x must be [N, C, H, W], got [8, 3]");
    cr_assert_null(lab_avg_pool2d(x, 40, 1, 0));
    lt_assert_error_contains("avg_pool2d: kernel 40 is larger than the padded input [8, 3, 32, 32]");
    cr_assert_null(lab_global_avg_pool2d(x2));
    cr_assert_str_eq(lab_error(), "global_avg_pool2d: x must be [N, C, H, W], got [8, 3]");
    lab_error_clear();
    cr_assert_null(lab_conv2d(NULL, w3, NULL, 1, 1));
    cr_assert_null(lab_conv2d(x, NULL, NULL, 1, 1));
    cr_assert_null(lab_max_pool2d(NULL, 2, 2, 0));
    cr_assert_null(lab_avg_pool2d(NULL, 2, 2, 0));
    cr_assert_null(lab_global_avg_pool2d(NULL));
    cr_assert_str_eq(lab_error(), "");
}

Test(conv, conv2d_keeps_no_column_buffer)
{
    /* The graph holds x and w, not a batch-sized im2col matrix: the bytes
     * alive after the forward are the output plus what existed before. */
    lab_tensor *x = lt_randn(1, 4, (int64_t[]){16, 8, 16, 16});
    lab_tensor *w = lt_randn(2, 4, (int64_t[]){16, 8, 3, 3});
    lab_tensor_set_requires_grad(w, 1);
    size_t before, after;
    lab_memory_stats(LAB_CPU, &before, NULL);
    lab_tensor *y = lab_conv2d(x, w, NULL, 1, 1);
    cr_assert_not_null(y);
    lab_memory_stats(LAB_CPU, &after, NULL);
    cr_assert_eq(after - before, (size_t)y->numel * sizeof(float), "%zu bytes kept, output is %zu",
                 after - before, (size_t)y->numel * sizeof(float));
}
