/* CPU sparse and segment primitives: segment_reduce (SUM, MAX, MIN over
 * unsorted segment ids) and CSR spmm (semantics in framework/core/backend.h;
 * ids and CSR structure are validated by the ops, never here).
 *
 * Parallelism: spmm splits over rows in parts of equal nonzeros, handed out
 * dynamically (real graphs have a few rows with most of the edges); it
 * vectorises over the dense columns (see spmm_block) and never uses atomics:
 * Aᵀ x runs the same kernel on the cached transpose. segment_reduce splits over chunks of the
 * feature dim, each thread walking every row in order, so a segment's value
 * is accumulated in row order: race-free, bitwise identical to the serial
 * loop, and MAX ties keep the lowest row index as the reference does. With
 * f <= one chunk it runs serially.
 *
 * Tested by tests/unit/test_sparse.c against kernels/cpu/ref_index.c (random
 * graphs, empty rows and segments, unsorted ids) and a dense matmul; spmm
 * also bitwise against the plain float loop for widths around the block
 * size, every unroll remainder, a skewed row and 1-8 threads. Benchmark:
 * tests/bench/suite_virgo.sh (GCN epoch against PyTorch).
 */
#include <omp.h>
#include <string.h>

#include "cpu_int.h"
#include "cpu_math.h"

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

/* y[r, 0:w] (w <= SPMM_BLOCK) of one row whose nonzeros are k0..k1-1; x
 * and yr already point at the block's first column. acc takes eight (then
 * four, then one) nonzeros per pass, so it is loaded and stored once per
 * eight rows of x (CiteSeer's features, F = 64, one thread: 8 at a time
 * is 11% faster than 4; the whole kernel 32 GFLOP/s against 4.6 for the
 * plain loop, which GCC -O2 did not vectorise). Each element is still summed
 * in nonzero order starting from 0, exactly as the one-at-a-time loop (no
 * FMA contraction under -std=c11, so the result does not depend on the
 * clone picked or the thread count). Inlined into spmm_rows, once with w the
 * constant SPMM_BLOCK (no remainder loops) and once for the tail. */
enum { SPMM_BLOCK = 64 }; /* floats: 8 AVX2 registers of accumulators */

static inline __attribute__((always_inline)) void spmm_block(int64_t w, int64_t f, int64_t k0, int64_t k1,
                                                             const int64_t *restrict colind,
                                                             const float *restrict vals, const float *restrict x,
                                                             float *restrict yr)
{
    float acc[SPMM_BLOCK];
#pragma omp simd
    for (int64_t c = 0; c < w; c++) acc[c] = 0.0f;
    int64_t k = k0;
    for (; k + 8 <= k1; k += 8) {
        const float v0 = vals[k], v1 = vals[k + 1], v2 = vals[k + 2], v3 = vals[k + 3];
        const float v4 = vals[k + 4], v5 = vals[k + 5], v6 = vals[k + 6], v7 = vals[k + 7];
        const float *restrict x0 = x + colind[k] * f;
        const float *restrict x1 = x + colind[k + 1] * f;
        const float *restrict x2 = x + colind[k + 2] * f;
        const float *restrict x3 = x + colind[k + 3] * f;
        const float *restrict x4 = x + colind[k + 4] * f;
        const float *restrict x5 = x + colind[k + 5] * f;
        const float *restrict x6 = x + colind[k + 6] * f;
        const float *restrict x7 = x + colind[k + 7] * f;
#pragma omp simd
        for (int64_t c = 0; c < w; c++) {
            float a = acc[c];
            a += v0 * x0[c];
            a += v1 * x1[c];
            a += v2 * x2[c];
            a += v3 * x3[c];
            a += v4 * x4[c];
            a += v5 * x5[c];
            a += v6 * x6[c];
            a += v7 * x7[c];
            acc[c] = a;
        }
    }
    for (; k + 4 <= k1; k += 4) {
        const float v0 = vals[k], v1 = vals[k + 1], v2 = vals[k + 2], v3 = vals[k + 3];
        const float *restrict x0 = x + colind[k] * f;
        const float *restrict x1 = x + colind[k + 1] * f;
        const float *restrict x2 = x + colind[k + 2] * f;
        const float *restrict x3 = x + colind[k + 3] * f;
#pragma omp simd
        for (int64_t c = 0; c < w; c++) {
            float a = acc[c];
            a += v0 * x0[c];
            a += v1 * x1[c];
            a += v2 * x2[c];
            a += v3 * x3[c];
            acc[c] = a;
        }
    }
    for (; k < k1; k++) {
        const float v = vals[k];
        const float *restrict xr = x + colind[k] * f;
#pragma omp simd
        for (int64_t c = 0; c < w; c++) acc[c] += v * xr[c];
    }
#pragma omp simd
    for (int64_t c = 0; c < w; c++) yr[c] = acc[c];
}

/* Rows [r0, r1) of y = A x. */
LAB_CPU_CLONES static void spmm_rows(int64_t r0, int64_t r1, int64_t f, const int64_t *restrict rowptr,
                                     const int64_t *restrict colind, const float *restrict vals,
                                     const float *restrict x, float *restrict y)
{
    int64_t full = f - f % SPMM_BLOCK;
    for (int64_t r = r0; r < r1; r++) {
        int64_t k0 = rowptr[r], k1 = rowptr[r + 1];
        float *yr = y + r * f;
        for (int64_t c0 = 0; c0 < full; c0 += SPMM_BLOCK)
            spmm_block(SPMM_BLOCK, f, k0, k1, colind, vals, x + c0, yr + c0);
        if (full < f) spmm_block(f - full, f, k0, k1, colind, vals, x + full, yr + full);
    }
}

/* First row of part t of n when rows are split into parts of equal cost,
 * a row costing its nonzeros plus one (the write of y's row). The cost up to
 * row r, rowptr[r] + r, increases strictly, so the parts partition the rows. */
static int64_t spmm_split(int64_t rows, const int64_t *rowptr, int64_t t, int64_t n)
{
    int64_t total = rowptr[rows] + rows, want = (int64_t)((double)total * (double)t / (double)n);
    int64_t lo = 0, hi = rows;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (rowptr[mid] + mid < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Row-parallel: parts of equal nnz (real graphs have a few rows holding most
 * of the edges), a few per thread and handed out dynamically, so a thread
 * that a loaded machine slows down takes fewer. No atomics: each part owns
 * its rows of y; Aᵀ x (spmm's backward) runs this same kernel on the
 * transpose, which op_sparse.c builds once per CSR and caches. */
static void cpu_spmm(int64_t rows, int64_t cols, int64_t f, int64_t nnz, const int64_t *rowptr,
                     const int64_t *colind, const float *vals, const float *x, float *y)
{
    (void)cols;
    int nt = omp_get_max_threads();
    if (nt < 2 || rows < 2 || (nnz + rows) * f < LAB_CPU_PAR_MIN) {
        spmm_rows(0, rows, f, rowptr, colind, vals, x, y);
        return;
    }
    int64_t parts = 4 * (int64_t)nt < rows ? 4 * (int64_t)nt : rows;
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t t = 0; t < parts; t++)
        spmm_rows(spmm_split(rows, rowptr, t, parts), spmm_split(rows, rowptr, t + 1, parts), f, rowptr, colind,
                  vals, x, y);
}

void lab_cpu_install_sparse(lab_backend *be)
{
    be->segment_reduce = cpu_segment_reduce;
    be->spmm = cpu_spmm;
}
