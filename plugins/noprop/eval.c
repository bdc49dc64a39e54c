/* Inference (brief §3–5, §7). Predictions never read a label: the chains
 * start from noise and only the images enter (tested with corrupted labels).
 *
 *   DT        z_0 ~ N(0, I); z_t = a_t·û_t(z_{t−1}, x) + b_t·z_{t−1} + √c_t·ε_t; ŷ = argmax(W_out z_T + b_out)
 *   CT        the same over K steps t_k = k/K with a, b, c from the learned ᾱ(t_k)
 *   FM        Euler: z ← z + v(z, x, t_k)/K; ŷ = argmin_c ‖z_1 − u_c‖
 *   backprop  z_t = (1 − α_t)·z_{t−1} + α_t·û_t; ŷ = argmax(W_out z_T + b_out)
 *
 * The posterior head (ablation) of DT and backprop predicts
 * argmin_c ‖softmax(W_out z_T + b_out)·W_Embed − u_c‖² from the same chain.
 *
 * CT/FM: the image path does not depend on z or t, so its features, their
 * share of the first fused layer, and the time path's share for every step
 * are computed once; a step only runs the label path and the small fused
 * MLP (np_ct_cache; tested equal to the plain forward).
 *
 * Inference run r of batch b draws from fork(fork(fork(base, EVAL), r), b):
 * sub-stream 0 for z_0, 1 for the per-step noise.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "noprop_int.h"

int np_ct_cache_make(np_ct_cache *c, const np_net *n, lab_tensor *feat, int K)
{
    memset(c, 0, sizeof *c);
    c->K = K;
    lab_tensor *W1 = n->f1.w; /* [256, 768]: image | label | time columns */
    c->W1l = lab_tensor_own(lab_slice(W1, 1, 256, 512));
    lab_scope_begin();
    c->pre = lab_tensor_own(lab_linear(feat, lab_slice(W1, 1, 0, 256), n->f1.b));
    /* CT step k (1..K) reads t_{k−1} = (k−1)/K; FM step k (0..K−1) reads k/K: both are row k' = 0..K−1. */
    float *tv = malloc((size_t)K * sizeof *tv);
    lab_tensor *tk = NULL;
    if (tv) {
        for (int k = 0; k < K; k++) tv[k] = (float)k / (float)K;
        tk = lab_tensor_from_data(LAB_F32, 1, (int64_t[]){K}, tv, LAB_CPU);
        free(tv);
        if (tk && !lab_device_eq(feat->device, LAB_CPU)) tk = lab_tensor_to(tk, feat->device);
    }
    c->tpart = lab_tensor_own(lab_matmul_t(np_net_time(n, tk), lab_slice(W1, 1, 512, 768), 0, 1)); /* [K, 256] */
    lab_scope_end();
    if (!c->W1l || !c->pre || !c->tpart) {
        np_ct_cache_free(c);
        return -1;
    }
    return 0;
}

void np_ct_cache_free(np_ct_cache *c)
{
    lab_tensor_release(c->W1l);
    lab_tensor_release(c->pre);
    lab_tensor_release(c->tpart);
    memset(c, 0, sizeof *c);
}

lab_tensor *np_ct_cache_logits(const np_net *n, const np_ct_cache *c, lab_tensor *z, int row)
{
    lab_tensor *lab = np_net_label(n, z, 0, 0, NULL);
    lab_tensor *h = lab_add(lab_add(c->pre, lab_linear(lab, c->W1l, NULL)), lab_slice(c->tpart, 0, row, row + 1));
    h = lab_relu(lab_linear_layer_forward(&n->f2, lab_relu(h)));
    return lab_linear_layer_forward(&n->f3, h);
}

/* argmax over classes of 2·p·W_Embedᵀ − ‖u_c‖²: the nearest embedding to p. */
static lab_tensor *nearest(lab_tensor *p, lab_tensor *W)
{
    lab_tensor *score = lab_sub(lab_mul_scalar(lab_matmul_t(p, W, 0, 1), 2), lab_sum(lab_square(W), 1, 0));
    return lab_argmax(score, 1, 0);
}

static int to_host(lab_tensor *idx, int64_t *dst) { return idx ? lab_tensor_copy_to_host(idx, dst) : -1; }

/* One batch; pred arrays are offset to the batch. */
static int predict_batch(np_state *s, lab_tensor *x, lab_rng *rng, int64_t *pred, int64_t *post, int64_t *b1,
                         int64_t *near)
{
    const np_opts *o = s->o;
    int64_t B = x->shape[0], d = s->sh.d;
    lab_rng rz = lab_rng_fork(rng, 0), re = lab_rng_fork(rng, 1);
    lab_tensor *W = s->emb.W;
    int rc = 0;
    lab_scope_begin();
    lab_tensor *z = lab_tensor_own(lab_rng_normal(&rz, 2, (int64_t[]){B, d}, 0, 1, s->dev));
    np_ct_cache cache = {0};
    if (o->method == NP_DT || o->method == NP_BP) {
        for (int t = 1; rc == 0 && t <= o->T; t++) {
            np_net *n = &s->nets[t - 1];
            lab_scope_begin();
            lab_tensor *logits = np_net_logits(n, np_net_image(n, x, 0, 0, NULL), z, NULL, 0, 0, NULL);
            if (t == 1 && b1 && to_host(lab_argmax(logits, 1, 0), b1) < 0) rc = -1;
            lab_tensor *uh = np_uhat(logits, W), *zn;
            if (o->method == NP_DT) {
                lab_tensor *eps = lab_rng_normal(&re, 2, (int64_t[]){B, d}, 0, 1, s->dev);
                zn = lab_add(lab_add(lab_mul_scalar(uh, (float)s->dts.a[t]), lab_mul_scalar(z, (float)s->dts.b[t])),
                             lab_mul_scalar(eps, (float)sqrt(s->dts.c[t])));
            } else {
                lab_tensor *a = lab_tanh(lab_slice(s->bp_w, 0, t - 1, t));
                zn = lab_add(lab_mul(lab_affine(a, -1, 1), z), lab_mul(a, uh));
            }
            zn = lab_tensor_own(zn);
            lab_scope_end();
            if (!zn) rc = -1;
            lab_tensor_release(z);
            z = zn;
        }
    } else {
        const np_net *n = &s->nets[0];
        int K = o->infer_steps;
        double *ab = NULL;
        if (o->method == NP_CT) {
            double *tv = malloc((size_t)(K + 1) * sizeof *tv);
            ab = malloc((size_t)(K + 1) * sizeof *ab);
            if (!tv || !ab) rc = lab_error_set("noprop: out of host memory");
            for (int k = 0; rc == 0 && k <= K; k++) tv[k] = (double)k / K;
            if (rc == 0) rc = np_ct_eval(&s->cts, tv, K + 1, ab, NULL);
            free(tv);
        }
        if (rc == 0) rc = np_ct_cache_make(&cache, n, np_net_image(n, x, 0, 0, NULL), K);
        for (int k = 1; rc == 0 && k <= K; k++) {
            lab_scope_begin();
            lab_tensor *logits = np_ct_cache_logits(n, &cache, z, k - 1), *zn;
            if (o->method == NP_CT) {
                double a, b, c;
                np_coeffs(ab[k], ab[k - 1], &a, &b, &c);
                lab_tensor *eps = lab_rng_normal(&re, 2, (int64_t[]){B, d}, 0, 1, s->dev);
                zn = lab_add(lab_add(lab_mul_scalar(np_uhat(logits, W), (float)a), lab_mul_scalar(z, (float)b)),
                             lab_mul_scalar(eps, (float)sqrt(c)));
            } else {
                zn = lab_add(z, lab_mul_scalar(lab_matmul(logits, W), 1.0f / (float)K));
            }
            zn = lab_tensor_own(zn);
            lab_scope_end();
            if (!zn) rc = -1;
            lab_tensor_release(z);
            z = zn;
        }
        free(ab);
        np_ct_cache_free(&cache);
    }
    if (rc == 0 && near) rc = to_host(nearest(z, W), near);
    if (rc == 0) {
        if (o->method == NP_FM) {
            rc = to_host(nearest(z, W), pred);
            if (rc == 0 && post) memcpy(post, pred, (size_t)B * sizeof *post);
        } else {
            lab_tensor *hl = lab_linear_layer_forward(&s->head, z);
            rc = to_host(lab_argmax(hl, 1, 0), pred);
            if (rc == 0 && post) rc = to_host(nearest(np_uhat(hl, W), W), post);
        }
    }
    lab_tensor_release(z);
    lab_scope_end();
    return rc;
}

int np_predict(np_state *s, lab_tensor *x, uint64_t run, int64_t *pred, int64_t *pred_post, int64_t *pred_b1,
               int64_t *pred_near)
{
    int64_t n = x->shape[0], bs = s->o->eval_batch;
    lab_rng a = lab_rng_fork(&s->base, NP_RNG_EVAL), r = lab_rng_fork(&a, run);
    int prev = lab_grad_set_enabled(0), rc = 0;
    for (int64_t i = 0, b = 0; rc == 0 && i < n; i += bs, b++) {
        int64_t j = i + bs < n ? i + bs : n;
        lab_rng rb = lab_rng_fork(&r, (uint64_t)b);
        lab_scope_begin();
        rc = predict_batch(s, lab_slice(x, 0, i, j), &rb, pred + i, pred_post ? pred_post + i : NULL,
                           pred_b1 ? pred_b1 + i : NULL, pred_near ? pred_near + i : NULL);
        lab_scope_end();
    }
    lab_grad_set_enabled(prev);
    return rc;
}

int np_evaluate(np_state *s, lab_tensor *x, lab_tensor *y, uint64_t run, np_eval *out)
{
    int64_t n = x->shape[0];
    int dt = s->o->method == NP_DT, head = s->o->method == NP_DT || s->o->method == NP_BP;
    int64_t *buf = malloc((size_t)(5 * n) * sizeof *buf);
    if (!buf) return lab_error_set("noprop: out of host memory");
    int64_t *pred = buf, *post = buf + n, *b1 = buf + 2 * n, *lab = buf + 3 * n, *near = buf + 4 * n;
    int rc = np_predict(s, x, run, pred, head ? post : NULL, dt ? b1 : NULL, near);
    if (rc == 0) rc = lab_tensor_copy_to_host(y, lab);
    if (rc == 0) {
        out->acc = 100 * lab_metric_accuracy(pred, lab, n);
        out->acc_post = head ? 100 * lab_metric_accuracy(post, lab, n) : NAN;
        out->acc_block1 = dt ? 100 * lab_metric_accuracy(b1, lab, n) : NAN;
        out->acc_near = 100 * lab_metric_accuracy(near, lab, n);
    }
    free(buf);
    return rc;
}
