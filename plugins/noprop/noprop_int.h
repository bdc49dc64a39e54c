/* Internals of the noprop plugin, shared by its files:
 *
 *   noprop.c    schema, options, data, run() and the dispatch to a method
 *   model.c     the DT block and the CT/FM network (brief §7), parameter counts
 *   schedule.c  the fixed cosine schedule and DT coefficients (§3), the learned CT schedule (§4)
 *   embed.c     label embeddings: one-hot, learned, class-medoid prototypes (§6)
 *   train_dt.c  NoProp-DT: block phases, local losses, optional concurrent blocks
 *   train_ct.c  NoProp-CT;  train_fm.c  NoProp-FM;  train_bp.c  the backprop baseline
 *   eval.c      the inference chains and accuracy over several inference runs
 *   table.c     docs/results/noprop-<table>.md from every trial of a run
 *
 * Notation as in ../shared/papers/noprop.md: t = 0 is noise, t = T the label;
 * B batch, m classes, d embedding width, (C, H, W) the image.
 */
#ifndef NOPROP_INT_H
#define NOPROP_INT_H

#include <lab/lab.h>
#include <stdint.h>

typedef enum { NP_DT = 0, NP_CT, NP_FM, NP_BP } np_method;
#define NP_METHOD_CHOICES "dt|ct|fm|backprop"

/* The paper's three columns (onehot, learned = "dim=20", prototype) and the
 * two other image-sized initialisations of the ablation. */
typedef enum {
    NP_EMB_ONEHOT = 0,
    NP_EMB_LEARNED,
    NP_EMB_PROTOTYPE,
    NP_EMB_IMAGE_ORTHO,
    NP_EMB_IMAGE_NORMAL,
} np_embedding;
#define NP_EMB_CHOICES "onehot|learned|prototype|image-orthogonal|image-normal"

extern const char *const np_method_names[];
extern const char *const np_embedding_names[];

/* Everything a trial reads from its configuration, validated. */
typedef struct np_opts {
    np_method method;
    np_embedding embedding;
    int64_t embed_dim;       /* learned: d (0 = image size); resolved in np_shape */
    int T;                   /* DT / backprop blocks */
    double eta;              /* DT η; CT η */
    double cos_s, ab_min, ab_max; /* cosine schedule offset and clamp */
    int parallel_blocks;
    /* CT */
    int gamma_hidden;
    double gamma0, gamma1, time_scale;
    int time_dim;
    /* FM */
    double fm_sigma;
    /* backprop baseline */
    double bp_alpha_init;
    /* model */
    float dropout;
    /* training */
    int64_t epochs, batch;
    double lr, weight_decay;
    lab_optim_kind optim;
    /* data */
    const char *data_name, *data_root;
    int64_t train_subset, test_subset, train_eval_size;
    int64_t proto_samples;   /* images per class searched for the medoid (0: all) */
    /* evaluation */
    int eval_runs;
    int infer_steps;         /* CT / FM inference steps */
    int64_t eval_batch;
    int eval_every;          /* epochs between test evaluations (the last epoch always) */
    int count_only;
    /* table */
    const char *table, *table_out, *table_cmd;
} np_opts;

/* Shapes of one trial. */
typedef struct np_shape {
    int64_t C, H, W, image;  /* image = C*H*W */
    int64_t m, d;
    int label_conv;          /* d == image: the label path is a copy of the image path */
} np_shape;

/* --- schedules (schedule.c) -------------------------------------------------------- */

#define NP_MAX_T 64

/* The fixed cosine schedule of §3 for t = 0..T (index t), in double. */
typedef struct np_dt_sched {
    int T;
    double ab[NP_MAX_T + 1];   /* ᾱ_t */
    double snr[NP_MAX_T + 1];  /* ᾱ/(1-ᾱ) */
    double a[NP_MAX_T + 1], b[NP_MAX_T + 1], c[NP_MAX_T + 1]; /* t = 1..T */
    double w[NP_MAX_T + 1];    /* loss weight T·η/2·(SNR_t − SNR_{t−1}), t = 1..T */
} np_dt_sched;

int np_dt_sched_make(np_dt_sched *s, int T, double eta, double cos_s, double ab_min, double ab_max);
/* The Eq. 3 coefficients from ᾱ_t and ᾱ_{t−1} (any schedule). */
void np_coeffs(double ab_t, double ab_prev, double *a, double *b, double *c);

/* The learned CT schedule: γ̃(t) = Σ_j softplus(w2_j)·sigmoid(softplus(w1_j)·t + b1_j),
 * γ(t) = γ0 + (γ1−γ0)(1 − γ̄(t)), ᾱ(t) = sigmoid(−γ(t)). Parameters in `p`
 * (names "sched.*"). */
typedef struct np_ct_sched {
    lab_tensor *w1, *b1, *w2; /* [H] each */
    lab_tensor *g0, *g1;      /* [1] */
} np_ct_sched;

int np_ct_sched_init(np_ct_sched *s, lab_params *p, int hidden, double gamma0, double gamma1, lab_rng *rng);
/* For t f32 [B] (values in [0, 1]), differentiable in the parameters:
 * ᾱ(t) [B], and SNR'(t) [B] when snr_d is not NULL. */
lab_tensor *np_ct_alpha_bar(const np_ct_sched *s, lab_tensor *t, lab_tensor **snr_d);
/* ᾱ(t) and SNR'(t) for host values (no tape). */
int np_ct_eval(const np_ct_sched *s, const double *t, int n, double *ab, double *snr_d);

/* --- embeddings (embed.c) --------------------------------------------------------- */

typedef struct np_embed {
    lab_tensor *W;  /* [m, d]; a parameter when learned, a buffer for one-hot */
    int learned;
} np_embed;

/* Build W_Embed in p (name "embed.weight"). Prototypes need the normalised
 * training images x [N, C, H, W] and labels y. */
int np_embed_init(np_embed *e, lab_params *p, const np_opts *o, const np_shape *sh, lab_tensor *x, lab_tensor *y,
                  lab_rng *rng);
/* For each class, the index (into x) of the training image with the smallest
 * median Euclidean distance to the other images of its class, searching the
 * first `per_class` of each class (0: all). idx receives m entries. */
int np_class_medoids(lab_tensor *x, lab_tensor *y, int64_t m, int64_t per_class, lab_device dev, int64_t *idx);

/* --- models (model.c) ------------------------------------------------------------- */

/* conv3×3 C→32 ReLU maxpool2 drop | conv 32→64 ReLU drop | conv 64→128 ReLU
 * maxpool2 drop | flatten | FC→256, then BN (DT) or ReLU (CT/FM). */
typedef struct np_impath {
    lab_conv2d_layer c1, c2, c3;
    lab_linear_layer fc;
    lab_batchnorm_layer bn;
    int bn_on;
} np_impath;

/* A DT block (bn = 1, no time input) or the CT/FM network (bn = 0, time input). */
typedef struct np_net {
    int dt;
    np_shape sh;
    lab_params *p;           /* owns this net's tensors */
    np_impath img;
    np_impath lab;           /* label_conv only */
    lab_linear_layer l1, l2, l3;     /* DT: FC d→256, 256→256, 256→256; CT: l1 only */
    lab_batchnorm_layer lb1, lb2, lb3;
    lab_linear_layer tfc;    /* CT: time embedding → 256 */
    lab_linear_layer f1, f2, f3;
    lab_batchnorm_layer fb1, fb2;
    int time_dim;
    float time_scale;
} np_net;

/* `prefix` names the tensors ("block3.", "net."). */
int np_net_init(np_net *n, int dt, const np_shape *sh, const char *prefix, int time_dim, float time_scale,
                lab_rng *rng);
void np_net_free(np_net *n);
/* Trainable scalars of the net (the brief's §7 count: no head, no embedding). */
int64_t np_net_count(const np_net *n);

/* Image features [B, 256] of normalised images x [B, C, H, W]. */
lab_tensor *np_net_image(const np_net *n, lab_tensor *x, int training, float drop, lab_rng *rng);
/* Logits [B, m] from image features, z [B, d] and (CT/FM) t [B] (NULL for DT). */
lab_tensor *np_net_logits(const np_net *n, lab_tensor *feat, lab_tensor *z, lab_tensor *t, int training, float drop,
                          lab_rng *rng);
/* The label path's features [B, 256] of z [B, d]; the time path's [B, 256] of t [B] (CT/FM). */
lab_tensor *np_net_label(const np_net *n, lab_tensor *z, int training, float drop, lab_rng *rng);
lab_tensor *np_net_time(const np_net *n, lab_tensor *t);
/* The sinusoidal time embedding [B, time_dim] of time_scale·t. */
lab_tensor *np_time_embed(lab_tensor *t, int dim, float scale);

/* (C, H, W, m) of a data set name; an error for anything but the four image sets. */
int np_shape_for(const char *data, np_shape *sh);
/* d and label_conv for an embedding; embed_dim_set: the user gave embed_dim
 * explicitly (a width contradicting a fixed-width embedding is an error). */
int np_shape_resolve(np_shape *sh, np_embedding emb, int64_t embed_dim, int embed_dim_set);

/* Parameter counts of the brief's §7 table for (dt, embedding, data set), by
 * building the net; -1 on error. */
int64_t np_count_params(int dt, np_embedding emb, const char *data, int64_t embed_dim);

/* --- the state of one trial -------------------------------------------------------- */

typedef struct np_state {
    const np_opts *o;
    np_shape sh;
    lab_device dev;
    lab_rng base;            /* derived from the trial's rng after init */
    /* data, normalised, on dev */
    lab_tensor *xtr, *ytr, *xte, *yte;
    /* model */
    lab_params *shared;      /* head, embedding, CT schedule, backprop α */
    np_embed emb;
    lab_linear_layer head;   /* d → m */
    int nnets;
    np_net *nets;            /* DT/backprop: T blocks; CT/FM: 1 */
    np_dt_sched dts;
    np_ct_sched cts;
    lab_tensor *bp_w;        /* backprop: [T] pre-tanh α */
    lab_tensor *progress;    /* i64 [T + 1]: parallel DT per-task step within the epoch */
    /* optimisers: one per net, plus one for the shared parameters */
    lab_optim **opt;         /* [nnets] */
    lab_optim *opt_shared;
    int64_t steps;           /* minibatches per pass over the training set */
    int64_t max_steps;       /* train.max_steps: stop (resumably) after this many steps in this process */
    int64_t steps_run;       /* steps run in this process (atomic in parallel DT) */
} np_state;

/* Noise streams (lab_rng_fork ids off np_state.base). Every random draw of
 * training is a pure function of (seed, epoch, phase, step), so a resumed
 * run and the concurrent DT blocks draw exactly what the sequential run does. */
enum { NP_RNG_SHUFFLE = 1, NP_RNG_NOISE = 2, NP_RNG_EVAL = 3 };

/* The training order of pass `phase` (0-based) of `epoch`: i64 [N] on dev. */
lab_tensor *np_perm(const np_state *s, int64_t epoch, int64_t phase);
/* Batch s of a permutation. */
void np_batch(const np_state *s, lab_tensor *perm, int64_t step, lab_tensor **x, lab_tensor **y);
/* The noise stream of one training step. */
lab_rng np_step_rng(const np_state *s, int64_t epoch, int64_t phase, int64_t step);
/* Minibatches per pass over n samples: a last batch of one sample is dropped (BatchNorm needs two). */
int64_t np_steps_for(int64_t n, int64_t batch);

/* z = √ab·u + √(1−ab)·ε with ε from rng. */
lab_tensor *np_noisy(lab_tensor *u, double ab, lab_rng *rng);
/* û = softmax(logits)·W_Embed. */
lab_tensor *np_uhat(lab_tensor *logits, lab_tensor *W);
/* mean_i ½[ᾱ_0‖u_i‖² − d·ᾱ_0 − d·ln(1−ᾱ_0)] with a host ᾱ_0. */
lab_tensor *np_kl(lab_tensor *u, double ab0);
/* mean_i ‖a_i − b_i‖² (sum over the last dim). */
lab_tensor *np_sqdist(lab_tensor *a, lab_tensor *b);

/* --- training (train_*.c): one epoch from position `step0`; the ctx may be
 * NULL (tests). Return 0, 1 when stopped (checkpoint saved), -1 on error. */
typedef struct np_epoch_stats {
    double loss, ce, local; /* means over the epoch's steps */
    int64_t nsteps;
} np_epoch_stats;

int np_dt_epoch(np_state *s, lab_ctx *ctx, int64_t epoch, int64_t step0, np_epoch_stats *st);
/* One DT step of block t (1..T) on batch (x, y); exposed for the tests. */
int np_dt_step(np_state *s, int t, lab_tensor *x, lab_tensor *y, lab_rng *noise, double *ce, double *local);
int np_ct_epoch(np_state *s, lab_ctx *ctx, int64_t epoch, int64_t step0, np_epoch_stats *st);
int np_fm_epoch(np_state *s, lab_ctx *ctx, int64_t epoch, int64_t step0, np_epoch_stats *st);
int np_bp_epoch(np_state *s, lab_ctx *ctx, int64_t epoch, int64_t step0, np_epoch_stats *st);

/* One step of a single-pass method on batch (x, y) with its noise stream. */
typedef int (*np_step_fn)(np_state *s, lab_tensor *x, lab_tensor *y, const lab_rng *noise, double *loss, double *ce,
                          double *local);
/* An epoch of one pass (CT, FM, backprop): phase 0, steps step0..S−1. */
int np_single_pass_epoch(np_state *s, lab_ctx *ctx, int64_t epoch, int64_t step0, np_epoch_stats *st, np_step_fn fn);

/* One step of every optimiser, then zero every gradient. */
int np_step_all(np_state *s);
/* Zero every gradient (after a failed step). */
void np_zero_all(np_state *s);

/* Positions in an epoch (for progress and checkpoints). */
int64_t np_epoch_steps(const np_state *s);
/* Before each training step: 1 when the run must stop (Ctrl-C, or
 * train.max_steps reached, which requests the stop itself so the trial
 * counts as interrupted and run.resume continues it). ctx may be NULL. */
int np_should_stop(np_state *s, lab_ctx *ctx);
/* Progress after `pos` of the epoch's positions; ctx may be NULL. */
void np_progress(np_state *s, lab_ctx *ctx, int64_t epoch, int64_t pos);

/* --- evaluation (eval.c) ------------------------------------------------------------ */

typedef struct np_eval {
    double acc;        /* % with the method's own prediction (softmax head / nearest embedding) */
    double acc_post;   /* % with the posterior head (DT, backprop; NAN otherwise) */
    double acc_block1; /* % of block 1's argmax alone (DT; NAN otherwise) */
    double acc_near;   /* % of the embedding nearest to the chain's last z (a diagnostic of the chain without the head) */
} np_eval;

/* CT/FM inference cache of a batch: the image features' share of the first
 * fused layer (pre, [B, 256], bias included), the time path's share for the
 * K steps (tpart, [K, 256], row k' for t = k'/K) and the label columns of
 * that layer (W1l). Owned; np_ct_cache_free releases them. */
typedef struct np_ct_cache {
    int K;
    lab_tensor *W1l, *pre, *tpart;
} np_ct_cache;
int np_ct_cache_make(np_ct_cache *c, const np_net *n, lab_tensor *feat, int K);
void np_ct_cache_free(np_ct_cache *c);
/* Logits (eval mode) at z for time row `row`: equals np_net_logits(feat, z, row/K). */
lab_tensor *np_ct_cache_logits(const np_net *n, const np_ct_cache *c, lab_tensor *z, int row);

/* Predictions over x with inference run `run` (its own noise stream): pred
 * and, when not NULL, pred_post (posterior head), pred_b1 (block 1 alone)
 * and pred_near (nearest embedding to the last z) receive n labels. Never
 * reads labels. */
int np_predict(np_state *s, lab_tensor *x, uint64_t run, int64_t *pred, int64_t *pred_post, int64_t *pred_b1,
               int64_t *pred_near);
/* Accuracy of one inference run over (x, y). */
int np_evaluate(np_state *s, lab_tensor *x, lab_tensor *y, uint64_t run, np_eval *out);

/* --- setup (noprop.c) ------------------------------------------------------------- */

/* Build the model, schedules and optimisers for an opened data set (xtr..yte
 * already set, normalised, on dev). */
int np_state_build(np_state *s, const np_opts *o, lab_rng *rng);
void np_state_free(np_state *s);
/* The paper's epochs (brief §8): MNIST 100; CIFAR DT/backprop 150, CT/FM 500 (CIFAR-10) or 1000 (CIFAR-100). */
int64_t np_paper_epochs(np_method m, const char *data);
/* Read the data set of o into s (normalised, on dev) and set s->sh's image shape. */
int np_state_load_data(np_state *s, const np_opts *o, lab_device dev);
/* Parameter lists a checkpoint holds, in a fixed order (extra: the plugin's
 * own buffers, e.g. the parallel DT progress). */
int np_state_track(np_state *s, lab_ctx *ctx, lab_params *extra);

/* --- tables (table.c) --------------------------------------------------------------- */

/* One trial's record, written as noprop.json in its directory. */
int np_record_write(const char *dir, const char *const *keys, const char *const *svals, int ns, const char *const *nkeys,
                    const double *nvals, int nn);
/* On the last trial of a run with table.name set: read every noprop.json
 * under the run directory and write table.out. */
int np_table_maybe_write(lab_ctx *ctx, const np_opts *o);

#endif
