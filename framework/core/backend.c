/* Device dispatch: the cpu backend is built in; cuda comes from
 * liblab_cuda.so, loaded with dlopen() the first time a cuda device is used,
 * so that liblab itself never links against CUDA. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "lab/error.h"

void lab_cpu_backend_install(lab_backend *be); /* kernels/cpu/cpu_backend.c */

static lab_backend cpu_table;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

static void cpu_init(void) { lab_cpu_backend_install(&cpu_table); }

const lab_backend *lab_backend_cpu(void)
{
    pthread_once(&cpu_once, cpu_init);
    return &cpu_table;
}

static pthread_mutex_t cuda_lock = PTHREAD_MUTEX_INITIALIZER;
static const lab_backend *cuda_table;
static char cuda_reason[1024];
static int cuda_tried;

/* Candidate paths for liblab_cuda.so: $LAB_CUDA_LIB, next to liblab, then
 * the loader's search path. */
static void *open_cuda_lib(char *why, size_t len)
{
    const char *env = getenv("LAB_CUDA_LIB");
    char path[4096];
    void *h;
    why[0] = '\0';
    if (env && *env) {
        h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (h) return h;
        snprintf(why, len, "%s", dlerror());
        return NULL;
    }
    Dl_info info;
    if (dladdr((void *)lab_backend_cpu, &info) && info.dli_fname) {
        snprintf(path, sizeof path, "%s", info.dli_fname);
        char *slash = strrchr(path, '/');
        if (slash) {
            snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "liblab_cuda.so");
            h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (h) return h;
            snprintf(why, len, "%s", dlerror());
            /* A static liblab inside build/bin/labrun: look in ../lib. */
            snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "../lib/liblab_cuda.so");
            h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (h) return h;
        }
    }
    h = dlopen("liblab_cuda.so", RTLD_NOW | RTLD_LOCAL);
    if (h) return h;
    if (!why[0]) snprintf(why, len, "%s", dlerror());
    return NULL;
}

static const lab_backend *load_cuda(void)
{
    if (cuda_tried) return cuda_table;
    cuda_tried = 1;
    char why[2048];
    void *h = open_cuda_lib(why, sizeof why);
    if (!h) {
        snprintf(cuda_reason, sizeof cuda_reason,
                 "the CUDA backend is not available: liblab_cuda.so could not be loaded (%s)", why);
        return NULL;
    }
    lab_cuda_entry_fn entry = (lab_cuda_entry_fn)dlsym(h, LAB_CUDA_ENTRY);
    if (!entry) {
        snprintf(cuda_reason, sizeof cuda_reason, "liblab_cuda.so has no %s symbol", LAB_CUDA_ENTRY);
        dlclose(h);
        return NULL;
    }
    char err[768] = "";
    const lab_backend *be = entry(LAB_BACKEND_ABI, err, sizeof err);
    if (!be) {
        snprintf(cuda_reason, sizeof cuda_reason, "%s", err[0] ? err : "the CUDA backend failed to start");
        /* Keep the library loaded: CUDA runtimes dislike being unloaded. */
        return NULL;
    }
    if (be->abi != LAB_BACKEND_ABI) {
        snprintf(cuda_reason, sizeof cuda_reason,
                 "liblab_cuda.so was built for backend ABI %d, this liblab expects %d: rebuild it",
                 be->abi, LAB_BACKEND_ABI);
        return NULL;
    }
    cuda_table = be;
    return be;
}

const lab_backend *lab_backend_get(lab_device dev)
{
    if (dev.type == LAB_DEV_CPU) return lab_backend_cpu();
    pthread_mutex_lock(&cuda_lock);
    const lab_backend *be = load_cuda();
    pthread_mutex_unlock(&cuda_lock);
    if (!be) lab_error_set("%s", cuda_reason);
    return be;
}

/* Public: why cuda is unavailable ("" when it is available). */
const char *lab_cuda_unavailable_reason(void)
{
    pthread_mutex_lock(&cuda_lock);
    const lab_backend *be = load_cuda();
    pthread_mutex_unlock(&cuda_lock);
    return be ? "" : cuda_reason;
}

int lab_cuda_device_count(void)
{
    lab_device d = {LAB_DEV_CUDA, 0};
    const lab_backend *be = lab_backend_get(d);
    if (!be || !be->device_count) return 0;
    return be->device_count();
}
