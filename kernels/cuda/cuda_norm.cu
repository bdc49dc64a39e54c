/* CUDA layernorm and batchnorm, forward and backward (semantics in
 * framework/core/backend.h; formulas of kernels/cpu/cpu_norm.c).
 *
 * layernorm: a warp per row (cols <= 1024) or a block per row; two passes
 *   (mean, then the variance of x - mean) as on the CPU. The gamma/beta
 *   gradients are column sums over rows: 32x8 tiles write per-chunk partials
 *   of rows, and a second launch adds the partials of each column.
 * batchnorm on x viewed as [N, C, S]: per-channel sums over the N*S values
 *   run as (channel, chunk) work items, one block each, into partials that a
 *   per-channel finishing kernel adds in double. The forward folds (mean,
 *   var, gamma, beta) into one scale and shift per channel, computed with the
 *   CPU's operation order so that, given the same statistics, y is
 *   bit-identical. The backward computes the two channel sums (sum gy,
 *   sum gy (x - mean)) the same way and then gx = k1 gy + k2 (x - mean) + k3.
 *
 * Tested by tests/parity/test_parity_norm.c against the CPU (rows of length
 * 1, 37, 1024, 4000; NULL gamma/beta; batchnorm with S = 1 and S > 1, train
 * and eval, running-stat updates; gradients) on a GPU.
 */
#include <math.h>
#include <stdint.h>

#include "cuda_int.h"

/* --- layernorm ------------------------------------------------------------------- */

template <int TPR> __device__ __forceinline__ float ln_sum(float v, float *sh)
{
    return TPR == 32 ? lab_cu_warp_sum(v) : lab_cu_block_sum(v, sh);
}

template <int TPR>
__global__ void k_ln(int64_t rows, int64_t cols, float *y, float *mean, float *rstd, const float *x, const float *g,
                     const float *b, float eps)
{
    __shared__ float sh[32];
    const int per_block = blockDim.x / TPR;
    const int sub = threadIdx.x / TPR, t = threadIdx.x % TPR;
    for (int64_t base = (int64_t)blockIdx.x * per_block; base < rows; base += (int64_t)gridDim.x * per_block) {
        int64_t r = base + sub;
        bool live = r < rows;
        const float *xr = x + (live ? r : 0) * cols;
        float s = 0.0f;
        if (live)
            for (int64_t j = t; j < cols; j += TPR) s += xr[j];
        s = ln_sum<TPR>(s, sh);
        float mu = s / (float)cols;
        float v = 0.0f;
        if (live)
            for (int64_t j = t; j < cols; j += TPR) v += (xr[j] - mu) * (xr[j] - mu);
        v = ln_sum<TPR>(v, sh);
        if (!live) continue;
        float rs = 1.0f / sqrtf(v / (float)cols + eps);
        if (t == 0) {
            if (mean) mean[r] = mu;
            if (rstd) rstd[r] = rs;
        }
        float *yr = y + r * cols;
        for (int64_t j = t; j < cols; j += TPR) {
            float h = __fmul_rn(xr[j] - mu, rs);
            if (g) h = __fmul_rn(h, g[j]);
            if (b) h = __fadd_rn(h, b[j]);
            yr[j] = h;
        }
    }
}

static void cu_layernorm(int64_t rows, int64_t cols, float *y, float *mean, float *rstd, const float *x,
                         const float *g, const float *b, float eps)
{
    if (rows <= 0 || cols <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    if (cols <= 1024)
        k_ln<32><<<lab_cu_blocks(d, rows, LAB_CU_THREADS / 32), LAB_CU_THREADS, 0, d->stream>>>(rows, cols, y, mean,
                                                                                                rstd, x, g, b, eps);
    else
        k_ln<LAB_CU_THREADS><<<lab_cu_blocks(d, rows, 1), LAB_CU_THREADS, 0, d->stream>>>(rows, cols, y, mean, rstd, x,
                                                                                           g, b, eps);
    LAB_CU_CHECK(d, "layernorm");
}

/* gx = rs * (d - mean(d) - xhat * mean(d * xhat)), d = gy * g. */
template <int TPR>
__global__ void k_ln_bw(int64_t rows, int64_t cols, float *gx, const float *gy, const float *x, const float *mean,
                        const float *rstd, const float *g)
{
    __shared__ float sh[32];
    const int per_block = blockDim.x / TPR;
    const int sub = threadIdx.x / TPR, t = threadIdx.x % TPR;
    for (int64_t base = (int64_t)blockIdx.x * per_block; base < rows; base += (int64_t)gridDim.x * per_block) {
        int64_t r = base + sub;
        bool live = r < rows;
        int64_t off = (live ? r : 0) * cols;
        float mu = live ? mean[r] : 0.0f, rs = live ? rstd[r] : 0.0f;
        float s1 = 0.0f, s2 = 0.0f;
        if (live)
            for (int64_t j = t; j < cols; j += TPR) {
                float dj = g ? gy[off + j] * g[j] : gy[off + j];
                s1 += dj;
                s2 += dj * (x[off + j] - mu) * rs;
            }
        s1 = ln_sum<TPR>(s1, sh);
        s2 = ln_sum<TPR>(s2, sh);
        if (!live) continue;
        s1 /= (float)cols;
        s2 /= (float)cols;
        for (int64_t j = t; j < cols; j += TPR) {
            float dj = g ? gy[off + j] * g[j] : gy[off + j];
            gx[off + j] = rs * (dj - s1 - (x[off + j] - mu) * rs * s2);
        }
    }
}

/* gg[c] = sum_r gy[r,c] xhat[r,c], gb[c] = sum_r gy[r,c] over rows
 * [ch*clen, ...): tiles of 32 columns x 8 row lanes; out at [ch, cols]. */
__global__ void k_ln_cols(int64_t rows, int64_t cols, int64_t clen, float *pg, float *pb, const float *gy,
                          const float *x, const float *mean, const float *rstd)
{
    __shared__ float sg[8][33], sb[8][33];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t ch = blockIdx.y, r0 = ch * clen, r1 = r0 + clen < rows ? r0 + clen : rows;
    const int64_t tiles = (cols + 31) / 32;
    for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        int64_t c = tile * 32 + tx;
        float ag = 0.0f, ab = 0.0f;
        if (c < cols)
            for (int64_t r = r0 + ty; r < r1; r += 8) {
                float gv = gy[r * cols + c];
                ag += gv * (x[r * cols + c] - mean[r]) * rstd[r];
                ab += gv;
            }
        sg[ty][tx] = ag;
        sb[ty][tx] = ab;
        __syncthreads();
        if (ty == 0 && c < cols) {
            for (int k = 1; k < 8; k++) ag += sg[k][tx], ab += sb[k][tx];
            if (pg) pg[ch * cols + c] = ag;
            if (pb) pb[ch * cols + c] = ab;
        }
        __syncthreads();
    }
}

/* out[c] = sum over chunks of part[ch, c] (in order). */
__global__ void k_sum_chunks(int64_t chunks, int64_t cols, float *out, const float *part)
{
    LAB_CU_LOOP(c, cols)
    {
        float s = 0.0f;
        for (int64_t k = 0; k < chunks; k++) s += part[k * cols + c];
        out[c] = s;
    }
}

static void cu_layernorm_backward(int64_t rows, int64_t cols, float *gx, float *gg, float *gb, const float *gy,
                                  const float *x, const float *mean, const float *rstd, const float *g)
{
    if (cols <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(gx ? gx : gg ? (void *)gg : (void *)gb);
    cudaStream_t s = d->stream;
    if (rows <= 0) { /* no rows: the parameter gradients are zero */
        if (gg) cudaMemsetAsync(gg, 0, (size_t)cols * 4, s);
        if (gb) cudaMemsetAsync(gb, 0, (size_t)cols * 4, s);
        LAB_CU_CHECK(d, "layernorm_backward");
        return;
    }
    if (gx) {
        if (cols <= 1024)
            k_ln_bw<32><<<lab_cu_blocks(d, rows, LAB_CU_THREADS / 32), LAB_CU_THREADS, 0, s>>>(rows, cols, gx, gy, x,
                                                                                               mean, rstd, g);
        else
            k_ln_bw<LAB_CU_THREADS><<<lab_cu_blocks(d, rows, 1), LAB_CU_THREADS, 0, s>>>(rows, cols, gx, gy, x, mean,
                                                                                          rstd, g);
    }
    if (gg || gb) {
        int64_t tiles = (cols + 31) / 32, want = (int64_t)(d->sms > 0 ? d->sms : 16) * 8;
        int64_t chunks = 1, clen = rows;
        if (tiles < want && rows > 256) {
            chunks = (want + tiles - 1) / tiles;
            int64_t most = (rows + 127) / 128;
            if (chunks > most) chunks = most;
            if (chunks > 65535) chunks = 65535;
            clen = (rows + chunks - 1) / chunks;
            chunks = (rows + clen - 1) / clen;
        }
        dim3 block(32, 8, 1), grid(lab_cu_blocks(d, tiles, 1), (unsigned)chunks, 1);
        if (chunks == 1) {
            k_ln_cols<<<grid, block, 0, s>>>(rows, cols, clen, gg, gb, gy, x, mean, rstd);
        } else {
            size_t part = (size_t)(chunks * cols) * sizeof(float);
            float *tmp = (float *)lab_cu_tmp_alloc(d, 2 * part);
            if (!tmp) return;
            float *pg = gg ? tmp : NULL, *pb = gb ? tmp + chunks * cols : NULL;
            k_ln_cols<<<grid, block, 0, s>>>(rows, cols, clen, pg, pb, gy, x, mean, rstd);
            unsigned nb = lab_cu_blocks(d, cols, LAB_CU_THREADS);
            if (gg) k_sum_chunks<<<nb, LAB_CU_THREADS, 0, s>>>(chunks, cols, gg, pg);
            if (gb) k_sum_chunks<<<nb, LAB_CU_THREADS, 0, s>>>(chunks, cols, gb, pb);
            lab_cu_tmp_free(d, tmp, 2 * part);
        }
    }
    LAB_CU_CHECK(d, "layernorm_backward");
}

/* --- batchnorm ------------------------------------------------------------------- */

/* Work item (c, ch) sums over values k in [ch*clen, ...) of channel c, where
 * value k is x[(n*C + c)*S + i] with n = k / S, i = k % S. MODE 0: sum x;
 * 1: sum (x - mean[c])^2; 2: sum gy and sum gy (x - mean[c]). Partials at
 * [ch, c] in p0 (and p1 for mode 2). */
template <int MODE>
__global__ void k_bn_sums(int64_t N, int64_t C, int64_t S, int64_t chunks, int64_t clen, const float *x, const float *gy,
                          const float *mean, float *p0, float *p1)
{
    __shared__ float sh[32];
    const int64_t M = N * S, items = C * chunks;
    for (int64_t w = blockIdx.x; w < items; w += gridDim.x) {
        int64_t c = w % C, ch = w / C;
        int64_t k0 = ch * clen, k1 = k0 + clen < M ? k0 + clen : M;
        float mu = MODE ? mean[c] : 0.0f;
        float a = 0.0f, b = 0.0f;
        for (int64_t k = k0 + threadIdx.x; k < k1; k += blockDim.x) {
            int64_t n = k / S, i = k - n * S;
            int64_t at = (n * C + c) * S + i;
            float v = x[at];
            if (MODE == 0) {
                a += v;
            } else if (MODE == 1) {
                a += (v - mu) * (v - mu);
            } else {
                float gv = gy[at];
                a += gv;
                b += gv * (v - mu);
            }
        }
        a = lab_cu_block_sum(a, sh);
        if (MODE == 2) b = lab_cu_block_sum(b, sh);
        if (threadIdx.x == 0) {
            p0[ch * C + c] = a;
            if (MODE == 2) p1[ch * C + c] = b;
        }
    }
}

/* Choose (chunks, clen) so that C * chunks items fill the GPU, each item at
 * least 4096 values. */
static void bn_split(const lab_cu_dev *d, int64_t C, int64_t M, int64_t *chunks, int64_t *clen)
{
    int64_t want = (int64_t)(d->sms > 0 ? d->sms : 16) * 4, ch = 1;
    if (C < want && M > 4096) {
        ch = (want + C - 1) / C;
        int64_t most = (M + 4095) / 4096;
        if (ch > most) ch = most;
    }
    int64_t len = M > 0 ? (M + ch - 1) / ch : 0;
    if (len > 0) ch = (M + len - 1) / len;
    *chunks = ch;
    *clen = len;
}

/* mean[c] = sum / M (MODE 0) or var[c] = sum / M and the running update
 * (MODE 1), partial sums added in double. */
template <int MODE>
__global__ void k_bn_finish(int64_t C, int64_t M, int64_t chunks, const float *part, float *out, float *running_mean,
                            float *running_var, const float *mean, float momentum)
{
    LAB_CU_LOOP(c, C)
    {
        double s = 0;
        for (int64_t k = 0; k < chunks; k++) s += part[k * C + c];
        float v = M ? (float)(s / (double)M) : 0.0f;
        out[c] = v;
        if (MODE == 1) {
            if (running_mean)
                running_mean[c] =
                    __fadd_rn(__fmul_rn(1.0f - momentum, running_mean[c]), __fmul_rn(momentum, mean[c]));
            if (running_var) {
                double unbias = M > 1 ? (double)M / (double)(M - 1) : 1.0;
                running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * ((double)v * unbias));
            }
        }
    }
}

static void cu_batchnorm_stats(int64_t N, int64_t C, int64_t S, float *mean, float *var, float *running_mean,
                               float *running_var, float momentum, const float *x)
{
    if (C <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(mean);
    cudaStream_t s = d->stream;
    int64_t M = N * S, chunks, clen;
    bn_split(d, C, M, &chunks, &clen);
    size_t bytes = (size_t)(chunks * C) * sizeof(float);
    float *part = (float *)lab_cu_tmp_alloc(d, bytes);
    if (!part) return;
    unsigned nb = lab_cu_blocks(d, C * chunks, 1), nc = lab_cu_blocks(d, C, LAB_CU_THREADS);
    k_bn_sums<0><<<nb, LAB_CU_THREADS, 0, s>>>(N, C, S, chunks, clen, x, NULL, NULL, part, NULL);
    k_bn_finish<0><<<nc, LAB_CU_THREADS, 0, s>>>(C, M, chunks, part, mean, NULL, NULL, NULL, momentum);
    k_bn_sums<1><<<nb, LAB_CU_THREADS, 0, s>>>(N, C, S, chunks, clen, x, NULL, mean, part, NULL);
    k_bn_finish<1><<<nc, LAB_CU_THREADS, 0, s>>>(C, M, chunks, part, var, running_mean, running_var, mean, momentum);
    lab_cu_tmp_free(d, part, bytes);
    LAB_CU_CHECK(d, "batchnorm_stats");
}

/* Per-channel affine maps over rows: with S > 1 a row is one (n, c) run of
 * S values; with S == 1 a row is one sample and the column is the channel.
 * Forward (gy == NULL): out = x k1[c] + k3[c]. Backward:
 * out = k1[c] gy + k2[c] (x - mean[c]) + k3[c]. The CPU's operation order,
 * without fused multiply-adds. */
__global__ void k_bn_apply(int64_t rows, int64_t cols, int64_t C, int per_col, float *out, const float *x,
                           const float *gy, const float *k1, const float *k2, const float *k3, const float *mean)
{
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y)
        for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < cols; j += (int64_t)blockDim.x * gridDim.x) {
            int64_t c = per_col ? j : r % C, at = r * cols + j;
            if (!gy)
                out[at] = __fadd_rn(__fmul_rn(x[at], k1[c]), k3[c]);
            else
                out[at] = __fadd_rn(__fadd_rn(__fmul_rn(k1[c], gy[at]), __fmul_rn(k2[c], x[at] - mean[c])), k3[c]);
        }
}

__global__ void k_bn_coef(int64_t C, float *sc, float *sh, const float *mean, const float *var, const float *g,
                          const float *b, float eps)
{
    LAB_CU_LOOP(c, C)
    {
        float a = (g ? g[c] : 1.0f) / sqrtf(var[c] + eps);
        sc[c] = a;
        sh[c] = __fsub_rn(b ? b[c] : 0.0f, __fmul_rn(mean[c], a));
    }
}

static dim3 bn_grid(const lab_cu_dev *d, int64_t rows, int64_t cols)
{
    int64_t bx = (cols + LAB_CU_THREADS - 1) / LAB_CU_THREADS, cap = (int64_t)(d->sms > 0 ? d->sms : 16) * 32;
    if (bx > cap) bx = cap;
    int64_t by = cap / bx;
    if (by > rows) by = rows;
    if (by > 65535) by = 65535;
    if (by < 1) by = 1;
    return dim3((unsigned)bx, (unsigned)by, 1);
}

static void cu_batchnorm(int64_t N, int64_t C, int64_t S, float *y, const float *x, const float *mean,
                         const float *var, const float *g, const float *b, float eps)
{
    if (N <= 0 || C <= 0 || S <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    cudaStream_t s = d->stream;
    size_t bytes = (size_t)(2 * C) * sizeof(float);
    float *coef = (float *)lab_cu_tmp_alloc(d, bytes);
    if (!coef) return;
    k_bn_coef<<<lab_cu_blocks(d, C, LAB_CU_THREADS), LAB_CU_THREADS, 0, s>>>(C, coef, coef + C, mean, var, g, b, eps);
    int64_t rows = S > 1 ? N * C : N, cols = S > 1 ? S : C;
    k_bn_apply<<<bn_grid(d, rows, cols), LAB_CU_THREADS, 0, s>>>(rows, cols, C, S == 1, y, x, NULL, coef, NULL,
                                                                  coef + C, mean);
    lab_cu_tmp_free(d, coef, bytes);
    LAB_CU_CHECK(d, "batchnorm");
}

/* From the channel sums: gg = sx, gb = sg and the gx coefficients (double,
 * as the CPU). */
__global__ void k_bn_bw_coef(int64_t C, int64_t M, int64_t chunks, int batch_stats, const float *psg, const float *psx,
                             const float *var, const float *g, float eps, float *gg, float *gb, float *k1, float *k2,
                             float *k3)
{
    LAB_CU_LOOP(c, C)
    {
        double sg = 0, sxr = 0;
        for (int64_t k = 0; k < chunks; k++) sg += psg[k * C + c], sxr += psx[k * C + c];
        double rs = 1.0 / sqrt((double)var[c] + eps);
        double sx = sxr * rs;
        if (gg) gg[c] = (float)sx;
        if (gb) gb[c] = (float)sg;
        if (k1) {
            double gr = (g ? g[c] : 1.0) * rs;
            k1[c] = (float)gr;
            if (batch_stats && M > 0) {
                k2[c] = (float)(-gr * (sx / (double)M) * rs);
                k3[c] = (float)(-gr * (sg / (double)M));
            } else {
                k2[c] = 0.0f;
                k3[c] = 0.0f;
            }
        }
    }
}

static void cu_batchnorm_backward(int64_t N, int64_t C, int64_t S, int batch_stats, float *gx, float *gg, float *gb,
                                  const float *gy, const float *x, const float *mean, const float *var, const float *g,
                                  float eps)
{
    if (C <= 0 || (!gx && !gg && !gb)) return;
    lab_cu_dev *d = lab_cu_dev_of(gx ? (void *)gx : gg ? (void *)gg : (void *)gb);
    cudaStream_t s = d->stream;
    int64_t M = N * S, chunks, clen;
    bn_split(d, C, M, &chunks, &clen);
    size_t pbytes = (size_t)(chunks * C) * sizeof(float), bytes = 2 * pbytes + (size_t)(3 * C) * sizeof(float);
    float *tmp = (float *)lab_cu_tmp_alloc(d, bytes);
    if (!tmp) return;
    float *psg = tmp, *psx = tmp + chunks * C, *k = tmp + 2 * chunks * C;
    k_bn_sums<2><<<lab_cu_blocks(d, C * chunks, 1), LAB_CU_THREADS, 0, s>>>(N, C, S, chunks, clen, x, gy, mean, psg,
                                                                             psx);
    k_bn_bw_coef<<<lab_cu_blocks(d, C, LAB_CU_THREADS), LAB_CU_THREADS, 0, s>>>(
        C, M, chunks, batch_stats, psg, psx, var, g, eps, gg, gb, gx ? k : NULL, k + C, k + 2 * C);
    if (gx && M > 0) {
        int64_t rows = S > 1 ? N * C : N, cols = S > 1 ? S : C;
        k_bn_apply<<<bn_grid(d, rows, cols), LAB_CU_THREADS, 0, s>>>(rows, cols, C, S == 1, gx, x, gy, k, k + C,
                                                                      k + 2 * C, mean);
    }
    lab_cu_tmp_free(d, tmp, bytes);
    LAB_CU_CHECK(d, "batchnorm_backward");
}

void lab_cu_install_norm(lab_backend *be)
{
    be->layernorm = cu_layernorm;
    be->layernorm_backward = cu_layernorm_backward;
    be->batchnorm_stats = cu_batchnorm_stats;
    be->batchnorm = cu_batchnorm;
    be->batchnorm_backward = cu_batchnorm_backward;
}
