/* The backprop baseline (brief §7): the DT blocks and head trained end to
 * end with cross-entropy through the chain
 *
 *   z_0 ~ N(0, I),  z_t = (1 − α_t)·z_{t−1} + α_t·û_t(z_{t−1}, x),  α_t = tanh(w_t),
 *   L = CE(W_out z_T + b_out, y),
 *
 * one AdamW step on everything. w_t starts at atanh(backprop.alpha_init)
 * [assumed; the paper does not say]. Noise sub-streams: 0 z_0, 1 dropout.
 */
#include <math.h>

#include "noprop_int.h"

static int bp_step(np_state *s, lab_tensor *x, lab_tensor *y, const lab_rng *noise, double *loss, double *ce,
                   double *local)
{
    const np_opts *o = s->o;
    lab_rng r0 = lab_rng_fork(noise, 0), r2 = lab_rng_fork(noise, 1);
    int64_t B = y->numel, d = s->sh.d;
    lab_scope_begin();
    lab_tensor *z = lab_rng_normal(&r0, 2, (int64_t[]){B, d}, 0, 1, s->dev);
    for (int t = 1; t <= o->T; t++) {
        np_net *n = &s->nets[t - 1];
        lab_tensor *uh = np_uhat(np_net_logits(n, np_net_image(n, x, 1, o->dropout, &r2), z, NULL, 1, o->dropout, &r2),
                                 s->emb.W);
        lab_tensor *a = lab_tanh(lab_slice(s->bp_w, 0, t - 1, t));
        z = lab_add(lab_mul(lab_affine(a, -1, 1), z), lab_mul(a, uh));
    }
    lab_tensor *L = lab_cross_entropy(lab_linear_layer_forward(&s->head, z), y);
    int rc = L && lab_backward(L) == 0 ? np_step_all(s) : -1;
    if (rc < 0) np_zero_all(s);
    if (rc == 0) *loss = *ce = lab_tensor_item(L), *local = 0;
    lab_scope_end();
    return rc;
}

int np_bp_epoch(np_state *s, lab_ctx *ctx, int64_t epoch, int64_t step0, np_epoch_stats *st)
{
    return np_single_pass_epoch(s, ctx, epoch, step0, st, bp_step);
}
