/* cuda_int.h — what the CUDA backend's files (kernels/cuda, one .cu per family) share.
 *
 * Streams. Every primitive for device d runs on d's one stream (lab_cu_dev),
 * in submission order. The caching allocator relies on that: a block freed
 * on the host while a queued kernel still reads it can be handed to the next
 * allocation at once, because whatever writes it next is queued behind that
 * kernel. Copies to the host wait for the stream.
 *
 * Devices. The kernel slots of backend.h carry no device index. With one GPU
 * everything runs on device 0; with several, lab_cu_dev_of() asks the driver
 * which device owns the output pointer and makes it current.
 *
 * Errors. The kernel slots return void. A failed launch or library call is
 * recorded with lab_cu_fail(); the next wait for the device (copy_d2h,
 * synchronize, sumsq) fails with that message, so an op's result is never
 * read silently after a kernel failed. Allocation does not take it: a
 * loader's worker thread allocates too and must not swallow the trainer's
 * error. Index checks report at the same waits without a host round trip: a
 * check kernel records the first out-of-range entry on the device, and
 * lab_cu_wait hands it to the waiting thread. With LAB_CUDA_DEBUG=1 in the
 * environment every launch is followed by a stream synchronisation and a
 * check that names the kernel and its file:line (slow; for hunting bugs).
 *
 * Kernels index with int64_t and grid-stride loops (LAB_CU_LOOP), so any n
 * works with a grid capped by lab_cu_blocks(); n == 0 never launches (a
 * zero-sized grid is a launch error).
 */
#ifndef LAB_CUDA_INT_H
#define LAB_CUDA_INT_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusparse.h>
#include <stdint.h>

#include "backend.h"

struct lab_cu_checks; /* queued index checks, cuda_index.cu */

typedef struct lab_cu_dev {
    int index;
    int ready;           /* stream and handles created */
    cudaStream_t stream; /* every kernel and copy of this device */
    cublasHandle_t blas;
    cusparseHandle_t sparse;
    int sms;             /* multiprocessors: caps grid-stride grids */
    struct lab_cu_checks *checks;
} lab_cu_dev;

/* The context of device dev, created on first use; NULL with the error set
 * (lab_error_set) when the device cannot be initialised. */
lab_cu_dev *lab_cu_dev_at(int dev);
/* The context owning device pointer p (device 0 when there is one GPU),
 * made current for the calling thread. Never NULL once the backend loaded. */
lab_cu_dev *lab_cu_dev_of(const void *p);

/* Temporary device memory through the caching allocator (stream-ordered like
 * everything else). NULL when out of memory, with the failure recorded. */
void *lab_cu_tmp_alloc(lab_cu_dev *d, size_t bytes);
void lab_cu_tmp_free(lab_cu_dev *d, void *p, size_t bytes);

/* Record the first asynchronous failure (printf-style, one sentence naming
 * the primitive); reported by the next synchronising call. */
void lab_cu_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* After a launch: records cudaGetLastError() and, under LAB_CUDA_DEBUG,
 * synchronises and checks the kernel itself. */
void lab_cu_check(lab_cu_dev *d, const char *what, const char *file, int line);
#define LAB_CU_CHECK(d, what) lab_cu_check((d), (what), __FILE__, __LINE__)
/* Status of a cuBLAS / cuSPARSE call, recorded when it is not success. */
void lab_cu_check_blas(cublasStatus_t st, const char *what, const char *file, int line);
void lab_cu_check_sparse(cusparseStatus_t st, const char *what, const char *file, int line);
/* Report (and clear) a recorded failure: 0 when none, else -1 with
 * lab_error_set(). */
int lab_cu_take_error(void);

/* Current TF32 policy for gemm (0 = full f32, the default). */
int lab_cu_tf32(void);
/* LAB_CUDA_DEBUG is set: every launch is followed by a synchronisation. */
int lab_cu_debug(void);

/* Index checks (cuda_index.cu). Made with the device's stream (0, or -1 with
 * the reason in why) and freed at teardown. */
int lab_cu_index_init(lab_cu_dev *d, char *why, size_t len);
void lab_cu_index_free(lab_cu_dev *d);
/* Every wait for d's stream goes through here: waits (the result in *err),
 * then reports an out-of-range index found by a check queued before the
 * wait to the calling thread (-1 with lab_error_set naming op, value and
 * position), else 0. */
int lab_cu_wait(lab_cu_dev *d, cudaError_t *err);

/* Install each family's slots (one .cu file each). */
void lab_cu_install_memory(lab_backend *be);      /* cuda_backend.cu */
void lab_cu_install_elementwise(lab_backend *be); /* cuda_elementwise.cu */
void lab_cu_install_reduce(lab_backend *be);      /* cuda_reduce.cu */
void lab_cu_install_blas(lab_backend *be);        /* cuda_blas.cu */
void lab_cu_install_norm(lab_backend *be);        /* cuda_norm.cu */
void lab_cu_install_conv(lab_backend *be);        /* cuda_conv.cu */
void lab_cu_install_index(lab_backend *be);       /* cuda_index.cu */
void lab_cu_install_sparse(lab_backend *be);      /* cuda_sparse.cu */
void lab_cu_install_random(lab_backend *be);      /* cuda_random.cu */
void lab_cu_install_optim(lab_backend *be);       /* cuda_optim.cu */
void lab_cu_install_attention(lab_backend *be);   /* cuda_attention.cu */

/* --- launch geometry --------------------------------------------------------- */

#define LAB_CU_THREADS 256

/* Blocks for a grid-stride loop over n items: enough to fill the device
 * (32 blocks of 256 threads per SM), never more than the items need. */
static inline unsigned lab_cu_blocks(const lab_cu_dev *d, int64_t n, int threads)
{
    int64_t b = (n + threads - 1) / threads;
    int64_t cap = (int64_t)(d->sms > 0 ? d->sms : 16) * 32;
    if (b > cap) b = cap;
    if (b < 1) b = 1;
    return (unsigned)b;
}

#define LAB_CU_LOOP(i, n)                                                                          \
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                      \
         i += (int64_t)blockDim.x * gridDim.x)

/* --- device helpers ------------------------------------------------------------ */

#if defined(__CUDACC__) || defined(LAB_CU_EMU)
__device__ __forceinline__ float lab_cu_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ double lab_cu_warp_sum_d(double v)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Max as the CPU writes it (`v > m ? v : m`): a NaN operand never wins. */
__device__ __forceinline__ float lab_cu_warp_max(float v)
{
    for (int o = 16; o > 0; o >>= 1) {
        float w = __shfl_xor_sync(0xffffffffu, v, o);
        v = w > v ? w : v;
    }
    return v;
}

/* Sum over a whole block (blockDim.x a multiple of 32, at most 1024); every
 * thread gets the total. `sh` holds 32 floats; the call ends with a barrier
 * so sh can be reused at once. */
__device__ __forceinline__ float lab_cu_block_sum(float v, float *sh)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = lab_cu_warp_sum(v);
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float t = lane < nw ? sh[lane] : 0.0f;
    t = lab_cu_warp_sum(t);
    __syncthreads();
    return t;
}

__device__ __forceinline__ float lab_cu_block_max(float v, float *sh)
{
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = lab_cu_warp_max(v);
    if (lane == 0) sh[warp] = v;
    __syncthreads();
    float t = lane < nw ? sh[lane] : -INFINITY;
    t = lab_cu_warp_max(t);
    __syncthreads();
    return t;
}
#endif

#endif
