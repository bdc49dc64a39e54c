/* Shape ops: views share storage, copies match index-by-index references,
 * sum_to matches a naive broadcast-sum, gradchecks of every differentiable
 * op, the strided_copy kernel against ref_elementwise.c, and errors. */
#include <stdlib.h>
#include <string.h>

#include "labtest.h"
#include "ref_elementwise.h"

static int64_t rnd(lab_rng *r, int64_t n) { return (int64_t)lab_rng_next_below(r, (uint64_t)n); }

static void assert_shape(const lab_tensor *t, int nd, const int64_t *shape)
{
    cr_assert_not_null(t, "%s", lab_error());
    cr_assert_eq(t->ndim, nd, "ndim %d, want %d", t->ndim, nd);
    for (int i = 0; i < nd; i++)
        cr_assert_eq(t->shape[i], shape[i], "dim %d: %lld, want %lld", i, (long long)t->shape[i], (long long)shape[i]);
}

static int shares(const lab_tensor *a, const lab_tensor *b) { return a->storage == b->storage; }

/* --- reshape, flatten ------------------------------------------------------- */

Test(shape, reshape_is_a_view_with_inference)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(1, 2, (int64_t[]){4, 6});
    lab_tensor *y = lab_reshape(a, 3, (int64_t[]){2, -1, 3});
    assert_shape(y, 3, (int64_t[]){2, 4, 3});
    cr_assert(shares(a, y));
    cr_assert_eq(lab_tensor_raw(a), lab_tensor_raw(y));
    /* a write through the view is seen by the base */
    lab_tensor_fill_(y, 3.0f);
    cr_assert_float_eq(lab_tensor_f32(a)[23], 3.0f, 0);
    /* scalars, empties, other dtypes */
    lab_tensor *s = lab_reshape(lab_tensor_scalar(2, LAB_CPU), 2, (int64_t[]){1, 1});
    assert_shape(s, 2, (int64_t[]){1, 1});
    assert_shape(lab_reshape(s, 0, NULL), 0, NULL);
    assert_shape(lab_reshape(lt_randn(2, 2, (int64_t[]){0, 3}), 2, (int64_t[]){3, 0}), 2, (int64_t[]){3, 0});
    lab_tensor *i = lab_reshape(lab_tensor_arange(6, LAB_CPU), 2, (int64_t[]){3, 2});
    cr_assert_eq(i->dtype, LAB_I64);
    cr_assert_eq(lab_tensor_i64(i)[5], 5);
    lab_scope_end();
}

Test(shape, reshape_errors)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(1, 2, (int64_t[]){2, 3});
    cr_assert_null(lab_reshape(a, 2, (int64_t[]){4, 2}));
    lt_assert_error_contains("reshape: cannot view f32[2, 3] (6 elements) as [4, 2]");
    cr_assert_null(lab_reshape(a, 2, (int64_t[]){-1, -1}));
    lt_assert_error_contains("reshape: bad shape [-1, -1] for f32[2, 3]");
    cr_assert_null(lab_reshape(a, 2, (int64_t[]){4, -1}));
    lt_assert_error_contains("reshape: cannot infer the -1 in [4, -1] for f32[2, 3] (6 elements)");
    cr_assert_null(lab_reshape(lt_randn(2, 1, (int64_t[]){0}), 2, (int64_t[]){0, -1}));
    lt_assert_error_contains("cannot infer the -1");
    cr_assert_null(lab_reshape(a, 7, (int64_t[]){1, 1, 1, 1, 1, 2, 3}));
    lt_assert_error_contains("reshape: 7 dims requested for f32[2, 3]");
    lab_error_set("earlier");
    cr_assert_null(lab_reshape(NULL, 1, (int64_t[]){1}));
    cr_assert_str_eq(lab_error(), "earlier");
    lab_scope_end();
}

Test(shape, flatten)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(1, 4, (int64_t[]){2, 3, 4, 5});
    assert_shape(lab_flatten(a, 1, 2), 3, (int64_t[]){2, 12, 5});
    assert_shape(lab_flatten(a, 0, -1), 1, (int64_t[]){120});
    assert_shape(lab_flatten(a, 1, -1), 2, (int64_t[]){2, 60});
    assert_shape(lab_flatten(a, 2, 2), 4, (int64_t[]){2, 3, 4, 5});
    cr_assert(shares(a, lab_flatten(a, 1, -1)));
    assert_shape(lab_flatten(lab_tensor_scalar(1, LAB_CPU), 0, -1), 1, (int64_t[]){1});
    cr_assert_null(lab_flatten(a, 2, 1));
    lt_assert_error_contains("flatten: start dim 2 comes after end dim 1 for f32[2, 3, 4, 5]");
    cr_assert_null(lab_flatten(a, 0, 4));
    lt_assert_error_contains("flatten: dim 4 is out of range for f32[2, 3, 4, 5]");
    lab_scope_end();
}

/* --- permute, transpose --------------------------------------------------- */

/* out[j] = a[src index] where out's dim i walks a's dim perm[i]. */
static void ref_permute(const lab_tensor *a, const int *perm, float *out)
{
    int nd = a->ndim;
    int64_t own[LAB_MAX_DIMS], s = 1, oshape[LAB_MAX_DIMS];
    for (int i = nd - 1; i >= 0; i--) {
        own[i] = s;
        s *= a->shape[i];
    }
    for (int i = 0; i < nd; i++) oshape[i] = a->shape[perm[i]];
    const float *av = lab_tensor_f32(a);
    for (int64_t j = 0; j < a->numel; j++) {
        int64_t rem = j, off = 0;
        for (int i = nd - 1; i >= 0; i--) {
            off += (rem % oshape[i]) * own[perm[i]];
            rem /= oshape[i];
        }
        out[j] = av[off];
    }
}

Test(shape, permute_matches_reference_on_random_shapes)
{
    lab_rng r = lab_rng_make(3, 0);
    for (int trial = 0; trial < 100; trial++) {
        lab_scope_begin();
        int nd = 1 + (int)rnd(&r, 5);
        int64_t shape[LAB_MAX_DIMS];
        for (int i = 0; i < nd; i++) shape[i] = rnd(&r, 9) == 0 ? 0 : 1 + rnd(&r, 4);
        int perm[LAB_MAX_DIMS];
        for (int i = 0; i < nd; i++) perm[i] = i;
        for (int i = nd - 1; i > 0; i--) {
            int j = (int)rnd(&r, i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        lab_tensor *a = lt_randn(10 + (uint64_t)trial, nd, shape);
        lab_tensor *y = lab_permute(a, perm);
        cr_assert_not_null(y, "%s", lab_error());
        for (int i = 0; i < nd; i++) cr_assert_eq(y->shape[i], shape[perm[i]]);
        float *ref = malloc((size_t)(a->numel ? a->numel : 1) * sizeof *ref);
        ref_permute(a, perm, ref);
        lt_assert_tensor_close(y, ref, 0, 0);
        free(ref);
        lab_scope_end();
    }
}

Test(shape, transpose_known_values_and_large)
{
    lab_scope_begin();
    lab_tensor *a = lab_tensor_from_f32((float[]){1, 2, 3, 4, 5, 6}, 2, (int64_t[]){2, 3});
    lab_tensor *t = lab_transpose(a, 0, 1);
    assert_shape(t, 2, (int64_t[]){3, 2});
    lt_assert_tensor_close(t, (float[]){1, 4, 2, 5, 3, 6}, 0, 0);
    cr_assert(!shares(a, t));
    /* moving only size-1 dims keeps the bytes in place: a view */
    lab_tensor *b = lt_randn(2, 3, (int64_t[]){3, 1, 4});
    lab_tensor *v = lab_permute(b, (int[]){1, 0, 2});
    assert_shape(v, 3, (int64_t[]){1, 3, 4});
    cr_assert(shares(b, v));
    cr_assert(shares(b, lab_transpose(b, 1, 1)));
    /* a transpose above the parallel threshold */
    lab_tensor *big = lt_randn(3, 2, (int64_t[]){300, 401});
    lab_tensor *bt = lab_transpose(big, -1, -2);
    const float *x = lab_tensor_f32(big), *y = lab_tensor_f32(bt);
    for (int64_t i = 0; i < 300; i++)
        for (int64_t j = 0; j < 401; j++) cr_assert_eq(y[j * 300 + i], x[i * 401 + j]);
    /* other dtypes */
    lab_tensor *ii = lab_transpose(lab_reshape(lab_tensor_arange(6, LAB_CPU), 2, (int64_t[]){2, 3}), 0, 1);
    int64_t want[6] = {0, 3, 1, 4, 2, 5};
    for (int k = 0; k < 6; k++) cr_assert_eq(lab_tensor_i64(ii)[k], want[k]);
    lab_scope_end();
}

Test(shape, permute_errors)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(1, 2, (int64_t[]){2, 3});
    cr_assert_null(lab_permute(a, (int[]){0, 0}));
    lt_assert_error_contains("permute: (0, 0) is not a permutation of the dims of f32[2, 3]");
    cr_assert_null(lab_permute(a, (int[]){0, 2}));
    lt_assert_error_contains("permute: (0, 2) is not a permutation");
    cr_assert_null(lab_transpose(a, 0, 2));
    lt_assert_error_contains("transpose: dim 2 is out of range for f32[2, 3]");
    lab_scope_end();
}

/* --- concat ----------------------------------------------------------------- */

Test(shape, concat_along_each_dim)
{
    lab_scope_begin();
    for (int dim = 0; dim < 3; dim++) {
        int64_t s0[3] = {2, 3, 4}, s1[3] = {2, 3, 4}, s2[3] = {2, 3, 4};
        s0[dim] = 1;
        s1[dim] = 0; /* an empty part is fine */
        s2[dim] = 3;
        lab_tensor *ts[3] = {lt_randn(1, 3, s0), lt_randn(2, 3, s1), lt_randn(3, 3, s2)};
        lab_tensor *y = lab_concat(3, ts, dim - 3); /* negative dims count from the end */
        int64_t want[3] = {2, 3, 4};
        want[dim] = 4;
        assert_shape(y, 3, want);
        const float *yv = lab_tensor_f32(y);
        for (int64_t i = 0; i < want[0]; i++)
            for (int64_t j = 0; j < want[1]; j++)
                for (int64_t k = 0; k < want[2]; k++) {
                    int64_t idx[3] = {i, j, k};
                    int part = idx[dim] < 1 ? 0 : 2;
                    if (part == 2) idx[dim] -= 1;
                    const lab_tensor *t = ts[part];
                    float want_v = lab_tensor_f32(t)[(idx[0] * t->shape[1] + idx[1]) * t->shape[2] + idx[2]];
                    cr_assert_eq(yv[(i * want[1] + j) * want[2] + k], want_v);
                }
    }
    lab_tensor *ii[2] = {lab_tensor_arange(2, LAB_CPU), lab_tensor_arange(3, LAB_CPU)};
    lab_tensor *c = lab_concat(2, ii, 0);
    int64_t want[5] = {0, 1, 0, 1, 2};
    for (int k = 0; k < 5; k++) cr_assert_eq(lab_tensor_i64(c)[k], want[k]);
    lab_scope_end();
}

Test(shape, concat_errors)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(1, 2, (int64_t[]){3, 4}), *b = lt_randn(2, 2, (int64_t[]){2, 4});
    cr_assert_null(lab_concat(2, (lab_tensor *[]){a, b}, 1));
    lt_assert_error_contains("concat: tensor 1 is f32[2, 4] on cpu but tensor 0 is f32[3, 4] on cpu (they may "
                             "differ only in dim 1)");
    cr_assert_null(lab_concat(2, (lab_tensor *[]){a, lab_tensor_arange(4, LAB_CPU)}, 0));
    lt_assert_error_contains("concat: tensor 1 is i64[4]");
    cr_assert_null(lab_concat(0, NULL, 0));
    lt_assert_error_contains("concat: no tensors given (n = 0)");
    cr_assert_null(lab_concat(1, (lab_tensor *[]){a}, 2));
    lt_assert_error_contains("concat: dim 2 is out of range for f32[3, 4]");
    lab_error_set("earlier");
    cr_assert_null(lab_concat(2, (lab_tensor *[]){a, NULL}, 0));
    cr_assert_str_eq(lab_error(), "earlier");
    lab_scope_end();
}

/* --- slice ------------------------------------------------------------------- */

Test(shape, slice_views_and_copies)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(1, 3, (int64_t[]){5, 3, 4});
    const float *av = lab_tensor_f32(a);
    /* dim 0: a view at an offset */
    lab_tensor *s0 = lab_slice(a, 0, 1, 3);
    assert_shape(s0, 3, (int64_t[]){2, 3, 4});
    cr_assert(shares(a, s0));
    cr_assert_eq(lab_tensor_f32(s0), av + 12);
    /* dim 1 and the last dim: copies with the right elements */
    lab_tensor *s1 = lab_slice(a, 1, 1, 3), *s2 = lab_slice(a, -1, -3, -1);
    assert_shape(s1, 3, (int64_t[]){5, 2, 4});
    assert_shape(s2, 3, (int64_t[]){5, 3, 2});
    cr_assert(!shares(a, s1));
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 2; j++)
            for (int k = 0; k < 4; k++) cr_assert_eq(lab_tensor_f32(s1)[(i * 2 + j) * 4 + k], av[(i * 3 + j + 1) * 4 + k]);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++) cr_assert_eq(lab_tensor_f32(s2)[(i * 3 + j) * 2 + k], av[(i * 3 + j) * 4 + k + 1]);
    /* leading dims of size 1 and the full range are views too */
    lab_tensor *one = lt_randn(2, 2, (int64_t[]){1, 6});
    cr_assert(shares(one, lab_slice(one, 1, 2, 5)));
    cr_assert(shares(a, lab_slice(a, 1, 0, 3)));
    /* empty and i64 */
    assert_shape(lab_slice(a, 2, 2, 2), 3, (int64_t[]){5, 3, 0});
    lab_tensor *li = lab_slice(lab_tensor_arange(10, LAB_CPU), 0, 7, 10);
    cr_assert_eq(lab_tensor_i64(li)[0], 7);
    cr_assert_eq(lab_tensor_i64(li)[2], 9);
    lab_scope_end();
}

Test(shape, slice_errors)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(1, 2, (int64_t[]){3, 4});
    cr_assert_null(lab_slice(a, 1, 2, 5));
    lt_assert_error_contains("slice: [2, 5) is out of range for dim 1 of f32[3, 4]");
    cr_assert_null(lab_slice(a, 0, 2, 1));
    lt_assert_error_contains("slice: [2, 1) is out of range for dim 0 of f32[3, 4]");
    cr_assert_null(lab_slice(a, 3, 0, 1));
    lt_assert_error_contains("slice: dim 3 is out of range for f32[3, 4]");
    lab_scope_end();
}

/* --- expand, sum_to ------------------------------------------------------------ */

Test(shape, expand_copies_broadcast_values)
{
    lab_scope_begin();
    lab_tensor *a = lab_tensor_from_f32((float[]){1, 2, 3}, 2, (int64_t[]){3, 1});
    lab_tensor *y = lab_expand(a, 3, (int64_t[]){2, -1, 2});
    assert_shape(y, 3, (int64_t[]){2, 3, 2});
    lt_assert_tensor_close(y, (float[]){1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}, 0, 0);
    cr_assert(!shares(a, y));
    lab_tensor *same = lab_expand(a, 2, (int64_t[]){3, 1});
    cr_assert(!shares(a, same)); /* documented as copying, even when nothing broadcasts */
    lab_tensor *big = lab_expand(lt_randn(2, 2, (int64_t[]){1, 70001}), 2, (int64_t[]){3, 70001});
    const float *b = lab_tensor_f32(big);
    for (int64_t j = 0; j < 70001; j++) cr_assert(b[j] == b[70001 + j] && b[j] == b[140002 + j]);
    cr_assert_null(lab_expand(lt_randn(1, 2, (int64_t[]){3, 2}), 2, (int64_t[]){3, 4}));
    lt_assert_error_contains("expand: cannot broadcast f32[3, 2] to [3, 4]");
    cr_assert_null(lab_expand(lt_randn(1, 2, (int64_t[]){3, 2}), 1, (int64_t[]){6}));
    lt_assert_error_contains("expand: cannot broadcast f32[3, 2] to 1 dims");
    lab_scope_end();
}

/* Naive broadcast-sum of g into `shape`. */
static void ref_sum_to(const lab_tensor *g, int nd, const int64_t *shape, float *out)
{
    int64_t n = 1;
    for (int i = 0; i < nd; i++) n *= shape[i];
    double *acc = calloc((size_t)(n ? n : 1), sizeof *acc);
    const float *gv = lab_tensor_f32(g);
    for (int64_t j = 0; j < g->numel; j++) {
        int64_t rem = j, off = 0, st = 1;
        for (int i = g->ndim - 1; i >= 0; i--) {
            int64_t idx = rem % g->shape[i];
            rem /= g->shape[i];
            int k = i - (g->ndim - nd);
            if (k >= 0) {
                off += (shape[k] == 1 ? 0 : idx) * st;
                st *= shape[k];
            }
        }
        acc[off] += gv[j];
    }
    for (int64_t i = 0; i < n; i++) out[i] = (float)acc[i];
    free(acc);
}

Test(shape, sum_to_matches_reference_on_random_shapes)
{
    lab_rng r = lab_rng_make(5, 0);
    for (int trial = 0; trial < 150; trial++) {
        lab_scope_begin();
        int nd = (int)rnd(&r, 6);
        int64_t shape[LAB_MAX_DIMS], tgt[LAB_MAX_DIMS];
        for (int i = 0; i < nd; i++) shape[i] = rnd(&r, 15) == 0 ? 0 : 1 + rnd(&r, 4);
        int tn = nd - (int)rnd(&r, nd + 1);
        for (int i = 0; i < tn; i++) tgt[i] = rnd(&r, 2) ? 1 : shape[nd - tn + i];
        lab_tensor *g = lt_randn(20 + (uint64_t)trial, nd, shape);
        lab_tensor *y = lab_sum_to(g, tn, tgt);
        assert_shape(y, tn, tgt);
        float *ref = malloc((size_t)(y->numel ? y->numel : 1) * sizeof *ref);
        ref_sum_to(g, tn, tgt, ref);
        lt_assert_tensor_close(y, ref, 1e-5, 1e-5);
        free(ref);
        lab_scope_end();
    }
}

Test(shape, sum_to_cases_and_views)
{
    lab_scope_begin();
    /* nothing to add up: the gradient's own storage comes back */
    lab_tensor *g = lt_randn(1, 2, (int64_t[]){4, 5});
    lab_tensor *v = lab_sum_to(g, 2, (int64_t[]){4, 5});
    cr_assert(shares(g, v));
    lt_assert_tensor_close(v, lab_tensor_f32(g), 0, 0);
    lab_tensor *g1 = lt_randn(3, 3, (int64_t[]){1, 4, 5});
    cr_assert(shares(g1, lab_sum_to(g1, 2, (int64_t[]){4, 5})));
    /* bias gradient, per-row sums, alternating kept and summed dims, scalar,
     * and sizes above the parallel threshold */
    struct {
        int gn, tn;
        int64_t g[4], t[4];
    } cases[] = {
        {2, 1, {128, 256}, {256}},           {2, 2, {128, 256}, {128, 1}},
        {4, 3, {2, 3, 4, 5}, {3, 1, 5}},     {4, 4, {2, 3, 4, 5}, {1, 3, 1, 1}},
        {2, 0, {4, 5}, {0}},                 {2, 1, {600, 300}, {300}},
        {3, 3, {40, 50, 60}, {40, 1, 60}},   {2, 2, {70000, 2}, {1, 1}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lab_tensor *x = lt_randn(40 + c, cases[c].gn, cases[c].g);
        lab_tensor *y = lab_sum_to(x, cases[c].tn, cases[c].t);
        assert_shape(y, cases[c].tn, cases[c].t);
        float *ref = malloc((size_t)y->numel * sizeof *ref);
        ref_sum_to(x, cases[c].tn, cases[c].t, ref);
        lt_assert_tensor_close(y, ref, 1e-4, 1e-5);
        free(ref);
    }
    cr_assert_null(lab_sum_to(g, 1, (int64_t[]){4}));
    lt_assert_error_contains("sum_to: cannot sum f32[4, 5] down to [4] (not broadcast-compatible)");
    cr_assert_null(lab_sum_to(g, 3, (int64_t[]){2, 4, 5}));
    lt_assert_error_contains("sum_to: cannot sum f32[4, 5] down to [2, 4, 5]");
    cr_assert_null(lab_sum_to(lab_tensor_arange(3, LAB_CPU), 0, NULL));
    lt_assert_error_contains("sum_to: input must be f32, got i64[3]");
    lab_scope_end();
}

/* --- the strided_copy kernel against its reference ------------------------------ */

Test(shape, strided_copy_kernel_matches_reference)
{
    const lab_backend *be = lab_backend_cpu();
    lab_rng r = lab_rng_make(9, 0);
    size_t elems[3] = {4, 8, 2};
    for (int trial = 0; trial < 90; trial++) {
        size_t e = elems[trial % 3];
        int nd = (int)rnd(&r, 5);
        int64_t shape[LAB_MAX_DIMS], ss[LAB_MAX_DIMS], ds[LAB_MAX_DIMS];
        int64_t n = 1;
        for (int i = 0; i < nd; i++) {
            shape[i] = 1 + rnd(&r, 5);
            n *= shape[i];
        }
        /* source: random permuted strides, some 0 (broadcast); destination:
         * contiguous or permuted */
        int64_t sn = 1, dn = 1;
        for (int i = nd - 1; i >= 0; i--) {
            ss[i] = rnd(&r, 4) == 0 ? 0 : sn;
            sn *= shape[i] + (int64_t)rnd(&r, 2);
        }
        int swap = nd >= 2 && rnd(&r, 2);
        int64_t tmp[LAB_MAX_DIMS];
        for (int i = nd - 1; i >= 0; i--) {
            tmp[i] = dn;
            dn *= shape[i];
        }
        for (int i = 0; i < nd; i++) ds[i] = tmp[i];
        if (swap) { /* write the first two dims transposed */
            int64_t inner = tmp[1];
            ds[0] = inner;
            ds[1] = inner * shape[0];
        }
        unsigned char *src = malloc((size_t)sn * e), *d1 = calloc((size_t)n, e), *d2 = calloc((size_t)n, e);
        for (int64_t i = 0; i < sn * (int64_t)e; i++) src[i] = (unsigned char)lab_rng_next_u32(&r);
        be->strided_copy(nd, shape, e, d1, ds, src, ss);
        lab_ref_strided_copy(nd, shape, e, d2, ds, src, ss);
        cr_assert(memcmp(d1, d2, (size_t)n * e) == 0, "trial %d (elem %zu, %d dims)", trial, e, nd);
        free(src);
        free(d1);
        free(d2);
    }
}

/* Transposes big enough for the tiled path, every element size. */
Test(shape, strided_copy_tiled_transposes_match_reference)
{
    const lab_backend *be = lab_backend_cpu();
    struct {
        int nd;
        int64_t shape[4];
        int perm[4];
    } cases[] = {
        {2, {37, 50}, {1, 0}},          {3, {3, 17, 40}, {0, 2, 1}},   {3, {20, 3, 33}, {2, 1, 0}},
        {4, {10, 12, 9, 11}, {0, 3, 2, 1}}, {3, {64, 64, 2}, {1, 0, 2}}, {2, {8, 300}, {1, 0}},
    };
    size_t elems[3] = {4, 8, 2};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int k = 0; k < 3; k++) {
            int nd = cases[c].nd;
            int64_t own[4], out[4], ss[4], ds[4], n = 1;
            for (int i = nd - 1; i >= 0; i--) {
                own[i] = n;
                n *= cases[c].shape[i];
            }
            for (int i = 0; i < nd; i++) {
                out[i] = cases[c].shape[cases[c].perm[i]];
                ss[i] = own[cases[c].perm[i]];
            }
            int64_t m = 1;
            for (int i = nd - 1; i >= 0; i--) {
                ds[i] = m;
                m *= out[i];
            }
            size_t e = elems[k];
            unsigned char *src = malloc((size_t)n * e), *d1 = malloc((size_t)n * e), *d2 = malloc((size_t)n * e);
            for (int64_t i = 0; i < n * (int64_t)e; i++) src[i] = (unsigned char)(i * 7 + i / 251);
            be->strided_copy(nd, out, e, d1, ds, src, ss);
            lab_ref_strided_copy(nd, out, e, d2, ds, src, ss);
            cr_assert(memcmp(d1, d2, (size_t)n * e) == 0, "case %zu elem %zu", c, e);
            free(src);
            free(d1);
            free(d2);
        }
    }
}

/* --- gradchecks ------------------------------------------------------------------- */

typedef struct {
    int kind, dim;
    int64_t a, b;
    int ndim;
    int64_t shape[4];
    int perm[4];
} shape_case;

static lab_tensor *gc_shape(lab_tensor *const *in, void *user)
{
    const shape_case *c = user;
    switch (c->kind) {
    case 0: return lab_reshape(in[0], c->ndim, c->shape);
    case 1: return lab_flatten(in[0], (int)c->a, (int)c->b);
    case 2: return lab_permute(in[0], c->perm);
    case 3: return lab_transpose(in[0], (int)c->a, (int)c->b);
    case 4: return lab_concat(3, in, c->dim);
    case 5: return lab_slice(in[0], c->dim, c->a, c->b);
    case 6: return lab_expand(in[0], c->ndim, c->shape);
    case 7: return lab_sum_to(in[0], c->ndim, c->shape);
    }
    return NULL;
}

Test(shape, gradcheck_every_shape_op)
{
    /* Each case's output is multiplied through the random projection, so a
     * backward that misplaces elements fails. */
    struct {
        shape_case c;
        int nin;
        int in_nd;
        int64_t in_shape[3][4];
    } cases[] = {
        {{0, 0, 0, 0, 2, {3, 4}}, 1, 3, {{2, 3, 2}}},
        {{1, 0, 1, 2}, 1, 3, {{2, 3, 2}}},
        {{2, 0, 0, 0, 0, {0}, {2, 0, 1}}, 1, 3, {{2, 3, 4}}},
        {{3, 0, 0, 2}, 1, 3, {{2, 3, 4}}},
        {{4, 1}, 3, 2, {{2, 1}, {2, 3}, {2, 2}}},
        {{4, 0}, 3, 2, {{1, 3}, {2, 3}, {1, 3}}},
        {{5, 1, 1, 3}, 1, 3, {{2, 4, 2}}},
        {{5, 0, 1, 2}, 1, 2, {{3, 4}}},
        {{6, 0, 0, 0, 3, {2, 3, 4}}, 1, 2, {{3, 1}}},
        {{7, 0, 0, 0, 2, {3, 1}}, 1, 3, {{2, 3, 4}}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        lab_scope_begin();
        lab_tensor *in[3];
        for (int i = 0; i < cases[k].nin; i++) {
            in[i] = lt_randn(70 + k * 3 + (uint64_t)i, cases[k].in_nd, cases[k].in_shape[i]);
            lab_tensor_set_requires_grad(in[i], 1);
        }
        int rc = lab_gradcheck(gc_shape, cases[k].nin, in, &cases[k].c, 1e-2, 1e-3, 1e-3);
        cr_assert_eq(rc, 0, "case %zu (kind %d): %s", k, cases[k].c.kind, lab_error());
        lab_scope_end();
    }
}

/* Backward through a view: the gradient lands in the base tensor's shape. */
Test(shape, backward_through_views)
{
    lab_scope_begin();
    lab_tensor *x = lt_randn(1, 2, (int64_t[]){4, 3});
    lab_tensor_set_requires_grad(x, 1);
    lab_tensor *top = lab_slice(x, 0, 1, 3);                       /* a view */
    lab_tensor *flat = lab_reshape(top, 1, (int64_t[]){6});        /* a view of a view */
    lab_tensor *w = lab_tensor_from_f32((float[]){1, 2, 3, 4, 5, 6}, 1, (int64_t[]){6});
    cr_assert_eq(lab_backward(lab_sum_all(lab_mul(flat, w))), 0, "%s", lab_error());
    lt_assert_tensor_close(x->grad, (float[]){0, 0, 0, 1, 2, 3, 4, 5, 6, 0, 0, 0}, 0, 0);
    lab_scope_end();
}
