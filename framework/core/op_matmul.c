/* Matrix products: lab_matmul, lab_matmul_t, lab_linear.
 *
 * A product is described once as a plan: op(A) [M, K] times op(B) [K, N] for
 * every index of a broadcast batch shape, with per-batch-dim element strides
 * for A, B and C (0 along a dim an operand is broadcast over). Forward and
 * both gradients are the same executor run on three plans: the gradient of a
 * broadcast operand has stride 0 along that dim, and the executor sums into
 * it. When B has no batch dims and A is not transposed, A's batch dims fold
 * into M, so [B, T, K] x [K, N] and its gradients are single large gemms.
 *
 * lab_linear is one gemm with the bias written first as a rank-1 product
 * (ones[rows] x b) and accumulated with beta = 1; its backward is two gemms
 * plus a column sum done as a gemm against ones.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "ops_int.h"

typedef struct {
    int ta, tb;
    int64_t M, N, K;
    int nb;                       /* batch dims after dropping size-1 dims */
    int64_t bshape[LAB_MAX_DIMS]; /* broadcast batch shape */
    int64_t sa[LAB_MAX_DIMS], sb[LAB_MAX_DIMS], sc[LAB_MAX_DIMS];
} mm_plan;

/* One batched product C[i] = alpha op(A[i]) op(B[i]) + beta C[i] over the
 * batch index i of shape bshape. A C stride of 0 along a dim of size > 1
 * means "sum over it": those products run one after the other with beta = 1
 * after the first visit of each C slot. */
static void mm_exec(const lab_backend *be, int ta, int tb, int64_t M, int64_t N, int64_t K,
                    float alpha, const float *A, int64_t lda, const int64_t *sA, const float *B,
                    int64_t ldb, const int64_t *sB, float beta, float *C, int64_t ldc,
                    const int64_t *sC, int nb, const int64_t *bshape)
{
    int64_t total = 1;
    int reduce = 0;
    for (int d = 0; d < nb; d++) {
        total *= bshape[d];
        if (sC[d] == 0 && bshape[d] > 1) reduce = 1;
    }
    if (total == 0 || M == 0 || N == 0) return;
    if (nb == 0) {
        be->gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (reduce) {
        int64_t idx[LAB_MAX_DIMS] = {0};
        for (int64_t t = 0; t < total; t++) {
            int64_t oa = 0, ob = 0, oc = 0;
            int first = 1;
            for (int d = 0; d < nb; d++) {
                oa += idx[d] * sA[d];
                ob += idx[d] * sB[d];
                oc += idx[d] * sC[d];
                if (sC[d] == 0 && idx[d] != 0) first = 0;
            }
            be->gemm(ta, tb, M, N, K, alpha, A + oa, lda, B + ob, ldb, first ? beta : 1.0f, C + oc, ldc);
            for (int d = nb - 1; d >= 0; d--) {
                if (++idx[d] < bshape[d]) break;
                idx[d] = 0;
            }
        }
        return;
    }
    /* No reduction: the last batch dim is one gemm_batched call, the others
     * (rare after merging) a loop. */
    int last = nb - 1;
    int64_t outer = total / bshape[last];
    int64_t idx[LAB_MAX_DIMS] = {0};
    for (int64_t t = 0; t < outer; t++) {
        int64_t oa = 0, ob = 0, oc = 0;
        for (int d = 0; d < last; d++) {
            oa += idx[d] * sA[d];
            ob += idx[d] * sB[d];
            oc += idx[d] * sC[d];
        }
        be->gemm_batched(ta, tb, M, N, K, alpha, A + oa, lda, sA[last], B + ob, ldb, sB[last], beta,
                         C + oc, ldc, sC[last], bshape[last]);
        for (int d = last - 1; d >= 0; d--) {
            if (++idx[d] < bshape[d]) break;
            idx[d] = 0;
        }
    }
}

/* Strides of an operand's batch dims (its leading nd-2 dims, aligned to the
 * right of the output batch shape of `nbo` dims); 0 where it broadcasts. */
static void batch_strides(const lab_tensor *t, int nbo, int64_t *s)
{
    int nbt = t->ndim - 2;
    int64_t stride = t->shape[t->ndim - 1] * t->shape[t->ndim - 2];
    for (int d = nbo - 1; d >= 0; d--) {
        int dt = nbt - (nbo - d);
        s[d] = (dt < 0 || t->shape[dt] == 1) ? 0 : stride;
        if (dt >= 0) stride *= t->shape[dt];
    }
}

/* Drop size-1 batch dims and merge neighbours that are contiguous in all
 * three operands, so [B, H] batches become one gemm_batched call. */
static void plan_simplify(mm_plan *p)
{
    int n = 0;
    for (int d = 0; d < p->nb; d++) {
        if (p->bshape[d] == 1) continue;
        if (n > 0 && p->sa[n - 1] == p->sa[d] * p->bshape[d] && p->sb[n - 1] == p->sb[d] * p->bshape[d] &&
            p->sc[n - 1] == p->sc[d] * p->bshape[d]) {
            p->bshape[n - 1] *= p->bshape[d];
            p->sa[n - 1] = p->sa[d];
            p->sb[n - 1] = p->sb[d];
            p->sc[n - 1] = p->sc[d];
            continue;
        }
        p->bshape[n] = p->bshape[d];
        p->sa[n] = p->sa[d];
        p->sb[n] = p->sb[d];
        p->sc[n] = p->sc[d];
        n++;
    }
    p->nb = n;
}

static int too_big_for_blas(const char *op, int64_t v)
{
    if (v <= INT_MAX) return 0;
    return lab_error_set("%s: dimension %lld exceeds the BLAS limit of %d", op, (long long)v, INT_MAX);
}

/* Checks a and b, fills the plan and the output shape. */
static int mm_prepare(const char *op, lab_tensor *a, lab_tensor *b, int ta, int tb, mm_plan *p,
                      int *ondim, int64_t *oshape)
{
    if (lab_op_check_f32(op, "a", a) < 0 || lab_op_check_f32(op, "b", b) < 0) return -1;
    if (lab_op_check_device(op, a, b) < 0) return -1;
    char sa[96], sb[96];
    if (a->ndim < 2 || b->ndim < 2)
        return lab_error_set("%s: operands need at least 2 dims, got %s x %s", op,
                             lab_tensor_shape_str(a, sa, sizeof sa), lab_tensor_shape_str(b, sb, sizeof sb));
    int64_t ar = a->shape[a->ndim - 2], ac = a->shape[a->ndim - 1];
    int64_t br = b->shape[b->ndim - 2], bc = b->shape[b->ndim - 1];
    int64_t M = ta ? ac : ar, Ka = ta ? ar : ac, Kb = tb ? bc : br, N = tb ? br : bc;
    if (Ka != Kb) {
        if (ta || tb)
            return lab_error_set("%s: shapes %s%s x %s%s do not match", op, lab_tensor_shape_str(a, sa, sizeof sa),
                                 ta ? "ᵀ" : "", lab_tensor_shape_str(b, sb, sizeof sb), tb ? "ᵀ" : "");
        return lab_error_set("%s: shapes %s x %s do not match", op, lab_tensor_shape_str(a, sa, sizeof sa),
                             lab_tensor_shape_str(b, sb, sizeof sb));
    }
    int nba = a->ndim - 2, nbb = b->ndim - 2, nbo = nba > nbb ? nba : nbb;
    for (int d = 0; d < nbo; d++) {
        int da = nba - nbo + d, db = nbb - nbo + d;
        int64_t x = da >= 0 ? a->shape[da] : 1, y = db >= 0 ? b->shape[db] : 1;
        if (x != y && x != 1 && y != 1)
            return lab_error_set("%s: batch dims of %s and %s do not broadcast", op,
                                 lab_tensor_shape_str(a, sa, sizeof sa), lab_tensor_shape_str(b, sb, sizeof sb));
        oshape[d] = x == 1 ? y : x;
    }
    oshape[nbo] = M;
    oshape[nbo + 1] = N;
    *ondim = nbo + 2;
    if (too_big_for_blas(op, M) || too_big_for_blas(op, N) || too_big_for_blas(op, Ka)) return -1;

    memset(p, 0, sizeof *p);
    p->ta = ta;
    p->tb = tb;
    p->M = M;
    p->N = N;
    p->K = Ka;
    int64_t bnumel = 1;
    for (int d = 0; d < nbb; d++) bnumel *= b->shape[d];
    if (bnumel == 1 && !ta) {
        /* A's rows across its batch are one [prod(batch) * M, K] matrix. */
        int64_t rows = M;
        for (int d = 0; d < nbo; d++) rows *= oshape[d];
        if (too_big_for_blas(op, rows)) return -1;
        p->M = rows;
        p->nb = 0;
        return 0;
    }
    p->nb = nbo;
    for (int d = 0; d < nbo; d++) p->bshape[d] = oshape[d];
    batch_strides(a, nbo, p->sa);
    batch_strides(b, nbo, p->sb);
    int64_t s = M * N;
    for (int d = nbo - 1; d >= 0; d--) {
        p->sc[d] = s;
        s *= oshape[d];
    }
    plan_simplify(p);
    return 0;
}

static void mm_backward(lab_node *node, lab_tensor *g)
{
    const mm_plan *p = node->ctx;
    lab_tensor *a = node->inputs[0], *b = node->inputs[1];
    const lab_backend *be = lab_tensor_backend(g);
    int64_t lda = p->ta ? p->M : p->K, ldb = p->tb ? p->K : p->N, ldg = p->N;
    const float *A = lab_op_f32(a), *B = lab_op_f32(b), *G = lab_op_f32(g);
    if (lab_node_needs_grad(node, 0)) {
        lab_tensor *ga = lab_tensor_empty(LAB_F32, a->ndim, a->shape, a->device);
        if (!ga) return;
        float *GA = lab_op_f32(ga);
        /* An empty product (a batch or M/N of size 0) sums nothing into ga. */
        if (g->numel == 0) be->fill(GA, LAB_F32, a->numel, 0.0);
        if (!p->ta) /* dA = g op(B)^T */
            mm_exec(be, 0, !p->tb, p->M, p->K, p->N, 1.0f, G, ldg, p->sc, B, ldb, p->sb, 0.0f, GA, lda,
                    p->sa, p->nb, p->bshape);
        else /* dA = op(B) g^T */
            mm_exec(be, p->tb, 1, p->K, p->M, p->N, 1.0f, B, ldb, p->sb, G, ldg, p->sc, 0.0f, GA, lda,
                    p->sa, p->nb, p->bshape);
        lab_node_accumulate(node, 0, ga);
    }
    if (lab_node_needs_grad(node, 1)) {
        lab_tensor *gb = lab_tensor_empty(LAB_F32, b->ndim, b->shape, b->device);
        if (!gb) return;
        float *GB = lab_op_f32(gb);
        if (g->numel == 0) be->fill(GB, LAB_F32, b->numel, 0.0);
        if (!p->tb) /* dB = op(A)^T g */
            mm_exec(be, !p->ta, 0, p->K, p->N, p->M, 1.0f, A, lda, p->sa, G, ldg, p->sc, 0.0f, GB, ldb,
                    p->sb, p->nb, p->bshape);
        else /* dB = g^T op(A) */
            mm_exec(be, 1, p->ta, p->N, p->K, p->M, 1.0f, G, ldg, p->sc, A, lda, p->sa, 0.0f, GB, ldb,
                    p->sb, p->nb, p->bshape);
        lab_node_accumulate(node, 1, gb);
    }
}

static lab_tensor *matmul_impl(const char *op, lab_tensor *a, lab_tensor *b, int ta, int tb)
{
    if (!a || !b) return NULL;
    mm_plan plan;
    int nd = 0;
    int64_t shape[LAB_MAX_DIMS]; /* batch dims of the longer operand + 2 */
    if (mm_prepare(op, a, b, ta, tb, &plan, &nd, shape) < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, a, LAB_SLOT(gemm_batched));
    if (!be || !lab_op_backend(op, a, LAB_SLOT(gemm))) return NULL;
    lab_tensor *y = lab_tensor_empty(LAB_F32, nd, shape, a->device);
    if (!y) return NULL;
    int64_t lda = ta ? plan.M : plan.K, ldb = tb ? plan.K : plan.N;
    if (y->numel > 0 && plan.K == 0) be->fill(lab_op_f32(y), LAB_F32, y->numel, 0.0);
    mm_exec(be, ta, tb, plan.M, plan.N, plan.K, 1.0f, lab_op_f32(a), lda, plan.sa, lab_op_f32(b), ldb,
            plan.sb, 0.0f, lab_op_f32(y), plan.N, plan.sc, plan.nb, plan.bshape);
    lab_tensor *in[2] = {a, b};
    lab_node *n = lab_autograd_record(y, op, mm_backward, 2, in);
    if (n) {
        mm_plan *cp = malloc(sizeof *cp);
        if (!cp) { /* cannot differentiate without the plan: drop the node */
            lab_error_set("%s: out of host memory", op);
            lab_tensor_own(y);
            lab_tensor_release(y);
            return NULL;
        }
        *cp = plan;
        n->ctx = cp;
        n->ctx_free = free;
    }
    return y;
}

lab_tensor *lab_matmul(lab_tensor *a, lab_tensor *b) { return matmul_impl("matmul", a, b, 0, 0); }

lab_tensor *lab_matmul_t(lab_tensor *a, lab_tensor *b, int trans_a, int trans_b)
{
    return matmul_impl("matmul_t", a, b, trans_a != 0, trans_b != 0);
}

/* --- linear ------------------------------------------------------------------ */

static lab_tensor *ones_vec(int64_t n, lab_device dev)
{
    return lab_tensor_full(LAB_F32, 1, &n, 1.0, dev);
}

static void linear_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0], *w = node->inputs[1];
    const lab_backend *be = lab_tensor_backend(g);
    int64_t out = w->shape[0], in = w->shape[1], rows = node->iparam[0];
    const float *G = lab_op_f32(g);
    if (lab_node_needs_grad(node, 0)) { /* dx [rows, in] = g [rows, out] w [out, in] */
        lab_tensor *gx = lab_tensor_empty(LAB_F32, x->ndim, x->shape, x->device);
        if (gx) {
            if (out == 0) be->fill(lab_op_f32(gx), LAB_F32, gx->numel, 0.0);
            be->gemm(0, 0, rows, in, out, 1.0f, G, out, lab_op_f32(w), in, 0.0f, lab_op_f32(gx), in);
            lab_node_accumulate(node, 0, gx);
        }
    }
    if (lab_node_needs_grad(node, 1)) { /* dw [out, in] = g^T x */
        lab_tensor *gw = lab_tensor_empty(LAB_F32, 2, w->shape, w->device);
        if (gw) {
            if (rows == 0) be->fill(lab_op_f32(gw), LAB_F32, gw->numel, 0.0);
            be->gemm(1, 0, out, in, rows, 1.0f, G, out, lab_op_f32(x), in, 0.0f, lab_op_f32(gw), in);
            lab_node_accumulate(node, 1, gw);
        }
    }
    if (lab_node_needs_grad(node, 2)) { /* db [out] = ones[rows] g */
        lab_tensor *gb = lab_tensor_empty(LAB_F32, 1, &out, g->device);
        lab_tensor *ones = ones_vec(rows, g->device);
        if (gb && ones) {
            if (rows == 0) be->fill(lab_op_f32(gb), LAB_F32, out, 0.0);
            be->gemm(0, 0, 1, out, rows, 1.0f, lab_op_f32(ones), rows, G, out, 0.0f, lab_op_f32(gb), out);
            lab_node_accumulate(node, 2, gb);
        }
    }
}

lab_tensor *lab_linear(lab_tensor *x, lab_tensor *w, lab_tensor *b)
{
    if (!x || !w) return NULL;
    const char *op = "linear";
    if (lab_op_check_f32(op, "x", x) < 0 || lab_op_check_f32(op, "w", w) < 0) return NULL;
    if (b && lab_op_check_f32(op, "b", b) < 0) return NULL;
    if (lab_op_check_device(op, x, w) < 0 || (b && lab_op_check_device(op, x, b) < 0)) return NULL;
    char sx[96], sw[96], sb[96];
    if (w->ndim != 2) {
        lab_error_set("linear: w must be [out, in], got %s", lab_tensor_shape_str(w, sw, sizeof sw));
        return NULL;
    }
    int64_t out = w->shape[0], in = w->shape[1];
    if (x->ndim < 1 || x->shape[x->ndim - 1] != in) {
        lab_error_set("linear: x %s does not match w %s (x's last dim must be %lld)",
                      lab_tensor_shape_str(x, sx, sizeof sx), lab_tensor_shape_str(w, sw, sizeof sw),
                      (long long)in);
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != out)) {
        lab_error_set("linear: b %s does not match w %s (expected [%lld])",
                      lab_tensor_shape_str(b, sb, sizeof sb), lab_tensor_shape_str(w, sw, sizeof sw),
                      (long long)out);
        return NULL;
    }
    int64_t rows = 1;
    for (int d = 0; d < x->ndim - 1; d++) rows *= x->shape[d];
    if (too_big_for_blas(op, rows) || too_big_for_blas(op, in) || too_big_for_blas(op, out)) return NULL;
    const lab_backend *be = lab_op_backend(op, x, LAB_SLOT(gemm));
    if (!be) return NULL;
    int64_t shape[LAB_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 1] = out;
    lab_tensor *y = lab_tensor_empty(LAB_F32, x->ndim, shape, x->device);
    if (!y) return NULL;
    float *Y = lab_op_f32(y);
    float beta = 0.0f;
    if (b && rows > 0) {
        lab_scope_begin();
        lab_tensor *ones = ones_vec(rows, x->device);
        if (ones) be->gemm(0, 0, rows, out, 1, 1.0f, lab_op_f32(ones), 1, lab_op_f32(b), out, 0.0f, Y, out);
        lab_scope_end();
        if (!ones) {
            lab_tensor_own(y);
            lab_tensor_release(y);
            return NULL;
        }
        beta = 1.0f;
    }
    if (in == 0 && beta == 0.0f) be->fill(Y, LAB_F32, y->numel, 0.0);
    be->gemm(0, 1, rows, out, in, 1.0f, lab_op_f32(x), in, lab_op_f32(w), in, beta, Y, out);
    lab_tensor *inputs[3] = {x, w, b};
    lab_node *n = lab_autograd_record(y, op, linear_backward, 3, inputs);
    if (n) n->iparam[0] = rows;
    return y;
}
