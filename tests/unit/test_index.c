/* Indexing ops (index_select, gather, scatter_add, embedding, one_hot) and
 * their CPU primitives, against kernels/cpu/ref_index.c. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "labtest.h"
#include "ref_index.h"

static float *host_f32(const lab_tensor *t)
{
    float *v = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *v);
    cr_assert_eq(lab_tensor_copy_to_host(t, v), 0);
    return v;
}

/* [outer, n, inner] split of a shape at dim d. */
static void split(int ndim, const int64_t *shape, int d, int64_t *outer, int64_t *n, int64_t *inner)
{
    *outer = 1;
    *inner = 1;
    for (int i = 0; i < d; i++) *outer *= shape[i];
    for (int i = d + 1; i < ndim; i++) *inner *= shape[i];
    *n = shape[d];
}

static void assert_same(const float *got, const float *want, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        cr_assert(memcmp(&got[i], &want[i], sizeof(float)) == 0, "element %lld: got %.9g, want %.9g",
                  (long long)i, got[i], want[i]);
}

/* --- index_select ---------------------------------------------------------- */

Test(index, index_select_matches_reference)
{
    lab_scope_begin();
    const int64_t shapes[][3] = {{7, 5, 3}, {1, 9, 4}, {6, 1, 2}, {3, 4, 0}};
    const int64_t nidx_list[] = {0, 1, 5, 12};
    uint64_t seed = 1;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        for (int d = -3; d < 3; d++)
            for (size_t k = 0; k < sizeof nidx_list / sizeof nidx_list[0]; k++) {
                lab_tensor *a = lt_randn(seed++, 3, shapes[s]);
                int dd = d < 0 ? d + 3 : d;
                if (shapes[s][dd] == 0) continue;
                int64_t nidx = nidx_list[k];
                lab_tensor *idx = lt_randint(seed++, 1, &nidx, shapes[s][dd]);
                lab_tensor *y = lab_index_select(a, d, idx);
                cr_assert_not_null(y, "%s", lab_error());
                int64_t outer, n, inner;
                split(3, shapes[s], dd, &outer, &n, &inner);
                cr_assert_eq(y->ndim, 3);
                cr_assert_eq(y->shape[dd], nidx);
                float *want = calloc((size_t)(y->numel + 1), sizeof *want);
                lab_ref_index_select(outer, n, inner, want, lab_tensor_f32(a), lab_tensor_i64(idx), nidx);
                assert_same(lab_tensor_f32(y), want, y->numel);
                free(want);
            }
    lab_scope_end();
}

Test(index, index_select_moves_integer_rows)
{
    lab_scope_begin();
    int64_t vals[6] = {10, -20, 3000000000000LL, 4, 5, -6}, shape[2] = {3, 2}, two = 2;
    lab_tensor *a = lab_tensor_from_data(LAB_I64, 2, shape, vals, LAB_CPU);
    lab_tensor *idx = lab_tensor_from_data(LAB_I64, 1, &two, (int64_t[]){2, 1}, LAB_CPU);
    lab_tensor *y = lab_index_select(a, 0, idx);
    cr_assert_not_null(y, "%s", lab_error());
    cr_assert_eq(y->dtype, LAB_I64);
    const int64_t *v = lab_tensor_i64(y);
    cr_assert(v[0] == 5 && v[1] == -6 && v[2] == 3000000000000LL && v[3] == 4);
    int32_t v32[4] = {1, 2, 3, 4};
    lab_tensor *b = lab_tensor_from_data(LAB_I32, 1, (int64_t[]){4}, v32, LAB_CPU);
    lab_tensor *z = lab_index_select(b, 0, idx);
    cr_assert_not_null(z, "%s", lab_error());
    cr_assert(lab_tensor_i32(z)[0] == 3 && lab_tensor_i32(z)[1] == 2);
    lab_scope_end();
}

Test(index, index_select_backward_accumulates_repeats)
{
    lab_scope_begin();
    float av[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    lab_tensor *a = lab_tensor_from_f32(av, 2, (int64_t[]){4, 2});
    lab_tensor_set_requires_grad(a, 1);
    int64_t ni = 5;
    lab_tensor *idx = lab_tensor_from_data(LAB_I64, 1, &ni, (int64_t[]){3, 0, 3, 3, 1}, LAB_CPU);
    lab_tensor *y = lab_index_select(a, 0, idx);
    float gv[10] = {1, 10, 2, 20, 3, 30, 4, 40, 5, 50};
    lab_tensor *g = lab_tensor_from_f32(gv, 2, y->shape);
    cr_assert_eq(lab_backward_with(y, g), 0, "%s", lab_error());
    /* row 3 is picked three times: 1+3+4, 10+30+40; row 2 never. */
    const float want[8] = {2, 20, 5, 50, 0, 0, 8, 80};
    lt_assert_tensor_close(a->grad, want, 0, 0);
    lab_tensor_zero_grad(a);
    lab_scope_end();
}

static lab_tensor *f_index_select(lab_tensor *const *in, void *user)
{
    return lab_index_select(in[0], *(int *)user, in[1]);
}

Test(index, index_select_gradcheck)
{
    lab_scope_begin();
    for (int d = 0; d < 3; d++) {
        int64_t shape[3] = {3, 4, 5}, ni = 7;
        lab_tensor *a = lt_randn(11 + d, 3, shape);
        lab_tensor_set_requires_grad(a, 1);
        lab_tensor *idx = lt_randint(21 + d, 1, &ni, shape[d]);
        lab_tensor *in[2] = {a, idx};
        cr_assert_eq(lab_gradcheck(f_index_select, 2, in, &d, 1e-2, 1e-3, 1e-3), 0, "dim %d: %s", d, lab_error());
    }
    lab_scope_end();
}

/* --- gather / scatter_add ---------------------------------------------------- */

Test(index, gather_matches_reference)
{
    lab_scope_begin();
    uint64_t seed = 100;
    const int64_t shape[3] = {4, 6, 5};
    for (int d = 0; d < 3; d++)
        for (int64_t m = 0; m < 9; m += 4) {
            lab_tensor *a = lt_randn(seed++, 3, shape);
            int64_t ishape[3] = {shape[0], shape[1], shape[2]};
            ishape[d] = m;
            lab_tensor *idx = lt_randint(seed++, 3, ishape, shape[d]);
            lab_tensor *y = lab_gather(a, d - 3, idx);
            cr_assert_not_null(y, "%s", lab_error());
            cr_assert(lab_tensor_same_shape(y, idx));
            int64_t outer, n, inner;
            split(3, shape, d, &outer, &n, &inner);
            float *want = calloc((size_t)(y->numel + 1), sizeof *want);
            lab_ref_gather(outer, n, inner, m, want, lab_tensor_f32(a), lab_tensor_i64(idx));
            assert_same(lab_tensor_f32(y), want, y->numel);
            free(want);
        }
    lab_scope_end();
}

Test(index, gather_known_values)
{
    lab_scope_begin();
    float av[6] = {1, 2, 3, 4, 5, 6};
    lab_tensor *a = lab_tensor_from_f32(av, 2, (int64_t[]){2, 3});
    lab_tensor *idx = lab_tensor_from_data(LAB_I64, 2, (int64_t[]){2, 2}, (int64_t[]){2, 0, 1, 1}, LAB_CPU);
    lab_tensor *y = lab_gather(a, 1, idx);
    lt_assert_tensor_close(y, (float[]){3, 1, 5, 5}, 0, 0);
    lab_scope_end();
}

Test(index, scatter_add_matches_reference_with_repeats)
{
    lab_scope_begin();
    uint64_t seed = 200;
    const int64_t shape[3] = {3, 5, 4};
    for (int d = 0; d < 3; d++)
        for (int64_t m = 0; m < 13; m += 6) {
            lab_tensor *a = lt_randn(seed++, 3, shape);
            int64_t ishape[3] = {shape[0], shape[1], shape[2]};
            ishape[d] = m; /* m > shape[d]: indices must repeat */
            lab_tensor *idx = lt_randint(seed++, 3, ishape, shape[d]);
            lab_tensor *src = lt_randn(seed++, 3, ishape);
            lab_tensor *y = lab_scatter_add(a, d, idx, src);
            cr_assert_not_null(y, "%s", lab_error());
            cr_assert(lab_tensor_same_shape(y, a));
            int64_t outer, n, inner;
            split(3, shape, d, &outer, &n, &inner);
            float *want = host_f32(a);
            lab_ref_scatter_add(outer, n, inner, m, want, lab_tensor_f32(src), lab_tensor_i64(idx));
            assert_same(lab_tensor_f32(y), want, y->numel);
            free(want);
        }
    lab_scope_end();
}

Test(index, scatter_add_leaves_input_unchanged)
{
    lab_scope_begin();
    lab_tensor *a = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){3}, LAB_CPU);
    lab_tensor *idx = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){4}, (int64_t[]){1, 1, 0, 1}, LAB_CPU);
    lab_tensor *src = lab_tensor_from_f32((float[]){1, 2, 3, 4}, 1, (int64_t[]){4});
    lab_tensor *y = lab_scatter_add(a, 0, idx, src);
    lt_assert_tensor_close(y, (float[]){3, 7, 0}, 0, 0);
    lt_assert_tensor_close(a, (float[]){0, 0, 0}, 0, 0);
    lab_scope_end();
}

static lab_tensor *f_gather(lab_tensor *const *in, void *user)
{
    return lab_gather(in[0], *(int *)user, in[1]);
}

static lab_tensor *f_scatter_add(lab_tensor *const *in, void *user)
{
    return lab_scatter_add(in[0], *(int *)user, in[1], in[2]);
}

Test(index, gather_scatter_gradcheck)
{
    lab_scope_begin();
    for (int d = 0; d < 2; d++) {
        int64_t shape[2] = {4, 5}, ishape[2] = {4, 5};
        ishape[d] = 7;
        lab_tensor *a = lt_randn(31 + d, 2, shape);
        lab_tensor *idx = lt_randint(41 + d, 2, ishape, shape[d]);
        lab_tensor *src = lt_randn(51 + d, 2, ishape);
        lab_tensor_set_requires_grad(a, 1);
        lab_tensor_set_requires_grad(src, 1);
        lab_tensor *gin[2] = {a, idx};
        cr_assert_eq(lab_gradcheck(f_gather, 2, gin, &d, 1e-2, 1e-3, 1e-3), 0, "gather dim %d: %s", d, lab_error());
        lab_tensor *sin[3] = {a, idx, src};
        cr_assert_eq(lab_gradcheck(f_scatter_add, 3, sin, &d, 1e-2, 1e-3, 1e-3), 0, "scatter_add dim %d: %s", d,
                     lab_error());
    }
    lab_scope_end();
}

/* --- embedding / one_hot ------------------------------------------------------ */

Test(index, embedding_matches_reference)
{
    lab_scope_begin();
    int64_t wshape[2] = {11, 6}, ishape[2] = {3, 5};
    lab_tensor *w = lt_randn(61, 2, wshape);
    lab_tensor *idx = lt_randint(62, 2, ishape, 11);
    lab_tensor *y = lab_embedding(w, idx);
    cr_assert_not_null(y, "%s", lab_error());
    cr_assert(y->ndim == 3 && y->shape[0] == 3 && y->shape[1] == 5 && y->shape[2] == 6);
    float want[90];
    lab_ref_index_select(1, 11, 6, want, lab_tensor_f32(w), lab_tensor_i64(idx), 15);
    assert_same(lab_tensor_f32(y), want, 90);
    lab_scope_end();
}

static lab_tensor *f_embedding(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_embedding(in[0], in[1]);
}

Test(index, embedding_gradcheck_and_repeats)
{
    lab_scope_begin();
    lab_tensor *w = lt_randn(63, 2, (int64_t[]){5, 3});
    lab_tensor_set_requires_grad(w, 1);
    lab_tensor *idx = lab_tensor_from_data(LAB_I64, 2, (int64_t[]){2, 3}, (int64_t[]){4, 0, 4, 4, 2, 0}, LAB_CPU);
    lab_tensor *in[2] = {w, idx};
    cr_assert_eq(lab_gradcheck(f_embedding, 2, in, NULL, 1e-2, 1e-3, 1e-3), 0, "%s", lab_error());
    lab_tensor *y = lab_embedding(w, idx);
    lab_tensor *g = lab_tensor_full(LAB_F32, y->ndim, y->shape, 1.0, LAB_CPU);
    cr_assert_eq(lab_backward_with(y, g), 0, "%s", lab_error());
    /* row counts: 0 twice, 2 once, 4 three times */
    const float want[15] = {2, 2, 2, 0, 0, 0, 1, 1, 1, 0, 0, 0, 3, 3, 3};
    lt_assert_tensor_close(w->grad, want, 0, 0);
    lab_tensor_zero_grad(w);
    /* no ids: an empty output, and a zero gradient */
    lab_tensor *none = lab_tensor_empty(LAB_I64, 1, (int64_t[]){0}, LAB_CPU);
    lab_tensor *e = lab_embedding(w, none);
    cr_assert_not_null(e, "%s", lab_error());
    cr_assert(e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 3);
    cr_assert_eq(lab_backward_with(e, lab_tensor_empty_like(e)), 0, "%s", lab_error());
    const float zeros[15] = {0};
    lt_assert_tensor_close(w->grad, zeros, 0, 0);
    lab_tensor_zero_grad(w);
    lab_scope_end();
}

Test(index, one_hot_matches_reference)
{
    lab_scope_begin();
    int64_t ishape[2] = {4, 3};
    lab_tensor *idx = lt_randint(70, 2, ishape, 7);
    lab_tensor *y = lab_one_hot(idx, 7);
    cr_assert_not_null(y, "%s", lab_error());
    cr_assert(y->ndim == 3 && y->shape[2] == 7 && y->dtype == LAB_F32);
    float want[84];
    lab_ref_one_hot(12, 7, want, lab_tensor_i64(idx));
    assert_same(lab_tensor_f32(y), want, 84);
    lab_tensor *none = lab_one_hot(lab_tensor_empty(LAB_I64, 1, (int64_t[]){0}, LAB_CPU), 3);
    cr_assert_not_null(none, "%s", lab_error());
    cr_assert(none->ndim == 2 && none->shape[0] == 0 && none->shape[1] == 3);
    lab_scope_end();
}

/* --- primitives at sizes that take the parallel paths ---------------------------- */

Test(index, primitives_parallel_sizes_bitwise_equal_reference)
{
    lab_scope_begin();
    const lab_backend *be = lab_backend_cpu();
    /* outer 3, n 40, inner 300, nidx 500: well above LAB_CPU_PAR_MIN. */
    int64_t outer = 3, n = 40, inner = 300, nidx = 500;
    lab_tensor *x = lt_randn(80, 1, (int64_t[]){outer * n * inner});
    lab_tensor *src = lt_randn(81, 1, (int64_t[]){outer * nidx * inner});
    lab_tensor *idx = lt_randint(82, 1, &nidx, n);
    lab_tensor *gidx = lt_randint(83, 1, (int64_t[]){outer * nidx * inner}, n);
    size_t ysz = (size_t)(outer * nidx * inner), xsz = (size_t)(outer * n * inner);
    float *y1 = malloc(ysz * sizeof *y1), *y2 = malloc(ysz * sizeof *y2);
    float *z1 = malloc(xsz * sizeof *z1), *z2 = malloc(xsz * sizeof *z2);
    const float *xv = lab_tensor_f32(x), *sv = lab_tensor_f32(src);

    be->index_select(outer, n, inner, y1, xv, lab_tensor_i64(idx), nidx);
    lab_ref_index_select(outer, n, inner, y2, xv, lab_tensor_i64(idx), nidx);
    assert_same(y1, y2, (int64_t)ysz);

    memcpy(z1, xv, xsz * sizeof *z1);
    memcpy(z2, xv, xsz * sizeof *z2);
    be->index_add(outer, n, inner, z1, sv, lab_tensor_i64(idx), nidx);
    lab_ref_index_add(outer, n, inner, z2, sv, lab_tensor_i64(idx), nidx);
    assert_same(z1, z2, (int64_t)xsz);

    be->gather(outer, n, inner, nidx, y1, xv, lab_tensor_i64(gidx));
    lab_ref_gather(outer, n, inner, nidx, y2, xv, lab_tensor_i64(gidx));
    assert_same(y1, y2, (int64_t)ysz);

    memcpy(z1, xv, xsz * sizeof *z1);
    memcpy(z2, xv, xsz * sizeof *z2);
    be->scatter_add(outer, n, inner, nidx, z1, sv, lab_tensor_i64(gidx));
    lab_ref_scatter_add(outer, n, inner, nidx, z2, sv, lab_tensor_i64(gidx));
    assert_same(z1, z2, (int64_t)xsz);

    /* outer 1 with a narrow inner dim: the serial path. */
    memcpy(z1, xv, xsz * sizeof *z1);
    memcpy(z2, xv, xsz * sizeof *z2);
    be->index_add(1, n * outer * inner / 5, 5, z1, sv, lab_tensor_i64(idx), nidx);
    lab_ref_index_add(1, n * outer * inner / 5, 5, z2, sv, lab_tensor_i64(idx), nidx);
    assert_same(z1, z2, (int64_t)xsz);
    free(y1);
    free(y2);
    free(z1);
    free(z2);
    lab_scope_end();
}

/* --- bad input ---------------------------------------------------------------------- */

Test(index, out_of_range_indices_are_errors)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(90, 2, (int64_t[]){5, 3});
    lab_tensor *idx = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){3}, (int64_t[]){0, 4, 7}, LAB_CPU);
    cr_assert_null(lab_index_select(a, 0, idx));
    lt_assert_error_contains("index_select: index 7 at position 2 is out of range [0, 5)");
    cr_assert_null(lab_index_select(a, 1, idx));
    lt_assert_error_contains("index_select: index 4 at position 1 is out of range [0, 3)");
    lab_tensor *neg = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){1}, (int64_t[]){-1}, LAB_CPU);
    cr_assert_null(lab_embedding(a, neg));
    lt_assert_error_contains("embedding: index -1 at position 0 is out of range [0, 5)");
    cr_assert_null(lab_one_hot(idx, 5));
    lt_assert_error_contains("one_hot: index 7 at position 2");
    lab_tensor *gi = lab_tensor_from_data(LAB_I64, 2, (int64_t[]){1, 3}, (int64_t[]){0, 3, 1}, LAB_CPU);
    lab_tensor *b = lt_randn(96, 2, (int64_t[]){1, 3});
    cr_assert_null(lab_gather(b, 1, gi));
    lt_assert_error_contains("gather: index 3 at position 1 is out of range [0, 3)");
    lab_tensor *src = lt_randn(91, 2, (int64_t[]){1, 3});
    cr_assert_null(lab_scatter_add(b, 1, gi, src));
    lt_assert_error_contains("scatter_add: index 3 at position 1 is out of range [0, 3)");
    lab_scope_end();
}

Test(index, wrong_dtypes_and_shapes_are_errors)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(92, 2, (int64_t[]){5, 3});
    int32_t v32[2] = {0, 1};
    lab_tensor *i32 = lab_tensor_from_data(LAB_I32, 1, (int64_t[]){2}, v32, LAB_CPU);
    cr_assert_null(lab_index_select(a, 0, i32));
    lt_assert_error_contains("index_select: index must be i64, got i32[2]");
    cr_assert_null(lab_embedding(a, i32));
    lt_assert_error_contains("embedding: index must be i64, got i32[2]");
    cr_assert_null(lab_one_hot(i32, 3));
    lt_assert_error_contains("one_hot: index must be i64");
    lab_tensor *i2d = lab_tensor_zeros(LAB_I64, 2, (int64_t[]){2, 2}, LAB_CPU);
    cr_assert_null(lab_index_select(a, 0, i2d));
    lt_assert_error_contains("index_select: index must be 1-D, got i64[2, 2]");
    cr_assert_null(lab_index_select(a, 2, i2d));
    lt_assert_error_contains("index_select: dim 2 is out of range for f32[5, 3]");
    lab_tensor *gi = lab_tensor_zeros(LAB_I64, 2, (int64_t[]){4, 3}, LAB_CPU);
    cr_assert_null(lab_gather(a, 0, lab_tensor_zeros(LAB_I64, 2, (int64_t[]){2, 2}, LAB_CPU)));
    lt_assert_error_contains("gather: index i64[2, 2] must have the shape of the input f32[5, 3] except in dim 0");
    cr_assert_null(lab_scatter_add(a, 0, gi, lt_randn(93, 2, (int64_t[]){4, 2})));
    lt_assert_error_contains("scatter_add: src f32[4, 2] must have the shape of the index i64[4, 3]");
    cr_assert_null(lab_gather(lab_tensor_cast(a, LAB_I64), 0, gi));
    lt_assert_error_contains("gather: input must be f32");
    cr_assert_null(lab_embedding(lt_randn(94, 1, (int64_t[]){4}), gi));
    lt_assert_error_contains("embedding: weight must be 2-D [V, D], got f32[4]");
    cr_assert_null(lab_one_hot(gi, 0));
    lt_assert_error_contains("one_hot: classes must be at least 1, got 0");
    lab_scope_end();
}

Test(index, null_inputs_give_null)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(95, 2, (int64_t[]){2, 2});
    lab_tensor *idx = lab_tensor_zeros(LAB_I64, 1, (int64_t[]){1}, LAB_CPU);
    lab_tensor *i2 = lab_tensor_zeros(LAB_I64, 2, (int64_t[]){2, 2}, LAB_CPU);
    cr_assert_null(lab_index_select(NULL, 0, idx));
    cr_assert_null(lab_index_select(a, 0, NULL));
    cr_assert_null(lab_gather(NULL, 0, i2));
    cr_assert_null(lab_gather(a, 0, NULL));
    cr_assert_null(lab_scatter_add(a, 0, i2, NULL));
    cr_assert_null(lab_scatter_add(NULL, 0, i2, a));
    cr_assert_null(lab_embedding(NULL, idx));
    cr_assert_null(lab_embedding(a, NULL));
    cr_assert_null(lab_one_hot(NULL, 3));
    lab_scope_end();
}
