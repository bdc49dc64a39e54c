/* Core benchmarks: sgemm, an MLP train step and a small CNN train step, each
 * in its own process so peak RSS belongs to one workload. The same
 * workloads in PyTorch are in bench_core.py; run.sh runs both and writes
 * build/bench/core.json with ratios (ours / PyTorch).
 *
 *   bench_core gemm N THREADS | mlp THREADS | cnn1 THREADS | cnn3 THREADS
 * prints one JSON object on stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lab/lab.h"
#include "bench_common.h"

static long rss_kb(void)
{
    /* Current RSS from /proc (ru_maxrss is the peak). */
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return res * 4;
}

static long peak_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_core: %s: %s\n", what, lab_error());
    exit(1);
}

static void bench_gemm(int n)
{
    lab_rng rng = lab_rng_make(0, 0);
    int64_t sh[2] = {n, n};
    lab_tensor *a = lab_rng_normal(&rng, 2, sh, 0, 1, LAB_CPU), *b = lab_rng_normal(&rng, 2, sh, 0, 1, LAB_CPU);
    long base = rss_kb();
    int reps = n <= 512 ? 40 : n <= 1024 ? 12 : 4;
    double t[64];
    for (int r = -2; r < reps; r++) {
        lab_scope_begin();
        double t0 = bench_wall_s();
        if (!lab_matmul(a, b)) die("matmul");
        double dt = bench_wall_s() - t0;
        lab_scope_end();
        if (r >= 0) t[r] = dt;
    }
    double med = bench_median(t, reps);
    printf("{\"workload\": \"gemm%d\", \"ms\": %.4f, \"gflops\": %.2f, \"peak_rss_kb\": %ld, \"base_rss_kb\": %ld}\n",
           n, med * 1e3, 2.0 * n * n * (double)n / med / 1e9, peak_kb(), base);
    lab_tensor_release(a);
    lab_tensor_release(b);
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

static void bench_train(const char *name, int cnn, int chans, int side)
{
    lab_rng rng = lab_rng_make(0, 0);
    model m = {.p = lab_params_new(), .cnn = cnn};
    int B = 128;
    lab_tensor *x;
    if (cnn) {
        int64_t flat = 64 * (side / 4) * (side / 4);
        if (lab_conv2d_layer_init(&m.conv[0], m.p, "conv1", chans, 32, 3, 1, 1, 1, &rng) < 0 ||
            lab_conv2d_layer_init(&m.conv[1], m.p, "conv2", 32, 64, 3, 1, 1, 1, &rng) < 0 ||
            lab_linear_layer_init(&m.fc[0], m.p, "fc1", flat, 256, 1, &rng) < 0 ||
            lab_linear_layer_init(&m.fc[1], m.p, "fc2", 256, 10, 1, &rng) < 0)
            die("init");
        int64_t sh[4] = {B, chans, side, side};
        x = lab_rng_normal(&rng, 4, sh, 0, 1, LAB_CPU);
    } else {
        if (lab_linear_layer_init(&m.fc[0], m.p, "fc1", 784, 256, 1, &rng) < 0 ||
            lab_linear_layer_init(&m.fc[1], m.p, "fc2", 256, 256, 1, &rng) < 0 ||
            lab_linear_layer_init(&m.fc[2], m.p, "fc3", 256, 10, 1, &rng) < 0)
            die("init");
        int64_t sh[2] = {B, 784};
        x = lab_rng_normal(&rng, 2, sh, 0, 1, LAB_CPU);
    }
    int64_t nb = B;
    lab_tensor *y = lab_rng_randint(&rng, 1, &nb, 0, 10, LAB_CPU);
    lab_optim_config oc = lab_optim_defaults(LAB_OPTIM_ADAM);
    oc.lr = 1e-3f;
    lab_optim *opt = lab_optim_new(&oc, m.p);
    if (!opt) die("optim");
    long base = rss_kb();
    int reps = cnn ? 20 : 100;
    double t[128];
    for (int r = -3; r < reps; r++) {
        double t0 = bench_wall_s();
        lab_scope_begin();
        lab_tensor *loss = lab_cross_entropy(forward(&m, x), y);
        if (!loss || lab_backward(loss) < 0) die("step");
        lab_optim_step(opt);
        lab_optim_zero_grad(opt);
        lab_scope_end();
        if (r >= 0) t[r] = bench_wall_s() - t0;
    }
    printf("{\"workload\": \"%s\", \"ms\": %.4f, \"peak_rss_kb\": %ld, \"base_rss_kb\": %ld}\n", name,
           bench_median(t, reps) * 1e3, peak_kb(), base);
    lab_optim_free(opt);
    lab_params_free(m.p);
    lab_tensor_release(x);
    lab_tensor_release(y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_core gemm N THREADS | mlp|cnn1|cnn3 THREADS\n");
        return 2;
    }
    const char *w = argv[1];
    lab_set_num_threads(atoi(argv[argc - 1]));
    if (strcmp(w, "gemm") == 0 && argc == 4)
        bench_gemm(atoi(argv[2]));
    else if (strcmp(w, "mlp") == 0)
        bench_train("mlp", 0, 1, 28);
    else if (strcmp(w, "cnn1") == 0)
        bench_train("cnn1x28", 1, 1, 28);
    else if (strcmp(w, "cnn3") == 0)
        bench_train("cnn3x32", 1, 3, 32);
    else {
        fprintf(stderr, "bench_core: unknown workload '%s'\n", w);
        return 2;
    }
    return 0;
}
