/* op_rope.c — rotary position embedding (lab/rope.h).
 *
 * Computes y = R(pos) x per head vector (rotate-half pairing). The rotation
 * is orthogonal, so the backward pass applies R(pos)^T = R(-pos) to the
 * output gradient with the same kernel: the backend's rope slot (cpu:
 * kernels/cpu/cpu_elementwise.c, cuda: kernels/cuda/cuda_elementwise.cu), so
 * a CUDA tensor never round-trips through the host. Tested by
 * tests/unit/test_rope.c and tests/parity/test_parity_elementwise.c. */
#include <math.h>
#include <stdlib.h>

#include "lab/rope.h"
#include "ops_int.h"

/* Applies the rotation with the given sign on x's device; not recorded.
 * pos may live elsewhere (it is T integers): it is copied to x's device. */
static lab_tensor *rope_apply(lab_tensor *x, lab_tensor *pos, double base, double sign)
{
    const lab_backend *be = lab_op_backend("rope", x, LAB_SLOT(rope));
    if (!be) return NULL;
    int64_t T = x->shape[x->ndim - 2], D = x->shape[x->ndim - 1];
    int64_t rows = T * D > 0 ? x->numel / (T * D) : 0;
    lab_tensor *y = NULL;
    lab_scope_begin();
    lab_tensor *pd = lab_device_eq(pos->device, x->device) ? pos : lab_tensor_to(pos, x->device);
    lab_tensor *yo = pd ? lab_tensor_empty_like(x) : NULL;
    if (yo) {
        if (x->numel > 0) be->rope(rows, T, D, lab_op_f32(yo), lab_op_f32(x), lab_op_i64(pd), base, sign);
        y = lab_keep(yo);
    }
    lab_scope_end();
    return y;
}

static void rope_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *gx = rope_apply(g, node->saved[0], node->fparam[0], -1.0);
    lab_node_accumulate(node, 0, gx);
}

lab_tensor *lab_rope(lab_tensor *x, lab_tensor *pos, float base)
{
    if (!x || !pos) return NULL;
    if (lab_op_check_f32("rope", "x", x) < 0 || lab_op_check_dtype("rope", "pos", pos, LAB_I64) < 0) return NULL;
    char b1[64], b2[64];
    if (x->ndim < 2 || x->shape[x->ndim - 1] % 2 != 0) {
        lab_error_set("rope: x must be [..., T, D] with D even, got %s", lab_tensor_desc(x, b1, sizeof b1));
        return NULL;
    }
    if (pos->ndim != 1 || pos->shape[0] != x->shape[x->ndim - 2]) {
        lab_error_set("rope: pos must be i64 [T] with T = %lld for x %s, got %s",
                      (long long)x->shape[x->ndim - 2], lab_tensor_desc(x, b1, sizeof b1),
                      lab_tensor_desc(pos, b2, sizeof b2));
        return NULL;
    }
    if (!(base > 1.0f)) {
        lab_error_set("rope: base must be > 1, got %g", (double)base);
        return NULL;
    }
    int prev = lab_grad_set_enabled(0);
    lab_tensor *y = rope_apply(x, pos, base, 1.0);
    lab_grad_set_enabled(prev);
    if (!y) return NULL;
    lab_node *n = lab_autograd_record(y, "rope", rope_backward, 1, &x);
    if (n) {
        lab_node_save(n, 0, pos);
        n->fparam[0] = base;
    }
    return y;
}
