/* CPU sparse and segment primitives: segment_reduce (SUM, MAX, MIN over
 * unsorted segment ids) and CSR spmm (semantics in framework/core/backend.h;
 * ids and CSR structure are validated by the ops, never here).
 *
 * Parallelism: spmm splits over rows (dynamic schedule: real graphs have a
 * few rows with most of the edges). segment_reduce splits over chunks of the
 * feature dim, each thread walking every row in order, so a segment's value
 * is accumulated in row order: race-free, bitwise identical to the serial
 * loop, and MAX ties keep the lowest row index as the reference does. With
 * f <= one chunk it runs serially.
 *
 * Tested by tests/unit/test_sparse.c against kernels/cpu/ref_index.c (random
 * graphs, empty rows and segments, unsorted ids) and a dense matmul.
 */
#include <string.h>

#include "cpu_int.h"

#define CHUNK 16 /* floats per task: one cache line of y */

static void cpu_segment_reduce(lab_reduce_op op, int64_t n, int64_t f, float *y, int64_t *arg,
                               const float *x, const int64_t *seg, int64_t nseg)
{
    int64_t nchunk = (f + CHUNK - 1) / CHUNK;
    if (op == LAB_RED_SUM) {
        memset(y, 0, (size_t)(nseg * f) * sizeof *y);
#pragma omp parallel for schedule(static) if (nchunk > 1 && n * f >= LAB_CPU_PAR_MIN)
        for (int64_t t = 0; t < nchunk; t++) {
            int64_t c0 = t * CHUNK, c1 = c0 + CHUNK < f ? c0 + CHUNK : f;
            for (int64_t r = 0; r < n; r++) {
                float *yr = y + seg[r] * f;
                const float *xr = x + r * f;
                for (int64_t c = c0; c < c1; c++) yr[c] += xr[c];
            }
        }
        return;
    }
    /* MAX/MIN: arg is required (backend.h gives no "may be NULL" here); it
     * doubles as the "segment seen" mark. */
    int is_max = op == LAB_RED_MAX;
#pragma omp parallel for schedule(static) if (nchunk > 1 && n * f >= LAB_CPU_PAR_MIN)
    for (int64_t t = 0; t < nchunk; t++) {
        int64_t c0 = t * CHUNK, c1 = c0 + CHUNK < f ? c0 + CHUNK : f;
        for (int64_t s = 0; s < nseg; s++)
            for (int64_t c = c0; c < c1; c++) {
                y[s * f + c] = 0.0f;
                arg[s * f + c] = -1;
            }
        for (int64_t r = 0; r < n; r++) {
            float *yr = y + seg[r] * f;
            int64_t *ar = arg + seg[r] * f;
            const float *xr = x + r * f;
            for (int64_t c = c0; c < c1; c++) {
                float v = xr[c];
                if (ar[c] < 0 || (is_max ? v > yr[c] : v < yr[c])) {
                    yr[c] = v;
                    ar[c] = r;
                }
            }
        }
    }
}

static void cpu_spmm(int64_t rows, int64_t cols, int64_t f, const int64_t *rowptr,
                     const int64_t *colind, const float *vals, const float *x, float *y)
{
    (void)cols;
    int64_t nnz = rowptr[rows];
#pragma omp parallel for schedule(dynamic, 64) if (nnz * f >= LAB_CPU_PAR_MIN && rows > 1)
    for (int64_t r = 0; r < rows; r++) {
        float *yr = y + r * f;
        for (int64_t c = 0; c < f; c++) yr[c] = 0.0f;
        for (int64_t k = rowptr[r]; k < rowptr[r + 1]; k++) {
            const float v = vals[k];
            const float *xr = x + colind[k] * f;
            for (int64_t c = 0; c < f; c++) yr[c] += v * xr[c];
        }
    }
}

void lab_cpu_install_sparse(lab_backend *be)
{
    be->segment_reduce = cpu_segment_reduce;
    be->spmm = cpu_spmm;
}
