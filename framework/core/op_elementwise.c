/* Elementwise ops with NumPy broadcasting, and their backward.
 *
 * Forward: check, allocate the (broadcast) output, one backend call. Unary
 * ops and the scalar forms (add_scalar, mul_scalar, pow_scalar, affine) are
 * all one `unary` call with parameters; binary ops one `binary` call.
 * Backward of a broadcasting op computes the full-shape gradient and sums it
 * down to each input's shape with lab_sum_to (a view when nothing is summed).
 *
 * Saved outputs go through lab_op_save_output: a node that retained its own
 * output would keep both alive forever when no backward runs. */
#include <math.h>

#include "ops_int.h"

void lab_op_save_output(lab_node *node, int slot, lab_tensor *y)
{
    if (!node || !y) return;
    lab_tensor *v = lab_tensor_own(lab_tensor_detach(y));
    lab_node_save(node, slot, v);
    lab_tensor_release(v);
}

static lab_tensor *sum_to_like(lab_tensor *g, const lab_tensor *like)
{
    return lab_sum_to(g, like->ndim, like->shape);
}

/* --- unary ------------------------------------------------------------------ */

static void unary_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0], *y = node->saved[0];
    const lab_backend *be = lab_op_backend(node->op, g, LAB_SLOT(unary_backward));
    if (!be) return;
    lab_tensor *gx = lab_tensor_empty_like(x);
    if (!gx) return;
    be->unary_backward((lab_unary_op)node->iparam[0], x->numel, lab_op_f32(gx), lab_op_f32(g),
                       lab_op_f32(x), lab_op_f32(y), (float)node->fparam[0], (float)node->fparam[1]);
    lab_node_accumulate(node, 0, gx);
}

static lab_tensor *unary_op(const char *name, lab_unary_op op, lab_tensor *a, float p0, float p1)
{
    if (!a) return NULL;
    if (lab_op_check_f32(name, "input", a) < 0) return NULL;
    const lab_backend *be = lab_op_backend(name, a, LAB_SLOT(unary));
    if (!be) return NULL;
    lab_tensor *y = lab_tensor_empty_like(a);
    if (!y) return NULL;
    be->unary(op, a->numel, lab_op_f32(y), lab_op_f32(a), p0, p1);
    lab_node *n = lab_autograd_record(y, name, unary_backward, 1, &a);
    if (n) {
        n->iparam[0] = op;
        n->fparam[0] = p0;
        n->fparam[1] = p1;
        lab_op_save_output(n, 0, y);
    }
    return y;
}

lab_tensor *lab_neg(lab_tensor *a) { return unary_op("neg", LAB_UN_NEG, a, 0, 0); }
lab_tensor *lab_exp(lab_tensor *a) { return unary_op("exp", LAB_UN_EXP, a, 0, 0); }
lab_tensor *lab_log(lab_tensor *a) { return unary_op("log", LAB_UN_LOG, a, 0, 0); }
lab_tensor *lab_sqrt(lab_tensor *a) { return unary_op("sqrt", LAB_UN_SQRT, a, 0, 0); }
lab_tensor *lab_rsqrt(lab_tensor *a) { return unary_op("rsqrt", LAB_UN_RSQRT, a, 0, 0); }
lab_tensor *lab_abs(lab_tensor *a) { return unary_op("abs", LAB_UN_ABS, a, 0, 0); }
lab_tensor *lab_square(lab_tensor *a) { return unary_op("square", LAB_UN_SQUARE, a, 0, 0); }
lab_tensor *lab_sin(lab_tensor *a) { return unary_op("sin", LAB_UN_SIN, a, 0, 0); }
lab_tensor *lab_cos(lab_tensor *a) { return unary_op("cos", LAB_UN_COS, a, 0, 0); }
lab_tensor *lab_relu(lab_tensor *a) { return unary_op("relu", LAB_UN_RELU, a, 0, 0); }
lab_tensor *lab_gelu(lab_tensor *a) { return unary_op("gelu", LAB_UN_GELU, a, 0, 0); }
lab_tensor *lab_silu(lab_tensor *a) { return unary_op("silu", LAB_UN_SILU, a, 0, 0); }
lab_tensor *lab_tanh(lab_tensor *a) { return unary_op("tanh", LAB_UN_TANH, a, 0, 0); }
lab_tensor *lab_sigmoid(lab_tensor *a) { return unary_op("sigmoid", LAB_UN_SIGMOID, a, 0, 0); }
lab_tensor *lab_softplus(lab_tensor *a) { return unary_op("softplus", LAB_UN_SOFTPLUS, a, 0, 0); }

lab_tensor *lab_leaky_relu(lab_tensor *a, float slope)
{
    return unary_op("leaky_relu", LAB_UN_LEAKY_RELU, a, slope, 0);
}

lab_tensor *lab_clamp(lab_tensor *a, float lo, float hi)
{
    if (!a) return NULL;
    if (!(lo <= hi)) {
        lab_error_set("clamp: empty range [%g, %g]", lo, hi);
        return NULL;
    }
    return unary_op("clamp", LAB_UN_CLAMP, a, lo, hi);
}

lab_tensor *lab_add_scalar(lab_tensor *a, float s) { return unary_op("add_scalar", LAB_UN_AFFINE, a, 1.0f, s); }
lab_tensor *lab_mul_scalar(lab_tensor *a, float s) { return unary_op("mul_scalar", LAB_UN_AFFINE, a, s, 0.0f); }
lab_tensor *lab_affine(lab_tensor *a, float s, float t) { return unary_op("affine", LAB_UN_AFFINE, a, s, t); }
lab_tensor *lab_pow_scalar(lab_tensor *a, float p) { return unary_op("pow_scalar", LAB_UN_POW, a, p, 0); }

/* --- binary ----------------------------------------------------------------- */

static lab_tensor *binary_op(const char *name, lab_binary_op op, lab_tensor *a, lab_tensor *b,
                             lab_backward_fn bw, lab_node **node)
{
    if (node) *node = NULL;
    if (!a || !b) return NULL;
    if (lab_op_check_f32(name, "a", a) < 0 || lab_op_check_f32(name, "b", b) < 0) return NULL;
    if (lab_op_check_device(name, a, b) < 0) return NULL;
    int nd;
    int64_t shape[LAB_MAX_DIMS], sa[LAB_MAX_DIMS], sb[LAB_MAX_DIMS];
    if (lab_op_broadcast(name, a, b, &nd, shape) < 0) return NULL;
    const lab_backend *be = lab_op_backend(name, a, LAB_SLOT(binary));
    if (!be) return NULL;
    lab_tensor *y = lab_tensor_empty(LAB_F32, nd, shape, a->device);
    if (!y) return NULL;
    lab_op_broadcast_strides(a, nd, shape, sa);
    lab_op_broadcast_strides(b, nd, shape, sb);
    be->binary(op, nd, shape, lab_op_f32(y), lab_op_f32(a), sa, lab_op_f32(b), sb);
    if (bw) {
        lab_tensor *in[2] = {a, b};
        lab_node *n = lab_autograd_record(y, name, bw, 2, in);
        if (node) *node = n;
    }
    return y;
}

static void add_backward(lab_node *node, lab_tensor *g)
{
    if (lab_node_needs_grad(node, 0)) lab_node_accumulate(node, 0, sum_to_like(g, node->inputs[0]));
    if (lab_node_needs_grad(node, 1)) lab_node_accumulate(node, 1, sum_to_like(g, node->inputs[1]));
}

static void sub_backward(lab_node *node, lab_tensor *g)
{
    if (lab_node_needs_grad(node, 0)) lab_node_accumulate(node, 0, sum_to_like(g, node->inputs[0]));
    if (lab_node_needs_grad(node, 1))
        lab_node_accumulate(node, 1, lab_neg(sum_to_like(g, node->inputs[1])));
}

static void mul_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *a = node->inputs[0], *b = node->inputs[1];
    if (lab_node_needs_grad(node, 0)) lab_node_accumulate(node, 0, sum_to_like(lab_mul(g, b), a));
    if (lab_node_needs_grad(node, 1)) lab_node_accumulate(node, 1, sum_to_like(lab_mul(g, a), b));
}

/* y = a / b: da = g / b, db = -g a / b^2 = -(g / b) y. */
static void div_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *a = node->inputs[0], *b = node->inputs[1], *y = node->saved[0];
    lab_tensor *gb = lab_div(g, b);
    if (lab_node_needs_grad(node, 0)) lab_node_accumulate(node, 0, sum_to_like(gb, a));
    if (lab_node_needs_grad(node, 1)) lab_node_accumulate(node, 1, lab_neg(sum_to_like(lab_mul(gb, y), b)));
}

/* As PyTorch: da = g b a^(b-1), taken as 0 where b == 0; db = g y log(a),
 * taken as 0 where a == 0 and b >= 0 (the limit from above). */
static void pow_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *a = node->inputs[0], *b = node->inputs[1], *y = node->saved[0];
    lab_tensor *zero = lab_tensor_zeros(LAB_F32, 0, NULL, a->device);
    if (lab_node_needs_grad(node, 0)) {
        lab_tensor *d = lab_mul(lab_mul(g, b), lab_pow(a, lab_add_scalar(b, -1.0f)));
        lab_node_accumulate(node, 0, sum_to_like(lab_where(lab_eq(b, zero), zero, d), a));
    }
    if (lab_node_needs_grad(node, 1)) {
        lab_tensor *d = lab_mul(lab_mul(g, y), lab_log(a));
        lab_tensor *at0 = lab_mul(lab_eq(a, zero), lab_affine(lab_lt(b, zero), -1.0f, 1.0f));
        lab_node_accumulate(node, 1, sum_to_like(lab_where(at0, zero, d), b));
    }
}

/* As PyTorch: the gradient goes to the larger (smaller) operand, split
 * evenly on ties; a's share is 1 - [a loses] - [tie]/2, so a NaN pair (no
 * comparison holds) passes the full gradient to both. */
static void extremum_backward(lab_node *node, lab_tensor *g, int is_max)
{
    lab_tensor *a = node->inputs[0], *b = node->inputs[1];
    lab_tensor *half = lab_mul_scalar(lab_eq(a, b), 0.5f);
    if (lab_node_needs_grad(node, 0)) {
        lab_tensor *lose = is_max ? lab_lt(a, b) : lab_gt(a, b);
        lab_tensor *wa = lab_affine(lab_add(lose, half), -1.0f, 1.0f);
        lab_node_accumulate(node, 0, sum_to_like(lab_mul(g, wa), a));
    }
    if (lab_node_needs_grad(node, 1)) {
        lab_tensor *lose = is_max ? lab_gt(a, b) : lab_lt(a, b);
        lab_tensor *wb = lab_affine(lab_add(lose, half), -1.0f, 1.0f);
        lab_node_accumulate(node, 1, sum_to_like(lab_mul(g, wb), b));
    }
}

static void max_backward(lab_node *node, lab_tensor *g) { extremum_backward(node, g, 1); }
static void min_backward(lab_node *node, lab_tensor *g) { extremum_backward(node, g, 0); }

lab_tensor *lab_add(lab_tensor *a, lab_tensor *b) { return binary_op("add", LAB_BIN_ADD, a, b, add_backward, NULL); }
lab_tensor *lab_sub(lab_tensor *a, lab_tensor *b) { return binary_op("sub", LAB_BIN_SUB, a, b, sub_backward, NULL); }
lab_tensor *lab_mul(lab_tensor *a, lab_tensor *b) { return binary_op("mul", LAB_BIN_MUL, a, b, mul_backward, NULL); }
lab_tensor *lab_maximum(lab_tensor *a, lab_tensor *b) { return binary_op("maximum", LAB_BIN_MAX, a, b, max_backward, NULL); }
lab_tensor *lab_minimum(lab_tensor *a, lab_tensor *b) { return binary_op("minimum", LAB_BIN_MIN, a, b, min_backward, NULL); }
lab_tensor *lab_gt(lab_tensor *a, lab_tensor *b) { return binary_op("gt", LAB_BIN_GT, a, b, NULL, NULL); }
lab_tensor *lab_lt(lab_tensor *a, lab_tensor *b) { return binary_op("lt", LAB_BIN_LT, a, b, NULL, NULL); }
lab_tensor *lab_eq(lab_tensor *a, lab_tensor *b) { return binary_op("eq", LAB_BIN_EQ, a, b, NULL, NULL); }

lab_tensor *lab_div(lab_tensor *a, lab_tensor *b)
{
    lab_node *n;
    lab_tensor *y = binary_op("div", LAB_BIN_DIV, a, b, div_backward, &n);
    lab_op_save_output(n, 0, y);
    return y;
}

lab_tensor *lab_pow(lab_tensor *a, lab_tensor *b)
{
    lab_node *n;
    lab_tensor *y = binary_op("pow", LAB_BIN_POW, a, b, pow_backward, &n);
    lab_op_save_output(n, 0, y);
    return y;
}

/* --- where ------------------------------------------------------------------ */

static void where_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *c = node->inputs[0], *a = node->inputs[1], *b = node->inputs[2];
    lab_tensor *zero = lab_tensor_zeros(LAB_F32, 0, NULL, g->device);
    if (lab_node_needs_grad(node, 1)) lab_node_accumulate(node, 1, sum_to_like(lab_where(c, g, zero), a));
    if (lab_node_needs_grad(node, 2)) lab_node_accumulate(node, 2, sum_to_like(lab_where(c, zero, g), b));
}

lab_tensor *lab_where(lab_tensor *cond, lab_tensor *a, lab_tensor *b)
{
    if (!cond || !a || !b) return NULL;
    if (lab_op_check_f32("where", "cond", cond) < 0 || lab_op_check_f32("where", "a", a) < 0 ||
        lab_op_check_f32("where", "b", b) < 0)
        return NULL;
    if (lab_op_check_device("where", cond, a) < 0 || lab_op_check_device("where", cond, b) < 0) return NULL;
    const lab_tensor *ts[3] = {cond, a, b};
    int nd = 0;
    for (int k = 0; k < 3; k++) nd = ts[k]->ndim > nd ? ts[k]->ndim : nd;
    int64_t shape[LAB_MAX_DIMS];
    for (int i = 0; i < nd; i++) {
        shape[i] = 1;
        for (int k = 0; k < 3; k++) {
            int j = ts[k]->ndim - nd + i;
            int64_t s = j >= 0 ? ts[k]->shape[j] : 1;
            if (s == 1) continue;
            if (shape[i] != 1 && shape[i] != s) {
                char x[96], y[96], z[96];
                lab_error_set("where: shapes %s (cond), %s (a) and %s (b) do not broadcast",
                              lab_tensor_shape_str(cond, x, sizeof x), lab_tensor_shape_str(a, y, sizeof y),
                              lab_tensor_shape_str(b, z, sizeof z));
                return NULL;
            }
            shape[i] = s;
        }
    }
    const lab_backend *be = lab_op_backend("where", a, LAB_SLOT(where));
    if (!be) return NULL;
    lab_tensor *y = lab_tensor_empty(LAB_F32, nd, shape, a->device);
    if (!y) return NULL;
    int64_t sc[LAB_MAX_DIMS], sa[LAB_MAX_DIMS], sb[LAB_MAX_DIMS];
    lab_op_broadcast_strides(cond, nd, shape, sc);
    lab_op_broadcast_strides(a, nd, shape, sa);
    lab_op_broadcast_strides(b, nd, shape, sb);
    be->where(nd, shape, lab_op_f32(y), lab_op_f32(cond), sc, lab_op_f32(a), sa, lab_op_f32(b), sb);
    lab_tensor *in[3] = {cond, a, b};
    lab_autograd_record(y, "where", where_backward, 3, in);
    return y;
}
