/* NoProp-DT training (brief §3, Algorithm 1). An epoch is T block phases;
 * phase t walks the shuffled training set and, per minibatch,
 *
 *   z_prev = √ᾱ_{t−1}·u + √(1−ᾱ_{t−1})·ε          (block t sees noise level t−1)
 *   z_T    = √ᾱ_T·u + √(1−ᾱ_T)·ε'
 *   L = CE(W_out z_T + b_out, y) + KL(q(z_0|y) ‖ N(0, I)) + w_t·mean‖û_t(z_prev, x) − u‖²
 *
 * and takes one AdamW step on block t, the head and W_Embed. Each block's
 * loss is differentiated on its own tape: no gradient ever crosses blocks.
 *
 * With one-hot W_Embed, CE and KL never touch a block and the local term
 * never touches the head, so the step splits into a block step (local term)
 * and a head step (CE) with identical gradients. parallel_blocks runs the T
 * block phases and the head's T·S steps (in the sequential order) as
 * concurrent tasks on OpenMP threads; each task draws from the same
 * per-(epoch, phase, step) streams as the sequential order, so both give the
 * same parameters up to the summation order inside kernels (tested).
 *
 * Noise of step (e, t, s): stream np_step_rng(e, t−1, s), sub-streams 0 for
 * ε, 1 for ε', 2 for dropout.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "noprop_int.h"

/* The block's half of a step: w_t·mean‖û_t − u‖² on block t's own tape. */
static int block_step(np_state *s, int t, lab_tensor *x, lab_tensor *y, const lab_rng *noise, double *local)
{
    const np_opts *o = s->o;
    np_net *n = &s->nets[t - 1];
    lab_rng r0 = lab_rng_fork(noise, 0), r2 = lab_rng_fork(noise, 2);
    lab_scope_begin();
    lab_tensor *u = lab_embedding(s->emb.W, y);
    lab_tensor *zp = np_noisy(u, s->dts.ab[t - 1], &r0);
    lab_tensor *logits = np_net_logits(n, np_net_image(n, x, 1, o->dropout, &r2), zp, NULL, 1, o->dropout, &r2);
    lab_tensor *loc = np_sqdist(np_uhat(logits, s->emb.W), u);
    lab_tensor *L = lab_mul_scalar(loc, (float)s->dts.w[t]);
    int rc = L && lab_backward(L) == 0 && lab_optim_step(s->opt[t - 1]) == 0 ? 0 : -1;
    lab_optim_zero_grad(s->opt[t - 1]);
    if (rc == 0) *local = lab_tensor_item(loc);
    lab_scope_end();
    return rc;
}

/* The head's half: CE of W_out z_T against y. */
static int head_step(np_state *s, lab_tensor *y, const lab_rng *noise, double *ce)
{
    lab_rng r1 = lab_rng_fork(noise, 1);
    lab_scope_begin();
    lab_tensor *zT = np_noisy(lab_embedding(s->emb.W, y), s->dts.ab[s->o->T], &r1);
    lab_tensor *L = lab_cross_entropy(lab_linear_layer_forward(&s->head, zT), y);
    int rc = L && lab_backward(L) == 0 && lab_optim_step(s->opt_shared) == 0 ? 0 : -1;
    lab_optim_zero_grad(s->opt_shared);
    if (rc == 0) *ce = lab_tensor_item(L);
    lab_scope_end();
    return rc;
}

int np_dt_step(np_state *s, int t, lab_tensor *x, lab_tensor *y, lab_rng *noise, double *ce, double *local)
{
    if (!s->emb.learned) {
        if (block_step(s, t, x, y, noise, local) < 0) return -1;
        return head_step(s, y, noise, ce);
    }
    /* A learned W_Embed couples everything: one loss, one tape, one step. */
    const np_opts *o = s->o;
    np_net *n = &s->nets[t - 1];
    lab_rng r0 = lab_rng_fork(noise, 0), r1 = lab_rng_fork(noise, 1), r2 = lab_rng_fork(noise, 2);
    lab_scope_begin();
    lab_tensor *u = lab_embedding(s->emb.W, y);
    lab_tensor *zp = np_noisy(u, s->dts.ab[t - 1], &r0);
    lab_tensor *zT = np_noisy(u, s->dts.ab[o->T], &r1);
    lab_tensor *lce = lab_cross_entropy(lab_linear_layer_forward(&s->head, zT), y);
    lab_tensor *logits = np_net_logits(n, np_net_image(n, x, 1, o->dropout, &r2), zp, NULL, 1, o->dropout, &r2);
    lab_tensor *loc = np_sqdist(np_uhat(logits, s->emb.W), u);
    lab_tensor *L = lab_add(lab_add(lce, np_kl(u, s->dts.ab[0])), lab_mul_scalar(loc, (float)s->dts.w[t]));
    int rc = L && lab_backward(L) == 0 && lab_optim_step(s->opt[t - 1]) == 0 && lab_optim_step(s->opt_shared) == 0
                 ? 0
                 : -1;
    lab_optim_zero_grad(s->opt[t - 1]);
    lab_optim_zero_grad(s->opt_shared);
    if (rc == 0) {
        *ce = lab_tensor_item(lce);
        *local = lab_tensor_item(loc);
    }
    lab_scope_end();
    return rc;
}

static int dt_epoch_sequential(np_state *s, lab_ctx *ctx, int64_t e, int64_t step0, np_epoch_stats *st)
{
    const int T = s->o->T;
    const int64_t S = s->steps;
    for (int t = 1; t <= T; t++) {
        if (step0 >= (int64_t)t * S) continue;
        lab_scope_begin();
        lab_tensor *perm = np_perm(s, e, t - 1);
        int rc = perm ? 0 : -1;
        for (int64_t k = step0 > (t - 1) * S ? step0 - (t - 1) * S : 0; rc == 0 && k < S; k++) {
            int64_t pos = (t - 1) * S + k;
            if (np_should_stop(s, ctx)) {
                rc = lab_ctx_checkpoint_save(ctx, e, pos) < 0 ? -1 : 1;
                break;
            }
            lab_scope_begin();
            lab_tensor *x, *y;
            np_batch(s, perm, k, &x, &y);
            lab_rng noise = np_step_rng(s, e, t - 1, k);
            double ce = 0, local = 0;
            rc = x && y ? np_dt_step(s, t, x, y, &noise, &ce, &local) : -1;
            lab_scope_end();
            if (rc < 0) break;
            st->ce += ce, st->local += local, st->loss += ce + s->dts.w[t] * local;
            st->nsteps++;
            np_progress(s, ctx, e, pos + 1);
            if (ctx && ((pos + 1) % 50 == 0))
                lab_ctx_metrics(ctx, "train", LAB_KV({"ce", ce}, {"local", local}, {"block", t}));
        }
        lab_scope_end();
        if (rc != 0) return rc;
    }
    return 0;
}

/* --- concurrent blocks (one-hot only) ------------------------------------------------ */

typedef struct {
    np_state *s;
    lab_ctx *ctx;
    int64_t e;
    lab_tensor **perms; /* [T] */
    int64_t *prog;      /* [T + 1]: next step of each block task; the head's over T·S */
    double *ce, *local;
    int failed, stopped;
    char err[512];
} par_ctx;

static void par_fail(par_ctx *p)
{
#pragma omp critical(noprop_par_err)
    if (!p->failed) {
        p->failed = 1;
        snprintf(p->err, sizeof p->err, "%s", lab_error());
    }
}

/* Task k < T: block k+1's phase; task T: the head's T·S steps in order. */
static void par_task(par_ctx *p, int k)
{
    np_state *s = p->s;
    const int T = s->o->T;
    const int64_t S = s->steps;
    int64_t end = k < T ? S : T * S;
    while (p->prog[k] < end) {
        int stop;
#pragma omp atomic read
        stop = p->failed;
        if (stop) return;
        if (np_should_stop(s, p->ctx)) {
#pragma omp atomic write
            p->stopped = 1;
            return;
        }
        int64_t pos = p->prog[k];
        int t = k < T ? k + 1 : (int)(pos / S) + 1;
        int64_t step = k < T ? pos : pos % S;
        lab_scope_begin();
        lab_tensor *x = NULL, *y = NULL;
        np_batch(s, p->perms[t - 1], step, &x, &y);
        lab_rng noise = np_step_rng(s, p->e, t - 1, step);
        double v = 0;
        int rc = x && y ? (k < T ? block_step(s, t, x, y, &noise, &v) : head_step(s, y, &noise, &v)) : -1;
        lab_scope_end();
        if (rc < 0) {
            par_fail(p);
            return;
        }
        if (k < T)
            p->local[k] += v;
        else
            p->ce[t - 1] += v;
#pragma omp atomic update
        p->prog[k]++;
        if (omp_get_thread_num() == 0 && p->ctx) {
            int64_t done = 0;
            for (int j = 0; j < T; j++) {
                int64_t v2;
#pragma omp atomic read
                v2 = p->prog[j];
                done += v2;
            }
            np_progress(s, p->ctx, p->e, done);
        }
    }
}

static int dt_epoch_parallel(np_state *s, lab_ctx *ctx, int64_t e, np_epoch_stats *st)
{
    const int T = s->o->T;
    int64_t *prog = lab_tensor_i64(s->progress);
    if (!prog) return -1;
    par_ctx p = {.s = s, .ctx = ctx, .e = e, .prog = prog};
    lab_tensor *perms[NP_MAX_T];
    double ce[NP_MAX_T] = {0}, local[NP_MAX_T] = {0};
    p.perms = perms, p.ce = ce, p.local = local;
    lab_scope_begin();
    int rc = 0;
    for (int t = 0; t < T && rc == 0; t++)
        if (!(perms[t] = np_perm(s, e, t))) rc = -1;
    if (rc == 0) {
        /* The head task first: it is long (T·S cheap steps) and must not be
         * the last one started. Each thread runs whole tasks; kernels inside
         * a parallel region run single-threaded. */
        int nth = lab_get_num_threads();
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
        for (int k = 0; k <= T; k++) par_task(&p, k == 0 ? T : k - 1);
        if (p.failed) rc = lab_error_set("%s", p.err);
    }
    lab_scope_end();
    if (rc < 0) return -1;
    for (int t = 0; t < T; t++) {
        st->ce += ce[t], st->local += local[t];
        st->loss += ce[t] + s->dts.w[t + 1] * local[t];
    }
    if (p.stopped) return lab_ctx_checkpoint_save(ctx, e, 0) < 0 ? -1 : 1;
    memset(prog, 0, (size_t)(T + 1) * sizeof *prog);
    return 0;
}

int np_dt_epoch(np_state *s, lab_ctx *ctx, int64_t e, int64_t step0, np_epoch_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!s->o->parallel_blocks) {
        int rc = dt_epoch_sequential(s, ctx, e, step0, st);
        if (st->nsteps > 0) st->ce /= (double)st->nsteps, st->local /= (double)st->nsteps, st->loss /= (double)st->nsteps;
        return rc;
    }
    const int T = s->o->T;
    int64_t *prog = lab_tensor_i64(s->progress), before = 0;
    for (int k = 0; k < T; k++) before += prog[k];
    int rc = dt_epoch_parallel(s, ctx, e, st);
    int64_t after = 0;
    if (rc == 1)
        for (int k = 0; k < T; k++) after += prog[k];
    else if (rc == 0)
        after = T * s->steps;
    st->nsteps = after - before;
    if (st->nsteps > 0) st->ce /= (double)st->nsteps, st->local /= (double)st->nsteps, st->loss /= (double)st->nsteps;
    return rc;
}
