/* Reference layernorm and batchnorm (see ref_nn.h): the textbook formulas in
 * double precision, one element at a time. The yardstick for cpu_norm.c in
 * tests/unit/test_norm.c. */
#include <math.h>

#include "ref_nn.h"

void lab_ref_layernorm(int64_t rows, int64_t cols, float *y, float *mean, float *rstd,
                       const float *x, const float *g, const float *b, float eps)
{
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols;
        double mu = 0, v = 0;
        for (int64_t j = 0; j < cols; j++) mu += xr[j];
        mu /= (double)cols;
        for (int64_t j = 0; j < cols; j++) v += (xr[j] - mu) * (xr[j] - mu);
        v /= (double)cols;
        double rs = 1.0 / sqrt(v + eps);
        if (mean) mean[r] = (float)mu;
        if (rstd) rstd[r] = (float)rs;
        for (int64_t j = 0; j < cols; j++)
            y[r * cols + j] = (float)((xr[j] - mu) * rs * (g ? g[j] : 1.0) + (b ? b[j] : 0.0));
    }
}

void lab_ref_layernorm_backward(int64_t rows, int64_t cols, float *gx, float *gg, float *gb,
                                const float *gy, const float *x, const float *mean,
                                const float *rstd, const float *g)
{
    for (int64_t j = 0; j < cols; j++) {
        if (gg) gg[j] = 0;
        if (gb) gb[j] = 0;
    }
    for (int64_t r = 0; r < rows; r++) {
        const float *xr = x + r * cols, *gr = gy + r * cols;
        double s1 = 0, s2 = 0;
        for (int64_t j = 0; j < cols; j++) {
            double xhat = (xr[j] - (double)mean[r]) * rstd[r];
            double d = gr[j] * (g ? g[j] : 1.0);
            s1 += d;
            s2 += d * xhat;
            if (gg) gg[j] += (float)(gr[j] * xhat);
            if (gb) gb[j] += gr[j];
        }
        if (!gx) continue;
        for (int64_t j = 0; j < cols; j++) {
            double xhat = (xr[j] - (double)mean[r]) * rstd[r];
            double d = gr[j] * (g ? g[j] : 1.0);
            gx[r * cols + j] = (float)(rstd[r] * (d - s1 / cols - xhat * s2 / cols));
        }
    }
}

void lab_ref_batchnorm_stats(int64_t N, int64_t C, int64_t S, float *mean, float *var,
                             float *running_mean, float *running_var, float momentum,
                             const float *x)
{
    int64_t M = N * S;
    for (int64_t c = 0; c < C; c++) {
        double mu = 0, v = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) mu += x[(n * C + c) * S + i];
        mu = M ? mu / (double)M : 0.0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                double d = x[(n * C + c) * S + i] - mu;
                v += d * d;
            }
        mean[c] = (float)mu;
        var[c] = (float)(M ? v / (double)M : 0.0);
        if (running_mean) running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * mu);
        if (running_var) {
            double unbiased = M > 1 ? v / (double)(M - 1) : var[c];
            running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
        }
    }
}

void lab_ref_batchnorm(int64_t N, int64_t C, int64_t S, float *y, const float *x,
                       const float *mean, const float *var, const float *g, const float *b,
                       float eps)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            double rs = 1.0 / sqrt((double)var[c] + eps);
            for (int64_t i = 0; i < S; i++) {
                int64_t p = (n * C + c) * S + i;
                y[p] = (float)((x[p] - (double)mean[c]) * rs * (g ? g[c] : 1.0) + (b ? b[c] : 0.0));
            }
        }
}

void lab_ref_batchnorm_backward(int64_t N, int64_t C, int64_t S, int batch_stats, float *gx,
                                float *gg, float *gb, const float *gy, const float *x,
                                const float *mean, const float *var, const float *g, float eps)
{
    int64_t M = N * S;
    for (int64_t c = 0; c < C; c++) {
        double rs = 1.0 / sqrt((double)var[c] + eps), sg = 0, sx = 0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                int64_t p = (n * C + c) * S + i;
                sg += gy[p];
                sx += gy[p] * (x[p] - (double)mean[c]) * rs;
            }
        if (gg) gg[c] = (float)sx;
        if (gb) gb[c] = (float)sg;
        if (!gx) continue;
        double w = g ? g[c] : 1.0;
        for (int64_t n = 0; n < N; n++)
            for (int64_t i = 0; i < S; i++) {
                int64_t p = (n * C + c) * S + i;
                double xhat = (x[p] - (double)mean[c]) * rs;
                double d = batch_stats && M ? gy[p] - sg / M - xhat * sx / M : gy[p];
                gx[p] = (float)(w * rs * d);
            }
    }
}
