/* CPU reductions (sum, max, min with the first arg-extreme) and softmax /
 * log-softmax with their backward, over x viewed as [outer, n, inner] (see
 * framework/core/backend.h).
 *
 * inner == 1 (reducing the last dim) walks contiguous rows with vectorised
 * accumulators; sums accumulate in double lanes (the loop is bound by
 * memory, and a long row of equal values stays exact to f32). inner > 1 walks
 * column blocks of up to COL_BLOCK entries, adding whole rows at a time so
 * the loads stay contiguous (the bias-gradient case [N, C] -> [C]). A single
 * long row (sum_all of a big tensor) is split across threads.
 *
 * Conventions: NaN wins max/min (as torch.max); an empty reduction (n == 0)
 * gives the identity (0, -inf, +inf) with arg -1. Softmax subtracts the row
 * maximum, so large inputs do not overflow; a row of all -inf gives NaN as
 * in PyTorch. Softmax outputs must not alias their inputs (y is used as
 * scratch before x is read for the last time). Reductions over rows shorter
 * than SHORT_ROW run scalar (cheaper than combining SIMD lanes).
 *
 * Tested in tests/unit/test_reduce.c against ref_reduce.c on random shapes
 * (every dim, keepdim, size-1 and empty dims) and by gradchecks. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>

#include "cpu_int.h"
#include "cpu_math.h"

#define SUM_BLOCK 4096
#define COL_BLOCK 256

/* Rows shorter than this reduce in plain scalar loops: combining the lanes
 * of an `omp simd reduction` costs ~100 cycles, more than a 10-class row. */
#define SHORT_ROW 64

static inline double vsum(int64_t n, const float *x)
{
    double s = 0;
    if (n < SHORT_ROW) {
        for (int64_t i = 0; i < n; i++) s += x[i];
        return s;
    }
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += x[i];
    return s;
}

static inline double vdot(int64_t n, const float *a, const float *b)
{
    double s = 0;
    if (n < SHORT_ROW) {
        for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
        return s;
    }
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Ignores NaN (the softmax that follows turns a NaN row into NaN anyway). */
static inline float vmax(int64_t n, const float *x)
{
    float m = -INFINITY;
    if (n < SHORT_ROW) {
        for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
        return m;
    }
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

LAB_CPU_CLONES static double row_sum(int64_t n, const float *x) { return vsum(n, x); }

/* The first extreme of x[0..n) (sign = +1: max, -1: min); NaN counts as the
 * extreme. Returns its index, -1 when n == 0. */
static int64_t row_argext(int64_t n, const float *x, int sign, float *out)
{
    if (n == 0) {
        *out = sign > 0 ? -INFINITY : INFINITY;
        return -1;
    }
    float best = x[0];
    int64_t at = 0;
    if (best != best) {
        *out = best;
        return 0;
    }
    for (int64_t i = 1; i < n; i++) {
        float v = x[i];
        if (v != v) {
            *out = v;
            return i;
        }
        if (sign > 0 ? v > best : v < best) {
            best = v;
            at = i;
        }
    }
    *out = best;
    return at;
}

/* inner > 1: reduce columns [c0, c0 + w) of one outer slice. */
LAB_CPU_CLONES static void cols_reduce(lab_reduce_op op, int64_t n, int64_t inner, int64_t w, float *y, int64_t *arg,
                        const float *x)
{
    if (op == LAB_RED_SUM) {
        float part[COL_BLOCK];
        for (int64_t c = 0; c < w; c++) y[c] = 0.0f;
        /* Rows are added into a block partial first, then into y: two levels
         * keep the rounding error near sqrt(n) steps instead of n. */
        for (int64_t j0 = 0; j0 < n; j0 += 128) {
            int64_t j1 = j0 + 128 < n ? j0 + 128 : n;
            for (int64_t c = 0; c < w; c++) part[c] = 0.0f;
            for (int64_t j = j0; j < j1; j++) {
                const float *row = x + j * inner;
#pragma omp simd
                for (int64_t c = 0; c < w; c++) part[c] += row[c];
            }
#pragma omp simd
            for (int64_t c = 0; c < w; c++) y[c] += part[c];
        }
        return;
    }
    int sign = op == LAB_RED_MAX ? 1 : -1;
    int64_t at[COL_BLOCK];
    for (int64_t c = 0; c < w; c++) {
        y[c] = sign > 0 ? -INFINITY : INFINITY;
        at[c] = n ? 0 : -1;
    }
    if (n > 0)
        for (int64_t c = 0; c < w; c++) y[c] = x[c];
    for (int64_t j = 1; j < n; j++) {
        const float *row = x + j * inner;
        for (int64_t c = 0; c < w; c++) {
            float v = row[c], b = y[c];
            if (b != b) continue; /* a NaN already won */
            if (v != v || (sign > 0 ? v > b : v < b)) {
                y[c] = v;
                at[c] = j;
            }
        }
    }
    if (arg)
        for (int64_t c = 0; c < w; c++) arg[c] = at[c];
}

static void cpu_reduce(lab_reduce_op op, int64_t outer, int64_t n, int64_t inner, float *y, int64_t *arg,
                       const float *x)
{
    int64_t total = outer * n * inner;
    if (inner == 1) {
        int sign = op == LAB_RED_MAX ? 1 : -1;
        if (outer == 1 && total > LAB_CPU_PAR_MIN && op == LAB_RED_SUM) {
            /* One long row: per-thread partial sums in double. */
            double s = 0;
            int64_t nb = (n + SUM_BLOCK - 1) / SUM_BLOCK;
#pragma omp parallel for reduction(+ : s) schedule(static)
            for (int64_t b = 0; b < nb; b++) {
                int64_t e = (b + 1) * SUM_BLOCK < n ? (b + 1) * SUM_BLOCK : n;
                s += row_sum(e - b * SUM_BLOCK, x + b * SUM_BLOCK);
            }
            y[0] = (float)s;
            return;
        }
        if (outer == 1 && total > LAB_CPU_PAR_MIN) {
            /* One long row of max/min: per-thread winners, merged in order so
             * the first extreme still wins. */
            int nt = omp_get_max_threads();
            float *bv = malloc((size_t)nt * sizeof *bv);
            int64_t *ba = malloc((size_t)nt * sizeof *ba);
            if (bv && ba) {
                int used = 1;
#pragma omp parallel num_threads(nt)
                {
                    int t = omp_get_thread_num(), k = omp_get_num_threads();
                    int64_t lo = n * t / k, hi = n * (t + 1) / k;
                    int64_t a = row_argext(hi - lo, x + lo, sign, &bv[t]);
                    ba[t] = a < 0 ? -1 : a + lo;
#pragma omp single
                    used = k;
                }
                float best = bv[0];
                int64_t at = ba[0];
                for (int t = 1; t < used; t++) {
                    if (ba[t] < 0 || best != best) continue;
                    if (at < 0 || bv[t] != bv[t] || (sign > 0 ? bv[t] > best : bv[t] < best)) {
                        best = bv[t];
                        at = ba[t];
                    }
                }
                y[0] = best;
                if (arg) arg[0] = at;
                free(bv);
                free(ba);
                return;
            }
            free(bv);
            free(ba); /* out of memory: fall through to one thread */
        }
#pragma omp parallel for schedule(static) if (total > LAB_CPU_PAR_MIN)
        for (int64_t o = 0; o < outer; o++) {
            const float *row = x + o * n;
            if (op == LAB_RED_SUM) {
                y[o] = (float)row_sum(n, row);
            } else {
                int64_t a = row_argext(n, row, sign, &y[o]);
                if (arg) arg[o] = a;
            }
        }
        return;
    }
    int64_t nblk = (inner + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if (total > LAB_CPU_PAR_MIN)
    for (int64_t it = 0; it < outer * nblk; it++) {
        int64_t o = it / nblk, c0 = (it % nblk) * COL_BLOCK;
        int64_t w = inner - c0 < COL_BLOCK ? inner - c0 : COL_BLOCK;
        cols_reduce(op, n, inner, w, y + o * inner + c0, arg ? arg + o * inner + c0 : NULL,
                    x + o * n * inner + c0);
    }
}

/* --- softmax ------------------------------------------------------------- */

/* exp(x - max) goes into y first, then is summed (in double) and either
 * normalised or replaced by the log form: no loop mixes a reduction with
 * the exp, so each vectorises on its own. */
LAB_CPU_CLONES static void softmax_row(int64_t n, float *y, const float *x, int take_log)
{
    const float m = vmax(n, x);
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = lab_cpu_expf(x[i] - m);
    const double s = vsum(n, y);
    if (take_log) {
        /* (x - m) - log s, not x - (m + log s): exact for the largest entry. */
        const float ls = (float)log(s);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = (x[i] - m) - ls;
    } else {
        const float r = (float)(1.0 / s);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] *= r;
    }
}

/* inner > 1: columns [0, w) of one outer slice, rows strided by inner. */
LAB_CPU_CLONES static void softmax_cols(int64_t n, int64_t inner, int64_t w, float *y, const float *x, int take_log)
{
    float m[COL_BLOCK];
    double s[COL_BLOCK];
    for (int64_t c = 0; c < w; c++) {
        m[c] = -INFINITY;
        s[c] = 0.0f;
    }
    for (int64_t j = 0; j < n; j++) {
        const float *row = x + j * inner;
#pragma omp simd
        for (int64_t c = 0; c < w; c++) m[c] = row[c] > m[c] ? row[c] : m[c];
    }
    for (int64_t j = 0; j < n; j++) {
        const float *row = x + j * inner;
        float *out = y + j * inner;
        for (int64_t c = 0; c < w; c++) {
            float e = lab_cpu_expf(row[c] - m[c]);
            if (!take_log) out[c] = e;
            s[c] += e;
        }
    }
    float f[COL_BLOCK]; /* log s, or 1 / s */
    for (int64_t c = 0; c < w; c++) f[c] = (float)(take_log ? logf((float)s[c]) : 1.0 / s[c]);
    for (int64_t j = 0; j < n; j++) {
        const float *row = x + j * inner;
        float *out = y + j * inner;
        if (take_log) {
#pragma omp simd
            for (int64_t c = 0; c < w; c++) out[c] = (row[c] - m[c]) - f[c];
        } else {
#pragma omp simd
            for (int64_t c = 0; c < w; c++) out[c] *= f[c];
        }
    }
}

static void cpu_softmax(int64_t outer, int64_t n, int64_t inner, float *y, const float *x, int take_log)
{
    int64_t total = outer * n * inner;
    if (total == 0) return;
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (total > LAB_CPU_PAR_MIN)
        for (int64_t o = 0; o < outer; o++) softmax_row(n, y + o * n, x + o * n, take_log);
        return;
    }
    int64_t nblk = (inner + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if (total > LAB_CPU_PAR_MIN)
    for (int64_t it = 0; it < outer * nblk; it++) {
        int64_t o = it / nblk, c0 = (it % nblk) * COL_BLOCK;
        int64_t w = inner - c0 < COL_BLOCK ? inner - c0 : COL_BLOCK;
        softmax_cols(n, inner, w, y + o * n * inner + c0, x + o * n * inner + c0, take_log);
    }
}

/* softmax:     gx = y * (gy - sum(gy * y))
 * log_softmax: gx = gy - exp(y) * sum(gy) */
LAB_CPU_CLONES static void softmax_bw_row(int64_t n, float *gx, const float *gy, const float *y, int take_log)
{
    if (take_log) {
        const float s = (float)vsum(n, gy);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) gx[i] = gy[i] - lab_cpu_expf(y[i]) * s;
    } else {
        const float s = (float)vdot(n, gy, y);
#pragma omp simd
        for (int64_t i = 0; i < n; i++) gx[i] = y[i] * (gy[i] - s);
    }
}

LAB_CPU_CLONES static void softmax_bw_cols(int64_t n, int64_t inner, int64_t w, float *gx, const float *gy,
                            const float *y, int take_log)
{
    double s[COL_BLOCK];
    for (int64_t c = 0; c < w; c++) s[c] = 0.0;
    for (int64_t j = 0; j < n; j++) {
        const float *g = gy + j * inner, *v = y + j * inner;
        if (take_log) {
#pragma omp simd
            for (int64_t c = 0; c < w; c++) s[c] += g[c];
        } else {
#pragma omp simd
            for (int64_t c = 0; c < w; c++) s[c] += g[c] * v[c];
        }
    }
    for (int64_t j = 0; j < n; j++) {
        const float *g = gy + j * inner, *v = y + j * inner;
        float *out = gx + j * inner;
        if (take_log) {
            for (int64_t c = 0; c < w; c++) out[c] = g[c] - lab_cpu_expf(v[c]) * (float)s[c];
        } else {
#pragma omp simd
            for (int64_t c = 0; c < w; c++) out[c] = v[c] * (g[c] - (float)s[c]);
        }
    }
}

static void cpu_softmax_backward(int64_t outer, int64_t n, int64_t inner, float *gx, const float *gy,
                                 const float *y, int take_log)
{
    int64_t total = outer * n * inner;
    if (total == 0) return;
    if (inner == 1) {
#pragma omp parallel for schedule(static) if (total > LAB_CPU_PAR_MIN)
        for (int64_t o = 0; o < outer; o++) softmax_bw_row(n, gx + o * n, gy + o * n, y + o * n, take_log);
        return;
    }
    int64_t nblk = (inner + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if (total > LAB_CPU_PAR_MIN)
    for (int64_t it = 0; it < outer * nblk; it++) {
        int64_t o = it / nblk, c0 = (it % nblk) * COL_BLOCK;
        int64_t w = inner - c0 < COL_BLOCK ? inner - c0 : COL_BLOCK;
        int64_t base = o * n * inner + c0;
        softmax_bw_cols(n, inner, w, gx + base, gy + base, y + base, take_log);
    }
}

void lab_cpu_install_reduce(lab_backend *be)
{
    be->reduce = cpu_reduce;
    be->softmax = cpu_softmax;
    be->softmax_backward = cpu_softmax_backward;
}
