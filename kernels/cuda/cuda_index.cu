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
 * Indices are validated by the ops; the kernels still skip out-of-range ones
 * rather than touch memory outside the tensors.
 *
 * Tested by tests/parity/test_parity_index.c (index_select/embedding,
 * gather, scatter_add, one_hot, segment sum/mean/max, with repeated indices
 * and empty segments, forward and backward) against the CPU, on a GPU.
 */
#include <math.h>
#include <stdint.h>

#include "cuda_int.h"

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
}
