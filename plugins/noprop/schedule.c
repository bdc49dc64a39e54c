/* Noise schedules (brief §3, §4).
 *
 * DT: the fixed cosine schedule ᾱ_t = clamp(f(1 − t/T)/f(0), ab_min, ab_max),
 * f(u) = cos²((u + s)/(1 + s)·π/2), and the coefficients of the inference
 * update z_t = a_t·û + b_t·z_{t−1} + √c_t·ε, all in double. Tested against
 * the brief's table (1e-4) and both identities in tests/plugins/test_noprop.c.
 *
 * CT: the learned schedule ᾱ(t) = sigmoid(−γ(t)) with γ monotone through a
 * positive-weight 2-layer net γ̃; built from differentiable ops so the
 * training loss reaches γ0, γ1 and the net. SNR'(t) uses γ̃'(t) in closed
 * form (sigmoid' = s(1 − s)), so it is positive whenever γ1 > γ0. Tested for
 * monotonicity and SNR' > 0.
 */
#include <math.h>
#include <stdlib.h>

#include "noprop_int.h"

void np_coeffs(double ab_t, double ab_prev, double *a, double *b, double *c)
{
    double al = ab_prev / ab_t; /* α_{t−1} = ᾱ_{t−1}/ᾱ_t */
    *a = sqrt(ab_t) * (1 - al) / (1 - ab_prev);
    *b = sqrt(al) * (1 - ab_t) / (1 - ab_prev);
    *c = (1 - ab_t) * (1 - al) / (1 - ab_prev);
}

static double cosine_f(double u, double s)
{
    double v = cos((u + s) / (1 + s) * M_PI / 2);
    return v * v;
}

int np_dt_sched_make(np_dt_sched *s, int T, double eta, double cos_s, double ab_min, double ab_max)
{
    if (T < 1 || T > NP_MAX_T) return lab_error_set("noprop.blocks = %d: the number of blocks must be in [1, %d]", T, NP_MAX_T);
    if (!(ab_min > 0 && ab_max < 1 && ab_min < ab_max))
        return lab_error_set("noprop schedule clamp [%g, %g] must satisfy 0 < min < max < 1", ab_min, ab_max);
    s->T = T;
    double f0 = cosine_f(0, cos_s);
    for (int t = 0; t <= T; t++) {
        double ab = cosine_f(1.0 - (double)t / T, cos_s) / f0;
        s->ab[t] = ab < ab_min ? ab_min : ab > ab_max ? ab_max : ab;
        s->snr[t] = s->ab[t] / (1 - s->ab[t]);
    }
    s->a[0] = s->b[0] = s->c[0] = s->w[0] = 0;
    for (int t = 1; t <= T; t++) {
        if (!(s->ab[t] > s->ab[t - 1]))
            return lab_error_set("noprop schedule: ᾱ_%d = %g does not exceed ᾱ_%d = %g (T too large for the clamp?)",
                                 t, s->ab[t], t - 1, s->ab[t - 1]);
        np_coeffs(s->ab[t], s->ab[t - 1], &s->a[t], &s->b[t], &s->c[t]);
        s->w[t] = T * eta / 2 * (s->snr[t] - s->snr[t - 1]);
    }
    return 0;
}

/* --- CT ---------------------------------------------------------------------------- */

int np_ct_sched_init(np_ct_sched *s, lab_params *p, int hidden, double gamma0, double gamma1, lab_rng *rng)
{
    if (!(gamma1 > gamma0))
        return lab_error_set("noprop: ct.gamma1 = %g must exceed ct.gamma0 = %g (t = 0 is noise, t = 1 the label)",
                             gamma1, gamma0);
    int64_t h = hidden, one = 1;
    /* As nn.Linear(1, H) and nn.Linear(H, 1): U(−1/√fan_in, 1/√fan_in). */
    float bw2 = 1.0f / sqrtf((float)hidden);
    s->w1 = lab_params_add(p, "sched.w1", lab_rng_uniform(rng, 1, &h, -1, 1, LAB_CPU));
    s->b1 = lab_params_add(p, "sched.b1", lab_rng_uniform(rng, 1, &h, -1, 1, LAB_CPU));
    s->w2 = lab_params_add(p, "sched.w2", lab_rng_uniform(rng, 1, &h, -bw2, bw2, LAB_CPU));
    s->g0 = lab_params_add(p, "sched.gamma0", lab_tensor_full(LAB_F32, 1, &one, gamma0, LAB_CPU));
    s->g1 = lab_params_add(p, "sched.gamma1", lab_tensor_full(LAB_F32, 1, &one, gamma1, LAB_CPU));
    return s->w1 && s->b1 && s->w2 && s->g0 && s->g1 ? 0 : -1;
}

/* γ̃ at t [B, 1] -> [B], and γ̃' when d is not NULL. */
static lab_tensor *gtilde(const np_ct_sched *s, lab_tensor *t, lab_tensor *sw1, lab_tensor *sw2, lab_tensor **d)
{
    lab_tensor *sg = lab_sigmoid(lab_add(lab_mul(t, sw1), s->b1)); /* [B, H] */
    if (d) *d = lab_sum(lab_mul(lab_mul(lab_mul(sg, lab_affine(sg, -1, 1)), sw1), sw2), 1, 0);
    return lab_sum(lab_mul(sg, sw2), 1, 0);
}

lab_tensor *np_ct_alpha_bar(const np_ct_sched *s, lab_tensor *t, lab_tensor **snr_d)
{
    if (!t) return NULL;
    lab_scope_begin();
    lab_device dev = t->device;
    lab_tensor *sw1 = lab_softplus(s->w1), *sw2 = lab_softplus(s->w2);
    lab_tensor *tc = lab_reshape(t, 2, (int64_t[]){t->numel, 1});
    lab_tensor *dg = NULL;
    lab_tensor *g = gtilde(s, tc, sw1, sw2, snr_d ? &dg : NULL);
    lab_tensor *ends = lab_tensor_from_data(LAB_F32, 2, (int64_t[]){2, 1}, (float[]){0, 1}, LAB_CPU);
    if (ends && dev.type != LAB_DEV_CPU) ends = lab_tensor_to(ends, dev);
    lab_tensor *ge = gtilde(s, ends, sw1, sw2, NULL); /* [γ̃(0), γ̃(1)] */
    lab_tensor *g0t = lab_slice(ge, 0, 0, 1), *g1t = lab_slice(ge, 0, 1, 2);
    lab_tensor *span = lab_sub(g1t, g0t);
    lab_tensor *gbar = lab_div(lab_sub(g, g0t), span);
    lab_tensor *dgam = lab_sub(s->g1, s->g0); /* γ1 − γ0 */
    lab_tensor *gamma = lab_add(s->g0, lab_mul(dgam, lab_affine(gbar, -1, 1)));
    lab_tensor *ab = lab_sigmoid(lab_neg(gamma));
    if (snr_d) *snr_d = lab_keep(lab_mul(lab_div(lab_mul(dgam, dg), span), lab_exp(lab_neg(gamma))));
    lab_keep(ab);
    lab_scope_end();
    return ab;
}

/* Host double version for inference: 1000 steps need ᾱ(t_k) differences
 * finer than float rounding of ᾱ itself. */
static double softplus_d(double x) { return x > 20 ? x : log1p(exp(x)); }
static double sigmoid_d(double x) { return 1 / (1 + exp(-x)); }

int np_ct_eval(const np_ct_sched *s, const double *t, int n, double *ab, double *snr_d)
{
    int64_t h = s->w1->numel;
    float *buf = malloc((size_t)(3 * h + 2) * sizeof *buf);
    if (!buf) return lab_error_set("noprop: out of host memory");
    if (lab_tensor_copy_to_host(s->w1, buf) < 0 || lab_tensor_copy_to_host(s->b1, buf + h) < 0 ||
        lab_tensor_copy_to_host(s->w2, buf + 2 * h) < 0 || lab_tensor_copy_to_host(s->g0, buf + 3 * h) < 0 ||
        lab_tensor_copy_to_host(s->g1, buf + 3 * h + 1) < 0) {
        free(buf);
        return -1;
    }
    double g0 = buf[3 * h], g1 = buf[3 * h + 1];
    double ends[2] = {0, 0};
    for (int e = 0; e < 2; e++)
        for (int64_t j = 0; j < h; j++)
            ends[e] += softplus_d(buf[2 * h + j]) * sigmoid_d(softplus_d(buf[j]) * e + buf[h + j]);
    double span = ends[1] - ends[0];
    for (int i = 0; i < n; i++) {
        double g = 0, dg = 0;
        for (int64_t j = 0; j < h; j++) {
            double a1 = softplus_d(buf[j]), a2 = softplus_d(buf[2 * h + j]);
            double sg = sigmoid_d(a1 * t[i] + buf[h + j]);
            g += a2 * sg;
            dg += a2 * a1 * sg * (1 - sg);
        }
        double gamma = g0 + (g1 - g0) * (1 - (g - ends[0]) / span);
        ab[i] = sigmoid_d(-gamma);
        if (snr_d) snr_d[i] = (g1 - g0) * dg / span * exp(-gamma);
    }
    free(buf);
    return 0;
}
