/* lab/cuda.h on top of the backend table: each call loads liblab_cuda.so
 * through lab_backend_get() (which sets "no CUDA device: ..." when it cannot)
 * and goes through a slot, so liblab itself never links CUDA. Tested by
 * tests/parity/test_parity_memory.c (skipped without a GPU) and, for the
 * unavailable path, by the same file's cpu-only tests. */
#include "backend.h"
#include "lab/cuda.h"
#include "lab/error.h"

static const lab_backend *cuda_backend(const char *fn, int dev)
{
    if (dev < 0) {
        lab_error_set("%s: device index %d is negative", fn, dev);
        return NULL;
    }
    lab_device d = {LAB_DEV_CUDA, dev};
    const lab_backend *be = lab_backend_get(d);
    if (!be) return NULL; /* the loader's reason is already set */
    if (be->device_count && dev >= be->device_count()) {
        lab_error_set("%s: there is no cuda:%d (%d device(s))", fn, dev, be->device_count());
        return NULL;
    }
    return be;
}

int lab_cuda_memory_stats(int dev, size_t *current, size_t *peak)
{
    const lab_backend *be = cuda_backend("cuda_memory_stats", dev);
    if (!be) return -1;
    if (!be->memory_stats) return lab_error_set("cuda_memory_stats: not available on the %s backend", be->name);
    return be->memory_stats(dev, current, peak);
}

int lab_cuda_empty_cache(int dev)
{
    const lab_backend *be = cuda_backend("cuda_empty_cache", dev);
    if (!be) return -1;
    if (!be->empty_cache) return lab_error_set("cuda_empty_cache: not available on the %s backend", be->name);
    return be->empty_cache(dev);
}

int lab_cuda_set_tf32(int on)
{
    const lab_backend *be = cuda_backend("cuda_set_tf32", 0);
    if (!be) return -1;
    if (!be->set_tf32) return lab_error_set("cuda_set_tf32: not available on the %s backend", be->name);
    return be->set_tf32(on != 0);
}

int lab_cuda_synchronize(int dev)
{
    const lab_backend *be = cuda_backend("cuda_synchronize", dev);
    if (!be) return -1;
    return be->synchronize(dev);
}

int lab_cuda_device_info(int dev, char *buf, size_t len)
{
    const lab_backend *be = cuda_backend("cuda_device_info", dev);
    if (!be) return -1;
    if (!buf || len == 0) return lab_error_set("cuda_device_info: no buffer");
    return be->device_info(dev, buf, len);
}

void *lab_cuda_host_alloc(size_t bytes)
{
    const lab_backend *be = cuda_backend("cuda_host_alloc", 0);
    if (!be) return NULL;
    if (!be->host_alloc) {
        lab_error_set("cuda_host_alloc: not available on the %s backend", be->name);
        return NULL;
    }
    return be->host_alloc(bytes ? bytes : 1);
}

void lab_cuda_host_free(void *p)
{
    if (!p) return;
    /* p came from host_alloc, so the backend is loaded and has the slot. */
    lab_device d = {LAB_DEV_CUDA, 0};
    const lab_backend *be = lab_backend_get(d);
    if (be && be->host_free) be->host_free(p);
}
