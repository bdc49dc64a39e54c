/* CUDA optimizer primitives: Adam/AdamW and SGD updates in place, and the
 * sum of squares used by gradient clipping (semantics in backend.h).
 *
 * The updates are the CPU's formulas (kernels/cpu/cpu_optim.c, PyTorch 1.13
 * single-tensor Adam/AdamW and SGD) with the same host-side constants (the
 * hyperparameters recovered as the decimals the user wrote, bias
 * corrections in double, rounded to float once) and the same operation
 * order; every product and sum is written with __fmul_rn/__fadd_rn/
 * __fdiv_rn so nvcc cannot contract them into FMAs. sqrtf and division are
 * IEEE-rounded on both sides, so a step is bit-identical to the CPU's.
 * sumsq accumulates (double)x*x per thread, then per block, then across
 * blocks with a double atomicAdd: equal to the CPU's double sum to ~1e-15.
 *
 * Tested by tests/parity/test_parity_optim.c (several Adam, AdamW and SGD
 * steps with weight decay, momentum, nesterov, compared bit for bit with
 * the CPU, and clip_grad_norm) on a GPU.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda_int.h"
#include "lab/error.h"
#include "../optim_decimal.h"

__global__ void k_adam(int64_t n, float *p, const float *g, float *m, float *v, float beta1, float beta2, float a1,
                       float a2, float step, float bc2s, float eps, float decay, float l2)
{
    LAB_CU_LOOP(i, n)
    {
        float pv = p[i];
        float gi = __fadd_rn(g[i], __fmul_rn(l2, pv));
        float pi = __fmul_rn(pv, decay);
        float mi = __fadd_rn(__fmul_rn(m[i], beta1), __fmul_rn(a1, gi));
        float vi = __fadd_rn(__fmul_rn(v[i], beta2), __fmul_rn(__fmul_rn(a2, gi), gi));
        m[i] = mi;
        v[i] = vi;
        float denom = __fadd_rn(__fdiv_rn(sqrtf(vi), bc2s), eps);
        p[i] = __fsub_rn(pi, __fdiv_rn(__fmul_rn(step, mi), denom));
    }
}

static void cu_adam(int64_t n, float *p, const float *g, float *m, float *v, float lr, float beta1, float beta2,
                    float eps, float wd, int decoupled, int64_t t)
{
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(p);
    /* Host constants exactly as cpu_adam computes them. */
    const double b1 = lab_optim_decimal_of(beta1), b2 = lab_optim_decimal_of(beta2);
    const double lrd = lab_optim_decimal_of(lr), wdd = lab_optim_decimal_of(wd);
    double bc1 = 1.0 - pow(b1, (double)t);
    double bc2 = 1.0 - pow(b2, (double)t);
    const float step = (float)(lrd / bc1);
    const float bc2s = (float)sqrt(bc2);
    const float decay = decoupled ? (float)(1.0 - lrd * wdd) : 1.0f;
    const float l2 = decoupled ? 0.0f : wd;
    const float a1 = (float)(1.0 - b1), a2 = (float)(1.0 - b2);
    k_adam<<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(n, p, g, m, v, beta1, beta2, a1, a2,
                                                                                  step, bc2s, eps, decay, l2);
    LAB_CU_CHECK(d, "adam");
}

__global__ void k_sgd_plain(int64_t n, float *p, const float *g, float lr, float wd)
{
    LAB_CU_LOOP(i, n) p[i] = __fsub_rn(p[i], __fmul_rn(lr, __fadd_rn(g[i], __fmul_rn(wd, p[i]))));
}

__global__ void k_sgd_momentum(int64_t n, float *p, const float *g, float *buf, float lr, float momentum, float keep,
                               float wd, int nesterov, int first)
{
    LAB_CU_LOOP(i, n)
    {
        float pv = p[i];
        float dv = __fadd_rn(g[i], __fmul_rn(wd, pv));
        float b = first ? dv : __fadd_rn(__fmul_rn(momentum, buf[i]), __fmul_rn(keep, dv));
        buf[i] = b;
        float step = nesterov ? __fadd_rn(dv, __fmul_rn(momentum, b)) : b;
        p[i] = __fsub_rn(pv, __fmul_rn(lr, step));
    }
}

static void cu_sgd(int64_t n, float *p, const float *g, float *buf, float lr, float momentum, float dampening, float wd,
                   int nesterov, int first)
{
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(p);
    unsigned nb = lab_cu_blocks(d, n, LAB_CU_THREADS);
    if (momentum == 0.0f || !buf)
        k_sgd_plain<<<nb, LAB_CU_THREADS, 0, d->stream>>>(n, p, g, lr, wd);
    else
        k_sgd_momentum<<<nb, LAB_CU_THREADS, 0, d->stream>>>(n, p, g, buf, lr, momentum,
                                                             (float)(1.0 - lab_optim_decimal_of(dampening)), wd, nesterov,
                                                             first);
    LAB_CU_CHECK(d, "sgd");
}

__global__ void k_sumsq(int64_t n, const float *x, double *out)
{
    __shared__ double sh[32];
    double s = 0;
    LAB_CU_LOOP(i, n) s += (double)x[i] * (double)x[i];
    s = lab_cu_warp_sum_d(s);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) sh[warp] = s;
    __syncthreads();
    if (warp == 0) {
        s = lane < (int)(blockDim.x >> 5) ? sh[lane] : 0.0;
        s = lab_cu_warp_sum_d(s);
        if (lane == 0) atomicAdd(out, s);
    }
}

/* Every array's squares go into one device double; one copy back and one
 * wait for the stream in all. */
static int cu_sumsq(int count, const int64_t *ns, const float *const *xs, double *out)
{
    *out = 0.0;
    int first = -1;
    for (int k = 0; k < count && first < 0; k++)
        if (ns[k] > 0) first = k;
    if (first < 0) return 0;
    lab_cu_dev *d = lab_cu_dev_of(xs[first]);
    double *slot = (double *)lab_cu_tmp_alloc(d, sizeof(double));
    if (!slot) return lab_cu_take_error();
    double s = NAN;
    cudaError_t e = cudaMemsetAsync(slot, 0, sizeof(double), d->stream);
    if (e == cudaSuccess) {
        for (int k = 0; k < count; k++) {
            if (ns[k] <= 0) continue;
            k_sumsq<<<lab_cu_blocks(d, ns[k], LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(ns[k], xs[k], slot);
            LAB_CU_CHECK(d, "sumsq");
        }
        e = cudaMemcpyAsync(&s, slot, sizeof s, cudaMemcpyDeviceToHost, d->stream);
    }
    int bad_index = 0;
    if (e == cudaSuccess) bad_index = lab_cu_wait(d, &e) < 0;
    lab_cu_tmp_free(d, slot, sizeof(double));
    if (e != cudaSuccess) {
        cudaGetLastError();
        return lab_error_set("cuda: sumsq failed: %s", cudaGetErrorString(e));
    }
    if (bad_index || lab_cu_take_error() < 0) return -1;
    *out = s;
    return 0;
}

void lab_cu_install_optim(lab_backend *be)
{
    be->adam = cu_adam;
    be->sgd = cu_sgd;
    be->sumsq = cu_sumsq;
}
