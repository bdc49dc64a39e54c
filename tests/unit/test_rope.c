/* test_rope.c — lab_rope: hand-computed rotation, norm preservation, the
 * relative-position property, gradcheck, bad input. */
#include <string.h>

#include "lab/rope.h"
#include "labtest.h"

Test(rope, hand_computed_rotation)
{
    lab_scope_begin();
    /* D = 4, base 100: pair 0 turns by p, pair 1 by p / 10. */
    float xv[8] = {1, 2, 3, 4, 1, 2, 3, 4};
    int64_t xs[2] = {2, 4};
    int64_t pv[2] = {0, 3};
    int64_t ps[1] = {2};
    lab_tensor *x = lab_tensor_from_f32(xv, 2, xs);
    lab_tensor *pos = lab_tensor_from_data(LAB_I64, 1, ps, pv, LAB_CPU);
    lab_tensor *y = lab_rope(x, pos, 100.0f);
    cr_assert_not_null(y);
    double a0 = 3.0, a1 = 0.3;
    float ref[8] = {1, 2, 3, 4,
                    (float)(1 * cos(a0) - 3 * sin(a0)), (float)(2 * cos(a1) - 4 * sin(a1)),
                    (float)(1 * sin(a0) + 3 * cos(a0)), (float)(2 * sin(a1) + 4 * cos(a1))};
    lt_assert_tensor_close(y, ref, 1e-6, 1e-6);
    lab_scope_end();
}

Test(rope, preserves_norm_and_is_relative)
{
    lab_scope_begin();
    int64_t s[2] = {1, 8};
    lab_tensor *q = lt_randn(1, 2, s), *k = lt_randn(2, 2, s);
    int64_t one = 1;
    /* <R(p) q, R(p') k> depends only on p - p'. */
    float dots[2];
    int64_t pairs[2][2] = {{5, 2}, {13, 10}};
    for (int i = 0; i < 2; i++) {
        lab_tensor *pq = lab_tensor_from_data(LAB_I64, 1, &one, &pairs[i][0], LAB_CPU);
        lab_tensor *pk = lab_tensor_from_data(LAB_I64, 1, &one, &pairs[i][1], LAB_CPU);
        lab_tensor *rq = lab_rope(q, pq, 10000.0f), *rk = lab_rope(k, pk, 10000.0f);
        dots[i] = lab_tensor_item(lab_sum_all(lab_mul(rq, rk)));
        float nq = lab_tensor_item(lab_sum_all(lab_square(rq)));
        float n0 = lab_tensor_item(lab_sum_all(lab_square(q)));
        cr_assert_float_eq(nq, n0, 1e-4);
    }
    cr_assert_float_eq(dots[0], dots[1], 1e-4, "%g vs %g", dots[0], dots[1]);
    lab_scope_end();
}

static lab_tensor *rope_fn(lab_tensor *const *in, void *user)
{
    return lab_rope(in[0], (lab_tensor *)user, 10000.0f);
}

Test(rope, gradcheck)
{
    lab_scope_begin();
    int64_t s[4] = {2, 2, 3, 6};
    lab_tensor *x = lt_randn(3, 4, s);
    lab_tensor_set_requires_grad(x, 1);
    int64_t pv[3] = {0, 7, 2}, ps = 3;
    lab_tensor *pos = lab_tensor_from_data(LAB_I64, 1, &ps, pv, LAB_CPU);
    cr_assert_eq(lab_gradcheck(rope_fn, 1, &x, pos, 1e-3, 1e-3, 1e-3), 0, "%s", lab_error());
    lab_scope_end();
}

Test(rope, bad_input)
{
    lab_scope_begin();
    int64_t s[2] = {3, 5};
    lab_tensor *x = lt_randn(4, 2, s);
    int64_t ps = 3;
    lab_tensor *pos = lab_tensor_arange(ps, LAB_CPU);
    cr_assert_null(lab_rope(x, pos, 10000.0f));
    lt_assert_error_contains("D even");
    int64_t s2[2] = {3, 4};
    lab_tensor *x2 = lt_randn(4, 2, s2);
    lab_tensor *pos2 = lab_tensor_arange(2, LAB_CPU);
    cr_assert_null(lab_rope(x2, pos2, 10000.0f));
    lt_assert_error_contains("pos must be");
    cr_assert_null(lab_rope(NULL, pos, 10000.0f));
    lab_scope_end();
}
