/* layernorm/batchnorm primitives against ref_norm.c; lab_layernorm,
 * lab_rmsnorm and lab_batchnorm against references, PyTorch's running-stat
 * numbers, gradchecks; bad input. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "labtest.h"
#include "ref_nn.h"

static void setup(void) { lab_scope_begin(); }
static void teardown(void) { lab_scope_end(); }
TestSuite(norm, .init = setup, .fini = teardown);

static float *hrandn(uint64_t seed, int64_t n, float shift)
{
    lab_tensor *t = lt_randn(seed, 1, &n);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    for (int64_t i = 0; i < n; i++) v[i] = lab_tensor_f32(t)[i] + shift;
    return v;
}

Test(norm, layernorm_primitive_matches_reference)
{
    const lab_backend *be = lab_backend_cpu();
    /* rows x cols: single row, single column, and big enough for threads. */
    int64_t cases[][2] = {{1, 1}, {1, 17}, {9, 1}, {7, 33}, {300, 256}};
    for (int ci = 0; ci < 5; ci++)
        for (int aff = 0; aff < 4; aff++) {
            int64_t R = cases[ci][0], D = cases[ci][1], n = R * D;
            float *x = hrandn(10 * ci + aff, n, 3.0f), *gy = hrandn(500 + ci, n, 0.0f);
            float *g = (aff & 1) ? hrandn(900 + ci, D, 1.0f) : NULL, *b = (aff & 2) ? hrandn(950 + ci, D, 0.0f) : NULL;
            float *y = malloc((size_t)n * 4), *ry = malloc((size_t)n * 4);
            float *mu = malloc((size_t)R * 4), *rs = malloc((size_t)R * 4), *rmu = malloc((size_t)R * 4),
                  *rrs = malloc((size_t)R * 4);
            be->layernorm(R, D, y, mu, rs, x, g, b, 1e-5f);
            lab_ref_layernorm(R, D, ry, rmu, rrs, x, g, b, 1e-5f);
            lt_assert_close(y, ry, n, 1e-4, 1e-4);
            lt_assert_close(mu, rmu, R, 1e-5, 1e-5);
            lt_assert_close(rs, rrs, R, 1e-4, 1e-4);
            float *gx = malloc((size_t)n * 4), *rgx = malloc((size_t)n * 4);
            float *gg = malloc((size_t)D * 4), *gb = malloc((size_t)D * 4), *rgg = malloc((size_t)D * 4),
                  *rgb = malloc((size_t)D * 4);
            be->layernorm_backward(R, D, gx, gg, gb, gy, x, rmu, rrs, g);
            lab_ref_layernorm_backward(R, D, rgx, rgg, rgb, gy, x, rmu, rrs, g);
            lt_assert_close(gx, rgx, n, 1e-4, 1e-3);
            lt_assert_close(gg, rgg, D, 1e-3, 1e-4);
            lt_assert_close(gb, rgb, D, 1e-3, 1e-4);
            /* Gradients that are not wanted are NULL and not touched. */
            be->layernorm_backward(R, D, NULL, NULL, gb, gy, x, rmu, rrs, g);
            lt_assert_close(gb, rgb, D, 1e-3, 1e-4);
            free(x), free(gy), free(g), free(b), free(y), free(ry), free(mu), free(rs), free(rmu), free(rrs);
            free(gx), free(rgx), free(gg), free(gb), free(rgg), free(rgb);
        }
}

Test(norm, batchnorm_primitives_match_reference)
{
    const lab_backend *be = lab_backend_cpu();
    /* N, C, S: [N, C] inputs (S = 1, several column blocks), images, and a
     * size big enough to thread. */
    int64_t cases[][3] = {{2, 1, 1}, {5, 3, 1}, {64, 200, 1}, {3, 4, 7}, {16, 32, 196}, {1, 2, 9}};
    for (int ci = 0; ci < 6; ci++)
        for (int aff = 0; aff < 2; aff++) {
            int64_t N = cases[ci][0], C = cases[ci][1], S = cases[ci][2], n = N * C * S;
            float *x = hrandn(ci * 7 + aff, n, 2.0f), *gy = hrandn(300 + ci, n, 0.5f);
            float *g = aff ? hrandn(600 + ci, C, 1.0f) : NULL, *b = aff ? hrandn(650 + ci, C, 0.0f) : NULL;
            float *m = malloc((size_t)C * 4), *v = malloc((size_t)C * 4), *rm = malloc((size_t)C * 4),
                  *rv = malloc((size_t)C * 4);
            float *run_m = hrandn(700 + ci, C, 0.0f), *run_v = hrandn(750 + ci, C, 2.0f);
            float *rrun_m = malloc((size_t)C * 4), *rrun_v = malloc((size_t)C * 4);
            memcpy(rrun_m, run_m, (size_t)C * 4);
            memcpy(rrun_v, run_v, (size_t)C * 4);
            be->batchnorm_stats(N, C, S, m, v, run_m, run_v, 0.1f, x);
            lab_ref_batchnorm_stats(N, C, S, rm, rv, rrun_m, rrun_v, 0.1f, x);
            lt_assert_close(m, rm, C, 1e-5, 1e-5);
            lt_assert_close(v, rv, C, 1e-5, 1e-4);
            lt_assert_close(run_m, rrun_m, C, 1e-5, 1e-5);
            lt_assert_close(run_v, rrun_v, C, 1e-5, 1e-4);
            float *y = malloc((size_t)n * 4), *ry = malloc((size_t)n * 4);
            be->batchnorm(N, C, S, y, x, rm, rv, g, b, 1e-5f);
            lab_ref_batchnorm(N, C, S, ry, x, rm, rv, g, b, 1e-5f);
            lt_assert_close(y, ry, n, 1e-4, 1e-4);
            for (int train = 0; train < 2; train++) {
                if (train && N * S == 1) continue;
                float *gx = malloc((size_t)n * 4), *rgx = malloc((size_t)n * 4);
                float *gg = malloc((size_t)C * 4), *gb = malloc((size_t)C * 4), *rgg = malloc((size_t)C * 4),
                      *rgb = malloc((size_t)C * 4);
                be->batchnorm_backward(N, C, S, train, gx, gg, gb, gy, x, rm, rv, g, 1e-5f);
                lab_ref_batchnorm_backward(N, C, S, train, rgx, rgg, rgb, gy, x, rm, rv, g, 1e-5f);
                lt_assert_close(gx, rgx, n, 1e-4, 1e-3);
                lt_assert_close(gg, rgg, C, 1e-3, 1e-4);
                lt_assert_close(gb, rgb, C, 1e-3, 1e-4);
                be->batchnorm_backward(N, C, S, train, gx, NULL, NULL, gy, x, rm, rv, g, 1e-5f);
                lt_assert_close(gx, rgx, n, 1e-4, 1e-3);
                free(gx), free(rgx), free(gg), free(gb), free(rgg), free(rgb);
            }
            free(x), free(gy), free(g), free(b), free(m), free(v), free(rm), free(rv), free(run_m), free(run_v);
            free(rrun_m), free(rrun_v), free(y), free(ry);
        }
}

/* The same data as the PyTorch script that produced the constants below:
 * x[i] = sin(0.7 i) (1 + 0.5 (i % 3)) + 0.25 (i % 5), i < 48, as [4, 3, 2, 2]. */
static lab_tensor *torch_x(void)
{
    float v[48];
    for (int i = 0; i < 48; i++) v[i] = (float)(sin(0.7 * i) * (1 + 0.5 * (i % 3)) + 0.25 * (i % 5));
    return lab_tensor_from_data(LAB_F32, 4, (int64_t[]){4, 3, 2, 2}, v, LAB_CPU);
}

Test(norm, batchnorm_matches_pytorch)
{
    /* torch.nn.BatchNorm2d(3, momentum=0.1, eps=1e-5), weight [1.5, -0.5, 2],
     * bias [0.1, 0.2, -0.3], train on x, train on 2x, then eval on x
     * (PyTorch 1.13). */
    const float rm1[3] = {0.0745990723f, 0.0315044746f, 0.058644779f};
    const float rv1[3] = {1.04780006f, 1.05683911f, 1.0162226f};
    const float rm2[3] = {0.216337308f, 0.0913629755f, 0.170069858f};
    const float rv2[3] = {1.53422022f, 1.57851171f, 1.37949085f};
    const float y[8] = {-0.85060519f, 0.699342072f, 2.29802608f, 1.2050842f,
                        -0.289628178f, 0.61918962f, 0.586206257f, 0.731392562f};
    const float ye[8] = {-0.161985606f, 1.31099212f, 2.83028626f, 1.7916193f,
                         -0.361575872f, 0.515558064f, 0.483724564f, 0.623849273f};
    lab_tensor *x = torch_x();
    lab_tensor *g = lab_tensor_from_f32((float[]){1.5f, -0.5f, 2.0f}, 1, (int64_t[]){3});
    lab_tensor *b = lab_tensor_from_f32((float[]){0.1f, 0.2f, -0.3f}, 1, (int64_t[]){3});
    lab_tensor *rm = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){3}, LAB_CPU);
    lab_tensor *rv = lab_tensor_full(LAB_F32, 1, (int64_t[]){3}, 1.0, LAB_CPU);
    lab_tensor *out = lab_batchnorm(x, g, b, rm, rv, 1, 0.1f, 1e-5f);
    cr_assert_not_null(out, "%s", lab_error());
    lt_assert_close(lab_tensor_f32(out), y, 8, 1e-5, 1e-5);
    lt_assert_tensor_close(rm, rm1, 1e-6, 1e-6);
    lt_assert_tensor_close(rv, rv1, 1e-6, 1e-6);
    lab_tensor *x2 = lab_mul_scalar(x, 2.0f);
    cr_assert_not_null(lab_batchnorm(x2, g, b, rm, rv, 1, 0.1f, 1e-5f));
    lt_assert_tensor_close(rm, rm2, 1e-6, 1e-6);
    lt_assert_tensor_close(rv, rv2, 1e-6, 1e-6);
    float keep_m[3], keep_v[3];
    memcpy(keep_m, lab_tensor_f32(rm), sizeof keep_m);
    memcpy(keep_v, lab_tensor_f32(rv), sizeof keep_v);
    lab_tensor *oe = lab_batchnorm(x, g, b, rm, rv, 0, 0.1f, 1e-5f);
    cr_assert_not_null(oe, "%s", lab_error());
    lt_assert_close(lab_tensor_f32(oe), ye, 8, 1e-5, 1e-5);
    /* Eval leaves the running stats alone. */
    lt_assert_tensor_close(rm, keep_m, 0, 0);
    lt_assert_tensor_close(rv, keep_v, 0, 0);
}

Test(norm, batchnorm1d_matches_pytorch)
{
    /* torch.nn.BatchNorm1d(4, momentum=0.2, eps=1e-3, affine=False) on
     * x[i] = cos(0.3 i) (i % 4 + 1), [5, 4]. */
    const float rm1[4] = {-0.00737181772f, -0.0180762447f, -0.0296912342f, -0.0394878089f};
    const float rv1[4] = {0.924004614f, 1.27893043f, 1.85472417f, 2.67630649f};
    const float y1[8] = {1.47073197f, 1.44537103f, 1.2775842f, 0.979607522f,
                         0.566268861f, 0.16747041f, -0.259536594f, -0.665004432f};
    float v[20];
    for (int i = 0; i < 20; i++) v[i] = (float)(cos(0.3 * i) * (i % 4 + 1));
    lab_tensor *x = lab_tensor_from_f32(v, 2, (int64_t[]){5, 4});
    lab_tensor *rm = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){4}, LAB_CPU);
    lab_tensor *rv = lab_tensor_full(LAB_F32, 1, (int64_t[]){4}, 1.0, LAB_CPU);
    lab_tensor *out = lab_batchnorm(x, NULL, NULL, rm, rv, 1, 0.2f, 1e-3f);
    cr_assert_not_null(out, "%s", lab_error());
    lt_assert_close(lab_tensor_f32(out), y1, 8, 1e-5, 1e-5);
    lt_assert_tensor_close(rm, rm1, 1e-6, 1e-6);
    lt_assert_tensor_close(rv, rv1, 1e-6, 1e-6);
    /* Running stats are optional in training. */
    cr_assert_not_null(lab_batchnorm(x, NULL, NULL, NULL, NULL, 1, 0.2f, 1e-3f), "%s", lab_error());
}

typedef struct {
    int kind; /* 0 layernorm, 1 rmsnorm, 2 bn train, 3 bn eval */
    int affine;
    lab_tensor *rm, *rv;
} norm_args;

static lab_tensor *f_norm(lab_tensor *const *in, void *user)
{
    norm_args *a = user;
    lab_tensor *g = a->affine ? in[1] : NULL, *b = a->affine ? in[2] : NULL;
    switch (a->kind) {
    case 0: return lab_layernorm(in[0], g, b, 1e-5f);
    case 1: return lab_rmsnorm(in[0], g, 1e-5f);
    case 2: return lab_batchnorm(in[0], g, b, NULL, NULL, 1, 0.1f, 1e-5f);
    default: return lab_batchnorm(in[0], g, b, a->rm, a->rv, 0, 0.1f, 1e-5f);
    }
}

static void grad_norm(int kind, int affine, int nd, const int64_t *shape, uint64_t seed)
{
    lab_tensor *x = lt_randn(seed, nd, shape);
    int64_t D = kind < 2 ? shape[nd - 1] : shape[1];
    lab_tensor *g = lt_rand(seed + 1, 1, &D, 0.5f, 1.5f), *b = lt_randn(seed + 2, 1, &D);
    norm_args a = {kind, affine, lt_randn(seed + 3, 1, &D), lt_rand(seed + 4, 1, &D, 0.5f, 2.0f)};
    lab_tensor *in[3] = {x, g, b};
    int n = affine ? (kind == 1 ? 2 : 3) : 1;
    for (int i = 0; i < n; i++) lab_tensor_set_requires_grad(in[i], 1);
    cr_assert_eq(lab_gradcheck(f_norm, n, in, &a, 1e-2, 5e-3, 5e-3), 0, "kind %d affine %d: %s", kind, affine,
                 lab_error());
}

Test(norm, gradcheck)
{
    for (int affine = 0; affine < 2; affine++) {
        grad_norm(0, affine, 2, (int64_t[]){3, 5}, 1);
        grad_norm(0, affine, 3, (int64_t[]){2, 2, 4}, 2);
        grad_norm(1, affine, 2, (int64_t[]){3, 6}, 3);
        grad_norm(2, affine, 2, (int64_t[]){6, 3}, 4);
        grad_norm(2, affine, 4, (int64_t[]){3, 2, 2, 3}, 5);
        grad_norm(3, affine, 2, (int64_t[]){4, 3}, 6);
        grad_norm(3, affine, 4, (int64_t[]){2, 3, 2, 2}, 7);
    }
    /* A row of one element: layernorm's output is beta, its gradient 0. */
    grad_norm(0, 1, 2, (int64_t[]){4, 1}, 8);
}

Test(norm, layernorm_and_rmsnorm_values)
{
    lab_tensor *x = lt_randn(40, 3, (int64_t[]){2, 3, 8});
    lab_tensor *g = lt_randn(41, 1, (int64_t[]){8}), *b = lt_randn(42, 1, (int64_t[]){8});
    lab_tensor *y = lab_layernorm(x, g, b, 1e-5f);
    cr_assert_not_null(y, "%s", lab_error());
    float ref[48];
    lab_ref_layernorm(6, 8, ref, NULL, NULL, lab_tensor_f32(x), lab_tensor_f32(g), lab_tensor_f32(b), 1e-5f);
    lt_assert_tensor_close(y, ref, 1e-5, 1e-5);
    lab_tensor *r = lab_rmsnorm(x, g, 1e-6f);
    cr_assert_not_null(r, "%s", lab_error());
    const float *xv = lab_tensor_f32(x), *gv = lab_tensor_f32(g);
    for (int row = 0; row < 6; row++) {
        double ms = 0;
        for (int j = 0; j < 8; j++) ms += (double)xv[row * 8 + j] * xv[row * 8 + j];
        double s = 1.0 / sqrt(ms / 8 + 1e-6);
        for (int j = 0; j < 8; j++) ref[row * 8 + j] = (float)(xv[row * 8 + j] * s * gv[j]);
    }
    lt_assert_tensor_close(r, ref, 1e-5, 1e-5);
    cr_assert_eq(r->ndim, 3);
}

Test(norm, bad_input)
{
    lab_tensor *x = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){4, 8}, LAB_CPU);
    lab_tensor *g7 = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){7}, LAB_CPU);
    cr_assert_null(lab_layernorm(x, g7, NULL, 1e-5f));
    cr_assert_str_eq(lab_error(), "layernorm: gamma [7] does not match x [4, 8] (expected [8])");
    cr_assert_null(lab_rmsnorm(x, g7, 1e-5f));
    cr_assert_str_eq(lab_error(), "rmsnorm: gamma [7] does not match x [4, 8] (expected [8])");
    cr_assert_null(lab_batchnorm(x, NULL, g7, NULL, NULL, 1, 0.1f, 1e-5f));
    cr_assert_str_eq(lab_error(), "batchnorm: beta [7] does not match x [4, 8] (expected [8])");
    cr_assert_null(lab_batchnorm(x, NULL, NULL, NULL, NULL, 0, 0.1f, 1e-5f));
    cr_assert_str_eq(lab_error(), "batchnorm: eval mode needs running_mean and running_var (x [4, 8])");
    lab_tensor *one = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){1, 8}, LAB_CPU);
    cr_assert_null(lab_batchnorm(one, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f));
    cr_assert_str_eq(lab_error(), "batchnorm: training needs more than one value per channel, got x [1, 8]");
    lab_tensor *x3 = lab_tensor_zeros(LAB_F32, 3, (int64_t[]){2, 3, 4}, LAB_CPU);
    cr_assert_null(lab_batchnorm(x3, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f));
    cr_assert_str_eq(lab_error(), "batchnorm: x must be [N, C] or [N, C, H, W], got [2, 3, 4]");
    lab_tensor *xi = lab_tensor_zeros(LAB_I64, 2, (int64_t[]){4, 8}, LAB_CPU);
    cr_assert_null(lab_layernorm(xi, NULL, NULL, 1e-5f));
    cr_assert_str_eq(lab_error(), "layernorm: x must be f32, got i64[4, 8]");
    lab_tensor *gi = lab_tensor_zeros(LAB_I64, 1, (int64_t[]){8}, LAB_CPU);
    cr_assert_null(lab_batchnorm(x, gi, NULL, NULL, NULL, 1, 0.1f, 1e-5f));
    cr_assert_str_eq(lab_error(), "batchnorm: gamma must be f32, got i64[8]");
    lab_tensor *s = lab_tensor_scalar(1.0f, LAB_CPU);
    cr_assert_null(lab_layernorm(s, NULL, NULL, 1e-5f));
    cr_assert_str_eq(lab_error(), "layernorm: x [] has no last dim to normalise");
    lab_error_clear();
    cr_assert_null(lab_layernorm(NULL, NULL, NULL, 1e-5f));
    cr_assert_null(lab_rmsnorm(NULL, NULL, 1e-5f));
    cr_assert_null(lab_batchnorm(NULL, NULL, NULL, NULL, NULL, 1, 0.1f, 1e-5f));
    cr_assert_str_eq(lab_error(), "");
}
