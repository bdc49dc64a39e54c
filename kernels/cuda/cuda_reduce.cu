/* CUDA reductions (sum, max, min with the first arg-extreme) and softmax /
 * log-softmax with their backward, over x viewed as [outer, n, inner]
 * (semantics in framework/core/backend.h; conventions of
 * kernels/cpu/cpu_reduce.c: NaN wins max/min, ties give the lowest index, an
 * empty reduction gives 0 / -inf / +inf with arg -1).
 *
 * reduce, inner == 1 (contiguous rows): a warp per row when n <= 1024, a
 *   block per row otherwise; when there are too few rows to fill the GPU the
 *   rows are cut into chunks, reduced into partials (value, absolute index)
 *   and combined by a second launch.
 * reduce, inner > 1: 32x8 thread tiles, 32 adjacent columns per tile (so
 *   loads are coalesced) and 8 lanes along n; again split along n into
 *   partials when the tiles alone cannot fill the GPU.
 * Combining (value, index) pairs with "NaN first, then extreme, then lowest
 * index" is associative, so any split gives the CPU's answer for max/min;
 * sums are pairwise in f32 and agree with the CPU to rounding.
 * softmax: a warp or block per contiguous row (max, sum of exp, write), a
 *   thread per column when inner > 1.
 *
 * Tested by tests/parity/test_parity_reduce.c against the CPU backend
 * (every dim of 1-D to 4-D shapes, ties and NaN, empty dims, long rows that
 * take the split path, softmax and log-softmax forward and backward) on a GPU.
 */
#include <math.h>
#include <stdint.h>

#include "cuda_int.h"

#define NO_INDEX INT64_MAX

template <int OP> __device__ __forceinline__ float red_identity()
{
    return OP == LAB_RED_SUM ? 0.0f : (OP == LAB_RED_MAX ? -INFINITY : INFINITY);
}

/* Fold (w, j) into (v, i). */
template <int OP> __device__ __forceinline__ void red_comb(float &v, int64_t &i, float w, int64_t j)
{
    if (OP == LAB_RED_SUM) {
        v += w;
        return;
    }
    if (v != v) { /* a NaN already won: only an earlier NaN replaces it */
        if (w != w && j < i) v = w, i = j;
        return;
    }
    if (w != w) {
        v = w, i = j;
        return;
    }
    bool better = OP == LAB_RED_MAX ? w > v : w < v;
    if (better || (w == v && j < i)) v = w, i = j;
}

template <int OP> __device__ __forceinline__ void warp_comb(float &v, int64_t &i)
{
    for (int o = 16; o > 0; o >>= 1) {
        float w = __shfl_xor_sync(0xffffffffu, v, o);
        long long j = __shfl_xor_sync(0xffffffffu, (long long)i, o);
        red_comb<OP>(v, i, w, (int64_t)j);
    }
}

/* Rows: work item w = (row, chunk) covers row[c0, c1). TPR threads (32 or
 * the whole block) per item. in_i (may be NULL) gives the absolute index of
 * each input (second pass); otherwise the position in the row is the index. */
template <int OP, int TPR>
__global__ void k_red_rows(int64_t rows, int64_t n, int64_t chunks, int64_t clen, const float *x,
                           const int64_t *in_i, float *out_v, int64_t *out_i)
{
    __shared__ float sv[32];
    __shared__ int64_t si[32];
    const int per_block = blockDim.x / TPR;
    const int sub = threadIdx.x / TPR, t = threadIdx.x % TPR;
    const int64_t items = rows * chunks;
    /* Every thread of a block runs the same number of iterations (the
     * block-wide reduction has barriers). */
    for (int64_t base = (int64_t)blockIdx.x * per_block; base < items; base += (int64_t)gridDim.x * per_block) {
        int64_t w = base + sub;
        float v = red_identity<OP>();
        int64_t idx = NO_INDEX;
        if (w < items) {
            int64_t row = w / chunks, ch = w % chunks;
            int64_t c0 = ch * clen, c1 = c0 + clen < n ? c0 + clen : n;
            const float *xr = x + row * n;
            for (int64_t j = c0 + t; j < c1; j += TPR) red_comb<OP>(v, idx, xr[j], in_i ? in_i[row * n + j] : j);
        }
        warp_comb<OP>(v, idx);
        if (TPR > 32) {
            int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
            if (lane == 0) sv[warp] = v, si[warp] = idx;
            __syncthreads();
            if (warp == 0) {
                v = lane < (TPR >> 5) ? sv[lane] : red_identity<OP>();
                idx = lane < (TPR >> 5) ? si[lane] : NO_INDEX;
                warp_comb<OP>(v, idx);
            }
            __syncthreads();
        }
        if (t == 0 && w < items) {
            out_v[w] = v;
            if (out_i) out_i[w] = idx == NO_INDEX ? -1 : idx;
        }
    }
}

/* Columns: tile = (o, 32 columns), blockDim (32, 8); blockIdx.y = chunk of
 * n. Output (chunk, o, i) at out[(chunk * outer + o) * inner + i]. */
template <int OP>
__global__ void k_red_cols(int64_t outer, int64_t n, int64_t inner, int64_t clen, const float *x,
                           const int64_t *in_i, float *out_v, int64_t *out_i)
{
    __shared__ float sv[8][33];
    __shared__ int64_t si[8][33];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int64_t tpo = (inner + 31) / 32, tiles = outer * tpo;
    const int64_t ch = blockIdx.y;
    const int64_t j0 = ch * clen, j1 = j0 + clen < n ? j0 + clen : n;
    for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
        int64_t o = tile / tpo, i = (tile % tpo) * 32 + tx;
        float v = red_identity<OP>();
        int64_t idx = NO_INDEX;
        if (i < inner) {
            const float *xc = x + o * n * inner + i;
            const int64_t *ic = in_i ? in_i + o * n * inner + i : NULL;
            for (int64_t j = j0 + ty; j < j1; j += 8) red_comb<OP>(v, idx, xc[j * inner], ic ? ic[j * inner] : j);
        }
        sv[ty][tx] = v;
        si[ty][tx] = idx;
        __syncthreads();
        if (ty == 0 && i < inner) {
            for (int k = 1; k < 8; k++) red_comb<OP>(v, idx, sv[k][tx], si[k][tx]);
            int64_t at = (ch * outer + o) * inner + i;
            out_v[at] = v;
            if (out_i) out_i[at] = idx == NO_INDEX ? -1 : idx;
        }
        __syncthreads();
    }
}

/* Items the GPU wants in flight before splitting rows pays. */
static int64_t want_items(const lab_cu_dev *d) { return (int64_t)(d->sms > 0 ? d->sms : 16) * 4; }

template <int OP>
static void reduce_rows(lab_cu_dev *d, int64_t rows, int64_t n, float *y, int64_t *arg, const float *x)
{
    cudaStream_t s = d->stream;
    if (n <= 1024) {
        const int per = LAB_CU_THREADS / 32;
        k_red_rows<OP, 32><<<lab_cu_blocks(d, rows, per), LAB_CU_THREADS, 0, s>>>(rows, n, 1, n, x, NULL, y, arg);
        return;
    }
    int64_t chunks = 1, want = want_items(d);
    if (rows < want) {
        chunks = (want + rows - 1) / rows;
        int64_t most = (n + 2047) / 2048; /* at least 2048 values per chunk */
        if (chunks > most) chunks = most;
        if (chunks > 1024) chunks = 1024;
        if (chunks < 1) chunks = 1;
    }
    int64_t clen = (n + chunks - 1) / chunks;
    if (chunks == 1) {
        k_red_rows<OP, LAB_CU_THREADS><<<lab_cu_blocks(d, rows, 1), LAB_CU_THREADS, 0, s>>>(rows, n, 1, n, x, NULL, y, arg);
        return;
    }
    int64_t np = rows * chunks;
    /* Partial values, then their indices at an 8-byte boundary. */
    size_t vb = ((size_t)np * sizeof(float) + 7u) & ~(size_t)7u;
    size_t bytes = vb + (OP == LAB_RED_SUM ? 0 : (size_t)np * sizeof(int64_t));
    char *tmp = (char *)lab_cu_tmp_alloc(d, bytes);
    if (!tmp) return;
    float *pv = (float *)tmp;
    int64_t *pi = OP == LAB_RED_SUM ? NULL : (int64_t *)(tmp + vb);
    k_red_rows<OP, LAB_CU_THREADS><<<lab_cu_blocks(d, np, 1), LAB_CU_THREADS, 0, s>>>(rows, n, chunks, clen, x, NULL, pv, pi);
    /* chunks <= 1024: a warp (or block) per row over the partials. */
    if (chunks <= 32)
        k_red_rows<OP, 32><<<lab_cu_blocks(d, rows, LAB_CU_THREADS / 32), LAB_CU_THREADS, 0, s>>>(
            rows, chunks, 1, chunks, pv, pi, y, arg);
    else
        k_red_rows<OP, LAB_CU_THREADS><<<lab_cu_blocks(d, rows, 1), LAB_CU_THREADS, 0, s>>>(rows, chunks, 1, chunks, pv,
                                                                                             pi, y, arg);
    lab_cu_tmp_free(d, tmp, bytes);
}

template <int OP>
static void reduce_cols(lab_cu_dev *d, int64_t outer, int64_t n, int64_t inner, float *y, int64_t *arg, const float *x)
{
    cudaStream_t s = d->stream;
    dim3 block(32, 8, 1);
    int64_t tiles = outer * ((inner + 31) / 32), want = want_items(d) * 2;
    int64_t chunks = 1, clen = n;
    if (tiles < want && n > 256) {
        chunks = (want + tiles - 1) / tiles;
        int64_t most = (n + 255) / 256; /* at least 256 rows per chunk */
        if (chunks > most) chunks = most;
        if (chunks > 65535) chunks = 65535;
        clen = (n + chunks - 1) / chunks;
        chunks = (n + clen - 1) / clen; /* no empty trailing chunk */
    }
    unsigned bx = lab_cu_blocks(d, tiles, 1);
    if (chunks == 1) {
        k_red_cols<OP><<<dim3(bx, 1, 1), block, 0, s>>>(outer, n, inner, n, x, NULL, y, arg);
        return;
    }
    int64_t np = chunks * outer * inner;
    size_t vb = ((size_t)np * sizeof(float) + 7u) & ~(size_t)7u;
    size_t bytes = vb + (OP == LAB_RED_SUM ? 0 : (size_t)np * sizeof(int64_t));
    char *tmp = (char *)lab_cu_tmp_alloc(d, bytes);
    if (!tmp) return;
    float *pv = (float *)tmp;
    int64_t *pi = OP == LAB_RED_SUM ? NULL : (int64_t *)(tmp + vb);
    k_red_cols<OP><<<dim3(bx, (unsigned)chunks, 1), block, 0, s>>>(outer, n, inner, clen, x, NULL, pv, pi);
    /* Partials [chunks, outer*inner]: reduce along chunks. */
    int64_t m = outer * inner;
    unsigned bx2 = lab_cu_blocks(d, (m + 31) / 32, 1);
    k_red_cols<OP><<<dim3(bx2, 1, 1), block, 0, s>>>(1, chunks, m, chunks, pv, pi, y, arg);
    lab_cu_tmp_free(d, tmp, bytes);
}

template <int OP>
static void reduce_op(lab_cu_dev *d, int64_t outer, int64_t n, int64_t inner, float *y, int64_t *arg, const float *x)
{
    if (inner == 1)
        reduce_rows<OP>(d, outer, n, y, arg, x);
    else
        reduce_cols<OP>(d, outer, n, inner, y, arg, x);
}

static void cu_reduce(lab_reduce_op op, int64_t outer, int64_t n, int64_t inner, float *y, int64_t *arg,
                      const float *x)
{
    if (outer <= 0 || inner <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    if (op == LAB_RED_SUM) reduce_op<LAB_RED_SUM>(d, outer, n, inner, y, NULL, x);
    else if (op == LAB_RED_MAX) reduce_op<LAB_RED_MAX>(d, outer, n, inner, y, arg, x);
    else reduce_op<LAB_RED_MIN>(d, outer, n, inner, y, arg, x);
    LAB_CU_CHECK(d, "reduce");
}

/* --- softmax ------------------------------------------------------------------------ */

/* Sum or max over the TPR threads of one row (TPR 32: a warp; else the block). */
template <int TPR> __device__ __forceinline__ float row_sum(float v, float *sh)
{
    return TPR == 32 ? lab_cu_warp_sum(v) : lab_cu_block_sum(v, sh);
}
template <int TPR> __device__ __forceinline__ float row_max(float v, float *sh)
{
    return TPR == 32 ? lab_cu_warp_max(v) : lab_cu_block_max(v, sh);
}

template <int TPR>
__global__ void k_softmax_rows(int64_t rows, int64_t n, float *y, const float *x, int take_log)
{
    __shared__ float sh[32];
    const int per_block = blockDim.x / TPR;
    const int sub = threadIdx.x / TPR, t = threadIdx.x % TPR;
    for (int64_t base = (int64_t)blockIdx.x * per_block; base < rows; base += (int64_t)gridDim.x * per_block) {
        int64_t r = base + sub;
        bool live = r < rows;
        const float *xr = x + (live ? r : 0) * n;
        float *yr = y + (live ? r : 0) * n;
        float m = -INFINITY;
        if (live)
            for (int64_t j = t; j < n; j += TPR) m = xr[j] > m ? xr[j] : m;
        m = row_max<TPR>(m, sh);
        float s = 0.0f;
        if (live)
            for (int64_t j = t; j < n; j += TPR) s += expf(xr[j] - m);
        s = row_sum<TPR>(s, sh);
        if (!live) continue;
        if (take_log) {
            float ls = logf(s);
            for (int64_t j = t; j < n; j += TPR) yr[j] = (xr[j] - m) - ls;
        } else {
            float rs = 1.0f / s;
            for (int64_t j = t; j < n; j += TPR) yr[j] = expf(xr[j] - m) * rs;
        }
    }
}

__global__ void k_softmax_cols(int64_t outer, int64_t n, int64_t inner, float *y, const float *x, int take_log)
{
    LAB_CU_LOOP(c, outer * inner)
    {
        int64_t o = c / inner, i = c % inner;
        const float *xc = x + o * n * inner + i;
        float *yc = y + o * n * inner + i;
        float m = -INFINITY, s = 0.0f;
        for (int64_t j = 0; j < n; j++) m = xc[j * inner] > m ? xc[j * inner] : m;
        for (int64_t j = 0; j < n; j++) s += expf(xc[j * inner] - m);
        if (take_log) {
            float ls = logf(s);
            for (int64_t j = 0; j < n; j++) yc[j * inner] = (xc[j * inner] - m) - ls;
        } else {
            float rs = 1.0f / s;
            for (int64_t j = 0; j < n; j++) yc[j * inner] = expf(xc[j * inner] - m) * rs;
        }
    }
}

static void cu_softmax(int64_t outer, int64_t n, int64_t inner, float *y, const float *x, int take_log)
{
    if (outer <= 0 || n <= 0 || inner <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    cudaStream_t s = d->stream;
    if (inner == 1 && n <= 1024)
        k_softmax_rows<32><<<lab_cu_blocks(d, outer, LAB_CU_THREADS / 32), LAB_CU_THREADS, 0, s>>>(outer, n, y, x, take_log);
    else if (inner == 1)
        k_softmax_rows<LAB_CU_THREADS><<<lab_cu_blocks(d, outer, 1), LAB_CU_THREADS, 0, s>>>(outer, n, y, x, take_log);
    else
        k_softmax_cols<<<lab_cu_blocks(d, outer * inner, LAB_CU_THREADS), LAB_CU_THREADS, 0, s>>>(outer, n, inner, y, x,
                                                                                                  take_log);
    LAB_CU_CHECK(d, "softmax");
}

/* softmax:     gx = y * (gy - sum(gy * y))
 * log_softmax: gx = gy - exp(y) * sum(gy) */
template <int TPR>
__global__ void k_softmax_bw_rows(int64_t rows, int64_t n, float *gx, const float *gy, const float *y, int take_log)
{
    __shared__ float sh[32];
    const int per_block = blockDim.x / TPR;
    const int sub = threadIdx.x / TPR, t = threadIdx.x % TPR;
    for (int64_t base = (int64_t)blockIdx.x * per_block; base < rows; base += (int64_t)gridDim.x * per_block) {
        int64_t r = base + sub;
        bool live = r < rows;
        int64_t off = (live ? r : 0) * n;
        float s = 0.0f;
        if (live)
            for (int64_t j = t; j < n; j += TPR) s += take_log ? gy[off + j] : gy[off + j] * y[off + j];
        s = row_sum<TPR>(s, sh);
        if (!live) continue;
        for (int64_t j = t; j < n; j += TPR)
            gx[off + j] = take_log ? __fsub_rn(gy[off + j], __fmul_rn(expf(y[off + j]), s))
                                   : y[off + j] * (gy[off + j] - s);
    }
}

__global__ void k_softmax_bw_cols(int64_t outer, int64_t n, int64_t inner, float *gx, const float *gy, const float *y,
                                  int take_log)
{
    LAB_CU_LOOP(c, outer * inner)
    {
        int64_t o = c / inner, i = c % inner, base = o * n * inner + i;
        float s = 0.0f;
        for (int64_t j = 0; j < n; j++) {
            int64_t k = base + j * inner;
            s += take_log ? gy[k] : gy[k] * y[k];
        }
        for (int64_t j = 0; j < n; j++) {
            int64_t k = base + j * inner;
            gx[k] = take_log ? __fsub_rn(gy[k], __fmul_rn(expf(y[k]), s)) : y[k] * (gy[k] - s);
        }
    }
}

static void cu_softmax_backward(int64_t outer, int64_t n, int64_t inner, float *gx, const float *gy, const float *y,
                                int take_log)
{
    if (outer <= 0 || n <= 0 || inner <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(gx);
    cudaStream_t s = d->stream;
    if (inner == 1 && n <= 1024)
        k_softmax_bw_rows<32><<<lab_cu_blocks(d, outer, LAB_CU_THREADS / 32), LAB_CU_THREADS, 0, s>>>(outer, n, gx, gy, y,
                                                                                                       take_log);
    else if (inner == 1)
        k_softmax_bw_rows<LAB_CU_THREADS><<<lab_cu_blocks(d, outer, 1), LAB_CU_THREADS, 0, s>>>(outer, n, gx, gy, y,
                                                                                                 take_log);
    else
        k_softmax_bw_cols<<<lab_cu_blocks(d, outer * inner, LAB_CU_THREADS), LAB_CU_THREADS, 0, s>>>(outer, n, inner, gx,
                                                                                                     gy, y, take_log);
    LAB_CU_CHECK(d, "softmax_backward");
}

void lab_cu_install_reduce(lab_backend *be)
{
    be->reduce = cu_reduce;
    be->softmax = cu_softmax;
    be->softmax_backward = cu_softmax_backward;
}
