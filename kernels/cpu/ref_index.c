/* Plain C references for the index, segment and sparse primitives (see
 * ref_index.h). Each is the definition in backend.h written as one loop nest;
 * tests/unit/test_index.c and test_sparse.c compare the fast CPU kernels
 * (cpu_index.c, cpu_sparse.c) with them on random shapes. */
#include "ref_index.h"

void lab_ref_index_select(int64_t outer, int64_t n, int64_t inner, float *y, const float *x,
                          const int64_t *idx, int64_t nidx)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < nidx; j++)
            for (int64_t i = 0; i < inner; i++)
                y[(o * nidx + j) * inner + i] = x[(o * n + idx[j]) * inner + i];
}

void lab_ref_index_add(int64_t outer, int64_t n, int64_t inner, float *y, const float *src,
                       const int64_t *idx, int64_t nidx)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < nidx; j++)
            for (int64_t i = 0; i < inner; i++)
                y[(o * n + idx[j]) * inner + i] += src[(o * nidx + j) * inner + i];
}

void lab_ref_gather(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y, const float *x,
                    const int64_t *idx)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < m; j++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t p = (o * m + j) * inner + i;
                y[p] = x[(o * n + idx[p]) * inner + i];
            }
}

void lab_ref_scatter_add(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y,
                         const float *src, const int64_t *idx)
{
    for (int64_t o = 0; o < outer; o++)
        for (int64_t j = 0; j < m; j++)
            for (int64_t i = 0; i < inner; i++) {
                int64_t p = (o * m + j) * inner + i;
                y[(o * n + idx[p]) * inner + i] += src[p];
            }
}

void lab_ref_one_hot(int64_t nidx, int64_t classes, float *y, const int64_t *idx)
{
    for (int64_t j = 0; j < nidx; j++)
        for (int64_t c = 0; c < classes; c++) y[j * classes + c] = idx[j] == c ? 1.0f : 0.0f;
}

/* Segment by segment, scanning every row (quadratic, which is fine for
 * tests). MAX/MIN: the first row of a segment sets the value and later rows
 * replace it only when strictly better, so ties keep the lowest row index
 * (the fast kernel follows the same rule). */
void lab_ref_segment_reduce(lab_reduce_op op, int64_t n, int64_t f, float *y, int64_t *arg,
                            const float *x, const int64_t *seg, int64_t nseg)
{
    for (int64_t s = 0; s < nseg; s++)
        for (int64_t c = 0; c < f; c++) {
            float acc = 0.0f;
            int64_t best = -1;
            for (int64_t r = 0; r < n; r++) {
                if (seg[r] != s) continue;
                float v = x[r * f + c];
                if (op == LAB_RED_SUM)
                    acc += v;
                else if (best < 0 || (op == LAB_RED_MAX ? v > acc : v < acc)) {
                    acc = v;
                    best = r;
                }
            }
            y[s * f + c] = acc;
            if (arg) arg[s * f + c] = best;
        }
}

void lab_ref_spmm(int64_t rows, int64_t cols, int64_t f, const int64_t *rowptr,
                  const int64_t *colind, const float *vals, const float *x, float *y)
{
    (void)cols;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < f; c++) {
            double acc = 0;
            for (int64_t k = rowptr[r]; k < rowptr[r + 1]; k++)
                acc += (double)vals[k] * x[colind[k] * f + c];
            y[r * f + c] = (float)acc;
        }
}
