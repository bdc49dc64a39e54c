/* Reference loops for the fused attention slots (semantics in
 * framework/core/backend.h). lab_attention takes the fused path only off the
 * cpu, so on the cpu these serve the parity tests' fake "cuda" backend,
 * where they are checked against the composed attention; they follow the
 * CUDA kernels' algorithm (kernels/cuda/cuda_attention.cu) step for step,
 * in two passes rather than online:
 *
 *   s_j = (scale q_i)·k_j over allowed j, lse = m + log sum exp(s_j - m),
 *   out_i = sum p_j v_j with p_j = exp(s_j - lse);
 *   backward: delta_i = dout_i·out_i, ds_j = p_j (dout_i·v_j - delta_i),
 *   dq_i = scale sum ds_j k_j, dk_j += ds_j (scale q_i), dv_j += p_j dout_i.
 *
 * Heads run in parallel (OpenMP); within a head everything is serial. */
#include <math.h>
#include <string.h>

#include "cpu_int.h"

static int allowed(const float *mask, const int64_t *ms, int64_t b, int64_t h, int64_t i, int64_t j, int causal,
                   int64_t Tq, int64_t Tk)
{
    if (causal && j > i + (Tk - Tq)) return 0;
    return !mask || mask[b * ms[0] + h * ms[1] + i * ms[2] + j * ms[3]] != 0.0f;
}

static float dot_scaled(const float *q, const float *k, int64_t D, float scale)
{
    float s = 0.0f;
    for (int64_t d = 0; d < D; d++) s += (q[d] * scale) * k[d];
    return s;
}

static void cpu_attention(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, float scale, const float *q,
                          const float *k, const float *v, const float *mask, const int64_t *ms, int causal,
                          float *out, float *lse)
{
#pragma omp parallel for schedule(static) if (B * H > 1)
    for (int64_t bh = 0; bh < B * H; bh++) {
        int64_t b = bh / H, h = bh % H;
        const float *kb = k + bh * Tk * D, *vb = v + bh * Tk * D;
        for (int64_t i = 0; i < Tq; i++) {
            const float *qi = q + (bh * Tq + i) * D;
            float *oi = out + (bh * Tq + i) * D;
            float m = -INFINITY;
            int any = 0;
            for (int64_t j = 0; j < Tk; j++) {
                if (!allowed(mask, ms, b, h, i, j, causal, Tq, Tk)) continue;
                float s = dot_scaled(qi, kb + j * D, D, scale);
                m = any ? fmaxf(m, s) : s;
                any = 1;
            }
            memset(oi, 0, (size_t)D * sizeof *oi);
            if (!any) {
                lse[bh * Tq + i] = INFINITY;
                continue;
            }
            float l = 0.0f;
            for (int64_t j = 0; j < Tk; j++)
                if (allowed(mask, ms, b, h, i, j, causal, Tq, Tk)) l += expf(dot_scaled(qi, kb + j * D, D, scale) - m);
            float L = m + logf(l);
            lse[bh * Tq + i] = L;
            for (int64_t j = 0; j < Tk; j++) {
                if (!allowed(mask, ms, b, h, i, j, causal, Tq, Tk)) continue;
                float p = expf(dot_scaled(qi, kb + j * D, D, scale) - L);
                for (int64_t d = 0; d < D; d++) oi[d] += p * vb[j * D + d];
            }
        }
    }
}

static void cpu_attention_backward(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, float scale,
                                   const float *q, const float *k, const float *v, const float *mask,
                                   const int64_t *ms, int causal, const float *out, const float *lse,
                                   const float *dout, float *dq, float *dk, float *dv)
{
#pragma omp parallel for schedule(static) if (B * H > 1)
    for (int64_t bh = 0; bh < B * H; bh++) {
        int64_t b = bh / H, h = bh % H;
        const float *kb = k + bh * Tk * D, *vb = v + bh * Tk * D;
        if (dq) memset(dq + bh * Tq * D, 0, (size_t)(Tq * D) * sizeof *dq);
        if (dk) memset(dk + bh * Tk * D, 0, (size_t)(Tk * D) * sizeof *dk);
        if (dv) memset(dv + bh * Tk * D, 0, (size_t)(Tk * D) * sizeof *dv);
        for (int64_t i = 0; i < Tq; i++) {
            int64_t row = bh * Tq + i;
            float L = lse[row];
            if (isinf(L)) continue; /* sees no key: no gradient */
            const float *qi = q + row * D, *gi = dout + row * D, *oi = out + row * D;
            float delta = 0.0f;
            for (int64_t d = 0; d < D; d++) delta += gi[d] * oi[d];
            for (int64_t j = 0; j < Tk; j++) {
                if (!allowed(mask, ms, b, h, i, j, causal, Tq, Tk)) continue;
                float p = expf(dot_scaled(qi, kb + j * D, D, scale) - L);
                float dp = 0.0f;
                for (int64_t d = 0; d < D; d++) dp += gi[d] * vb[j * D + d];
                float ds = p * (dp - delta);
                for (int64_t d = 0; d < D; d++) {
                    if (dq) dq[row * D + d] += ds * kb[j * D + d];
                    if (dk) dk[(bh * Tk + j) * D + d] += ds * (qi[d] * scale);
                    if (dv) dv[(bh * Tk + j) * D + d] += p * gi[d];
                }
            }
            if (dq)
                for (int64_t d = 0; d < D; d++) dq[row * D + d] *= scale;
        }
    }
}

void lab_cpu_install_attention(lab_backend *be)
{
    be->attention = cpu_attention;
    be->attention_backward = cpu_attention_backward;
}
