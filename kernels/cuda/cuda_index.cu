/* CUDA index primitives: index_select, index_add, gather, scatter_add,
 * one_hot and segment_reduce (semantics in framework/core/backend.h; the CPU
 * versions are kernels/cpu/cpu_index.c and cpu_sparse.c).
 *
 * Copies (index_select, gather, one_hot) are a thread per output element.
 * Accumulations (index_add, scatter_add, segment SUM) are a thread per
 * source element with atomicAdd: the sum of one output element is then
 * formed in an unspecified order, so results match the CPU to rounding, not
 * bitwise, whenever indices repeat.
 * Segment MAX/MIN pack (value, row) into one 64-bit key whose unsigned order
 * is "larger value first, then lower row" (MAX) or "smaller value, then
 * lower row" (MIN) and use atomicMax/atomicMin; a finishing pass decodes the
 * winning row and reads its value back, so the result (value and arg) equals
 * the CPU's: the first row holding the extreme, -1 and 0 for an empty
 * segment. NaN inputs are not ordered as on the CPU (documented limit), and
 * rows are limited to 2^32 per call.
 * Indices are validated by the ops through check_index, which runs on the
 * stream (below) and reports at the next wait for the device; the kernels
 * therefore skip out-of-range entries rather than touch memory outside the
 * tensors.
 *
 * Tested by tests/parity/test_parity_index.c (index_select/embedding,
 * gather, scatter_add, one_hot, segment sum/mean/max, with repeated indices
 * and empty segments, forward and backward) against the CPU, on a GPU.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_int.h"
#include "lab/error.h"

/* --- index checks ---------------------------------------------------------------------
 *
 * A host bounds check of a device index tensor costs a copy and a wait for
 * the stream per op, which makes small training steps launch-bound. So the
 * check is a kernel: every thread that finds an entry outside [0, limit)
 * lowers one 64-bit key, (check number << 40) | position, with atomicMin,
 * so the key ends at the first bad position of the earliest failing check.
 * The last block of a launch (a counter in the record tells which) reads the
 * key; if its own check holds it, it reads the bad value while the index
 * tensor is certainly still alive and writes key and value to pinned host
 * memory mapped into the device. Nothing waits. Whenever the host waits for
 * the stream anyway (copy to host, synchronize), lab_cu_wait looks at that
 * host record and turns it into the waiting thread's error, with the op
 * named from a small host ring of recent checks; then re-arms the key.
 * With LAB_CUDA_DEBUG the check waits at once and fails at the op. */

#define POS_BITS 40
#define POS_MASK ((1ull << POS_BITS) - 1)
#define SEQ_MOD ((1u << (64 - POS_BITS)) - 1) /* keeps a key != ~0, the "none" mark */
#define RING 256
#define KEY_NONE 0xFFFFFFFFFFFFFFFFull

typedef struct {
    unsigned long long key;
    unsigned int done; /* blocks finished in the current launch */
    unsigned int pad;
} fault_rec;

typedef struct {
    unsigned long long key; /* KEY_NONE, or the failing key */
    long long value;
} fault_out;

typedef struct {
    unsigned seq;
    int64_t limit;
    char op[48];
    char what[16];
} check_desc;

struct lab_cu_checks {
    pthread_mutex_t lock;
    unsigned next_seq;
    check_desc ring[RING];
    fault_rec *rec;            /* device memory */
    volatile fault_out *out;   /* pinned host memory... */
    fault_out *out_dev;        /* ...as the device sees it */
};

__global__ void k_check_index(const int64_t *idx, int64_t n, int64_t limit, unsigned long long tag, fault_rec *rec,
                              fault_out *out)
{
    LAB_CU_LOOP(i, n)
    {
        int64_t v = idx[i];
        if (v < 0 || v >= limit) {
            unsigned long long pos = (unsigned long long)i < POS_MASK ? (unsigned long long)i : POS_MASK;
            atomicMin(&rec->key, tag | pos);
        }
    }
    __shared__ int last;
    __threadfence(); /* this block's atomicMin before its count below */
    __syncthreads();
    if (threadIdx.x == 0) last = atomicAdd(&rec->done, 1u) == gridDim.x - 1;
    __syncthreads();
    if (!last || threadIdx.x != 0) return;
    __threadfence(); /* acquire: the other blocks' atomicMin before the read */
    unsigned long long k = atomicAdd(&rec->key, 0ull); /* every block's minimum is in */
    rec->done = 0;                                     /* for the next launch, which is queued behind us */
    if (k == KEY_NONE || (k & ~POS_MASK) != tag) return;
    unsigned long long pos = k & POS_MASK;
    out->value = pos < POS_MASK ? (long long)idx[pos] : 0;
    __threadfence_system(); /* the value is visible before the key that announces it */
    out->key = k;
}

int lab_cu_index_init(lab_cu_dev *d, char *why, size_t len)
{
    lab_cu_checks *c = (lab_cu_checks *)calloc(1, sizeof *c);
    if (!c) {
        snprintf(why, len, "cuda: out of host memory for the index checks");
        return -1;
    }
    pthread_mutex_init(&c->lock, NULL);
    void *h = NULL;
    cudaError_t e = cudaMalloc((void **)&c->rec, sizeof(fault_rec));
    if (e == cudaSuccess) e = cudaHostAlloc(&h, sizeof(fault_out), cudaHostAllocMapped);
    if (e == cudaSuccess) {
        c->out = (volatile fault_out *)h;
        c->out->key = KEY_NONE;
        c->out->value = 0;
        e = cudaHostGetDevicePointer((void **)&c->out_dev, h, 0);
    }
    if (e == cudaSuccess) e = cudaMemsetAsync(c->rec, 0xFF, sizeof(unsigned long long), d->stream);
    if (e == cudaSuccess) e = cudaMemsetAsync(&c->rec->done, 0, sizeof(unsigned int), d->stream);
    if (e == cudaSuccess) e = cudaStreamSynchronize(d->stream);
    if (e != cudaSuccess) {
        snprintf(why, len, "cuda: could not set up the index checks: %s", cudaGetErrorString(e));
        cudaGetLastError();
        if (h) cudaFreeHost(h);
        if (c->rec) cudaFree(c->rec);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return -1;
    }
    d->checks = c;
    return 0;
}

void lab_cu_index_free(lab_cu_dev *d)
{
    lab_cu_checks *c = d->checks;
    if (!c) return;
    cudaFreeHost((void *)c->out);
    cudaFree(c->rec);
    cudaGetLastError();
    pthread_mutex_destroy(&c->lock);
    free(c);
    d->checks = NULL;
}

/* With c->lock held and the stream idle: turns a recorded fault into the
 * calling thread's error and re-arms the record. */
static int poll_locked(lab_cu_dev *d, lab_cu_checks *c)
{
    unsigned long long k = c->out->key;
    if (k == KEY_NONE) return 0;
    long long value = c->out->value;
    unsigned seq = (unsigned)(k >> POS_BITS);
    unsigned long long pos = k & POS_MASK;
    const check_desc *cd = &c->ring[seq % RING];
    int rc;
    if (cd->seq == seq && pos < POS_MASK)
        rc = lab_error_set("%s: %s %lld at position %llu is out of range [0, %lld) (cuda:%d checks indices on the "
                           "device and reports at the next wait; LAB_CUDA_DEBUG=1 stops at the op)",
                           cd->op, cd->what, value, pos, (long long)cd->limit, d->index);
    else /* more than RING checks queued since the failing one */
        rc = lab_error_set("cuda:%d: an index op was given an out-of-range index (position %llu); run with "
                           "LAB_CUDA_DEBUG=1 to stop at the op",
                           d->index, pos);
    c->out->key = KEY_NONE;
    cudaError_t e = cudaMemsetAsync(c->rec, 0xFF, sizeof(unsigned long long), d->stream);
    if (e != cudaSuccess) {
        cudaGetLastError();
        lab_cu_fail("cuda:%d: could not re-arm the index checks: %s", d->index, cudaGetErrorString(e));
    }
    return rc;
}

int lab_cu_wait(lab_cu_dev *d, cudaError_t *err)
{
    lab_cu_checks *c = d->checks;
    /* Held from the wait to the re-arm: a check queued by another thread
     * after the wait but before the re-arm could otherwise lose its fault
     * (its tag would not win the atomicMin, then the re-arm erases it). */
    if (c) pthread_mutex_lock(&c->lock);
    cudaError_t e = cudaStreamSynchronize(d->stream);
    int rc = e == cudaSuccess && c ? poll_locked(d, c) : 0;
    if (c) pthread_mutex_unlock(&c->lock);
    *err = e;
    return rc;
}

static int cu_check_index(int dev, const int64_t *idx, int64_t n, int64_t limit, const char *op, const char *what)
{
    if (n <= 0) return 0;
    lab_cu_dev *d = lab_cu_dev_at(dev);
    if (!d) return -1;
    lab_cu_checks *c = d->checks;
    pthread_mutex_lock(&c->lock);
    unsigned seq = c->next_seq;
    c->next_seq = (seq + 1) % SEQ_MOD;
    check_desc *cd = &c->ring[seq % RING];
    cd->seq = seq;
    cd->limit = limit;
    snprintf(cd->op, sizeof cd->op, "%s", op);
    snprintf(cd->what, sizeof cd->what, "%s", what);
    /* Launched under the lock: with several host threads, check numbers
     * reach the stream in order, so "earliest" means first queued. */
    k_check_index<<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(
        idx, n, limit, (unsigned long long)seq << POS_BITS, c->rec, c->out_dev);
    pthread_mutex_unlock(&c->lock);
    LAB_CU_CHECK(d, "check_index");
    if (!lab_cu_debug()) return 0;
    cudaError_t e;
    if (lab_cu_wait(d, &e) < 0) return -1;
    if (e != cudaSuccess) {
        cudaGetLastError();
        return lab_error_set("cuda:%d: a queued kernel failed: %s", dev, cudaGetErrorString(e));
    }
    return lab_cu_take_error();
}

/* y[o, j, i] = x[o, idx[j], i], j < nidx. */
__global__ void k_index_select(int64_t outer, int64_t n, int64_t inner, float *y, const float *x, const int64_t *idx,
                               int64_t nidx)
{
    LAB_CU_LOOP(e, outer * nidx * inner)
    {
        int64_t i = e % inner, r = e / inner, j = r % nidx, o = r / nidx;
        int64_t k = idx[j];
        y[e] = (k >= 0 && k < n) ? x[(o * n + k) * inner + i] : 0.0f;
    }
}

static void cu_index_select(int64_t outer, int64_t n, int64_t inner, float *y, const float *x, const int64_t *idx,
                            int64_t nidx)
{
    int64_t total = outer * nidx * inner;
    if (total <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    k_index_select<<<lab_cu_blocks(d, total, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(outer, n, inner, y, x,
                                                                                              idx, nidx);
    LAB_CU_CHECK(d, "index_select");
}

/* y[o, idx[j], i] += src[o, j, i]. */
__global__ void k_index_add(int64_t outer, int64_t n, int64_t inner, float *y, const float *src, const int64_t *idx,
                            int64_t nidx)
{
    LAB_CU_LOOP(e, outer * nidx * inner)
    {
        int64_t i = e % inner, r = e / inner, j = r % nidx, o = r / nidx;
        int64_t k = idx[j];
        if (k >= 0 && k < n) atomicAdd(y + (o * n + k) * inner + i, src[e]);
    }
}

static void cu_index_add(int64_t outer, int64_t n, int64_t inner, float *y, const float *src, const int64_t *idx,
                         int64_t nidx)
{
    int64_t total = outer * nidx * inner;
    if (total <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    k_index_add<<<lab_cu_blocks(d, total, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(outer, n, inner, y, src, idx,
                                                                                           nidx);
    LAB_CU_CHECK(d, "index_add");
}

/* y[o, j, i] = x[o, idx[o, j, i], i], y and idx [outer, m, inner]. */
__global__ void k_gather(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y, const float *x,
                         const int64_t *idx)
{
    LAB_CU_LOOP(e, outer * m * inner)
    {
        int64_t i = e % inner, o = e / (m * inner);
        int64_t k = idx[e];
        y[e] = (k >= 0 && k < n) ? x[(o * n + k) * inner + i] : 0.0f;
    }
}

static void cu_gather(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y, const float *x, const int64_t *idx)
{
    int64_t total = outer * m * inner;
    if (total <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    k_gather<<<lab_cu_blocks(d, total, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(outer, n, inner, m, y, x, idx);
    LAB_CU_CHECK(d, "gather");
}

/* y[o, idx[o, j, i], i] += src[o, j, i]. */
__global__ void k_scatter_add(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y, const float *src,
                              const int64_t *idx)
{
    LAB_CU_LOOP(e, outer * m * inner)
    {
        int64_t i = e % inner, o = e / (m * inner);
        int64_t k = idx[e];
        if (k >= 0 && k < n) atomicAdd(y + (o * n + k) * inner + i, src[e]);
    }
}

static void cu_scatter_add(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y, const float *src,
                           const int64_t *idx)
{
    int64_t total = outer * m * inner;
    if (total <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    k_scatter_add<<<lab_cu_blocks(d, total, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(outer, n, inner, m, y, src,
                                                                                             idx);
    LAB_CU_CHECK(d, "scatter_add");
}

__global__ void k_one_hot(int64_t nidx, int64_t classes, float *y, const int64_t *idx)
{
    LAB_CU_LOOP(j, nidx)
    {
        int64_t k = idx[j];
        if (k >= 0 && k < classes) y[j * classes + k] = 1.0f;
    }
}

static void cu_one_hot(int64_t nidx, int64_t classes, float *y, const int64_t *idx)
{
    if (nidx <= 0 || classes <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    cudaError_t e = cudaMemsetAsync(y, 0, (size_t)(nidx * classes) * sizeof(float), d->stream);
    if (e != cudaSuccess) {
        lab_cu_fail("cuda: one_hot failed: %s", cudaGetErrorString(e));
        return;
    }
    k_one_hot<<<lab_cu_blocks(d, nidx, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(nidx, classes, y, idx);
    LAB_CU_CHECK(d, "one_hot");
}

/* --- segments ------------------------------------------------------------------------ */

__global__ void k_seg_sum(int64_t n, int64_t f, float *y, const float *x, const int64_t *seg, int64_t nseg)
{
    LAB_CU_LOOP(e, n * f)
    {
        int64_t r = e / f, c = e - r * f, s = seg[r];
        if (s >= 0 && s < nseg) atomicAdd(y + s * f + c, x[e]);
    }
}

/* Unsigned order of floats: a < b as floats (not NaN) iff ord(a) < ord(b).
 * -0 is folded onto +0 so that the two tie, as they compare equal. */
__device__ __forceinline__ uint32_t ord_f(float v)
{
    uint32_t u = __float_as_uint(v == 0.0f ? 0.0f : v);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

#define SEG_EMPTY_MAX 0ull
#define SEG_EMPTY_MIN 0xFFFFFFFFFFFFFFFFull

template <int IS_MAX>
__global__ void k_seg_ext(int64_t n, int64_t f, unsigned long long *key, const float *x, const int64_t *seg, int64_t nseg)
{
    LAB_CU_LOOP(e, n * f)
    {
        int64_t r = e / f, c = e - r * f, s = seg[r];
        if (s < 0 || s >= nseg) continue;
        unsigned long long hi = (unsigned long long)ord_f(x[e]) << 32;
        if (IS_MAX)
            atomicMax(key + s * f + c, hi | (unsigned long long)(0xFFFFFFFFu - (uint32_t)r));
        else
            atomicMin(key + s * f + c, hi | (unsigned long long)(uint32_t)r);
    }
}

template <int IS_MAX>
__global__ void k_seg_finish(int64_t nseg, int64_t f, float *y, int64_t *arg, const unsigned long long *key,
                             const float *x)
{
    LAB_CU_LOOP(e, nseg * f)
    {
        unsigned long long k = key[e];
        if (k == (IS_MAX ? SEG_EMPTY_MAX : SEG_EMPTY_MIN)) {
            y[e] = 0.0f;
            if (arg) arg[e] = -1;
            continue;
        }
        uint32_t lo = (uint32_t)(k & 0xFFFFFFFFull);
        int64_t r = IS_MAX ? (int64_t)(0xFFFFFFFFu - lo) : (int64_t)lo;
        int64_t c = e % f;
        y[e] = x[r * f + c]; /* the row's own value (keeps the sign of a zero) */
        if (arg) arg[e] = r;
    }
}

static void cu_segment_reduce(lab_reduce_op op, int64_t n, int64_t f, float *y, int64_t *arg, const float *x,
                              const int64_t *seg, int64_t nseg)
{
    int64_t total = nseg * f;
    if (total <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    cudaStream_t s = d->stream;
    unsigned nb = lab_cu_blocks(d, n * f, LAB_CU_THREADS), ns = lab_cu_blocks(d, total, LAB_CU_THREADS);
    if (op == LAB_RED_SUM) {
        cudaError_t e = cudaMemsetAsync(y, 0, (size_t)total * sizeof(float), s);
        if (e != cudaSuccess) {
            lab_cu_fail("cuda: segment_reduce failed: %s", cudaGetErrorString(e));
            return;
        }
        if (n > 0) k_seg_sum<<<nb, LAB_CU_THREADS, 0, s>>>(n, f, y, x, seg, nseg);
        LAB_CU_CHECK(d, "segment_reduce");
        return;
    }
    if (n > (int64_t)0xFFFFFFFFll) {
        lab_cu_fail("cuda: segment max/min over %lld rows: at most 2^32 rows per call", (long long)n);
        return;
    }
    int is_max = op == LAB_RED_MAX;
    size_t bytes = (size_t)total * sizeof(unsigned long long);
    unsigned long long *key = (unsigned long long *)lab_cu_tmp_alloc(d, bytes);
    if (!key) return;
    /* Empty marks: all-zero bytes for max, all-one bytes for min. */
    cudaMemsetAsync(key, is_max ? 0 : 0xFF, bytes, s);
    if (is_max) {
        if (n > 0) k_seg_ext<1><<<nb, LAB_CU_THREADS, 0, s>>>(n, f, key, x, seg, nseg);
        k_seg_finish<1><<<ns, LAB_CU_THREADS, 0, s>>>(nseg, f, y, arg, key, x);
    } else {
        if (n > 0) k_seg_ext<0><<<nb, LAB_CU_THREADS, 0, s>>>(n, f, key, x, seg, nseg);
        k_seg_finish<0><<<ns, LAB_CU_THREADS, 0, s>>>(nseg, f, y, arg, key, x);
    }
    lab_cu_tmp_free(d, key, bytes);
    LAB_CU_CHECK(d, "segment_reduce");
}

void lab_cu_install_index(lab_backend *be)
{
    be->index_select = cu_index_select;
    be->index_add = cu_index_add;
    be->gather = cu_gather;
    be->scatter_add = cu_scatter_add;
    be->one_hot = cu_one_hot;
    be->segment_reduce = cu_segment_reduce;
    be->check_index = cu_check_index;
}
