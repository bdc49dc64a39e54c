/* CUDA Philox fills, bit-identical to the CPU backend (kernels/cpu/
 * cpu_random.c) and to the scalar stream of framework/core/rng.c.
 *
 * Word i of (seed, stream) is lane i % 4 of Philox4x32-10 with key
 * (seed_lo, seed_hi) and counter (block_lo, block_hi, stream_lo, stream_hi),
 * block = i / 4 (lab/rng.h). Integer arithmetic is exact, so the words are
 * the CPU's. Floats: uniform is lo + (hi - lo) u01(w), written with
 * __fmul_rn/__fadd_rn so nvcc cannot fuse it into an FMA the CPU does not
 * use; normal value i uses words offset+2i and offset+2i+1 through
 * lab_rng_gauss() from lab/rng.h, the same source the CPU compiles (log and
 * cos in double, rounded once: see its comment for why that, unlike
 * logf/cosf, agrees across glibc and CUDA). This file must not be built
 * with --use_fast_math.
 *
 * Uniform: a thread per Philox block, writing the up to four values whose
 * words it holds. Normal: a thread per value (one or two blocks).
 *
 * Tested by tests/parity/test_parity_random.c: bit-identical uniform and
 * normal fills on cpu and cuda:0 for several seeds, streams, odd offsets and
 * sizes, and (without a GPU too) the exhaustive check that makes the normal
 * transform portable.
 */
#include <stdint.h>

#include "cuda_int.h"
#include "lab/rng.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

__device__ __forceinline__ void philox_block(uint64_t seed, uint64_t stream, uint64_t block, uint32_t out[4])
{
    uint32_t c0 = (uint32_t)block, c1 = (uint32_t)(block >> 32), c2 = (uint32_t)stream, c3 = (uint32_t)(stream >> 32);
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#pragma unroll
    for (int r = 0; r < 10; r++) {
        uint32_t hi0 = __umulhi(PHILOX_M0, c0), lo0 = PHILOX_M0 * c0;
        uint32_t hi1 = __umulhi(PHILOX_M1, c2), lo1 = PHILOX_M1 * c2;
        uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

/* Blocks b0 .. b0 + nblocks - 1 cover words offset .. offset + n - 1. */
__global__ void k_uniform(int64_t n, float *y, uint64_t seed, uint64_t stream, uint64_t offset, uint64_t nblocks,
                          float lo, float span)
{
    const uint64_t b0 = offset >> 2;
    for (uint64_t t = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; t < nblocks; t += (uint64_t)blockDim.x * gridDim.x) {
        uint32_t out[4];
        philox_block(seed, stream, b0 + t, out);
#pragma unroll
        for (int l = 0; l < 4; l++) {
            uint64_t w = (b0 + t) * 4 + (uint64_t)l;
            if (w < offset) continue;
            uint64_t i = w - offset;
            if (i < (uint64_t)n) y[i] = __fadd_rn(lo, __fmul_rn(span, lab_rng_u01(out[l])));
        }
    }
}

static void cu_philox_uniform(int64_t n, float *y, uint64_t seed, uint64_t stream, uint64_t offset, float lo, float hi)
{
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    float span = hi - lo; /* as the CPU: one float subtraction */
    uint64_t nblocks = ((offset + (uint64_t)n - 1) >> 2) - (offset >> 2) + 1;
    k_uniform<<<lab_cu_blocks(d, (int64_t)nblocks, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(
        n, y, seed, stream, offset, nblocks, lo, span);
    LAB_CU_CHECK(d, "philox_uniform");
}

__global__ void k_normal(int64_t n, float *y, uint64_t seed, uint64_t stream, uint64_t offset, float mean, float std)
{
    LAB_CU_LOOP(i, n)
    {
        uint64_t w = offset + 2 * (uint64_t)i;
        uint32_t out[4], w1, w2;
        philox_block(seed, stream, w >> 2, out);
        /* Selects, not out[l]: a run-time index would put out in local memory. */
        int l = (int)(w & 3);
        w1 = l == 0 ? out[0] : l == 1 ? out[1] : l == 2 ? out[2] : out[3];
        if (l < 3) {
            w2 = l == 0 ? out[1] : l == 1 ? out[2] : out[3];
        } else { /* the pair straddles two blocks (odd offsets) */
            uint32_t nxt[4];
            philox_block(seed, stream, (w >> 2) + 1, nxt);
            w2 = nxt[0];
        }
        y[i] = __fadd_rn(mean, __fmul_rn(std, lab_rng_gauss(w1, w2)));
    }
}

static void cu_philox_normal(int64_t n, float *y, uint64_t seed, uint64_t stream, uint64_t offset, float mean,
                             float std)
{
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    k_normal<<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(n, y, seed, stream, offset, mean,
                                                                                    std);
    LAB_CU_CHECK(d, "philox_normal");
}

void lab_cu_install_random(lab_backend *be)
{
    be->philox_uniform = cu_philox_uniform;
    be->philox_normal = cu_philox_normal;
}
