/* Losses against values computed once with PyTorch 1.13 (float64, printed to
 * 8 significant digits; the inputs are the tensors written below), plus
 * gradchecks and bad input. */
#include <string.h>

#include "labtest.h"

/* Loss value and the gradient of every input that requires grad. */
static void run_loss(lab_tensor *loss, float want, lab_tensor *x, const float *gx, lab_tensor *t,
                     const float *gt)
{
    cr_assert_not_null(loss, "%s", lab_error());
    cr_assert_eq(loss->ndim, 0);
    cr_assert_float_eq(lab_tensor_item(loss), want, 1e-5 * (1 + fabsf(want)), "loss %.8g, want %.8g",
                       lab_tensor_item(loss), want);
    cr_assert_eq(lab_backward(loss), 0, "%s", lab_error());
    lt_assert_tensor_close(x->grad, gx, 1e-6, 1e-4);
    lab_tensor_zero_grad(x);
    if (t) {
        lt_assert_tensor_close(t->grad, gt, 1e-6, 1e-4);
        lab_tensor_zero_grad(t);
    }
}

static lab_tensor *leaf(const float *v, int ndim, const int64_t *shape)
{
    lab_tensor *t = lab_tensor_from_f32(v, ndim, shape);
    lab_tensor_set_requires_grad(t, 1);
    return t;
}

static lab_tensor *labels(int64_t n, const int64_t *v)
{
    return lab_tensor_from_data(LAB_I64, 1, &n, v, LAB_CPU);
}

Test(loss, cross_entropy_matches_pytorch)
{
    lab_scope_begin();
    const float x[20] = {0.5f,  -1.25f, 2.0f, 0.0f,  0.75f, -0.3f, 0.8f,  -2.2f, 1.1f, 0.05f,
                         3.0f,  2.9f,   -0.4f, -1.0f, 0.6f, -1.5f, -0.5f, 0.25f, 4.0f, -3.0f};
    const float gx[20] = {0.033130051f,  0.0057571397f, -0.10152141f,  0.020094392f,  0.042539828f,
                          -0.22403407f,  0.078005955f,  0.0038836878f, 0.10529703f,   0.036847404f,
                          0.12211537f,   -0.13950544f,  0.0040753893f, 0.0022366211f, 0.011078057f,
                          0.00098275096f, 0.0026713941f, 0.0056553413f, -0.0095287678f, 0.00021928138f};
    lab_tensor *logits = leaf(x, 2, (int64_t[]){4, 5});
    run_loss(lab_cross_entropy(logits, labels(4, (int64_t[]){2, 0, 1, 3})), 0.91026275f, logits, gx, NULL, NULL);
    lab_scope_end();
}

Test(loss, cross_entropy_large_logits_are_stable)
{
    lab_scope_begin();
    const float x[6] = {1000.0f, 999.0f, 990.0f, -1000.0f, -1001.0f, -999.5f};
    const float gx[6] = {0.36551716f, -0.36553375f, 1.6594453e-05f, 0.16574948f, 0.060975826f, -0.22672531f};
    lab_tensor *logits = leaf(x, 2, (int64_t[]){2, 3});
    run_loss(lab_cross_entropy(logits, labels(2, (int64_t[]){1, 2})), 0.95871274f, logits, gx, NULL, NULL);
    lab_scope_end();
}

Test(loss, nll_loss_matches_pytorch)
{
    lab_scope_begin();
    const float x[9] = {-0.2f, -1.9f, -3.1f, -2.5f, -0.1f, -4.0f, -1.1f, -1.2f, -1.0f};
    const float third = 0.33333333f;
    const float gx[9] = {-third, 0, 0, 0, 0, -third, 0, -third, 0};
    lab_tensor *logp = leaf(x, 2, (int64_t[]){3, 3});
    run_loss(lab_nll_loss(logp, labels(3, (int64_t[]){0, 2, 1})), 1.8f, logp, gx, NULL, NULL);
    lab_scope_end();
}

Test(loss, mse_loss_matches_pytorch)
{
    lab_scope_begin();
    const float p[6] = {0.5f, -1.0f, 2.0f, 3.0f, 0.25f, -0.75f};
    const float t[6] = {0.0f, -1.5f, 2.5f, 1.0f, 0.25f, 0.5f};
    const float gp[6] = {0.16666667f, 0.16666667f, -0.16666667f, 0.66666667f, 0.0f, -0.41666667f};
    const float gt[6] = {-0.16666667f, -0.16666667f, 0.16666667f, -0.66666667f, 0.0f, 0.41666667f};
    lab_tensor *pred = leaf(p, 2, (int64_t[]){2, 3}), *target = leaf(t, 2, (int64_t[]){2, 3});
    run_loss(lab_mse_loss(pred, target), 1.0520833f, pred, gp, target, gt);
    lab_scope_end();
}

Test(loss, bce_with_logits_matches_pytorch_at_extremes)
{
    lab_scope_begin();
    /* 0, +-100 and 30: the naive form overflows or loses everything here */
    const float x[8] = {0.0f, 1.5f, -2.0f, 100.0f, -100.0f, 30.0f, -0.25f, 5.0f};
    const float y[8] = {1.0f, 0.0f, 0.3f, 0.0f, 1.0f, 1.0f, 0.5f, 1.0f};
    const float gx[8] = {-0.0625f, 0.10219681f, -0.022599635f, 0.125f, -0.125f, -1.1685097e-14f, -0.0077720626f,
                         -0.00083660637f};
    const float gy[8] = {-0.0f, -0.1875f, 0.25f, -12.5f, 12.5f, -3.75f, 0.03125f, -0.625f};
    lab_tensor *logits = leaf(x, 1, (int64_t[]){8}), *targets = leaf(y, 1, (int64_t[]){8});
    run_loss(lab_bce_with_logits(logits, targets), 25.478643f, logits, gx, targets, gy);
    lab_scope_end();
}

Test(loss, losses_without_grad_record_nothing)
{
    lab_scope_begin();
    lab_tensor *x = lt_randn(1, 2, (int64_t[]){3, 4});
    lab_tensor *y = lab_cross_entropy(x, labels(3, (int64_t[]){0, 1, 3}));
    cr_assert_not_null(y, "%s", lab_error());
    cr_assert(!y->requires_grad && y->node == NULL);
    lab_tensor *m = lab_mse_loss(x, x);
    cr_assert_float_eq(lab_tensor_item(m), 0.0f, 0.0f);
    lab_scope_end();
}

Test(loss, cross_entropy_outside_any_scope_does_not_leak)
{
    /* Run under LeakSanitizer: the temporaries inside must be released. */
    cr_assert_eq(lab_scope_depth(), 0);
    lab_tensor *x = lt_randn(2, 2, (int64_t[]){5, 3});
    lab_tensor_set_requires_grad(x, 1);
    lab_tensor *lab = labels(5, (int64_t[]){0, 1, 2, 1, 0});
    lab_tensor *loss = lab_cross_entropy(x, lab);
    cr_assert_not_null(loss, "%s", lab_error());
    cr_assert_eq(lab_backward(loss), 0, "%s", lab_error());
    cr_assert_not_null(x->grad);
    lab_tensor_release(loss);
    lab_tensor_release(lab);
    lab_tensor_release(x);
    /* and an unused graph is freed with its output */
    x = lt_randn(3, 2, (int64_t[]){2, 2});
    lab_tensor_set_requires_grad(x, 1);
    lab_tensor *t = lt_randn(4, 2, (int64_t[]){2, 2});
    lab_tensor_release(lab_mse_loss(x, t));
    lab_tensor_release(lab_bce_with_logits(x, t));
    lab_tensor_release(t);
    lab_tensor_release(x);
}

/* --- gradchecks ------------------------------------------------------------------ */

static lab_tensor *f_ce(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_cross_entropy(in[0], in[1]);
}

static lab_tensor *f_nll(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_nll_loss(in[0], in[1]);
}

static lab_tensor *f_mse(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_mse_loss(in[0], in[1]);
}

static lab_tensor *f_bce(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_bce_with_logits(in[0], in[1]);
}

Test(loss, gradcheck_all)
{
    lab_scope_begin();
    int64_t n = 6, c = 5, shape[2] = {n, c};
    lab_tensor *x = lt_randn(10, 2, shape), *t = lt_rand(11, 2, shape, 0.0f, 1.0f);
    lab_tensor *y = lt_randint(12, 1, &n, c);
    lab_tensor_set_requires_grad(x, 1);
    lab_tensor *in[2] = {x, y};
    cr_assert_eq(lab_gradcheck(f_ce, 2, in, NULL, 1e-3, 1e-4, 1e-2), 0, "cross_entropy: %s", lab_error());
    cr_assert_eq(lab_gradcheck(f_nll, 2, in, NULL, 1e-3, 1e-4, 1e-2), 0, "nll_loss: %s", lab_error());
    lab_tensor_set_requires_grad(t, 1);
    lab_tensor *pair[2] = {x, t};
    cr_assert_eq(lab_gradcheck(f_mse, 2, pair, NULL, 1e-3, 1e-4, 1e-2), 0, "mse_loss: %s", lab_error());
    cr_assert_eq(lab_gradcheck(f_bce, 2, pair, NULL, 1e-3, 1e-4, 1e-2), 0, "bce_with_logits: %s", lab_error());
    lab_scope_end();
}

/* --- bad input ---------------------------------------------------------------------- */

Test(loss, label_out_of_range_names_op_value_and_position)
{
    lab_scope_begin();
    lab_tensor *x = lt_randn(20, 2, (int64_t[]){5, 10});
    lab_tensor *y = labels(5, (int64_t[]){0, 9, 3, 12, 1});
    cr_assert_null(lab_cross_entropy(x, y));
    lt_assert_error_contains("cross_entropy: label 12 at position 3 is out of range [0, 10)");
    cr_assert_null(lab_nll_loss(x, labels(5, (int64_t[]){-1, 0, 0, 0, 0})));
    lt_assert_error_contains("nll_loss: label -1 at position 0 is out of range [0, 10)");
    lab_scope_end();
}

Test(loss, wrong_dtypes_and_shapes_are_errors)
{
    lab_scope_begin();
    lab_tensor *x = lt_randn(21, 2, (int64_t[]){4, 3});
    lab_tensor *y32 = lab_tensor_zeros(LAB_I32, 1, (int64_t[]){4}, LAB_CPU);
    cr_assert_null(lab_cross_entropy(x, y32));
    lt_assert_error_contains("cross_entropy: labels must be i64, got i32[4]");
    cr_assert_null(lab_cross_entropy(x, labels(3, (int64_t[]){0, 1, 2})));
    lt_assert_error_contains("cross_entropy: labels i64[3] must hold one label per row of logits f32[4, 3]");
    cr_assert_null(lab_cross_entropy(lt_randn(22, 1, (int64_t[]){4}), labels(4, (int64_t[]){0, 0, 0, 0})));
    lt_assert_error_contains("cross_entropy: logits must be 2-D [N, C], got f32[4]");
    cr_assert_null(lab_cross_entropy(lab_tensor_cast(x, LAB_I64), labels(4, (int64_t[]){0, 0, 0, 0})));
    lt_assert_error_contains("cross_entropy: logits must be f32, got i64[4, 3]");
    cr_assert_null(lab_cross_entropy(lab_tensor_zeros(LAB_F32, 2, (int64_t[]){0, 3}, LAB_CPU), labels(0, NULL)));
    lt_assert_error_contains("cross_entropy: empty batch (logits f32[0, 3])");
    cr_assert_null(lab_mse_loss(x, lt_randn(23, 2, (int64_t[]){3, 4})));
    lt_assert_error_contains("mse_loss: pred f32[4, 3] and target f32[3, 4] must have the same shape");
    cr_assert_null(lab_bce_with_logits(x, lab_tensor_zeros(LAB_I64, 2, (int64_t[]){4, 3}, LAB_CPU)));
    lt_assert_error_contains("bce_with_logits: targets must be f32, got i64[4, 3]");
    lab_tensor *e = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){0}, LAB_CPU);
    cr_assert_null(lab_mse_loss(e, e));
    lt_assert_error_contains("mse_loss: empty input (pred f32[0])");
    lab_scope_end();
}

Test(loss, null_inputs_give_null)
{
    lab_scope_begin();
    lab_tensor *x = lt_randn(24, 2, (int64_t[]){2, 2});
    lab_tensor *y = labels(2, (int64_t[]){0, 1});
    cr_assert_null(lab_cross_entropy(NULL, y));
    cr_assert_null(lab_cross_entropy(x, NULL));
    cr_assert_null(lab_nll_loss(NULL, y));
    cr_assert_null(lab_nll_loss(x, NULL));
    cr_assert_null(lab_mse_loss(NULL, x));
    cr_assert_null(lab_mse_loss(x, NULL));
    cr_assert_null(lab_bce_with_logits(NULL, x));
    cr_assert_null(lab_bce_with_logits(x, NULL));
    lab_scope_end();
}
