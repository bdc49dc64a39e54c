/* NoProp-FM training (brief §5): flow matching from z_0 ~ N(0, I) to
 * z_1 = u_y along z_t = t·z_1 + (1−t)·z_0 + σ·ε, with the velocity
 * v(z, x, t) = logits(z, x, t)·W_Embed (no softmax):
 *
 *   L = mean_i ‖v(z_t, x, t) − (z_1 − z_0)‖²
 *     + (learned W_Embed only) CE(W_out z̃_1 + b_out, y),  z̃_1 = z_t + (1−t)·v
 *
 * and one Adam step (coupled L2). The CE term keeps a learned embedding from
 * collapsing; with one-hot it would only train a head FM never uses.
 * Noise sub-streams of a step: 0 t, 1 z_0, 2 ε, 3 dropout.
 */
#include "noprop_int.h"

static int fm_step(np_state *s, lab_tensor *x, lab_tensor *y, const lab_rng *noise, double *loss, double *ce,
                   double *local)
{
    const np_opts *o = s->o;
    np_net *n = &s->nets[0];
    lab_rng rt = lab_rng_fork(noise, 0), r0 = lab_rng_fork(noise, 1), re = lab_rng_fork(noise, 2),
            r2 = lab_rng_fork(noise, 3);
    int64_t B = y->numel, d = s->sh.d;
    lab_scope_begin();
    lab_tensor *t = lab_rng_uniform(&rt, 1, &B, 0, 1, s->dev);
    lab_tensor *tc = lab_reshape(t, 2, (int64_t[]){B, 1});
    lab_tensor *z1 = lab_embedding(s->emb.W, y);
    lab_tensor *z0 = lab_rng_normal(&r0, 2, (int64_t[]){B, d}, 0, 1, s->dev);
    lab_tensor *zt = lab_add(lab_mul(tc, z1), lab_mul(lab_affine(tc, -1, 1), z0));
    if (o->fm_sigma > 0)
        zt = lab_add(zt, lab_rng_normal(&re, 2, (int64_t[]){B, d}, 0, (float)o->fm_sigma, s->dev));
    lab_tensor *v = lab_matmul(np_net_logits(n, np_net_image(n, x, 1, o->dropout, &r2), zt, t, 1, o->dropout, &r2),
                               s->emb.W);
    lab_tensor *lfm = np_sqdist(v, lab_sub(z1, z0));
    lab_tensor *L = lfm, *lce = NULL;
    if (s->emb.learned) {
        lab_tensor *zt1 = lab_add(zt, lab_mul(lab_affine(tc, -1, 1), v));
        lce = lab_cross_entropy(lab_linear_layer_forward(&s->head, zt1), y);
        L = lab_add(lfm, lce);
    }
    int rc = L && lab_backward(L) == 0 ? np_step_all(s) : -1;
    if (rc < 0) np_zero_all(s);
    if (rc == 0) {
        *loss = lab_tensor_item(L);
        *ce = lce ? lab_tensor_item(lce) : 0;
        *local = lab_tensor_item(lfm);
    }
    lab_scope_end();
    return rc;
}

int np_fm_epoch(np_state *s, lab_ctx *ctx, int64_t epoch, int64_t step0, np_epoch_stats *st)
{
    return np_single_pass_epoch(s, ctx, epoch, step0, st, fm_step);
}
