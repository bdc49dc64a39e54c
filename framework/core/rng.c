/* Philox4x32-10 streams (Salmon et al., SC'11). The word layout is described
 * in lab/rng.h; kernels/cpu/cpu_random.c and the CUDA backend follow it. */
#include <math.h>
#include <stdlib.h>

#include "lab/lab.h"
#include "ops_int.h"

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void lab_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0, p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n1 = (uint32_t)p1;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        uint32_t n3 = (uint32_t)p0;
        c0 = n0, c1 = n1, c2 = n2, c3 = n3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = c0, out[1] = c1, out[2] = c2, out[3] = c3;
}

lab_rng lab_rng_make(uint64_t seed, uint64_t stream)
{
    lab_rng r = {seed, stream, 0};
    return r;
}

lab_rng lab_rng_fork(const lab_rng *rng, uint64_t id)
{
    /* Hash (stream, id) through one Philox block keyed by the seed, so that
     * forks of different parents or ids land on unrelated streams. */
    uint32_t ctr[4] = {(uint32_t)id, (uint32_t)(id >> 32), (uint32_t)rng->stream,
                       (uint32_t)(rng->stream >> 32) ^ 0x5bd1e995u};
    uint32_t key[2] = {(uint32_t)rng->seed ^ 0xA5A5A5A5u, (uint32_t)(rng->seed >> 32)};
    uint32_t out[4];
    lab_philox4x32_10(ctr, key, out);
    lab_rng r = {rng->seed, ((uint64_t)out[1] << 32) | out[0], 0};
    return r;
}

static uint32_t word_at(uint64_t seed, uint64_t stream, uint64_t i)
{
    uint64_t block = i >> 2;
    uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)};
    uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t out[4];
    lab_philox4x32_10(ctr, key, out);
    return out[i & 3];
}

static void round_offset(lab_rng *rng) { rng->offset = (rng->offset + 3) & ~(uint64_t)3; }

uint32_t lab_rng_next_u32(lab_rng *rng)
{
    uint32_t w = word_at(rng->seed, rng->stream, rng->offset);
    rng->offset++;
    return w;
}

double lab_rng_next_uniform(lab_rng *rng) { return lab_rng_u01(lab_rng_next_u32(rng)); }

double lab_rng_next_normal(lab_rng *rng)
{
    double u1 = lab_rng_u01(lab_rng_next_u32(rng));
    double u2 = lab_rng_u01(lab_rng_next_u32(rng));
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

uint64_t lab_rng_next_below(lab_rng *rng, uint64_t n)
{
    if (n <= 1) return 0;
    /* Rejection sampling on 64-bit draws removes the modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    for (;;) {
        uint64_t x = ((uint64_t)lab_rng_next_u32(rng) << 32) | lab_rng_next_u32(rng);
        if (x < limit) return x % n;
    }
}

void lab_rng_shuffle_i64(lab_rng *rng, int64_t *v, int64_t n)
{
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)lab_rng_next_below(rng, (uint64_t)i + 1);
        int64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

int lab_rng_fill_uniform_(lab_rng *rng, lab_tensor *t, float lo, float hi)
{
    if (!t) return -1;
    if (lab_op_check_f32("rng_uniform", "tensor", t) < 0) return -1;
    const lab_backend *be = lab_op_backend("rng_uniform", t, LAB_SLOT(philox_uniform));
    if (!be) return -1;
    be->philox_uniform(t->numel, lab_op_f32(t), rng->seed, rng->stream, rng->offset, lo, hi);
    rng->offset += (uint64_t)t->numel;
    round_offset(rng);
    return 0;
}

int lab_rng_fill_normal_(lab_rng *rng, lab_tensor *t, float mean, float std)
{
    if (!t) return -1;
    if (lab_op_check_f32("rng_normal", "tensor", t) < 0) return -1;
    const lab_backend *be = lab_op_backend("rng_normal", t, LAB_SLOT(philox_normal));
    if (!be) return -1;
    be->philox_normal(t->numel, lab_op_f32(t), rng->seed, rng->stream, rng->offset, mean, std);
    rng->offset += 2 * (uint64_t)t->numel;
    round_offset(rng);
    return 0;
}

/* On failure the half-made tensor must not outlive the call. */
static lab_tensor *fresh(lab_tensor *t)
{
    lab_tensor_own(t);
    lab_tensor_release(t);
    return NULL;
}

lab_tensor *lab_rng_uniform(lab_rng *rng, int ndim, const int64_t *shape, float lo, float hi, lab_device dev)
{
    lab_tensor *t = lab_tensor_empty(LAB_F32, ndim, shape, dev);
    if (!t) return NULL;
    if (lab_rng_fill_uniform_(rng, t, lo, hi) < 0) return fresh(t);
    return t;
}

lab_tensor *lab_rng_normal(lab_rng *rng, int ndim, const int64_t *shape, float mean, float std, lab_device dev)
{
    lab_tensor *t = lab_tensor_empty(LAB_F32, ndim, shape, dev);
    if (!t) return NULL;
    if (lab_rng_fill_normal_(rng, t, mean, std) < 0) return fresh(t);
    return t;
}

lab_tensor *lab_rng_bernoulli(lab_rng *rng, int ndim, const int64_t *shape, float p, lab_device dev)
{
    if (!(p >= 0.0f && p <= 1.0f)) {
        lab_error_set("bernoulli: p = %g is not in [0, 1]", p);
        return NULL;
    }
    lab_scope_begin();
    lab_tensor *u = lab_rng_uniform(rng, ndim, shape, 0.0f, 1.0f, dev);
    lab_tensor *pt = lab_tensor_full(LAB_F32, 0, NULL, p, dev);
    /* u is in (0, 1]: P(u <= p) = p up to 2^-24; lt(u, p) on u - 2^-25 is
     * the same comparison without an extra primitive. */
    lab_tensor *m = (u && pt) ? lab_lt(lab_add_scalar(u, -0x1p-25f), pt) : NULL;
    lab_keep(m);
    lab_scope_end();
    return m;
}

lab_tensor *lab_rng_randint(lab_rng *rng, int ndim, const int64_t *shape, int64_t lo, int64_t hi, lab_device dev)
{
    if (hi <= lo) {
        lab_error_set("randint: empty range [%lld, %lld)", (long long)lo, (long long)hi);
        return NULL;
    }
    lab_scope_begin();
    lab_tensor *t = lab_tensor_empty(LAB_I64, ndim, shape, LAB_CPU);
    lab_tensor *d = NULL;
    if (t) {
        int64_t *v = lab_tensor_raw(t);
        uint64_t span = (uint64_t)(hi - lo);
        /* One word per value, as the layout promises; w % span is biased by
         * at most span / 2^32, negligible for label and index ranges. */
        for (int64_t i = 0; i < t->numel; i++)
            v[i] = lo + (int64_t)(word_at(rng->seed, rng->stream, rng->offset + (uint64_t)i) % span);
        rng->offset += (uint64_t)t->numel;
        round_offset(rng);
        d = dev.type == LAB_DEV_CPU ? t : lab_tensor_to(t, dev);
    }
    lab_keep(d);
    lab_scope_end();
    return d;
}

lab_tensor *lab_rng_randperm(lab_rng *rng, int64_t n)
{
    lab_tensor *t = lab_tensor_arange(n, LAB_CPU);
    if (!t) return NULL;
    lab_rng_shuffle_i64(rng, lab_tensor_raw(t), n);
    return t;
}
