/* CPU Philox fills. Word i of (seed, stream) is lane i%4 of block i/4; each
 * value's words depend only on its index, so any split over threads gives
 * identical results. Tested in tests/unit/test_rng.c against the published
 * known-answer vectors and against lab_rng_next_*. */
#include <math.h>

#include "cpu_int.h"
#include "lab/rng.h"

static inline void block_at(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4])
{
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    lab_philox4x32_10(ctr, key, out);
}

static inline uint32_t word(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint32_t out[4];
    block_at(seed, stream, i >> 2, out);
    return out[i & 3];
}

static void cpu_philox_uniform(int64_t n, float *y, uint64_t seed, uint64_t stream, uint64_t offset,
                               float lo, float hi)
{
    float span = hi - lo;
#pragma omp parallel for schedule(static) if (n > LAB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = lo + span * lab_rng_u01(word(seed, stream, offset + (uint64_t)i));
}

static void cpu_philox_normal(int64_t n, float *y, uint64_t seed, uint64_t stream, uint64_t offset,
                              float mean, float std)
{
    /* Value i uses words offset+2i and offset+2i+1 (Box–Muller, cos branch,
     * lab_rng_gauss: shared with the CUDA backend, bit for bit). */
#pragma omp parallel for schedule(static) if (n > LAB_CPU_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        uint64_t w = offset + 2 * (uint64_t)i;
        y[i] = mean + std * lab_rng_gauss(word(seed, stream, w), word(seed, stream, w + 1));
    }
}

void lab_cpu_install_random(lab_backend *be)
{
    be->philox_uniform = cpu_philox_uniform;
    be->philox_normal = cpu_philox_normal;
}
