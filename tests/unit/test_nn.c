/* Parameter lists, initializers and layers.
 *
 * Gains, fans and bounds are PyTorch 1.13's (torch.nn.init.calculate_gain,
 * _calculate_fan_in_and_fan_out, nn.Linear/Conv2d/BatchNorm2d/LayerNorm/
 * Embedding reset_parameters); values come from Philox, so distributions
 * are checked (range, moments) rather than individual numbers. */
#include <stdlib.h>
#include <string.h>

#include "labtest.h"

/* --- parameter lists -------------------------------------------------------- */

Test(nn, params_add_get_count)
{
    lab_params *p = lab_params_new();
    lab_tensor *w = lab_params_add(p, "w", lab_tensor_zeros(LAB_F32, 2, (int64_t[]){3, 4}, LAB_CPU));
    lab_tensor *b = lab_params_add_buffer(p, "stats", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){5}, LAB_CPU));
    cr_assert_not_null(w);
    cr_assert_not_null(b);
    cr_assert(w->requires_grad);
    cr_assert(!b->requires_grad);
    cr_assert_eq(lab_params_get(p, "w"), w);
    cr_assert_eq(lab_params_get(p, "stats"), b);
    cr_assert_null(lab_params_get(p, "nope"));
    cr_assert_eq(lab_params_index(p, "stats"), 1);
    cr_assert_eq(lab_params_index(p, "nope"), -1);
    cr_assert_eq(lab_params_count(p), 12); /* buffers are not counted */
    cr_assert_eq(p->n, 2);
    cr_assert_str_eq(p->names[0], "w");
    cr_assert_eq(p->trainable[1], 0);
    lab_params_free(p);
    lab_params_free(NULL);
}

Test(nn, params_duplicate_and_empty_names_are_errors_without_leaks)
{
    lab_params *p = lab_params_new();
    lab_params_add(p, "w", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){3}, LAB_CPU));
    /* The failing adds drop the reference they were given (ASan checks). */
    cr_assert_null(lab_params_add(p, "w", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){3}, LAB_CPU)));
    lt_assert_error_contains("duplicate name 'w'");
    cr_assert_null(lab_params_add_buffer(p, "", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){3}, LAB_CPU)));
    lt_assert_error_contains("empty name");
    cr_assert_null(lab_params_add(p, "x", NULL));
    cr_assert_eq(p->n, 1);
    lab_params_free(p);
}

/* Parameters created inside a training step's scope outlive it. */
Test(nn, params_survive_the_scope_they_were_made_in)
{
    lab_params *p = lab_params_new();
    lab_scope_begin();
    lab_tensor *w = lab_params_add(p, "w", lab_tensor_full(LAB_F32, 1, (int64_t[]){4}, 2.5, LAB_CPU));
    lab_scope_end();
    cr_assert_eq(w->refcount, 1);
    lt_assert_tensor_close(w, (float[]){2.5f, 2.5f, 2.5f, 2.5f}, 0, 0);
    lab_params_free(p);
}

Test(nn, params_zero_grad)
{
    lab_params *p = lab_params_new();
    lab_tensor *w = lab_params_add(p, "w", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){3}, LAB_CPU));
    w->grad = lab_tensor_own(lab_tensor_zeros(LAB_F32, 1, (int64_t[]){3}, LAB_CPU));
    lab_params_zero_grad(p);
    cr_assert_null(w->grad);
    lab_params_free(p);
}

Test(nn, params_load_copies_and_checks)
{
    lab_params *dst = lab_params_new(), *src = lab_params_new();
    lab_tensor *a = lab_params_add(dst, "a", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){2}, LAB_CPU));
    lab_tensor *b = lab_params_add(dst, "b", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){3}, LAB_CPU));
    lab_params_add(src, "a", lab_tensor_from_f32((float[]){1, 2}, 1, (int64_t[]){2}));
    cr_assert_eq(lab_params_load(dst, src, 0), -1);
    lt_assert_error_contains("'b' is missing from the source");
    lt_assert_tensor_close(a, (float[]){0, 0}, 0, 0); /* untouched on failure */
    cr_assert_eq(lab_params_load(dst, src, 1), 0, "%s", lab_error());
    lt_assert_tensor_close(a, (float[]){1, 2}, 0, 0);
    lab_params_add(src, "b", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){4}, LAB_CPU));
    cr_assert_eq(lab_params_load(dst, src, 0), -1);
    lt_assert_error_contains("'b' is f32[4] in the source but f32[3] in the model");
    (void)b;
    lab_params_free(dst);
    lab_params_free(src);
}

Test(nn, params_extend_shares_and_load_prefix_reads_back)
{
    lab_params *model = lab_params_new(), *ck = lab_params_new();
    lab_tensor *w = lab_params_add(model, "w", lab_tensor_from_f32((float[]){1, 2}, 1, (int64_t[]){2}));
    lab_params_add_buffer(model, "rm", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){2}, LAB_CPU));
    cr_assert_eq(lab_params_extend(ck, model, "model."), 0, "%s", lab_error());
    cr_assert_eq(ck->n, 2);
    cr_assert_eq(lab_params_get(ck, "model.w"), w); /* shared, not copied */
    cr_assert_eq(ck->trainable[0], 1);
    cr_assert_eq(ck->trainable[1], 0);
    cr_assert(w->requires_grad);
    cr_assert_eq(lab_params_extend(ck, model, "model."), -1);
    lt_assert_error_contains("duplicate name 'model.w'");
    cr_assert_eq(ck->n, 2);

    lab_params *other = lab_params_new();
    lab_tensor *w2 = lab_params_add(other, "w", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){2}, LAB_CPU));
    lab_params_add_buffer(other, "rm", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){2}, LAB_CPU));
    cr_assert_eq(lab_params_load_prefix(other, ck, "model.", 0), 0, "%s", lab_error());
    lt_assert_tensor_close(w2, (float[]){1, 2}, 0, 0);
    cr_assert_eq(lab_params_load_prefix(other, ck, "optim.", 0), -1);
    lt_assert_error_contains("'optim.w' is missing from the source");
    lab_params_free(other);
    lab_params_free(ck);
    cr_assert_eq(w->refcount, 1);
    lab_params_free(model);
}

Test(nn, params_to_same_device_keeps_tensors)
{
    lab_params *p = lab_params_new();
    lab_tensor *w = lab_params_add(p, "w", lab_tensor_from_f32((float[]){1, 2, 3}, 1, (int64_t[]){3}));
    cr_assert_eq(lab_params_to(p, LAB_CPU), 0);
    cr_assert_eq(lab_params_get(p, "w"), w);
    lt_assert_tensor_close(w, (float[]){1, 2, 3}, 0, 0);
    if (lab_cuda_device_count() == 0) {
        lab_device cuda = {LAB_DEV_CUDA, 0};
        cr_assert_eq(lab_params_to(p, cuda), -1);
        cr_assert(strlen(lab_error()) > 0);
        lt_assert_tensor_close(w, (float[]){1, 2, 3}, 0, 0); /* still usable on the cpu */
    }
    lab_params_free(p);
}

/* --- initializers ---------------------------------------------------------------- */

Test(nn, gains_match_torch_calculate_gain)
{
    cr_assert_float_eq(lab_init_gain(LAB_NONLIN_LINEAR, 0), 1.0, 1e-15);
    cr_assert_float_eq(lab_init_gain(LAB_NONLIN_SIGMOID, 0), 1.0, 1e-15);
    cr_assert_float_eq(lab_init_gain(LAB_NONLIN_TANH, 0), 1.6666666666666667, 1e-15);
    cr_assert_float_eq(lab_init_gain(LAB_NONLIN_RELU, 0), 1.4142135623730951, 1e-15);
    cr_assert_float_eq(lab_init_gain(LAB_NONLIN_LEAKY_RELU, 0.2), 1.3867504905630728, 1e-15);
    cr_assert_float_eq(lab_init_gain(LAB_NONLIN_LEAKY_RELU, 0.01), 1.4141428569978354, 1e-15);
    cr_assert_float_eq(lab_init_gain(LAB_NONLIN_SELU, 0), 0.75, 1e-15);
}

Test(nn, fans_follow_torch)
{
    int64_t in, out;
    lab_tensor *c = lab_tensor_empty(LAB_F32, 4, (int64_t[]){16, 3, 5, 5}, LAB_CPU);
    cr_assert_eq(lab_init_fans(c, &in, &out), 0);
    cr_assert_eq(in, 75);
    cr_assert_eq(out, 400);
    lab_tensor *l = lab_tensor_empty(LAB_F32, 2, (int64_t[]){10, 784}, LAB_CPU);
    lab_init_fans(l, &in, &out);
    cr_assert_eq(in, 784);
    cr_assert_eq(out, 10);
    lab_tensor *v = lab_tensor_empty(LAB_F32, 1, (int64_t[]){7}, LAB_CPU);
    lab_init_fans(v, &in, &out);
    cr_assert(in == 7 && out == 7);
    lab_tensor *s = lab_tensor_scalar(1.0f, LAB_CPU);
    cr_assert_eq(lab_init_fans(s, &in, &out), -1);
    lab_tensor_release(c);
    lab_tensor_release(l);
    lab_tensor_release(v);
    lab_tensor_release(s);
}

typedef struct {
    double mean, std, absmax;
} stats;

static stats stats_of(const lab_tensor *t)
{
    const float *v = lab_tensor_f32(t);
    double s = 0, s2 = 0, m = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        s += v[i];
        s2 += (double)v[i] * v[i];
        if (fabs(v[i]) > m) m = fabs(v[i]);
    }
    double mean = s / t->numel;
    return (stats){mean, sqrt(s2 / t->numel - mean * mean), m};
}

/* U(-a, a): every value inside, the extremes nearly reached, std a/sqrt(3). */
static void assert_uniform(const lab_tensor *t, double a)
{
    stats s = stats_of(t);
    cr_assert(s.absmax <= a * (1 + 1e-6), "max %g above bound %g", s.absmax, a);
    cr_assert(s.absmax > 0.99 * a, "max %g far below bound %g", s.absmax, a);
    cr_assert(fabs(s.mean) < 0.02 * a, "mean %g", s.mean);
    cr_assert(fabs(s.std / (a / sqrt(3.0)) - 1) < 0.02, "std %g, want %g", s.std, a / sqrt(3.0));
}

static void assert_normal(const lab_tensor *t, double std)
{
    stats s = stats_of(t);
    cr_assert(fabs(s.mean) < 0.02 * std, "mean %g", s.mean);
    cr_assert(fabs(s.std / std - 1) < 0.02, "std %g, want %g", s.std, std);
}

Test(nn, xavier_and_kaiming_scales)
{
    lab_rng rng = lab_rng_make(11, 0);
    int64_t shape[2] = {200, 300};
    lab_scope_begin();
    lab_tensor *t = lab_tensor_empty(LAB_F32, 2, shape, LAB_CPU);
    cr_assert_eq(lab_init_xavier_uniform_(t, &rng, 2.0), 0);
    assert_uniform(t, 2.0 * sqrt(6.0 / 500.0));
    cr_assert_eq(lab_init_xavier_normal_(t, &rng, 1.0), 0);
    assert_normal(t, sqrt(2.0 / 500.0));
    cr_assert_eq(lab_init_kaiming_uniform_(t, &rng, LAB_FAN_IN, LAB_NONLIN_RELU, 0), 0);
    assert_uniform(t, sqrt(2.0) * sqrt(3.0 / 300.0));
    cr_assert_eq(lab_init_kaiming_uniform_(t, &rng, LAB_FAN_IN, LAB_NONLIN_LEAKY_RELU, sqrt(5.0)), 0);
    assert_uniform(t, 1.0 / sqrt(300.0)); /* nn.Linear's default */
    cr_assert_eq(lab_init_kaiming_normal_(t, &rng, LAB_FAN_OUT, LAB_NONLIN_RELU, 0), 0);
    assert_normal(t, sqrt(2.0) / sqrt(200.0));
    cr_assert_eq(lab_init_uniform_std_(t, &rng, 0.1), 0);
    assert_uniform(t, sqrt(3.0) * 0.1);
    cr_assert_eq(lab_init_normal_(t, &rng, 0.0f, 0.5f), 0);
    assert_normal(t, 0.5);
    cr_assert_eq(lab_init_constant_(t, 0.25f), 0);
    cr_assert_float_eq(stats_of(t).mean, 0.25, 1e-9);

    lab_tensor *v = lab_tensor_empty(LAB_F32, 1, (int64_t[]){10}, LAB_CPU);
    cr_assert_eq(lab_init_xavier_uniform_(v, &rng, 1.0), -1);
    lt_assert_error_contains("2 or more dims");
    lab_tensor *i = lab_tensor_zeros(LAB_I64, 2, shape, LAB_CPU);
    cr_assert_eq(lab_init_kaiming_normal_(i, &rng, LAB_FAN_IN, LAB_NONLIN_RELU, 0), -1);
    lt_assert_error_contains("must be f32");
    cr_assert_eq(lab_init_normal_(t, &rng, 0.0f, -1.0f), -1);
    lab_scope_end();
}

Test(nn, init_is_deterministic_per_seed)
{
    lab_scope_begin();
    lab_tensor *a = lab_tensor_empty(LAB_F32, 2, (int64_t[]){8, 8}, LAB_CPU);
    lab_tensor *b = lab_tensor_empty(LAB_F32, 2, (int64_t[]){8, 8}, LAB_CPU);
    lab_rng r1 = lab_rng_make(5, 1), r2 = lab_rng_make(5, 1), r3 = lab_rng_make(6, 1);
    lab_init_kaiming_uniform_(a, &r1, LAB_FAN_IN, LAB_NONLIN_RELU, 0);
    lab_init_kaiming_uniform_(b, &r2, LAB_FAN_IN, LAB_NONLIN_RELU, 0);
    cr_assert_eq(memcmp(lab_tensor_f32(a), lab_tensor_f32(b), 64 * sizeof(float)), 0);
    lab_init_kaiming_uniform_(b, &r3, LAB_FAN_IN, LAB_NONLIN_RELU, 0);
    cr_assert_neq(memcmp(lab_tensor_f32(a), lab_tensor_f32(b), 64 * sizeof(float)), 0);
    lab_scope_end();
}

/* Checks W Wᵀ = gain² I (wide) or Wᵀ W = gain² I (tall), and PyTorch's sign
 * convention: with A the normal draw (same stream), Qᵀ A is upper triangular
 * with a positive diagonal (q * sign(diag(r)) in torch.nn.init.orthogonal_). */
static void check_orthogonal(int ndim, const int64_t *shape, double gain)
{
    lab_scope_begin();
    lab_rng rng = lab_rng_make(3, 9), copy = rng;
    lab_tensor *t = lab_tensor_empty(LAB_F32, ndim, shape, LAB_CPU);
    cr_assert_eq(lab_init_orthogonal_(t, &rng, gain), 0, "%s", lab_error());
    int64_t rows = shape[0], cols = t->numel / rows;
    const float *w = lab_tensor_f32(t);
    int wide = rows < cols;
    int64_t small = wide ? rows : cols, big = wide ? cols : rows;
    /* Q [big, small] with Q[i][j] = W[j][i] (wide) or W[i][j] (tall). */
#define Q(i, j) ((double)(wide ? w[(j) * cols + (i)] : w[(i) * cols + (j)]) / gain)
    for (int64_t a = 0; a < small; a++)
        for (int64_t b = 0; b < small; b++) {
            double d = 0;
            for (int64_t i = 0; i < big; i++) d += Q(i, a) * Q(i, b);
            cr_assert(fabs(d - (a == b)) < 1e-5, "QtQ[%lld][%lld] = %g", (long long)a, (long long)b, d);
        }
    double *A = malloc((size_t)(big * small) * sizeof *A);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            double v = lab_rng_next_normal(&copy);
            if (wide)
                A[c * small + r] = v;
            else
                A[r * small + c] = v;
        }
    for (int64_t a = 0; a < small; a++)
        for (int64_t b = 0; b <= a; b++) {
            double d = 0;
            for (int64_t i = 0; i < big; i++) d += Q(i, a) * A[i * small + b];
            if (a == b)
                cr_assert(d > 0, "R[%lld][%lld] = %g is not positive", (long long)a, (long long)a, d);
            else
                cr_assert(fabs(d) < 1e-4, "R[%lld][%lld] = %g below the diagonal", (long long)a, (long long)b, d);
        }
#undef Q
    free(A);
    lab_scope_end();
}

Test(nn, orthogonal_tall_wide_and_conv)
{
    check_orthogonal(2, (int64_t[]){12, 5}, 1.0);
    check_orthogonal(2, (int64_t[]){4, 10}, 1.5);
    check_orthogonal(2, (int64_t[]){6, 6}, 1.0);
    check_orthogonal(4, (int64_t[]){3, 2, 2, 2}, 2.0);
    lab_tensor *v = lab_tensor_empty(LAB_F32, 1, (int64_t[]){5}, LAB_CPU);
    lab_rng rng = lab_rng_make(1, 0);
    cr_assert_eq(lab_init_orthogonal_(v, &rng, 1.0), -1);
    lt_assert_error_contains("2 or more dims");
    lab_tensor_release(v);
}

/* --- layers ------------------------------------------------------------------------ */

Test(nn, linear_layer_init_and_forward)
{
    lab_params *p = lab_params_new();
    lab_rng rng = lab_rng_make(1, 0);
    lab_linear_layer fc;
    cr_assert_eq(lab_linear_layer_init(&fc, p, "fc", 300, 200, 1, &rng), 0, "%s", lab_error());
    cr_assert_eq(lab_params_get(p, "fc.weight"), fc.w);
    cr_assert_eq(lab_params_get(p, "fc.bias"), fc.b);
    cr_assert(fc.w->ndim == 2 && fc.w->shape[0] == 200 && fc.w->shape[1] == 300);
    cr_assert(fc.b->ndim == 1 && fc.b->shape[0] == 200);
    cr_assert_eq(lab_params_count(p), 300 * 200 + 200);
    assert_uniform(fc.w, 1.0 / sqrt(300.0));
    stats sb = stats_of(fc.b);
    cr_assert(sb.absmax <= 1.0 / sqrt(300.0) && sb.absmax > 0.9 / sqrt(300.0), "bias max %g", sb.absmax);

    /* forward = x Wᵀ + b. */
    lab_scope_begin();
    lab_tensor *x = lt_randn(2, 2, (int64_t[]){3, 300});
    lab_tensor *y = lab_linear_layer_forward(&fc, x);
    cr_assert_not_null(y, "%s", lab_error());
    cr_assert(y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 200);
    const float *xv = lab_tensor_f32(x), *wv = lab_tensor_f32(fc.w), *bv = lab_tensor_f32(fc.b);
    float *want = malloc(3 * 200 * sizeof *want);
    for (int i = 0; i < 3; i++)
        for (int o = 0; o < 200; o++) {
            double s = bv[o];
            for (int k = 0; k < 300; k++) s += (double)xv[i * 300 + k] * wv[o * 300 + k];
            want[i * 200 + o] = (float)s;
        }
    lt_assert_tensor_close(y, want, 1e-5, 1e-4);
    free(want);
    lab_scope_end();

    /* Same name again: error, list unchanged. */
    lab_linear_layer fc2;
    cr_assert_eq(lab_linear_layer_init(&fc2, p, "fc", 3, 4, 1, &rng), -1);
    lt_assert_error_contains("duplicate name 'fc.weight'");
    cr_assert_eq(p->n, 2);
    lab_linear_layer nb;
    cr_assert_eq(lab_linear_layer_init(&nb, p, "nb", 3, 4, 0, &rng), 0);
    cr_assert_null(nb.b);
    cr_assert_null(lab_params_get(p, "nb.bias"));
    lab_params_free(p);
}

Test(nn, conv2d_layer_init_and_forward_shape)
{
    lab_params *p = lab_params_new();
    lab_rng rng = lab_rng_make(2, 0);
    lab_conv2d_layer conv;
    cr_assert_eq(lab_conv2d_layer_init(&conv, p, "conv1", 8, 64, 3, 1, 1, 1, &rng), 0, "%s", lab_error());
    cr_assert(conv.w->ndim == 4 && conv.w->shape[0] == 64 && conv.w->shape[1] == 8 && conv.w->shape[2] == 3);
    assert_uniform(conv.w, 1.0 / sqrt(8.0 * 9.0));
    cr_assert(stats_of(conv.b).absmax <= 1.0 / sqrt(72.0));
    lab_scope_begin();
    lab_tensor *x = lt_randn(3, 4, (int64_t[]){2, 8, 6, 6});
    lab_tensor *y = lab_conv2d_layer_forward(&conv, x);
    cr_assert_not_null(y, "%s", lab_error());
    cr_assert(y->ndim == 4 && y->shape[0] == 2 && y->shape[1] == 64 && y->shape[2] == 6 && y->shape[3] == 6);
    lab_scope_end();
    lab_conv2d_layer bad;
    cr_assert_eq(lab_conv2d_layer_init(&bad, p, "bad", 8, 4, 0, 1, 0, 1, &rng), -1);
    lt_assert_error_contains("bad geometry");
    lab_params_free(p);
}

Test(nn, batchnorm_layer_defaults_and_running_stats)
{
    lab_params *p = lab_params_new();
    lab_batchnorm_layer bn;
    cr_assert_eq(lab_batchnorm_layer_init(&bn, p, "bn", 3), 0, "%s", lab_error());
    lt_assert_tensor_close(bn.gamma, (float[]){1, 1, 1}, 0, 0);
    lt_assert_tensor_close(bn.beta, (float[]){0, 0, 0}, 0, 0);
    lt_assert_tensor_close(bn.running_mean, (float[]){0, 0, 0}, 0, 0);
    lt_assert_tensor_close(bn.running_var, (float[]){1, 1, 1}, 0, 0);
    cr_assert_float_eq(bn.momentum, 0.1f, 1e-9);
    cr_assert_float_eq(bn.eps, 1e-5f, 1e-12);
    cr_assert_eq(lab_params_count(p), 6); /* running stats are buffers */
    cr_assert(!bn.running_mean->requires_grad);
    cr_assert_eq(lab_params_get(p, "bn.running_var"), bn.running_var);

    lab_scope_begin();
    /* x [4, 3]: column c holds c + {0, 1, 2, 3}: mean c + 1.5, unbiased var 5/3. */
    float xv[12];
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++) xv[i * 3 + c] = (float)(c + i);
    lab_tensor *x = lab_tensor_from_f32(xv, 2, (int64_t[]){4, 3});
    lab_tensor *y = lab_batchnorm_layer_forward(&bn, x, 1);
    cr_assert_not_null(y, "%s", lab_error());
    float want_y[12];
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++) want_y[i * 3 + c] = (float)((i - 1.5) / sqrt(1.25 + 1e-5));
    lt_assert_tensor_close(y, want_y, 1e-5, 1e-5);
    lt_assert_tensor_close(bn.running_mean, (float[]){0.15f, 0.25f, 0.35f}, 1e-6, 1e-5);
    float rv = (float)(0.9 + 0.1 * 5.0 / 3.0);
    lt_assert_tensor_close(bn.running_var, (float[]){rv, rv, rv}, 1e-6, 1e-5);
    lab_scope_end();
    lab_params_free(p);
}

Test(nn, layernorm_layer_normalises_rows)
{
    lab_params *p = lab_params_new();
    lab_layernorm_layer ln;
    cr_assert_eq(lab_layernorm_layer_init(&ln, p, "ln", 4), 0, "%s", lab_error());
    lt_assert_tensor_close(ln.gamma, (float[]){1, 1, 1, 1}, 0, 0);
    lt_assert_tensor_close(ln.beta, (float[]){0, 0, 0, 0}, 0, 0);
    lab_scope_begin();
    lab_tensor *x = lab_tensor_from_f32((float[]){1, 2, 3, 4, -2, 0, 2, 4}, 2, (int64_t[]){2, 4});
    lab_tensor *y = lab_layernorm_layer_forward(&ln, x);
    cr_assert_not_null(y, "%s", lab_error());
    double s1 = sqrt(1.25 + 1e-5), s2 = sqrt(5.0 + 1e-5);
    float want[8] = {(float)(-1.5 / s1), (float)(-0.5 / s1), (float)(0.5 / s1), (float)(1.5 / s1),
                     (float)(-3 / s2),   (float)(-1 / s2),   (float)(1 / s2),   (float)(3 / s2)};
    lt_assert_tensor_close(y, want, 1e-5, 1e-5);
    lab_scope_end();
    lab_params_free(p);
}

Test(nn, embedding_layer_init_and_lookup)
{
    lab_params *p = lab_params_new();
    lab_rng rng = lab_rng_make(4, 0);
    lab_embedding_layer emb;
    cr_assert_eq(lab_embedding_layer_init(&emb, p, "emb", 1000, 64, &rng), 0, "%s", lab_error());
    assert_normal(emb.weight, 1.0);
    lab_scope_begin();
    int64_t idx[3] = {7, 0, 999};
    lab_tensor *i = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){3}, idx, LAB_CPU);
    lab_tensor *y = lab_embedding_layer_forward(&emb, i);
    cr_assert_not_null(y, "%s", lab_error());
    cr_assert(y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 64);
    const float *w = lab_tensor_f32(emb.weight);
    float want[3 * 64];
    for (int r = 0; r < 3; r++) memcpy(want + r * 64, w + idx[r] * 64, 64 * sizeof(float));
    lt_assert_tensor_close(y, want, 0, 0);
    lab_scope_end();
    lab_params_free(p);
}

/* Gradients reach layer parameters through the ops, so an optimizer sees them. */
Test(nn, layer_parameters_receive_gradients)
{
    lab_params *p = lab_params_new();
    lab_rng rng = lab_rng_make(8, 0);
    lab_linear_layer fc;
    lab_linear_layer_init(&fc, p, "fc", 5, 2, 1, &rng);
    lab_scope_begin();
    lab_tensor *x = lt_randn(9, 2, (int64_t[]){4, 5});
    lab_tensor *loss = lab_mean_all(lab_linear_layer_forward(&fc, x));
    cr_assert_eq(lab_backward(loss), 0, "%s", lab_error());
    lab_scope_end();
    cr_assert_not_null(fc.w->grad);
    cr_assert_not_null(fc.b->grad);
    /* d mean(xWᵀ+b) / db = 1/2 for each of the 2 outputs. */
    lt_assert_tensor_close(fc.b->grad, (float[]){0.5f, 0.5f}, 1e-6, 1e-6);
    lab_params_free(p);
}
