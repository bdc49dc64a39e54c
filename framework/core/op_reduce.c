/* Reductions along a dim (sum, mean, max, argmax, var), over everything
 * (sum_all, mean_all), and softmax / log_softmax, with backward.
 *
 * Each reduces x viewed as [outer, n, inner] with one backend call. The
 * backward of a reduction broadcasts the output gradient back over the
 * reduced dim (lab_expand); max sends it to the first argmax only, through
 * the backend's scatter_add. var is composed of recorded ops (two passes:
 * mean, then squared deviations), so its gradient comes from theirs. */
#include <math.h>
#include <string.h>

#include "ops_int.h"

static lab_tensor *discard(lab_tensor *t)
{
    lab_tensor_own(t);
    lab_tensor_release(t);
    return NULL;
}

/* Checks a (f32) and dim; fills the output shape and the [outer, n, inner]
 * split. keep_shape always gets the keepdim shape (for backward). */
typedef struct {
    int dim, ndim;
    int64_t shape[LAB_MAX_DIMS], keep_shape[LAB_MAX_DIMS];
    int64_t outer, n, inner;
} red_plan;

static int plan(const char *op, const lab_tensor *a, int dim, int keepdim, red_plan *p)
{
    if (lab_op_check_f32(op, "input", a) < 0) return -1;
    int d = lab_op_dim(op, a, dim);
    if (d < 0) return -1;
    p->dim = d;
    memcpy(p->keep_shape, a->shape, sizeof p->keep_shape);
    p->keep_shape[d] = 1;
    p->ndim = 0;
    for (int i = 0; i < a->ndim; i++) {
        if (i == d && !keepdim) continue;
        p->shape[p->ndim++] = i == d ? 1 : a->shape[i];
    }
    lab_op_split_dims(a, d, &p->outer, &p->n, &p->inner);
    return 0;
}

/* g (output shape) -> input shape: reshape to keepdim, then broadcast. The
 * reduced dim is recovered from the input's shape and iparam[0]. */
static lab_tensor *spread(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0];
    int64_t keep[LAB_MAX_DIMS];
    memcpy(keep, x->shape, sizeof keep);
    if (x->ndim > 0) keep[node->iparam[0]] = 1;
    return lab_expand(lab_reshape(g, x->ndim, keep), x->ndim, x->shape);
}

/* Multiply t by s in place (t is fresh and private to the caller). */
static void scale_(lab_tensor *t, float s)
{
    lab_tensor_backend(t)->unary(LAB_UN_AFFINE, t->numel, lab_op_f32(t), lab_op_f32(t), s, 0.0f);
}

/* --- sum, mean -------------------------------------------------------------- */

static void sum_backward(lab_node *node, lab_tensor *g) { lab_node_accumulate(node, 0, spread(node, g)); }

static void mean_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *gx = spread(node, g);
    if (gx) scale_(gx, (float)node->fparam[0]);
    lab_node_accumulate(node, 0, gx);
}

static lab_tensor *sum_or_mean(const char *op, lab_tensor *a, int dim, int keepdim, int mean)
{
    if (!a) return NULL;
    red_plan p;
    if (plan(op, a, dim, keepdim, &p) < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, a, LAB_SLOT(reduce));
    if (!be) return NULL;
    lab_tensor *y = lab_tensor_empty(LAB_F32, p.ndim, p.shape, a->device);
    if (!y) return NULL;
    be->reduce(LAB_RED_SUM, p.outer, p.n, p.inner, lab_op_f32(y), NULL, lab_op_f32(a));
    /* mean over an empty dim is 0 * inf = NaN, as in PyTorch. */
    float inv = 1.0f / (float)p.n;
    if (mean) scale_(y, inv);
    lab_node *n = lab_autograd_record(y, op, mean ? mean_backward : sum_backward, 1, &a);
    if (n) {
        n->iparam[0] = p.dim;
        n->fparam[0] = inv;
    }
    return y;
}

lab_tensor *lab_sum(lab_tensor *a, int dim, int keepdim) { return sum_or_mean("sum", a, dim, keepdim, 0); }
lab_tensor *lab_mean(lab_tensor *a, int dim, int keepdim) { return sum_or_mean("mean", a, dim, keepdim, 1); }

/* --- max, argmax ------------------------------------------------------------ */

/* gx = 0 except gx[o, arg[o, i], i] = g[o, i]. */
static void max_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0], *arg = node->saved[0];
    const lab_backend *be = lab_op_backend("max", g, LAB_SLOT(scatter_add));
    if (!be) return;
    int64_t outer, n, inner;
    lab_op_split_dims(x, (int)node->iparam[0], &outer, &n, &inner);
    lab_tensor *gx = lab_tensor_zeros_like(x);
    if (!gx) return;
    be->scatter_add(outer, n, inner, 1, lab_op_f32(gx), lab_op_f32(g), lab_op_i64(arg));
    lab_node_accumulate(node, 0, gx);
}

/* Values and first arg-extreme along dim; *arg_out gets the i64 indices. */
static lab_tensor *max_impl(const char *op, lab_tensor *a, int dim, int keepdim, lab_tensor **arg_out)
{
    red_plan p;
    if (plan(op, a, dim, keepdim, &p) < 0) return NULL;
    if (p.n == 0) {
        char d[96];
        lab_error_set("%s: cannot reduce the empty dim %d of %s", op, p.dim, lab_tensor_desc(a, d, sizeof d));
        return NULL;
    }
    const lab_backend *be = lab_op_backend(op, a, LAB_SLOT(reduce));
    if (!be) return NULL;
    lab_tensor *y = lab_tensor_empty(LAB_F32, p.ndim, p.shape, a->device);
    lab_tensor *arg = lab_tensor_empty(LAB_I64, p.ndim, p.shape, a->device);
    if (!y || !arg) {
        discard(arg);
        return discard(y);
    }
    be->reduce(LAB_RED_MAX, p.outer, p.n, p.inner, lab_op_f32(y), lab_op_i64(arg), lab_op_f32(a));
    *arg_out = arg;
    return y;
}

lab_tensor *lab_max(lab_tensor *a, int dim, int keepdim)
{
    if (!a) return NULL;
    lab_scope_begin();
    lab_tensor *arg = NULL;
    lab_tensor *y = max_impl("max", a, dim, keepdim, &arg);
    if (y) {
        lab_node *n = lab_autograd_record(y, "max", max_backward, 1, &a);
        if (n) {
            n->iparam[0] = lab_tensor_dim(a, dim);
            lab_node_save(n, 0, arg);
        }
    }
    lab_keep(y);
    lab_scope_end();
    return y;
}

lab_tensor *lab_argmax(lab_tensor *a, int dim, int keepdim)
{
    if (!a) return NULL;
    lab_scope_begin();
    lab_tensor *arg = NULL;
    lab_tensor *y = max_impl("argmax", a, dim, keepdim, &arg);
    lab_tensor *r = y ? arg : NULL;
    lab_keep(r);
    lab_scope_end();
    return r;
}

/* --- var ------------------------------------------------------------------ */

lab_tensor *lab_var(lab_tensor *a, int dim, int unbiased, int keepdim)
{
    if (!a) return NULL;
    red_plan p;
    if (plan("var", a, dim, keepdim, &p) < 0) return NULL;
    /* No degrees of freedom left (n <= 1 unbiased, n == 0): NaN, as PyTorch. */
    int64_t dof = p.n - (unbiased ? 1 : 0);
    float inv = dof > 0 ? 1.0f / (float)dof : NAN;
    lab_scope_begin();
    lab_tensor *dev = lab_sub(a, lab_mean(a, p.dim, 1));
    lab_tensor *y = lab_mul_scalar(lab_sum(lab_square(dev), p.dim, keepdim), inv);
    lab_keep(y);
    lab_scope_end();
    return y;
}

/* --- over all elements ------------------------------------------------------ */

static void all_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0];
    lab_tensor *gx = lab_expand(g, x->ndim, x->shape);
    if (gx && node->fparam[0] != 1.0) scale_(gx, (float)node->fparam[0]);
    lab_node_accumulate(node, 0, gx);
}

static lab_tensor *reduce_all(const char *op, lab_tensor *a, int mean)
{
    if (!a) return NULL;
    if (lab_op_check_f32(op, "input", a) < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, a, LAB_SLOT(reduce));
    if (!be) return NULL;
    lab_tensor *y = lab_tensor_empty(LAB_F32, 0, NULL, a->device);
    if (!y) return NULL;
    be->reduce(LAB_RED_SUM, 1, a->numel, 1, lab_op_f32(y), NULL, lab_op_f32(a));
    float s = mean ? 1.0f / (float)a->numel : 1.0f;
    if (mean) scale_(y, s);
    lab_node *n = lab_autograd_record(y, op, all_backward, 1, &a);
    if (n) n->fparam[0] = s;
    return y;
}

lab_tensor *lab_sum_all(lab_tensor *a) { return reduce_all("sum_all", a, 0); }
lab_tensor *lab_mean_all(lab_tensor *a) { return reduce_all("mean_all", a, 1); }

/* --- softmax ------------------------------------------------------------------ */

static void softmax_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0], *y = node->saved[0];
    const lab_backend *be = lab_op_backend(node->op, g, LAB_SLOT(softmax_backward));
    if (!be) return;
    int64_t outer, n, inner;
    lab_op_split_dims(x, (int)node->iparam[0], &outer, &n, &inner);
    lab_tensor *gx = lab_tensor_empty_like(x);
    if (!gx) return;
    be->softmax_backward(outer, n, inner, lab_op_f32(gx), lab_op_f32(g), lab_op_f32(y), (int)node->iparam[1]);
    lab_node_accumulate(node, 0, gx);
}

static lab_tensor *softmax_op(const char *op, lab_tensor *a, int dim, int log)
{
    if (!a) return NULL;
    if (lab_op_check_f32(op, "input", a) < 0) return NULL;
    int d = lab_op_dim(op, a, dim);
    if (d < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, a, LAB_SLOT(softmax));
    if (!be) return NULL;
    int64_t outer, n, inner;
    lab_op_split_dims(a, d, &outer, &n, &inner);
    lab_tensor *y = lab_tensor_empty_like(a);
    if (!y) return NULL;
    be->softmax(outer, n, inner, lab_op_f32(y), lab_op_f32(a), log);
    lab_node *node = lab_autograd_record(y, op, softmax_backward, 1, &a);
    if (node) {
        node->iparam[0] = d;
        node->iparam[1] = log;
        lab_op_save_output(node, 0, y);
    }
    return y;
}

lab_tensor *lab_softmax(lab_tensor *a, int dim) { return softmax_op("softmax", a, dim, 0); }
lab_tensor *lab_log_softmax(lab_tensor *a, int dim) { return softmax_op("log_softmax", a, dim, 1); }
