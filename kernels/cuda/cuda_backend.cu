/* The CUDA backend's entry point, device contexts, caching allocator, copies
 * and error reporting (the rest of the slots live in one file per family).
 *
 * Entry. liblab dlopen()s liblab_cuda.so and calls lab_cuda_backend_entry():
 * it checks the backend ABI, starts the CUDA runtime, and returns NULL with
 * one sentence in err when there is no driver, no device, a driver too old
 * for this runtime, a device older than sm_90, or cuBLAS/cuSPARSE fail to
 * start. Otherwise it returns the filled table.
 *
 * Allocator. cudaMalloc/cudaFree synchronise the device and cost tens of
 * microseconds, so freed blocks are kept in size-class free lists and handed
 * out again: classes of 512 bytes up to 1 MiB, then 8 classes per power of
 * two (at most 12.5% waste). A block is only reused within its class. When
 * cudaMalloc fails, the device's cached blocks are returned to the driver and
 * the allocation is retried once; lab_cuda_empty_cache() and process exit
 * return them too. Reuse is safe without events because every kernel of a
 * device runs on its one stream (cuda_int.h).
 *
 * Copies are explicit and run on the device's stream: host-to-device from
 * pageable memory returns once the source has been staged (the caller may
 * reuse it), from pinned memory it waits; device-to-host waits for the
 * stream and reports any earlier kernel failure or out-of-range index.
 *
 * Tested by tests/parity/test_parity_memory.c (allocation, reuse, copies,
 * stats, out-of-memory message) on a GPU; without one, its tests check that
 * the entry's refusal reaches lab_cuda_unavailable_reason() and skip.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_int.h"
#include "lab/error.h"

#define LAB_CU_MAX_DEV 16

/* --- errors ------------------------------------------------------------------ */

static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static char err_msg[1024];
static int err_pending;
static int debug_sync; /* LAB_CUDA_DEBUG=1 */

void lab_cu_fail(const char *fmt, ...)
{
    pthread_mutex_lock(&err_lock);
    if (!err_pending) { /* the first failure is the informative one */
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err_msg, sizeof err_msg, fmt, ap);
        va_end(ap);
        err_pending = 1;
    }
    pthread_mutex_unlock(&err_lock);
}

int lab_cu_take_error(void)
{
    char msg[sizeof err_msg];
    int had;
    pthread_mutex_lock(&err_lock);
    had = err_pending;
    if (had) memcpy(msg, err_msg, sizeof msg);
    err_pending = 0;
    pthread_mutex_unlock(&err_lock);
    if (!had) return 0;
    return lab_error_set("%s", msg);
}

void lab_cu_check(lab_cu_dev *d, const char *what, const char *file, int line)
{
    cudaError_t e = cudaGetLastError();
    if (e == cudaSuccess && debug_sync) e = cudaStreamSynchronize(d->stream);
    if (e == cudaSuccess) return;
    lab_cu_fail("cuda: kernel %s failed (%s:%d): %s", what, file, line, cudaGetErrorString(e));
    if (debug_sync) fprintf(stderr, "lab: cuda: kernel %s failed at %s:%d: %s\n", what, file, line, cudaGetErrorString(e));
}

void lab_cu_check_blas(cublasStatus_t st, const char *what, const char *file, int line)
{
    if (st == CUBLAS_STATUS_SUCCESS) return;
    lab_cu_fail("cuda: %s failed (%s:%d): %s", what, file, line, cublasGetStatusString(st));
}

void lab_cu_check_sparse(cusparseStatus_t st, const char *what, const char *file, int line)
{
    if (st == CUSPARSE_STATUS_SUCCESS) return;
    lab_cu_fail("cuda: %s failed (%s:%d): %s", what, file, line, cusparseGetErrorString(st));
}

/* --- devices -------------------------------------------------------------------- */

static lab_cu_dev devs[LAB_CU_MAX_DEV];
static int ndev;
static pthread_mutex_t dev_lock = PTHREAD_MUTEX_INITIALIZER;
static int tf32_on;

int lab_cu_tf32(void) { return __atomic_load_n(&tf32_on, __ATOMIC_RELAXED); }

int lab_cu_debug(void) { return debug_sync; }

static cublasMath_t math_mode(int tf32) { return tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH; }

/* Stream, cuBLAS and cuSPARSE for one device; on failure undoes what it made
 * and writes the reason. Called with dev_lock held. */
static int dev_init(lab_cu_dev *d, int dev, char *why, size_t len)
{
    cudaError_t e = cudaSetDevice(dev);
    if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&d->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
        snprintf(why, len, "cuda:%d could not be started: %s", dev, cudaGetErrorString(e));
        cudaGetLastError();
        return -1;
    }
    cublasStatus_t bs = cublasCreate(&d->blas);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetStream(d->blas, d->stream);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetMathMode(d->blas, math_mode(lab_cu_tf32()));
    if (bs != CUBLAS_STATUS_SUCCESS) {
        snprintf(why, len, "cuBLAS failed to start on cuda:%d: %s", dev, cublasGetStatusString(bs));
        if (d->blas) cublasDestroy(d->blas);
        cudaStreamDestroy(d->stream);
        d->blas = NULL;
        return -1;
    }
    cusparseStatus_t ss = cusparseCreate(&d->sparse);
    if (ss == CUSPARSE_STATUS_SUCCESS) ss = cusparseSetStream(d->sparse, d->stream);
    if (ss != CUSPARSE_STATUS_SUCCESS) {
        snprintf(why, len, "cuSPARSE failed to start on cuda:%d: %s", dev, cusparseGetErrorString(ss));
        if (d->sparse) cusparseDestroy(d->sparse);
        cublasDestroy(d->blas);
        cudaStreamDestroy(d->stream);
        d->sparse = NULL;
        d->blas = NULL;
        return -1;
    }
    if (lab_cu_index_init(d, why, len) < 0) {
        cusparseDestroy(d->sparse);
        cublasDestroy(d->blas);
        cudaStreamDestroy(d->stream);
        d->sparse = NULL;
        d->blas = NULL;
        return -1;
    }
    int sms = 0;
    if (cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess) sms = 16;
    d->sms = sms;
    d->index = dev;
    __atomic_store_n(&d->ready, 1, __ATOMIC_RELEASE);
    return 0;
}

lab_cu_dev *lab_cu_dev_at(int dev)
{
    if (dev < 0 || dev >= ndev) {
        lab_error_set("cuda: there is no cuda:%d (%d device(s))", dev, ndev);
        return NULL;
    }
    lab_cu_dev *d = &devs[dev];
    if (!__atomic_load_n(&d->ready, __ATOMIC_ACQUIRE)) {
        char why[512] = "";
        pthread_mutex_lock(&dev_lock);
        int rc = d->ready ? 0 : dev_init(d, dev, why, sizeof why);
        pthread_mutex_unlock(&dev_lock);
        if (rc < 0) {
            lab_error_set("%s", why);
            return NULL;
        }
    }
    /* The runtime's current device is per thread; with one GPU it is
     * always 0 already. */
    if (ndev > 1) cudaSetDevice(dev);
    return d;
}

lab_cu_dev *lab_cu_dev_of(const void *p)
{
    if (ndev <= 1) return &devs[0];
    int dev = 0;
    cudaPointerAttributes a;
    if (p && cudaPointerGetAttributes(&a, p) == cudaSuccess && a.type == cudaMemoryTypeDevice) {
        dev = a.device;
    } else {
        cudaGetLastError();
        if (cudaGetDevice(&dev) != cudaSuccess) dev = 0;
    }
    lab_cu_dev *d = lab_cu_dev_at(dev);
    return d ? d : &devs[0];
}

/* --- caching allocator ------------------------------------------------------------ */

#define SMALL_MAX ((size_t)1 << 20)
#define SMALL_STEP ((size_t)512)
#define NSMALL ((int)(SMALL_MAX / SMALL_STEP))
#define LARGE_E_MAX 60 /* blocks up to 2^60 bytes: beyond any device */
#define NCLASS (NSMALL + 8 * (LARGE_E_MAX - 20))

typedef struct {
    void **v;
    int n, cap;
} block_list;

typedef struct {
    block_list *lists; /* NCLASS, allocated with the first block */
    size_t held, peak, in_use;
} pool;

static pool pools[LAB_CU_MAX_DEV];
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static int closed; /* after exit teardown: free goes straight to the driver */

/* Size class of a request: the rounded size, or 0 when it is impossibly large. */
static size_t class_of(size_t bytes, int *cls)
{
    if (bytes == 0) bytes = 1;
    if (bytes <= SMALL_MAX) {
        size_t q = (bytes + SMALL_STEP - 1) / SMALL_STEP; /* 1 .. NSMALL */
        *cls = (int)q - 1;
        return q * SMALL_STEP;
    }
    int e = 64 - __builtin_clzll((unsigned long long)(bytes - 1)); /* 2^(e-1) < bytes <= 2^e */
    if (e > LARGE_E_MAX) return 0;
    size_t step = (size_t)1 << (e - 4);
    size_t q = (bytes + step - 1) / step; /* 9 .. 16 */
    *cls = NSMALL + 8 * (e - 21) + (int)(q - 9);
    return q * step;
}

static size_t class_size(int cls)
{
    if (cls < NSMALL) return (size_t)(cls + 1) * SMALL_STEP;
    int e = 21 + (cls - NSMALL) / 8, q = 9 + (cls - NSMALL) % 8;
    return (size_t)q << (e - 4);
}

/* Return every cached block of device d to the driver. pool_lock held. */
static void release_cached(lab_cu_dev *d)
{
    pool *pl = &pools[d->index];
    if (!pl->lists) return;
    /* Kernels queued before a block was freed may still read it. */
    cudaStreamSynchronize(d->stream);
    for (int c = 0; c < NCLASS; c++) {
        block_list *l = &pl->lists[c];
        for (int i = 0; i < l->n; i++) {
            cudaFree(l->v[i]);
            pl->held -= class_size(c);
        }
        l->n = 0;
    }
    cudaGetLastError();
}

/* A block of at least `bytes`; NULL with a message in why. */
static void *pool_alloc(lab_cu_dev *d, size_t bytes, char *why, size_t len)
{
    int cls = 0;
    size_t sz = class_of(bytes, &cls);
    if (sz == 0) {
        snprintf(why, len, "cuda:%d: cannot allocate %zu bytes (larger than any device)", d->index, bytes);
        return NULL;
    }
    pthread_mutex_lock(&pool_lock);
    pool *pl = &pools[d->index];
    if (!pl->lists) {
        pl->lists = (block_list *)calloc(NCLASS, sizeof *pl->lists);
        if (!pl->lists) {
            pthread_mutex_unlock(&pool_lock);
            snprintf(why, len, "cuda:%d: out of host memory for the allocator's lists", d->index);
            return NULL;
        }
    }
    block_list *l = &pl->lists[cls];
    void *p = NULL;
    if (l->n > 0) {
        p = l->v[--l->n];
        pl->in_use += sz;
        pthread_mutex_unlock(&pool_lock);
        return p;
    }
    cudaError_t e = cudaMalloc(&p, sz);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();
        release_cached(d);
        e = cudaMalloc(&p, sz);
    }
    if (e != cudaSuccess) {
        cudaGetLastError();
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        cudaGetLastError();
        snprintf(why, len,
                 "cuda:%d: out of memory allocating %zu bytes (%s; labrun holds %zu MiB, the device has "
                 "%zu of %zu MiB free); hint: lower the batch size or the model width",
                 d->index, bytes, cudaGetErrorString(e), pl->held >> 20, fr >> 20, tot >> 20);
        pthread_mutex_unlock(&pool_lock);
        return NULL;
    }
    pl->held += sz;
    if (pl->held > pl->peak) pl->peak = pl->held;
    pl->in_use += sz;
    pthread_mutex_unlock(&pool_lock);
    return p;
}

static void pool_free(lab_cu_dev *d, void *p, size_t bytes)
{
    if (!p) return;
    int cls = 0;
    size_t sz = class_of(bytes, &cls);
    pthread_mutex_lock(&pool_lock);
    pool *pl = &pools[d->index];
    if (closed || sz == 0 || !pl->lists) {
        pthread_mutex_unlock(&pool_lock);
        cudaFree(p); /* after teardown, or a block the pool never made */
        cudaGetLastError();
        return;
    }
    block_list *l = &pl->lists[cls];
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        void **v = (void **)realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) { /* cannot cache it: give it back */
            pl->held -= sz;
            pl->in_use -= sz;
            pthread_mutex_unlock(&pool_lock);
            cudaStreamSynchronize(d->stream);
            cudaFree(p);
            cudaGetLastError();
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = p;
    pl->in_use -= sz;
    pthread_mutex_unlock(&pool_lock);
}

void *lab_cu_tmp_alloc(lab_cu_dev *d, size_t bytes)
{
    char why[512];
    void *p = pool_alloc(d, bytes, why, sizeof why);
    if (!p) lab_cu_fail("%s", why);
    return p;
}

void lab_cu_tmp_free(lab_cu_dev *d, void *p, size_t bytes) { pool_free(d, p, bytes); }

/* --- memory slots -------------------------------------------------------------- */

static void *cu_alloc(int dev, size_t bytes)
{
    lab_cu_dev *d = lab_cu_dev_at(dev);
    if (!d) return NULL;
    char why[512];
    void *p = pool_alloc(d, bytes, why, sizeof why);
    if (!p) lab_error_set("%s", why);
    return p;
}

static void cu_free(int dev, void *p, size_t bytes)
{
    if (dev < 0 || dev >= ndev) return;
    pool_free(&devs[dev], p, bytes);
}

static int cu_memory_stats(int dev, size_t *current, size_t *peak)
{
    if (!lab_cu_dev_at(dev)) return -1;
    pthread_mutex_lock(&pool_lock);
    if (current) *current = pools[dev].held;
    if (peak) *peak = pools[dev].peak;
    pthread_mutex_unlock(&pool_lock);
    return 0;
}

static int cu_empty_cache(int dev)
{
    lab_cu_dev *d = lab_cu_dev_at(dev);
    if (!d) return -1;
    pthread_mutex_lock(&pool_lock);
    release_cached(d);
    pthread_mutex_unlock(&pool_lock);
    return lab_cu_take_error();
}

static int cu_set_tf32(int on)
{
    pthread_mutex_lock(&dev_lock);
    int prev = tf32_on;
    __atomic_store_n(&tf32_on, on ? 1 : 0, __ATOMIC_RELAXED);
    for (int i = 0; i < ndev; i++)
        if (devs[i].ready) cublasSetMathMode(devs[i].blas, math_mode(on));
    pthread_mutex_unlock(&dev_lock);
    return prev;
}

/* Is src page-locked host memory (then the copy is truly asynchronous)? */
static int is_pinned(const void *src)
{
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, src) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    return a.type == cudaMemoryTypeHost;
}

static int copy_failed(int dev, const char *what, size_t bytes, cudaError_t e)
{
    cudaGetLastError();
    return lab_error_set("cuda:%d: copy %s of %zu bytes failed: %s", dev, what, bytes, cudaGetErrorString(e));
}

static int cu_copy_h2d(int dev, void *dst, const void *src, size_t bytes)
{
    if (bytes == 0) return 0;
    lab_cu_dev *d = lab_cu_dev_at(dev);
    if (!d) return -1;
    cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, d->stream);
    /* The caller may reuse src on return: with pinned memory the copy is
     * still in flight, so wait for it. */
    if (e == cudaSuccess && is_pinned(src)) e = cudaStreamSynchronize(d->stream);
    if (e != cudaSuccess) return copy_failed(dev, "host to device", bytes, e);
    return 0;
}

static int cu_copy_d2h(int dev, void *dst, const void *src, size_t bytes)
{
    lab_cu_dev *d = lab_cu_dev_at(dev);
    if (!d) return -1;
    cudaError_t e = cudaSuccess;
    if (bytes) e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, d->stream);
    int bad_index = 0;
    if (e == cudaSuccess) bad_index = lab_cu_wait(d, &e) < 0;
    if (e != cudaSuccess) return copy_failed(dev, "device to host", bytes, e);
    /* The values are only trustworthy if every kernel before them ran and
     * every index they used was in range. */
    if (bad_index) return -1;
    return lab_cu_take_error();
}

static int cu_copy_d2d(int dev, void *dst, const void *src, size_t bytes)
{
    if (bytes == 0 || dst == src) return 0;
    lab_cu_dev *d = lab_cu_dev_at(dev);
    if (!d) return -1;
    const char *a = (const char *)dst, *b = (const char *)src;
    cudaError_t e;
    if (a < b + bytes && b < a + bytes) {
        /* Overlapping ranges (memmove semantics, as the CPU backend): go
         * through a temporary block. */
        char why[512];
        void *tmp = pool_alloc(d, bytes, why, sizeof why);
        if (!tmp) return lab_error_set("%s", why);
        e = cudaMemcpyAsync(tmp, src, bytes, cudaMemcpyDeviceToDevice, d->stream);
        if (e == cudaSuccess) e = cudaMemcpyAsync(dst, tmp, bytes, cudaMemcpyDeviceToDevice, d->stream);
        pool_free(d, tmp, bytes);
    } else {
        e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, d->stream);
    }
    if (e != cudaSuccess) return copy_failed(dev, "device to device", bytes, e);
    return 0;
}

static int cu_synchronize(int dev)
{
    lab_cu_dev *d = lab_cu_dev_at(dev);
    if (!d) return -1;
    cudaError_t e;
    int bad_index = lab_cu_wait(d, &e) < 0;
    if (e != cudaSuccess) {
        cudaGetLastError();
        return lab_error_set("cuda:%d: a queued kernel or copy failed: %s", dev, cudaGetErrorString(e));
    }
    if (bad_index) return -1;
    return lab_cu_take_error();
}

static int cu_device_count(void) { return ndev; }

static int cu_device_info(int dev, char *buf, size_t len)
{
    if (dev < 0 || dev >= ndev) return lab_error_set("cuda: there is no cuda:%d (%d device(s))", dev, ndev);
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, dev);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return lab_error_set("cuda:%d: cannot read its properties: %s", dev, cudaGetErrorString(e));
    }
    int drv = 0;
    cudaDriverGetVersion(&drv);
    snprintf(buf, len, "%s, %.1f GiB, sm_%d%d, %d SMs, driver for CUDA %d.%d", p.name,
             (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0), p.major, p.minor,
             p.multiProcessorCount, drv / 1000, (drv % 1000) / 10);
    return 0;
}

static void *cu_host_alloc(size_t bytes)
{
    void *p = NULL;
    /* Portable: the buffer is pinned for every device, not just the current. */
    cudaError_t e = cudaHostAlloc(&p, bytes, cudaHostAllocPortable);
    if (e != cudaSuccess) {
        cudaGetLastError();
        lab_error_set("cuda: cannot pin %zu bytes of host memory: %s", bytes, cudaGetErrorString(e));
        return NULL;
    }
    return p;
}

static void cu_host_free(void *p)
{
    if (!p) return;
    cudaFreeHost(p);
    cudaGetLastError();
}

void lab_cu_install_memory(lab_backend *be)
{
    be->host_alloc = cu_host_alloc;
    be->host_free = cu_host_free;
    be->alloc = cu_alloc;
    be->free = cu_free;
    be->copy_h2d = cu_copy_h2d;
    be->copy_d2h = cu_copy_d2h;
    be->copy_d2d = cu_copy_d2d;
    be->synchronize = cu_synchronize;
    be->device_count = cu_device_count;
    be->device_info = cu_device_info;
    be->memory_stats = cu_memory_stats;
    be->empty_cache = cu_empty_cache;
    be->set_tf32 = cu_set_tf32;
}

/* --- teardown and entry ---------------------------------------------------------- */

/* Registered after the runtime started, so it runs before the runtime's own
 * exit handlers: cached blocks, handles and streams go back cleanly. Blocks
 * of tensors still alive stay with the process, which is ending. */
static void teardown(void)
{
    pthread_mutex_lock(&dev_lock);
    pthread_mutex_lock(&pool_lock);
    for (int i = 0; i < ndev; i++) {
        lab_cu_dev *d = &devs[i];
        if (!d->ready) continue;
        cudaSetDevice(i);
        release_cached(d);
        pool *pl = &pools[i];
        if (pl->lists) {
            for (int c = 0; c < NCLASS; c++) free(pl->lists[c].v);
            free(pl->lists);
            pl->lists = NULL;
        }
        lab_cu_index_free(d);
        cusparseDestroy(d->sparse);
        cublasDestroy(d->blas);
        cudaStreamDestroy(d->stream);
        d->ready = 0;
    }
    closed = 1;
    cudaGetLastError();
    pthread_mutex_unlock(&pool_lock);
    pthread_mutex_unlock(&dev_lock);
}

static lab_backend table;

extern "C" __attribute__((visibility("default"))) const lab_backend *
lab_cuda_backend_entry(int abi, char *err, size_t errlen)
{
    static int started;
    if (abi != LAB_BACKEND_ABI) {
        snprintf(err, errlen,
                 "liblab_cuda.so implements backend ABI %d but liblab asked for ABI %d: rebuild both from one tree",
                 LAB_BACKEND_ABI, abi);
        return NULL;
    }
    if (started) return &table;
    int drv = 0, rt = 0;
    cudaDriverGetVersion(&drv);
    cudaRuntimeGetVersion(&rt);
    if (drv == 0) {
        snprintf(err, errlen,
                 "no CUDA driver: libcuda.so.1 (the NVIDIA driver) was not found, so the CUDA %d.%d runtime "
                 "cannot reach a GPU",
                 rt / 1000, (rt % 1000) / 10);
        cudaGetLastError();
        return NULL;
    }
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    /* A driver of the same major version runs a newer minor runtime (CUDA's
     * minor-version compatibility; our sm_90 code needs no PTX JIT). */
    if (e == cudaErrorInsufficientDriver || drv / 1000 < rt / 1000) {
        snprintf(err, errlen,
                 "the CUDA driver is too old: it supports CUDA %d.%d but liblab_cuda.so was built with CUDA "
                 "%d.%d (cudaGetDeviceCount returned %d (%s)); hint: update the NVIDIA driver",
                 drv / 1000, (drv % 1000) / 10, rt / 1000, (rt % 1000) / 10, (int)e, cudaGetErrorString(e));
        cudaGetLastError();
        return NULL;
    }
    if (e != cudaSuccess || n <= 0) {
        snprintf(err, errlen, "no CUDA device: cudaGetDeviceCount returned %d (%s)", (int)e,
                 e != cudaSuccess ? cudaGetErrorString(e) : "zero devices");
        cudaGetLastError();
        return NULL;
    }
    int major = 0, minor = 0;
    cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0);
    cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0);
    if (major < 9) {
        cudaDeviceProp p;
        const char *name = cudaGetDeviceProperties(&p, 0) == cudaSuccess ? p.name : "a GPU";
        snprintf(err, errlen,
                 "cuda:0 is %s (sm_%d%d) but liblab_cuda.so holds code for sm_90 and newer only; hint: add "
                 "-gencode arch=compute_%d%d,code=sm_%d%d to NVCCFLAGS and rebuild",
                 name, major, minor, major, minor, major, minor);
        cudaGetLastError();
        return NULL;
    }
    ndev = n < LAB_CU_MAX_DEV ? n : LAB_CU_MAX_DEV;
    const char *dbg = getenv("LAB_CUDA_DEBUG");
    debug_sync = dbg && *dbg && strcmp(dbg, "0") != 0;
    char why[512] = "";
    pthread_mutex_lock(&dev_lock);
    int rc = dev_init(&devs[0], 0, why, sizeof why);
    pthread_mutex_unlock(&dev_lock);
    if (rc < 0) {
        snprintf(err, errlen, "%s", why);
        ndev = 0;
        return NULL;
    }
    memset(&table, 0, sizeof table);
    table.abi = LAB_BACKEND_ABI;
    table.name = "cuda";
    lab_cu_install_memory(&table);
    lab_cu_install_elementwise(&table);
    lab_cu_install_reduce(&table);
    lab_cu_install_blas(&table);
    lab_cu_install_norm(&table);
    lab_cu_install_conv(&table);
    lab_cu_install_index(&table);
    lab_cu_install_sparse(&table);
    lab_cu_install_random(&table);
    lab_cu_install_optim(&table);
    lab_cu_install_attention(&table);
    atexit(teardown);
    started = 1;
    return &table;
}
