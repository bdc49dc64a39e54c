/* CSR matrices, spmm and the segment ops, against dense and plain C
 * references (kernels/cpu/ref_index.c). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "labtest.h"
#include "ref_index.h"

/* A random CSR [rows, cols] with about `density` of its entries set, some
 * rows empty, plus its dense copy (duplicates of a column are summed). */
typedef struct {
    int64_t rows, cols, nnz;
    int64_t *rowptr, *colind;
    float *vals, *dense;
} graph;

static graph graph_random(uint64_t seed, int64_t rows, int64_t cols, double density)
{
    graph g = {rows, cols, 0, NULL, NULL, NULL, NULL};
    lab_rng r = lab_rng_make(seed, 5);
    g.rowptr = calloc((size_t)rows + 1, sizeof *g.rowptr);
    int64_t cap = rows * cols + 1;
    g.colind = malloc((size_t)cap * sizeof *g.colind);
    g.vals = malloc((size_t)cap * sizeof *g.vals);
    g.dense = calloc((size_t)(rows * cols + 1), sizeof *g.dense);
    for (int64_t i = 0; i < rows; i++) {
        int empty = lab_rng_next_uniform(&r) < 0.2;
        for (int64_t j = 0; j < cols && !empty; j++) {
            if (lab_rng_next_uniform(&r) >= density) continue;
            float v = (float)(lab_rng_next_uniform(&r) * 2 - 1);
            g.colind[g.nnz] = j;
            g.vals[g.nnz++] = v;
            g.dense[i * cols + j] += v;
        }
        g.rowptr[i + 1] = g.nnz;
    }
    return g;
}

static void graph_free(graph *g)
{
    free(g->rowptr);
    free(g->colind);
    free(g->vals);
    free(g->dense);
}

/* y [rows, f] = dense(A) x, or Aᵀ x when trans. */
static void dense_mm(const graph *g, int trans, const float *x, int64_t f, float *y)
{
    int64_t m = trans ? g->cols : g->rows, k = trans ? g->rows : g->cols;
    for (int64_t i = 0; i < m; i++)
        for (int64_t c = 0; c < f; c++) {
            double s = 0;
            for (int64_t j = 0; j < k; j++)
                s += (double)(trans ? g->dense[j * g->cols + i] : g->dense[i * g->cols + j]) * x[j * f + c];
            y[i * f + c] = (float)s;
        }
}

/* --- CSR --------------------------------------------------------------------- */

Test(sparse, csr_new_copies_and_defaults_values_to_one)
{
    int64_t rowptr[4] = {0, 2, 2, 3}, colind[3] = {1, 3, 0};
    lab_csr *a = lab_csr_new(3, 4, 3, rowptr, colind, NULL, LAB_CPU);
    cr_assert_not_null(a, "%s", lab_error());
    rowptr[1] = 99; /* the CSR holds its own copy */
    cr_assert_eq(lab_tensor_i64(a->rowptr)[1], 2);
    lt_assert_tensor_close(a->values, (float[]){1, 1, 1}, 0, 0);
    cr_assert(a->rows == 3 && a->cols == 4 && a->nnz == 3 && a->transpose == NULL);
    lab_csr *b = lab_csr_to(a, LAB_CPU);
    cr_assert_not_null(b, "%s", lab_error());
    cr_assert(b->rowptr != a->rowptr && lab_tensor_i64(b->colind)[2] == 0);
    cr_assert_eq(lab_csr_retain(b), b);
    lab_csr_release(b);
    lab_csr_release(b);
    lab_csr_release(a);
    lab_csr *empty = lab_csr_new(0, 0, 0, (int64_t[]){0}, NULL, NULL, LAB_CPU);
    cr_assert_not_null(empty, "%s", lab_error());
    lab_csr_release(empty);
}

Test(sparse, csr_new_rejects_bad_structure)
{
    cr_assert_null(lab_csr_new(3, 4, 3, (int64_t[]){0, 2, 1, 3}, (int64_t[]){0, 1, 2}, NULL, LAB_CPU));
    lt_assert_error_contains("csr_new: rowptr decreases at row 1 (rowptr[1] = 2 > rowptr[2] = 1)");
    cr_assert_null(lab_csr_new(2, 4, 3, (int64_t[]){0, 2, 3}, (int64_t[]){0, 4, 2}, NULL, LAB_CPU));
    lt_assert_error_contains("csr_new: column id 4 at position 1 is out of range [0, 4)");
    cr_assert_null(lab_csr_new(2, 4, 3, (int64_t[]){0, 2, 3}, (int64_t[]){0, -1, 2}, NULL, LAB_CPU));
    lt_assert_error_contains("csr_new: column id -1 at position 1");
    cr_assert_null(lab_csr_new(2, 4, 3, (int64_t[]){1, 2, 3}, (int64_t[]){0, 1, 2}, NULL, LAB_CPU));
    lt_assert_error_contains("csr_new: rowptr[0] is 1, expected 0");
    cr_assert_null(lab_csr_new(2, 4, 3, (int64_t[]){0, 2, 2}, (int64_t[]){0, 1, 2}, NULL, LAB_CPU));
    lt_assert_error_contains("csr_new: rowptr[2] = 2 but nnz = 3");
    cr_assert_null(lab_csr_new(-1, 4, 0, (int64_t[]){0}, NULL, NULL, LAB_CPU));
    lt_assert_error_contains("csr_new: negative size");
    cr_assert_null(lab_csr_new(2, 4, 3, NULL, (int64_t[]){0, 1, 2}, NULL, LAB_CPU));
    lt_assert_error_contains("csr_new: rowptr is NULL");
    cr_assert_null(lab_csr_new(2, 4, 3, (int64_t[]){0, 2, 3}, NULL, NULL, LAB_CPU));
    lt_assert_error_contains("csr_new: colind is NULL");
}

/* --- spmm -------------------------------------------------------------------- */

Test(sparse, spmm_matches_dense_matmul)
{
    lab_scope_begin();
    const int64_t dims[][3] = {{13, 9, 5}, {1, 1, 1}, {30, 40, 17}, {6, 8, 0}, {0, 4, 3}, {5, 0, 2}};
    for (size_t t = 0; t < sizeof dims / sizeof dims[0]; t++) {
        graph g = graph_random(10 + t, dims[t][0], dims[t][1], 0.3);
        lab_csr *a = lab_csr_new(g.rows, g.cols, g.nnz, g.rowptr, g.colind, g.vals, LAB_CPU);
        cr_assert_not_null(a, "%s", lab_error());
        int64_t f = dims[t][2];
        lab_tensor *x = lt_randn(20 + t, 2, (int64_t[]){g.cols, f});
        lab_tensor *y = lab_spmm(a, x);
        cr_assert_not_null(y, "%s", lab_error());
        cr_assert(y->ndim == 2 && y->shape[0] == g.rows && y->shape[1] == f);
        float *want = calloc((size_t)(g.rows * f + 1), sizeof *want);
        dense_mm(&g, 0, lab_tensor_f32(x), f, want);
        lt_assert_tensor_close(y, want, 1e-5, 1e-5);
        free(want);
        lab_csr_release(a);
        graph_free(&g);
    }
    lab_scope_end();
}

Test(sparse, spmm_vector_and_repeated_columns)
{
    lab_scope_begin();
    /* row 0 lists column 1 twice: the entries add. */
    lab_csr *a = lab_csr_new(2, 3, 3, (int64_t[]){0, 2, 3}, (int64_t[]){1, 1, 2}, (float[]){2, 3, -1}, LAB_CPU);
    lab_tensor *x = lab_tensor_from_f32((float[]){1, 10, 100}, 1, (int64_t[]){3});
    lab_tensor *y = lab_spmm(a, x);
    cr_assert_not_null(y, "%s", lab_error());
    cr_assert_eq(y->ndim, 1);
    lt_assert_tensor_close(y, (float[]){50, -100}, 0, 0);
    lab_csr_release(a); /* the result does not need the CSR */
    lab_scope_end();
}

Test(sparse, spmm_backward_is_transpose_and_cached)
{
    lab_scope_begin();
    graph g = graph_random(30, 17, 11, 0.25);
    lab_csr *a = lab_csr_new(g.rows, g.cols, g.nnz, g.rowptr, g.colind, g.vals, LAB_CPU);
    int64_t f = 4;
    lab_tensor *x = lt_randn(31, 2, (int64_t[]){g.cols, f});
    lab_tensor_set_requires_grad(x, 1);
    lab_tensor *gy = lt_randn(32, 2, (int64_t[]){g.rows, f});
    cr_assert_null(a->transpose);
    cr_assert_eq(lab_backward_with(lab_spmm(a, x), gy), 0, "%s", lab_error());
    lab_csr *at = a->transpose;
    cr_assert_not_null(at);
    cr_assert(at->rows == g.cols && at->cols == g.rows && at->nnz == g.nnz);
    float *want = calloc((size_t)(g.cols * f), sizeof *want);
    dense_mm(&g, 1, lab_tensor_f32(gy), f, want);
    lt_assert_tensor_close(x->grad, want, 1e-5, 1e-5);
    /* a second backward reuses the cached transpose and accumulates */
    cr_assert_eq(lab_backward_with(lab_spmm(a, x), gy), 0, "%s", lab_error());
    cr_assert_eq(a->transpose, at);
    for (int64_t i = 0; i < g.cols * f; i++) want[i] *= 2;
    lt_assert_tensor_close(x->grad, want, 1e-5, 1e-5);
    lab_tensor_zero_grad(x);
    free(want);
    lab_csr_release(a);
    graph_free(&g);
    lab_scope_end();
}

Test(sparse, spmm_graph_outlives_csr_release)
{
    /* The recorded node keeps the CSR alive until backward. */
    lab_scope_begin();
    lab_csr *a = lab_csr_new(2, 2, 2, (int64_t[]){0, 1, 2}, (int64_t[]){1, 0}, (float[]){3, 5}, LAB_CPU);
    lab_tensor *x = lab_tensor_from_f32((float[]){1, 2}, 1, (int64_t[]){2});
    lab_tensor_set_requires_grad(x, 1);
    lab_tensor *y = lab_spmm(a, x);
    lab_csr_release(a);
    cr_assert_eq(lab_backward_with(y, lab_tensor_from_f32((float[]){1, 10}, 1, (int64_t[]){2})), 0, "%s",
                 lab_error());
    lt_assert_tensor_close(x->grad, (float[]){50, 3}, 0, 0);
    lab_tensor_zero_grad(x);
    lab_scope_end();
}

static lab_tensor *f_spmm(lab_tensor *const *in, void *user) { return lab_spmm(user, in[0]); }

Test(sparse, spmm_gradcheck)
{
    lab_scope_begin();
    graph g = graph_random(40, 7, 6, 0.4);
    lab_csr *a = lab_csr_new(g.rows, g.cols, g.nnz, g.rowptr, g.colind, g.vals, LAB_CPU);
    lab_tensor *x = lt_randn(41, 2, (int64_t[]){g.cols, 3});
    lab_tensor_set_requires_grad(x, 1);
    cr_assert_eq(lab_gradcheck(f_spmm, 1, &x, a, 1e-2, 1e-3, 1e-3), 0, "%s", lab_error());
    lab_csr_release(a);
    graph_free(&g);
    lab_scope_end();
}

Test(sparse, spmm_bad_inputs)
{
    lab_scope_begin();
    lab_csr *a = lab_csr_new(2, 3, 1, (int64_t[]){0, 1, 1}, (int64_t[]){2}, NULL, LAB_CPU);
    cr_assert_null(lab_spmm(a, lt_randn(50, 2, (int64_t[]){4, 2})));
    lt_assert_error_contains("spmm: A is [2, 3] (CSR, nnz 1) but x is f32[4, 2]");
    cr_assert_null(lab_spmm(a, lt_randn(50, 3, (int64_t[]){3, 2, 2})));
    lt_assert_error_contains("spmm: A is [2, 3]");
    cr_assert_null(lab_spmm(a, lab_tensor_zeros(LAB_I64, 2, (int64_t[]){3, 2}, LAB_CPU)));
    lt_assert_error_contains("spmm: x must be f32, got i64[3, 2]");
    cr_assert_null(lab_spmm(NULL, lt_randn(50, 2, (int64_t[]){3, 2})));
    cr_assert_null(lab_spmm(a, NULL));
    lab_csr_release(a);
    lab_csr_release(NULL);
    cr_assert_null(lab_csr_retain(NULL));
    cr_assert_null(lab_csr_to(NULL, LAB_CPU));
    lab_scope_end();
}

/* The CPU kernel works in blocks of 64 columns, four nonzeros at a time,
 * over parts of equal nnz taken by a variable number of threads. Whatever
 * the blocking, unrolling and thread count, each element must be the plain
 * float sum in nonzero order: widths around the block size, rows of 0..11
 * nonzeros (every unroll remainder), one row holding a third of the
 * nonzeros, serial (small f) and parallel sizes. */
Test(sparse, spmm_blocked_kernel_bitwise_equals_serial_loop)
{
    lab_scope_begin();
    const lab_backend *be = lab_backend_cpu();
    int64_t rows = 700, cols = 300, cap = 12 * rows + 2000, nnz = 0;
    int64_t *rowptr = malloc((size_t)(rows + 1) * sizeof *rowptr), *colind = malloc((size_t)cap * sizeof *colind);
    float *vals = malloc((size_t)cap * sizeof *vals);
    lab_rng r = lab_rng_make(120, 0);
    rowptr[0] = 0;
    for (int64_t i = 0; i < rows; i++) {
        int64_t deg = i == 350 ? 2000 : i % 12;
        for (int64_t k = 0; k < deg; k++) {
            colind[nnz] = (int64_t)lab_rng_next_below(&r, (uint64_t)cols);
            vals[nnz++] = (float)(lab_rng_next_uniform(&r) * 2 - 1);
        }
        rowptr[i + 1] = nnz;
    }
    const int64_t widths[] = {1, 3, 16, 63, 64, 65, 130, 200};
    const int threads[] = {1, 2, 3, 8};
    int saved = omp_get_max_threads();
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        int64_t f = widths[wi];
        lab_tensor *x = lt_randn(121 + wi, 2, (int64_t[]){cols, f});
        const float *xv = lab_tensor_f32(x);
        float *want = malloc((size_t)(rows * f) * sizeof *want), *got = malloc((size_t)(rows * f) * sizeof *got);
        for (int64_t i = 0; i < rows; i++)
            for (int64_t c = 0; c < f; c++) {
                float s = 0.0f;
                for (int64_t k = rowptr[i]; k < rowptr[i + 1]; k++) s += vals[k] * xv[colind[k] * f + c];
                want[i * f + c] = s;
            }
        for (size_t ti = 0; ti < sizeof threads / sizeof threads[0]; ti++) {
            omp_set_num_threads(threads[ti]);
            memset(got, 0xff, (size_t)(rows * f) * sizeof *got); /* NaN: every element must be written */
            be->spmm(rows, cols, f, rowptr[rows], rowptr, colind, vals, xv, got);
            for (int64_t i = 0; i < rows * f; i++)
                cr_assert(memcmp(&got[i], &want[i], sizeof *got) == 0, "f %lld, %d threads, row %lld col %lld: %g vs %g",
                          (long long)f, threads[ti], (long long)(i / f), (long long)(i % f), got[i], want[i]);
        }
        omp_set_num_threads(saved);
        /* and the serial loop is the double-accumulating reference up to
         * float rounding (the 2000-term row needs the looser atol) */
        float *rf = malloc((size_t)(rows * f) * sizeof *rf);
        lab_ref_spmm(rows, cols, f, rowptr, colind, vals, xv, rf);
        lt_assert_close(want, rf, rows * f, 1e-3, 1e-4);
        free(rf);
        free(want);
        free(got);
    }
    free(rowptr);
    free(colind);
    free(vals);
    lab_scope_end();
}

/* --- segments ------------------------------------------------------------------ */

/* Unsorted ids over nseg segments where some segments get no rows. */
static lab_tensor *random_segments(uint64_t seed, int64_t n, int64_t nseg)
{
    lab_tensor *seg = lt_randint(seed, 1, &n, nseg);
    int64_t *s = lab_tensor_i64(seg);
    for (int64_t i = 0; i < n; i++)
        if (s[i] % 3 == 1) s[i] = (s[i] + 1) % nseg; /* segments 1, 4, 7, ... stay empty */
    return seg;
}

Test(sparse, segment_sum_and_max_match_reference)
{
    lab_scope_begin();
    const int64_t cases[][3] = {{50, 8, 3}, {9, 1, 1}, {0, 4, 2}, {40, 10, 0}, {200, 7, 33}};
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
        int64_t n = cases[t][0], nseg = cases[t][1], f = cases[t][2];
        lab_tensor *x = lt_randn(60 + t, 2, (int64_t[]){n, f});
        lab_tensor *seg = random_segments(70 + t, n, nseg);
        float *want = calloc((size_t)(nseg * f + 1), sizeof *want);
        lab_ref_segment_reduce(LAB_RED_SUM, n, f, want, NULL, lab_tensor_f32(x), lab_tensor_i64(seg), nseg);
        lab_tensor *y = lab_segment_sum(x, seg, nseg);
        cr_assert_not_null(y, "%s", lab_error());
        cr_assert(y->shape[0] == nseg && y->shape[1] == f);
        lt_assert_tensor_close(y, want, 0, 0);
        lab_ref_segment_reduce(LAB_RED_MAX, n, f, want, NULL, lab_tensor_f32(x), lab_tensor_i64(seg), nseg);
        lt_assert_tensor_close(lab_segment_max(x, seg, nseg), want, 0, 0);
        free(want);
    }
    lab_scope_end();
}

Test(sparse, segment_mean_known_values_and_empty_segments)
{
    lab_scope_begin();
    /* x [5, 2], ids unsorted, segment 1 empty */
    lab_tensor *x = lab_tensor_from_f32((float[]){1, 2, 3, 4, 5, 6, 7, 8, -9, 10}, 2, (int64_t[]){5, 2});
    lab_tensor *seg = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){5}, (int64_t[]){2, 0, 2, 2, 0}, LAB_CPU);
    lt_assert_tensor_close(lab_segment_mean(x, seg, 3), (float[]){-3, 7, 0, 0, 13.0f / 3, 16.0f / 3}, 1e-6, 1e-6);
    lt_assert_tensor_close(lab_segment_sum(x, seg, 3), (float[]){-6, 14, 0, 0, 13, 16}, 0, 0);
    lt_assert_tensor_close(lab_segment_max(x, seg, 3), (float[]){3, 10, 0, 0, 7, 8}, 0, 0);
    /* trailing dims are features: x [5, 1, 2] gives [3, 1, 2] */
    lab_tensor *v = lab_tensor_from_data(LAB_F32, 3, (int64_t[]){5, 1, 2}, lab_tensor_f32(x), LAB_CPU);
    lab_tensor *y = lab_segment_mean(v, seg, 3);
    cr_assert_not_null(y, "%s", lab_error());
    cr_assert(y->ndim == 3 && y->shape[0] == 3 && y->shape[1] == 1 && y->shape[2] == 2);
    /* 1-D x */
    lab_tensor *x1 = lab_tensor_from_f32((float[]){1, 2, 3, 4, 5}, 1, (int64_t[]){5});
    lt_assert_tensor_close(lab_segment_mean(x1, seg, 4), (float[]){3.5f, 0, 8.0f / 3, 0}, 1e-6, 1e-6);
    lab_scope_end();
}

Test(sparse, segment_backward_known_values)
{
    lab_scope_begin();
    lab_tensor *x = lab_tensor_from_f32((float[]){1, 5, 3, -2, 4}, 1, (int64_t[]){5});
    lab_tensor_set_requires_grad(x, 1);
    lab_tensor *seg = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){5}, (int64_t[]){2, 0, 2, 0, 2}, LAB_CPU);
    lab_tensor *g = lab_tensor_from_f32((float[]){10, 20, 30}, 1, (int64_t[]){3});
    cr_assert_eq(lab_backward_with(lab_segment_sum(x, seg, 3), g), 0, "%s", lab_error());
    lt_assert_tensor_close(x->grad, (float[]){30, 10, 30, 10, 30}, 0, 0);
    lab_tensor_zero_grad(x);
    cr_assert_eq(lab_backward_with(lab_segment_mean(x, seg, 3), g), 0, "%s", lab_error());
    lt_assert_tensor_close(x->grad, (float[]){10, 5, 10, 5, 10}, 1e-6, 1e-6);
    lab_tensor_zero_grad(x);
    /* max: the whole gradient goes to the argmax row; empty segment 1's
     * gradient (20) goes nowhere */
    cr_assert_eq(lab_backward_with(lab_segment_max(x, seg, 3), g), 0, "%s", lab_error());
    lt_assert_tensor_close(x->grad, (float[]){0, 10, 0, 0, 30}, 0, 0);
    lab_tensor_zero_grad(x);
    lab_scope_end();
}

typedef struct {
    lab_tensor *seg;
    int64_t nseg;
    int which;
} seg_case;

static lab_tensor *f_segment(lab_tensor *const *in, void *user)
{
    seg_case *c = user;
    switch (c->which) {
    case 0: return lab_segment_sum(in[0], c->seg, c->nseg);
    case 1: return lab_segment_mean(in[0], c->seg, c->nseg);
    case 2: return lab_segment_max(in[0], c->seg, c->nseg);
    default: return lab_segment_softmax(in[0], c->seg, c->nseg);
    }
}

Test(sparse, segment_gradcheck)
{
    lab_scope_begin();
    int64_t n = 23, f = 3, nseg = 8;
    lab_tensor *seg = random_segments(80, n, nseg);
    /* distinct values, spaced well beyond eps, so max has a unique argmax */
    lab_rng r = lab_rng_make(81, 0);
    lab_tensor *perm = lab_rng_randperm(&r, n * f);
    lab_tensor *x = lab_tensor_empty(LAB_F32, 2, (int64_t[]){n, f}, LAB_CPU);
    for (int64_t i = 0; i < n * f; i++) lab_tensor_f32(x)[i] = 0.1f * (float)lab_tensor_i64(perm)[i] - 3.0f;
    lab_tensor_set_requires_grad(x, 1);
    for (int which = 0; which < 4; which++) {
        seg_case c = {seg, nseg, which};
        cr_assert_eq(lab_gradcheck(f_segment, 1, &x, &c, 1e-3, 1e-3, 1e-2), 0, "op %d: %s", which, lab_error());
    }
    lab_scope_end();
}

Test(sparse, segment_softmax_matches_reference_and_is_stable)
{
    lab_scope_begin();
    int64_t n = 40, h = 3, nseg = 9;
    lab_tensor *seg = random_segments(90, n, nseg);
    lab_tensor *x = lt_randn(91, 2, (int64_t[]){n, h});
    float *xv = lab_tensor_f32(x);
    for (int64_t i = 0; i < n * h; i++) xv[i] = xv[i] * 5 + (i % 2 ? 900.0f : -900.0f); /* exp would overflow */
    lab_tensor *y = lab_segment_softmax(x, seg, nseg);
    cr_assert_not_null(y, "%s", lab_error());
    cr_assert(lab_tensor_same_shape(x, y));
    float want[120];
    const int64_t *s = lab_tensor_i64(seg);
    for (int64_t k = 0; k < h; k++)
        for (int64_t i = 0; i < n; i++) {
            double m = -INFINITY, z = 0;
            for (int64_t j = 0; j < n; j++)
                if (s[j] == s[i] && xv[j * h + k] > m) m = xv[j * h + k];
            for (int64_t j = 0; j < n; j++)
                if (s[j] == s[i]) z += exp((double)xv[j * h + k] - m);
            want[i * h + k] = (float)(exp((double)xv[i * h + k] - m) / z);
        }
    lt_assert_tensor_close(y, want, 1e-6, 1e-5);
    /* 1-D x: each segment sums to one */
    lab_tensor *x1 = lt_randn(92, 1, &n);
    lab_tensor *y1 = lab_segment_softmax(x1, seg, nseg);
    lab_tensor *tot = lab_segment_sum(y1, seg, nseg);
    const float *tv = lab_tensor_f32(tot);
    for (int64_t i = 0; i < nseg; i++) {
        int used = 0;
        for (int64_t j = 0; j < n; j++) used |= s[j] == i;
        cr_assert_float_eq(tv[i], used ? 1.0f : 0.0f, 1e-6, "segment %lld", (long long)i);
    }
    lab_scope_end();
}

Test(sparse, segment_reduce_parallel_sizes_bitwise_equal_reference)
{
    lab_scope_begin();
    const lab_backend *be = lab_backend_cpu();
    int64_t n = 3000, f = 40, nseg = 97;
    lab_tensor *x = lt_randn(100, 2, (int64_t[]){n, f});
    lab_tensor *seg = random_segments(101, n, nseg);
    /* ties: copy some rows so MAX must keep the first */
    float *xv = lab_tensor_f32(x);
    for (int64_t i = 1; i < n; i += 7) memcpy(xv + i * f, xv + (i - 1) * f, (size_t)f * sizeof *xv);
    float *y1 = malloc((size_t)(nseg * f) * sizeof *y1), *y2 = malloc((size_t)(nseg * f) * sizeof *y2);
    int64_t *a1 = malloc((size_t)(nseg * f) * sizeof *a1), *a2 = malloc((size_t)(nseg * f) * sizeof *a2);
    for (int op = 0; op < 3; op++) {
        lab_reduce_op rop = op == 0 ? LAB_RED_SUM : op == 1 ? LAB_RED_MAX : LAB_RED_MIN;
        be->segment_reduce(rop, n, f, y1, a1, xv, lab_tensor_i64(seg), nseg);
        lab_ref_segment_reduce(rop, n, f, y2, a2, xv, lab_tensor_i64(seg), nseg);
        for (int64_t i = 0; i < nseg * f; i++) {
            cr_assert(memcmp(&y1[i], &y2[i], sizeof *y1) == 0, "op %d at %lld: %g vs %g", op, (long long)i, y1[i],
                      y2[i]);
            if (rop != LAB_RED_SUM) cr_assert_eq(a1[i], a2[i], "op %d arg at %lld", op, (long long)i);
        }
    }
    /* spmm: row-parallel, compared with the double-accumulating reference */
    graph g = graph_random(102, 400, 300, 0.1);
    lab_tensor *gx = lt_randn(103, 2, (int64_t[]){300, 16});
    float *s1 = malloc(400 * 16 * sizeof *s1), *s2 = malloc(400 * 16 * sizeof *s2);
    be->spmm(g.rows, g.cols, 16, g.rowptr[g.rows], g.rowptr, g.colind, g.vals, lab_tensor_f32(gx), s1);
    lab_ref_spmm(g.rows, g.cols, 16, g.rowptr, g.colind, g.vals, lab_tensor_f32(gx), s2);
    lt_assert_close(s1, s2, 400 * 16, 1e-4, 1e-4);
    graph_free(&g);
    free(s1);
    free(s2);
    free(y1);
    free(y2);
    free(a1);
    free(a2);
    lab_scope_end();
}

Test(sparse, segment_bad_inputs)
{
    lab_scope_begin();
    lab_tensor *x = lt_randn(110, 2, (int64_t[]){4, 2});
    lab_tensor *seg = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){4}, (int64_t[]){0, 1, 5, 1}, LAB_CPU);
    cr_assert_null(lab_segment_sum(x, seg, 3));
    lt_assert_error_contains("segment_sum: index 5 at position 2 is out of range [0, 3)");
    cr_assert_null(lab_segment_softmax(x, seg, 3));
    lt_assert_error_contains("segment_softmax: index 5 at position 2");
    lab_tensor *short_seg = lab_tensor_zeros(LAB_I64, 1, (int64_t[]){3}, LAB_CPU);
    cr_assert_null(lab_segment_mean(x, short_seg, 3));
    lt_assert_error_contains("segment_mean: seg i64[3] must hold one id per row of x f32[4, 2]");
    lab_tensor *seg32 = lab_tensor_zeros(LAB_I32, 1, (int64_t[]){4}, LAB_CPU);
    cr_assert_null(lab_segment_max(x, seg32, 3));
    lt_assert_error_contains("segment_max: seg must be i64, got i32[4]");
    lab_tensor *ok = lab_tensor_zeros(LAB_I64, 1, (int64_t[]){4}, LAB_CPU);
    cr_assert_null(lab_segment_sum(x, ok, -1));
    lt_assert_error_contains("segment_sum: nseg is negative (-1)");
    cr_assert_null(lab_segment_sum(lab_tensor_scalar(1.0f, LAB_CPU), ok, 2));
    lt_assert_error_contains("segment_sum: x must have a row dim");
    cr_assert_null(lab_segment_sum(NULL, ok, 2));
    cr_assert_null(lab_segment_mean(x, NULL, 2));
    cr_assert_null(lab_segment_max(NULL, NULL, 2));
    cr_assert_null(lab_segment_softmax(NULL, ok, 2));
    lab_scope_end();
}
