/* lab/optim.h — optimizers, learning-rate schedules, gradient clipping.
 *
 *     lab_optim_config oc = lab_optim_defaults(LAB_OPTIM_ADAMW);
 *     oc.lr = 1e-3f; oc.weight_decay = 1e-3f;
 *     lab_optim *opt = lab_optim_new(&oc, params);
 *     ... lab_backward(loss); lab_optim_step(opt); lab_optim_zero_grad(opt);
 *     lab_optim_free(opt);
 */
#ifndef LAB_OPTIM_H
#define LAB_OPTIM_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LAB_OPTIM_SGD = 0, LAB_OPTIM_ADAM, LAB_OPTIM_ADAMW } lab_optim_kind;

typedef struct lab_optim_config {
    lab_optim_kind kind;
    float lr;
    float weight_decay; /* SGD and Adam: L2 added to the gradient; AdamW: decoupled */
    float momentum;     /* SGD */
    float dampening;    /* SGD */
    int nesterov;       /* SGD */
    float beta1, beta2, eps; /* Adam(W) */
} lab_optim_config;

/* PyTorch's defaults for the kind (AdamW weight_decay 0.01). torch.optim.SGD
 * has no default lr; ours is 0.01. Update rules are PyTorch 1.13's, state
 * is per parameter as in torch (a parameter without a gradient is skipped
 * and its step count does not advance). */
lab_optim_config lab_optim_defaults(lab_optim_kind kind);

typedef struct lab_optim lab_optim;

/* Optimises the trainable tensors of `params` (borrowed: keep it alive).
 * Parameters added to the list later are not seen. */
lab_optim *lab_optim_new(const lab_optim_config *cfg, lab_params *params);
void lab_optim_free(lab_optim *o);
/* Updates every parameter that has a gradient. */
int lab_optim_step(lab_optim *o);
void lab_optim_zero_grad(lab_optim *o);
void lab_optim_set_lr(lab_optim *o, float lr);
float lab_optim_get_lr(const lab_optim *o);
int64_t lab_optim_steps(const lab_optim *o);
/* The optimizer state (moments, step count) as named tensors under prefix,
 * for checkpoints; the tensors are added to out (retained). Names, as in a
 * torch state_dict: <prefix>kind and <prefix>step (i64 scalars: the kind
 * and lab_optim_steps), and for each parameter that has state
 * <prefix><name>.step plus .exp_avg and .exp_avg_sq (Adam, AdamW) or
 * .momentum_buffer (SGD with momentum).
 * Import checks every entry (kind, shapes, no unknown entries under a
 * non-empty prefix) before changing anything; a parameter with no entries
 * starts fresh. */
int lab_optim_state_export(const lab_optim *o, lab_params *out, const char *prefix);
int lab_optim_state_import(lab_optim *o, const lab_params *in, const char *prefix);

typedef enum {
    LAB_LR_CONSTANT = 0,
    LAB_LR_STEP,   /* lr * gamma^(floor(step / step_size)) */
    LAB_LR_COSINE, /* from lr to min_lr over total_steps */
} lab_lr_kind;

typedef struct lab_lr_schedule {
    lab_lr_kind kind;
    float lr, min_lr, gamma;
    int64_t step_size, total_steps;
    int64_t warmup_steps; /* linear ramp from 0, before any kind */
} lab_lr_schedule;

/* The lr at a 0-based step: lr * step / warmup_steps during warmup, then
 * the kind evaluated on the steps counted from the end of warmup (cosine
 * spans total_steps - warmup_steps and stays at min_lr after it). NAN with
 * an error for a bad schedule (step_size <= 0, total_steps <= warmup). */
float lab_lr_at(const lab_lr_schedule *s, int64_t step);

/* Scale all gradients so their global L2 norm is at most max_norm; returns
 * the norm before clipping (negative on error). As
 * torch.nn.utils.clip_grad_norm_: trainable tensors with a gradient only,
 * coefficient max_norm / (norm + 1e-6) when below 1. */
float lab_clip_grad_norm(lab_params *p, float max_norm);

#ifdef __cplusplus
}
#endif
#endif
