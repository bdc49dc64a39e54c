/* CPU vs CUDA: reductions and softmax (kernels/cuda/cuda_reduce.cu).
 * Skipped without a usable cuda:0. */
#include <math.h>

#include "backend.h"
#include "parity.h"

/* Largest sum of |x| over the slices reduced along dim (cpu tensor). */
static double slice_l1(lab_tensor *x, int dim)
{
    lab_scope_begin();
    lab_tensor *s = lab_sum(lab_abs(x), dim, 0);
    float *v = pt_host(s);
    double m = 0;
    for (int64_t i = 0; i < s->numel; i++) m = v[i] > m ? v[i] : m;
    free(v);
    lab_scope_end();
    return m;
}

typedef struct {
    int dim;
} red_arg;

static lab_tensor *sum_fn(lab_tensor *const *in, void *u) { return lab_sum(in[0], ((red_arg *)u)->dim, 0); }
static lab_tensor *mean_fn(lab_tensor *const *in, void *u) { return lab_mean(in[0], ((red_arg *)u)->dim, 1); }
static lab_tensor *max_fn(lab_tensor *const *in, void *u) { return lab_max(in[0], ((red_arg *)u)->dim, 0); }
static lab_tensor *argmax_fn(lab_tensor *const *in, void *u) { return lab_argmax(in[0], ((red_arg *)u)->dim, 0); }
static lab_tensor *softmax_fn(lab_tensor *const *in, void *u) { return lab_softmax(in[0], ((red_arg *)u)->dim); }
static lab_tensor *log_softmax_fn(lab_tensor *const *in, void *u) { return lab_log_softmax(in[0], ((red_arg *)u)->dim); }
static lab_tensor *var_fn(lab_tensor *const *in, void *u) { return lab_var(in[0], ((red_arg *)u)->dim, 1, 0); }

/* Every reduction along every dim of x. */
static void check_all_dims(lab_tensor *x)
{
    for (int d = 0; d < x->ndim; d++) {
        red_arg a = {d};
        double l1 = slice_l1(x, d);
        int64_t n = x->shape[d];
        char name[64];
        /* Sums: f32 accumulation in a different order (CPU: f32 blocks added
         * in double; CUDA: per-thread runs and a tree). Both stay within a
         * few ulps of the slice's L1 mass; 4e-7 * L1 is ~7 ulps of it. The
         * gradient of a sum is a broadcast: exact. */
        snprintf(name, sizeof name, "sum dim %d", d);
        pt_check(name, sum_fn, 1, &x, 1u, &a, (pt_tol){4e-7 * l1, 0, 0, 0});
        snprintf(name, sizeof name, "mean dim %d", d);
        pt_check(name, mean_fn, 1, &x, 1u, &a, (pt_tol){4e-7 * l1 / (double)n, 1e-6, 0, 1e-6});
        /* max/argmax pick an element: exact, gradient scattered to it. */
        snprintf(name, sizeof name, "max dim %d", d);
        pt_check(name, max_fn, 1, &x, 1u, &a, (pt_tol){0, 0, 0, 0});
        snprintf(name, sizeof name, "argmax dim %d", d);
        pt_check(name, argmax_fn, 1, &x, 0u, &a, (pt_tol){0, 0, 0, 0});
        /* expf differs by a few ulp and the normaliser is a reordered sum:
         * 1e-5 relative; log-softmax values reach -log(n) - spread, hence
         * an absolute 1e-5. */
        snprintf(name, sizeof name, "softmax dim %d", d);
        pt_check(name, softmax_fn, 1, &x, 1u, &a, (pt_tol){1e-6, 1e-5, 1e-6, 1e-5});
        snprintf(name, sizeof name, "log_softmax dim %d", d);
        pt_check(name, log_softmax_fn, 1, &x, 1u, &a, (pt_tol){1e-5, 1e-6, 1e-5, 1e-5});
        snprintf(name, sizeof name, "var dim %d", d);
        pt_check(name, var_fn, 1, &x, 1u, &a, (pt_tol){1e-5, 1e-5, 1e-5, 1e-5});
    }
}

Test(parity_reduce, every_dim_of_small_shapes)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    check_all_dims(lt_randn(1, 1, (int64_t[]){1000}));
    check_all_dims(lt_randn(2, 2, (int64_t[]){37, 129}));
    check_all_dims(lt_randn(3, 3, (int64_t[]){5, 6, 7}));
    check_all_dims(lt_randn(4, 4, (int64_t[]){3, 4, 5, 6}));
    check_all_dims(lt_randn(5, 2, (int64_t[]){9, 1500})); /* rows > 1024: a block per row */
    lab_scope_end();
}

Test(parity_reduce, split_paths_for_long_rows_and_columns)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    /* Few long rows: rows are cut into chunks and combined (inner == 1). */
    lab_tensor *rows = lt_randn(10, 2, (int64_t[]){3, 200000});
    red_arg last = {1}, first = {0};
    double l1 = slice_l1(rows, 1);
    pt_check("sum of long rows", sum_fn, 1, &rows, 0u, &last, (pt_tol){4e-7 * l1, 0, 0, 0});
    pt_check("max of long rows", max_fn, 1, &rows, 0u, &last, (pt_tol){0, 0, 0, 0});
    pt_check("argmax of long rows", argmax_fn, 1, &rows, 0u, &last, (pt_tol){0, 0, 0, 0});
    /* Few long columns: chunks of rows per column tile (inner > 1). */
    lab_tensor *cols = lt_randn(11, 2, (int64_t[]){100000, 3});
    l1 = slice_l1(cols, 0);
    pt_check("sum of long columns", sum_fn, 1, &cols, 0u, &first, (pt_tol){4e-7 * l1, 0, 0, 0});
    pt_check("argmax of long columns", argmax_fn, 1, &cols, 0u, &first, (pt_tol){0, 0, 0, 0});
    lab_tensor *mid = lt_randn(12, 3, (int64_t[]){2, 5000, 40});
    red_arg d1 = {1};
    pt_check("max over the middle dim", max_fn, 1, &mid, 1u, &d1, (pt_tol){0, 0, 0, 0});
    lab_scope_end();
}

Test(parity_reduce, ties_pick_the_first_and_nan_wins)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    /* Values in {0, 1, 2, 3}: many ties, the lowest index must win. */
    int64_t sh[2] = {64, 3000};
    lab_tensor *t = lt_randint(20, 2, sh, 4);
    lab_tensor *x = lab_tensor_cast(t, LAB_F32);
    red_arg d0 = {0}, d1 = {1};
    pt_check("argmax ties (rows)", argmax_fn, 1, &x, 0u, &d1, (pt_tol){0, 0, 0, 0});
    pt_check("argmax ties (columns)", argmax_fn, 1, &x, 0u, &d0, (pt_tol){0, 0, 0, 0});
    /* A NaN in some rows: max is NaN at the first NaN's index. */
    float *v = pt_host(x);
    for (int64_t r = 0; r < sh[0]; r += 3) {
        v[r * sh[1] + (r * 37) % sh[1]] = NAN;
        v[r * sh[1] + (r * 91) % sh[1]] = NAN;
    }
    lab_tensor *xn = lab_tensor_from_f32(v, 2, sh);
    free(v);
    pt_check("max with NaN", max_fn, 1, &xn, 0u, &d1, (pt_tol){0, 0, 0, 0});
    pt_check("argmax with NaN (rows)", argmax_fn, 1, &xn, 0u, &d1, (pt_tol){0, 0, 0, 0});
    pt_check("argmax with NaN (columns)", argmax_fn, 1, &xn, 0u, &d0, (pt_tol){0, 0, 0, 0});
    lab_scope_end();
}

Test(parity_reduce, min_slot_and_empty_reductions)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    /* MIN has no public op of its own: call the slot on both backends. */
    const lab_backend *cpu = lab_backend_cpu(), *gpu = lab_backend_get(PT_GPU);
    cr_assert_not_null(gpu, "%s", lab_error());
    int64_t sh[3] = {4, 300, 9};
    lab_tensor *x = lt_randn(30, 3, sh), *xg = lab_tensor_to(x, PT_GPU);
    int64_t osh[2] = {4, 9};
    lab_tensor *yc = lab_tensor_empty(LAB_F32, 2, osh, LAB_CPU), *yg = lab_tensor_empty(LAB_F32, 2, osh, PT_GPU);
    lab_tensor *ac = lab_tensor_empty(LAB_I64, 2, osh, LAB_CPU), *ag = lab_tensor_empty(LAB_I64, 2, osh, PT_GPU);
    cpu->reduce(LAB_RED_MIN, 4, 300, 9, lab_tensor_raw(yc), lab_tensor_raw(ac), lab_tensor_raw(x));
    gpu->reduce(LAB_RED_MIN, 4, 300, 9, lab_tensor_raw(yg), lab_tensor_raw(ag), lab_tensor_raw(xg));
    pt_assert_match("min values", yg, yc, 0, 0);
    pt_assert_match("min args", ag, ac, 0, 0);
    /* n == 0: identities (0, -inf, +inf) and arg -1, as on the CPU. */
    lab_reduce_op ops[3] = {LAB_RED_SUM, LAB_RED_MAX, LAB_RED_MIN};
    for (int k = 0; k < 3; k++) {
        cpu->reduce(ops[k], 4, 0, 9, lab_tensor_raw(yc), lab_tensor_raw(ac), lab_tensor_raw(x));
        gpu->reduce(ops[k], 4, 0, 9, lab_tensor_raw(yg), k ? lab_tensor_raw(ag) : NULL, lab_tensor_raw(xg));
        pt_assert_match("empty reduction", yg, yc, 0, 0);
        if (k) pt_assert_match("empty reduction args", ag, ac, 0, 0);
    }
    /* A tensor with an empty dim through the ops. */
    lab_tensor *e = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){0, 5}, LAB_CPU);
    red_arg d0 = {0};
    pt_check("sum over an empty dim", sum_fn, 1, &e, 1u, &d0, (pt_tol){0, 0, 0, 0});
    lab_scope_end();
}
