/* NoProp benchmarks (tests/bench/suite_noprop.sh runs them next to the same
 * workloads in PyTorch, bench_noprop.py, written from the brief, and prints
 * the ratios):
 *
 *   bench_noprop block THREADS        one DT block train step (MNIST shapes,
 *                                     one-hot, batch 128): the block's local
 *                                     loss and the head's CE, forward,
 *                                     backward, AdamW
 *   bench_noprop infer THREADS        full DT inference: the 10-block chain
 *                                     and the head on 1000 images (eval mode)
 *   bench_noprop epoch DEVICE THREADS [N]
 *                                     one DT epoch (10 phases) over N MNIST-
 *                                     shaped images (default 60000) on DEVICE
 *                                     (cpu, cuda): seconds per epoch and the
 *                                     projected 100-epoch time
 *
 * Inputs are random (the cost does not depend on the values). The plugin's
 * own code is compiled in, so this measures exactly what labrun runs. Each
 * mode prints one JSON object: the median over timed repetitions after
 * warm-up, in wall-clock and in process CPU seconds (on a shared machine
 * the CPU time is the steadier measure). Never part of make test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lab/lab.h"

#include "../../plugins/noprop/common.c"
#include "../../plugins/noprop/embed.c"
#include "../../plugins/noprop/eval.c"
#include "../../plugins/noprop/model.c"
#include "../../plugins/noprop/noprop.c"
#include "../../plugins/noprop/schedule.c"
#include "../../plugins/noprop/table.c"
#include "../../plugins/noprop/train_bp.c"
#include "../../plugins/noprop/train_ct.c"
#include "../../plugins/noprop/train_dt.c"
#include "../../plugins/noprop/train_fm.c"
#include "bench_common.h"

static void die(const char *what)
{
    fprintf(stderr, "bench_noprop: %s: %s\n", what, lab_error());
    exit(1);
}

static np_opts dt_opts(void)
{
    np_opts o;
    memset(&o, 0, sizeof o);
    o.method = NP_DT, o.embedding = NP_EMB_ONEHOT, o.T = 10, o.eta = 0.1;
    o.cos_s = 0.008, o.ab_min = 1e-5, o.ab_max = 0.9999, o.dropout = 0.2f;
    o.epochs = 1, o.batch = 128, o.lr = 1e-3, o.weight_decay = 1e-3, o.optim = LAB_OPTIM_ADAMW;
    o.data_name = "mnist", o.data_root = "", o.eval_runs = 1, o.eval_batch = 1000, o.table = "none";
    return o;
}

/* A DT state over n random MNIST-shaped images on dev. */
static void make_state(np_state *s, const np_opts *o, int64_t n, lab_device dev)
{
    memset(s, 0, sizeof *s);
    s->dev = dev;
    if (np_shape_for("mnist", &s->sh) < 0) die("shape");
    lab_rng r = lab_rng_make(1, 0);
    int64_t shape[4] = {n, 1, 28, 28};
    s->xtr = lab_tensor_own(lab_rng_normal(&r, 4, shape, 0, 1, LAB_CPU));
    s->ytr = lab_tensor_own(lab_rng_randint(&r, 1, &n, 0, 10, LAB_CPU));
    s->xte = lab_tensor_retain(s->xtr);
    s->yte = lab_tensor_retain(s->ytr);
    if (!lab_device_eq(dev, LAB_CPU)) {
        lab_tensor *x = lab_tensor_own(lab_tensor_to(s->xtr, dev)), *y = lab_tensor_own(lab_tensor_to(s->ytr, dev));
        if (!x || !y) die("to device");
        lab_tensor_release(s->xtr), lab_tensor_release(s->ytr), lab_tensor_release(s->xte), lab_tensor_release(s->yte);
        s->xtr = x, s->ytr = y, s->xte = lab_tensor_retain(x), s->yte = lab_tensor_retain(y);
    }
    lab_rng rng = lab_rng_make(0, 0);
    if (np_state_build(s, o, &rng) < 0) die("build");
}

static void bench_block(void)
{
    np_opts o = dt_opts();
    np_state s;
    make_state(&s, &o, 128, LAB_CPU);
    enum { REPS = 12 };
    double w[REPS], c[REPS];
    for (int r = -3; r < REPS; r++) {
        lab_rng noise = lab_rng_make(2, (uint64_t)(r + 3));
        double w0 = bench_wall_s(), c0 = bench_cpu_s(), ce, local;
        lab_scope_begin();
        if (np_dt_step(&s, 5, s.xtr, s.ytr, &noise, &ce, &local) < 0) die("step");
        lab_scope_end();
        if (r >= 0) w[r] = bench_wall_s() - w0, c[r] = bench_cpu_s() - c0;
    }
    double mw = bench_median(w, REPS), mc = bench_median(c, REPS);
    printf("{\"workload\": \"dt-block-step\", \"batch\": 128, \"ms\": %.3f, \"cpu_ms\": %.3f, \"images_per_s\": %.1f, "
           "\"images_per_cpu_s\": %.1f}\n",
           mw * 1e3, mc * 1e3, 128 / mw, 128 / mc);
    np_state_free(&s);
}

static void bench_infer(void)
{
    np_opts o = dt_opts();
    np_state s;
    make_state(&s, &o, 1000, LAB_CPU);
    enum { REPS = 5 };
    double w[REPS], c[REPS];
    int64_t *pred = malloc(1000 * sizeof *pred);
    for (int r = -1; r < REPS; r++) {
        double w0 = bench_wall_s(), c0 = bench_cpu_s();
        if (np_predict(&s, s.xte, (uint64_t)(r + 1), pred, NULL, NULL, NULL) < 0) die("predict");
        if (r >= 0) w[r] = bench_wall_s() - w0, c[r] = bench_cpu_s() - c0;
    }
    double mw = bench_median(w, REPS), mc = bench_median(c, REPS);
    printf("{\"workload\": \"dt-inference\", \"images\": 1000, \"blocks\": 10, \"ms\": %.3f, \"cpu_ms\": %.3f, "
           "\"images_per_s\": %.1f, \"images_per_cpu_s\": %.1f}\n",
           mw * 1e3, mc * 1e3, 1000 / mw, 1000 / mc);
    free(pred);
    np_state_free(&s);
}

static void bench_epoch(const char *devs, int64_t n)
{
    lab_device dev;
    if (!strcmp(devs, "cuda") && lab_cuda_unavailable_reason()[0]) {
        fprintf(stderr, "%s\n", lab_cuda_unavailable_reason());
        exit(3);
    }
    if (lab_device_parse(devs, &dev) < 0) die("device");
    np_opts o = dt_opts();
    np_state s;
    make_state(&s, &o, n, dev);
    np_epoch_stats st;
    double w0 = bench_wall_s(), c0 = bench_cpu_s();
    if (np_dt_epoch(&s, NULL, 0, 0, &st) < 0) die("epoch");
    double w = bench_wall_s() - w0, c = bench_cpu_s() - c0;
    printf("{\"workload\": \"dt-epoch\", \"device\": \"%s\", \"images\": %lld, \"s_per_epoch\": %.3f, \"cpu_s\": %.3f, "
           "\"s_per_60000\": %.3f, \"projected_100_epochs_s\": %.1f}\n",
           devs, (long long)n, w, c, w * 60000.0 / (double)n, 100 * w * 60000.0 / (double)n);
    np_state_free(&s);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_noprop block|infer THREADS | epoch DEVICE THREADS [N]\n");
        return 2;
    }
    if (!strcmp(argv[1], "epoch")) {
        if (argc < 4) return 2;
        lab_set_num_threads(atoi(argv[3]));
        bench_epoch(argv[2], argc > 4 ? atoll(argv[4]) : 60000);
        return 0;
    }
    lab_set_num_threads(atoi(argv[2]));
    if (!strcmp(argv[1], "block"))
        bench_block();
    else if (!strcmp(argv[1], "infer"))
        bench_infer();
    else
        return 2;
    return 0;
}
