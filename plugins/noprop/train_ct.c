/* NoProp-CT training (brief §4, Algorithm 2): one time-conditioned network
 * û(z, x, t) and a learned schedule. Per minibatch, per example t_i ~ U(0, 1):
 *
 *   z_t = √ᾱ(t_i)·u + √(1−ᾱ(t_i))·ε,   z_1 = √ᾱ(1)·u + √(1−ᾱ(1))·ε'
 *   L = CE(W_out z_1 + b_out, y) + KL(q(z_0|y) ‖ N(0, I))   (ᾱ(0))
 *     + (η/2)·mean_i SNR'(t_i)·‖û(z_t, x, t_i) − u‖²
 *
 * and one Adam step (coupled L2) on the network, head, schedule and W_Embed.
 * The schedule is differentiated through ᾱ(t_i), ᾱ(0), ᾱ(1) and SNR'(t_i).
 * Noise sub-streams of a step: 0 t, 1 ε, 2 ε', 3 dropout.
 */
#include "noprop_int.h"

static int ct_step(np_state *s, lab_tensor *x, lab_tensor *y, const lab_rng *noise, double *loss, double *ce,
                   double *local)
{
    const np_opts *o = s->o;
    np_net *n = &s->nets[0];
    lab_rng rt = lab_rng_fork(noise, 0), r0 = lab_rng_fork(noise, 1), r1 = lab_rng_fork(noise, 2),
            r2 = lab_rng_fork(noise, 3);
    int64_t B = y->numel, d = s->sh.d;
    lab_scope_begin();
    lab_tensor *t = lab_rng_uniform(&rt, 1, &B, 0, 1, s->dev);
    lab_tensor *snr_d = NULL;
    lab_tensor *ab = lab_reshape(np_ct_alpha_bar(&s->cts, t, &snr_d), 2, (int64_t[]){B, 1});
    lab_tensor *ends = lab_tensor_from_data(LAB_F32, 1, (int64_t[]){2}, (float[]){0, 1}, LAB_CPU);
    if (ends && !lab_device_eq(s->dev, LAB_CPU)) ends = lab_tensor_to(ends, s->dev);
    lab_tensor *abe = np_ct_alpha_bar(&s->cts, ends, NULL);
    lab_tensor *ab0 = lab_slice(abe, 0, 0, 1), *ab1 = lab_slice(abe, 0, 1, 2);
    lab_tensor *u = lab_embedding(s->emb.W, y);
    lab_tensor *eps = lab_rng_normal(&r0, 2, (int64_t[]){B, d}, 0, 1, s->dev);
    lab_tensor *eps1 = lab_rng_normal(&r1, 2, (int64_t[]){B, d}, 0, 1, s->dev);
    lab_tensor *zt = lab_add(lab_mul(lab_sqrt(ab), u), lab_mul(lab_sqrt(lab_affine(ab, -1, 1)), eps));
    lab_tensor *z1 = lab_add(lab_mul(lab_sqrt(ab1), u), lab_mul(lab_sqrt(lab_affine(ab1, -1, 1)), eps1));
    lab_tensor *lce = lab_cross_entropy(lab_linear_layer_forward(&s->head, z1), y);
    /* KL(q(z_0|y) ‖ N(0, I)) = ½[ᾱ0‖u‖² − d·ᾱ0 − d·ln(1−ᾱ0)], averaged over the batch. */
    lab_tensor *n2 = lab_mean_all(lab_sum(lab_square(u), 1, 0));
    lab_tensor *kl = lab_mul_scalar(lab_sub(lab_mul(ab0, lab_add_scalar(n2, (float)-d)),
                                            lab_mul_scalar(lab_log(lab_affine(ab0, -1, 1)), (float)d)), 0.5f);
    lab_tensor *logits = np_net_logits(n, np_net_image(n, x, 1, o->dropout, &r2), zt, t, 1, o->dropout, &r2);
    lab_tensor *err = lab_sum(lab_square(lab_sub(np_uhat(logits, s->emb.W), u)), 1, 0); /* [B] */
    lab_tensor *loc = lab_mean_all(lab_mul(snr_d, err));
    lab_tensor *L = lab_add(lab_add(lce, kl), lab_mul_scalar(loc, (float)(o->eta / 2)));
    int rc = L && lab_backward(L) == 0 ? np_step_all(s) : -1;
    if (rc < 0) np_zero_all(s);
    if (rc == 0) {
        *loss = lab_tensor_item(L);
        *ce = lab_tensor_item(lce);
        *local = lab_tensor_item(lab_mean_all(err));
    }
    lab_scope_end();
    return rc;
}

int np_ct_epoch(np_state *s, lab_ctx *ctx, int64_t epoch, int64_t step0, np_epoch_stats *st)
{
    return np_single_pass_epoch(s, ctx, epoch, step0, st, ct_step);
}
