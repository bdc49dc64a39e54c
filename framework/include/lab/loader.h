/* lab/loader.h — mini-batches over in-memory data, and the data set registry.
 *
 * A loader walks an in-memory data set (x f32 [N, ...], y i64 [N]) in
 * batches: shuffled each epoch with a Philox stream, optionally augmented
 * (random crop with zero padding, horizontal flip), scaled and normalised per
 * channel, with the next batches built on a worker thread while the current
 * one is used:
 *
 *     lab_dataset *ds = lab_dataset_open(&(lab_data_spec){.name = "mnist"});
 *     lab_loader_cfg cfg = lab_loader_defaults(128);
 *     cfg.scale = 1.0f / 255;                     // raw 0..255 -> 0..1
 *     cfg.mean = ds->mean; cfg.std = ds->std; cfg.channels = ds->channels;
 *     lab_loader *ld = lab_loader_new(ds->train_x, ds->train_y, &cfg, &run_rng);
 *     for (int epoch = 0; epoch < 10; epoch++) {
 *         lab_tensor *x, *y;
 *         while (lab_loader_next(ld, &x, &y) > 0) {   // 0 ends the epoch
 *             lab_scope_begin(); ... lab_scope_end();
 *             lab_tensor_release(x); lab_tensor_release(y); // or let a scope take them
 *         }
 *     }
 *     lab_loader_free(ld);                        // joins the worker
 *     lab_dataset_free(ds);
 *
 * Determinism: batch b of epoch e depends only on (rng, e, b): the epoch's
 * order comes from lab_rng_fork(fork(rng, 1), e) and the augmentation of a
 * batch from lab_rng_fork(lab_rng_fork(fork(rng, 2), e), b). Prefetching, the
 * number of prefetched batches and timing never change a batch.
 *
 * Threads: a loader is driven from one thread (its worker is internal); the
 * data set tensors must not change while a loader uses them.
 */
#ifndef LAB_LOADER_H
#define LAB_LOADER_H

#include <stdint.h>

#include "data.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- loader ----------------------------------------------------------------- */

typedef struct lab_loader_cfg {
    int64_t batch_size;    /* > 0 */
    int shuffle;           /* new order every epoch; 0 = dataset order */
    int drop_last;         /* drop the last batch when it is short */
    int prefetch;          /* batches built ahead on one worker thread; 0 = build in lab_loader_next */
    const int64_t *subset; /* NULL, or the sample indices to use (copied): the epoch walks these */
    int64_t subset_len;
    /* Applied to every sample in this order: augmentation (on raw values),
     * x *= scale, then x = (x - mean[c]) / std[c]. */
    int crop_pad;          /* > 0: pad H and W by this many zeros, crop a random H x W window */
    int hflip;             /* random horizontal flip with p = 1/2 */
    float scale;           /* 0 means 1 */
    const float *mean, *std; /* [channels] (copied) or NULL for no normalisation */
    int channels;          /* 1: one mean/std for all values; C > 1: x must be [N, C, ...] */
    /* Where batches are handed out (default cpu). For a device, each batch is
     * built in a staging buffer and copied to the device by the producing
     * thread. With prefetch > 0 that is the worker, from page-locked memory
     * (lab_cuda_host_alloc): the consumer's thread never copies. The device
     * has one stream, so the transfer itself runs in order with the
     * consumer's kernels, not beside them. */
    lab_device device;
} lab_loader_cfg;

/* shuffle on, drop_last off, prefetch 2, no augmentation or normalisation,
 * device cpu. */
lab_loader_cfg lab_loader_defaults(int64_t batch_size);

typedef struct lab_loader lab_loader;

/* x: f32 [N, ...] on the cpu; y: i64 [N] or NULL. Augmentation needs images
 * [N, C, H, W] or [N, H, W]. The loader keeps references to x and y and its
 * own copy of rng (the caller's rng is not advanced). NULL with an error
 * naming the bad field. */
lab_loader *lab_loader_new(lab_tensor *x, lab_tensor *y, const lab_loader_cfg *cfg, const lab_rng *rng);
/* Stops and joins the worker thread and frees every batch not handed out. */
void lab_loader_free(lab_loader *l);

int64_t lab_loader_size(const lab_loader *l);        /* samples per epoch */
int64_t lab_loader_num_batches(const lab_loader *l); /* batches per epoch */
int64_t lab_loader_epoch(const lab_loader *l);       /* epoch the next batch belongs to */

/* The next batch: *x f32 [B, ...], *y i64 [B] (NULL when the loader has no
 * labels), new references (in the current scope, if any). Returns 1, or 0
 * once at the end of each epoch (the following call starts the next epoch),
 * or -1 with an error. */
int lab_loader_next(lab_loader *l, lab_tensor **x, lab_tensor **y);

/* Restart at the first batch of `epoch` (e.g. when resuming a run);
 * prefetched batches of other epochs are dropped. */
int lab_loader_set_epoch(lab_loader *l, int64_t epoch);

/* Time spent inside lab_loader_next waiting for a batch (or building it
 * when prefetch is 0), and the wall time from the first lab_loader_next to
 * the latest return; wait / total is the fraction of time the consumer was
 * starved. Either pointer may be NULL. */
void lab_loader_stats(const lab_loader *l, double *wait_s, double *total_s);
double lab_loader_wait_fraction(const lab_loader *l);

/* --- data set registry -------------------------------------------------------- */

/* The [data] section of an experiment:
 *   name          mnist | fashion-mnist | cifar10 | cifar100 | cora | citeseer |
 *                 pubmed | tu:<NAME> (MUTAG, PROTEINS, ENZYMES, NCI1,
 *                 IMDB-BINARY, IMDB-MULTI, ...) | fsdd
 *   root          a folder holding the data sets; NULL or "" searches, in
 *                 order: $LAB_DATA_DIR, ./data, ../shared/data (from the
 *                 working directory, then from the source tree liblab was
 *                 built in), and for fashion-mnist /usr/share/datasets
 *   subset        > 0: images: the first `subset` training samples (the
 *                 validation split is then taken from them) and the first
 *                 `subset` test samples; fsdd: at most `subset` clips in each
 *                 split; an error for graph data sets
 *   val_fraction  in [0, 1): images: the LAST floor(f * N) training samples
 *                 become the validation set; fsdd: recordings with index
 *                 5 .. 5 + round(45 f) - 1 of every digit and speaker;
 *                 graphs use their own splits (0 required)
 *
 * Layout under a root (what `make data` creates, same as shared/data):
 *   mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *   fashion-mnist/ (same file names)
 *   cifar10/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin (or directly in cifar10/)
 *   cifar100/cifar-100-binary/{train,test}.bin (or directly in cifar100/)
 *   planetoid/ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}
 *   tu/<NAME>/<NAME>_A.txt, _graph_indicator.txt, _graph_labels.txt, ...
 *   fsdd/recordings/<digit>_<speaker>_<index>.wav
 */
typedef struct lab_data_spec {
    const char *name;
    const char *root;
    int64_t subset;
    double val_fraction;
} lab_data_spec;

typedef enum {
    LAB_DATA_IMAGES = 0, /* mnist, fashion-mnist, cifar10, cifar100 */
    LAB_DATA_NODES = 1,  /* cora, citeseer, pubmed */
    LAB_DATA_GRAPHS = 2, /* tu:<NAME> */
    LAB_DATA_AUDIO = 3,  /* fsdd */
} lab_data_kind;

/* Everything belongs to the struct (no scope) and is released by
 * lab_dataset_free. */
typedef struct lab_dataset {
    char name[64];      /* canonical: "mnist", "cora", "tu:MUTAG", ... */
    char dir[4096];     /* the folder the files were read from */
    lab_data_kind kind;
    int64_t num_classes;
    /* IMAGES: raw values 0..255, f32 [N, C, H, W] (MNIST-like: C = 1) and
     * i64 [N]; val_* NULL when val_fraction is 0. */
    lab_tensor *train_x, *train_y, *val_x, *val_y, *test_x, *test_y;
    /* The usual per-channel statistics of the training set after scaling
     * by 1/255 (MNIST 0.1307/0.3081, CIFAR-10 (0.4914, 0.4822, 0.4465) /
     * (0.2470, 0.2435, 0.2616), ...), for lab_loader_cfg.mean/std. */
    int channels;
    float mean[3], std[3];
    lab_planetoid *planetoid; /* NODES */
    lab_tu *tu;               /* GRAPHS */
    /* AUDIO (fsdd): every recording, sorted by file name, and the splits as
     * clip ids: official test = recordings 0-4 of each digit and speaker,
     * val as described above, train = the rest. Split ids are ordered by
     * recording index, then name, so a subset keeps every digit and speaker. */
    int64_t num_clips;
    int sample_rate;         /* Hz (8000 for fsdd) */
    lab_tensor **clips;      /* [num_clips] f32 [T_i] in [-1, 1] */
    lab_tensor *clip_labels; /* i64 [num_clips]: the digit, 0..9 */
    char **clip_names;       /* [num_clips] "7_jackson_32" */
    lab_tensor *train_ids, *val_ids, *test_ids; /* i64; val_ids NULL when val_fraction is 0 */
} lab_dataset;

/* Finds and reads a data set. On failure NULL and an error: an unknown name
 * lists the known ones; a missing data set names every file looked for, every
 * folder searched and how to get it (`make data`, or for CIFAR where to put
 * the original binary files). Never downloads. */
lab_dataset *lab_dataset_open(const lab_data_spec *spec);
void lab_dataset_free(lab_dataset *ds);

/* The known names, NULL-terminated ("tu:<NAME>" stands for the TU family). */
const char *const *lab_dataset_names(void);

/* The folder that holds data set `name` under the search described above
 * (or under root when it is set) into buf; 0, or -1 with the not-found
 * message lab_dataset_open would give. */
int lab_dataset_locate(const char *name, const char *root, char *buf, size_t len);

#ifdef __cplusplus
}
#endif
#endif
