/* Optimizers, schedules and clipping against numbers from PyTorch 1.13.
 *
 * The constants below were produced once by /usr/bin/python3 with torch
 * 1.13 (torch.optim.SGD/Adam/AdamW on a [2, 3] parameter starting at P0,
 * with the gradients GRADS[0..3] set before each of four steps;
 * torch.optim.lr_scheduler.StepLR / CosineAnnealingLR;
 * torch.nn.utils.clip_grad_norm_). */
#include <stdio.h>
#include <string.h>

#include "labtest.h"

static const float P0[6] = {0.5f, -1.2f, 3.0f, 0.0f, -0.7f, 2.2f};
static const float GRADS[4][6] = {{0.3f, -0.1f, 0.8f, -1.5f, 0.05f, 2.0f},
                                  {-0.2f, 0.4f, 0.1f, 0.9f, -0.3f, 1.0f},
                                  {1.1f, 0.0f, -0.6f, 0.2f, 0.7f, -0.4f},
                                  {0.01f, -0.9f, 0.3f, 0.3f, 0.0f, 0.5f}};

static const float sgd_plain[4][6] = {
    {0.469999999f, -1.19000006f, 2.92000008f, 0.150000006f, -0.704999983f, 2.0f},
    {0.49000001f, -1.23000002f, 2.91000009f, 0.0600000061f, -0.674999952f, 1.89999998f},
    {0.379999995f, -1.23000002f, 2.97000003f, 0.0400000066f, -0.744999945f, 1.93999994f},
    {0.379000008f, -1.13999999f, 2.94000006f, 0.0100000054f, -0.744999945f, 1.88999999f},
};
static const float sgd_mom[4][6] = {
    {0.469500005f, -1.1888001f, 2.91700006f, 0.150000006f, -0.704299986f, 1.99779999f},
    {0.45962745f, -1.21365023f, 2.83067465f, 0.203864992f, -0.680536091f, 1.72402191f},
    {0.351328492f, -1.23492301f, 2.8044343f, 0.234160006f, -0.7215361f, 1.51207006f},
    {0.252643228f, -1.17195714f, 2.7512939f, 0.234214768f, -0.757786751f, 1.27495253f},
};
static const float sgd_mom_momentum_buffer[6] = {0.986852586f,     -0.629659235f, 0.531403244f,
                                                 -0.000547657663f, 0.362506449f,  2.37117505f};
static const float sgd_nesterov[4][6] = {
    {0.44205001f, -1.17872f, 2.84229994f, 0.284999996f, -0.708169997f, 1.8158201f},
    {0.454505116f, -1.24340844f, 2.75066948f, 0.2349585f, -0.653307498f, 1.458588f},
    {0.238248974f, -1.26432645f, 2.78853393f, 0.232731223f, -0.763327301f, 1.30194211f},
    {0.140674844f, -1.11086941f, 2.70878935f, 0.19149594f, -0.798482776f, 1.02879977f},
};
static const float sgd_nesterov_momentum_buffer[6] = {1.07039869f,  -0.691029608f, 0.521733999f,
                                                      0.122250542f, 0.399097741f,  2.46489286f};
static const float adam_wd[4][6] = {
    {0.49000001f, -1.19000006f, 2.99000001f, 0.0100000007f, -0.689999998f, 2.19000006f},
    {0.486797094f, -1.1917311f, 2.98116279f, 0.0119101638f, -0.682207048f, 2.18054438f},
    {0.479954392f, -1.19097555f, 2.97614574f, 0.0126467217f, -0.684681535f, 2.17371202f},
    {0.474077374f, -1.18530905f, 2.96988416f, 0.0122603569f, -0.686158061f, 2.16674471f},
};
static const float adam_wd_exp_avg[6] = {0.122464716f,  -0.105912343f, 0.145100936f,
                                         0.0118646566f, 0.0186663177f, 0.315939009f};
static const float adam_wd_exp_avg_sq[6] = {0.00146639755f, 0.00117980607f,  0.00181344233f,
                                            0.00318463263f, 0.000539721397f, 0.00694431318f};
static const float adam_betas[4][6] = {
    {0.450166106f, -1.15049505f, 2.95006251f, 0.0499666929f, -0.749019623f, 2.15002513f},
    {0.445820808f, -1.1808126f, 2.91398096f, 0.0567063205f, -0.715671182f, 2.10430765f},
    {0.411308944f, -1.20276439f, 2.91426349f, 0.0575147681f, -0.738404155f, 2.07797933f},
    {0.38460654f, -1.17915845f, 2.90477037f, 0.0524082668f, -0.755799472f, 2.05099463f},
};
static const float adam_betas_exp_avg[6] = {0.183120027f,  -0.139039993f, 0.0587199964f,
                                            0.0535999984f, 0.0787199959f, 0.368800014f};
static const float adam_betas_exp_avg_sq[6] = {0.0132453097f, 0.00976518914f, 0.0107719237f,
                                               0.0310665369f, 0.00575734721f, 0.0526969619f};
static const float adamw[4][6] = {
    {0.489500016f, -1.1888001f, 2.98699999f, 0.0100000007f, -0.709299982f, 2.18780017f},
    {0.487565309f, -1.19320643f, 2.97644091f, 0.0119049819f, -0.702351511f, 2.17629075f},
    {0.480659187f, -1.1963383f, 2.97258663f, 0.0126374988f, -0.705587626f, 2.16814733f},
    {0.474870801f, -1.1913321f, 2.96726108f, 0.0122485645f, -0.708108127f, 2.15995502f},
};
static const float adamw_exp_avg[6] = {0.105669998f,  -0.0648899972f, 0.0424199961f,
                                       0.0115499999f, 0.0423449986f,  0.240799993f};
static const float adamw_exp_avg_sq[6] = {0.00133854058f, 0.000979650184f, 0.00109770196f,
                                          0.00318159768f, 0.000581822591f, 0.00539585296f};
static const float steplr[10] = {0.1f, 0.1f, 0.1f, 0.05f, 0.05f, 0.05f, 0.025f, 0.025f, 0.025f, 0.0125f};
static const float cosine[11] = {0.1f,          0.0975772976f, 0.0905463412f, 0.07959537f,    0.0657963412f, 0.0505f,
                                 0.0352036588f, 0.02140463f,   0.0104536588f, 0.00342270244f, 0.001f};

static const int64_t SHAPE[2] = {2, 3};

/* A list holding one trainable "w" = P0. */
static lab_params *make_params(void)
{
    lab_params *p = lab_params_new();
    cr_assert_not_null(lab_params_add(p, "w", lab_tensor_from_f32(P0, 2, SHAPE)), "%s", lab_error());
    return p;
}

static void set_grad(lab_tensor *t, const float *g)
{
    lab_tensor_zero_grad(t);
    t->grad = lab_tensor_own(lab_tensor_from_f32(g, t->ndim, t->shape));
}

/* Four steps of cfg, each checked against ref[step]. */
static void check_run(lab_optim_config cfg, const float ref[4][6], const float *s1_ref, const float *s2_ref,
                      const char *s1_name, const char *s2_name)
{
    lab_params *p = make_params();
    lab_tensor *w = lab_params_get(p, "w");
    lab_optim *o = lab_optim_new(&cfg, p);
    cr_assert_not_null(o, "%s", lab_error());
    for (int s = 0; s < 4; s++) {
        set_grad(w, GRADS[s]);
        cr_assert_eq(lab_optim_step(o), 0, "%s", lab_error());
        lt_assert_tensor_close(w, ref[s], 1e-6, 2e-6);
    }
    cr_assert_eq(lab_optim_steps(o), 4);
    lab_params *st = lab_params_new();
    cr_assert_eq(lab_optim_state_export(o, st, "optim."), 0, "%s", lab_error());
    lab_tensor *step = lab_params_get(st, "optim.w.step");
    cr_assert_not_null(step);
    cr_assert_eq(lab_tensor_item(step), 4.0f);
    cr_assert_eq(lab_tensor_item(lab_params_get(st, "optim.step")), 4.0f);
    if (s1_ref) {
        char key[64];
        snprintf(key, sizeof key, "optim.w.%s", s1_name);
        lt_assert_tensor_close(lab_params_get(st, key), s1_ref, 1e-7, 2e-6);
    }
    if (s2_ref) {
        char key[64];
        snprintf(key, sizeof key, "optim.w.%s", s2_name);
        lt_assert_tensor_close(lab_params_get(st, key), s2_ref, 1e-9, 2e-6);
    }
    lab_params_free(st);
    lab_optim_free(o);
    lab_params_free(p);
}

Test(optim, sgd_plain_matches_torch)
{
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_SGD);
    c.lr = 0.1f;
    check_run(c, sgd_plain, NULL, NULL, NULL, NULL);
}

Test(optim, sgd_momentum_dampening_weight_decay_matches_torch)
{
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_SGD);
    c.lr = 0.1f;
    c.momentum = 0.9f;
    c.dampening = 0.1f;
    c.weight_decay = 0.01f;
    check_run(c, sgd_mom, sgd_mom_momentum_buffer, NULL, "momentum_buffer", NULL);
}

Test(optim, sgd_nesterov_matches_torch)
{
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_SGD);
    c.lr = 0.1f;
    c.momentum = 0.9f;
    c.nesterov = 1;
    c.weight_decay = 0.01f;
    check_run(c, sgd_nesterov, sgd_nesterov_momentum_buffer, NULL, "momentum_buffer", NULL);
}

Test(optim, adam_l2_weight_decay_matches_torch)
{
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_ADAM);
    c.lr = 0.01f;
    c.weight_decay = 0.1f;
    check_run(c, adam_wd, adam_wd_exp_avg, adam_wd_exp_avg_sq, "exp_avg", "exp_avg_sq");
}

Test(optim, adam_betas_eps_matches_torch)
{
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_ADAM);
    c.lr = 0.05f;
    c.beta1 = 0.8f;
    c.beta2 = 0.99f;
    c.eps = 1e-3f;
    check_run(c, adam_betas, adam_betas_exp_avg, adam_betas_exp_avg_sq, "exp_avg", "exp_avg_sq");
}

Test(optim, adamw_decoupled_matches_torch)
{
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_ADAMW);
    cr_assert_float_eq(c.weight_decay, 0.01f, 1e-9);
    c.lr = 0.01f;
    c.weight_decay = 0.1f;
    check_run(c, adamw, adamw_exp_avg, adamw_exp_avg_sq, "exp_avg", "exp_avg_sq");
}

Test(optim, defaults_are_torchs)
{
    lab_optim_config a = lab_optim_defaults(LAB_OPTIM_ADAM);
    cr_assert_float_eq(a.lr, 1e-3f, 1e-12);
    cr_assert_float_eq(a.beta1, 0.9f, 1e-12);
    cr_assert_float_eq(a.beta2, 0.999f, 1e-12);
    cr_assert_float_eq(a.eps, 1e-8f, 1e-15);
    cr_assert_eq(a.weight_decay, 0.0f);
    lab_optim_config s = lab_optim_defaults(LAB_OPTIM_SGD);
    cr_assert_eq(s.momentum, 0.0f);
    cr_assert_eq(s.nesterov, 0);
}

/* torch skips parameters whose grad is None, and their step count stays:
 * a parameter first updated at step 2 takes Adam's step-1 update. */
Test(optim, params_without_grad_are_skipped)
{
    lab_params *p = make_params();
    lab_tensor *w = lab_params_get(p, "w");
    lab_tensor *v = lab_params_add(p, "v", lab_tensor_from_f32(P0, 2, SHAPE));
    lab_tensor *buf = lab_params_add_buffer(p, "buf", lab_tensor_from_f32(P0, 2, SHAPE));
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_ADAM);
    c.lr = 0.01f;
    c.weight_decay = 0.1f;
    lab_optim *o = lab_optim_new(&c, p);
    set_grad(w, GRADS[0]);
    cr_assert_eq(lab_optim_step(o), 0);
    lt_assert_tensor_close(v, P0, 0, 0);
    set_grad(v, GRADS[0]);
    set_grad(buf, GRADS[0]); /* a buffer is never optimised, gradient or not */
    cr_assert_eq(lab_optim_step(o), 0);
    lt_assert_tensor_close(v, adam_wd[0], 1e-6, 2e-6);
    lt_assert_tensor_close(buf, P0, 0, 0);
    lab_optim_zero_grad(o);
    cr_assert_null(w->grad);
    cr_assert_null(v->grad);
    lab_optim_free(o);
    lab_params_free(p);
}

/* Export after two steps, import into a fresh optimizer over a copy of the
 * parameters: steps 3 and 4 then match torch's uninterrupted run. */
static void resume_case(lab_optim_config c, const float ref[4][6])
{
    lab_params *p = make_params();
    lab_tensor *w = lab_params_get(p, "w");
    lab_optim *o = lab_optim_new(&c, p);
    for (int s = 0; s < 2; s++) {
        set_grad(w, GRADS[s]);
        cr_assert_eq(lab_optim_step(o), 0);
    }
    lab_params *st = lab_params_new();
    cr_assert_eq(lab_optim_state_export(o, st, "opt."), 0, "%s", lab_error());
    /* Deep copies, as if read back from a checkpoint. */
    lab_params *st2 = lab_params_new();
    for (int i = 0; i < st->n; i++)
        lab_params_add_buffer(st2, st->names[i], lab_tensor_clone(st->tensors[i]));
    lab_optim_free(o);
    lab_params_free(st);

    lab_params *q = lab_params_new();
    lab_tensor *w2 = lab_params_add(q, "w", lab_tensor_clone(w));
    lab_optim *o2 = lab_optim_new(&c, q);
    cr_assert_eq(lab_optim_state_import(o2, st2, "opt."), 0, "%s", lab_error());
    cr_assert_eq(lab_optim_steps(o2), 2);
    for (int s = 2; s < 4; s++) {
        set_grad(w2, GRADS[s]);
        cr_assert_eq(lab_optim_step(o2), 0);
        lt_assert_tensor_close(w2, ref[s], 1e-6, 2e-6);
    }
    lab_optim_free(o2);
    lab_params_free(st2);
    lab_params_free(q);
    lab_params_free(p);
}

Test(optim, state_export_import_resumes_adam)
{
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_ADAM);
    c.lr = 0.01f;
    c.weight_decay = 0.1f;
    resume_case(c, adam_wd);
}

Test(optim, state_export_import_resumes_sgd_momentum)
{
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_SGD);
    c.lr = 0.1f;
    c.momentum = 0.9f;
    c.dampening = 0.1f;
    c.weight_decay = 0.01f;
    resume_case(c, sgd_mom);
}

Test(optim, state_import_rejects_mismatches)
{
    lab_params *p = make_params();
    lab_tensor *w = lab_params_get(p, "w");
    lab_optim_config ca = lab_optim_defaults(LAB_OPTIM_ADAM);
    lab_optim *o = lab_optim_new(&ca, p);
    set_grad(w, GRADS[0]);
    lab_optim_step(o);
    lab_params *st = lab_params_new();
    lab_optim_state_export(o, st, "opt.");

    /* Wrong kind. */
    lab_optim_config cs = lab_optim_defaults(LAB_OPTIM_SGD);
    lab_optim *s = lab_optim_new(&cs, p);
    cr_assert_eq(lab_optim_state_import(s, st, "opt."), -1);
    lt_assert_error_contains("state is for adam, the optimizer is sgd");
    lab_optim_free(s);

    /* Missing prefix entirely. */
    cr_assert_eq(lab_optim_state_import(o, st, "other."), -1);
    lt_assert_error_contains("'other.kind' is missing");

    /* A moment of the wrong shape, and an entry for no parameter. */
    lab_params *bad = lab_params_new();
    for (int i = 0; i < st->n; i++) {
        if (strcmp(st->names[i], "opt.w.exp_avg") == 0)
            lab_params_add_buffer(bad, st->names[i], lab_tensor_zeros(LAB_F32, 1, (int64_t[]){6}, LAB_CPU));
        else
            lab_params_add_buffer(bad, st->names[i], lab_tensor_retain(st->tensors[i]));
    }
    cr_assert_eq(lab_optim_state_import(o, bad, "opt."), -1);
    lt_assert_error_contains("'opt.w.exp_avg' is f32[6] but the parameter is f32[2, 3]");
    lab_params_free(bad);

    bad = lab_params_new();
    for (int i = 0; i < st->n; i++) lab_params_add_buffer(bad, st->names[i], lab_tensor_retain(st->tensors[i]));
    lab_params_add_buffer(bad, "opt.fc9.weight.exp_avg", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){6}, LAB_CPU));
    cr_assert_eq(lab_optim_state_import(o, bad, "opt."), -1);
    lt_assert_error_contains("'opt.fc9.weight.exp_avg' matches no parameter");
    lab_params_free(bad);

    /* A failed import changed nothing: the next step is still Adam's step 2. */
    set_grad(w, GRADS[1]);
    lab_optim_step(o);
    lab_optim_free(o);
    lab_params_free(st);
    lab_params_free(p);
}

Test(optim, config_errors)
{
    lab_params *p = make_params();
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_SGD);
    c.nesterov = 1;
    cr_assert_null(lab_optim_new(&c, p));
    lt_assert_error_contains("nesterov needs momentum > 0 and dampening 0");
    c = lab_optim_defaults(LAB_OPTIM_ADAM);
    c.beta1 = 1.0f;
    cr_assert_null(lab_optim_new(&c, p));
    lt_assert_error_contains("invalid beta1 1");
    c = lab_optim_defaults(LAB_OPTIM_ADAMW);
    c.lr = -1.0f;
    cr_assert_null(lab_optim_new(&c, p));
    lt_assert_error_contains("invalid lr -1");
    cr_assert_null(lab_optim_new(NULL, p));
    lab_params_free(p);
}

Test(optim, gradient_of_wrong_shape_is_an_error)
{
    lab_params *p = make_params();
    lab_tensor *w = lab_params_get(p, "w");
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_ADAM);
    lab_optim *o = lab_optim_new(&c, p);
    w->grad = lab_tensor_own(lab_tensor_zeros(LAB_F32, 1, (int64_t[]){6}, LAB_CPU));
    cr_assert_eq(lab_optim_step(o), -1);
    lt_assert_error_contains("'w' is f32[2, 3] but its gradient is f32[6]");
    lab_optim_free(o);
    lab_params_free(p);
}

Test(optim, lr_set_get)
{
    lab_params *p = make_params();
    lab_optim_config c = lab_optim_defaults(LAB_OPTIM_SGD);
    lab_optim *o = lab_optim_new(&c, p);
    lab_optim_set_lr(o, 0.5f);
    cr_assert_eq(lab_optim_get_lr(o), 0.5f);
    /* lr 0.5 on a plain SGD step: p - 0.5 g. */
    set_grad(lab_params_get(p, "w"), GRADS[0]);
    lab_optim_step(o);
    float want[6];
    for (int i = 0; i < 6; i++) want[i] = P0[i] - 0.5f * GRADS[0][i];
    lt_assert_tensor_close(lab_params_get(p, "w"), want, 1e-7, 1e-6);
    lab_optim_free(o);
    lab_params_free(p);
}

/* --- schedules ---------------------------------------------------------------- */

Test(optim, lr_step_matches_torch_steplr)
{
    lab_lr_schedule s = {.kind = LAB_LR_STEP, .lr = 0.1f, .gamma = 0.5f, .step_size = 3};
    for (int i = 0; i < 10; i++) cr_assert_float_eq(lab_lr_at(&s, i), steplr[i], 1e-8, "step %d", i);
}

Test(optim, lr_cosine_matches_torch_cosineannealing)
{
    lab_lr_schedule s = {.kind = LAB_LR_COSINE, .lr = 0.1f, .min_lr = 0.001f, .total_steps = 10};
    for (int i = 0; i <= 10; i++) cr_assert_float_eq(lab_lr_at(&s, i), cosine[i], 1e-7, "step %d", i);
    cr_assert_float_eq(lab_lr_at(&s, 25), 0.001f, 1e-9); /* stays at min_lr, no restart */
}

Test(optim, lr_warmup_then_kind)
{
    lab_lr_schedule s = {.kind = LAB_LR_CONSTANT, .lr = 0.2f, .warmup_steps = 4};
    float want[6] = {0.0f, 0.05f, 0.1f, 0.15f, 0.2f, 0.2f};
    for (int i = 0; i < 6; i++) cr_assert_float_eq(lab_lr_at(&s, i), want[i], 1e-7, "step %d", i);
    /* Cosine after warmup counts from the end of warmup. */
    lab_lr_schedule c = {.kind = LAB_LR_COSINE, .lr = 0.1f, .min_lr = 0.001f, .total_steps = 14, .warmup_steps = 4};
    for (int i = 0; i <= 10; i++) cr_assert_float_eq(lab_lr_at(&c, 4 + i), cosine[i], 1e-7, "step %d", 4 + i);
    cr_assert_float_eq(lab_lr_at(&c, 2), 0.05f, 1e-8);
}

Test(optim, lr_schedule_errors)
{
    lab_lr_schedule s = {.kind = LAB_LR_STEP, .lr = 0.1f, .gamma = 0.5f, .step_size = 0};
    cr_assert(isnan(lab_lr_at(&s, 3)));
    lt_assert_error_contains("step_size > 0");
    lab_lr_schedule c = {.kind = LAB_LR_COSINE, .lr = 0.1f, .total_steps = 5, .warmup_steps = 5};
    cr_assert(isnan(lab_lr_at(&c, 6)));
    lt_assert_error_contains("total_steps (5) > warmup_steps (5)");
}

/* --- clipping ------------------------------------------------------------------- */

Test(optim, clip_grad_norm_matches_torch)
{
    lab_params *p = lab_params_new();
    lab_tensor *a = lab_params_add(p, "a", lab_tensor_from_f32((float[]){3, 4}, 1, (int64_t[]){2}));
    lab_tensor *b = lab_params_add(p, "b", lab_tensor_from_f32((float[]){1, 2, 2, 4}, 2, (int64_t[]){2, 2}));
    lab_tensor *c = lab_params_add(p, "c", lab_tensor_from_f32((float[]){1}, 1, (int64_t[]){1})); /* no grad */
    set_grad(a, (float[]){3, -4});
    set_grad(b, (float[]){1, 2, 2, 4});
    float n = lab_clip_grad_norm(p, 2.0f);
    cr_assert_float_eq(n, 7.071067810058594f, 1e-6);
    lt_assert_tensor_close(a->grad, (float[]){0.8485280275344849f, -1.1313706636428833f}, 1e-7, 1e-6);
    lt_assert_tensor_close(b->grad,
                           (float[]){0.2828426659107208f, 0.5656853318214417f, 0.5656853318214417f,
                                     1.1313706636428833f},
                           1e-7, 1e-6);
    cr_assert_null(c->grad);
    /* Below the limit nothing changes. */
    float n2 = lab_clip_grad_norm(p, 100.0f);
    cr_assert_float_eq(n2, 2.0f, 1e-5);
    lt_assert_tensor_close(a->grad, (float[]){0.8485280275344849f, -1.1313706636428833f}, 1e-7, 1e-6);
    cr_assert(lab_clip_grad_norm(p, -1.0f) < 0);
    lab_params_free(p);
}
