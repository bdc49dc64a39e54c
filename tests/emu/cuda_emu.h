/* cuda_emu.h — just enough of CUDA to compile the kernels/cuda sources as host C++
 * and run the kernels on the CPU (tests/emu/README.md).
 *
 * Every CUDA thread of a block is a fiber (ucontext); fibers switch only at
 * __syncthreads and warp shuffles, which are barriers over the block and the
 * warp. So kernels run with CUDA's semantics as far as our code relies on
 * them: shared memory per block, lockstep shuffles within a warp, atomics
 * (trivially atomic between cooperative fibers), grid-stride loops. Blocks
 * run one after another; streams are synchronous; device memory is host
 * memory. cuBLAS gemm is a plain column-major loop; cuSPARSE's generic API
 * reports "not supported", so spmm takes labrun's own kernel.
 *
 * Not emulated: memory models (every access is immediately visible), warp
 * divergence (a shuffle outside converged code deadlocks here instead of
 * being undefined), timing, anything the kernels do not use.
 */
#ifndef LAB_CUDA_EMU_H
#define LAB_CUDA_EMU_H

#ifndef __cplusplus
#error "cuda_emu.h is C++"
#endif

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <tuple>
#include <utility>

#define LAB_CU_EMU 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict

/* --- launch geometry ------------------------------------------------------- */

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct float4 {
    float x, y, z, w;
};

struct lab_emu_thread {
    dim3 tid;
    int lane, warp;
};
extern lab_emu_thread *lab_emu_cur;
extern dim3 lab_emu_block_idx, lab_emu_block_dim, lab_emu_grid_dim;
#define threadIdx (lab_emu_cur->tid)
#define blockIdx (lab_emu_block_idx)
#define blockDim (lab_emu_block_dim)
#define gridDim (lab_emu_grid_dim)

void __syncthreads();
void lab_emu_warp_exchange(const void *in, void *out, size_t size, int src_lane);

template <typename T> inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32)
{
    (void)mask;
    (void)width;
    T r;
    lab_emu_warp_exchange(&v, &r, sizeof(T), (lab_emu_cur->lane ^ lane_mask) & 31);
    return r;
}

inline void __threadfence() {}
inline void __threadfence_system() {}

/* --- arithmetic intrinsics --------------------------------------------------- */

inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dsub_rn(double a, double b) { return a - b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline unsigned __float_as_uint(float f)
{
    unsigned u;
    memcpy(&u, &f, sizeof u);
    return u;
}
inline float __uint_as_float(unsigned u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
using std::isinf;
using std::isnan;

/* Fibers never preempt one another, so a plain read-modify-write is atomic. */
template <typename T> inline T atomicAdd(T *p, T v)
{
    T o = *p;
    *p = o + v;
    return o;
}
template <typename T> inline T atomicMin(T *p, T v)
{
    T o = *p;
    if (v < o) *p = v;
    return o;
}
template <typename T> inline T atomicMax(T *p, T v)
{
    T o = *p;
    if (v > o) *p = v;
    return o;
}

/* --- runtime API --------------------------------------------------------------- */

typedef enum {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInsufficientDriver = 35,
    cudaErrorNoDevice = 100,
} cudaError_t;
typedef cudaError_t cudaError;
typedef struct lab_emu_stream *cudaStream_t;
typedef enum { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice } cudaMemcpyKind;
typedef enum { cudaMemoryTypeUnregistered, cudaMemoryTypeHost, cudaMemoryTypeDevice, cudaMemoryTypeManaged } cudaMemoryType;
struct cudaPointerAttributes {
    cudaMemoryType type;
    int device;
};
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    int major, minor, multiProcessorCount;
};
enum cudaDeviceAttr {
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
};
#define cudaStreamNonBlocking 1
#define cudaHostAllocPortable 1
#define cudaHostAllocMapped 2

const char *cudaGetErrorString(cudaError_t e);
cudaError_t cudaGetLastError();
cudaError_t cudaDriverGetVersion(int *v);
cudaError_t cudaRuntimeGetVersion(int *v);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaGetDevice(int *d);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int dev);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev);
cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total_b);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned flags);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaHostGetDevicePointer(void **d, void *h, unsigned flags);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind k, cudaStream_t s = nullptr);
cudaError_t cudaMemsetAsync(void *dst, int v, size_t bytes, cudaStream_t s = nullptr);

/* --- launches: `k<<<g, b, shm, s>>>(args)` is rewritten to
 * `lab_emu_launch(g, b, shm, s, k)(args)` before compiling ---------------------- */

void lab_emu_run(dim3 grid, dim3 block, const std::function<void()> &body);

/* The kernel's own parameter types, so that arguments convert as in a call
 * (NULL to a pointer, int to int64_t). */
template <typename... P> struct lab_emu_launcher {
    dim3 grid, block;
    void (*f)(P...);
    void operator()(P... args) const
    {
        auto call = [&]() { f(args...); };
        lab_emu_run(grid, block, call);
    }
};
template <typename... P>
inline lab_emu_launcher<P...> lab_emu_launch(dim3 g, dim3 b, size_t shm, cudaStream_t s, void (*f)(P...))
{
    (void)shm;
    (void)s;
    return lab_emu_launcher<P...>{g, b, f};
}

/* --- cuBLAS ------------------------------------------------------------------------ */

typedef struct lab_emu_blas *cublasHandle_t;
typedef enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_NOT_SUPPORTED = 15 } cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 } cublasMath_t;
cublasStatus_t cublasCreate(cublasHandle_t *h);
cublasStatus_t cublasDestroy(cublasHandle_t h);
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s);
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m);
const char *cublasGetStatusString(cublasStatus_t s);
cublasStatus_t cublasSgemm_64(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n,
                              int64_t k, const float *alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                              const float *beta, float *C, int64_t ldc);
cublasStatus_t cublasSgemmStridedBatched_64(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
                                            int64_t n, int64_t k, const float *alpha, const float *A, int64_t lda,
                                            long long sa, const float *B, int64_t ldb, long long sb,
                                            const float *beta, float *C, int64_t ldc, long long sc, int64_t batch);
inline cublasStatus_t cublasSgemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                  const float *alpha, const float *A, int lda, const float *B, int ldb,
                                  const float *beta, float *C, int ldc)
{
    return cublasSgemm_64(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                                                int n, int k, const float *alpha, const float *A, int lda,
                                                long long sa, const float *B, int ldb, long long sb,
                                                const float *beta, float *C, int ldc, long long sc, int batch)
{
    return cublasSgemmStridedBatched_64(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc, batch);
}

/* --- cuSPARSE: the generic SpMM API reports "not supported" ------------------------- */

typedef struct lab_emu_sparse *cusparseHandle_t;
typedef void *cusparseSpMatDescr_t;
typedef const void *cusparseConstSpMatDescr_t;
typedef void *cusparseDnMatDescr_t;
typedef const void *cusparseConstDnMatDescr_t;
typedef enum {
    CUSPARSE_STATUS_SUCCESS = 0,
    CUSPARSE_STATUS_ALLOC_FAILED = 2,
    CUSPARSE_STATUS_INVALID_VALUE = 3,
    CUSPARSE_STATUS_NOT_SUPPORTED = 10,
} cusparseStatus_t;
typedef enum { CUSPARSE_OPERATION_NON_TRANSPOSE = 0 } cusparseOperation_t;
typedef enum { CUSPARSE_INDEX_64I = 3 } cusparseIndexType_t;
typedef enum { CUSPARSE_INDEX_BASE_ZERO = 0 } cusparseIndexBase_t;
typedef enum { CUSPARSE_ORDER_ROW = 2 } cusparseOrder_t;
typedef enum { CUSPARSE_SPMM_ALG_DEFAULT = 0 } cusparseSpMMAlg_t;
typedef enum { CUDA_R_32F = 0 } cudaDataType;
cusparseStatus_t cusparseCreate(cusparseHandle_t *h);
cusparseStatus_t cusparseDestroy(cusparseHandle_t h);
cusparseStatus_t cusparseSetStream(cusparseHandle_t h, cudaStream_t s);
const char *cusparseGetErrorString(cusparseStatus_t s);
cusparseStatus_t cusparseCreateConstCsr(cusparseConstSpMatDescr_t *d, int64_t r, int64_t c, int64_t nnz, const void *rp,
                                        const void *ci, const void *v, cusparseIndexType_t a, cusparseIndexType_t b,
                                        cusparseIndexBase_t base, cudaDataType t);
cusparseStatus_t cusparseCreateConstDnMat(cusparseConstDnMatDescr_t *d, int64_t r, int64_t c, int64_t ld, const void *v,
                                          cudaDataType t, cusparseOrder_t o);
cusparseStatus_t cusparseCreateDnMat(cusparseDnMatDescr_t *d, int64_t r, int64_t c, int64_t ld, void *v, cudaDataType t,
                                     cusparseOrder_t o);
cusparseStatus_t cusparseSpMM_bufferSize(cusparseHandle_t h, cusparseOperation_t a, cusparseOperation_t b,
                                         const void *alpha, cusparseConstSpMatDescr_t A, cusparseConstDnMatDescr_t X,
                                         const void *beta, cusparseDnMatDescr_t Y, cudaDataType t, cusparseSpMMAlg_t alg,
                                         size_t *bytes);
cusparseStatus_t cusparseSpMM(cusparseHandle_t h, cusparseOperation_t a, cusparseOperation_t b, const void *alpha,
                              cusparseConstSpMatDescr_t A, cusparseConstDnMatDescr_t X, const void *beta,
                              cusparseDnMatDescr_t Y, cudaDataType t, cusparseSpMMAlg_t alg, void *buf);
cusparseStatus_t cusparseDestroyDnMat(cusparseConstDnMatDescr_t d);
cusparseStatus_t cusparseDestroySpMat(cusparseConstSpMatDescr_t d);

#endif
