/* Losses, each a mean: cross_entropy (from logits), nll_loss, mse_loss,
 * bce_with_logits. Every one is a single autograd node with a fused backward
 * written with backend primitives (cross_entropy runs on every training
 * step):
 *
 *   cross_entropy  logp = log_softmax(x);  loss = -(1/N) sum_i logp[i, y_i]
 *                  dx   = softmax_backward(log) of gy = -(g/N) onehot(y),
 *                         which is (g/N) (softmax(x) - onehot(y))
 *   nll_loss       as above without the log_softmax
 *   mse_loss       loss = (1/n) sum (p - t)^2;  dp = (2g/n)(p - t) = -dt
 *   bce_with_logits  loss = (1/n) sum max(x,0) - x t + log(1 + e^-|x|),
 *                  the form that never exponentiates a positive number;
 *                  dx = (g/n)(sigmoid(x) - t), dt = -(g/n) x
 *
 * The loss is a 0-dim tensor on the inputs' device; the incoming gradient g
 * stays there too (scaled with 1-element primitives, never read on the host).
 */
#include <math.h>
#include <stdlib.h>

#include "ops_int.h"

/* Every primitive a loss's forward or backward uses, checked up front so a
 * backward never meets a missing slot. */
static const lab_backend *loss_backend(const char *op, const lab_tensor *t, const size_t *slots, int nslots)
{
    const lab_backend *be = NULL;
    for (int i = 0; i < nslots; i++)
        if (!(be = lab_op_backend(op, t, slots[i]))) return NULL;
    return be;
}

/* labels i64 [N] on x's device, each in [0, classes):
 * "cross_entropy: label 12 at position 3 is out of range [0, 10)". */
static int check_labels(const char *op, const char *what, const lab_tensor *x, const lab_tensor *labels)
{
    char s[96], t[96];
    if (lab_op_check_f32(op, what, x) < 0) return -1;
    if (x->ndim != 2)
        return lab_error_set("%s: %s must be 2-D [N, C], got %s", op, what, lab_tensor_desc(x, s, sizeof s));
    if (x->shape[0] == 0 || x->shape[1] == 0)
        return lab_error_set("%s: empty batch (%s %s)", op, what, lab_tensor_desc(x, s, sizeof s));
    if (lab_op_check_dtype(op, "labels", labels, LAB_I64) < 0 || lab_op_check_device(op, x, labels) < 0)
        return -1;
    if (labels->ndim != 1 || labels->shape[0] != x->shape[0])
        return lab_error_set("%s: labels %s must hold one label per row of %s %s", op,
                             lab_tensor_desc(labels, s, sizeof s), what, lab_tensor_desc(x, t, sizeof t));
    return lab_op_check_index_as(op, "label", labels, x->shape[1]);
}

/* Two inputs of one shape, f32, one device, not empty. */
static int check_pair(const char *op, const char *na, const lab_tensor *a, const char *nb, const lab_tensor *b)
{
    char s[96], t[96];
    if (lab_op_check_f32(op, na, a) < 0 || lab_op_check_f32(op, nb, b) < 0 || lab_op_check_device(op, a, b) < 0)
        return -1;
    if (!lab_tensor_same_shape(a, b))
        return lab_error_set("%s: %s %s and %s %s must have the same shape", op, na,
                             lab_tensor_desc(a, s, sizeof s), nb, lab_tensor_desc(b, t, sizeof t));
    if (a->numel == 0) return lab_error_set("%s: empty input (%s %s)", op, na, lab_tensor_desc(a, s, sizeof s));
    return 0;
}

/* s * sum(v) as a 0-dim tensor. */
static lab_tensor *sum_scaled(const lab_backend *be, const lab_tensor *v, float s)
{
    lab_tensor *y = lab_tensor_empty(LAB_F32, 0, NULL, v->device);
    if (!y) return NULL;
    be->reduce(LAB_RED_SUM, 1, v->numel, 1, lab_op_f32(y), NULL, lab_op_f32(v));
    be->unary(LAB_UN_AFFINE, 1, lab_op_f32(y), lab_op_f32(y), s, 0.0f);
    return y;
}

/* s * g for the 1-element gradient g, still on the device. */
static lab_tensor *scale_grad(const lab_backend *be, const lab_tensor *g, float s)
{
    lab_tensor *c = lab_tensor_empty_like(g);
    if (c) be->unary(LAB_UN_AFFINE, 1, lab_op_f32(c), lab_op_f32(g), s, 0.0f);
    return c;
}

/* v * c elementwise for a 1-element c (read with stride 0). */
static lab_tensor *times_scalar(const lab_backend *be, const lab_tensor *v, const lab_tensor *c)
{
    lab_tensor *y = lab_tensor_empty_like(v);
    if (!y) return NULL;
    int64_t shape[1] = {v->numel}, sv[1] = {1}, sc[1] = {0};
    be->binary(LAB_BIN_MUL, 1, shape, lab_op_f32(y), lab_op_f32(v), sv, lab_op_f32(c), sc);
    return y;
}

/* y = a (op) b over n elements of two same-shaped tensors. */
static void flat_binary(const lab_backend *be, lab_binary_op op, int64_t n, float *y, const float *a,
                        const float *b)
{
    int64_t shape[1] = {n}, st[1] = {1};
    be->binary(op, 1, shape, y, a, st, b, st);
}

/* -(1/N) sum_i logp[i, labels[i]] */
static lab_tensor *pick_mean(const lab_backend *be, const lab_tensor *logp, const lab_tensor *labels)
{
    int64_t n = logp->shape[0], c = logp->shape[1];
    lab_tensor *picked = lab_tensor_empty(LAB_F32, 1, &n, logp->device);
    if (!picked) return NULL;
    be->gather(n, c, 1, 1, lab_op_f32(picked), lab_op_f32(logp), lab_op_i64(labels));
    return sum_scaled(be, picked, -1.0f / (float)n);
}

/* d loss / d logp of the mean NLL: -(g/N) onehot(labels), [N, C]. */
static lab_tensor *nll_grad(const lab_backend *be, const lab_tensor *labels, int64_t classes, const lab_tensor *g)
{
    int64_t n = labels->numel, shape[2] = {n, classes};
    lab_tensor *oh = lab_tensor_empty(LAB_F32, 2, shape, g->device);
    lab_tensor *c = scale_grad(be, g, -1.0f / (float)n);
    if (!oh || !c) return NULL;
    be->one_hot(n, classes, lab_op_f32(oh), lab_op_i64(labels));
    return times_scalar(be, oh, c);
}

/* --- cross_entropy / nll_loss ------------------------------------------------ */

static void cross_entropy_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *logp = node->saved[0], *labels = node->saved[1];
    const lab_backend *be = lab_tensor_backend(g);
    lab_tensor *gy = nll_grad(be, labels, logp->shape[1], g);
    lab_tensor *gx = lab_tensor_empty_like(logp);
    if (!gy || !gx) return;
    be->softmax_backward(logp->shape[0], logp->shape[1], 1, lab_op_f32(gx), lab_op_f32(gy), lab_op_f32(logp), 1);
    lab_node_accumulate(node, 0, gx);
}

lab_tensor *lab_cross_entropy(lab_tensor *logits, lab_tensor *labels)
{
    const char *op = "cross_entropy";
    if (!logits || !labels) return NULL;
    if (check_labels(op, "logits", logits, labels) < 0) return NULL;
    const size_t slots[] = {LAB_SLOT(softmax), LAB_SLOT(gather),  LAB_SLOT(reduce),          LAB_SLOT(unary),
                            LAB_SLOT(one_hot), LAB_SLOT(binary), LAB_SLOT(softmax_backward)};
    const lab_backend *be = loss_backend(op, logits, slots, (int)(sizeof slots / sizeof slots[0]));
    if (!be) return NULL;
    lab_scope_begin();
    lab_tensor *logp = lab_tensor_empty_like(logits), *loss = NULL;
    if (logp) {
        be->softmax(logits->shape[0], logits->shape[1], 1, lab_op_f32(logp), lab_op_f32(logits), 1);
        loss = pick_mean(be, logp, labels);
    }
    lab_node *node = lab_autograd_record(loss, op, cross_entropy_backward, 1, &logits);
    if (node) {
        lab_node_save(node, 0, logp);
        lab_node_save(node, 1, labels);
    }
    lab_keep(loss);
    lab_scope_end();
    return loss;
}

static void nll_loss_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *labels = node->saved[0];
    lab_node_accumulate(node, 0, nll_grad(lab_tensor_backend(g), labels, node->iparam[0], g));
}

lab_tensor *lab_nll_loss(lab_tensor *logp, lab_tensor *labels)
{
    const char *op = "nll_loss";
    if (!logp || !labels) return NULL;
    if (check_labels(op, "logp", logp, labels) < 0) return NULL;
    const size_t slots[] = {LAB_SLOT(gather), LAB_SLOT(reduce), LAB_SLOT(unary), LAB_SLOT(one_hot),
                            LAB_SLOT(binary)};
    const lab_backend *be = loss_backend(op, logp, slots, (int)(sizeof slots / sizeof slots[0]));
    if (!be) return NULL;
    lab_scope_begin();
    lab_tensor *loss = pick_mean(be, logp, labels);
    lab_node *node = lab_autograd_record(loss, op, nll_loss_backward, 1, &logp);
    if (node) {
        lab_node_save(node, 0, labels);
        node->iparam[0] = logp->shape[1];
    }
    lab_keep(loss);
    lab_scope_end();
    return loss;
}

/* --- mse_loss ------------------------------------------------------------------ */

static void mse_loss_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *d = node->saved[0];
    const lab_backend *be = lab_tensor_backend(g);
    lab_tensor *c = scale_grad(be, g, 2.0f / (float)d->numel);
    lab_tensor *gp = c ? times_scalar(be, d, c) : NULL;
    if (!gp) return;
    lab_node_accumulate(node, 0, gp);
    if (lab_node_needs_grad(node, 1)) {
        lab_tensor *gt = lab_tensor_empty_like(gp);
        if (!gt) return;
        be->unary(LAB_UN_NEG, gp->numel, lab_op_f32(gt), lab_op_f32(gp), 0.0f, 0.0f);
        lab_node_accumulate(node, 1, gt);
    }
}

lab_tensor *lab_mse_loss(lab_tensor *pred, lab_tensor *target)
{
    const char *op = "mse_loss";
    if (!pred || !target) return NULL;
    if (check_pair(op, "pred", pred, "target", target) < 0) return NULL;
    const size_t slots[] = {LAB_SLOT(binary), LAB_SLOT(unary), LAB_SLOT(reduce)};
    const lab_backend *be = loss_backend(op, pred, slots, (int)(sizeof slots / sizeof slots[0]));
    if (!be) return NULL;
    lab_scope_begin();
    lab_tensor *d = lab_tensor_empty_like(pred), *sq = lab_tensor_empty_like(pred), *loss = NULL;
    if (d && sq) {
        flat_binary(be, LAB_BIN_SUB, d->numel, lab_op_f32(d), lab_op_f32(pred), lab_op_f32(target));
        be->unary(LAB_UN_SQUARE, d->numel, lab_op_f32(sq), lab_op_f32(d), 0.0f, 0.0f);
        loss = sum_scaled(be, sq, 1.0f / (float)d->numel);
    }
    lab_tensor *in[2] = {pred, target};
    lab_node *node = lab_autograd_record(loss, op, mse_loss_backward, 2, in);
    if (node) lab_node_save(node, 0, d);
    lab_keep(loss);
    lab_scope_end();
    return loss;
}

/* --- bce_with_logits ------------------------------------------------------------ */

static void bce_with_logits_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0], *t = node->inputs[1];
    const lab_backend *be = lab_tensor_backend(g);
    float inv_n = 1.0f / (float)x->numel;
    if (lab_node_needs_grad(node, 0)) {
        lab_tensor *s = lab_tensor_empty_like(x), *d = lab_tensor_empty_like(x), *c = scale_grad(be, g, inv_n);
        if (!s || !d || !c) return;
        be->unary(LAB_UN_SIGMOID, x->numel, lab_op_f32(s), lab_op_f32(x), 0.0f, 0.0f);
        flat_binary(be, LAB_BIN_SUB, x->numel, lab_op_f32(d), lab_op_f32(s), lab_op_f32(t));
        lab_node_accumulate(node, 0, times_scalar(be, d, c));
    }
    if (lab_node_needs_grad(node, 1)) {
        lab_tensor *c = scale_grad(be, g, -inv_n);
        if (!c) return;
        lab_node_accumulate(node, 1, times_scalar(be, x, c));
    }
}

lab_tensor *lab_bce_with_logits(lab_tensor *logits, lab_tensor *targets)
{
    const char *op = "bce_with_logits";
    if (!logits || !targets) return NULL;
    if (check_pair(op, "logits", logits, "targets", targets) < 0) return NULL;
    const size_t slots[] = {LAB_SLOT(binary), LAB_SLOT(unary), LAB_SLOT(reduce)};
    const lab_backend *be = loss_backend(op, logits, slots, (int)(sizeof slots / sizeof slots[0]));
    if (!be) return NULL;
    int64_t n = logits->numel;
    const float *x = lab_op_f32(logits), *t = lab_op_f32(targets);
    lab_scope_begin();
    lab_tensor *pos = lab_tensor_empty_like(logits), *xt = lab_tensor_empty_like(logits);
    lab_tensor *sp = lab_tensor_empty_like(logits), *l = lab_tensor_empty_like(logits), *loss = NULL;
    if (pos && xt && sp && l) {
        be->unary(LAB_UN_RELU, n, lab_op_f32(pos), x, 0.0f, 0.0f);
        flat_binary(be, LAB_BIN_MUL, n, lab_op_f32(xt), x, t);
        be->unary(LAB_UN_ABS, n, lab_op_f32(sp), x, 0.0f, 0.0f);
        be->unary(LAB_UN_AFFINE, n, lab_op_f32(sp), lab_op_f32(sp), -1.0f, 0.0f);
        be->unary(LAB_UN_SOFTPLUS, n, lab_op_f32(sp), lab_op_f32(sp), 0.0f, 0.0f);
        flat_binary(be, LAB_BIN_SUB, n, lab_op_f32(l), lab_op_f32(pos), lab_op_f32(xt));
        flat_binary(be, LAB_BIN_ADD, n, lab_op_f32(pos), lab_op_f32(l), lab_op_f32(sp));
        loss = sum_scaled(be, pos, 1.0f / (float)n);
    }
    lab_tensor *in[2] = {logits, targets};
    lab_autograd_record(loss, op, bce_with_logits_backward, 2, in);
    lab_keep(loss);
    lab_scope_end();
    return loss;
}
