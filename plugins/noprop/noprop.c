/* noprop — "NoProp: Training Neural Networks without Back-propagation or
 * Forward-propagation" (Li, Teh, Pascanu 2025): NoProp-DT (T blocks, each
 * trained alone on a local denoising loss), NoProp-CT (one time-conditioned
 * network, learned schedule), NoProp-FM (flow matching) and the backprop
 * baseline, on MNIST, CIFAR-10 and CIFAR-100 (Fashion-MNIST for the
 * quickstart), with one-hot, learned (dim=20) and prototype embeddings.
 *
 * One trial trains one (method, embedding, data set) for one seed and
 * evaluates eval.runs stochastic inference runs on the test set and on
 * (a part of) the training set. A [sweep] over noprop.method,
 * noprop.embedding and data.name makes a table, which the last trial
 * writes (table.name, table.out) from every trial's noprop.json.
 * See plugins/noprop/README.md and ../shared/papers/noprop.md; tested by
 * tests/plugins/test_noprop.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "noprop_int.h"

const char *const np_method_names[] = {"dt", "ct", "fm", "backprop"};
const char *const np_embedding_names[] = {"onehot", "learned", "prototype", "image-orthogonal", "image-normal"};

static const lab_param params[] = {
    LAB_PARAM_STRING("data", "name", "mnist", "mnist | fashion-mnist | cifar10 | cifar100"),
    LAB_PARAM_STRING("data", "root", "", "folder holding the data sets (empty: $LAB_DATA_DIR, ./data, ../shared/data, "
                                         "/usr/share/datasets)"),
    LAB_PARAM_INT("data", "batch_size", "128", 2, 1 << 20, NULL),
    LAB_PARAM_INT("data", "train_subset", "0", 0, 1 << 30, "train on the first N training images (0: all)"),
    LAB_PARAM_INT("data", "test_subset", "0", 0, 1 << 30, "test on the first N test images (0: all)"),
    LAB_PARAM_ENUM("noprop", "method", "dt", NP_METHOD_CHOICES,
                   "NoProp-DT, NoProp-CT, NoProp-FM, or the backprop baseline (same blocks, end-to-end CE)"),
    LAB_PARAM_ENUM("noprop", "embedding", "onehot", NP_EMB_CHOICES,
                   "W_Embed: fixed one-hot, learned (d = embed_dim), prototype (image-sized, class-medoid init), "
                   "or image-sized with orthogonal / N(0,1) init (ablation)"),
    LAB_PARAM_INT("noprop", "embed_dim", "20", 0, 1 << 20,
                  "d of embedding = learned (0: the image size); must agree with the other embeddings' d"),
    LAB_PARAM_INT("noprop", "blocks", "10", 1, NP_MAX_T, "DT / backprop: number of blocks"),
    LAB_PARAM_BOOL("noprop", "parallel_blocks", "false",
                   "DT with one-hot: train the blocks (and the head) concurrently on the CPU threads"),
    LAB_PARAM_FLOAT("noprop", "dropout", "0.2", 0, 0.99, "dropout of the image path"),
    LAB_PARAM_INT("noprop", "prototype_samples", "0", 0, 1 << 30,
                  "prototype: search the medoid among the first N training images of each class (0: all)"),
    LAB_PARAM_BOOL("noprop", "count_only", "false", "log the parameter counts of brief §7 for every cell and stop"),
    LAB_PARAM_FLOAT("dt", "eta", "0.1", 0, 1e6, "η of the DT loss weight T·η/2·(SNR(t) − SNR(t−1))"),
    LAB_PARAM_FLOAT("dt", "cosine_s", "0.008", 0, 1, "[assumed] offset s of the cosine schedule"),
    LAB_PARAM_FLOAT("dt", "alpha_min", "1e-5", 0, 1, "[assumed] lower clamp of ᾱ_t"),
    LAB_PARAM_FLOAT("dt", "alpha_max", "0.9999", 0, 1, "[assumed] upper clamp of ᾱ_t"),
    LAB_PARAM_FLOAT("ct", "eta", "1", 0, 1e6, "η of the CT loss weight η/2·SNR'(t)"),
    LAB_PARAM_INT("ct", "gamma_hidden", "64", 1, 1 << 16, "[assumed] hidden units of the schedule net γ̃"),
    LAB_PARAM_FLOAT("ct", "gamma0", "-5", -100, 100, "[assumed] γ0 at init (ᾱ(1) = sigmoid(−γ0))"),
    LAB_PARAM_FLOAT("ct", "gamma1", "5", -100, 100, "[assumed] γ1 at init (ᾱ(0) = sigmoid(−γ1))"),
    LAB_PARAM_FLOAT("ct", "time_scale", "1000", 0, 1e9, "[assumed] CT/FM: the time embedding encodes scale·t"),
    LAB_PARAM_INT("ct", "time_dim", "64", 2, 4096, "CT/FM: width of the sin/cos time embedding (even)"),
    LAB_PARAM_FLOAT("fm", "sigma", "0", 0, 100, "[assumed] FM: noise σ added to z_t"),
    LAB_PARAM_FLOAT("backprop", "alpha_init", "0.5", 0.001, 0.999, "[assumed] α_t = tanh(w_t) at init"),
    LAB_PARAM_INT("train", "epochs", "100", 0, 1000000,
                  "passes over the training set (0: the paper's for the method and data set, brief §8)"),
    LAB_PARAM_FLOAT("train", "lr", "1e-3", 0, 10, NULL),
    LAB_PARAM_FLOAT("train", "weight_decay", "1e-3", 0, 10,
                    "AdamW: decoupled; Adam: L2 added to the gradient (the paper's CT/FM)"),
    LAB_PARAM_ENUM("train", "optimizer", "auto", "auto|adam|adamw", "auto: AdamW for DT and backprop, Adam for CT/FM"),
    LAB_PARAM_INT("train", "max_steps", "0", 0, 1LL << 40,
                  "stop resumably after this many steps in this process (0: no limit); run.resume continues"),
    LAB_PARAM_INT("eval", "runs", "5", 1, 64, "stochastic inference runs averaged per evaluation"),
    LAB_PARAM_INT("eval", "steps", "1000", 1, 1000000, "CT / FM: inference steps (DT and backprop use their blocks)"),
    LAB_PARAM_INT("eval", "batch_size", "1000", 1, 1 << 20, NULL),
    LAB_PARAM_INT("eval", "every", "1", 0, 1000000, "test accuracy (one run) every N epochs (0: only at the end)"),
    LAB_PARAM_INT("eval", "train_size", "0", 0, 1 << 30, "train accuracy on the first N training images (0: all)"),
    LAB_PARAM_ENUM("table", "name", "none", "none|accuracy|memory|ablations", "the table the last trial writes"),
    LAB_PARAM_STRING("table", "out", "", "where the table goes (docs/results/noprop-<table>.md)"),
    LAB_PARAM_STRING("table", "command", "", "the command named in the table's header (empty: the table's default)"),
};

/* --- options ---------------------------------------------------------------------- */

int64_t np_paper_epochs(np_method m, const char *data)
{
    int c100 = !strcmp(data, "cifar100"), cifar = c100 || !strcmp(data, "cifar10");
    if (!cifar) return 100;
    if (m == NP_DT || m == NP_BP) return 150;
    return c100 ? 1000 : 500;
}

static int read_opts(const lab_cfg *c, np_opts *o)
{
    memset(o, 0, sizeof *o);
    o->method = (np_method)lab_cfg_get_enum(c, "noprop.method");
    o->embedding = (np_embedding)lab_cfg_get_enum(c, "noprop.embedding");
    o->embed_dim = lab_cfg_get_int(c, "noprop.embed_dim");
    o->parallel_blocks = lab_cfg_get_bool(c, "noprop.parallel_blocks");
    o->dropout = (float)lab_cfg_get_float(c, "noprop.dropout");
    o->count_only = lab_cfg_get_bool(c, "noprop.count_only");
    o->data_name = lab_cfg_get_str(c, "data.name");
    o->data_root = lab_cfg_get_str(c, "data.root");
    o->batch = lab_cfg_get_int(c, "data.batch_size");
    o->train_subset = lab_cfg_get_int(c, "data.train_subset");
    o->test_subset = lab_cfg_get_int(c, "data.test_subset");
    o->epochs = lab_cfg_get_int(c, "train.epochs");
    if (o->epochs == 0) o->epochs = np_paper_epochs(o->method, o->data_name);
    o->lr = lab_cfg_get_float(c, "train.lr");
    o->weight_decay = lab_cfg_get_float(c, "train.weight_decay");
    int opt = lab_cfg_get_enum(c, "train.optimizer");
    int dtlike = o->method == NP_DT || o->method == NP_BP;
    o->optim = opt == 1 ? LAB_OPTIM_ADAM : opt == 2 ? LAB_OPTIM_ADAMW : dtlike ? LAB_OPTIM_ADAMW : LAB_OPTIM_ADAM;
    o->eval_runs = (int)lab_cfg_get_int(c, "eval.runs");
    o->eval_batch = lab_cfg_get_int(c, "eval.batch_size");
    o->eval_every = (int)lab_cfg_get_int(c, "eval.every");
    o->train_eval_size = lab_cfg_get_int(c, "eval.train_size");
    /* Read by every method so that one value can serve a sweep over methods. */
    o->infer_steps = (int)lab_cfg_get_int(c, "eval.steps");
    o->table = lab_cfg_get_str(c, "table.name");
    o->table_out = lab_cfg_get_str(c, "table.out");
    o->table_cmd = lab_cfg_get_str(c, "table.command");
    if (strcmp(o->table, "none") != 0 && !o->table_out[0])
        return lab_error_set("table.name = %s needs table.out (e.g. docs/results/noprop-%s.md)", o->table, o->table);

    /* Method-specific keys are read only by their method, so a key set for
     * another method is reported by the strict config check. */
    if (dtlike) {
        int64_t T = lab_cfg_get_int(c, "noprop.blocks");
        if (T < 1 || T > NP_MAX_T)
            return lab_error_set("noprop.blocks = %lld: the number of blocks must be in [1, %d]", (long long)T, NP_MAX_T);
        o->T = (int)T;
    }
    if (o->method == NP_DT) {
        o->eta = lab_cfg_get_float(c, "dt.eta");
        o->cos_s = lab_cfg_get_float(c, "dt.cosine_s");
        o->ab_min = lab_cfg_get_float(c, "dt.alpha_min");
        o->ab_max = lab_cfg_get_float(c, "dt.alpha_max");
    }
    if (o->method == NP_CT) {
        o->eta = lab_cfg_get_float(c, "ct.eta");
        o->gamma_hidden = (int)lab_cfg_get_int(c, "ct.gamma_hidden");
        o->gamma0 = lab_cfg_get_float(c, "ct.gamma0");
        o->gamma1 = lab_cfg_get_float(c, "ct.gamma1");
        if (!(o->gamma1 > o->gamma0))
            return lab_error_set("ct.gamma1 = %g must exceed ct.gamma0 = %g (t = 0 is noise, t = 1 the label)",
                                 o->gamma1, o->gamma0);
    }
    if (o->method == NP_CT || o->method == NP_FM) {
        o->time_scale = lab_cfg_get_float(c, "ct.time_scale");
        o->time_dim = (int)lab_cfg_get_int(c, "ct.time_dim");
        if (o->time_dim % 2) return lab_error_set("ct.time_dim = %d must be even (sin and cos halves)", o->time_dim);
        if (o->method == NP_FM) o->fm_sigma = lab_cfg_get_float(c, "fm.sigma");
    }
    if (o->method == NP_BP) o->bp_alpha_init = lab_cfg_get_float(c, "backprop.alpha_init");
    if (o->embedding == NP_EMB_PROTOTYPE) o->proto_samples = lab_cfg_get_int(c, "noprop.prototype_samples");
    /* The data set and the embedding's width, checked before any data is read. */
    np_shape sh;
    if (np_shape_for(o->data_name, &sh) < 0 ||
        np_shape_resolve(&sh, o->embedding, o->embed_dim, lab_cfg_is_set(c, "noprop.embed_dim")) < 0)
        return -1;
    if (o->parallel_blocks && o->method != NP_DT)
        return lab_error_set("noprop.parallel_blocks = true applies to method = dt only (got %s)",
                             np_method_names[o->method]);
    if (o->parallel_blocks && o->embedding != NP_EMB_ONEHOT)
        return lab_error_set("noprop.parallel_blocks = true needs embedding = onehot: a learned W_Embed is shared by "
                             "every block's loss, so the blocks are not independent (got embedding = %s)",
                             np_embedding_names[o->embedding]);
    return 0;
}

/* --- data ------------------------------------------------------------------------- */

/* x/255 standardised per channel (the data set's usual statistics), as a new
 * tensor owned by the caller (no scope). */
static lab_tensor *normalise(lab_tensor *x, const lab_dataset *ds, int64_t limit)
{
    lab_scope_begin();
    if (limit > 0 && limit < x->shape[0]) x = lab_slice(x, 0, 0, limit);
    int64_t C = x->shape[1];
    float sc[3], sh[3];
    for (int64_t ch = 0; ch < C; ch++) {
        int k = ds->channels == 1 ? 0 : (int)ch;
        sc[ch] = 1.0f / (255.0f * ds->std[k]);
        sh[ch] = -ds->mean[k] / ds->std[k];
    }
    lab_tensor *a = lab_tensor_from_data(LAB_F32, 4, (int64_t[]){1, C, 1, 1}, sc, LAB_CPU);
    lab_tensor *b = lab_tensor_from_data(LAB_F32, 4, (int64_t[]){1, C, 1, 1}, sh, LAB_CPU);
    lab_tensor *y = lab_tensor_own(lab_add(lab_mul(x, a), b));
    lab_scope_end();
    return y;
}

static lab_tensor *take_labels(lab_tensor *y, int64_t limit, int64_t m, const char *what)
{
    if (!y) {
        lab_error_set("noprop: the %s split of the data set has no labels; noprop trains and scores classifiers", what);
        return NULL;
    }
    int64_t n = limit > 0 && limit < y->shape[0] ? limit : y->shape[0];
    const int64_t *v = lab_tensor_i64(y);
    if (!v) return NULL;
    for (int64_t i = 0; i < n; i++)
        if (v[i] < 0 || v[i] >= m) {
            lab_error_set("noprop: %s label %lld of sample %lld is outside [0, %lld)", what, (long long)v[i],
                          (long long)i, (long long)m);
            return NULL;
        }
    return lab_tensor_own(lab_tensor_from_data(LAB_I64, 1, &n, v, LAB_CPU));
}

int np_state_load_data(np_state *s, const np_opts *o, lab_device dev)
{
    np_shape sh;
    if (np_shape_for(o->data_name, &sh) < 0) return -1;
    lab_dataset *ds = lab_dataset_open(&(lab_data_spec){.name = o->data_name, .root = o->data_root});
    if (!ds) return lab_error_prefix("noprop: ");
    int rc = 0;
    if (ds->kind != LAB_DATA_IMAGES || !ds->train_x || !ds->test_x)
        rc = lab_error_set("noprop: data set %s has no images with class labels", ds->name);
    else if (ds->num_classes != sh.m || ds->train_x->ndim != 4 || ds->train_x->shape[1] != sh.C ||
             ds->train_x->shape[2] != sh.H || ds->train_x->shape[3] != sh.W)
        rc = lab_error_set("noprop: data set %s in %s does not have the %lldx%lldx%lld images of %lld classes expected",
                           ds->name, ds->dir, (long long)sh.C, (long long)sh.H, (long long)sh.W, (long long)sh.m);
    if (rc == 0) {
        s->ytr = take_labels(ds->train_y, o->train_subset, sh.m, "training");
        s->yte = s->ytr ? take_labels(ds->test_y, o->test_subset, sh.m, "test") : NULL;
        s->xtr = s->yte ? normalise(ds->train_x, ds, o->train_subset) : NULL;
        s->xte = s->xtr ? normalise(ds->test_x, ds, o->test_subset) : NULL;
        if (!s->xte) rc = -1;
    }
    lab_dataset_free(ds);
    if (rc == 0 && !lab_device_eq(dev, LAB_CPU)) {
        lab_tensor **t[4] = {&s->xtr, &s->ytr, &s->xte, &s->yte};
        for (int i = 0; i < 4 && rc == 0; i++) {
            lab_tensor *moved = lab_tensor_own(lab_tensor_to(*t[i], dev));
            if (!moved) rc = -1;
            lab_tensor_release(*t[i]);
            *t[i] = moved;
        }
    }
    s->sh = sh;
    return rc;
}

/* --- the model -------------------------------------------------------------------- */

int np_state_build(np_state *s, const np_opts *o, lab_rng *rng)
{
    s->o = o;
    if (np_shape_resolve(&s->sh, o->embedding, o->embed_dim, 0) < 0) return -1;
    s->base = lab_rng_fork(rng, 0x6e6f70); /* independent of how much init consumed */
    s->steps = np_steps_for(s->xtr->shape[0], o->batch);
    if (s->steps < 1) return lab_error_set("noprop: %lld training images are too few for a batch", (long long)s->xtr->shape[0]);
    if (!(s->shared = lab_params_new())) return -1;
    if (np_embed_init(&s->emb, s->shared, o, &s->sh, s->xtr, s->ytr, rng) < 0) return -1;
    if (lab_linear_layer_init(&s->head, s->shared, "head", s->sh.d, s->sh.m, 1, rng) < 0) return -1;
    int dt = o->method == NP_DT || o->method == NP_BP;
    s->nnets = dt ? o->T : 1;
    s->nets = calloc((size_t)s->nnets, sizeof *s->nets);
    s->opt = calloc((size_t)s->nnets, sizeof *s->opt);
    if (!s->nets || !s->opt) return lab_error_set("noprop: out of host memory");
    for (int i = 0; i < s->nnets; i++) {
        char pre[32];
        snprintf(pre, sizeof pre, dt ? "block%d." : "net.", i + 1);
        if (np_net_init(&s->nets[i], dt, &s->sh, pre, dt ? 64 : o->time_dim, (float)o->time_scale, rng) < 0) {
            s->nnets = i;
            return -1;
        }
    }
    if (o->method == NP_DT && np_dt_sched_make(&s->dts, o->T, o->eta, o->cos_s, o->ab_min, o->ab_max) < 0) return -1;
    if (o->method == NP_CT && np_ct_sched_init(&s->cts, s->shared, o->gamma_hidden, o->gamma0, o->gamma1, rng) < 0)
        return -1;
    if (o->method == NP_BP) {
        int64_t T = o->T;
        s->bp_w = lab_params_add(s->shared, "backprop.w", lab_tensor_full(LAB_F32, 1, &T, atanh(o->bp_alpha_init), LAB_CPU));
        if (!s->bp_w) return -1;
    }
    int64_t np1 = (o->method == NP_DT ? o->T : 0) + 1;
    s->progress = lab_tensor_own(lab_tensor_zeros(LAB_I64, 1, &np1, LAB_CPU));
    if (!s->progress) return -1;
    if (lab_params_to(s->shared, s->dev) < 0) return -1;
    for (int i = 0; i < s->nnets; i++)
        if (lab_params_to(s->nets[i].p, s->dev) < 0) return -1;
    lab_optim_config oc = lab_optim_defaults(o->optim);
    oc.lr = (float)o->lr;
    oc.weight_decay = (float)o->weight_decay;
    for (int i = 0; i < s->nnets; i++)
        if (!(s->opt[i] = lab_optim_new(&oc, s->nets[i].p))) return -1;
    if (!(s->opt_shared = lab_optim_new(&oc, s->shared))) return -1;
    return 0;
}

void np_state_free(np_state *s)
{
    for (int i = 0; i < s->nnets; i++) {
        if (s->opt) lab_optim_free(s->opt[i]);
        np_net_free(&s->nets[i]);
    }
    lab_optim_free(s->opt_shared);
    free(s->opt);
    free(s->nets);
    lab_params_free(s->shared);
    lab_tensor_release(s->progress);
    lab_tensor_release(s->xtr);
    lab_tensor_release(s->ytr);
    lab_tensor_release(s->xte);
    lab_tensor_release(s->yte);
    memset(s, 0, sizeof *s);
}

int np_state_track(np_state *s, lab_ctx *ctx, lab_params *extra)
{
    if (lab_ctx_checkpoint_track(ctx, s->shared) < 0 || lab_ctx_checkpoint_track(ctx, extra) < 0) return -1;
    for (int i = 0; i < s->nnets; i++)
        if (lab_ctx_checkpoint_track(ctx, s->nets[i].p) < 0) return -1;
    if (lab_ctx_checkpoint_track_optim(ctx, s->opt_shared) < 0) return -1;
    for (int i = 0; i < s->nnets; i++)
        if (lab_ctx_checkpoint_track_optim(ctx, s->opt[i]) < 0) return -1;
    return 0;
}

/* --- counts ------------------------------------------------------------------------- */

static int log_counts(lab_ctx *ctx)
{
    static const char *const data[] = {"mnist", "cifar10", "cifar100"};
    static const np_embedding emb[] = {NP_EMB_ONEHOT, NP_EMB_LEARNED, NP_EMB_PROTOTYPE};
    lab_ctx_log(ctx, "parameters per DT block / CT-FM network (brief §7; no head, no embedding):");
    for (int dt = 1; dt >= 0; dt--)
        for (int k = 0; k < 3; k++) {
            int64_t c[3];
            for (int e = 0; e < 3; e++)
                if ((c[e] = np_count_params(dt, emb[e], data[k], 20)) < 0) return -1;
            lab_ctx_log(ctx, "  %s %-8s onehot %lld, dim=20 %lld, prototype %lld", dt ? "DT   " : "CT/FM", data[k],
                        (long long)c[0], (long long)c[1], (long long)c[2]);
        }
    return 0;
}

/* --- run ------------------------------------------------------------------------------ */

static int run_epoch(np_state *s, lab_ctx *ctx, int64_t e, int64_t step0, np_epoch_stats *st)
{
    switch (s->o->method) {
    case NP_DT: return np_dt_epoch(s, ctx, e, step0, st);
    case NP_CT: return np_ct_epoch(s, ctx, e, step0, st);
    case NP_FM: return np_fm_epoch(s, ctx, e, step0, st);
    case NP_BP: return np_bp_epoch(s, ctx, e, step0, st);
    }
    return lab_error_set("noprop: unknown method");
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* mean and sample std of v[0..n) */
static void mean_sd(const double *v, int n, double *mean, double *sd)
{
    double m = 0, q = 0;
    for (int i = 0; i < n; i++) m += v[i];
    m /= n;
    for (int i = 0; i < n; i++) q += (v[i] - m) * (v[i] - m);
    *mean = m;
    *sd = n > 1 ? sqrt(q / (n - 1)) : NAN;
}

#define MAX_REC 64

static int run(lab_ctx *ctx)
{
    np_opts o;
    if (read_opts(lab_ctx_cfg(ctx), &o) < 0) return -1;
    if (o.count_only) {
        np_shape sh;
        int64_t c;
        if (log_counts(ctx) < 0 || np_shape_for(o.data_name, &sh) < 0) return -1;
        if ((c = np_count_params(o.method == NP_DT || o.method == NP_BP, o.embedding, o.data_name, o.embed_dim)) < 0)
            return -1;
        lab_ctx_log(ctx, "this experiment (%s, %s, %s): %lld per %s", np_method_names[o.method],
                    np_embedding_names[o.embedding], o.data_name, (long long)c,
                    o.method == NP_DT || o.method == NP_BP ? "block" : "network");
        return lab_ctx_result(ctx, "params_block", (double)c);
    }
    np_state s;
    memset(&s, 0, sizeof s);
    s.dev = lab_ctx_device(ctx);
    s.max_steps = lab_cfg_get_int(lab_ctx_cfg(ctx), "train.max_steps");
    lab_params *extra = lab_params_new();
    int rc = -1;
    double t_train = 0;
    if (o.parallel_blocks && !lab_device_eq(s.dev, LAB_CPU)) {
        /* Concurrent blocks are CPU threads; one GPU would need a stream per
         * block, which the CUDA backend does not offer yet. */
        lab_ctx_warn(ctx, "noprop.parallel_blocks: concurrent blocks run on CPU threads only; training the blocks "
                          "one after another on %s", "the GPU");
        o.parallel_blocks = 0;
    }
    if (!extra || np_state_load_data(&s, &o, s.dev) < 0) goto out;
    size_t data_bytes = 0, peak = 0, rss_peak = 0;
    lab_memory_stats(s.dev, &data_bytes, NULL);
    lab_memory_reset_peak(s.dev);
    int have_rss = lab_memory_reset_peak_rss() == 0;
    if (np_state_build(&s, &o, lab_ctx_rng(ctx)) < 0) goto out;
    if (!lab_params_add_buffer(extra, "progress", lab_tensor_retain(s.progress))) goto out;
    int64_t per = np_net_count(&s.nets[0]), total = lab_params_count(s.shared);
    for (int i = 0; i < s.nnets; i++) total += np_net_count(&s.nets[i]);
    lab_ctx_log(ctx, "noprop %s, embedding %s (d = %lld), %s: %lld training / %lld test images, %lld steps per pass",
                np_method_names[o.method], np_embedding_names[o.embedding], (long long)s.sh.d, o.data_name,
                (long long)s.xtr->shape[0], (long long)s.xte->shape[0], (long long)s.steps);
    lab_ctx_log(ctx, "parameters: %lld per %s (brief §7), %lld trainable in all", (long long)per,
                s.nnets > 1 ? "block" : "network", (long long)total);

    if (np_state_track(&s, ctx, extra) < 0) goto out;
    int64_t e0 = 0, s0 = 0;
    if (lab_ctx_checkpoint_load(ctx, &e0, &s0) < 0) goto out;
    np_epoch_stats st;
    for (int64_t e = e0; e < o.epochs; e++) {
        double te = now_s();
        int r = run_epoch(&s, ctx, e, e == e0 ? s0 : 0, &st);
        t_train += now_s() - te;
        if (r < 0) goto out;
        if (r == 1) { /* stopped; the checkpoint is saved */
            rc = 0;
            goto out;
        }
        lab_ctx_metrics(ctx, "train", LAB_KV({"loss", st.loss}, {"ce", st.ce}, {"local", st.local}));
        int last = e + 1 == o.epochs;
        if (!last && o.eval_every > 0 && (e + 1) % o.eval_every == 0) {
            np_eval ev;
            if (np_evaluate(&s, s.xte, s.yte, 0, &ev) < 0) goto out;
            lab_ctx_metrics(ctx, "test", LAB_KV({"acc", ev.acc}, {"acc_post", ev.acc_post}, {"acc_block1", ev.acc_block1},
                                                {"acc_near", ev.acc_near}));
            lab_ctx_log(ctx, "epoch %lld: loss %.4f (ce %.4f, local %.4f), test accuracy %.2f%% (one run)",
                        (long long)e + 1, st.loss, st.ce, st.local, ev.acc);
        } else {
            lab_ctx_log(ctx, "epoch %lld: loss %.4f (ce %.4f, local %.4f)", (long long)e + 1, st.loss, st.ce, st.local);
        }
        if (lab_ctx_checkpoint_save(ctx, e + 1, 0) < 0) goto out;
    }
    lab_memory_stats(s.dev, NULL, &peak);
    if (have_rss) lab_memory_rss(NULL, &rss_peak);
    /* On a GPU also what the caching allocator took from the driver at its
     * peak (data, tensors and cached free blocks: what nvidia-smi shows). */
    size_t gpu_held_peak = 0;
    int have_gpu_held = s.dev.type == LAB_DEV_CUDA && lab_cuda_memory_stats(s.dev.index, NULL, &gpu_held_peak) == 0;

    /* Final evaluation: eval.runs inference runs on test and train. */
    {
        int R = o.eval_runs;
        double te[MAX_REC], tr[MAX_REC], tep[MAX_REC], trp[MAX_REC], b1[MAX_REC], ten[MAX_REC];
        if (R > MAX_REC) R = MAX_REC;
        lab_tensor *xtrv = s.xtr, *ytrv = s.ytr;
        lab_scope_begin();
        if (o.train_eval_size > 0 && o.train_eval_size < s.xtr->shape[0]) {
            xtrv = lab_slice(s.xtr, 0, 0, o.train_eval_size);
            ytrv = lab_slice(s.ytr, 0, 0, o.train_eval_size);
        }
        double t_eval = now_s();
        int ok = 1;
        for (int r = 0; r < R && ok; r++) {
            np_eval a, b;
            ok = np_evaluate(&s, s.xte, s.yte, (uint64_t)r, &a) == 0 && np_evaluate(&s, xtrv, ytrv, (uint64_t)r, &b) == 0;
            te[r] = a.acc, tep[r] = a.acc_post, b1[r] = a.acc_block1, ten[r] = a.acc_near, tr[r] = b.acc, trp[r] = b.acc_post;
        }
        t_eval = now_s() - t_eval;
        int64_t ntr = xtrv->shape[0];
        lab_scope_end();
        if (!ok) goto out;
        double m_te, sd_te, m_tr, sd_tr, m_tep, sd_tep, m_trp, sd_trp, m_b1, sd_b1, m_ten, sd_ten;
        mean_sd(te, R, &m_te, &sd_te);
        mean_sd(tr, R, &m_tr, &sd_tr);
        mean_sd(tep, R, &m_tep, &sd_tep);
        mean_sd(trp, R, &m_trp, &sd_trp);
        mean_sd(b1, R, &m_b1, &sd_b1);
        mean_sd(ten, R, &m_ten, &sd_ten);
        double mem_mb = peak > data_bytes ? (double)(peak - data_bytes) / 1048576.0 : 0;
        double epochs_run = o.epochs - e0 > 0 ? (double)(o.epochs - e0) : 0;
        if (R > 1)
            lab_ctx_log(ctx, "test accuracy %.2f%% ± %.2f (sd over %d inference runs), train %.2f%% (first %lld images)",
                        m_te, sd_te, R, m_tr, (long long)ntr);
        else
            lab_ctx_log(ctx, "test accuracy %.2f%% (one inference run), train %.2f%% (first %lld images)", m_te, m_tr,
                        (long long)ntr);
        if (o.method == NP_DT || o.method == NP_BP)
            lab_ctx_log(ctx, "posterior head: test %.2f%%, train %.2f%%%s", m_tep, m_trp, "");
        if (o.method == NP_DT) lab_ctx_log(ctx, "block 1 alone (argmax of its logits at z_0): test %.2f%%", m_b1);
        if (o.method != NP_FM)
            lab_ctx_log(ctx, "embedding nearest to the chain's last z (no head): test %.2f%%", m_ten);
        lab_ctx_log(ctx, "training %.1f s (%.2f s per epoch), evaluation %.1f s; peak tensor memory %.1f MiB above the "
                    "data, peak resident %.1f MiB", t_train, epochs_run > 0 ? t_train / epochs_run : 0, t_eval, mem_mb,
                    (double)rss_peak / 1048576.0);
        lab_ctx_result(ctx, "test_acc", m_te);
        lab_ctx_result(ctx, "train_acc", m_tr);
        if (o.method == NP_DT || o.method == NP_BP) {
            lab_ctx_result(ctx, "test_acc_post", m_tep);
            lab_ctx_result(ctx, "train_acc_post", m_trp);
        }
        if (o.method == NP_DT) lab_ctx_result(ctx, "block1_acc", m_b1);
        if (o.method != NP_FM) lab_ctx_result(ctx, "test_acc_near", m_ten);
        lab_ctx_result(ctx, "params_block", (double)per);
        lab_ctx_result(ctx, "mem_mb", mem_mb);
        if (have_rss) lab_ctx_result(ctx, "rss_peak_mb", (double)rss_peak / 1048576.0);
        if (have_gpu_held) lab_ctx_result(ctx, "gpu_held_peak_mb", (double)gpu_held_peak / 1048576.0);
        if (epochs_run > 0) lab_ctx_result(ctx, "s_per_epoch", t_train / epochs_run);

        /* The record tables are built from. */
        const char *sk[] = {"method", "embedding", "data", "device"};
        char devs[32];
        lab_device_str(s.dev, devs, sizeof devs);
        const char *sv[] = {np_method_names[o.method], np_embedding_names[o.embedding], o.data_name, devs};
        const char *nk[6 * MAX_REC + 16];
        double nv[6 * MAX_REC + 16];
        char names[6 * MAX_REC][24];
        int nn = 0;
        const char *fixed[] = {"seed", "epochs", "train_images", "test_images", "train_eval_images", "runs",
                               "params_block", "mem_mb", "rss_peak_mb", "s_per_epoch"};
        double fv[] = {(double)lab_ctx_seed(ctx), (double)o.epochs, (double)s.xtr->shape[0], (double)s.xte->shape[0],
                       (double)ntr, R, (double)per, mem_mb, have_rss ? (double)rss_peak / 1048576.0 : NAN,
                       epochs_run > 0 ? t_train / epochs_run : NAN};
        for (int i = 0; i < LAB_COUNT(fixed); i++) nk[nn] = fixed[i], nv[nn++] = fv[i];
        const double *series[] = {te, tr, tep, trp, b1, ten};
        const char *sname[] = {"test", "train", "test_post", "train_post", "block1", "test_near"};
        for (int k = 0; k < 6; k++)
            for (int r = 0; r < R; r++) {
                snprintf(names[k * MAX_REC + r], sizeof names[0], "%s_r%d", sname[k], r);
                nk[nn] = names[k * MAX_REC + r], nv[nn++] = series[k][r];
            }
        if (np_record_write(lab_ctx_dir(ctx), sk, sv, LAB_COUNT(sk), nk, nv, nn) < 0) goto out;
    }
    rc = np_table_maybe_write(ctx, &o);
out:
    np_state_free(&s);
    lab_params_free(extra);
    return rc;
}

static const lab_plugin plugin = {
    LAB_PLUGIN_HEADER,
    .name = "noprop",
    .version = "1.0",
    .summary = "NoProp (Li, Teh, Pascanu 2025): DT, CT, FM and backprop on MNIST / CIFAR-10 / CIFAR-100",
    .params = params,
    .n_params = LAB_COUNT(params),
    .run = run,
};
LAB_PLUGIN(plugin)
