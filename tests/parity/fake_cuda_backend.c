/* A stand-in liblab_cuda.so for machines without a GPU: the CPU backend's
 * table under the name "cuda", one "device", no-op memory controls. Loaded
 * with LAB_CUDA_LIB, it lets the parity tests run end to end on the CPU, so
 * their use of the API, shapes and gradients can be checked before a GPU
 * session (docs/gpu.md shows the two commands). It proves nothing about the
 * CUDA kernels. `make test` builds it (build/lib/fake_cuda.so) and runs the
 * parity suite against it after the real one. It resolves lab_backend_cpu()
 * from the liblab.so that loads it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"

static lab_backend table;
static int tf32;

static int fake_count(void) { return 1; }

static int fake_info(int dev, char *buf, size_t len)
{
    (void)dev;
    snprintf(buf, len, "fake (the cpu backend), 0 GiB, sm_00, 0 SMs");
    return 0;
}

static int fake_stats(int dev, size_t *current, size_t *peak)
{
    (void)dev;
    if (current) *current = 0;
    if (peak) *peak = 0;
    return 0;
}

static int fake_empty(int dev)
{
    (void)dev;
    return 0;
}

/* "Pinned" memory is ordinary memory here. */
static void *fake_host_alloc(size_t bytes) { return malloc(bytes); }
static void fake_host_free(void *p) { free(p); }

static int fake_tf32(int on)
{
    int prev = tf32;
    tf32 = on != 0;
    return prev;
}

__attribute__((visibility("default"))) const lab_backend *lab_cuda_backend_entry(int abi, char *err, size_t len)
{
    if (abi != LAB_BACKEND_ABI) {
        snprintf(err, len, "fake cuda backend: ABI %d, liblab wants %d", LAB_BACKEND_ABI, abi);
        return NULL;
    }
    table = *lab_backend_cpu();
    table.name = "cuda";
    table.device_count = fake_count;
    table.device_info = fake_info;
    table.memory_stats = fake_stats;
    table.empty_cache = fake_empty;
    table.set_tf32 = fake_tf32;
    table.host_alloc = fake_host_alloc;
    table.host_free = fake_host_free;
    return &table;
}
