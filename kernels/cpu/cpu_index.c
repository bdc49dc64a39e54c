/* CPU index primitives: index_select, index_add, gather, scatter_add,
 * one_hot (semantics in framework/core/backend.h), and check_index, which
 * the ops call to validate indices before the kernels trust them.
 *
 * Parallelism: the copying kernels split over output rows. The accumulating
 * ones (index_add, scatter_add) split over (outer, a chunk of the inner dim),
 * so every output element is owned by one thread and summed in the order of
 * j: results are race-free and bitwise identical to the serial loop whatever
 * the thread count. With outer == 1 and inner <= one chunk they run serially.
 *
 * Tested by tests/unit/test_index.c against kernels/cpu/ref_index.c on random
 * shapes (empty index lists, repeated indices), and through the ops.
 */
#include <string.h>

#include "cpu_int.h"
#include "lab/error.h"

/* Floats per task in the accumulating kernels: one 64-byte cache line, so
 * two threads never write the same line of y. */
#define CHUNK 16

static void cpu_index_select(int64_t outer, int64_t n, int64_t inner, float *y, const float *x,
                             const int64_t *idx, int64_t nidx)
{
    int64_t rows = outer * nidx;
#pragma omp parallel for schedule(static) if (rows * inner >= LAB_CPU_PAR_MIN && rows > 1)
    for (int64_t r = 0; r < rows; r++) {
        int64_t o = r / nidx, j = r % nidx;
        memcpy(y + r * inner, x + (o * n + idx[j]) * inner, (size_t)inner * sizeof *y);
    }
}

static void cpu_index_add(int64_t outer, int64_t n, int64_t inner, float *y, const float *src,
                          const int64_t *idx, int64_t nidx)
{
    int64_t nchunk = (inner + CHUNK - 1) / CHUNK, tasks = outer * nchunk;
#pragma omp parallel for schedule(static) if (tasks > 1 && outer * nidx * inner >= LAB_CPU_PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / nchunk, c0 = (t % nchunk) * CHUNK;
        int64_t c1 = c0 + CHUNK < inner ? c0 + CHUNK : inner;
        float *yo = y + o * n * inner;
        const float *so = src + o * nidx * inner;
        for (int64_t j = 0; j < nidx; j++) {
            float *yr = yo + idx[j] * inner;
            const float *sr = so + j * inner;
            for (int64_t i = c0; i < c1; i++) yr[i] += sr[i];
        }
    }
}

static void cpu_gather(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y, const float *x,
                       const int64_t *idx)
{
    int64_t rows = outer * m;
#pragma omp parallel for schedule(static) if (rows * inner >= LAB_CPU_PAR_MIN && rows > 1)
    for (int64_t r = 0; r < rows; r++) {
        const float *xo = x + (r / m) * n * inner;
        const int64_t *ir = idx + r * inner;
        float *yr = y + r * inner;
        for (int64_t i = 0; i < inner; i++) yr[i] = xo[ir[i] * inner + i];
    }
}

static void cpu_scatter_add(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y,
                            const float *src, const int64_t *idx)
{
    int64_t nchunk = (inner + CHUNK - 1) / CHUNK, tasks = outer * nchunk;
#pragma omp parallel for schedule(static) if (tasks > 1 && outer * m * inner >= LAB_CPU_PAR_MIN)
    for (int64_t t = 0; t < tasks; t++) {
        int64_t o = t / nchunk, c0 = (t % nchunk) * CHUNK;
        int64_t c1 = c0 + CHUNK < inner ? c0 + CHUNK : inner;
        float *yo = y + o * n * inner;
        for (int64_t j = 0; j < m; j++) {
            int64_t base = (o * m + j) * inner;
            for (int64_t i = c0; i < c1; i++) yo[idx[base + i] * inner + i] += src[base + i];
        }
    }
}

static void cpu_one_hot(int64_t nidx, int64_t classes, float *y, const int64_t *idx)
{
    memset(y, 0, (size_t)(nidx * classes) * sizeof *y);
    for (int64_t j = 0; j < nidx; j++) y[j * classes + idx[j]] = 1.0f;
}

/* Serial on purpose: it stops at the first bad entry, whose position the
 * message names, and index lists are small next to the ops they feed. */
static int cpu_check_index(int dev, const int64_t *idx, int64_t n, int64_t limit, const char *op, const char *what)
{
    (void)dev;
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= limit)
            return lab_error_set("%s: %s %lld at position %lld is out of range [0, %lld)", op, what,
                                 (long long)idx[i], (long long)i, (long long)limit);
    return 0;
}

void lab_cpu_install_index(lab_backend *be)
{
    be->check_index = cpu_check_index;
    be->index_select = cpu_index_select;
    be->index_add = cpu_index_add;
    be->gather = cpu_gather;
    be->scatter_add = cpu_scatter_add;
    be->one_hot = cpu_one_hot;
}
