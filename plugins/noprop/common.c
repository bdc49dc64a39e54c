/* Pieces every method uses: the training order, batches and noise streams
 * (pure functions of seed, epoch, phase and step, so resumed and concurrent
 * runs draw what the sequential run draws), and the loss terms of §3–5. */
#include <math.h>
#include <string.h>

#include "noprop_int.h"

int64_t np_steps_for(int64_t n, int64_t batch)
{
    int64_t s = (n + batch - 1) / batch;
    if (n > 1 && n % batch == 1) s--; /* BatchNorm cannot train on one sample */
    return s;
}

lab_tensor *np_perm(const np_state *s, int64_t epoch, int64_t phase)
{
    lab_rng a = lab_rng_fork(&s->base, NP_RNG_SHUFFLE), b = lab_rng_fork(&a, (uint64_t)epoch);
    lab_rng r = lab_rng_fork(&b, (uint64_t)phase);
    lab_tensor *p = lab_rng_randperm(&r, s->xtr->shape[0]);
    if (p && !lab_device_eq(s->dev, LAB_CPU)) p = lab_tensor_to(p, s->dev);
    return p;
}

void np_batch(const np_state *s, lab_tensor *perm, int64_t step, lab_tensor **x, lab_tensor **y)
{
    int64_t n = s->xtr->shape[0], b = s->o->batch, hi = (step + 1) * b < n ? (step + 1) * b : n;
    lab_tensor *idx = lab_slice(perm, 0, step * b, hi);
    *x = lab_index_select(s->xtr, 0, idx);
    *y = lab_index_select(s->ytr, 0, idx);
}

lab_rng np_step_rng(const np_state *s, int64_t epoch, int64_t phase, int64_t step)
{
    lab_rng a = lab_rng_fork(&s->base, NP_RNG_NOISE), b = lab_rng_fork(&a, (uint64_t)epoch);
    lab_rng c = lab_rng_fork(&b, (uint64_t)phase);
    return lab_rng_fork(&c, (uint64_t)step);
}

lab_tensor *np_noisy(lab_tensor *u, double ab, lab_rng *rng)
{
    if (!u) return NULL;
    lab_tensor *eps = lab_rng_normal(rng, u->ndim, u->shape, 0, 1, u->device);
    return lab_add(lab_mul_scalar(u, (float)sqrt(ab)), lab_mul_scalar(eps, (float)sqrt(1 - ab)));
}

lab_tensor *np_uhat(lab_tensor *logits, lab_tensor *W) { return lab_matmul(lab_softmax(logits, 1), W); }

lab_tensor *np_kl(lab_tensor *u, double ab0)
{
    if (!u) return NULL;
    double d = (double)u->shape[1];
    lab_tensor *n2 = lab_mean_all(lab_sum(lab_square(u), 1, 0));
    return lab_affine(n2, (float)(0.5 * ab0), (float)(0.5 * (-d * ab0 - d * log(1 - ab0))));
}

lab_tensor *np_sqdist(lab_tensor *a, lab_tensor *b) { return lab_mean_all(lab_sum(lab_square(lab_sub(a, b)), 1, 0)); }

int64_t np_epoch_steps(const np_state *s) { return s->o->method == NP_DT ? s->o->T * s->steps : s->steps; }

int np_should_stop(np_state *s, lab_ctx *ctx)
{
    if (!ctx) return 0;
    if (s->max_steps > 0 && __atomic_add_fetch(&s->steps_run, 1, __ATOMIC_RELAXED) > s->max_steps)
        lab_run_request_stop();
    return lab_ctx_should_stop(ctx);
}

void np_progress(np_state *s, lab_ctx *ctx, int64_t epoch, int64_t pos)
{
    if (ctx) lab_ctx_progress(ctx, epoch, s->o->epochs, pos, np_epoch_steps(s));
}

int np_single_pass_epoch(np_state *s, lab_ctx *ctx, int64_t e, int64_t step0, np_epoch_stats *st, np_step_fn fn)
{
    memset(st, 0, sizeof *st);
    lab_scope_begin();
    lab_tensor *perm = np_perm(s, e, 0);
    int rc = perm ? 0 : -1;
    for (int64_t k = step0; rc == 0 && k < s->steps; k++) {
        if (np_should_stop(s, ctx)) {
            rc = lab_ctx_checkpoint_save(ctx, e, k) < 0 ? -1 : 1;
            break;
        }
        lab_scope_begin();
        lab_tensor *x, *y;
        np_batch(s, perm, k, &x, &y);
        lab_rng noise = np_step_rng(s, e, 0, k);
        double loss = 0, ce = 0, local = 0;
        rc = x && y ? fn(s, x, y, &noise, &loss, &ce, &local) : -1;
        lab_scope_end();
        if (rc < 0) break;
        st->loss += loss, st->ce += ce, st->local += local;
        st->nsteps++;
        np_progress(s, ctx, e, k + 1);
        if (ctx && (k + 1) % 50 == 0) lab_ctx_metrics(ctx, "train", LAB_KV({"loss", loss}, {"ce", ce}, {"local", local}));
    }
    lab_scope_end();
    if (st->nsteps > 0) st->loss /= (double)st->nsteps, st->ce /= (double)st->nsteps, st->local /= (double)st->nsteps;
    return rc;
}

void np_zero_all(np_state *s)
{
    for (int i = 0; i < s->nnets; i++) lab_optim_zero_grad(s->opt[i]);
    lab_optim_zero_grad(s->opt_shared);
}

int np_step_all(np_state *s)
{
    int rc = 0;
    for (int i = 0; i < s->nnets; i++) rc |= lab_optim_step(s->opt[i]);
    rc |= lab_optim_step(s->opt_shared);
    np_zero_all(s);
    return rc ? -1 : 0;
}
