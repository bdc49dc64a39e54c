/* Sparse and segment ops: the CSR matrix type, spmm, and segment
 * sum/mean/max/softmax (GraphSAGE/GIN aggregation, graph readout, GAT edge
 * softmax).
 *
 * A CSR's structure is validated once, on the host, when it is made; spmm
 * then trusts it. Its transpose (for spmm's backward) is built on the host
 * the first time a backward pass needs it and cached in a->transpose. Two
 * threads may race to build it; the loser frees its copy (compare-and-swap),
 * so a shared graph can be used by concurrent NoProp blocks.
 *
 * Segment ids are i64 [N], unsorted, validated on the host. x is [N, ...]:
 * everything after dim 0 is treated as one feature dim f.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_int.h"

/* --- CSR ------------------------------------------------------------------- */

static void release_all(lab_tensor *a, lab_tensor *b, lab_tensor *c)
{
    lab_tensor_release(a);
    lab_tensor_release(b);
    lab_tensor_release(c);
}

/* A CSR from host arrays already known to be valid. values NULL = ones. */
static lab_csr *csr_from_host(int64_t rows, int64_t cols, int64_t nnz, const int64_t *rowptr,
                              const int64_t *colind, const float *values, lab_device dev)
{
    lab_csr *a = calloc(1, sizeof *a);
    if (!a) {
        lab_error_set("csr: out of host memory");
        return NULL;
    }
    int64_t np1 = rows + 1;
    /* Owned by the CSR, outside any scope of the caller. */
    lab_tensor *rp = lab_tensor_own(lab_tensor_from_data(LAB_I64, 1, &np1, rowptr, dev));
    lab_tensor *ci = nnz ? lab_tensor_own(lab_tensor_from_data(LAB_I64, 1, &nnz, colind, dev))
                         : lab_tensor_own(lab_tensor_empty(LAB_I64, 1, &nnz, dev));
    lab_tensor *va = values ? lab_tensor_own(lab_tensor_from_data(LAB_F32, 1, &nnz, values, dev))
                            : lab_tensor_own(lab_tensor_full(LAB_F32, 1, &nnz, 1.0, dev));
    if (!rp || !ci || !va) {
        release_all(rp, ci, va);
        free(a);
        return NULL;
    }
    a->rows = rows;
    a->cols = cols;
    a->nnz = nnz;
    a->rowptr = rp;
    a->colind = ci;
    a->values = va;
    a->refcount = 1;
    return a;
}

lab_csr *lab_csr_new(int64_t rows, int64_t cols, int64_t nnz, const int64_t *rowptr,
                     const int64_t *colind, const float *values, lab_device dev)
{
    const char *op = "csr_new";
    if (rows < 0 || cols < 0 || nnz < 0) {
        lab_error_set("%s: negative size (rows %lld, cols %lld, nnz %lld)", op, (long long)rows,
                      (long long)cols, (long long)nnz);
        return NULL;
    }
    if (!rowptr || (nnz > 0 && !colind)) {
        lab_error_set("%s: %s is NULL (rows %lld, nnz %lld)", op, rowptr ? "colind" : "rowptr",
                      (long long)rows, (long long)nnz);
        return NULL;
    }
    if (rowptr[0] != 0) {
        lab_error_set("%s: rowptr[0] is %lld, expected 0", op, (long long)rowptr[0]);
        return NULL;
    }
    for (int64_t r = 0; r < rows; r++) {
        if (rowptr[r + 1] < rowptr[r]) {
            lab_error_set("%s: rowptr decreases at row %lld (rowptr[%lld] = %lld > rowptr[%lld] = %lld)", op,
                          (long long)r, (long long)r, (long long)rowptr[r], (long long)(r + 1),
                          (long long)rowptr[r + 1]);
            return NULL;
        }
    }
    if (rowptr[rows] != nnz) {
        lab_error_set("%s: rowptr[%lld] = %lld but nnz = %lld", op, (long long)rows, (long long)rowptr[rows],
                      (long long)nnz);
        return NULL;
    }
    for (int64_t k = 0; k < nnz; k++) {
        if (colind[k] < 0 || colind[k] >= cols) {
            lab_error_set("%s: column id %lld at position %lld is out of range [0, %lld)", op,
                          (long long)colind[k], (long long)k, (long long)cols);
            return NULL;
        }
    }
    return csr_from_host(rows, cols, nnz, rowptr, colind, values, dev);
}

lab_csr *lab_csr_to(const lab_csr *a, lab_device dev)
{
    if (!a) return NULL;
    lab_csr *b = calloc(1, sizeof *b);
    if (!b) {
        lab_error_set("csr_to: out of host memory");
        return NULL;
    }
    lab_tensor *rp = lab_tensor_own(lab_tensor_to(a->rowptr, dev));
    lab_tensor *ci = lab_tensor_own(lab_tensor_to(a->colind, dev));
    lab_tensor *va = lab_tensor_own(lab_tensor_to(a->values, dev));
    if (!rp || !ci || !va) {
        release_all(rp, ci, va);
        free(b);
        return NULL;
    }
    *b = (lab_csr){a->rows, a->cols, a->nnz, rp, ci, va, NULL, 1};
    return b;
}

lab_csr *lab_csr_retain(lab_csr *a)
{
    if (a) __atomic_add_fetch(&a->refcount, 1, __ATOMIC_ACQ_REL);
    return a;
}

void lab_csr_release(lab_csr *a)
{
    if (!a || __atomic_sub_fetch(&a->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    release_all(a->rowptr, a->colind, a->values);
    lab_csr_release(a->transpose);
    free(a);
}

/* Host copy of a tensor's bytes (malloc'd; the caller frees). */
static void *host_copy(const lab_tensor *t)
{
    size_t bytes = (size_t)t->numel * lab_dtype_size(t->dtype);
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        lab_error_set("csr: out of host memory");
        return NULL;
    }
    if (lab_tensor_copy_to_host(t, p) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

/* Aᵀ in CSR by a counting sort over column ids; within a row of Aᵀ entries
 * keep A's row order. Cached in a->transpose. */
static lab_csr *csr_transpose(lab_csr *a)
{
    lab_csr *t = __atomic_load_n(&a->transpose, __ATOMIC_ACQUIRE);
    if (t) return t;
    int64_t *rp = host_copy(a->rowptr), *ci = host_copy(a->colind);
    float *va = host_copy(a->values);
    int64_t *trp = calloc((size_t)a->cols + 1, sizeof *trp);
    int64_t *tci = malloc((size_t)(a->nnz ? a->nnz : 1) * sizeof *tci);
    float *tva = malloc((size_t)(a->nnz ? a->nnz : 1) * sizeof *tva);
    if (rp && ci && va && trp && tci && tva) {
        for (int64_t k = 0; k < a->nnz; k++) trp[ci[k] + 1]++;
        for (int64_t c = 0; c < a->cols; c++) trp[c + 1] += trp[c];
        /* trp[c] is now where column c starts; fill moving a cursor per column. */
        int64_t *next = malloc((size_t)(a->cols ? a->cols : 1) * sizeof *next);
        if (next) {
            memcpy(next, trp, (size_t)a->cols * sizeof *next);
            for (int64_t r = 0; r < a->rows; r++)
                for (int64_t k = rp[r]; k < rp[r + 1]; k++) {
                    int64_t p = next[ci[k]]++;
                    tci[p] = r;
                    tva[p] = va[k];
                }
            t = csr_from_host(a->cols, a->rows, a->nnz, trp, tci, tva, a->values->device);
            free(next);
        } else {
            lab_error_set("csr: out of host memory");
        }
    } else if (rp && ci && va) {
        lab_error_set("csr: out of host memory");
    }
    free(rp);
    free(ci);
    free(va);
    free(trp);
    free(tci);
    free(tva);
    if (!t) return NULL;
    lab_csr *expected = NULL;
    if (!__atomic_compare_exchange_n(&a->transpose, &expected, t, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        lab_csr_release(t); /* another thread won */
        t = expected;
    }
    return t;
}

/* --- spmm ---------------------------------------------------------------------- */

static void csr_ctx_free(void *p) { lab_csr_release(p); }

static void spmm_backward(lab_node *node, lab_tensor *g)
{
    lab_csr *at = csr_transpose(node->ctx);
    if (!at) return; /* error set; the gradient is lost, as with any failed op */
    lab_tensor *x = node->inputs[0];
    lab_tensor *gx = lab_tensor_empty_like(x);
    if (!gx) return;
    int64_t f = x->ndim == 2 ? x->shape[1] : 1;
    lab_tensor_backend(g)->spmm(at->rows, at->cols, f, at->nnz, lab_op_i64(at->rowptr), lab_op_i64(at->colind),
                                lab_op_f32(at->values), lab_op_f32(g), lab_op_f32(gx));
    lab_node_accumulate(node, 0, gx);
}

lab_tensor *lab_spmm(lab_csr *a, lab_tensor *x)
{
    const char *op = "spmm";
    if (!a || !x) return NULL;
    if (lab_op_check_f32(op, "x", x) < 0 || lab_op_check_device(op, a->values, x) < 0) return NULL;
    if ((x->ndim != 1 && x->ndim != 2) || x->shape[0] != a->cols) {
        char s[96];
        lab_error_set("%s: A is [%lld, %lld] (CSR, nnz %lld) but x is %s", op, (long long)a->rows,
                      (long long)a->cols, (long long)a->nnz, lab_tensor_desc(x, s, sizeof s));
        return NULL;
    }
    const lab_backend *be = lab_op_backend(op, x, LAB_SLOT(spmm));
    if (!be) return NULL;
    int64_t shape[2] = {a->rows, x->ndim == 2 ? x->shape[1] : 1};
    lab_tensor *y = lab_tensor_empty(LAB_F32, x->ndim, shape, x->device);
    if (!y) return NULL;
    be->spmm(a->rows, a->cols, shape[1], a->nnz, lab_op_i64(a->rowptr), lab_op_i64(a->colind), lab_op_f32(a->values),
             lab_op_f32(x), lab_op_f32(y));
    lab_node *node = lab_autograd_record(y, op, spmm_backward, 1, &x);
    if (node) {
        node->ctx = lab_csr_retain(a);
        node->ctx_free = csr_ctx_free;
    }
    return y;
}

/* --- segments ------------------------------------------------------------------- */

/* Checks x [N, ...] f32 and seg i64 [N] in [0, nseg); gives N and f. */
static int seg_check(const char *op, const lab_tensor *x, const lab_tensor *seg, int64_t nseg, int64_t *n,
                     int64_t *f)
{
    char s[96], t[96];
    if (lab_op_check_f32(op, "x", x) < 0 || lab_op_check_device(op, x, seg) < 0 ||
        lab_op_check_dtype(op, "seg", seg, LAB_I64) < 0)
        return -1;
    if (x->ndim < 1)
        return lab_error_set("%s: x must have a row dim, got %s", op, lab_tensor_desc(x, s, sizeof s));
    if (seg->ndim != 1 || seg->shape[0] != x->shape[0])
        return lab_error_set("%s: seg %s must hold one id per row of x %s", op, lab_tensor_desc(seg, s, sizeof s),
                             lab_tensor_desc(x, t, sizeof t));
    if (nseg < 0) return lab_error_set("%s: nseg is negative (%lld)", op, (long long)nseg);
    if (lab_op_check_index(op, seg, nseg) < 0) return -1;
    *n = x->shape[0];
    *f = 1;
    for (int i = 1; i < x->ndim; i++) *f *= x->shape[i];
    return 0;
}

/* [nseg, x.shape[1:]] */
static lab_tensor *seg_output(const lab_tensor *x, int64_t nseg)
{
    int64_t shape[LAB_MAX_DIMS];
    shape[0] = nseg;
    for (int i = 1; i < x->ndim; i++) shape[i] = x->shape[i];
    return lab_tensor_empty(LAB_F32, x->ndim, shape, x->device);
}

/* Row-broadcast binary on [rows, f]: y = a (op) b, where b may be [rows, 1]
 * (bcol != 0) and is read with stride 0 along f. */
static void rows_binary(const lab_backend *be, lab_binary_op op, int64_t rows, int64_t f, float *y,
                        const float *a, const float *b, int bcol)
{
    int64_t shape[2] = {rows, f}, sa[2] = {f, 1}, sb[2] = {bcol ? 1 : f, bcol ? 0 : 1};
    be->binary(op, 2, shape, y, a, sa, b, sb);
}

static void segment_sum_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0], *seg = node->saved[0];
    lab_tensor *gx = lab_tensor_empty_like(x);
    if (!gx) return;
    int64_t nseg = node->iparam[0], f = node->iparam[1];
    lab_tensor_backend(g)->index_select(1, nseg, f, lab_op_f32(gx), lab_op_f32(g), lab_op_i64(seg), seg->numel);
    lab_node_accumulate(node, 0, gx);
}

lab_tensor *lab_segment_sum(lab_tensor *x, lab_tensor *seg, int64_t nseg)
{
    const char *op = "segment_sum";
    int64_t n, f;
    if (!x || !seg || seg_check(op, x, seg, nseg, &n, &f) < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, x, LAB_SLOT(segment_reduce));
    if (!be || !lab_op_backend(op, x, LAB_SLOT(index_select))) return NULL;
    lab_tensor *y = seg_output(x, nseg);
    if (!y) return NULL;
    be->segment_reduce(LAB_RED_SUM, n, f, lab_op_f32(y), NULL, lab_op_f32(x), lab_op_i64(seg), nseg);
    lab_node *node = lab_autograd_record(y, op, segment_sum_backward, 1, &x);
    if (node) {
        lab_node_save(node, 0, seg);
        node->iparam[0] = nseg;
        node->iparam[1] = f;
    }
    return y;
}

static void segment_mean_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0], *seg = node->saved[0], *cnt = node->saved[1];
    int64_t nseg = node->iparam[0], f = node->iparam[1];
    const lab_backend *be = lab_tensor_backend(g);
    lab_tensor *gs = lab_tensor_empty_like(g), *gx = lab_tensor_empty_like(x);
    if (!gs || !gx) return;
    rows_binary(be, LAB_BIN_DIV, nseg, f, lab_op_f32(gs), lab_op_f32(g), lab_op_f32(cnt), 1);
    be->index_select(1, nseg, f, lab_op_f32(gx), lab_op_f32(gs), lab_op_i64(seg), seg->numel);
    lab_node_accumulate(node, 0, gx);
}

lab_tensor *lab_segment_mean(lab_tensor *x, lab_tensor *seg, int64_t nseg)
{
    const char *op = "segment_mean";
    int64_t n, f;
    if (!x || !seg || seg_check(op, x, seg, nseg, &n, &f) < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, x, LAB_SLOT(segment_reduce));
    if (!be || !lab_op_backend(op, x, LAB_SLOT(binary)) || !lab_op_backend(op, x, LAB_SLOT(unary)) ||
        !lab_op_backend(op, x, LAB_SLOT(index_select)))
        return NULL;
    lab_scope_begin();
    int64_t cshape[2] = {nseg, 1};
    lab_tensor *ones = lab_tensor_full(LAB_F32, 1, &n, 1.0, x->device);
    lab_tensor *sum = seg_output(x, nseg);
    lab_tensor *cnt = lab_tensor_empty(LAB_F32, 2, cshape, x->device);
    lab_tensor *y = seg_output(x, nseg);
    if (!ones || !sum || !cnt || !y) {
        lab_scope_end();
        return NULL;
    }
    be->segment_reduce(LAB_RED_SUM, n, 1, lab_op_f32(cnt), NULL, lab_op_f32(ones), lab_op_i64(seg), nseg);
    /* Empty segments divide 0 by 1, giving 0. */
    be->unary(LAB_UN_CLAMP, nseg, lab_op_f32(cnt), lab_op_f32(cnt), 1.0f, INFINITY);
    be->segment_reduce(LAB_RED_SUM, n, f, lab_op_f32(sum), NULL, lab_op_f32(x), lab_op_i64(seg), nseg);
    rows_binary(be, LAB_BIN_DIV, nseg, f, lab_op_f32(y), lab_op_f32(sum), lab_op_f32(cnt), 1);
    lab_node *node = lab_autograd_record(y, op, segment_mean_backward, 1, &x);
    if (node) {
        lab_node_save(node, 0, seg);
        lab_node_save(node, 1, cnt);
        node->iparam[0] = nseg;
        node->iparam[1] = f;
    }
    lab_keep(y);
    lab_scope_end();
    return y;
}

/* Empty segments have arg -1. Their output is the constant 0, so their
 * gradient must go nowhere: scatter into a buffer with one spare row in
 * front, where index -1 lands, and hand back the view after it. */
static void segment_max_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0], *arg = node->saved[0];
    int64_t n = node->iparam[0], f = node->iparam[1], nseg = node->iparam[2];
    lab_tensor *buf = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){(n + 1) * f}, x->device);
    if (!buf) return;
    lab_tensor_backend(g)->scatter_add(1, n, f, nseg, lab_op_f32(buf) + f, lab_op_f32(g), lab_op_i64(arg));
    lab_tensor *gx = lab_tensor_view_of(buf->storage, buf->offset + (size_t)f * sizeof(float), LAB_F32, x->ndim,
                                        x->shape, x->device);
    lab_node_accumulate(node, 0, gx);
}

lab_tensor *lab_segment_max(lab_tensor *x, lab_tensor *seg, int64_t nseg)
{
    const char *op = "segment_max";
    int64_t n, f;
    if (!x || !seg || seg_check(op, x, seg, nseg, &n, &f) < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, x, LAB_SLOT(segment_reduce));
    if (!be || !lab_op_backend(op, x, LAB_SLOT(scatter_add))) return NULL;
    lab_tensor *y = seg_output(x, nseg);
    if (!y) return NULL;
    lab_tensor *arg = lab_tensor_empty(LAB_I64, y->ndim, y->shape, x->device);
    if (!arg) {
        lab_tensor_own(y);
        lab_tensor_release(y);
        return NULL;
    }
    be->segment_reduce(LAB_RED_MAX, n, f, lab_op_f32(y), lab_op_i64(arg), lab_op_f32(x), lab_op_i64(seg), nseg);
    lab_node *node = lab_autograd_record(y, op, segment_max_backward, 1, &x);
    if (node) {
        lab_node_save(node, 0, arg);
        node->iparam[0] = n;
        node->iparam[1] = f;
        node->iparam[2] = nseg;
    }
    lab_tensor_own(arg);
    lab_tensor_release(arg);
    return y;
}

static void segment_softmax_backward(lab_node *node, lab_tensor *g)
{
    /* gx = y * (g - sum_seg(g * y)[seg]) */
    lab_tensor *y = node->saved[0], *seg = node->saved[1];
    int64_t n = node->iparam[0], f = node->iparam[1], nseg = node->iparam[2];
    const lab_backend *be = lab_tensor_backend(g);
    lab_tensor *gy = lab_tensor_empty_like(y), *ts = lab_tensor_empty(LAB_F32, 1, (int64_t[]){nseg * f}, y->device);
    lab_tensor *tx = lab_tensor_empty_like(y), *gx = lab_tensor_empty_like(y);
    if (!gy || !ts || !tx || !gx) return;
    rows_binary(be, LAB_BIN_MUL, n, f, lab_op_f32(gy), lab_op_f32(g), lab_op_f32(y), 0);
    be->segment_reduce(LAB_RED_SUM, n, f, lab_op_f32(ts), NULL, lab_op_f32(gy), lab_op_i64(seg), nseg);
    be->index_select(1, nseg, f, lab_op_f32(tx), lab_op_f32(ts), lab_op_i64(seg), n);
    rows_binary(be, LAB_BIN_SUB, n, f, lab_op_f32(gy), lab_op_f32(g), lab_op_f32(tx), 0);
    rows_binary(be, LAB_BIN_MUL, n, f, lab_op_f32(gx), lab_op_f32(y), lab_op_f32(gy), 0);
    lab_node_accumulate(node, 0, gx);
}

lab_tensor *lab_segment_softmax(lab_tensor *x, lab_tensor *seg, int64_t nseg)
{
    const char *op = "segment_softmax";
    int64_t n, f;
    if (!x || !seg || seg_check(op, x, seg, nseg, &n, &f) < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, x, LAB_SLOT(segment_reduce));
    if (!be || !lab_op_backend(op, x, LAB_SLOT(binary)) || !lab_op_backend(op, x, LAB_SLOT(unary)) ||
        !lab_op_backend(op, x, LAB_SLOT(index_select)))
        return NULL;
    lab_scope_begin();
    int64_t sshape[1] = {nseg * f};
    lab_tensor *m = lab_tensor_empty(LAB_F32, 1, sshape, x->device);
    lab_tensor *arg = lab_tensor_empty(LAB_I64, 1, sshape, x->device);
    lab_tensor *s = lab_tensor_empty(LAB_F32, 1, sshape, x->device);
    lab_tensor *rx = lab_tensor_empty_like(x), *e = lab_tensor_empty_like(x), *y = lab_tensor_empty_like(x);
    if (!m || !arg || !s || !rx || !e || !y) {
        lab_scope_end();
        return NULL;
    }
    /* Subtract each segment's max before exp: every exponent is <= 0. */
    be->segment_reduce(LAB_RED_MAX, n, f, lab_op_f32(m), lab_op_i64(arg), lab_op_f32(x), lab_op_i64(seg), nseg);
    be->index_select(1, nseg, f, lab_op_f32(rx), lab_op_f32(m), lab_op_i64(seg), n);
    rows_binary(be, LAB_BIN_SUB, n, f, lab_op_f32(e), lab_op_f32(x), lab_op_f32(rx), 0);
    be->unary(LAB_UN_EXP, n * f, lab_op_f32(e), lab_op_f32(e), 0, 0);
    be->segment_reduce(LAB_RED_SUM, n, f, lab_op_f32(s), NULL, lab_op_f32(e), lab_op_i64(seg), nseg);
    be->index_select(1, nseg, f, lab_op_f32(rx), lab_op_f32(s), lab_op_i64(seg), n);
    rows_binary(be, LAB_BIN_DIV, n, f, lab_op_f32(y), lab_op_f32(e), lab_op_f32(rx), 0);
    lab_node *node = lab_autograd_record(y, op, segment_softmax_backward, 1, &x);
    if (node) {
        lab_op_save_output(node, 0, y); /* not lab_node_save: y holds the node */
        lab_node_save(node, 1, seg);
        node->iparam[0] = n;
        node->iparam[1] = f;
        node->iparam[2] = nseg;
    }
    lab_keep(y);
    lab_scope_end();
    return y;
}
