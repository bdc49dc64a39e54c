/* CUDA elementwise primitives: fill, cast, unary maps and their derivatives,
 * broadcasting binary ops, where, strided copies, gradient accumulation and
 * the rotary position embedding (semantics in framework/core/backend.h, formulas copied from
 * kernels/cpu/cpu_elementwise.c so both backends agree).
 *
 * Strided operands go through one host-side simplification, as on the CPU:
 * size-1 dims are dropped and adjacent dims every operand walks contiguously
 * are merged. What remains picks the kernel:
 *   1 dim   a flat loop with per-operand stride 0 or 1 (same shape, scalar
 *           operand); contiguous f32 operands use 16-byte loads;
 *   2 dims  a 2-D grid (rows x columns), no index division: the bias add
 *           [N, C] + [C] and the per-row scalar [N, C] * [N, 1];
 *   more    a grid-stride loop that decomposes the flat index, in 32-bit
 *           arithmetic when every offset fits (64-bit otherwise).
 * Arithmetic that is a single IEEE operation (add, sub, mul, div, compare,
 * select) gives the CPU's bits exactly; where a product feeds a sum, the
 * code uses __fmul_rn/__fadd_rn so nvcc does not fuse them into an FMA the
 * CPU does not do. Transcendentals (expf, erfcf, ...) differ from glibc by a
 * few ulp.
 *
 * Tested by tests/parity/test_parity_elementwise.c (every unary op forward
 * and backward, every binary op with broadcasting, where, transpose/concat
 * copies, accumulate, large and empty tensors) against the CPU backend, on a
 * GPU; benchmarked by tests/bench/bench_gpu.c (fused elementwise bandwidth).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "cuda_int.h"

/* --- operand iterator ---------------------------------------------------------- */

template <int NOP> struct cu_iter {
    int nd;
    int64_t shape[LAB_MAX_DIMS];
    int64_t st[NOP][LAB_MAX_DIMS];
};

/* Drops size-1 dims and merges dims every operand walks contiguously.
 * Returns the element count; *small is set when the count and every
 * operand's largest offset fit in 31 bits (32-bit index math is safe). */
template <int NOP>
static int64_t it_init(cu_iter<NOP> *it, int ndim, const int64_t *shape, const int64_t *const *strides,
                       int *small)
{
    int nd = 0;
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        if (nd > 0) {
            int merge = 1;
            for (int k = 0; k < NOP; k++)
                if (it->st[k][nd - 1] != strides[k][d] * shape[d]) merge = 0;
            if (merge) {
                it->shape[nd - 1] *= shape[d];
                for (int k = 0; k < NOP; k++) it->st[k][nd - 1] = strides[k][d];
                continue;
            }
        }
        it->shape[nd] = shape[d];
        for (int k = 0; k < NOP; k++) it->st[k][nd] = strides[k][d];
        nd++;
    }
    if (nd == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < NOP; k++) it->st[k][0] = 0;
        nd = 1;
    }
    it->nd = nd;
    int fits = n < ((int64_t)1 << 31);
    for (int k = 0; k < NOP && fits; k++) {
        int64_t top = 0;
        for (int d = 0; d < nd; d++) top += (it->shape[d] - 1) * it->st[k][d];
        if (top >= ((int64_t)1 << 31)) fits = 0;
    }
    *small = fits;
    return n;
}

/* Offsets of flat index i (row-major over it.shape) for every operand. */
template <typename I, int NOP>
__device__ __forceinline__ void it_offsets(const cu_iter<NOP> &it, I i, I *off)
{
#pragma unroll
    for (int k = 0; k < NOP; k++) off[k] = 0;
#pragma unroll
    for (int d = LAB_MAX_DIMS - 1; d >= 0; d--) {
        if (d < it.nd) {
            I s = (I)it.shape[d];
            I c = i % s;
            i /= s;
#pragma unroll
            for (int k = 0; k < NOP; k++) off[k] += c * (I)it.st[k][d];
        }
    }
}

/* 2-D launch: x over columns, y over rows, at most ~32 blocks per SM. */
static dim3 grid_2d(const lab_cu_dev *d, int64_t rows, int64_t cols)
{
    int64_t bx = (cols + LAB_CU_THREADS - 1) / LAB_CU_THREADS;
    int64_t cap = (int64_t)(d->sms > 0 ? d->sms : 16) * 32;
    if (bx > cap) bx = cap;
    int64_t by = cap / bx;
    if (by > rows) by = rows;
    if (by > 65535) by = 65535;
    if (by < 1) by = 1;
    return dim3((unsigned)bx, (unsigned)by, 1);
}

#define LOOP_2D(r, c, R, C)                                                                        \
    for (int64_t r = blockIdx.y; r < (R); r += gridDim.y)                                          \
        for (int64_t c = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; c < (C);                  \
             c += (int64_t)blockDim.x * gridDim.x)

/* The 2-D path pays off when rows are long enough to fill a warp. */
#define MIN_2D_COLS 64

static int aligned16(const void *p) { return ((uintptr_t)p & 15u) == 0; }

/* --- fill and cast -------------------------------------------------------------------- */

template <typename T> __global__ void k_fill(T *y, int64_t n, T v)
{
    LAB_CU_LOOP(i, n) y[i] = v;
}

static void cu_fill(void *y, lab_dtype dt, int64_t n, double value)
{
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    unsigned nb = lab_cu_blocks(d, n, LAB_CU_THREADS);
    switch (dt) {
    case LAB_F32: {
        float v = (float)value;
        if (v == 0.0f && !signbit(v)) {
            cudaError_t e = cudaMemsetAsync(y, 0, (size_t)n * 4, d->stream);
            if (e != cudaSuccess) lab_cu_fail("cuda: fill of %lld floats failed: %s", (long long)n, cudaGetErrorString(e));
            return;
        }
        k_fill<float><<<nb, LAB_CU_THREADS, 0, d->stream>>>((float *)y, n, v);
        break;
    }
    case LAB_I32: k_fill<int32_t><<<nb, LAB_CU_THREADS, 0, d->stream>>>((int32_t *)y, n, (int32_t)value); break;
    case LAB_I64: k_fill<int64_t><<<nb, LAB_CU_THREADS, 0, d->stream>>>((int64_t *)y, n, (int64_t)value); break;
    }
    LAB_CU_CHECK(d, "fill");
}

template <typename Y, typename X> __global__ void k_cast(Y *y, const X *x, int64_t n)
{
    LAB_CU_LOOP(i, n) y[i] = (Y)x[i];
}

static void cu_cast(void *y, lab_dtype ydt, const void *x, lab_dtype xdt, int64_t n)
{
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    if (ydt == xdt) {
        if (y == x) return;
        cudaError_t e = cudaMemcpyAsync(y, x, (size_t)n * (ydt == LAB_I64 ? 8 : 4), cudaMemcpyDeviceToDevice, d->stream);
        if (e != cudaSuccess) lab_cu_fail("cuda: cast copy failed: %s", cudaGetErrorString(e));
        return;
    }
    unsigned nb = lab_cu_blocks(d, n, LAB_CU_THREADS);
    cudaStream_t s = d->stream;
    /* Float to integer truncates toward zero like C; out-of-range values
     * saturate on the GPU where the CPU gives INT_MIN (undefined in C). */
    if (ydt == LAB_F32 && xdt == LAB_I32) k_cast<float, int32_t><<<nb, LAB_CU_THREADS, 0, s>>>((float *)y, (const int32_t *)x, n);
    else if (ydt == LAB_F32 && xdt == LAB_I64) k_cast<float, int64_t><<<nb, LAB_CU_THREADS, 0, s>>>((float *)y, (const int64_t *)x, n);
    else if (ydt == LAB_I32 && xdt == LAB_F32) k_cast<int32_t, float><<<nb, LAB_CU_THREADS, 0, s>>>((int32_t *)y, (const float *)x, n);
    else if (ydt == LAB_I32 && xdt == LAB_I64) k_cast<int32_t, int64_t><<<nb, LAB_CU_THREADS, 0, s>>>((int32_t *)y, (const int64_t *)x, n);
    else if (ydt == LAB_I64 && xdt == LAB_F32) k_cast<int64_t, float><<<nb, LAB_CU_THREADS, 0, s>>>((int64_t *)y, (const float *)x, n);
    else if (ydt == LAB_I64 && xdt == LAB_I32) k_cast<int64_t, int32_t><<<nb, LAB_CU_THREADS, 0, s>>>((int64_t *)y, (const int32_t *)x, n);
    else return;
    LAB_CU_CHECK(d, "cast");
}

/* --- unary ------------------------------------------------------------------------ */

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

/* cpu_math.h's lab_cpu_sigmoidf: e^x / (1 + e^x) below 0, so the tail stays
 * exact (sigmoid(-90) is a subnormal, not 0, and log of it is finite). */
__device__ __forceinline__ float sigmoid_f(float x)
{
    float e = expf(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return x < 0.0f ? e * s : s;
}

template <int OP> __device__ __forceinline__ float un_f(float v, float p0, float p1)
{
    switch (OP) {
    case LAB_UN_NEG: return -v;
    case LAB_UN_EXP: return expf(v);
    case LAB_UN_LOG: return logf(v);
    case LAB_UN_SQRT: return sqrtf(v);
    case LAB_UN_RSQRT: return 1.0f / sqrtf(v);
    case LAB_UN_ABS: return fabsf(v);
    case LAB_UN_SQUARE: return v * v;
    case LAB_UN_SIN: return sinf(v);
    case LAB_UN_COS: return cosf(v);
    case LAB_UN_RELU: return v < 0.0f ? 0.0f : v; /* NaN propagates */
    case LAB_UN_LEAKY_RELU: return v < 0.0f ? p0 * v : v;
    /* 1 + erf(x/sqrt2) as erfc(-x/sqrt2), as the CPU: no cancellation for x < 0. */
    case LAB_UN_GELU: return 0.5f * v * erfcf(-v * INV_SQRT2);
    case LAB_UN_SILU: return v * sigmoid_f(v);
    case LAB_UN_TANH: return tanhf(v);
    case LAB_UN_SIGMOID: return sigmoid_f(v);
    case LAB_UN_SOFTPLUS: return v > 20.0f ? v : log1pf(expf(v));
    case LAB_UN_POW:
        /* The CPU's exact special cases, so squares and roots match it. */
        if (p0 == 2.0f) return v * v;
        if (p0 == 1.0f) return v;
        if (p0 == 0.5f) return sqrtf(v);
        if (p0 == -1.0f) return 1.0f / v;
        return powf(v, p0);
    case LAB_UN_CLAMP: return v < p0 ? p0 : (v > p1 ? p1 : v);
    case LAB_UN_AFFINE: return __fadd_rn(__fmul_rn(p0, v), p1);
    default: return v;
    }
}

template <int OP> __global__ void k_unary(int64_t n, float *y, const float *x, float p0, float p1)
{
    LAB_CU_LOOP(i, n) y[i] = un_f<OP>(x[i], p0, p1);
}

/* y may alias x: each thread reads its four values before writing them. */
template <int OP> __global__ void k_unary4(int64_t n4, float4 *y, const float4 *x, float p0, float p1)
{
    LAB_CU_LOOP(i, n4)
    {
        float4 v = x[i];
        v.x = un_f<OP>(v.x, p0, p1);
        v.y = un_f<OP>(v.y, p0, p1);
        v.z = un_f<OP>(v.z, p0, p1);
        v.w = un_f<OP>(v.w, p0, p1);
        y[i] = v;
    }
}

template <int OP> static void unary_launch(lab_cu_dev *d, int64_t n, float *y, const float *x, float p0, float p1)
{
    int64_t head = 0;
    if (aligned16(y) && aligned16(x) && n >= 4) {
        int64_t n4 = n / 4;
        k_unary4<OP><<<lab_cu_blocks(d, n4, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(
            n4, (float4 *)y, (const float4 *)x, p0, p1);
        head = n4 * 4;
    }
    if (head < n)
        k_unary<OP><<<lab_cu_blocks(d, n - head, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(
            n - head, y + head, x + head, p0, p1);
    LAB_CU_CHECK(d, "unary");
}

#define UN_CASE(OP)                                                                                \
    case OP: unary_launch<OP>(d, n, y, x, p0, p1); break

static void cu_unary(lab_unary_op op, int64_t n, float *y, const float *x, float p0, float p1)
{
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    switch (op) {
        UN_CASE(LAB_UN_NEG);
        UN_CASE(LAB_UN_EXP);
        UN_CASE(LAB_UN_LOG);
        UN_CASE(LAB_UN_SQRT);
        UN_CASE(LAB_UN_RSQRT);
        UN_CASE(LAB_UN_ABS);
        UN_CASE(LAB_UN_SQUARE);
        UN_CASE(LAB_UN_SIN);
        UN_CASE(LAB_UN_COS);
        UN_CASE(LAB_UN_RELU);
        UN_CASE(LAB_UN_LEAKY_RELU);
        UN_CASE(LAB_UN_GELU);
        UN_CASE(LAB_UN_SILU);
        UN_CASE(LAB_UN_TANH);
        UN_CASE(LAB_UN_SIGMOID);
        UN_CASE(LAB_UN_SOFTPLUS);
        UN_CASE(LAB_UN_POW);
        UN_CASE(LAB_UN_CLAMP);
        UN_CASE(LAB_UN_AFFINE);
    default: break;
    }
}

/* gx = g * f'(x), with the CPU's conventions at kinks (relu'(0) = 0,
 * |x|'(0) = 0, clamp passes the gradient on the closed interval). */
template <int OP> __device__ __forceinline__ float unb_f(float g, float X, float Y, float p0, float p1)
{
    switch (OP) {
    case LAB_UN_NEG: return -g;
    case LAB_UN_EXP: return g * Y;
    case LAB_UN_LOG: return g / X;
    case LAB_UN_SQRT: return g * 0.5f / Y;
    case LAB_UN_RSQRT: return -0.5f * g * Y * Y * Y;
    case LAB_UN_ABS: return X > 0.0f ? g : (X < 0.0f ? -g : 0.0f);
    case LAB_UN_SQUARE: return 2.0f * X * g;
    case LAB_UN_SIN: return g * cosf(X);
    case LAB_UN_COS: return -g * sinf(X);
    case LAB_UN_RELU: return X > 0.0f ? g : 0.0f;
    case LAB_UN_LEAKY_RELU: return X > 0.0f ? g : p0 * g;
    case LAB_UN_GELU:
        return g * (0.5f * erfcf(-X * INV_SQRT2) + X * INV_SQRT_2PI * expf(-0.5f * X * X));
    case LAB_UN_SILU: {
        float s = sigmoid_f(X);
        return g * s * (1.0f + X * (1.0f - s));
    }
    case LAB_UN_TANH: return __fmul_rn(g, __fsub_rn(1.0f, __fmul_rn(Y, Y)));
    case LAB_UN_SIGMOID: return g * Y * (1.0f - Y);
    case LAB_UN_SOFTPLUS: return X > 20.0f ? g : g * sigmoid_f(X);
    case LAB_UN_POW:
        if (p0 == 0.0f) return 0.0f;
        if (p0 == 2.0f) return 2.0f * X * g;
        if (p0 == 1.0f) return g;
        return g * p0 * powf(X, p0 - 1.0f);
    case LAB_UN_CLAMP: return X >= p0 && X <= p1 ? g : 0.0f;
    case LAB_UN_AFFINE: return p0 * g;
    default: return g;
    }
}

/* Only the operands a derivative reads are loaded (x or y may be NULL for
 * ops that do not need them). */
template <int OP> struct unb_needs {
    static const bool x = !(OP == LAB_UN_NEG || OP == LAB_UN_EXP || OP == LAB_UN_SQRT || OP == LAB_UN_RSQRT ||
                            OP == LAB_UN_TANH || OP == LAB_UN_SIGMOID || OP == LAB_UN_AFFINE);
    static const bool y = OP == LAB_UN_EXP || OP == LAB_UN_SQRT || OP == LAB_UN_RSQRT || OP == LAB_UN_TANH ||
                          OP == LAB_UN_SIGMOID;
};

template <int OP>
__global__ void k_unary_bw(int64_t n, float *gx, const float *gy, const float *x, const float *y, float p0, float p1)
{
    LAB_CU_LOOP(i, n)
    {
        float X = unb_needs<OP>::x ? x[i] : 0.0f;
        float Y = unb_needs<OP>::y ? y[i] : 0.0f;
        gx[i] = unb_f<OP>(gy[i], X, Y, p0, p1);
    }
}

#define UNB_CASE(OP)                                                                               \
    case OP:                                                                                       \
        k_unary_bw<OP><<<nb, LAB_CU_THREADS, 0, d->stream>>>(n, gx, gy, x, y, p0, p1);             \
        break

static void cu_unary_backward(lab_unary_op op, int64_t n, float *gx, const float *gy, const float *x,
                              const float *y, float p0, float p1)
{
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(gx);
    unsigned nb = lab_cu_blocks(d, n, LAB_CU_THREADS);
    switch (op) {
        UNB_CASE(LAB_UN_NEG);
        UNB_CASE(LAB_UN_EXP);
        UNB_CASE(LAB_UN_LOG);
        UNB_CASE(LAB_UN_SQRT);
        UNB_CASE(LAB_UN_RSQRT);
        UNB_CASE(LAB_UN_ABS);
        UNB_CASE(LAB_UN_SQUARE);
        UNB_CASE(LAB_UN_SIN);
        UNB_CASE(LAB_UN_COS);
        UNB_CASE(LAB_UN_RELU);
        UNB_CASE(LAB_UN_LEAKY_RELU);
        UNB_CASE(LAB_UN_GELU);
        UNB_CASE(LAB_UN_SILU);
        UNB_CASE(LAB_UN_TANH);
        UNB_CASE(LAB_UN_SIGMOID);
        UNB_CASE(LAB_UN_SOFTPLUS);
        UNB_CASE(LAB_UN_POW);
        UNB_CASE(LAB_UN_CLAMP);
        UNB_CASE(LAB_UN_AFFINE);
    default: return;
    }
    LAB_CU_CHECK(d, "unary_backward");
}

/* --- binary ------------------------------------------------------------------------ */

template <int OP> __device__ __forceinline__ float bin_f(float u, float v)
{
    switch (OP) {
    case LAB_BIN_ADD: return u + v;
    case LAB_BIN_SUB: return u - v;
    case LAB_BIN_MUL: return u * v;
    case LAB_BIN_DIV: return u / v;
    case LAB_BIN_POW: return powf(u, v);
    case LAB_BIN_MAX: return u != u ? u : (u > v ? u : v); /* NaN propagates */
    case LAB_BIN_MIN: return u != u ? u : (u < v ? u : v);
    case LAB_BIN_GT: return u > v ? 1.0f : 0.0f;
    case LAB_BIN_LT: return u < v ? 1.0f : 0.0f;
    case LAB_BIN_EQ: return u == v ? 1.0f : 0.0f;
    default: return 0.0f;
    }
}

/* One dim left: y[i] = f(a[i*sa], b[i*sb]) with sa, sb in {0, 1, other}. */
template <int OP> __global__ void k_bin_flat(int64_t n, float *y, const float *a, int64_t sa, const float *b, int64_t sb)
{
    LAB_CU_LOOP(i, n) y[i] = bin_f<OP>(a[i * sa], b[i * sb]);
}

template <int OP> __global__ void k_bin_flat4(int64_t n4, float4 *y, const float4 *a, const float4 *b)
{
    LAB_CU_LOOP(i, n4)
    {
        float4 u = a[i], v = b[i], r;
        r.x = bin_f<OP>(u.x, v.x);
        r.y = bin_f<OP>(u.y, v.y);
        r.z = bin_f<OP>(u.z, v.z);
        r.w = bin_f<OP>(u.w, v.w);
        y[i] = r;
    }
}

template <int OP> __global__ void k_bin_2d(cu_iter<3> it, float *y, const float *a, const float *b)
{
    const int64_t R = it.shape[0], C = it.shape[1];
    LOOP_2D(r, c, R, C)
    y[r * it.st[0][0] + c * it.st[0][1]] =
        bin_f<OP>(a[r * it.st[1][0] + c * it.st[1][1]], b[r * it.st[2][0] + c * it.st[2][1]]);
}

template <int OP, typename I> __global__ void k_bin_nd(I n, cu_iter<3> it, float *y, const float *a, const float *b)
{
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
        I off[3];
        it_offsets<I, 3>(it, i, off);
        y[off[0]] = bin_f<OP>(a[off[1]], b[off[2]]);
    }
}

template <int OP>
static void binary_launch(lab_cu_dev *d, const cu_iter<3> &it, int64_t n, int small, float *y, const float *a,
                          const float *b)
{
    cudaStream_t s = d->stream;
    if (it.nd == 1) {
        int64_t sa = it.st[1][0], sb = it.st[2][0];
        int64_t head = 0;
        if (sa == 1 && sb == 1 && aligned16(y) && aligned16(a) && aligned16(b) && n >= 4) {
            int64_t n4 = n / 4;
            k_bin_flat4<OP><<<lab_cu_blocks(d, n4, LAB_CU_THREADS), LAB_CU_THREADS, 0, s>>>(
                n4, (float4 *)y, (const float4 *)a, (const float4 *)b);
            head = n4 * 4;
        }
        if (head < n)
            k_bin_flat<OP><<<lab_cu_blocks(d, n - head, LAB_CU_THREADS), LAB_CU_THREADS, 0, s>>>(
                n - head, y + head, a + head * sa, sa, b + head * sb, sb);
    } else if (it.nd == 2 && it.shape[1] >= MIN_2D_COLS) {
        k_bin_2d<OP><<<grid_2d(d, it.shape[0], it.shape[1]), LAB_CU_THREADS, 0, s>>>(it, y, a, b);
    } else if (small) {
        k_bin_nd<OP, uint32_t><<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, s>>>((uint32_t)n, it, y, a, b);
    } else {
        k_bin_nd<OP, int64_t><<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, s>>>(n, it, y, a, b);
    }
    LAB_CU_CHECK(d, "binary");
}

#define BIN_CASE(OP)                                                                               \
    case OP: binary_launch<OP>(d, it, n, small, y, a, b); break

static void contig_strides(int ndim, const int64_t *shape, int64_t *st)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= shape[i];
    }
}

static void cu_binary(lab_binary_op op, int ndim, const int64_t *shape, float *y, const float *a,
                      const int64_t *sa, const float *b, const int64_t *sb)
{
    int64_t sy[LAB_MAX_DIMS];
    contig_strides(ndim, shape, sy);
    const int64_t *strides[3] = {sy, sa, sb};
    cu_iter<3> it;
    int small;
    int64_t n = it_init<3>(&it, ndim, shape, strides, &small);
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    switch (op) {
        BIN_CASE(LAB_BIN_ADD);
        BIN_CASE(LAB_BIN_SUB);
        BIN_CASE(LAB_BIN_MUL);
        BIN_CASE(LAB_BIN_DIV);
        BIN_CASE(LAB_BIN_POW);
        BIN_CASE(LAB_BIN_MAX);
        BIN_CASE(LAB_BIN_MIN);
        BIN_CASE(LAB_BIN_GT);
        BIN_CASE(LAB_BIN_LT);
        BIN_CASE(LAB_BIN_EQ);
    default: break;
    }
}

/* --- where ------------------------------------------------------------------------- */

__global__ void k_where_2d(cu_iter<4> it, float *y, const float *c, const float *a, const float *b)
{
    const int64_t R = it.shape[0], C = it.shape[1];
    LOOP_2D(r, j, R, C)
    {
        float cv = c[r * it.st[1][0] + j * it.st[1][1]];
        y[r * it.st[0][0] + j * it.st[0][1]] =
            cv != 0.0f ? a[r * it.st[2][0] + j * it.st[2][1]] : b[r * it.st[3][0] + j * it.st[3][1]];
    }
}

template <typename I> __global__ void k_where_nd(I n, cu_iter<4> it, float *y, const float *c, const float *a, const float *b)
{
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
        I off[4];
        it_offsets<I, 4>(it, i, off);
        y[off[0]] = c[off[1]] != 0.0f ? a[off[2]] : b[off[3]];
    }
}

static void cu_where(int ndim, const int64_t *shape, float *y, const float *c, const int64_t *sc, const float *a,
                     const int64_t *sa, const float *b, const int64_t *sb)
{
    int64_t sy[LAB_MAX_DIMS];
    contig_strides(ndim, shape, sy);
    const int64_t *strides[4] = {sy, sc, sa, sb};
    cu_iter<4> it;
    int small;
    int64_t n = it_init<4>(&it, ndim, shape, strides, &small);
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    unsigned nb = lab_cu_blocks(d, n, LAB_CU_THREADS);
    if (it.nd == 2 && it.shape[1] >= MIN_2D_COLS)
        k_where_2d<<<grid_2d(d, it.shape[0], it.shape[1]), LAB_CU_THREADS, 0, d->stream>>>(it, y, c, a, b);
    else if (small)
        k_where_nd<uint32_t><<<nb, LAB_CU_THREADS, 0, d->stream>>>((uint32_t)n, it, y, c, a, b);
    else
        k_where_nd<int64_t><<<nb, LAB_CU_THREADS, 0, d->stream>>>(n, it, y, c, a, b);
    LAB_CU_CHECK(d, "where");
}

/* --- strided copy -------------------------------------------------------------------- */

/* T is an integer type of the element's size, so copies move bits exactly. */
template <typename T> __global__ void k_copy_2d(cu_iter<2> it, T *dst, const T *src)
{
    const int64_t R = it.shape[0], C = it.shape[1];
    LOOP_2D(r, c, R, C) dst[r * it.st[0][0] + c * it.st[0][1]] = src[r * it.st[1][0] + c * it.st[1][1]];
}

template <typename T, typename I> __global__ void k_copy_nd(I n, cu_iter<2> it, T *dst, const T *src)
{
    for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
        I off[2];
        it_offsets<I, 2>(it, i, off);
        dst[off[0]] = src[off[1]];
    }
}

/* Elements of an unusual size: one thread per element, byte by byte. */
__global__ void k_copy_bytes(int64_t n, cu_iter<2> it, size_t elem, char *dst, const char *src)
{
    LAB_CU_LOOP(i, n)
    {
        int64_t off[2];
        it_offsets<int64_t, 2>(it, i, off);
        for (size_t b = 0; b < elem; b++) dst[(size_t)off[0] * elem + b] = src[(size_t)off[1] * elem + b];
    }
}

template <typename T>
static void copy_launch(lab_cu_dev *d, const cu_iter<2> &it, int64_t n, int small, void *dst, const void *src)
{
    if (it.nd == 2 && it.shape[1] >= MIN_2D_COLS)
        k_copy_2d<T><<<grid_2d(d, it.shape[0], it.shape[1]), LAB_CU_THREADS, 0, d->stream>>>(it, (T *)dst, (const T *)src);
    else if (small)
        k_copy_nd<T, uint32_t><<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(
            (uint32_t)n, it, (T *)dst, (const T *)src);
    else
        k_copy_nd<T, int64_t><<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(
            n, it, (T *)dst, (const T *)src);
}

static void cu_strided_copy(int ndim, const int64_t *shape, size_t elem, void *dst, const int64_t *ds,
                            const void *src, const int64_t *ss)
{
    const int64_t *strides[2] = {ds, ss};
    cu_iter<2> it;
    int small;
    int64_t n = it_init<2>(&it, ndim, shape, strides, &small);
    if (n <= 0 || elem == 0) return;
    lab_cu_dev *d = lab_cu_dev_of(dst);
    if (it.nd == 1 && it.st[0][0] == 1 && it.st[1][0] == 1) {
        cudaError_t e = cudaMemcpyAsync(dst, src, (size_t)n * elem, cudaMemcpyDeviceToDevice, d->stream);
        if (e != cudaSuccess) lab_cu_fail("cuda: strided_copy failed: %s", cudaGetErrorString(e));
        return;
    }
    switch (elem) {
    case 1: copy_launch<uint8_t>(d, it, n, small, dst, src); break;
    case 2: copy_launch<uint16_t>(d, it, n, small, dst, src); break;
    case 4: copy_launch<uint32_t>(d, it, n, small, dst, src); break;
    case 8: copy_launch<uint64_t>(d, it, n, small, dst, src); break;
    default:
        k_copy_bytes<<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(
            n, it, elem, (char *)dst, (const char *)src);
        break;
    }
    LAB_CU_CHECK(d, "strided_copy");
}

/* --- accumulate ----------------------------------------------------------------------- */

__global__ void k_acc(int64_t n, float *y, const float *x)
{
    LAB_CU_LOOP(i, n) y[i] += x[i];
}

__global__ void k_acc4(int64_t n4, float4 *y, const float4 *x)
{
    LAB_CU_LOOP(i, n4)
    {
        float4 a = y[i], b = x[i];
        a.x += b.x;
        a.y += b.y;
        a.z += b.z;
        a.w += b.w;
        y[i] = a;
    }
}

static void cu_accumulate(int64_t n, float *y, const float *x)
{
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    int64_t head = 0;
    if (aligned16(y) && aligned16(x) && n >= 4) {
        int64_t n4 = n / 4;
        k_acc4<<<lab_cu_blocks(d, n4, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(n4, (float4 *)y, (const float4 *)x);
        head = n4 * 4;
    }
    if (head < n)
        k_acc<<<lab_cu_blocks(d, n - head, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(n - head, y + head, x + head);
    LAB_CU_CHECK(d, "accumulate");
}

/* --- rotary position embedding ------------------------------------------------- */

/* A thread per (row, t, i) pair. The angle, its cosine and sine are formed
 * in double as on the CPU, and the products are kept unfused (__dmul_rn,
 * ...) as the CPU evaluates them; the remaining difference is the device's
 * pow/sincos against glibc's (a couple of double ulp), far below float
 * rounding. In-place (y == x) is safe: each thread reads its pair first. */
__global__ void k_rope(int64_t rows, int64_t T, int64_t D, float *y, const float *x, const int64_t *pos, double base,
                       double sign)
{
    int64_t half = D / 2;
    LAB_CU_LOOP(e, rows * T * half)
    {
        int64_t i = e % half, rt = e / half, t = rt % T;
        double ang = (double)pos[t] * pow(base, -2.0 * (double)i / (double)D);
        double sn, c;
        sincos(ang, &sn, &c);
        sn = sign * sn;
        const float *xv = x + rt * D;
        float *yv = y + rt * D;
        double a = xv[i], b = xv[i + half];
        yv[i] = (float)__dsub_rn(__dmul_rn(a, c), __dmul_rn(b, sn));
        yv[i + half] = (float)__dadd_rn(__dmul_rn(a, sn), __dmul_rn(b, c));
    }
}

static void cu_rope(int64_t rows, int64_t T, int64_t D, float *y, const float *x, const int64_t *pos, double base,
                    double sign)
{
    int64_t n = rows * T * (D / 2);
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    k_rope<<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(rows, T, D, y, x, pos, base, sign);
    LAB_CU_CHECK(d, "rope");
}

void lab_cu_install_elementwise(lab_backend *be)
{
    be->rope = cu_rope;
    be->fill = cu_fill;
    be->cast = cu_cast;
    be->unary = cu_unary;
    be->unary_backward = cu_unary_backward;
    be->binary = cu_binary;
    be->where = cu_where;
    be->strided_copy = cu_strided_copy;
    be->accumulate = cu_accumulate;
}
