/* CPU vs CUDA: optimizer steps and gradient clipping (kernels/cuda/
 * cuda_optim.cu). Skipped without a usable cuda:0. */
#include <math.h>

#include "parity.h"

/* Two lists holding the same "w" [33, 70] and "b" [70], one per device. */
static lab_params *make_params(lab_device dev)
{
    lab_params *p = lab_params_new();
    lab_tensor *w = lt_randn(1, 2, (int64_t[]){33, 70}), *b = lt_randn(2, 1, (int64_t[]){70});
    cr_assert_not_null(lab_params_add(p, "w", lab_tensor_to(w, dev)), "%s", lab_error());
    cr_assert_not_null(lab_params_add(p, "b", lab_tensor_to(b, dev)), "%s", lab_error());
    lab_tensor_release(w);
    lab_tensor_release(b);
    return p;
}

/* The same gradient on both devices (copied, so bit-identical inputs). */
static void set_grads(lab_params *pc, lab_params *pg, uint64_t seed)
{
    for (int i = 0; i < pc->n; i++) {
        lab_tensor *tc = pc->tensors[i], *tg = pg->tensors[i];
        lab_tensor *g = lab_tensor_own(lt_randn(seed + (uint64_t)i, tc->ndim, tc->shape));
        lab_tensor_zero_grad(tc);
        lab_tensor_zero_grad(tg);
        tg->grad = lab_tensor_own(lab_tensor_to(g, PT_GPU));
        tc->grad = g;
    }
}

/* Five steps of cfg on both devices. The CUDA kernels perform the CPU's
 * operations in its order with IEEE-rounded sqrt and division and no fused
 * multiply-adds, from the same host-side constants: the parameters must
 * stay bit-identical, step after step. */
static void check_steps(const char *name, lab_optim_config cfg)
{
    lab_params *pc = make_params(LAB_CPU), *pg = make_params(PT_GPU);
    lab_optim *oc = lab_optim_new(&cfg, pc), *og = lab_optim_new(&cfg, pg);
    cr_assert(oc && og, "%s: %s", name, lab_error());
    for (int s = 0; s < 5; s++) {
        set_grads(pc, pg, 10 + (uint64_t)s);
        cr_assert_eq(lab_optim_step(oc), 0, "%s", lab_error());
        cr_assert_eq(lab_optim_step(og), 0, "%s", lab_error());
        for (int i = 0; i < pc->n; i++) {
            char what[96];
            snprintf(what, sizeof what, "%s step %d %s", name, s + 1, pc->names[i]);
            pt_assert_match(what, pg->tensors[i], pc->tensors[i], 0, 0);
        }
    }
    lab_optim_free(oc);
    lab_optim_free(og);
    lab_params_free(pc);
    lab_params_free(pg);
}

Test(parity_optim, adam_adamw_sgd_steps_are_bit_identical)
{
    PT_REQUIRE_GPU();
    lab_optim_config adam = lab_optim_defaults(LAB_OPTIM_ADAM);
    adam.lr = 1e-2f;
    check_steps("adam", adam);
    adam.weight_decay = 0.1f;
    check_steps("adam + L2", adam);
    lab_optim_config adamw = lab_optim_defaults(LAB_OPTIM_ADAMW);
    adamw.lr = 3e-3f;
    adamw.weight_decay = 0.05f;
    check_steps("adamw", adamw);
    lab_optim_config sgd = lab_optim_defaults(LAB_OPTIM_SGD);
    sgd.lr = 0.1f;
    check_steps("sgd", sgd);
    sgd.momentum = 0.9f;
    sgd.weight_decay = 1e-3f;
    check_steps("sgd momentum", sgd);
    sgd.nesterov = 1;
    check_steps("sgd nesterov", sgd);
    sgd.nesterov = 0;
    sgd.dampening = 0.3f;
    check_steps("sgd dampening", sgd);
}

Test(parity_optim, clip_grad_norm)
{
    PT_REQUIRE_GPU();
    lab_params *pc = make_params(LAB_CPU), *pg = make_params(PT_GPU);
    set_grads(pc, pg, 50);
    /* The norm is a double sum of squares in a different order: 1e-12
     * relative in double, then rounded to float. The scaled gradients are
     * g * coef with coef from that norm: 1e-6 relative. */
    float nc = lab_clip_grad_norm(pc, 5.0f), ng = lab_clip_grad_norm(pg, 5.0f);
    cr_assert(nc > 5.0f, "the test needs clipping to happen (norm %g)", nc);
    cr_assert(fabsf(nc - ng) <= 1e-6f * nc, "norm: cuda %.9g, cpu %.9g", ng, nc);
    for (int i = 0; i < pc->n; i++)
        pt_assert_match("clipped gradient", pg->tensors[i]->grad, pc->tensors[i]->grad, 1e-7, 1e-6);
    lab_params_free(pc);
    lab_params_free(pg);
}
