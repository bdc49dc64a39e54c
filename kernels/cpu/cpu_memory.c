/* CPU memory primitives: allocation, copies, fill, cast.
 * Tested through tests/unit/test_tensor.c. */
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_int.h"
#include "lab/error.h"

/* A train step frees and re-allocates the same large activations every
 * iteration. With glibc's defaults blocks >= 128 KiB are mmap()ed and the
 * heap is trimmed each step, so a third of an MLP step went to page faults
 * (measured). Keeping such blocks on the heap makes the next step reuse
 * them; memory stays at the step's high-water mark, as a caching allocator
 * would. Huge blocks (> 64 MiB) still go straight to the OS. */
static pthread_once_t tune_once = PTHREAD_ONCE_INIT;
static void tune_malloc(void)
{
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

static void *cpu_alloc(int dev, size_t bytes)
{
    (void)dev;
    pthread_once(&tune_once, tune_malloc);
    /* 64-byte alignment suits AVX-512 loads and keeps rows off shared lines. */
    size_t sz = (bytes + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, sz);
    if (!p) lab_error_set("out of memory allocating %zu bytes on the cpu", bytes);
    return p;
}

static void cpu_free(int dev, void *p, size_t bytes)
{
    (void)dev;
    (void)bytes;
    free(p);
}

static int cpu_copy(int dev, void *dst, const void *src, size_t bytes)
{
    (void)dev;
    if (bytes) memmove(dst, src, bytes);
    return 0;
}

static int cpu_sync(int dev)
{
    (void)dev;
    return 0;
}

static void cpu_fill(void *y, lab_dtype dt, int64_t n, double value)
{
    switch (dt) {
    case LAB_F32: {
        float *p = y, v = (float)value;
        if (v == 0.0f && !signbit(v)) {
            memset(p, 0, (size_t)n * 4);
            break;
        }
        for (int64_t i = 0; i < n; i++) p[i] = v;
        break;
    }
    case LAB_I32: {
        int32_t *p = y, v = (int32_t)value;
        for (int64_t i = 0; i < n; i++) p[i] = v;
        break;
    }
    case LAB_I64: {
        int64_t *p = y, v = (int64_t)value;
        for (int64_t i = 0; i < n; i++) p[i] = v;
        break;
    }
    }
}

#define CAST_LOOP(YT, XT)                                                                          \
    do {                                                                                           \
        YT *yy = y;                                                                                \
        const XT *xx = x;                                                                          \
        for (int64_t i = 0; i < n; i++) yy[i] = (YT)xx[i];                                         \
    } while (0)

static void cpu_cast(void *y, lab_dtype ydt, const void *x, lab_dtype xdt, int64_t n)
{
    if (ydt == xdt) {
        memmove(y, x, (size_t)n * (ydt == LAB_I64 ? 8 : 4));
        return;
    }
    if (ydt == LAB_F32 && xdt == LAB_I32) CAST_LOOP(float, int32_t);
    else if (ydt == LAB_F32 && xdt == LAB_I64) CAST_LOOP(float, int64_t);
    else if (ydt == LAB_I32 && xdt == LAB_F32) CAST_LOOP(int32_t, float);
    else if (ydt == LAB_I32 && xdt == LAB_I64) CAST_LOOP(int32_t, int64_t);
    else if (ydt == LAB_I64 && xdt == LAB_F32) CAST_LOOP(int64_t, float);
    else if (ydt == LAB_I64 && xdt == LAB_I32) CAST_LOOP(int64_t, int32_t);
}

void lab_cpu_install_memory(lab_backend *be)
{
    be->alloc = cpu_alloc;
    be->free = cpu_free;
    be->copy_h2d = cpu_copy;
    be->copy_d2h = cpu_copy;
    be->copy_d2d = cpu_copy;
    be->synchronize = cpu_sync;
    be->fill = cpu_fill;
    be->cast = cpu_cast;
}
