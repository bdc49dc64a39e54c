/* lab/rng.h — counter-based random numbers (Philox4x32-10).
 *
 * A stream is (seed, stream id); `offset` counts 32-bit words consumed. The
 * value at word i of a stream depends only on (seed, stream, i), never on
 * thread count or device, so a CUDA kernel reproduces the CPU's numbers.
 *
 * Layout (the contract the CUDA backend follows too): word i is output lane
 * i % 4 of Philox4x32-10 with key (seed_lo, seed_hi) and counter
 * (block_lo, block_hi, stream_lo, stream_hi), block = i / 4.
 * A fill of n values starting at offset o uses words o .. o + k*n - 1, where
 * k = 1 for uniform/bernoulli/randint and 2 for normal (Box–Muller on word
 * pairs); the offset is then rounded up to a multiple of 4.
 *
 *     lab_rng rng = lab_rng_make(seed, 0);
 *     lab_tensor *w = lab_rng_uniform(&rng, 2, (int64_t[]){256, 784}, -a, a, LAB_CPU);
 */
#ifndef LAB_RNG_H
#define LAB_RNG_H

#include <math.h>

#include "tensor.h"

/* The inline helpers below are compiled for the host and, in .cu files, for
 * the GPU too: kernels/cuda/cuda_random.cu calls the very same code. */
#if defined(__CUDACC__)
#define LAB_RNG_HD __host__ __device__
#else
#define LAB_RNG_HD
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lab_rng {
    uint64_t seed;
    uint64_t stream;
    uint64_t offset; /* next word */
} lab_rng;

lab_rng lab_rng_make(uint64_t seed, uint64_t stream);
/* A child stream derived from (rng's seed, rng->stream, id): independent of
 * the parent and of other ids. */
lab_rng lab_rng_fork(const lab_rng *rng, uint64_t id);

/* The raw generator: one block of 4 words. */
void lab_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Map a 32-bit word to (0, 1] / a pair to N(0,1): shared with CUDA. */
static inline LAB_RNG_HD float lab_rng_u01(uint32_t w) { return ((float)(w >> 8) + 1.0f) * (1.0f / 16777216.0f); }

/* N(0, 1) from two words (Box–Muller, cos branch), the same bits on the CPU
 * and on CUDA. log and cos are evaluated in double and rounded once to
 * float: over the 2^24 values lab_rng_u01 can take, every exact result lies
 * at least 9 double ulps away from a float rounding boundary (checked
 * exhaustively by tests/parity/test_parity_random.c), so any double log/cos
 * accurate to a few ulps (glibc's, CUDA's) rounds to the same float. The
 * float versions (logf, cosf) differ between glibc and CUDA in the last bit
 * for ~1% of inputs. The caller forms mean + std * g as two roundings (no
 * fused multiply-add). */
static inline LAB_RNG_HD float lab_rng_gauss(uint32_t w1, uint32_t w2)
{
    float l = (float)log((double)lab_rng_u01(w1));
    float c = (float)cos((double)(6.28318530717958647692f * lab_rng_u01(w2)));
    return sqrtf(-2.0f * l) * c;
}

/* Scalars (host), consuming words as described above. */
uint32_t lab_rng_next_u32(lab_rng *rng);
double lab_rng_next_uniform(lab_rng *rng);   /* (0, 1] */
double lab_rng_next_normal(lab_rng *rng);
/* Uniform integer in [0, n) without modulo bias. */
uint64_t lab_rng_next_below(lab_rng *rng, uint64_t n);

/* Tensors (any device), advancing rng->offset. */
lab_tensor *lab_rng_uniform(lab_rng *rng, int ndim, const int64_t *shape, float lo, float hi, lab_device dev);
lab_tensor *lab_rng_normal(lab_rng *rng, int ndim, const int64_t *shape, float mean, float std, lab_device dev);
/* f32 0/1 with P(1) = p. */
lab_tensor *lab_rng_bernoulli(lab_rng *rng, int ndim, const int64_t *shape, float p, lab_device dev);
/* i64 uniform in [lo, hi). */
lab_tensor *lab_rng_randint(lab_rng *rng, int ndim, const int64_t *shape, int64_t lo, int64_t hi, lab_device dev);
/* i64 permutation of 0..n-1 (cpu). */
lab_tensor *lab_rng_randperm(lab_rng *rng, int64_t n);
/* Fisher–Yates shuffle of a host array of int64. */
void lab_rng_shuffle_i64(lab_rng *rng, int64_t *v, int64_t n);

/* Fill an existing f32 tensor in place (not recorded). */
int lab_rng_fill_uniform_(lab_rng *rng, lab_tensor *t, float lo, float hi);
int lab_rng_fill_normal_(lab_rng *rng, lab_tensor *t, float mean, float std);

#ifdef __cplusplus
}
#endif
#endif
