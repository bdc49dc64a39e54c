/* ops_int.h — helpers for writing ops (framework/core/op_*.c).
 *
 * The shape of an op:
 *
 *     lab_tensor *lab_exp(lab_tensor *a)
 *     {
 *         if (!a) return NULL;                          // NULL propagates
 *         if (lab_op_check_f32("exp", "a", a) < 0) return NULL;
 *         const lab_backend *be = lab_op_backend("exp", a, LAB_SLOT(unary));
 *         if (!be) return NULL;
 *         lab_tensor *y = lab_tensor_empty_like(a);
 *         if (!y) return NULL;
 *         be->unary(LAB_UN_EXP, a->numel, lab_op_f32(y), lab_op_f32(a), 0, 0);
 *         lab_node *n = lab_autograd_record(y, "exp", exp_backward, 1, &a);
 *         if (n) lab_op_save_output(n, 0, y);   // not lab_node_save: no cycle
 *         return y;
 *     }
 *
 * Backward functions run with grad mode off inside their own scope: they
 * call ops freely and hand results to lab_node_accumulate().
 */
#ifndef LAB_OPS_INT_H
#define LAB_OPS_INT_H

#include <stddef.h>

#include "backend.h"
#include "lab/lab.h"
#include "tensor_int.h"

/* Offset of a backend slot, for lab_op_backend's availability check. */
#define LAB_SLOT(field) offsetof(lab_backend, field)

/* The backend of t's device, or NULL with "<op>: not available on the <name>
 * backend" when the slot at `slot_offset` is NULL. */
const lab_backend *lab_op_backend(const char *op, const lab_tensor *t, size_t slot_offset);

static inline float *lab_op_f32(const lab_tensor *t) { return (float *)lab_tensor_raw(t); }
static inline int64_t *lab_op_i64(const lab_tensor *t) { return (int64_t *)lab_tensor_raw(t); }

/* "<op>: <arg> must be f32, got i64[3, 4]" */
int lab_op_check_dtype(const char *op, const char *arg, const lab_tensor *t, lab_dtype dt);
static inline int lab_op_check_f32(const char *op, const char *arg, const lab_tensor *t)
{
    return lab_op_check_dtype(op, arg, t, LAB_F32);
}
/* "<op>: a is on cpu but b is on cuda:0" */
int lab_op_check_device(const char *op, const lab_tensor *a, const lab_tensor *b);
/* Normalises dim (negative from the end) or fails with "<op>: dim 3 is out of
 * range for f32[2, 3]". */
int lab_op_dim(const char *op, const lab_tensor *t, int dim);
/* Index tensor values in [0, n), through the backend's check_index:
 * "<op>: index 12 at position 3 is out of range [0, 10)". On the cpu the
 * check fails here; on cuda it is queued and a failure surfaces at the next
 * wait for the device (backend.h), so no op waits for the GPU to check. */
int lab_op_check_index(const char *op, const lab_tensor *idx, int64_t n);
/* The same, naming the values `what` ("label") instead of "index". */
int lab_op_check_index_as(const char *op, const char *what, const lab_tensor *idx, int64_t n);

/* Shape of a op b under broadcasting, or "<op>: shapes [2, 3] and [4] do
 * not broadcast". */
int lab_op_broadcast(const char *op, const lab_tensor *a, const lab_tensor *b, int *ndim,
                     int64_t *shape);
/* Strides (elements) to read t as if it had `shape` (0 on broadcast dims). */
void lab_op_broadcast_strides(const lab_tensor *t, int ndim, const int64_t *shape, int64_t *strides);
void lab_op_contig_strides(int ndim, const int64_t *shape, int64_t *strides);
/* View t as [outer, shape[dim], inner]. */
void lab_op_split_dims(const lab_tensor *t, int dim, int64_t *outer, int64_t *n, int64_t *inner);

/* Save an op's own output y for its backward (defined in op_elementwise.c).
 * Use this, not lab_node_save(node, slot, y): the node hangs off y, so
 * retaining y itself makes a cycle that leaks both when no backward runs;
 * this saves a detached view of the same storage instead. */
void lab_op_save_output(lab_node *node, int slot, lab_tensor *y);

#endif
