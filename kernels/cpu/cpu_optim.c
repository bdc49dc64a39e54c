/* CPU optimizer primitives: one fused pass per parameter tensor.
 *
 *   adam   PyTorch 1.13's _single_tensor_adam / _single_tensor_adamw
 *          (no amsgrad): for AdamW p *= 1 - lr*wd first; for Adam
 *          g += wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 *          p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps).
 *          Hyperparameters arrive as floats; PyTorch gets them as Python
 *          doubles (0.999, not 0.999f) and forms 1-b2, b2^t and lr/(1-b1^t)
 *          in double before rounding to float. lab_optim_decimal_of() recovers the
 *          decimal the user wrote, so 1-b2 is 0.001f as in PyTorch rather
 *          than 1-0.999f (off by 1.3e-5 relative).
 *   sgd    torch.optim.SGD: d = g + wd*p; buf = d on the first step, else
 *          momentum*buf + (1-dampening)*d; d = nesterov ? d + momentum*buf
 *          : buf; p -= lr*d.
 *   sumsq  sum of x^2 over a list of arrays, accumulated in double (the
 *          global norm for clipping).
 *
 * Loops are element-independent (OpenMP above LAB_CPU_PAR_MIN elements,
 * vectorizable bodies). Tested through lab_optim_step in
 * tests/unit/test_optim.c against numbers produced by torch.optim. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cpu_int.h"
#include "../optim_decimal.h"

static void cpu_adam(int64_t n, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2,
                     float eps, float wd, int decoupled, int64_t t)
{
    const double b1 = lab_optim_decimal_of(beta1), b2 = lab_optim_decimal_of(beta2);
    const double lrd = lab_optim_decimal_of(lr), wdd = lab_optim_decimal_of(wd);
    const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    const float step_size = (float)(lrd / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float decay = decoupled ? (float)(1.0 - lrd * wdd) : 1.0f;
    const float l2 = decoupled ? 0.0f : wd;
    const float a1 = (float)(1.0 - b1), a2 = (float)(1.0 - b2);
#pragma omp parallel for simd schedule(static) if (parallel : n > LAB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] + l2 * p[i];
        float pi = p[i] * decay;
        float mi = m[i] * beta1 + a1 * gi;
        float vi = v[i] * beta2 + a2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
}

static void cpu_sgd(int64_t n, float *p, const float *g, float *buf, float lr, float momentum, float dampening,
                    float wd, int nesterov, int first)
{
    const float keep = (float)(1.0 - lab_optim_decimal_of(dampening));
    if (momentum == 0.0f || !buf) {
#pragma omp parallel for simd schedule(static) if (parallel : n > LAB_CPU_PAR_MIN)
        for (int64_t i = 0; i < n; i++) p[i] -= lr * (g[i] + wd * p[i]);
        return;
    }
#pragma omp parallel for simd schedule(static) if (parallel : n > LAB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        float b = first ? d : momentum * buf[i] + keep * d;
        buf[i] = b;
        p[i] -= lr * (nesterov ? d + momentum * b : b);
    }
}

static int cpu_sumsq(int count, const int64_t *ns, const float *const *xs, double *out)
{
    double total = 0;
    for (int k = 0; k < count; k++) {
        const float *x = xs[k];
        int64_t n = ns[k];
        double s = 0;
#pragma omp parallel for simd reduction(+ : s) schedule(static) if (parallel : n > LAB_CPU_PAR_MIN)
        for (int64_t i = 0; i < n; i++) s += (double)x[i] * (double)x[i];
        total += s;
    }
    *out = total;
    return 0;
}

void lab_cpu_install_optim(lab_backend *be)
{
    be->adam = cpu_adam;
    be->sgd = cpu_sgd;
    be->sumsq = cpu_sumsq;
}
