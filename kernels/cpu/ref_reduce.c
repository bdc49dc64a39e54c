/* Plain C references for the reduction and softmax primitives (see
 * ref_elementwise.h): one output at a time, double accumulators, the
 * textbook max-subtracted softmax. Ground truth of tests/unit/test_reduce.c.
 * Conventions match cpu_reduce.c: NaN wins max/min, the first extreme's
 * index is reported, an empty reduction gives 0 / -inf / +inf and arg -1. */
#include <math.h>

#include "ref_elementwise.h"

void lab_ref_reduce(lab_reduce_op op, int64_t outer, int64_t n, int64_t inner, float *y, int64_t *arg,
                    const float *x)
{
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const float *col = x + o * n * inner + i;
            int64_t out = o * inner + i;
            if (op == LAB_RED_SUM) {
                double s = 0;
                for (int64_t j = 0; j < n; j++) s += col[j * inner];
                y[out] = (float)s;
                continue;
            }
            float best = op == LAB_RED_MAX ? -INFINITY : INFINITY;
            int64_t at = -1;
            for (int64_t j = 0; j < n; j++) {
                float v = col[j * inner];
                if (isnan(v)) {
                    best = v;
                    at = j;
                    break;
                }
                if (at < 0 || (op == LAB_RED_MAX ? v > best : v < best)) {
                    best = v;
                    at = j;
                }
            }
            y[out] = best;
            if (arg) arg[out] = at;
        }
    }
}

void lab_ref_softmax(int64_t outer, int64_t n, int64_t inner, float *y, const float *x, int take_log)
{
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const float *col = x + o * n * inner + i;
            float *out = y + o * n * inner + i;
            double m = -INFINITY, s = 0;
            for (int64_t j = 0; j < n; j++) m = col[j * inner] > m ? col[j * inner] : m;
            for (int64_t j = 0; j < n; j++) s += exp(col[j * inner] - m);
            for (int64_t j = 0; j < n; j++)
                out[j * inner] = (float)(take_log ? (col[j * inner] - m) - log(s) : exp(col[j * inner] - m) / s);
        }
    }
}

void lab_ref_softmax_backward(int64_t outer, int64_t n, int64_t inner, float *gx, const float *gy,
                              const float *y, int take_log)
{
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            int64_t base = o * n * inner + i;
            double s = 0;
            for (int64_t j = 0; j < n; j++) {
                int64_t k = base + j * inner;
                s += take_log ? (double)gy[k] : (double)gy[k] * y[k];
            }
            for (int64_t j = 0; j < n; j++) {
                int64_t k = base + j * inner;
                gx[k] = (float)(take_log ? gy[k] - exp((double)y[k]) * s : y[k] * (gy[k] - s));
            }
        }
    }
}
