/* GPU benchmarks of the CUDA backend (never timed tests). Prints one JSON
 * object per workload on stdout; tests/bench/run-gpu.sh runs it next to
 * bench_gpu.py (the same workloads in PyTorch on the GPU) and writes
 * build/bench/gpu.json. Without a usable GPU it prints the reason on stderr
 * and exits 3 (run-gpu.sh turns that into one line and exit 0).
 *
 *   copy      device-to-device copy of 1 GiB, GB/s counting bytes read and
 *             written, and the fraction of the H200's 4.8 TB/s
 *   sgemmN    N = 2048, 4096, 8192: TFLOP/s of lab_matmul (our gemm slot,
 *             output allocated through the caching allocator) and of
 *             cublasSgemm called directly on the same buffers, with TF32
 *             off (the default) and on
 *   affine, add   fused elementwise ops on 2^28 floats, GB/s
 *   gcn       one GCN layer on a PubMed-sized random graph (19717 nodes,
 *             88648 directed edges + self loops, symmetric normalisation,
 *             500 -> 64): spmm(A, X W) forward and forward+backward, with
 *             cuSPARSE and with LAB_CUDA_SPMM=native
 *   mlp, cnn1x28, cnn3x32   train steps (Adam, cross-entropy, batch 128)
 *             with bench_core.c's shapes, data and parameters on the GPU;
 *             cnn3x32_per_image the same with LAB_CUDA_CONV=per-image (the
 *             batched conv path's gain, measured in the same run)
 *   attention causal self-attention at PAL's small-head shape (B 16, H 4,
 *             T 128, D 32), forward + backward of sum(out * r): fused, and
 *             attention_composed with LAB_CUDA_ATTN=composed
 * Times are medians over repetitions after warm-up, each repetition ending
 * with lab_cuda_synchronize(). */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lab/cuda.h"
#include "lab/lab.h"
#include "bench_common.h"

static const lab_device GPU = {LAB_DEV_CUDA, 0};

static void die(const char *what)
{
    fprintf(stderr, "bench_gpu: %s: %s\n", what, lab_error());
    exit(1);
}

static void sync0(void)
{
    if (lab_cuda_synchronize(0) < 0) die("synchronize");
}

/* --- direct cuBLAS through the already loaded library -------------------- */

typedef int (*cublas_create_fn)(void **);
typedef int (*cublas_destroy_fn)(void *);
typedef int (*cublas_math_fn)(void *, int);
typedef int (*cublas_sgemm_fn)(void *, int, int, int, int, int, const float *, const float *, int, const float *, int,
                               const float *, float *, int);
typedef int (*cuda_sync_fn)(void);

static struct {
    void *handle;
    cublas_sgemm_fn sgemm;
    cublas_math_fn math;
    cublas_destroy_fn destroy;
    cuda_sync_fn sync;
} cb;

static void *open_lib(const char *a, const char *b)
{
    void *h = dlopen(a, RTLD_NOW | RTLD_NOLOAD);
    if (!h) h = dlopen(a, RTLD_NOW);
    if (!h) h = dlopen(b, RTLD_NOW);
    return h;
}

static int cublas_open(void)
{
    void *lb = open_lib("libcublas.so.13", "libcublas.so"), *lr = open_lib("libcudart.so.13", "libcudart.so");
    if (!lb || !lr) return -1;
    cublas_create_fn create = (cublas_create_fn)dlsym(lb, "cublasCreate_v2");
    cb.sgemm = (cublas_sgemm_fn)dlsym(lb, "cublasSgemm_v2");
    cb.math = (cublas_math_fn)dlsym(lb, "cublasSetMathMode");
    cb.destroy = (cublas_destroy_fn)dlsym(lb, "cublasDestroy_v2");
    cb.sync = (cuda_sync_fn)dlsym(lr, "cudaDeviceSynchronize");
    if (!create || !cb.sgemm || !cb.math || !cb.destroy || !cb.sync) return -1;
    return create(&cb.handle) == 0 ? 0 : -1;
}

/* --- workloads --------------------------------------------------------------- */

static void bench_copy(void)
{
    int64_t n = (int64_t)1 << 28; /* 1 GiB of floats */
    lab_tensor *src = lab_tensor_full(LAB_F32, 1, &n, 1.0, GPU), *dst = lab_tensor_empty(LAB_F32, 1, &n, GPU);
    if (!src || !dst) die("copy buffers");
    double t[20];
    for (int r = -3; r < 20; r++) {
        sync0();
        double t0 = bench_wall_s();
        if (lab_tensor_copy_(dst, src) < 0) die("copy");
        sync0();
        if (r >= 0) t[r] = bench_wall_s() - t0;
    }
    double s = bench_median(t, 20), gbps = 2.0 * (double)n * 4 / s / 1e9;
    printf("{\"workload\": \"copy\", \"bytes\": %lld, \"ms\": %.4f, \"gbps\": %.1f, \"fraction_of_peak\": %.3f, "
           "\"peak_gbps\": 4800}\n",
           (long long)(n * 4), s * 1e3, gbps, gbps / 4800.0);
    lab_tensor_release(src);
    lab_tensor_release(dst);
}

static double time_matmul(lab_tensor *a, lab_tensor *b, int reps)
{
    double t[32];
    for (int r = -2; r < reps; r++) {
        lab_scope_begin();
        sync0();
        double t0 = bench_wall_s();
        if (!lab_matmul(a, b)) die("matmul");
        sync0();
        if (r >= 0) t[r] = bench_wall_s() - t0;
        lab_scope_end();
    }
    return bench_median(t, reps);
}

static double time_cublas(int n, const float *a, const float *b, float *c, int reps)
{
    const float one = 1.0f, zero = 0.0f;
    double t[32];
    for (int r = -2; r < reps; r++) {
        cb.sync();
        double t0 = bench_wall_s();
        /* Row-major C = A B is column-major C^T = B^T A^T. */
        if (cb.sgemm(cb.handle, 0, 0, n, n, n, &one, b, n, a, n, &zero, c, n) != 0) die("cublasSgemm");
        cb.sync();
        if (r >= 0) t[r] = bench_wall_s() - t0;
    }
    return bench_median(t, reps);
}

static void bench_sgemm(int n, int have_cublas)
{
    lab_rng rng = lab_rng_make(0, 0);
    int64_t sh[2] = {n, n};
    lab_tensor *a = lab_rng_normal(&rng, 2, sh, 0, 1, GPU), *b = lab_rng_normal(&rng, 2, sh, 0, 1, GPU);
    lab_tensor *c = lab_tensor_empty(LAB_F32, 2, sh, GPU);
    if (!a || !b || !c) die("sgemm buffers");
    int reps = n <= 2048 ? 30 : n <= 4096 ? 12 : 5;
    double flop = 2.0 * n * (double)n * n;
    double ours = time_matmul(a, b, reps), direct = 0, ours32, direct32 = 0;
    if (have_cublas) {
        sync0();
        cb.math(cb.handle, 0);
        direct = time_cublas(n, lab_tensor_raw(a), lab_tensor_raw(b), lab_tensor_raw(c), reps);
    }
    lab_cuda_set_tf32(1);
    ours32 = time_matmul(a, b, reps);
    lab_cuda_set_tf32(0);
    if (have_cublas) {
        sync0();
        cb.math(cb.handle, 3); /* CUBLAS_TF32_TENSOR_OP_MATH */
        direct32 = time_cublas(n, lab_tensor_raw(a), lab_tensor_raw(b), lab_tensor_raw(c), reps);
        cb.math(cb.handle, 0);
    }
    printf("{\"workload\": \"sgemm%d\", \"ours_tflops\": %.2f, \"cublas_tflops\": %.2f, \"ours_over_cublas\": %.3f, "
           "\"ours_tf32_tflops\": %.2f, \"cublas_tf32_tflops\": %.2f, \"ours_ms\": %.4f}\n",
           n, flop / ours / 1e12, have_cublas ? flop / direct / 1e12 : 0.0, have_cublas ? direct / ours : 0.0,
           flop / ours32 / 1e12, have_cublas ? flop / direct32 / 1e12 : 0.0, ours * 1e3);
    lab_tensor_release(a);
    lab_tensor_release(b);
    lab_tensor_release(c);
}

static void bench_elementwise(void)
{
    int64_t n = (int64_t)1 << 28;
    lab_rng rng = lab_rng_make(1, 0);
    lab_tensor *x = lab_rng_uniform(&rng, 1, &n, -1, 1, GPU), *y = lab_rng_uniform(&rng, 1, &n, -1, 1, GPU);
    if (!x || !y) die("elementwise buffers");
    const char *names[2] = {"affine", "add"};
    double bytes[2] = {8.0 * (double)n, 12.0 * (double)n};
    for (int w = 0; w < 2; w++) {
        double t[20];
        for (int r = -3; r < 20; r++) {
            lab_scope_begin();
            sync0();
            double t0 = bench_wall_s();
            lab_tensor *z = w == 0 ? lab_affine(x, 2.0f, 1.0f) : lab_add(x, y);
            if (!z) die(names[w]);
            sync0();
            if (r >= 0) t[r] = bench_wall_s() - t0;
            lab_scope_end();
        }
        double s = bench_median(t, 20);
        printf("{\"workload\": \"%s\", \"elements\": %lld, \"ms\": %.4f, \"gbps\": %.1f, \"fraction_of_peak\": %.3f}\n",
               names[w], (long long)n, s * 1e3, bytes[w] / s / 1e9, bytes[w] / s / 1e9 / 4800.0);
    }
    lab_tensor_release(x);
    lab_tensor_release(y);
}

/* PubMed-sized random graph, D^-1/2 (A + I) D^-1/2 in CSR. */
static lab_csr *pubmed_like(lab_device dev)
{
    const int64_t N = 19717, E = 44324; /* undirected edges: 88648 directed */
    lab_rng rng = lab_rng_make(3, 0);
    int64_t *src = malloc((size_t)(2 * E + N) * sizeof *src), *dst = malloc((size_t)(2 * E + N) * sizeof *dst);
    int64_t m = 0;
    for (int64_t e = 0; e < E; e++) {
        int64_t u = (int64_t)lab_rng_next_below(&rng, N), v = (int64_t)lab_rng_next_below(&rng, N);
        if (u == v) v = (v + 1) % N;
        src[m] = u, dst[m++] = v;
        src[m] = v, dst[m++] = u;
    }
    for (int64_t i = 0; i < N; i++) src[m] = i, dst[m++] = i;
    int64_t *rowptr = calloc((size_t)N + 1, sizeof *rowptr), *colind = malloc((size_t)m * sizeof *colind);
    float *vals = malloc((size_t)m * sizeof *vals), *deg = calloc((size_t)N, sizeof *deg);
    for (int64_t k = 0; k < m; k++) rowptr[src[k] + 1]++, deg[src[k]] += 1.0f;
    for (int64_t i = 0; i < N; i++) rowptr[i + 1] += rowptr[i];
    int64_t *next = malloc((size_t)N * sizeof *next);
    memcpy(next, rowptr, (size_t)N * sizeof *next);
    for (int64_t k = 0; k < m; k++) {
        int64_t p = next[src[k]]++;
        colind[p] = dst[k];
        vals[p] = 1.0f / sqrtf(deg[src[k]] * deg[dst[k]]);
    }
    lab_csr *a = lab_csr_new(N, N, m, rowptr, colind, vals, dev);
    free(src), free(dst), free(rowptr), free(colind), free(vals), free(deg), free(next);
    if (!a) die("graph");
    return a;
}

static void bench_gcn(void)
{
    lab_csr *a = pubmed_like(GPU);
    lab_rng rng = lab_rng_make(4, 0);
    lab_tensor *x = lab_rng_normal(&rng, 2, (int64_t[]){19717, 500}, 0, 1, GPU);
    lab_tensor *w = lab_rng_normal(&rng, 2, (int64_t[]){500, 64}, 0, 0.05f, GPU);
    lab_tensor *r = lab_rng_normal(&rng, 2, (int64_t[]){19717, 64}, 0, 1, GPU);
    if (!x || !w || !r) die("gcn buffers");
    lab_tensor_set_requires_grad(w, 1);
    const char *modes[2] = {"cusparse", "native"};
    for (int mode = 0; mode < 2; mode++) {
        if (mode) setenv("LAB_CUDA_SPMM", "native", 1);
        double tf[50], tb[50];
        for (int rep = -3; rep < 50; rep++) {
            lab_scope_begin();
            int prev = lab_grad_set_enabled(0);
            sync0();
            double t0 = bench_wall_s();
            if (!lab_spmm(a, lab_matmul(x, w))) die("gcn forward");
            sync0();
            double t1 = bench_wall_s();
            lab_grad_set_enabled(prev);
            lab_tensor *h = lab_spmm(a, lab_matmul(x, w));
            if (!h || lab_backward(lab_sum_all(lab_mul(h, r))) < 0) die("gcn backward");
            sync0();
            double t2 = bench_wall_s();
            lab_tensor_zero_grad(w);
            if (rep >= 0) tf[rep] = t1 - t0, tb[rep] = t2 - t1;
            lab_scope_end();
        }
        printf("{\"workload\": \"gcn_%s\", \"nodes\": 19717, \"edges\": %lld, \"forward_ms\": %.4f, "
               "\"train_step_ms\": %.4f}\n",
               modes[mode], (long long)a->nnz, bench_median(tf, 50) * 1e3, bench_median(tb, 50) * 1e3);
    }
    unsetenv("LAB_CUDA_SPMM");
    lab_csr_release(a);
    lab_tensor_release(x);
    lab_tensor_release(w);
    lab_tensor_release(r);
}

typedef struct {
    lab_params *p;
    lab_linear_layer fc[3];
    lab_conv2d_layer conv[2];
    int cnn;
} model;

static lab_tensor *forward(model *m, lab_tensor *x)
{
    lab_tensor *h = x;
    if (m->cnn) {
        h = lab_max_pool2d(lab_relu(lab_conv2d_layer_forward(&m->conv[0], h)), 2, 2, 0);
        h = lab_max_pool2d(lab_relu(lab_conv2d_layer_forward(&m->conv[1], h)), 2, 2, 0);
        h = lab_flatten(h, 1, -1);
        h = lab_relu(lab_linear_layer_forward(&m->fc[0], h));
        return lab_linear_layer_forward(&m->fc[1], h);
    }
    h = lab_relu(lab_linear_layer_forward(&m->fc[0], h));
    h = lab_relu(lab_linear_layer_forward(&m->fc[1], h));
    return lab_linear_layer_forward(&m->fc[2], h);
}

/* bench_core.c's bench_train with everything on the GPU. */
static void bench_train(const char *name, int cnn, int chans, int side)
{
    lab_rng rng = lab_rng_make(0, 0);
    model m = {.p = lab_params_new(), .cnn = cnn};
    int B = 128;
    lab_tensor *xc;
    if (cnn) {
        int64_t flat = 64 * (side / 4) * (side / 4);
        if (lab_conv2d_layer_init(&m.conv[0], m.p, "conv1", chans, 32, 3, 1, 1, 1, &rng) < 0 ||
            lab_conv2d_layer_init(&m.conv[1], m.p, "conv2", 32, 64, 3, 1, 1, 1, &rng) < 0 ||
            lab_linear_layer_init(&m.fc[0], m.p, "fc1", flat, 256, 1, &rng) < 0 ||
            lab_linear_layer_init(&m.fc[1], m.p, "fc2", 256, 10, 1, &rng) < 0)
            die("init");
        xc = lab_rng_normal(&rng, 4, (int64_t[]){B, chans, side, side}, 0, 1, LAB_CPU);
    } else {
        if (lab_linear_layer_init(&m.fc[0], m.p, "fc1", 784, 256, 1, &rng) < 0 ||
            lab_linear_layer_init(&m.fc[1], m.p, "fc2", 256, 256, 1, &rng) < 0 ||
            lab_linear_layer_init(&m.fc[2], m.p, "fc3", 256, 10, 1, &rng) < 0)
            die("init");
        xc = lab_rng_normal(&rng, 2, (int64_t[]){B, 784}, 0, 1, LAB_CPU);
    }
    int64_t nb = B;
    lab_tensor *yc = lab_rng_randint(&rng, 1, &nb, 0, 10, LAB_CPU);
    if (lab_params_to(m.p, GPU) < 0) die("params to cuda");
    lab_tensor *x = lab_tensor_to(xc, GPU), *y = lab_tensor_to(yc, GPU);
    if (!x || !y) die("batch to cuda");
    lab_optim_config oc = lab_optim_defaults(LAB_OPTIM_ADAM);
    oc.lr = 1e-3f;
    lab_optim *opt = lab_optim_new(&oc, m.p);
    if (!opt) die("optim");
    int reps = 100;
    double t[100];
    for (int r = -5; r < reps; r++) {
        sync0();
        double t0 = bench_wall_s();
        lab_scope_begin();
        lab_tensor *loss = lab_cross_entropy(forward(&m, x), y);
        if (!loss || lab_backward(loss) < 0) die("step");
        if (lab_optim_step(opt) < 0) die("optim step");
        lab_optim_zero_grad(opt);
        lab_scope_end();
        sync0();
        if (r >= 0) t[r] = bench_wall_s() - t0;
    }
    size_t cur = 0, peak = 0;
    lab_cuda_memory_stats(0, &cur, &peak);
    printf("{\"workload\": \"%s\", \"ms\": %.4f, \"held_mib\": %.1f}\n", name, bench_median(t, reps) * 1e3,
           (double)cur / 1048576.0);
    lab_optim_free(opt);
    lab_params_free(m.p);
    lab_tensor_release(xc), lab_tensor_release(yc), lab_tensor_release(x), lab_tensor_release(y);
}

static void bench_attention(const char *name, int composed)
{
    if (composed)
        setenv("LAB_CUDA_ATTN", "composed", 1);
    else
        unsetenv("LAB_CUDA_ATTN");
    int64_t shape[4] = {16, 4, 128, 32};
    lab_rng rng = lab_rng_make(7, 0);
    lab_tensor *q = lab_tensor_to(lab_rng_normal(&rng, 4, shape, 0, 1, LAB_CPU), GPU);
    lab_tensor *k = lab_tensor_to(lab_rng_normal(&rng, 4, shape, 0, 1, LAB_CPU), GPU);
    lab_tensor *v = lab_tensor_to(lab_rng_normal(&rng, 4, shape, 0, 1, LAB_CPU), GPU);
    lab_tensor *r = lab_tensor_to(lab_rng_normal(&rng, 4, shape, 0, 1, LAB_CPU), GPU);
    if (!q || !k || !v || !r) die("attention inputs");
    lab_tensor_set_requires_grad(q, 1);
    lab_tensor_set_requires_grad(k, 1);
    lab_tensor_set_requires_grad(v, 1);
    int reps = 100;
    double t[100];
    for (int i = -5; i < reps; i++) {
        sync0();
        double t0 = bench_wall_s();
        lab_scope_begin();
        lab_tensor *loss = lab_sum_all(lab_mul(lab_attention(q, k, v, NULL, 1), r));
        if (!loss || lab_backward(loss) < 0) die("attention step");
        lab_scope_end();
        sync0();
        if (i >= 0) t[i] = bench_wall_s() - t0;
        lab_tensor_zero_grad(q), lab_tensor_zero_grad(k), lab_tensor_zero_grad(v);
    }
    printf("{\"workload\": \"%s\", \"ms\": %.4f}\n", name, bench_median(t, reps) * 1e3);
    unsetenv("LAB_CUDA_ATTN");
    lab_tensor_release(q), lab_tensor_release(k), lab_tensor_release(v), lab_tensor_release(r);
}

int main(int argc, char **argv)
{
    if (lab_cuda_device_count() <= 0) {
        fprintf(stderr, "no CUDA device: %s\n", lab_cuda_unavailable_reason());
        return 3;
    }
    const char *only = argc > 1 ? argv[1] : NULL; /* one workload by name prefix */
    char info[256] = "";
    lab_cuda_device_info(0, info, sizeof info);
    printf("{\"workload\": \"device\", \"info\": \"%s\"}\n", info);
    fflush(stdout);
    int have_cublas = cublas_open() == 0;
    if (!have_cublas) fprintf(stderr, "bench_gpu: direct cuBLAS unavailable: %s\n", dlerror());
#define RUN(name, call)                                                                            \
    if (!only || strncmp(name, only, strlen(only)) == 0) {                                         \
        call;                                                                                      \
        fflush(stdout);                                                                            \
        lab_cuda_empty_cache(0);                                                                   \
    }
    RUN("copy", bench_copy());
    RUN("sgemm2048", bench_sgemm(2048, have_cublas));
    RUN("sgemm4096", bench_sgemm(4096, have_cublas));
    RUN("sgemm8192", bench_sgemm(8192, have_cublas));
    RUN("elementwise", bench_elementwise());
    RUN("gcn", bench_gcn());
    RUN("mlp", bench_train("mlp", 0, 1, 28));
    RUN("cnn1x28", bench_train("cnn1x28", 1, 1, 28));
    RUN("cnn3x32", bench_train("cnn3x32", 1, 3, 32));
    if (!only || strncmp("cnn3x32_per_image", only, strlen(only)) == 0) {
        setenv("LAB_CUDA_CONV", "per-image", 1);
        bench_train("cnn3x32_per_image", 1, 3, 32);
        unsetenv("LAB_CUDA_CONV");
        fflush(stdout);
    }
    RUN("attention", bench_attention("attention", 0));
    RUN("attention_composed", bench_attention("attention_composed", 1));
    if (have_cublas) cb.destroy(cb.handle);
    return 0;
}
