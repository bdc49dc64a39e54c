/* CUDA fused attention for small heads (D <= LAB_ATTN_MAX_D = 128), the
 * PAL plugin's case: semantics in framework/core/backend.h, the same
 * algorithm as the cpu reference loops in kernels/cpu/cpu_attention.c.
 *
 * A warp per query row: lane l holds elements l, l+32, l+64, l+96 of the
 * row, a score is a warp-shuffle sum, and the softmax is online (running
 * max and sum, FlashAttention's rescaling), so neither S nor P is stored;
 * the per-row log-sum-exp is. Masked keys are skipped; with `causal` the
 * loop stops at the last visible key. All lanes of a warp handle the same
 * (i, j), so the mask test never diverges.
 *
 * Backward recomputes p_ij = exp(s_ij - lse_i):
 *   k_attn_bwd_q   a warp per query: delta_i = dout_i·out_i (kept for the
 *                  next kernel), dq_i = scale sum_j p_ij (dout_i·v_j - delta_i) k_j;
 *   k_attn_bwd_kv  a warp per key: dk_j = sum_i ds_ij (scale q_i),
 *                  dv_j = sum_i p_ij dout_i,
 * each output written by one warp: no atomics, deterministic. The kv pass
 * re-reads q and dout rows (O(Tq Tk D) reads through the cache), which is
 * what small heads and short sequences can afford.
 *
 * Tested by tests/parity/test_parity_attention.c (no mask, causal with
 * Tq != Tk, broadcast masks, a query that sees nothing, D = 1 .. 128,
 * forward and backward) against the cpu's composed attention, on a GPU.
 */
#include <math.h>
#include <stdint.h>

#include "cuda_int.h"

#define PER (LAB_ATTN_MAX_D / 32)

typedef struct {
    int64_t s[4];
} mask_st;

__device__ __forceinline__ bool at_allowed(const float *mask, const mask_st &ms, int64_t b, int64_t h, int64_t i,
                                           int64_t j)
{
    return !mask || mask[b * ms.s[0] + h * ms.s[1] + i * ms.s[2] + j * ms.s[3]] != 0.0f;
}

/* Keys 0 .. end-1 may be visible to query i. */
__device__ __forceinline__ int64_t at_end(int causal, int64_t i, int64_t Tq, int64_t Tk)
{
    if (!causal) return Tk;
    int64_t e = i + (Tk - Tq) + 1;
    return e < 0 ? 0 : (e > Tk ? Tk : e);
}

/* a·row over the warp: a is lane-held (slot t = element lane + 32 t), row
 * a full row in memory. */
__device__ __forceinline__ float at_dot(const float *a, const float *row, int64_t D, int lane)
{
    float s = 0.0f;
#pragma unroll
    for (int t = 0; t < PER; t++) {
        int64_t d = lane + 32 * t;
        if (d < D) s += a[t] * row[d];
    }
    return lab_cu_warp_sum(s);
}

/* The same when both operands are lane-held rows (element lane + 32 t in
 * slot t; unused slots hold 0). */
__device__ __forceinline__ float at_dot_regs(const float *a, const float *b)
{
    float s = 0.0f;
#pragma unroll
    for (int t = 0; t < PER; t++) s += a[t] * b[t];
    return lab_cu_warp_sum(s);
}

__device__ __forceinline__ void at_load(float *dst, const float *row, int64_t D, int lane, float mul)
{
#pragma unroll
    for (int t = 0; t < PER; t++) {
        int64_t d = lane + 32 * t;
        dst[t] = d < D ? row[d] * mul : 0.0f;
    }
}

#define WARP_LOOP(w, n)                                                                            \
    for (int64_t w = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5; w < (n);             \
         w += ((int64_t)gridDim.x * blockDim.x) >> 5)

__global__ void k_attn_fwd(int64_t BH, int64_t H, int64_t Tq, int64_t Tk, int64_t D, float scale, const float *q,
                           const float *k, const float *v, const float *mask, mask_st ms, int causal, float *out,
                           float *lse)
{
    const int lane = threadIdx.x & 31;
    WARP_LOOP(row, BH * Tq)
    {
        int64_t bh = row / Tq, i = row - bh * Tq, b = bh / H, h = bh - b * H;
        const float *kb = k + bh * Tk * D, *vb = v + bh * Tk * D;
        float qs[PER], acc[PER];
        at_load(qs, q + row * D, D, lane, scale);
#pragma unroll
        for (int t = 0; t < PER; t++) acc[t] = 0.0f;
        float m = -INFINITY, l = 0.0f;
        int any = 0;
        int64_t end = at_end(causal, i, Tq, Tk);
        for (int64_t j = 0; j < end; j++) {
            if (!at_allowed(mask, ms, b, h, i, j)) continue;
            float s = at_dot(qs, kb + j * D, D, lane);
            float mn = any ? fmaxf(m, s) : s;
            float c = any ? expf(m - mn) : 0.0f, p = expf(s - mn);
            l = l * c + p;
#pragma unroll
            for (int t = 0; t < PER; t++) {
                int64_t d = lane + 32 * t;
                acc[t] = acc[t] * c + (d < D ? p * vb[j * D + d] : 0.0f);
            }
            m = mn;
            any = 1;
        }
#pragma unroll
        for (int t = 0; t < PER; t++) {
            int64_t d = lane + 32 * t;
            if (d < D) out[row * D + d] = any ? acc[t] / l : 0.0f;
        }
        if (lane == 0) lse[row] = any ? m + logf(l) : INFINITY;
    }
}

__global__ void k_attn_bwd_q(int64_t BH, int64_t H, int64_t Tq, int64_t Tk, int64_t D, float scale, const float *q,
                             const float *k, const float *v, const float *mask, mask_st ms, int causal,
                             const float *out, const float *lse, const float *dout, float *dq, float *delta)
{
    const int lane = threadIdx.x & 31;
    WARP_LOOP(row, BH * Tq)
    {
        int64_t bh = row / Tq, i = row - bh * Tq, b = bh / H, h = bh - b * H;
        float L = lse[row];
        if (isinf(L)) { /* sees no key: no gradient */
            if (lane == 0) delta[row] = 0.0f;
            if (dq)
                for (int64_t d = lane; d < D; d += 32) dq[row * D + d] = 0.0f;
            continue;
        }
        float g[PER], o[PER];
        at_load(g, dout + row * D, D, lane, 1.0f);
        at_load(o, out + row * D, D, lane, 1.0f);
        float dl = 0.0f;
#pragma unroll
        for (int t = 0; t < PER; t++) dl += g[t] * o[t];
        dl = lab_cu_warp_sum(dl);
        if (lane == 0) delta[row] = dl;
        if (!dq) continue;
        const float *kb = k + bh * Tk * D, *vb = v + bh * Tk * D;
        float qs[PER], acc[PER];
        at_load(qs, q + row * D, D, lane, scale);
#pragma unroll
        for (int t = 0; t < PER; t++) acc[t] = 0.0f;
        int64_t end = at_end(causal, i, Tq, Tk);
        for (int64_t j = 0; j < end; j++) {
            if (!at_allowed(mask, ms, b, h, i, j)) continue;
            float p = expf(at_dot(qs, kb + j * D, D, lane) - L);
            float ds = p * (at_dot(g, vb + j * D, D, lane) - dl);
#pragma unroll
            for (int t = 0; t < PER; t++) {
                int64_t d = lane + 32 * t;
                if (d < D) acc[t] += ds * kb[j * D + d];
            }
        }
#pragma unroll
        for (int t = 0; t < PER; t++) {
            int64_t d = lane + 32 * t;
            if (d < D) dq[row * D + d] = acc[t] * scale;
        }
    }
}

__global__ void k_attn_bwd_kv(int64_t BH, int64_t H, int64_t Tq, int64_t Tk, int64_t D, float scale, const float *q,
                              const float *k, const float *v, const float *mask, mask_st ms, int causal,
                              const float *lse, const float *dout, const float *delta, float *dk, float *dv)
{
    const int lane = threadIdx.x & 31;
    WARP_LOOP(krow, BH * Tk)
    {
        int64_t bh = krow / Tk, j = krow - bh * Tk, b = bh / H, h = bh - b * H;
        float kj[PER], vj[PER], ak[PER], av[PER];
        at_load(kj, k + krow * D, D, lane, 1.0f);
        at_load(vj, v + krow * D, D, lane, 1.0f);
#pragma unroll
        for (int t = 0; t < PER; t++) ak[t] = av[t] = 0.0f;
        /* Causal: query i sees key j when j <= i + Tk - Tq. */
        int64_t i0 = causal ? j - (Tk - Tq) : 0;
        if (i0 < 0) i0 = 0;
        for (int64_t i = i0; i < Tq; i++) {
            int64_t row = bh * Tq + i;
            float L = lse[row];
            if (isinf(L) || !at_allowed(mask, ms, b, h, i, j)) continue;
            float qs[PER], g[PER];
            at_load(qs, q + row * D, D, lane, scale);
            at_load(g, dout + row * D, D, lane, 1.0f);
            float p = expf(at_dot_regs(qs, kj) - L);
            float ds = p * (at_dot_regs(g, vj) - delta[row]);
#pragma unroll
            for (int t = 0; t < PER; t++) {
                ak[t] += ds * qs[t];
                av[t] += p * g[t];
            }
        }
#pragma unroll
        for (int t = 0; t < PER; t++) {
            int64_t d = lane + 32 * t;
            if (d < D && dk) dk[krow * D + d] = ak[t];
            if (d < D && dv) dv[krow * D + d] = av[t];
        }
    }
}

static unsigned warp_blocks(const lab_cu_dev *d, int64_t warps)
{
    return lab_cu_blocks(d, warps * 32, LAB_CU_THREADS);
}

static mask_st st_of(const int64_t *ms)
{
    mask_st m;
    for (int i = 0; i < 4; i++) m.s[i] = ms ? ms[i] : 0;
    return m;
}

static void cu_attention(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, float scale, const float *q,
                         const float *k, const float *v, const float *mask, const int64_t *ms, int causal, float *out,
                         float *lse)
{
    int64_t rows = B * H * Tq;
    if (rows <= 0 || D <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(out);
    if (D > LAB_ATTN_MAX_D) {
        lab_cu_fail("cuda: attention: head size %lld is above %d", (long long)D, LAB_ATTN_MAX_D);
        return;
    }
    k_attn_fwd<<<warp_blocks(d, rows), LAB_CU_THREADS, 0, d->stream>>>(B * H, H, Tq, Tk, D, scale, q, k, v, mask,
                                                                       st_of(ms), causal, out, lse);
    LAB_CU_CHECK(d, "attention");
}

static void cu_attention_backward(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, float scale,
                                  const float *q, const float *k, const float *v, const float *mask,
                                  const int64_t *ms, int causal, const float *out, const float *lse,
                                  const float *dout, float *dq, float *dk, float *dv)
{
    int64_t BH = B * H;
    if (BH <= 0 || D <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(dout);
    if (D > LAB_ATTN_MAX_D) {
        lab_cu_fail("cuda: attention backward: head size %lld is above %d", (long long)D, LAB_ATTN_MAX_D);
        return;
    }
    mask_st m = st_of(ms);
    float *delta = NULL;
    if (Tq > 0) {
        delta = (float *)lab_cu_tmp_alloc(d, (size_t)(BH * Tq) * sizeof(float));
        if (!delta) return;
        k_attn_bwd_q<<<warp_blocks(d, BH * Tq), LAB_CU_THREADS, 0, d->stream>>>(BH, H, Tq, Tk, D, scale, q, k, v, mask,
                                                                                m, causal, out, lse, dout, dq, delta);
        LAB_CU_CHECK(d, "attention backward (dq)");
    }
    if ((dk || dv) && Tk > 0) {
        k_attn_bwd_kv<<<warp_blocks(d, BH * Tk), LAB_CU_THREADS, 0, d->stream>>>(BH, H, Tq, Tk, D, scale, q, k, v, mask,
                                                                                 m, causal, lse, dout, delta, dk, dv);
        LAB_CU_CHECK(d, "attention backward (dk, dv)");
    }
    if (delta) lab_cu_tmp_free(d, delta, (size_t)(BH * Tq) * sizeof(float));
}

void lab_cu_install_attention(lab_backend *be)
{
    be->attention = cu_attention;
    be->attention_backward = cu_attention_backward;
}
