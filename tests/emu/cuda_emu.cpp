/* The runtime behind cuda_emu.h: a fiber per CUDA thread, blocks one after
 * another, and the host side of the CUDA runtime, cuBLAS and cuSPARSE that
 * kernels/cuda uses, on host memory. A test tool, not part of labrun. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <ucontext.h>

#include <vector>

#include "cuda_emu.h"

lab_emu_thread *lab_emu_cur;
dim3 lab_emu_block_idx, lab_emu_block_dim, lab_emu_grid_dim;

namespace {

const size_t STACK = 128 * 1024;

struct Fiber {
    ucontext_t ctx;
    lab_emu_thread t;
    bool done;
};

struct Barrier {
    int live = 0, count = 0, gen = 0;
};

struct Warp {
    Barrier bar;
    unsigned char slot[32][16];
};

ucontext_t sched_ctx;
std::vector<Fiber> fibers;
std::vector<char *> stacks;
std::vector<Warp> warps;
Barrier block_bar;
Fiber *cur;
const std::function<void()> *body;
unsigned long progress;
pthread_mutex_t launch_lock = PTHREAD_MUTEX_INITIALIZER;

void yield() { swapcontext(&cur->ctx, &sched_ctx); }

void wait_at(Barrier &b)
{
    int gen = b.gen;
    progress++;
    if (++b.count == b.live) {
        b.count = 0;
        b.gen++;
        return;
    }
    while (b.gen == gen) yield();
}

/* A fiber left: the barriers it will never reach need one arrival fewer. */
void leave(Barrier &b)
{
    b.live--;
    if (b.count > 0 && b.count == b.live) {
        b.count = 0;
        b.gen++;
    }
}

void fiber_main()
{
    (*body)();
    cur->done = true;
    progress++;
    leave(block_bar);
    leave(warps[cur->t.warp].bar);
    /* uc_link returns to the scheduler */
}

} // namespace

void __syncthreads() { wait_at(block_bar); }

void lab_emu_warp_exchange(const void *in, void *out, size_t size, int src_lane)
{
    Warp &w = warps[lab_emu_cur->warp];
    memcpy(w.slot[lab_emu_cur->lane], in, size);
    wait_at(w.bar);
    memcpy(out, w.slot[src_lane], size);
    wait_at(w.bar);
}

void lab_emu_run(dim3 grid, dim3 block, const std::function<void()> &fn)
{
    pthread_mutex_lock(&launch_lock);
    int n = (int)(block.x * block.y * block.z);
    if (n <= 0 || n > 1024 || grid.x == 0 || grid.y == 0 || grid.z == 0) {
        fprintf(stderr, "cuda emulator: invalid launch <<<(%u,%u,%u), (%u,%u,%u)>>>\n", grid.x, grid.y, grid.z,
                block.x, block.y, block.z);
        abort();
    }
    while ((int)stacks.size() < n) stacks.push_back((char *)malloc(STACK));
    fibers.resize((size_t)n);
    warps.resize((size_t)(n + 31) / 32);
    body = &fn;
    lab_emu_block_dim = block;
    lab_emu_grid_dim = grid;
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                lab_emu_block_idx = dim3(bx, by, bz);
                block_bar = Barrier();
                block_bar.live = n;
                for (size_t w = 0; w < warps.size(); w++) {
                    warps[w].bar = Barrier();
                    warps[w].bar.live = (int)(w + 1) * 32 <= n ? 32 : n - (int)w * 32;
                }
                for (int i = 0; i < n; i++) {
                    Fiber &f = fibers[(size_t)i];
                    f.done = false;
                    f.t.tid = dim3((unsigned)i % block.x, ((unsigned)i / block.x) % block.y,
                                   (unsigned)i / (block.x * block.y));
                    f.t.lane = i & 31;
                    f.t.warp = i >> 5;
                    getcontext(&f.ctx);
                    f.ctx.uc_stack.ss_sp = stacks[(size_t)i];
                    f.ctx.uc_stack.ss_size = STACK;
                    f.ctx.uc_link = &sched_ctx;
                    makecontext(&f.ctx, fiber_main, 0);
                }
                int left = n;
                while (left > 0) {
                    unsigned long before = progress;
                    left = 0;
                    for (int i = 0; i < n; i++) {
                        Fiber &f = fibers[(size_t)i];
                        if (f.done) continue;
                        cur = &f;
                        lab_emu_cur = &f.t;
                        swapcontext(&sched_ctx, &f.ctx);
                        if (!f.done) left++;
                    }
                    if (left > 0 && progress == before) {
                        fprintf(stderr, "cuda emulator: deadlock in block (%u,%u,%u): %d threads wait at a barrier "
                                        "or shuffle the others never reach\n", bx, by, bz, left);
                        abort();
                    }
                }
            }
    pthread_mutex_unlock(&launch_lock);
}

/* --- runtime ------------------------------------------------------------------------ */

const char *cudaGetErrorString(cudaError_t e)
{
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidValue: return "invalid argument";
    default: return "emulated error";
    }
}
cudaError_t cudaGetLastError() { return cudaSuccess; }
cudaError_t cudaDriverGetVersion(int *v) { *v = 13000; return cudaSuccess; }
cudaError_t cudaRuntimeGetVersion(int *v) { *v = 13000; return cudaSuccess; }
cudaError_t cudaGetDeviceCount(int *n) { *n = 1; return cudaSuccess; }
cudaError_t cudaGetDevice(int *d) { *d = 0; return cudaSuccess; }
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidValue; }
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int dev)
{
    (void)dev;
    /* One "SM": grids stay small (lab_cu_blocks caps them at 32 blocks per SM). */
    *v = a == cudaDevAttrMultiProcessorCount ? 1 : a == cudaDevAttrComputeCapabilityMajor ? 9 : 0;
    return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev)
{
    (void)dev;
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CUDA emulator on the cpu (tests/emu)");
    p->totalGlobalMem = (size_t)16 << 30;
    p->major = 9;
    p->multiProcessorCount = 1;
    return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *f, size_t *t)
{
    *f = *t = (size_t)16 << 30;
    return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags)
{
    (void)flags;
    *s = nullptr;
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) { (void)s; return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t s) { (void)s; return cudaSuccess; }
cudaError_t cudaMalloc(void **p, size_t bytes)
{
    *p = bytes <= ((size_t)1 << 40) ? aligned_alloc(256, (bytes + 255) & ~(size_t)255) : nullptr;
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFree(void *p) { free(p); return cudaSuccess; }
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned flags)
{
    (void)flags;
    *p = malloc(bytes ? bytes : 1);
    return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFreeHost(void *p) { free(p); return cudaSuccess; }
cudaError_t cudaHostGetDevicePointer(void **d, void *h, unsigned flags)
{
    (void)flags;
    *d = h;
    return cudaSuccess;
}
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *a, const void *p)
{
    (void)p;
    a->type = cudaMemoryTypeUnregistered;
    a->device = 0;
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind k, cudaStream_t s)
{
    (void)k;
    (void)s;
    if (bytes) memmove(dst, src, bytes);
    return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void *dst, int v, size_t bytes, cudaStream_t s)
{
    (void)s;
    if (bytes) memset(dst, v, bytes);
    return cudaSuccess;
}

/* --- cuBLAS (column-major, double accumulation) ------------------------------------------ */

cublasStatus_t cublasCreate(cublasHandle_t *h) { *h = nullptr; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasDestroy(cublasHandle_t h) { (void)h; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) { (void)h; (void)s; return CUBLAS_STATUS_SUCCESS; }
cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) { (void)h; (void)m; return CUBLAS_STATUS_SUCCESS; }
const char *cublasGetStatusString(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS ? "success" : "emulated failure"; }

cublasStatus_t cublasSgemmStridedBatched_64(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m,
                                            int64_t n, int64_t k, const float *alpha, const float *A, int64_t lda,
                                            long long sa, const float *B, int64_t ldb, long long sb,
                                            const float *beta, float *C, int64_t ldc, long long sc, int64_t batch)
{
    (void)h;
    for (int64_t q = 0; q < batch; q++) {
        const float *a = A + q * sa, *b = B + q * sb;
        float *c = C + q * sc;
        for (int64_t j = 0; j < n; j++)
            for (int64_t i = 0; i < m; i++) {
                double s = 0;
                for (int64_t l = 0; l < k; l++) {
                    double x = ta == CUBLAS_OP_N ? a[i + l * lda] : a[l + i * lda];
                    double y = tb == CUBLAS_OP_N ? b[l + j * ldb] : b[j + l * ldb];
                    s += x * y;
                }
                float r = (float)(*alpha * s);
                c[i + j * ldc] = *beta == 0.0f ? r : r + *beta * c[i + j * ldc];
            }
    }
    return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSgemm_64(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n,
                              int64_t k, const float *alpha, const float *A, int64_t lda, const float *B, int64_t ldb,
                              const float *beta, float *C, int64_t ldc)
{
    return cublasSgemmStridedBatched_64(h, ta, tb, m, n, k, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0, 1);
}

/* --- cuSPARSE ---------------------------------------------------------------------------------- */

cusparseStatus_t cusparseCreate(cusparseHandle_t *h) { *h = nullptr; return CUSPARSE_STATUS_SUCCESS; }
cusparseStatus_t cusparseDestroy(cusparseHandle_t h) { (void)h; return CUSPARSE_STATUS_SUCCESS; }
cusparseStatus_t cusparseSetStream(cusparseHandle_t h, cudaStream_t s) { (void)h; (void)s; return CUSPARSE_STATUS_SUCCESS; }
const char *cusparseGetErrorString(cusparseStatus_t s) { return s == CUSPARSE_STATUS_SUCCESS ? "success" : "not supported by the emulator"; }
cusparseStatus_t cusparseCreateConstCsr(cusparseConstSpMatDescr_t *d, int64_t, int64_t, int64_t, const void *, const void *,
                                        const void *, cusparseIndexType_t, cusparseIndexType_t, cusparseIndexBase_t,
                                        cudaDataType)
{
    *d = nullptr;
    return CUSPARSE_STATUS_NOT_SUPPORTED;
}
cusparseStatus_t cusparseCreateConstDnMat(cusparseConstDnMatDescr_t *d, int64_t, int64_t, int64_t, const void *,
                                          cudaDataType, cusparseOrder_t)
{
    *d = nullptr;
    return CUSPARSE_STATUS_NOT_SUPPORTED;
}
cusparseStatus_t cusparseCreateDnMat(cusparseDnMatDescr_t *d, int64_t, int64_t, int64_t, void *, cudaDataType,
                                     cusparseOrder_t)
{
    *d = nullptr;
    return CUSPARSE_STATUS_NOT_SUPPORTED;
}
cusparseStatus_t cusparseSpMM_bufferSize(cusparseHandle_t, cusparseOperation_t, cusparseOperation_t, const void *,
                                         cusparseConstSpMatDescr_t, cusparseConstDnMatDescr_t, const void *,
                                         cusparseDnMatDescr_t, cudaDataType, cusparseSpMMAlg_t, size_t *bytes)
{
    *bytes = 0;
    return CUSPARSE_STATUS_NOT_SUPPORTED;
}
cusparseStatus_t cusparseSpMM(cusparseHandle_t, cusparseOperation_t, cusparseOperation_t, const void *,
                              cusparseConstSpMatDescr_t, cusparseConstDnMatDescr_t, const void *, cusparseDnMatDescr_t,
                              cudaDataType, cusparseSpMMAlg_t, void *)
{
    return CUSPARSE_STATUS_NOT_SUPPORTED;
}
cusparseStatus_t cusparseDestroyDnMat(cusparseConstDnMatDescr_t) { return CUSPARSE_STATUS_SUCCESS; }
cusparseStatus_t cusparseDestroySpMat(cusparseConstSpMatDescr_t) { return CUSPARSE_STATUS_SUCCESS; }
