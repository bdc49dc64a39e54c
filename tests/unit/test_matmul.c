/* gemm primitives against lab_ref_gemm, lab_matmul / lab_matmul_t /
 * lab_linear against references built from lab_ref_gemm, gradchecks, and
 * the error messages of bad input. */
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "labtest.h"
#include "ref_nn.h"

static void setup(void) { lab_scope_begin(); }
static void teardown(void) { lab_scope_end(); }
TestSuite(matmul, .init = setup, .fini = teardown);

static float *host_randn(uint64_t seed, int64_t n)
{
    lab_tensor *t = lt_randn(seed, 1, &n);
    float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    memcpy(v, lab_tensor_f32(t), (size_t)n * sizeof *v);
    return v;
}

Test(matmul, gemm_matches_reference)
{
    const lab_backend *be = lab_backend_cpu();
    /* (M, N, K) including 1s, odd sizes and one big enough for threading. */
    int64_t dims[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 1, 9}, {1, 33, 4}, {64, 48, 80}, {130, 70, 257}};
    float ab[][2] = {{1.0f, 0.0f}, {0.5f, 2.0f}, {-1.5f, 1.0f}};
    uint64_t seed = 1;
    for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (size_t s = 0; s < 3; s++) {
                    int64_t M = dims[d][0], N = dims[d][1], K = dims[d][2];
                    /* Leading dims wider than the rows: sub-matrices of bigger arrays. */
                    int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
                    float *A = host_randn(seed++, (ta ? K : M) * lda);
                    float *B = host_randn(seed++, (tb ? N : K) * ldb);
                    float *C = host_randn(seed++, M * ldc);
                    float *R = malloc((size_t)(M * ldc) * sizeof *R);
                    memcpy(R, C, (size_t)(M * ldc) * sizeof *R);
                    be->gemm(ta, tb, M, N, K, ab[s][0], A, lda, B, ldb, ab[s][1], C, ldc);
                    lab_ref_gemm(ta, tb, M, N, K, ab[s][0], A, lda, B, ldb, ab[s][1], R, ldc);
                    lt_assert_close(C, R, M * ldc, 1e-4, 1e-4);
                    free(A);
                    free(B);
                    free(C);
                    free(R);
                }
}

Test(matmul, gemm_empty_inner_dim_scales_c)
{
    const lab_backend *be = lab_backend_cpu();
    float A[1] = {0}, B[1] = {0}, C[6] = {1, 2, 3, 4, 5, NAN};
    be->gemm(0, 0, 2, 3, 0, 1.0f, A, 0, B, 3, 0.0f, C, 3);
    for (int i = 0; i < 6; i++) cr_assert_eq(C[i], 0.0f, "beta = 0 must overwrite, C[%d] = %g", i, C[i]);
    float D[2] = {1, 2};
    be->gemm(0, 0, 1, 2, 0, 1.0f, A, 0, B, 2, 3.0f, D, 2);
    cr_assert_eq(D[0], 3.0f);
    cr_assert_eq(D[1], 6.0f);
}

Test(matmul, gemm_batched_matches_reference)
{
    const lab_backend *be = lab_backend_cpu();
    /* Small matrices (threaded over the batch) and large ones (threaded
     * inside); stride 0 shares one A across the batch. */
    int64_t cases[][4] = {{4, 5, 3, 1}, {7, 9, 6, 13}, {150, 140, 130, 3}};
    uint64_t seed = 100;
    for (size_t c = 0; c < 3; c++)
        for (int shareA = 0; shareA < 2; shareA++)
            for (int ta = 0; ta < 2; ta++) {
                int tb = !ta;
                int64_t M = cases[c][0], N = cases[c][1], K = cases[c][2], nb = cases[c][3];
                int64_t lda = ta ? M : K, ldb = tb ? K : N, sA = shareA ? 0 : M * K, sB = K * N, sC = M * N;
                float *A = host_randn(seed++, M * K * (shareA ? 1 : nb));
                float *B = host_randn(seed++, K * N * nb);
                float *C = host_randn(seed++, M * N * nb);
                float *R = malloc((size_t)(M * N * nb) * sizeof *R);
                memcpy(R, C, (size_t)(M * N * nb) * sizeof *R);
                be->gemm_batched(ta, tb, M, N, K, 0.75f, A, lda, sA, B, ldb, sB, 0.5f, C, N, sC, nb);
                lab_ref_gemm_batched(ta, tb, M, N, K, 0.75f, A, lda, sA, B, ldb, sB, 0.5f, R, N, sC, nb);
                lt_assert_close(C, R, M * N * nb, 1e-4, 1e-4);
                free(A);
                free(B);
                free(C);
                free(R);
            }
}

/* Reference for matmul_t with NumPy batch broadcasting. */
static float *ref_matmul(const lab_tensor *a, const lab_tensor *b, int ta, int tb, int *ondim, int64_t *oshape)
{
    int nba = a->ndim - 2, nbb = b->ndim - 2, nbo = nba > nbb ? nba : nbb;
    int64_t M = ta ? a->shape[a->ndim - 1] : a->shape[a->ndim - 2];
    int64_t K = ta ? a->shape[a->ndim - 2] : a->shape[a->ndim - 1];
    int64_t N = tb ? b->shape[b->ndim - 2] : b->shape[b->ndim - 1];
    int64_t total = 1;
    for (int d = 0; d < nbo; d++) {
        int da = nba - nbo + d, db = nbb - nbo + d;
        int64_t x = da >= 0 ? a->shape[da] : 1, y = db >= 0 ? b->shape[db] : 1;
        oshape[d] = x > y ? x : y;
        total *= oshape[d];
    }
    oshape[nbo] = M;
    oshape[nbo + 1] = N;
    *ondim = nbo + 2;
    float *out = malloc((size_t)(total * M * N > 0 ? total * M * N : 1) * sizeof *out);
    const float *A = lab_tensor_f32(a), *B = lab_tensor_f32(b);
    for (int64_t t = 0; t < total; t++) {
        int64_t rem = t, ia = 0, ib = 0, sa = 1, sb = 1;
        for (int d = nbo - 1; d >= 0; d--) {
            int64_t i = rem % oshape[d];
            rem /= oshape[d];
            int da = nba - nbo + d, db = nbb - nbo + d;
            if (da >= 0) {
                ia += (a->shape[da] == 1 ? 0 : i) * sa;
                sa *= a->shape[da];
            }
            if (db >= 0) {
                ib += (b->shape[db] == 1 ? 0 : i) * sb;
                sb *= b->shape[db];
            }
        }
        lab_ref_gemm(ta, tb, M, N, K, 1.0f, A + ia * M * K, ta ? M : K, B + ib * K * N, tb ? K : N, 0.0f,
                     out + t * M * N, N);
    }
    return out;
}

static void check_matmul(int nda, const int64_t *sa, int ndb, const int64_t *sb, int ta, int tb, uint64_t seed)
{
    lab_tensor *a = lt_randn(seed, nda, sa), *b = lt_randn(seed + 1, ndb, sb);
    lab_tensor *y = (ta || tb) ? lab_matmul_t(a, b, ta, tb) : lab_matmul(a, b);
    cr_assert_not_null(y, "%s", lab_error());
    int nd;
    int64_t shape[LAB_MAX_DIMS];
    float *ref = ref_matmul(a, b, ta, tb, &nd, shape);
    cr_assert_eq(y->ndim, nd);
    for (int d = 0; d < nd; d++) cr_assert_eq(y->shape[d], shape[d], "dim %d", d);
    lt_assert_tensor_close(y, ref, 1e-4, 1e-4);
    free(ref);
}

Test(matmul, shapes_match_reference)
{
    check_matmul(2, (int64_t[]){5, 7}, 2, (int64_t[]){7, 3}, 0, 0, 1);
    check_matmul(2, (int64_t[]){1, 1}, 2, (int64_t[]){1, 1}, 0, 0, 3);
    check_matmul(2, (int64_t[]){1, 9}, 2, (int64_t[]){9, 1}, 0, 0, 5);
    check_matmul(3, (int64_t[]){4, 5, 6}, 3, (int64_t[]){4, 6, 3}, 0, 0, 7);   /* batched */
    check_matmul(3, (int64_t[]){4, 5, 6}, 2, (int64_t[]){6, 3}, 0, 0, 9);      /* folded into one gemm */
    check_matmul(2, (int64_t[]){5, 6}, 3, (int64_t[]){4, 6, 3}, 0, 0, 11);     /* a broadcast */
    check_matmul(4, (int64_t[]){2, 1, 3, 4}, 4, (int64_t[]){1, 3, 4, 2}, 0, 0, 13); /* both broadcast */
    check_matmul(4, (int64_t[]){2, 3, 5, 4}, 3, (int64_t[]){1, 4, 6}, 0, 0, 15);
    check_matmul(3, (int64_t[]){1, 5, 4}, 3, (int64_t[]){3, 4, 2}, 0, 0, 17);
    check_matmul(5, (int64_t[]){2, 1, 3, 3, 4}, 3, (int64_t[]){3, 4, 2}, 0, 0, 19);
}

Test(matmul, transposed_operands)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int64_t sa[3] = {3, ta ? 6 : 5, ta ? 5 : 6}, sb[3] = {3, tb ? 4 : 6, tb ? 6 : 4};
            check_matmul(3, sa, 3, sb, ta, tb, 30 + 2 * ta + tb);
            check_matmul(3, sa, 2, sb + 1, ta, tb, 40 + 2 * ta + tb);
            check_matmul(2, sa + 1, 3, sb, ta, tb, 50 + 2 * ta + tb);
        }
}

Test(matmul, linear_matches_reference)
{
    int64_t in = 13, out = 7;
    lab_tensor *w = lt_randn(60, 2, (int64_t[]){out, in}), *b = lt_randn(61, 1, &out);
    int64_t xs[][3] = {{9, in, 0}, {1, in, 0}, {2, 3, in}};
    int nds[] = {2, 2, 3};
    for (int c = 0; c < 3; c++)
        for (int bias = 0; bias < 2; bias++) {
            lab_tensor *x = lt_randn(62 + c, nds[c], xs[c]);
            int64_t rows = x->numel / in;
            lab_tensor *y = lab_linear(x, w, bias ? b : NULL);
            cr_assert_not_null(y, "%s", lab_error());
            cr_assert_eq(y->ndim, nds[c]);
            cr_assert_eq(y->shape[y->ndim - 1], out);
            float *ref = malloc((size_t)(rows * out) * sizeof *ref);
            for (int64_t r = 0; r < rows; r++)
                for (int64_t o = 0; o < out; o++) ref[r * out + o] = bias ? lab_tensor_f32(b)[o] : 0.0f;
            lab_ref_gemm(0, 1, rows, out, in, 1.0f, lab_tensor_f32(x), in, lab_tensor_f32(w), in, 1.0f, ref, out);
            lt_assert_tensor_close(y, ref, 1e-4, 1e-4);
            free(ref);
        }
    /* 1-D x: a single row. */
    lab_tensor *x1 = lt_randn(70, 1, &in);
    lab_tensor *y1 = lab_linear(x1, w, b);
    cr_assert_not_null(y1);
    cr_assert_eq(y1->ndim, 1);
    cr_assert_eq(y1->shape[0], out);
}

typedef struct {
    int ta, tb;
} mm_args;

static lab_tensor *f_matmul(lab_tensor *const *in, void *user)
{
    const mm_args *m = user;
    return lab_matmul_t(in[0], in[1], m->ta, m->tb);
}

static void grad_matmul(int nda, const int64_t *sa, int ndb, const int64_t *sb, int ta, int tb, uint64_t seed)
{
    lab_tensor *a = lt_randn(seed, nda, sa), *b = lt_randn(seed + 1, ndb, sb);
    lab_tensor_set_requires_grad(a, 1);
    lab_tensor_set_requires_grad(b, 1);
    mm_args m = {ta, tb};
    lab_tensor *in[2] = {a, b};
    cr_assert_eq(lab_gradcheck(f_matmul, 2, in, &m, 1e-2, 2e-3, 2e-3), 0, "ta %d tb %d: %s", ta, tb, lab_error());
}

Test(matmul, gradcheck)
{
    grad_matmul(2, (int64_t[]){3, 4}, 2, (int64_t[]){4, 5}, 0, 0, 1);
    grad_matmul(3, (int64_t[]){2, 3, 4}, 3, (int64_t[]){2, 4, 2}, 0, 0, 3);
    grad_matmul(3, (int64_t[]){2, 3, 4}, 2, (int64_t[]){4, 2}, 0, 0, 5);              /* folded */
    grad_matmul(2, (int64_t[]){3, 4}, 3, (int64_t[]){2, 4, 2}, 0, 0, 7);              /* dA sums the batch */
    grad_matmul(4, (int64_t[]){2, 1, 2, 3}, 4, (int64_t[]){1, 3, 3, 2}, 0, 0, 9);     /* both broadcast */
    grad_matmul(3, (int64_t[]){1, 3, 1}, 3, (int64_t[]){2, 1, 4}, 0, 0, 11);           /* K = 1 */
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            int64_t sa[3] = {2, ta ? 4 : 3, ta ? 3 : 4}, sb[3] = {2, tb ? 5 : 4, tb ? 4 : 5};
            grad_matmul(3, sa, 3, sb, ta, tb, 20 + ta * 2 + tb);
            grad_matmul(3, sa, 2, sb + 1, ta, tb, 30 + ta * 2 + tb);
            grad_matmul(2, sa + 1, 3, sb, ta, tb, 40 + ta * 2 + tb);
        }
}

static lab_tensor *f_linear(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_linear(in[0], in[1], in[2]);
}

Test(matmul, linear_gradcheck)
{
    lab_tensor *x = lt_randn(1, 3, (int64_t[]){2, 3, 5});
    lab_tensor *w = lt_randn(2, 2, (int64_t[]){4, 5});
    lab_tensor *b = lt_randn(3, 1, (int64_t[]){4});
    lab_tensor *in[3] = {x, w, b};
    for (int i = 0; i < 3; i++) lab_tensor_set_requires_grad(in[i], 1);
    cr_assert_eq(lab_gradcheck(f_linear, 3, in, NULL, 1e-2, 2e-3, 2e-3), 0, "%s", lab_error());
    /* Only some inputs needing grads (a frozen layer, a data input). */
    lab_tensor_set_requires_grad(x, 0);
    lab_tensor_set_requires_grad(b, 0);
    cr_assert_eq(lab_gradcheck(f_linear, 3, in, NULL, 1e-2, 2e-3, 2e-3), 0, "%s", lab_error());
    lab_tensor *in2[3] = {x, w, NULL};
    lab_tensor_set_requires_grad(x, 1);
    lab_tensor *noarg[2] = {x, w};
    (void)noarg;
    cr_assert_eq(lab_gradcheck(f_linear, 2, in2, NULL, 1e-2, 2e-3, 2e-3), 0, "%s", lab_error());
}

Test(matmul, linear_backward_values)
{
    /* dW = gᵀx, db = column sums of g, dx = g W, against hand-computed refs. */
    lab_tensor *x = lt_randn(5, 2, (int64_t[]){6, 3}), *w = lt_randn(6, 2, (int64_t[]){2, 3}),
               *b = lt_randn(7, 1, (int64_t[]){2});
    lab_tensor *g = lt_randn(8, 2, (int64_t[]){6, 2});
    lab_tensor_set_requires_grad(x, 1);
    lab_tensor_set_requires_grad(w, 1);
    lab_tensor_set_requires_grad(b, 1);
    lab_tensor *y = lab_linear(x, w, b);
    cr_assert_eq(lab_backward_with(y, g), 0, "%s", lab_error());
    float dw[6], db[2] = {0, 0}, dx[18];
    const float *G = lab_tensor_f32(g);
    lab_ref_gemm(1, 0, 2, 3, 6, 1.0f, G, 2, lab_tensor_f32(x), 3, 0.0f, dw, 3);
    lab_ref_gemm(0, 0, 6, 3, 2, 1.0f, G, 2, lab_tensor_f32(w), 3, 0.0f, dx, 3);
    for (int r = 0; r < 6; r++)
        for (int o = 0; o < 2; o++) db[o] += G[r * 2 + o];
    lt_assert_tensor_close(w->grad, dw, 1e-5, 1e-5);
    lt_assert_tensor_close(b->grad, db, 1e-5, 1e-5);
    lt_assert_tensor_close(x->grad, dx, 1e-5, 1e-5);
    lab_tensor_zero_grad(x);
    lab_tensor_zero_grad(w);
    lab_tensor_zero_grad(b);
}

Test(matmul, bad_input)
{
    lab_tensor *a = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){128, 784}, LAB_CPU);
    lab_tensor *b = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){256, 10}, LAB_CPU);
    lab_error_clear();
    cr_assert_null(lab_matmul(a, b));
    cr_assert_str_eq(lab_error(), "matmul: shapes [128, 784] x [256, 10] do not match");
    cr_assert_null(lab_matmul_t(a, b, 0, 1));
    lt_assert_error_contains("matmul_t: shapes [128, 784] x [256, 10]");

    lab_tensor *i = lab_tensor_zeros(LAB_I64, 2, (int64_t[]){2, 3}, LAB_CPU);
    lab_tensor *f = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){3, 2}, LAB_CPU);
    cr_assert_null(lab_matmul(i, f));
    cr_assert_str_eq(lab_error(), "matmul: a must be f32, got i64[2, 3]");

    lab_tensor *v = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){3}, LAB_CPU);
    cr_assert_null(lab_matmul(v, f));
    lt_assert_error_contains("matmul: operands need at least 2 dims, got [3] x [3, 2]");

    lab_tensor *p = lab_tensor_zeros(LAB_F32, 3, (int64_t[]){2, 3, 4}, LAB_CPU);
    lab_tensor *q = lab_tensor_zeros(LAB_F32, 3, (int64_t[]){3, 4, 5}, LAB_CPU);
    cr_assert_null(lab_matmul(p, q));
    cr_assert_str_eq(lab_error(), "matmul: batch dims of [2, 3, 4] and [3, 4, 5] do not broadcast");

    /* NULL in, NULL out, message untouched. */
    lab_error_clear();
    cr_assert_null(lab_matmul(NULL, f));
    cr_assert_null(lab_matmul(f, NULL));
    cr_assert_null(lab_linear(NULL, f, NULL));
    cr_assert_str_eq(lab_error(), "");

    lab_tensor *w = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){10, 784}, LAB_CPU);
    lab_tensor *x = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){128, 785}, LAB_CPU);
    cr_assert_null(lab_linear(x, w, NULL));
    cr_assert_str_eq(lab_error(), "linear: x [128, 785] does not match w [10, 784] (x's last dim must be 784)");
    lab_tensor *bb = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){9}, LAB_CPU);
    cr_assert_null(lab_linear(a, w, bb));
    cr_assert_str_eq(lab_error(), "linear: b [9] does not match w [10, 784] (expected [10])");
    cr_assert_null(lab_linear(a, v, NULL));
    cr_assert_str_eq(lab_error(), "linear: w must be [out, in], got [3]");
    cr_assert_null(lab_linear(a, i, NULL));
    cr_assert_str_eq(lab_error(), "linear: w must be f32, got i64[2, 3]");
}

Test(matmul, empty_dims)
{
    /* K = 0 gives zeros; M = 0 gives an empty result; grads keep shapes. */
    lab_tensor *a = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){3, 0}, LAB_CPU);
    lab_tensor *b = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){0, 4}, LAB_CPU);
    lab_tensor *y = lab_matmul(a, b);
    cr_assert_not_null(y, "%s", lab_error());
    float z[12] = {0};
    lt_assert_tensor_close(y, z, 0, 0);
    lab_tensor *e = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){0, 5}, LAB_CPU);
    lab_tensor *f = lt_randn(3, 2, (int64_t[]){5, 2});
    lab_tensor_set_requires_grad(f, 1);
    lab_tensor *ye = lab_matmul(e, f);
    cr_assert_not_null(ye);
    cr_assert_eq(ye->numel, 0);
    lab_tensor *s = lab_sum_all(ye);
    cr_assert_eq(lab_backward(s), 0, "%s", lab_error());
    cr_assert_not_null(f->grad);
    float z10[10] = {0};
    lt_assert_tensor_close(f->grad, z10, 0, 0);
    lab_tensor_zero_grad(f);
    /* An empty batch: the broadcast operand's gradient is zeros, not garbage. */
    lab_tensor *a1 = lt_randn(4, 3, (int64_t[]){1, 2, 5});
    lab_tensor *b0 = lab_tensor_zeros(LAB_F32, 3, (int64_t[]){0, 5, 2}, LAB_CPU);
    lab_tensor_set_requires_grad(a1, 1);
    lab_tensor *yb = lab_matmul(a1, b0);
    cr_assert_not_null(yb, "%s", lab_error());
    cr_assert_eq(yb->shape[0], 0);
    cr_assert_eq(lab_backward(lab_sum_all(yb)), 0, "%s", lab_error());
    lt_assert_tensor_close(a1->grad, z10, 0, 0);
    lab_tensor_zero_grad(a1);
}
