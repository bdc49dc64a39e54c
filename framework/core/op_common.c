/* Shared op helpers, plus the copying ops (to, clone). */
#include <stdlib.h>
#include <string.h>

#include "ops_int.h"

const lab_backend *lab_op_backend(const char *op, const lab_tensor *t, size_t slot_offset)
{
    const lab_backend *be = lab_tensor_backend(t);
    void *slot;
    memcpy(&slot, (const char *)be + slot_offset, sizeof slot);
    if (!slot) {
        lab_error_set("%s: not available on the %s backend", op, be->name);
        return NULL;
    }
    return be;
}

int lab_op_check_dtype(const char *op, const char *arg, const lab_tensor *t, lab_dtype dt)
{
    if (t->dtype == dt) return 0;
    char d[96];
    return lab_error_set("%s: %s must be %s, got %s", op, arg, lab_dtype_name(dt), lab_tensor_desc(t, d, sizeof d));
}

int lab_op_check_device(const char *op, const lab_tensor *a, const lab_tensor *b)
{
    if (lab_device_eq(a->device, b->device)) return 0;
    char da[32], db[32];
    return lab_error_set("%s: inputs are on different devices (%s and %s)", op,
                         lab_device_str(a->device, da, sizeof da), lab_device_str(b->device, db, sizeof db));
}

int lab_op_dim(const char *op, const lab_tensor *t, int dim)
{
    int d = lab_tensor_dim(t, dim);
    if (d < 0) {
        char s[96];
        return lab_error_set("%s: dim %d is out of range for %s", op, dim, lab_tensor_desc(t, s, sizeof s));
    }
    return d;
}

int lab_op_check_index_as(const char *op, const char *what, const lab_tensor *idx, int64_t n)
{
    if (lab_op_check_dtype(op, what, idx, LAB_I64) < 0) return -1;
    if (idx->numel == 0) return 0;
    const lab_backend *be = lab_op_backend(op, idx, LAB_SLOT(check_index));
    if (!be) return -1;
    return be->check_index(idx->device.index, lab_op_i64(idx), idx->numel, n, op, what);
}

int lab_op_check_index(const char *op, const lab_tensor *idx, int64_t n)
{
    return lab_op_check_index_as(op, "index", idx, n);
}

int lab_op_broadcast(const char *op, const lab_tensor *a, const lab_tensor *b, int *ndim, int64_t *shape)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int i = 0; i < nd; i++) {
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t sa = ia >= 0 ? a->shape[ia] : 1, sb = ib >= 0 ? b->shape[ib] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char x[96], y[96];
            return lab_error_set("%s: shapes %s and %s do not broadcast", op,
                                 lab_tensor_shape_str(a, x, sizeof x), lab_tensor_shape_str(b, y, sizeof y));
        }
        shape[i] = sa == 1 ? sb : sa;
    }
    *ndim = nd;
    return 0;
}

void lab_op_contig_strides(int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        strides[i] = s;
        s *= shape[i];
    }
}

void lab_op_broadcast_strides(const lab_tensor *t, int ndim, const int64_t *shape, int64_t *strides)
{
    int64_t own[LAB_MAX_DIMS];
    lab_op_contig_strides(t->ndim, t->shape, own);
    for (int i = 0; i < ndim; i++) {
        int it = t->ndim - ndim + i;
        if (it < 0 || (t->shape[it] == 1 && shape[i] != 1))
            strides[i] = 0;
        else
            strides[i] = own[it];
    }
}

void lab_op_split_dims(const lab_tensor *t, int dim, int64_t *outer, int64_t *n, int64_t *inner)
{
    int64_t o = 1, in = 1;
    for (int i = 0; i < dim; i++) o *= t->shape[i];
    for (int i = dim + 1; i < t->ndim; i++) in *= t->shape[i];
    *outer = o;
    *n = t->shape[dim];
    *inner = in;
}

/* --- to / clone ---------------------------------------------------------- */

static void to_backward(lab_node *node, lab_tensor *g)
{
    lab_node_accumulate(node, 0, lab_tensor_to(g, node->inputs[0]->device));
}

lab_tensor *lab_tensor_to(lab_tensor *t, lab_device dev)
{
    if (!t) return NULL;
    lab_tensor *y = lab_tensor_empty(t->dtype, t->ndim, t->shape, dev);
    if (!y) return NULL;
    if (lab_tensor_copy_(y, t) < 0) {
        lab_tensor_own(y);
        lab_tensor_release(y);
        return NULL;
    }
    lab_autograd_record(y, lab_device_eq(dev, t->device) ? "clone" : "to", to_backward, 1, &t);
    return y;
}

lab_tensor *lab_tensor_clone(lab_tensor *t)
{
    if (!t) return NULL;
    return lab_tensor_to(t, t->device);
}
