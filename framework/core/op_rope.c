/* op_rope.c — rotary position embedding (lab/rope.h).
 *
 * Computes y = R(pos) x per head vector (rotate-half pairing). The rotation
 * is orthogonal, so the backward pass applies R(pos)^T = R(-pos) to the
 * output gradient with the same kernel. The kernel runs on host memory; a
 * tensor on another device is copied to the cpu and back (RoPE is O(n) and
 * small next to the matmuls around it). Tested by tests/unit/test_rope.c. */
#include <math.h>
#include <stdlib.h>

#include "lab/rope.h"
#include "ops_int.h"

/* sign = +1 forward, -1 inverse. x and y are host arrays of rows*T*D.
 * Returns -1 (with an error) when the angle table cannot be allocated. */
static int rope_kernel(const float *x, float *y, const int64_t *pos, int64_t rows, int64_t T, int64_t D,
                        double base, double sign)
{
    int64_t half = D / 2;
    double *cs = malloc(sizeof(double) * (size_t)(T * half * 2 + 1));
    if (!cs) return lab_error_set("rope: out of memory for a [%lld, %lld] angle table", (long long)T, (long long)half);
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < half; i++) {
            double ang = (double)pos[t] * pow(base, -2.0 * (double)i / (double)D);
            cs[(t * half + i) * 2] = cos(ang);
            cs[(t * half + i) * 2 + 1] = sign * sin(ang);
        }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < T; t++) {
            const float *xv = x + (r * T + t) * D;
            float *yv = y + (r * T + t) * D;
            for (int64_t i = 0; i < half; i++) {
                double c = cs[(t * half + i) * 2], s = cs[(t * half + i) * 2 + 1];
                double a = xv[i], b = xv[i + half];
                yv[i] = (float)(a * c - b * s);
                yv[i + half] = (float)(a * s + b * c);
            }
        }
    free(cs);
    return 0;
}

/* Applies the rotation with the given sign; not recorded. */
static lab_tensor *rope_apply(lab_tensor *x, lab_tensor *pos, double base, double sign)
{
    int64_t T = x->shape[x->ndim - 2], D = x->shape[x->ndim - 1];
    int64_t rows = T * D > 0 ? x->numel / (T * D) : 0;
    lab_tensor *y = NULL;
    lab_scope_begin();
    lab_tensor *xh = lab_device_eq(x->device, LAB_CPU) ? x : lab_tensor_to(x, LAB_CPU);
    lab_tensor *ph = lab_device_eq(pos->device, LAB_CPU) ? pos : lab_tensor_to(pos, LAB_CPU);
    lab_tensor *yh = xh ? lab_tensor_empty_like(xh) : NULL;
    if (xh && ph && yh &&
        (x->numel == 0 ||
         rope_kernel(lab_tensor_f32(xh), lab_tensor_f32(yh), lab_tensor_i64(ph), rows, T, D, base, sign) == 0)) {
        y = lab_device_eq(x->device, LAB_CPU) ? yh : lab_tensor_to(yh, x->device);
        lab_keep(y);
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
