/* lab_dropout: identity outside training, the drop rate and the 1/(1-p)
 * scale, reproducibility from the rng, gradients through the same mask,
 * p = 1, and bad input. */
#include <math.h>
#include <string.h>

#include "labtest.h"

static void setup(void) { lab_scope_begin(); }
static void teardown(void) { lab_scope_end(); }
TestSuite(dropout, .init = setup, .fini = teardown);

Test(dropout, identity_when_not_training_or_p_zero)
{
    lab_tensor *x = lt_randn(1, 2, (int64_t[]){4, 5});
    lab_tensor_set_requires_grad(x, 1);
    lab_rng rng = lab_rng_make(3, 0);
    for (int c = 0; c < 2; c++) {
        lab_tensor *y = c ? lab_dropout(x, 0.0f, 1, &rng) : lab_dropout(x, 0.5f, 0, &rng);
        cr_assert_not_null(y, "%s", lab_error());
        cr_assert(y->storage == x->storage, "identity shares x's storage");
        lt_assert_tensor_close(y, lab_tensor_f32(x), 0, 0);
        cr_assert_eq(rng.offset, 0, "the rng is not advanced");
        lab_tensor *g = lt_randn(2, 2, (int64_t[]){4, 5});
        cr_assert_eq(lab_backward_with(y, g), 0, "%s", lab_error());
        lt_assert_tensor_close(x->grad, lab_tensor_f32(g), 0, 0);
        lab_tensor_zero_grad(x);
    }
    /* No rng is needed when nothing is dropped. */
    cr_assert_not_null(lab_dropout(x, 0.3f, 0, NULL));
}

Test(dropout, rate_scale_and_gradient)
{
    int64_t n = 100000;
    lab_tensor *x = lt_rand(4, 1, &n, 0.5f, 1.5f); /* never 0, so zeros mark drops */
    lab_tensor_set_requires_grad(x, 1);
    lab_rng rng = lab_rng_make(11, 2);
    float p = 0.3f;
    lab_tensor *y = lab_dropout(x, p, 1, &rng);
    cr_assert_not_null(y, "%s", lab_error());
    cr_assert(rng.offset >= (uint64_t)n, "the rng advanced by the mask's draws");
    cr_assert_eq(lab_backward(lab_sum_all(y)), 0, "%s", lab_error());
    const float *xv = lab_tensor_f32(x), *yv = lab_tensor_f32(y), *gv = lab_tensor_f32(x->grad);
    int64_t dropped = 0;
    float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < n; i++) {
        if (yv[i] == 0.0f) {
            dropped++;
            cr_assert_eq(gv[i], 0.0f, "a dropped element gets no gradient (%lld)", (long long)i);
        } else {
            cr_assert(fabsf(yv[i] - xv[i] * scale) <= 1e-6f * fabsf(yv[i]), "kept element %lld scaled", (long long)i);
            cr_assert(fabsf(gv[i] - scale) <= 1e-6f, "kept element %lld gradient %g", (long long)i, gv[i]);
        }
    }
    double rate = (double)dropped / (double)n;
    cr_assert(fabs(rate - p) < 0.01, "drop rate %g for p = %g", rate, p);
    lab_tensor_zero_grad(x);
}

Test(dropout, same_rng_same_mask)
{
    lab_tensor *x = lab_tensor_full(LAB_F32, 2, (int64_t[]){16, 16}, 1.0, LAB_CPU);
    lab_rng a = lab_rng_make(7, 1), b = lab_rng_make(7, 1), c = lab_rng_make(8, 1);
    lab_tensor *ya = lab_dropout(x, 0.5f, 1, &a), *yb = lab_dropout(x, 0.5f, 1, &b), *yc = lab_dropout(x, 0.5f, 1, &c);
    cr_assert_not_null(ya);
    lt_assert_tensor_close(yb, lab_tensor_f32(ya), 0, 0);
    cr_assert(memcmp(lab_tensor_f32(ya), lab_tensor_f32(yc), 256 * sizeof(float)) != 0, "another seed differs");
    /* The stream moves on: a second call draws a different mask. */
    lab_tensor *ya2 = lab_dropout(x, 0.5f, 1, &a);
    cr_assert(memcmp(lab_tensor_f32(ya), lab_tensor_f32(ya2), 256 * sizeof(float)) != 0);
}

Test(dropout, p_one_drops_everything)
{
    lab_tensor *x = lt_randn(5, 1, (int64_t[]){50});
    lab_rng rng = lab_rng_make(1, 0);
    lab_tensor *y = lab_dropout(x, 1.0f, 1, &rng);
    cr_assert_not_null(y, "%s", lab_error());
    float z[50] = {0};
    lt_assert_tensor_close(y, z, 0, 0);
}

Test(dropout, bad_input)
{
    lab_tensor *x = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){4}, LAB_CPU);
    lab_rng rng = lab_rng_make(1, 0);
    cr_assert_null(lab_dropout(x, 1.5f, 1, &rng));
    cr_assert_str_eq(lab_error(), "dropout: p = 1.5 is not in [0, 1]");
    cr_assert_null(lab_dropout(x, -0.1f, 1, &rng));
    lt_assert_error_contains("dropout: p = -0.1");
    cr_assert_null(lab_dropout(x, NAN, 1, &rng));
    lt_assert_error_contains("dropout: p = nan is not in [0, 1]");
    cr_assert_null(lab_dropout(x, 0.5f, 1, NULL));
    cr_assert_str_eq(lab_error(), "dropout: training with p = 0.5 needs an rng (x f32[4])");
    lab_tensor *xi = lab_tensor_zeros(LAB_I64, 1, (int64_t[]){4}, LAB_CPU);
    cr_assert_null(lab_dropout(xi, 0.5f, 1, &rng));
    cr_assert_str_eq(lab_error(), "dropout: x must be f32, got i64[4]");
    lab_error_clear();
    cr_assert_null(lab_dropout(NULL, 0.5f, 1, &rng));
    cr_assert_str_eq(lab_error(), "");
}
