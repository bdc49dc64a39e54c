/* CPU layernorm and batchnorm, forward and backward (semantics in backend.h).
 *
 * layernorm: one row per iteration, rows spread over threads; two passes per
 *   row (mean, then the variance of x - mean) for accuracy. gamma/beta
 *   gradients are column sums over rows: each thread sums its rows into a
 *   private buffer, and the buffers are added at the end.
 * batchnorm on x viewed as [N, C, S]: statistics are two passes per channel
 *   (mean, then sum of squared deviations), summed in float along a
 *   contiguous run of S values and in double across runs. With S > 1 the
 *   channels are spread over threads; with S == 1 ([N, C] input) the columns
 *   are split into blocks so the inner loop stays contiguous. The forward
 *   folds (mean, var, gamma, beta) into one scale and shift per channel.
 *
 * Tested in tests/unit/test_norm.c against ref_norm.c (random shapes, rows of
 * length 1, S = 1 and S > 1, NULL gamma/beta, running-stat updates) and by
 * finite-difference gradchecks of lab_layernorm and lab_batchnorm.
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_int.h"

static inline int par_ok(int64_t work) { return work >= LAB_CPU_PAR_MIN && !omp_in_parallel(); }

/* --- layernorm ---------------------------------------------------------------- */

static void cpu_layernorm(int64_t rows, int64_t cols, float *y, float *mean, float *rstd,
                          const float *x, const float *g, const float *b, float eps)
{
#pragma omp parallel for schedule(static) if (par_ok(rows * cols))
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        float *yr = y + r * cols;
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < cols; j++) s += xr[j];
        float mu = s / (float)cols;
        float v = 0.0f;
#pragma omp simd reduction(+ : v)
        for (int64_t j = 0; j < cols; j++) v += (xr[j] - mu) * (xr[j] - mu);
        float rs = 1.0f / sqrtf(v / (float)cols + eps);
        if (mean) mean[r] = mu;
        if (rstd) rstd[r] = rs;
        if (g && b) {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mu) * rs * g[j] + b[j];
        } else if (g) {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mu) * rs * g[j];
        } else if (b) {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mu) * rs + b[j];
        } else {
#pragma omp simd
            for (int64_t j = 0; j < cols; j++) yr[j] = (xr[j] - mu) * rs;
        }
    }
}

static void cpu_layernorm_backward(int64_t rows, int64_t cols, float *gx, float *gg, float *gb,
                                   const float *gy, const float *x, const float *mean,
                                   const float *rstd, const float *g)
{
    if (gg) memset(gg, 0, (size_t)cols * sizeof *gg);
    if (gb) memset(gb, 0, (size_t)cols * sizeof *gb);
    int par = par_ok(rows * cols) && rows > 1;
#pragma omp parallel if (par)
    {
        /* Private column sums; NULL (fall back to a shared critical add per
         * row) only if the small allocation fails. */
        float *pg = gg ? calloc((size_t)cols, sizeof *pg) : NULL;
        float *pb = gb ? calloc((size_t)cols, sizeof *pb) : NULL;
        int priv = (!gg || pg) && (!gb || pb);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; r++) {
            const float *xr = x + r * cols, *gr = gy + r * cols;
            float mu = mean[r], rs = rstd[r];
            if (gx) {
                /* dxhat = gy * g; gx = rs * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
                float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s1, s2)
                for (int64_t j = 0; j < cols; j++) {
                    float d = g ? gr[j] * g[j] : gr[j];
                    s1 += d;
                    s2 += d * (xr[j] - mu) * rs;
                }
                s1 /= (float)cols;
                s2 /= (float)cols;
                float *o = gx + r * cols;
#pragma omp simd
                for (int64_t j = 0; j < cols; j++) {
                    float d = g ? gr[j] * g[j] : gr[j];
                    o[j] = rs * (d - s1 - (xr[j] - mu) * rs * s2);
                }
            }
            if (priv) {
                if (pg)
#pragma omp simd
                    for (int64_t j = 0; j < cols; j++) pg[j] += gr[j] * (xr[j] - mu) * rs;
                if (pb)
#pragma omp simd
                    for (int64_t j = 0; j < cols; j++) pb[j] += gr[j];
            } else {
#pragma omp critical(lab_layernorm_bwd)
                {
                    if (gg)
                        for (int64_t j = 0; j < cols; j++) gg[j] += gr[j] * (xr[j] - mu) * rs;
                    if (gb)
                        for (int64_t j = 0; j < cols; j++) gb[j] += gr[j];
                }
            }
        }
        if (priv && (pg || pb)) {
#pragma omp critical(lab_layernorm_bwd)
            {
                if (pg)
                    for (int64_t j = 0; j < cols; j++) gg[j] += pg[j];
                if (pb)
                    for (int64_t j = 0; j < cols; j++) gb[j] += pb[j];
            }
        }
        free(pg);
        free(pb);
    }
}

/* --- batchnorm ----------------------------------------------------------------- */

/* Column blocks for the S == 1 layout: wide enough for whole cache lines. */
#define BN_COLS 64

static void bn_update_running(int64_t C, int64_t M, const float *mean, const float *var,
                              float *running_mean, float *running_var, float momentum)
{
    double unbias = M > 1 ? (double)M / (double)(M - 1) : 1.0;
    for (int64_t c = 0; c < C; c++) {
        if (running_mean) running_mean[c] = (1.0f - momentum) * running_mean[c] + momentum * mean[c];
        if (running_var)
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * (var[c] * unbias));
    }
}

static void cpu_batchnorm_stats(int64_t N, int64_t C, int64_t S, float *mean, float *var,
                                float *running_mean, float *running_var, float momentum,
                                const float *x)
{
    int64_t M = N * S;
    if (S > 1) {
#pragma omp parallel for schedule(static) if (C > 1 && par_ok(M * C))
        for (int64_t c = 0; c < C; c++) {
            double tot = 0;
            for (int64_t n = 0; n < N; n++) {
                const float *p = x + (n * C + c) * S;
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (int64_t i = 0; i < S; i++) s += p[i];
                tot += s;
            }
            float mu = M ? (float)(tot / (double)M) : 0.0f;
            double sq = 0;
            for (int64_t n = 0; n < N; n++) {
                const float *p = x + (n * C + c) * S;
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (int64_t i = 0; i < S; i++) s += (p[i] - mu) * (p[i] - mu);
                sq += s;
            }
            mean[c] = mu;
            var[c] = M ? (float)(sq / (double)M) : 0.0f;
        }
    } else {
        int64_t nblk = (C + BN_COLS - 1) / BN_COLS;
#pragma omp parallel for schedule(static) if (nblk > 1 && par_ok(M * C))
        for (int64_t blk = 0; blk < nblk; blk++) {
            int64_t c0 = blk * BN_COLS, c1 = c0 + BN_COLS < C ? c0 + BN_COLS : C;
            double acc[BN_COLS];
            for (int64_t c = c0; c < c1; c++) acc[c - c0] = 0;
            for (int64_t n = 0; n < N; n++) {
                const float *p = x + n * C;
                for (int64_t c = c0; c < c1; c++) acc[c - c0] += p[c];
            }
            for (int64_t c = c0; c < c1; c++) mean[c] = M ? (float)(acc[c - c0] / (double)M) : 0.0f;
            for (int64_t c = c0; c < c1; c++) acc[c - c0] = 0;
            for (int64_t n = 0; n < N; n++) {
                const float *p = x + n * C;
                for (int64_t c = c0; c < c1; c++) {
                    double d = (double)p[c] - mean[c];
                    acc[c - c0] += d * d;
                }
            }
            for (int64_t c = c0; c < c1; c++) var[c] = M ? (float)(acc[c - c0] / (double)M) : 0.0f;
        }
    }
    bn_update_running(C, M, mean, var, running_mean, running_var, momentum);
}

static void cpu_batchnorm(int64_t N, int64_t C, int64_t S, float *y, const float *x,
                          const float *mean, const float *var, const float *g, const float *b,
                          float eps)
{
    /* y = x * sc + sh per channel, as PyTorch's CPU kernel computes it. */
    float *sc = malloc((size_t)(2 * C > 0 ? 2 * C : 1) * sizeof *sc);
    if (!sc) { /* 8 bytes per channel: recompute per element rather than fail */
        for (int64_t p = 0; p < N * C * S; p++) {
            int64_t c = (p / S) % C;
            float a = (g ? g[c] : 1.0f) / sqrtf(var[c] + eps);
            y[p] = x[p] * a + ((b ? b[c] : 0.0f) - mean[c] * a);
        }
        return;
    }
    float *sh = sc + C;
    for (int64_t c = 0; c < C; c++) {
        sc[c] = (g ? g[c] : 1.0f) / sqrtf(var[c] + eps);
        sh[c] = (b ? b[c] : 0.0f) - mean[c] * sc[c];
    }
    if (S > 1) {
#pragma omp parallel for schedule(static) if (par_ok(N * C * S))
        for (int64_t p = 0; p < N * C; p++) {
            int64_t c = p % C;
            float a = sc[c], t = sh[c];
            const float *xp = x + p * S;
            float *yp = y + p * S;
#pragma omp simd
            for (int64_t i = 0; i < S; i++) yp[i] = xp[i] * a + t;
        }
    } else {
#pragma omp parallel for schedule(static) if (par_ok(N * C))
        for (int64_t n = 0; n < N; n++) {
            const float *xp = x + n * C;
            float *yp = y + n * C;
#pragma omp simd
            for (int64_t c = 0; c < C; c++) yp[c] = xp[c] * sc[c] + sh[c];
        }
    }
    free(sc);
}

static void cpu_batchnorm_backward(int64_t N, int64_t C, int64_t S, int batch_stats, float *gx,
                                   float *gg, float *gb, const float *gy, const float *x,
                                   const float *mean, const float *var, const float *g, float eps)
{
    int64_t M = N * S;
    /* Per channel: sg = sum(gy), sx = sum(gy * xhat). */
    double *sums = calloc((size_t)(2 * C > 0 ? 2 * C : 1), sizeof *sums);
    if (!sums) return; /* 16 bytes per channel: cannot fail in practice */
    double *sg = sums, *sx = sums + C;
    if (S > 1) {
#pragma omp parallel for schedule(static) if (C > 1 && par_ok(M * C))
        for (int64_t c = 0; c < C; c++) {
            float mu = mean[c], rs = 1.0f / sqrtf(var[c] + eps);
            double a = 0, bsum = 0;
            for (int64_t n = 0; n < N; n++) {
                const float *xp = x + (n * C + c) * S, *gp = gy + (n * C + c) * S;
                float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s1, s2)
                for (int64_t i = 0; i < S; i++) {
                    s1 += gp[i];
                    s2 += gp[i] * (xp[i] - mu);
                }
                a += s1;
                bsum += s2;
            }
            sg[c] = a;
            sx[c] = bsum * rs;
        }
    } else {
        int64_t nblk = (C + BN_COLS - 1) / BN_COLS;
#pragma omp parallel for schedule(static) if (nblk > 1 && par_ok(M * C))
        for (int64_t blk = 0; blk < nblk; blk++) {
            int64_t c0 = blk * BN_COLS, c1 = c0 + BN_COLS < C ? c0 + BN_COLS : C;
            for (int64_t n = 0; n < N; n++) {
                const float *xp = x + n * C, *gp = gy + n * C;
                for (int64_t c = c0; c < c1; c++) {
                    sg[c] += gp[c];
                    sx[c] += (double)gp[c] * (xp[c] - mean[c]);
                }
            }
            for (int64_t c = c0; c < c1; c++) sx[c] *= 1.0 / sqrt((double)var[c] + eps);
        }
    }
    if (gg)
        for (int64_t c = 0; c < C; c++) gg[c] = (float)sx[c];
    if (gb)
        for (int64_t c = 0; c < C; c++) gb[c] = (float)sg[c];
    if (gx) {
        /* Training: gx = g*rs * (gy - sg/M - xhat * sx/M); eval: gx = g*rs*gy.
         * Written as gx = k1*gy + k2*(x - mean) + k3 per channel. */
        float *k = malloc((size_t)(3 * C > 0 ? 3 * C : 1) * sizeof *k);
        if (!k) {
            free(sums);
            return;
        }
        float *k1 = k, *k2 = k + C, *k3 = k + 2 * C;
        for (int64_t c = 0; c < C; c++) {
            double rs = 1.0 / sqrt((double)var[c] + eps);
            double gr = (g ? g[c] : 1.0) * rs;
            if (batch_stats && M > 0) {
                double ms = sg[c] / (double)M, mx = sx[c] / (double)M;
                /* xhat = (x - mean) * rs */
                k1[c] = (float)gr;
                k2[c] = (float)(-gr * mx * rs);
                k3[c] = (float)(-gr * ms);
            } else {
                k1[c] = (float)gr;
                k2[c] = 0.0f;
                k3[c] = 0.0f;
            }
        }
        if (S > 1) {
#pragma omp parallel for schedule(static) if (par_ok(M * C))
            for (int64_t p = 0; p < N * C; p++) {
                int64_t c = p % C;
                float a = k1[c], bb = k2[c], t = k3[c], mu = mean[c];
                const float *xp = x + p * S, *gp = gy + p * S;
                float *o = gx + p * S;
#pragma omp simd
                for (int64_t i = 0; i < S; i++) o[i] = a * gp[i] + bb * (xp[i] - mu) + t;
            }
        } else {
#pragma omp parallel for schedule(static) if (par_ok(M * C))
            for (int64_t n = 0; n < N; n++) {
                const float *xp = x + n * C, *gp = gy + n * C;
                float *o = gx + n * C;
#pragma omp simd
                for (int64_t c = 0; c < C; c++) o[c] = k1[c] * gp[c] + k2[c] * (xp[c] - mean[c]) + k3[c];
            }
        }
        free(k);
    }
    free(sums);
}

void lab_cpu_install_norm(lab_backend *be)
{
    be->layernorm = cpu_layernorm;
    be->layernorm_backward = cpu_layernorm_backward;
    be->batchnorm_stats = cpu_batchnorm_stats;
    be->batchnorm = cpu_batchnorm;
    be->batchnorm_backward = cpu_batchnorm_backward;
}
