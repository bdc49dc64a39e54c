/* Normalization: lab_layernorm, lab_rmsnorm, lab_batchnorm.
 *
 * layernorm and batchnorm are one backend primitive each way (backend.h);
 * the forward saves the per-row (layernorm) or per-channel (batchnorm)
 * statistics the backward needs, never a normalised copy of x. rmsnorm is
 * composed from elementwise and reduction ops, so autograd differentiates
 * it.
 *
 * batchnorm follows PyTorch: training normalises with the batch mean and
 * biased variance and moves running_mean/var toward the batch mean and the
 * unbiased variance by `momentum`; eval normalises with the running
 * statistics, which the backward then treats as constants.
 */
#include <string.h>

#include "ops_int.h"

static lab_tensor *drop(lab_tensor *t)
{
    lab_tensor_own(t);
    lab_tensor_release(t);
    return NULL;
}

/* A per-feature parameter: NULL, or f32 [n] on x's device. */
static int check_vec(const char *op, const char *name, const lab_tensor *v, const lab_tensor *x, int64_t n)
{
    if (!v) return 0;
    if (lab_op_check_f32(op, name, v) < 0 || lab_op_check_device(op, x, v) < 0) return -1;
    if (v->ndim != 1 || v->shape[0] != n) {
        char sv[96], sx[96];
        return lab_error_set("%s: %s %s does not match x %s (expected [%lld])", op, name,
                             lab_tensor_shape_str(v, sv, sizeof sv), lab_tensor_shape_str(x, sx, sizeof sx),
                             (long long)n);
    }
    return 0;
}

/* --- layernorm ----------------------------------------------------------------- */

static void layernorm_backward(lab_node *node, lab_tensor *gy)
{
    lab_tensor *x = node->inputs[0], *gamma = node->inputs[1];
    lab_tensor *mean = node->saved[0], *rstd = node->saved[1];
    const lab_backend *be = lab_tensor_backend(gy);
    int64_t cols = x->shape[x->ndim - 1], rows = x->numel / cols;
    int wx = lab_node_needs_grad(node, 0), wg = lab_node_needs_grad(node, 1), wb = lab_node_needs_grad(node, 2);
    lab_tensor *gx = wx ? lab_tensor_empty_like(x) : NULL;
    lab_tensor *gg = wg ? lab_tensor_empty(LAB_F32, 1, &cols, x->device) : NULL;
    lab_tensor *gb = wb ? lab_tensor_empty(LAB_F32, 1, &cols, x->device) : NULL;
    if ((wx && !gx) || (wg && !gg) || (wb && !gb)) return;
    be->layernorm_backward(rows, cols, gx ? lab_op_f32(gx) : NULL, gg ? lab_op_f32(gg) : NULL,
                           gb ? lab_op_f32(gb) : NULL, lab_op_f32(gy), lab_op_f32(x), lab_op_f32(mean),
                           lab_op_f32(rstd), gamma ? lab_op_f32(gamma) : NULL);
    lab_node_accumulate(node, 0, gx);
    lab_node_accumulate(node, 1, gg);
    lab_node_accumulate(node, 2, gb);
}

lab_tensor *lab_layernorm(lab_tensor *x, lab_tensor *gamma, lab_tensor *beta, float eps)
{
    if (!x) return NULL;
    const char *op = "layernorm";
    if (lab_op_check_f32(op, "x", x) < 0) return NULL;
    char sx[96];
    if (x->ndim < 1 || x->shape[x->ndim - 1] == 0) {
        lab_error_set("layernorm: x %s has no last dim to normalise", lab_tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    int64_t cols = x->shape[x->ndim - 1], rows = x->numel / cols;
    if (check_vec(op, "gamma", gamma, x, cols) < 0 || check_vec(op, "beta", beta, x, cols) < 0) return NULL;
    const lab_backend *be = lab_op_backend(op, x, LAB_SLOT(layernorm));
    if (!be || !lab_op_backend(op, x, LAB_SLOT(layernorm_backward))) return NULL;
    lab_tensor *y = lab_tensor_empty_like(x);
    if (!y) return NULL;
    lab_scope_begin();
    lab_tensor *mean = lab_tensor_empty(LAB_F32, 1, &rows, x->device);
    lab_tensor *rstd = lab_tensor_empty(LAB_F32, 1, &rows, x->device);
    int ok = mean && rstd;
    if (ok) {
        be->layernorm(rows, cols, lab_op_f32(y), lab_op_f32(mean), lab_op_f32(rstd), lab_op_f32(x),
                      gamma ? lab_op_f32(gamma) : NULL, beta ? lab_op_f32(beta) : NULL, eps);
        lab_tensor *in[3] = {x, gamma, beta};
        lab_node *n = lab_autograd_record(y, op, layernorm_backward, 3, in);
        if (n) {
            lab_node_save(n, 0, mean);
            lab_node_save(n, 1, rstd);
        }
    }
    lab_scope_end();
    return ok ? y : drop(y);
}

/* --- rmsnorm ------------------------------------------------------------------- */

lab_tensor *lab_rmsnorm(lab_tensor *x, lab_tensor *gamma, float eps)
{
    if (!x) return NULL;
    const char *op = "rmsnorm";
    if (lab_op_check_f32(op, "x", x) < 0) return NULL;
    char sx[96];
    if (x->ndim < 1 || x->shape[x->ndim - 1] == 0) {
        lab_error_set("rmsnorm: x %s has no last dim to normalise", lab_tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    if (check_vec(op, "gamma", gamma, x, x->shape[x->ndim - 1]) < 0) return NULL;
    lab_scope_begin();
    /* x * rsqrt(mean(x^2) + eps) * gamma */
    lab_tensor *r = lab_rsqrt(lab_add_scalar(lab_mean(lab_square(x), -1, 1), eps));
    lab_tensor *y = lab_mul(x, r);
    if (gamma) y = lab_mul(y, gamma);
    lab_keep(y);
    lab_scope_end();
    return y;
}

/* --- batchnorm ----------------------------------------------------------------- */

static void batchnorm_backward(lab_node *node, lab_tensor *gy)
{
    lab_tensor *x = node->inputs[0], *gamma = node->inputs[1];
    lab_tensor *mean = node->saved[0], *var = node->saved[1];
    const lab_backend *be = lab_tensor_backend(gy);
    int64_t N = x->shape[0], C = x->shape[1], S = x->ndim == 4 ? x->shape[2] * x->shape[3] : 1;
    int wx = lab_node_needs_grad(node, 0), wg = lab_node_needs_grad(node, 1), wb = lab_node_needs_grad(node, 2);
    lab_tensor *gx = wx ? lab_tensor_empty_like(x) : NULL;
    lab_tensor *gg = wg ? lab_tensor_empty(LAB_F32, 1, &C, x->device) : NULL;
    lab_tensor *gb = wb ? lab_tensor_empty(LAB_F32, 1, &C, x->device) : NULL;
    if ((wx && !gx) || (wg && !gg) || (wb && !gb)) return;
    be->batchnorm_backward(N, C, S, (int)node->iparam[0], gx ? lab_op_f32(gx) : NULL,
                           gg ? lab_op_f32(gg) : NULL, gb ? lab_op_f32(gb) : NULL, lab_op_f32(gy),
                           lab_op_f32(x), lab_op_f32(mean), lab_op_f32(var),
                           gamma ? lab_op_f32(gamma) : NULL, (float)node->fparam[0]);
    lab_node_accumulate(node, 0, gx);
    lab_node_accumulate(node, 1, gg);
    lab_node_accumulate(node, 2, gb);
}

lab_tensor *lab_batchnorm(lab_tensor *x, lab_tensor *gamma, lab_tensor *beta, lab_tensor *running_mean,
                          lab_tensor *running_var, int training, float momentum, float eps)
{
    if (!x) return NULL;
    const char *op = "batchnorm";
    if (lab_op_check_f32(op, "x", x) < 0) return NULL;
    char sx[96];
    lab_tensor_shape_str(x, sx, sizeof sx);
    if (x->ndim != 2 && x->ndim != 4) {
        lab_error_set("batchnorm: x must be [N, C] or [N, C, H, W], got %s", sx);
        return NULL;
    }
    int64_t N = x->shape[0], C = x->shape[1], S = x->ndim == 4 ? x->shape[2] * x->shape[3] : 1;
    if (check_vec(op, "gamma", gamma, x, C) < 0 || check_vec(op, "beta", beta, x, C) < 0 ||
        check_vec(op, "running_mean", running_mean, x, C) < 0 ||
        check_vec(op, "running_var", running_var, x, C) < 0)
        return NULL;
    if (!training && (!running_mean || !running_var)) {
        lab_error_set("batchnorm: eval mode needs running_mean and running_var (x %s)", sx);
        return NULL;
    }
    if (training && N * S <= 1) {
        lab_error_set("batchnorm: training needs more than one value per channel, got x %s", sx);
        return NULL;
    }
    if (running_mean && running_mean == running_var) {
        lab_error_set("batchnorm: running_mean and running_var are the same tensor");
        return NULL;
    }
    const lab_backend *be = lab_op_backend(op, x, LAB_SLOT(batchnorm));
    if (!be || !lab_op_backend(op, x, LAB_SLOT(batchnorm_stats)) ||
        !lab_op_backend(op, x, LAB_SLOT(batchnorm_backward)))
        return NULL;
    lab_tensor *y = lab_tensor_empty_like(x);
    if (!y) return NULL;
    lab_scope_begin();
    lab_tensor *mean = lab_tensor_empty(LAB_F32, 1, &C, x->device);
    lab_tensor *var = lab_tensor_empty(LAB_F32, 1, &C, x->device);
    int ok = mean && var;
    if (ok) {
        float *M = lab_op_f32(mean), *V = lab_op_f32(var);
        if (training) {
            be->batchnorm_stats(N, C, S, M, V, running_mean ? lab_op_f32(running_mean) : NULL,
                                running_var ? lab_op_f32(running_var) : NULL, momentum, lab_op_f32(x));
        } else {
            /* A private copy: the running stats may move before backward runs. */
            be->copy_d2d(x->device.index, M, lab_op_f32(running_mean), (size_t)C * sizeof(float));
            be->copy_d2d(x->device.index, V, lab_op_f32(running_var), (size_t)C * sizeof(float));
        }
        be->batchnorm(N, C, S, lab_op_f32(y), lab_op_f32(x), M, V, gamma ? lab_op_f32(gamma) : NULL,
                      beta ? lab_op_f32(beta) : NULL, eps);
        lab_tensor *in[3] = {x, gamma, beta};
        lab_node *n = lab_autograd_record(y, op, batchnorm_backward, 3, in);
        if (n) {
            lab_node_save(n, 0, mean);
            lab_node_save(n, 1, var);
            n->iparam[0] = training != 0;
            n->fparam[0] = eps;
        }
    }
    lab_scope_end();
    return ok ? y : drop(y);
}
