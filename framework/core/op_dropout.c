/* Inverted dropout: y = x * keep / (1 - p), keep ~ Bernoulli(1 - p) drawn
 * from the caller's lab_rng (so a seed reproduces the same mask on any
 * device), composed from lab_rng_bernoulli and lab_mul so autograd passes
 * the gradient through the same mask.
 *
 * When !training or p == 0 it is the identity: a new tensor object viewing
 * x's storage (scoped like any op result, unlike a bare retain), recorded so
 * gradients flow straight through; the rng is not advanced.
 */
#include "ops_int.h"

static void identity_backward(lab_node *node, lab_tensor *g) { lab_node_accumulate(node, 0, g); }

lab_tensor *lab_dropout(lab_tensor *x, float p, int training, struct lab_rng *rng)
{
    if (!x) return NULL;
    const char *op = "dropout";
    if (lab_op_check_f32(op, "x", x) < 0) return NULL;
    if (!(p >= 0.0f && p <= 1.0f)) {
        lab_error_set("dropout: p = %g is not in [0, 1]", p);
        return NULL;
    }
    if (!training || p == 0.0f) {
        lab_tensor *y = lab_tensor_view_of(x->storage, x->offset, x->dtype, x->ndim, x->shape, x->device);
        if (y) lab_autograd_record(y, op, identity_backward, 1, &x);
        return y;
    }
    if (!rng) {
        char sx[96];
        lab_error_set("dropout: training with p = %g needs an rng (x %s)", p, lab_tensor_desc(x, sx, sizeof sx));
        return NULL;
    }
    lab_scope_begin();
    lab_tensor *keep = lab_rng_bernoulli(rng, x->ndim, x->shape, 1.0f - p, x->device);
    /* p == 1 drops everything: scale the (all-zero) mask by 0, not by inf. */
    lab_tensor *y = lab_mul(x, lab_mul_scalar(keep, p < 1.0f ? 1.0f / (1.0f - p) : 0.0f));
    lab_keep(y);
    lab_scope_end();
    return y;
}
