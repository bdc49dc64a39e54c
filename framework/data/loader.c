/* Mini-batch loader: per-epoch shuffling, augmentation, normalisation and
 * prefetching on one worker thread.
 *
 * Batches form one sequence s = epoch * batches_per_epoch + b. Building batch
 * s is a pure function of (data, config, rng, s), so the worker may run ahead
 * by `prefetch` batches without changing any result. The worker keeps its
 * tensors outside every scope (it has none); lab_loader_next hands them over
 * as fresh views made on the consumer's thread, so they land in the
 * consumer's scope.
 *
 * On a device (cfg.device), the producing thread builds each batch in one
 * staging buffer per loader and copies it into fresh device tensors. With a
 * worker thread the buffer is page-locked (when the backend offers it): the
 * copy is a DMA, and it waits for the device's stream, which blocks only the
 * worker. Without one the buffer is ordinary memory, whose copy the driver
 * stages without waiting for the stream. Only one thread produces at a time
 * (the worker, or lab_loader_next without prefetching).
 *
 * Tested in tests/unit/test_loader.c (order, drop_last, subset, augmentation
 * and normalisation against direct computation, identical batches with and
 * without prefetching, set_epoch, clean shutdown under ASan). Benchmarked by
 * tests/bench/bench_data.c (MNIST epoch throughput and wait fraction).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lab/cuda.h"
#include "lab/error.h"
#include "lab/loader.h"

/* Stream ids forked from the loader's rng. */
#define STREAM_SHUFFLE 1
#define STREAM_AUGMENT 2

typedef struct {
    int64_t seq;   /* -1 = empty */
    lab_tensor *x, *y;
    int failed;
    char err[512];
} slot;

struct lab_loader {
    /* Immutable after creation. */
    lab_tensor *x, *y;   /* retained */
    int64_t n;           /* samples per epoch */
    int64_t *index;      /* [n] sample ids (the subset or 0..N-1) */
    int64_t sample_numel;
    int64_t nb;          /* batches per epoch */
    lab_loader_cfg cfg;  /* subset/mean/std pointers cleared */
    float *mean, *std;   /* [channels] or NULL */
    int64_t C, H, W;     /* image geometry for augmentation */
    int64_t nC;          /* normalisation groups: x[:, c] for channels > 1, else 1 */
    lab_rng shuffle, augment;

    /* The producer's epoch order cache (only the producing thread touches it). */
    int64_t perm_epoch;
    int64_t *perm;
    /* Device batches: the producer's staging buffers (x then y). */
    void *stage;
    size_t stage_bytes;
    int stage_pinned;

    /* Consumer state. */
    int64_t epoch, b;
    double wait_s, t_first, t_last;
    int started;

    /* Prefetch queue. */
    int depth;
    slot *slots;
    int64_t next_produce, next_consume;
    uint64_t gen;
    int stop, has_thread;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv_ready, cv_space;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

lab_loader_cfg lab_loader_defaults(int64_t batch_size)
{
    lab_loader_cfg c;
    memset(&c, 0, sizeof c);
    c.batch_size = batch_size;
    c.shuffle = 1;
    c.prefetch = 2;
    c.scale = 1.0f;
    return c;
}

/* --- building one batch ----------------------------------------------------- */

static int ensure_perm(lab_loader *l, int64_t epoch)
{
    if (l->perm_epoch == epoch) return 0;
    for (int64_t i = 0; i < l->n; i++) l->perm[i] = i;
    if (l->cfg.shuffle) {
        lab_rng r = lab_rng_fork(&l->shuffle, (uint64_t)epoch);
        lab_rng_shuffle_i64(&r, l->perm, l->n);
    }
    l->perm_epoch = epoch;
    return 0;
}

/* Augment, scale and normalise one sample in place of dst (src is the
 * dataset's row). */
static void build_sample(const lab_loader *l, const float *src, float *dst, lab_rng *aug)
{
    int64_t C = l->C, H = l->H, W = l->W, inner = l->sample_numel / l->nC;
    if (l->cfg.crop_pad > 0 || l->cfg.hflip) {
        int64_t p = l->cfg.crop_pad, dy = 0, dx = 0;
        int flip = 0;
        /* Same draw order for every sample: crop offsets, then the flip. */
        if (p > 0) {
            dy = (int64_t)lab_rng_next_below(aug, (uint64_t)(2 * p + 1));
            dx = (int64_t)lab_rng_next_below(aug, (uint64_t)(2 * p + 1));
        }
        if (l->cfg.hflip) flip = (int)lab_rng_next_below(aug, 2);
        for (int64_t c = 0; c < C; c++) {
            const float *sc = src + c * H * W;
            float *oc = dst + c * H * W;
            for (int64_t i = 0; i < H; i++) {
                int64_t si = i + dy - p;
                for (int64_t j = 0; j < W; j++) {
                    int64_t sj = (flip ? W - 1 - j : j) + dx - p;
                    oc[i * W + j] = (si >= 0 && si < H && sj >= 0 && sj < W) ? sc[si * W + sj] : 0.0f;
                }
            }
        }
    } else {
        memcpy(dst, src, (size_t)l->sample_numel * sizeof *dst);
    }
    float s = l->cfg.scale;
    if (l->mean) {
        for (int64_t c = 0; c < l->nC; c++) {
            float m = l->mean[c], inv = 1.0f / l->std[c];
            float *o = dst + c * inner;
            for (int64_t k = 0; k < inner; k++) o[k] = (o[k] * s - m) * inv;
        }
    } else if (s != 1.0f) {
        for (int64_t k = 0; k < l->sample_numel; k++) dst[k] *= s;
    }
}

/* Where the labels start in the staging buffer: after a full batch of x,
 * rounded up to 8 bytes for the int64 labels. */
static size_t stage_y_offset(const lab_loader *l)
{
    size_t xb = (size_t)(l->cfg.batch_size * l->sample_numel) * sizeof(float);
    return (xb + 7) & ~(size_t)7;
}

/* Batch `seq` as tensors outside every scope. */
static int produce(lab_loader *l, int64_t seq, lab_tensor **xo, lab_tensor **yo)
{
    *xo = *yo = NULL;
    int64_t epoch = seq / l->nb, b = seq % l->nb;
    ensure_perm(l, epoch);
    int64_t start = b * l->cfg.batch_size, cnt = l->n - start;
    if (cnt > l->cfg.batch_size) cnt = l->cfg.batch_size;
    int64_t shape[LAB_MAX_DIMS];
    shape[0] = cnt;
    for (int d = 1; d < l->x->ndim; d++) shape[d] = l->x->shape[d];
    int on_dev = l->cfg.device.type != LAB_DEV_CPU;
    lab_tensor *x = NULL, *y = NULL;
    float *xd;
    int64_t *yd = NULL;
    if (on_dev) {
        xd = l->stage;
        if (l->y) yd = (int64_t *)((char *)l->stage + stage_y_offset(l));
    } else {
        x = lab_tensor_own(lab_tensor_empty(LAB_F32, l->x->ndim, shape, LAB_CPU));
        y = l->y ? lab_tensor_own(lab_tensor_empty(LAB_I64, 1, &cnt, LAB_CPU)) : NULL;
        if (!x || (l->y && !y)) {
            lab_tensor_release(x);
            lab_tensor_release(y);
            return -1;
        }
        xd = lab_tensor_f32(x);
        yd = y ? lab_tensor_i64(y) : NULL;
    }
    lab_rng ae = lab_rng_fork(&l->augment, (uint64_t)epoch);
    lab_rng aug = lab_rng_fork(&ae, (uint64_t)b);
    const float *xs = lab_tensor_f32(l->x);
    const int64_t *ys = l->y ? lab_tensor_i64(l->y) : NULL;
    for (int64_t i = 0; i < cnt; i++) {
        int64_t id = l->index[l->perm[start + i]];
        build_sample(l, xs + id * l->sample_numel, xd + i * l->sample_numel, &aug);
        if (yd) yd[i] = ys[id];
    }
    if (on_dev) {
        x = lab_tensor_own(lab_tensor_empty(LAB_F32, l->x->ndim, shape, l->cfg.device));
        y = l->y ? lab_tensor_own(lab_tensor_empty(LAB_I64, 1, &cnt, l->cfg.device)) : NULL;
        if (!x || (l->y && !y) || lab_tensor_copy_from_host(x, xd) < 0 || (y && lab_tensor_copy_from_host(y, yd) < 0)) {
            lab_tensor_release(x);
            lab_tensor_release(y);
            return -1;
        }
    }
    *xo = x;
    *yo = y;
    return 0;
}

/* --- worker ------------------------------------------------------------------ */

static void *worker_main(void *arg)
{
    lab_loader *l = arg;
    pthread_mutex_lock(&l->mu);
    while (!l->stop) {
        int64_t s = l->next_produce;
        slot *sl = &l->slots[s % l->depth];
        if (s >= l->next_consume + l->depth || sl->seq >= 0) {
            pthread_cond_wait(&l->cv_space, &l->mu);
            continue;
        }
        uint64_t gen = l->gen;
        pthread_mutex_unlock(&l->mu);
        lab_tensor *x = NULL, *y = NULL;
        int rc = produce(l, s, &x, &y);
        pthread_mutex_lock(&l->mu);
        if (gen != l->gen || l->stop) {
            /* set_epoch or shutdown happened meanwhile: the batch is stale. */
            lab_tensor_release(x);
            lab_tensor_release(y);
            continue;
        }
        sl->seq = s;
        sl->x = x;
        sl->y = y;
        sl->failed = rc < 0;
        if (rc < 0) snprintf(sl->err, sizeof sl->err, "%s", lab_error());
        l->next_produce = s + 1;
        pthread_cond_broadcast(&l->cv_ready);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Drop every queued batch (lock held). */
static void drain_slots(lab_loader *l)
{
    for (int i = 0; i < l->depth; i++) {
        slot *sl = &l->slots[i];
        if (sl->seq >= 0) {
            lab_tensor_release(sl->x);
            lab_tensor_release(sl->y);
        }
        sl->seq = -1;
        sl->x = sl->y = NULL;
    }
}

/* --- public ---------------------------------------------------------------------- */

void lab_loader_free(lab_loader *l)
{
    if (!l) return;
    if (l->has_thread) {
        pthread_mutex_lock(&l->mu);
        l->stop = 1;
        pthread_cond_broadcast(&l->cv_space);
        pthread_cond_broadcast(&l->cv_ready);
        pthread_mutex_unlock(&l->mu);
        pthread_join(l->thread, NULL);
    }
    if (l->slots) drain_slots(l);
    if (l->depth) {
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv_ready);
        pthread_cond_destroy(&l->cv_space);
    }
    free(l->slots);
    lab_tensor_release(l->x);
    lab_tensor_release(l->y);
    free(l->index);
    free(l->perm);
    free(l->mean);
    free(l->std);
    if (l->stage_pinned)
        lab_cuda_host_free(l->stage);
    else
        free(l->stage);
    free(l);
}

lab_loader *lab_loader_new(lab_tensor *x, lab_tensor *y, const lab_loader_cfg *cfg, const lab_rng *rng)
{
    const char *op = "loader";
    char buf[96], buf2[96];
    if (!x) return NULL;
    if (!cfg || !rng) {
        lab_error_set("%s: NULL config or rng", op);
        return NULL;
    }
    if (x->dtype != LAB_F32 || x->device.type != LAB_DEV_CPU || x->ndim < 1) {
        lab_error_set("%s: x must be f32 [N, ...] on the cpu, got %s", op, lab_tensor_desc(x, buf, sizeof buf));
        return NULL;
    }
    int64_t N = x->shape[0];
    if (y && (y->dtype != LAB_I64 || y->device.type != LAB_DEV_CPU || y->ndim != 1 || y->shape[0] != N)) {
        lab_error_set("%s: y must be i64 [%lld] on the cpu to match x %s, got %s", op, (long long)N,
                      lab_tensor_desc(x, buf, sizeof buf), lab_tensor_desc(y, buf2, sizeof buf2));
        return NULL;
    }
    if (cfg->batch_size < 1) {
        lab_error_set("%s: batch_size must be >= 1, got %lld", op, (long long)cfg->batch_size);
        return NULL;
    }
    if (cfg->prefetch < 0 || cfg->prefetch > 64) {
        lab_error_set("%s: prefetch must be in [0, 64], got %d", op, cfg->prefetch);
        return NULL;
    }
    if (cfg->crop_pad < 0) {
        lab_error_set("%s: crop_pad must be >= 0, got %d", op, cfg->crop_pad);
        return NULL;
    }
    lab_loader *l = calloc(1, sizeof *l);
    if (!l) {
        lab_error_set("%s: out of host memory", op);
        return NULL;
    }
    l->cfg = *cfg;
    l->cfg.subset = NULL;
    l->cfg.mean = l->cfg.std = NULL;
    if (l->cfg.scale == 0.0f) l->cfg.scale = 1.0f;
    l->sample_numel = 1;
    for (int d = 1; d < x->ndim; d++) l->sample_numel *= x->shape[d];
    /* Geometry: [N, C, H, W], [N, H, W] (C = 1), otherwise C = shape[1] or 1. */
    if (x->ndim == 4) {
        l->C = x->shape[1], l->H = x->shape[2], l->W = x->shape[3];
    } else if (x->ndim == 3) {
        l->C = 1, l->H = x->shape[1], l->W = x->shape[2];
    } else {
        l->C = 1, l->H = 1, l->W = l->sample_numel;
    }
    if ((cfg->crop_pad > 0 || cfg->hflip) && x->ndim != 3 && x->ndim != 4) {
        lab_error_set("%s: crop and flip need images [N, C, H, W] or [N, H, W], got %s", op,
                      lab_tensor_desc(x, buf, sizeof buf));
        goto fail;
    }
    l->nC = 1;
    if (cfg->mean || cfg->std) {
        if (!cfg->mean || !cfg->std || cfg->channels < 1) {
            lab_error_set("%s: normalisation needs mean, std and channels >= 1", op);
            goto fail;
        }
        if (cfg->channels > 1) {
            if (x->ndim < 3 || x->shape[1] != cfg->channels) {
                lab_error_set("%s: %d channels of mean/std need x [N, %d, ...], got %s", op, cfg->channels,
                              cfg->channels, lab_tensor_desc(x, buf, sizeof buf));
                goto fail;
            }
            l->nC = x->shape[1];
        }
        l->mean = malloc((size_t)cfg->channels * sizeof *l->mean);
        l->std = malloc((size_t)cfg->channels * sizeof *l->std);
        if (!l->mean || !l->std) {
            lab_error_set("%s: out of host memory", op);
            goto fail;
        }
        for (int c = 0; c < cfg->channels; c++) {
            if (!(cfg->std[c] > 0)) {
                lab_error_set("%s: std[%d] must be > 0, got %g", op, c, (double)cfg->std[c]);
                goto fail;
            }
            l->mean[c] = cfg->mean[c];
            l->std[c] = cfg->std[c];
        }
    }
    if (cfg->subset) {
        if (cfg->subset_len < 1) {
            lab_error_set("%s: subset_len must be >= 1, got %lld", op, (long long)cfg->subset_len);
            goto fail;
        }
        l->n = cfg->subset_len;
    } else {
        l->n = N;
    }
    if (l->n < 1) {
        lab_error_set("%s: the data set is empty", op);
        goto fail;
    }
    l->index = malloc((size_t)l->n * sizeof *l->index);
    l->perm = malloc((size_t)l->n * sizeof *l->perm);
    if (!l->index || !l->perm) {
        lab_error_set("%s: out of host memory", op);
        goto fail;
    }
    for (int64_t i = 0; i < l->n; i++) {
        int64_t id = cfg->subset ? cfg->subset[i] : i;
        if (id < 0 || id >= N) {
            lab_error_set("%s: subset index %lld at position %lld is out of range [0, %lld)", op, (long long)id,
                          (long long)i, (long long)N);
            goto fail;
        }
        l->index[i] = id;
    }
    l->nb = cfg->drop_last ? l->n / cfg->batch_size : (l->n + cfg->batch_size - 1) / cfg->batch_size;
    if (l->nb < 1) {
        lab_error_set("%s: drop_last with batch_size %lld leaves no batch of %lld samples", op,
                      (long long)cfg->batch_size, (long long)l->n);
        goto fail;
    }
    if (cfg->device.type != LAB_DEV_CPU) {
        /* Fails here, with the backend's reason, rather than at the first batch. */
        lab_tensor *probe = lab_tensor_empty(LAB_F32, 1, (int64_t[]){1}, cfg->device);
        if (!probe) {
            char d[32], why[512];
            snprintf(why, sizeof why, "%s", lab_error());
            lab_error_set("%s: device %s: %s", op, lab_device_str(cfg->device, d, sizeof d), why);
            goto fail;
        }
        lab_tensor_release(lab_tensor_own(probe));
        l->stage_bytes = stage_y_offset(l) + (y ? (size_t)cfg->batch_size * sizeof(int64_t) : 0);
        /* Pinned only for the prefetch thread: a copy from pinned memory
         * waits for the device's one stream (so the buffer can be refilled),
         * which must not stall the consumer; from pageable memory the driver
         * stages the copy and returns without that wait. */
        if (cfg->device.type == LAB_DEV_CUDA && cfg->prefetch > 0) {
            l->stage = lab_cuda_host_alloc(l->stage_bytes);
            if (!l->stage) lab_error_clear(); /* falls back to pageable memory below */
        }
        l->stage_pinned = l->stage != NULL;
        if (!l->stage) l->stage = malloc(l->stage_bytes);
        if (!l->stage) {
            lab_error_set("%s: out of host memory for a %zu-byte staging buffer", op, l->stage_bytes);
            goto fail;
        }
    }
    l->perm_epoch = -1;
    l->shuffle = lab_rng_fork(rng, STREAM_SHUFFLE);
    l->augment = lab_rng_fork(rng, STREAM_AUGMENT);
    l->x = lab_tensor_retain(x);
    l->y = y ? lab_tensor_retain(y) : NULL;
    if (cfg->prefetch > 0) {
        l->depth = cfg->prefetch;
        l->slots = calloc((size_t)l->depth, sizeof *l->slots);
        if (!l->slots) {
            l->depth = 0;
            lab_error_set("%s: out of host memory", op);
            goto fail;
        }
        for (int i = 0; i < l->depth; i++) l->slots[i].seq = -1;
        pthread_mutex_init(&l->mu, NULL);
        pthread_cond_init(&l->cv_ready, NULL);
        pthread_cond_init(&l->cv_space, NULL);
        if (pthread_create(&l->thread, NULL, worker_main, l) != 0) {
            lab_error_set("%s: cannot start the prefetch thread", op);
            goto fail;
        }
        l->has_thread = 1;
    }
    return l;
fail:
    lab_loader_free(l);
    return NULL;
}

int64_t lab_loader_size(const lab_loader *l) { return l ? l->n : 0; }
int64_t lab_loader_num_batches(const lab_loader *l) { return l ? l->nb : 0; }
int64_t lab_loader_epoch(const lab_loader *l) { return l ? l->epoch : 0; }

/* Hand a worker-owned tensor to the caller's scope. */
static lab_tensor *hand_over(lab_tensor *t)
{
    if (!t) return NULL;
    lab_tensor *v = lab_tensor_detach(t);
    lab_tensor_release(t);
    return v;
}

int lab_loader_next(lab_loader *l, lab_tensor **x, lab_tensor **y)
{
    if (!x) return lab_error_set("loader_next: NULL output pointer");
    *x = NULL;
    if (y) *y = NULL;
    if (!l) return lab_error_set("loader_next: NULL loader");
    double t0 = now_s();
    if (!l->started) {
        l->started = 1;
        l->t_first = t0;
    }
    if (l->b == l->nb) {
        l->epoch++;
        l->b = 0;
        l->t_last = now_s();
        return 0;
    }
    int64_t s = l->epoch * l->nb + l->b;
    lab_tensor *bx = NULL, *by = NULL;
    int rc = 0;
    if (l->has_thread) {
        pthread_mutex_lock(&l->mu);
        slot *sl = &l->slots[s % l->depth];
        while (sl->seq != s) pthread_cond_wait(&l->cv_ready, &l->mu);
        bx = sl->x;
        by = sl->y;
        if (sl->failed) {
            rc = lab_error_set("%s", sl->err);
        }
        sl->seq = -1;
        sl->x = sl->y = NULL;
        l->next_consume = s + 1;
        pthread_cond_broadcast(&l->cv_space);
        pthread_mutex_unlock(&l->mu);
    } else {
        rc = produce(l, s, &bx, &by);
    }
    l->b++;
    double t1 = now_s();
    l->wait_s += t1 - t0;
    l->t_last = t1;
    if (rc < 0) {
        lab_tensor_release(bx);
        lab_tensor_release(by);
        return -1;
    }
    *x = hand_over(bx);
    if (y)
        *y = hand_over(by);
    else
        lab_tensor_release(by);
    if (!*x) return -1;
    return 1;
}

int lab_loader_set_epoch(lab_loader *l, int64_t epoch)
{
    if (!l) return lab_error_set("loader_set_epoch: NULL loader");
    if (epoch < 0) return lab_error_set("loader_set_epoch: epoch must be >= 0, got %lld", (long long)epoch);
    l->epoch = epoch;
    l->b = 0;
    if (l->has_thread) {
        pthread_mutex_lock(&l->mu);
        l->gen++;
        drain_slots(l);
        l->next_produce = l->next_consume = epoch * l->nb;
        pthread_cond_broadcast(&l->cv_space);
        pthread_mutex_unlock(&l->mu);
    }
    return 0;
}

void lab_loader_stats(const lab_loader *l, double *wait_s, double *total_s)
{
    if (wait_s) *wait_s = l ? l->wait_s : 0;
    if (total_s) *total_s = l && l->started ? l->t_last - l->t_first : 0;
}

double lab_loader_wait_fraction(const lab_loader *l)
{
    double w, t;
    lab_loader_stats(l, &w, &t);
    return t > 0 ? w / t : 0.0;
}
