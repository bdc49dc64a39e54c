/* Indexing ops: index_select, gather, scatter_add, embedding, one_hot.
 *
 * Index tensors are i64, on the data's device, and validated on the host
 * before any kernel runs (lab_op_check_index), so the primitives never see
 * an index out of range. Backward passes are the adjoint primitives:
 * index_select <-> index_add, gather <-> scatter_add.
 */
#include "ops_int.h"

/* Data tensors that a pure copy may move: f32, and i32/i64 as 1 or 2
 * float-sized words per element (index_select on labels, node ids). */
static int copy_words(const char *op, const lab_tensor *a)
{
    if (a->dtype == LAB_F32 || a->dtype == LAB_I32) return 1;
    if (a->dtype == LAB_I64) return 2;
    char d[96];
    return lab_error_set("%s: unsupported dtype of %s", op, lab_tensor_desc(a, d, sizeof d));
}

/* --- index_select ---------------------------------------------------------- */

static void index_select_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *a = node->inputs[0], *idx = node->saved[0];
    int64_t outer, n, inner;
    lab_op_split_dims(a, (int)node->iparam[0], &outer, &n, &inner);
    lab_tensor *ga = lab_tensor_zeros_like(a);
    if (!ga) return;
    lab_tensor_backend(g)->index_add(outer, n, inner, lab_op_f32(ga), lab_op_f32(g), lab_op_i64(idx),
                                     idx->numel);
    lab_node_accumulate(node, 0, ga);
}

lab_tensor *lab_index_select(lab_tensor *a, int dim, lab_tensor *idx)
{
    const char *op = "index_select";
    if (!a || !idx) return NULL;
    int words = copy_words(op, a);
    int d = words < 0 ? -1 : lab_op_dim(op, a, dim);
    if (d < 0) return NULL;
    if (idx->ndim != 1) {
        char s[96];
        lab_error_set("%s: index must be 1-D, got %s", op, lab_tensor_desc(idx, s, sizeof s));
        return NULL;
    }
    if (lab_op_check_device(op, a, idx) < 0 || lab_op_check_index(op, idx, a->shape[d]) < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, a, LAB_SLOT(index_select));
    if (!be) return NULL;
    int64_t shape[LAB_MAX_DIMS], outer, n, inner;
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
    shape[d] = idx->numel;
    lab_tensor *y = lab_tensor_empty(a->dtype, a->ndim, shape, a->device);
    if (!y) return NULL;
    lab_op_split_dims(a, d, &outer, &n, &inner);
    be->index_select(outer, n, inner * words, lab_tensor_raw(y), lab_tensor_raw(a), lab_op_i64(idx),
                     idx->numel);
    lab_node *node = lab_autograd_record(y, op, index_select_backward, 1, &a);
    if (node) {
        lab_node_save(node, 0, idx);
        node->iparam[0] = d;
    }
    return y;
}

/* --- gather / scatter_add ---------------------------------------------------- */

/* idx must have a's rank and a's sizes in every dim except `d`. */
static int check_like_except(const char *op, const lab_tensor *a, const lab_tensor *idx, int d)
{
    int ok = idx->ndim == a->ndim;
    for (int i = 0; ok && i < a->ndim; i++)
        if (i != d && idx->shape[i] != a->shape[i]) ok = 0;
    if (ok) return 0;
    char s[96], t[96];
    return lab_error_set("%s: index %s must have the shape of the input %s except in dim %d", op,
                         lab_tensor_desc(idx, s, sizeof s), lab_tensor_desc(a, t, sizeof t), d);
}

static void gather_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *a = node->inputs[0], *idx = node->saved[0];
    int d = (int)node->iparam[0];
    int64_t outer, n, inner;
    lab_op_split_dims(a, d, &outer, &n, &inner);
    lab_tensor *ga = lab_tensor_zeros_like(a);
    if (!ga) return;
    lab_tensor_backend(g)->scatter_add(outer, n, inner, idx->shape[d], lab_op_f32(ga), lab_op_f32(g),
                                       lab_op_i64(idx));
    lab_node_accumulate(node, 0, ga);
}

lab_tensor *lab_gather(lab_tensor *a, int dim, lab_tensor *idx)
{
    const char *op = "gather";
    if (!a || !idx) return NULL;
    if (lab_op_check_f32(op, "input", a) < 0) return NULL;
    int d = lab_op_dim(op, a, dim);
    if (d < 0 || lab_op_check_device(op, a, idx) < 0 || lab_op_check_dtype(op, "index", idx, LAB_I64) < 0 ||
        check_like_except(op, a, idx, d) < 0 || lab_op_check_index(op, idx, a->shape[d]) < 0)
        return NULL;
    const lab_backend *be = lab_op_backend(op, a, LAB_SLOT(gather));
    if (!be) return NULL;
    lab_tensor *y = lab_tensor_empty(LAB_F32, idx->ndim, idx->shape, a->device);
    if (!y) return NULL;
    int64_t outer, n, inner;
    lab_op_split_dims(a, d, &outer, &n, &inner);
    be->gather(outer, n, inner, idx->shape[d], lab_op_f32(y), lab_op_f32(a), lab_op_i64(idx));
    lab_node *node = lab_autograd_record(y, op, gather_backward, 1, &a);
    if (node) {
        lab_node_save(node, 0, idx);
        node->iparam[0] = d;
    }
    return y;
}

static void scatter_add_backward(lab_node *node, lab_tensor *g)
{
    /* y = a + scatter(src): dy/da is the identity, dy/dsrc gathers. */
    lab_node_accumulate(node, 0, g);
    if (lab_node_needs_grad(node, 1)) {
        lab_tensor *idx = node->saved[0];
        int d = (int)node->iparam[0];
        int64_t outer, n, inner;
        lab_op_split_dims(g, d, &outer, &n, &inner);
        lab_tensor *gs = lab_tensor_empty_like(node->inputs[1]);
        if (!gs) return;
        lab_tensor_backend(g)->gather(outer, n, inner, idx->shape[d], lab_op_f32(gs), lab_op_f32(g),
                                      lab_op_i64(idx));
        lab_node_accumulate(node, 1, gs);
    }
}

lab_tensor *lab_scatter_add(lab_tensor *a, int dim, lab_tensor *idx, lab_tensor *src)
{
    const char *op = "scatter_add";
    if (!a || !idx || !src) return NULL;
    if (lab_op_check_f32(op, "input", a) < 0 || lab_op_check_f32(op, "src", src) < 0) return NULL;
    int d = lab_op_dim(op, a, dim);
    if (d < 0 || lab_op_check_device(op, a, idx) < 0 || lab_op_check_device(op, a, src) < 0 ||
        lab_op_check_dtype(op, "index", idx, LAB_I64) < 0 || check_like_except(op, a, idx, d) < 0)
        return NULL;
    if (!lab_tensor_same_shape(idx, src)) {
        char s[96], t[96];
        lab_error_set("%s: src %s must have the shape of the index %s", op, lab_tensor_desc(src, s, sizeof s),
                      lab_tensor_desc(idx, t, sizeof t));
        return NULL;
    }
    if (lab_op_check_index(op, idx, a->shape[d]) < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, a, LAB_SLOT(scatter_add));
    if (!be) return NULL;
    lab_tensor *y = lab_tensor_empty_like(a);
    if (!y) return NULL;
    if (lab_tensor_copy_(y, a) < 0) {
        lab_tensor_own(y);
        lab_tensor_release(y);
        return NULL;
    }
    int64_t outer, n, inner;
    lab_op_split_dims(a, d, &outer, &n, &inner);
    be->scatter_add(outer, n, inner, idx->shape[d], lab_op_f32(y), lab_op_f32(src), lab_op_i64(idx));
    lab_tensor *in[2] = {a, src};
    lab_node *node = lab_autograd_record(y, op, scatter_add_backward, 2, in);
    if (node) {
        lab_node_save(node, 0, idx);
        node->iparam[0] = d;
    }
    return y;
}

/* --- embedding ------------------------------------------------------------------ */

static void embedding_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *w = node->inputs[0], *idx = node->saved[0];
    lab_tensor *gw = lab_tensor_zeros_like(w);
    if (!gw) return;
    lab_tensor_backend(g)->index_add(1, w->shape[0], w->shape[1], lab_op_f32(gw), lab_op_f32(g),
                                     lab_op_i64(idx), idx->numel);
    lab_node_accumulate(node, 0, gw);
}

lab_tensor *lab_embedding(lab_tensor *weight, lab_tensor *idx)
{
    const char *op = "embedding";
    if (!weight || !idx) return NULL;
    if (lab_op_check_f32(op, "weight", weight) < 0) return NULL;
    char s[96];
    if (weight->ndim != 2) {
        lab_error_set("%s: weight must be 2-D [V, D], got %s", op, lab_tensor_desc(weight, s, sizeof s));
        return NULL;
    }
    if (idx->ndim >= LAB_MAX_DIMS) {
        lab_error_set("%s: index %s has too many dims (the output adds one; at most %d)", op,
                      lab_tensor_desc(idx, s, sizeof s), LAB_MAX_DIMS);
        return NULL;
    }
    if (lab_op_check_device(op, weight, idx) < 0 || lab_op_check_index(op, idx, weight->shape[0]) < 0)
        return NULL;
    const lab_backend *be = lab_op_backend(op, weight, LAB_SLOT(index_select));
    if (!be) return NULL;
    int64_t shape[LAB_MAX_DIMS];
    for (int i = 0; i < idx->ndim; i++) shape[i] = idx->shape[i];
    shape[idx->ndim] = weight->shape[1];
    lab_tensor *y = lab_tensor_empty(LAB_F32, idx->ndim + 1, shape, weight->device);
    if (!y) return NULL;
    be->index_select(1, weight->shape[0], weight->shape[1], lab_op_f32(y), lab_op_f32(weight), lab_op_i64(idx),
                     idx->numel);
    lab_node *node = lab_autograd_record(y, op, embedding_backward, 1, &weight);
    if (node) lab_node_save(node, 0, idx);
    return y;
}

/* --- one_hot ---------------------------------------------------------------------- */

lab_tensor *lab_one_hot(lab_tensor *idx, int64_t classes)
{
    const char *op = "one_hot";
    if (!idx) return NULL;
    char s[96];
    if (classes < 1) {
        lab_error_set("%s: classes must be at least 1, got %lld", op, (long long)classes);
        return NULL;
    }
    if (idx->ndim >= LAB_MAX_DIMS) {
        lab_error_set("%s: index %s has too many dims (the output adds one; at most %d)", op,
                      lab_tensor_desc(idx, s, sizeof s), LAB_MAX_DIMS);
        return NULL;
    }
    if (lab_op_check_index(op, idx, classes) < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, idx, LAB_SLOT(one_hot));
    if (!be) return NULL;
    int64_t shape[LAB_MAX_DIMS];
    for (int i = 0; i < idx->ndim; i++) shape[i] = idx->shape[i];
    shape[idx->ndim] = classes;
    lab_tensor *y = lab_tensor_empty(LAB_F32, idx->ndim + 1, shape, idx->device);
    if (!y) return NULL;
    be->one_hot(idx->numel, classes, lab_op_f32(y), lab_op_i64(idx));
    return y;
}
