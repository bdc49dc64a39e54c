/* Graph classification: a GNN stack (BN + ReLU after every layer), sum or
 * mean readout, a Linear–ReLU–Dropout–Linear head, trained with Adam and a
 * step schedule on mini-batches of whole graphs.
 *
 * TU data sets: OneHotDegree node input, stratified k-fold cross-validation
 * (a fresh model per fold), accuracy on the held-out fold at the last epoch.
 * ogbg-*: the data set's split and raw integer node features as numbers,
 * test score at the best-validation epoch in OGB's metric (eval.metric =
 * auto: ROC-AUC for molhiv, average precision for molpcba, both the mean
 * over tasks; accuracy for ogbg-ppa). A data set without node features
 * (ogbg-ppa) gets the constant 1 per node: the first layer's weight then
 * acts as the learned embedding shared by every node, as OGB's
 * Embedding(1, emb_dim) node encoder.
 *
 * Virgo's statistics come from one batched graph of data.stat_graphs
 * training graphs (brief §5), with C = virgo.classes or the hidden width;
 * x̄ is that batch's input, except without node features, where it is a
 * N(0, 1) draw per node as the official ogbg-ppa code.
 * An interrupted trial restarts from its beginning on resume.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virgo_int.h"

typedef struct {
    int64_t g, n, f, c;                         /* graphs, nodes, features, classes (or tasks) */
    int multitask;                              /* ogbg-mol*: BCE over tasks, ROC-AUC or AP */
    int featureless;                            /* no node features: x = 1 per node */
    virgo_metric metric;                        /* resolved: ACC, ROCAUC or AP */
    lab_tensor *x, *edges, *graph_ptr, *labels; /* cpu, owned; labels i64 [G] */
    lab_tensor *ylab;                           /* f32 [G, T] for multitask */
    lab_tensor *split[3];                       /* ogbg: train/valid/test ids */
    lab_graph_set *set;
} gdata;

static void gdata_free(gdata *d)
{
    lab_graph_set_free(d->set);
    lab_tensor_release(d->x);
    lab_tensor_release(d->edges);
    lab_tensor_release(d->graph_ptr);
    lab_tensor_release(d->labels);
    lab_tensor_release(d->ylab);
    for (int i = 0; i < 3; i++) lab_tensor_release(d->split[i]);
}

static int load_graphs(lab_ctx *ctx, const virgo_opts *o, gdata *d)
{
    memset(d, 0, sizeof *d);
    int rc = -1;
    lab_dataset *ds = NULL;
    lab_ogb *og = NULL;
    lab_scope_begin();
    if (strncmp(o->data, "ogbg-", 5) == 0) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", o->root[0] ? o->root : "data/ogb", o->data);
        for (char *p = dir + strlen(dir) - strlen(o->data); *p; p++)
            if (*p == '-') *p = '_';
        if (!(og = lab_ogb_read(dir, o->data, o->split))) goto out;
        if (!og->graph_label) {
            lab_error_set("%s: needs graph labels", o->data);
            goto out;
        }
        d->g = og->num_graphs, d->n = og->num_nodes;
        if (og->node_feat) {
            d->x = lab_tensor_retain(og->node_feat);
        } else {
            d->featureless = 1;
            d->x = lab_tensor_own(lab_tensor_full(LAB_F32, 2, (int64_t[]){d->n, 1}, 1.0, LAB_CPU));
        }
        d->edges = lab_tensor_retain(og->edges);
        d->graph_ptr = lab_tensor_retain(og->node_ptr);
        d->split[0] = lab_tensor_retain(og->train_idx);
        d->split[1] = lab_tensor_retain(og->valid_idx);
        d->split[2] = lab_tensor_retain(og->test_idx);
        if (!strncmp(o->data, "ogbg-mol", 8)) {
            d->multitask = 1;
            d->c = og->num_tasks;
            d->ylab = lab_tensor_retain(og->graph_label);
            /* The graph set wants i64 labels: use 0 (stratification is not used with a given split). */
            d->labels = lab_tensor_own(lab_tensor_zeros(LAB_I64, 1, &d->g, LAB_CPU));
        } else {
            d->labels = lab_tensor_own(lab_tensor_cast(lab_reshape(og->graph_label, 1, &d->g), LAB_I64));
            const int64_t *l = d->labels ? lab_tensor_i64(d->labels) : NULL;
            for (int64_t i = 0; l && i < d->g; i++) d->c = l[i] + 1 > d->c ? l[i] + 1 : d->c;
        }
    } else {
        lab_data_spec spec = {.name = o->data, .root = o->root[0] ? o->root : NULL};
        if (!(ds = lab_dataset_open(&spec))) goto out;
        if (ds->kind != LAB_DATA_GRAPHS) {
            lab_error_set("task.name = graph needs a TU or ogbg-* data set (tu:IMDB-BINARY, ...), got %s", o->data);
            goto out;
        }
        lab_tu *tu = ds->tu;
        d->g = tu->num_graphs, d->n = tu->num_nodes, d->c = tu->num_classes;
        int64_t maxd = o->max_degree;
        if (maxd == 0) {
            lab_tensor *deg = lab_graph_degree(tu->edges, tu->num_nodes, 1);
            if (!deg) goto out;
            const int64_t *dv = lab_tensor_i64(deg);
            for (int64_t i = 0; i < tu->num_nodes; i++) maxd = dv[i] > maxd ? dv[i] : maxd;
        }
        d->x = lab_tensor_own(lab_graph_degree_one_hot(tu->edges, tu->num_nodes, maxd));
        d->edges = lab_tensor_retain(tu->edges);
        d->graph_ptr = lab_tensor_retain(tu->graph_ptr);
        d->labels = lab_tensor_retain(tu->graph_labels);
    }
    if (!d->x || !d->edges || !d->graph_ptr || !d->labels) goto out;
    d->f = d->x->shape[1];
    /* OGB's metric per data set; a choice that cannot apply is an error. */
    d->metric = o->metric;
    if (d->metric == VIRGO_METRIC_AUTO)
        d->metric = !d->multitask                          ? VIRGO_METRIC_ACC
                    : !strcmp(o->data, "ogbg-molpcba") ? VIRGO_METRIC_AP
                                                       : VIRGO_METRIC_ROCAUC;
    if (d->metric == VIRGO_METRIC_HITS || d->metric == VIRGO_METRIC_MRR ||
        (d->multitask != (d->metric != VIRGO_METRIC_ACC))) {
        lab_error_set("eval.metric = %s does not apply to %s (%s): use %s", virgo_metric_name(o->metric), o->data,
                      d->multitask ? "binary tasks" : "single label", d->multitask ? "rocauc or ap" : "acc");
        goto out;
    }
    if (!(d->set = lab_graph_set_new(d->x, d->edges, d->graph_ptr, d->labels))) goto out;
    lab_ctx_log(ctx, "%s: %lld graphs, %lld nodes, %lld edges, %lld input features%s, %lld %s; metric %s", o->data,
                (long long)d->g, (long long)d->n, (long long)d->edges->shape[1], (long long)d->f,
                d->featureless ? " (none in the data: constant 1)" : "", (long long)d->c,
                d->multitask ? "binary tasks" : "classes", virgo_metric_name(d->metric));
    rc = 0;
out:
    lab_scope_end();
    lab_dataset_free(ds);
    lab_ogb_free(og);
    if (rc < 0) gdata_free(d);
    return rc;
}

typedef struct {
    lab_gnn_model *m;
    lab_linear_layer head[2];
} gmodel;

/* Logits [B, C] of a batch. */
static lab_tensor *gforward(const gmodel *gm, const virgo_opts *o, const lab_graph_batch *b, lab_gnn_graph *g,
                            lab_device dev, int training, lab_rng *rng)
{
    lab_scope_begin();
    lab_tensor *x = dev.type == LAB_DEV_CPU ? b->x : lab_tensor_to(b->x, dev);
    lab_tensor *seg = dev.type == LAB_DEV_CPU ? b->batch : lab_tensor_to(b->batch, dev);
    lab_tensor *h = lab_gnn_model_forward(gm->m, g, x, NULL, training, rng, NULL);
    lab_tensor *z = lab_gnn_readout(h, seg, b->num_graphs, o->pool);
    z = lab_relu(lab_linear_layer_forward(&gm->head[0], z));
    z = lab_dropout(z, o->readout_dropout, training, rng);
    lab_tensor *y = lab_linear_layer_forward(&gm->head[1], z);
    lab_keep(y);
    lab_scope_end();
    return y;
}

/* A batch of the graphs ids[0..n) and its GNN graph. */
static lab_graph_batch *make_batch(const gdata *d, const int64_t *ids, int64_t n, lab_device dev, lab_gnn_graph **g)
{
    lab_graph_batch *b = lab_graph_set_batch(d->set, ids, n);
    if (!b) return NULL;
    if (!(*g = lab_gnn_graph_new(b->edges, b->num_nodes, dev))) {
        lab_graph_batch_free(b);
        return NULL;
    }
    return b;
}

/* Score (%) on ids: accuracy, or mean ROC-AUC or AP over tasks. */
static double gscore(const gmodel *gm, const virgo_opts *o, const gdata *d, const int64_t *ids, int64_t n,
                     lab_device dev)
{
    int prev = lab_grad_set_enabled(0);
    int64_t correct = 0, bs = 256;
    float *scores = d->multitask ? malloc((size_t)(n * d->c) * sizeof *scores) : NULL;
    float *lab = d->multitask ? malloc((size_t)(n * d->c) * sizeof *lab) : NULL;
    double res = NAN;
    int ok = 1;
    for (int64_t i = 0; ok && i < n; i += bs) {
        int64_t m = i + bs < n ? bs : n - i;
        lab_gnn_graph *g = NULL;
        lab_graph_batch *b = make_batch(d, ids + i, m, dev, &g);
        lab_scope_begin();
        lab_tensor *lg = b ? gforward(gm, o, b, g, dev, 0, NULL) : NULL;
        ok = lg != NULL;
        if (ok && d->multitask) {
            ok = lab_tensor_copy_to_host(lg, scores + i * d->c) == 0;
            const float *yl = lab_tensor_f32(d->ylab);
            for (int64_t k = 0; k < m; k++)
                memcpy(lab + (i + k) * d->c, yl + ids[i + k] * d->c, (size_t)d->c * sizeof *lab);
        } else if (ok) {
            double a = lab_metric_accuracy_t(lg, b->y);
            ok = !isnan(a);
            correct += (int64_t)llround(a * (double)m);
        }
        lab_scope_end();
        lab_graph_batch_free(b);
        lab_gnn_graph_free(g);
    }
    if (ok && d->metric == VIRGO_METRIC_AP)
        res = 100.0 * lab_metric_average_precision_multitask(scores, lab, n, d->c);
    else if (ok)
        res = d->multitask ? 100.0 * lab_metric_roc_auc_multitask(scores, lab, n, d->c)
                           : 100.0 * (double)correct / (double)n;
    free(scores);
    free(lab);
    lab_grad_set_enabled(prev);
    return res;
}

/* Train a fresh model on train ids; returns the score on test ids at the
 * last epoch (TU) or at the best-validation epoch (val != NULL). */
static int train_eval(lab_ctx *ctx, const virgo_opts *o, const gdata *d, lab_tensor *tr, lab_tensor *va, lab_tensor *te,
                      uint64_t stream, double *score)
{
    lab_device dev = lab_ctx_device(ctx);
    lab_rng rng = lab_rng_fork(lab_ctx_rng(ctx), stream);
    lab_params *p = lab_params_new();
    gmodel gm = {0};
    lab_optim *opt = NULL;
    lab_gnn_graph *sg = NULL;
    lab_graph_batch *sb = NULL;
    int rc = -1;
    int64_t ntr = tr->numel, *ids = malloc((size_t)ntr * sizeof *ids);
    if (!p || !ids) goto out;
    memcpy(ids, lab_tensor_i64(tr), (size_t)ntr * sizeof *ids);
    /* Statistics on a batch of stat_graphs random training graphs. */
    lab_rng_shuffle_i64(&rng, ids, ntr);
    if (!(sb = make_batch(d, ids, o->stat_graphs < ntr ? o->stat_graphs : ntr, LAB_CPU, &sg))) goto out;
    lab_gnn_stats st;
    lab_tensor *xbar = sb->x;
    if (d->featureless && !(xbar = lab_rng_normal(&rng, 2, (int64_t[]){sb->num_nodes, 1}, 0, 1, LAB_CPU))) goto out;
    int sok = virgo_stats(o, &st, sg, xbar, o->layers);
    if (xbar != sb->x) lab_tensor_release(lab_tensor_own(xbar));
    if (sok < 0) goto out;
    lab_gnn_model_cfg mc = virgo_model_cfg(o, d->f, o->hidden);
    mc.last_act = 1;
    if (!(gm.m = lab_gnn_model_new(&mc, p, "gnn", &rng))) goto out;
    if (virgo_plan_and_init(ctx, o, gm.m, &st, o->init.classes ? o->init.classes : o->hidden, &rng) < 0) goto out;
    if (lab_linear_layer_init(&gm.head[0], p, "head.0", o->hidden, o->hidden, 1, &rng) < 0 ||
        lab_linear_layer_init(&gm.head[1], p, "head.1", o->hidden, d->c, 1, &rng) < 0)
        goto out;
    if (lab_params_to(p, dev) < 0 || !(opt = virgo_optim(o, p))) goto out;
    double best_val = -1;
    *score = NAN;
    for (int64_t e = 0; e < o->epochs; e++) {
        if (lab_ctx_should_stop(ctx)) goto out;
        double lr = o->lr;
        if (o->step_schedule) lr *= pow(o->gamma, (double)(e / o->step_size));
        lab_optim_set_lr(opt, (float)lr);
        lab_rng erng = lab_rng_fork(&rng, 0x100000 + (uint64_t)e);
        lab_rng_shuffle_i64(&erng, ids, ntr);
        double lsum = 0;
        int64_t nb = (ntr + o->batch_size - 1) / o->batch_size;
        for (int64_t s = 0; s < nb; s++) {
            int64_t i0 = s * o->batch_size, m = i0 + o->batch_size < ntr ? o->batch_size : ntr - i0;
            if (m < 2 && o->batchnorm) continue; /* BatchNorm needs two graphs' worth of nodes to be meaningful */
            lab_gnn_graph *g = NULL;
            lab_graph_batch *b = make_batch(d, ids + i0, m, dev, &g);
            if (!b) goto out;
            lab_scope_begin();
            lab_tensor *lg = gforward(&gm, o, b, g, dev, 1, &erng);
            lab_tensor *loss;
            if (d->multitask) {
                /* Missing labels (NaN) are masked out of the BCE, as OGB's example. */
                lab_tensor *yb = lab_index_select(d->ylab, 0, lab_tensor_from_data(LAB_I64, 1, &m, ids + i0, LAB_CPU));
                lab_tensor *mask = lab_eq(yb, yb);
                lab_tensor *y0 = lab_where(mask, yb, lab_tensor_zeros_like(yb));
                if (dev.type != LAB_DEV_CPU) mask = lab_tensor_to(mask, dev), y0 = lab_tensor_to(y0, dev);
                lab_tensor *per = lab_sub(lab_add(lab_relu(lg), lab_softplus(lab_neg(lab_abs(lg)))), lab_mul(lg, y0));
                loss = lab_div(lab_sum_all(lab_mul(per, mask)), lab_clamp(lab_sum_all(mask), 1, INFINITY));
            } else {
                lab_tensor *y = dev.type == LAB_DEV_CPU ? b->y : lab_tensor_to(b->y, dev);
                loss = lab_cross_entropy(lg, y);
            }
            int ok = loss && lab_backward(loss) == 0;
            if (ok && o->grad_clip > 0) ok = lab_clip_grad_norm(p, (float)o->grad_clip) >= 0;
            ok = ok && lab_optim_step(opt) == 0;
            lab_optim_zero_grad(opt);
            if (ok) lsum += lab_tensor_item(loss);
            lab_scope_end();
            lab_graph_batch_free(b);
            lab_gnn_graph_free(g);
            if (!ok) goto out;
        }
        lab_ctx_progress(ctx, e, o->epochs, 1, 1);
        lab_ctx_metrics(ctx, "train", LAB_KV({"loss", lsum / (double)nb}));
        if (va) {
            double v = gscore(&gm, o, d, lab_tensor_i64(va), va->numel, dev);
            double t = gscore(&gm, o, d, lab_tensor_i64(te), te->numel, dev);
            if (isnan(v) || isnan(t)) goto out;
            lab_ctx_metrics(ctx, "val", LAB_KV({"score", v}));
            lab_ctx_metrics(ctx, "test", LAB_KV({"score", t}));
            if (v > best_val) best_val = v, *score = t;
        }
    }
    if (!va) {
        *score = gscore(&gm, o, d, lab_tensor_i64(te), te->numel, dev);
        if (isnan(*score)) goto out;
    }
    rc = 0;
out:
    lab_graph_batch_free(sb);
    lab_gnn_graph_free(sg);
    lab_optim_free(opt);
    lab_gnn_model_free(gm.m);
    lab_params_free(p);
    free(ids);
    return rc;
}

int virgo_graph(lab_ctx *ctx, const virgo_opts *o)
{
    gdata d;
    if (load_graphs(ctx, o, &d) < 0) return -1;
    int rc = -1, depth = lab_scope_depth();
    lab_kv res[104];
    static char names[100][16];
    int nres = 0;
    lab_scope_begin();
    if (d.split[0]) {
        double s;
        if (train_eval(ctx, o, &d, d.split[0], d.split[1], d.split[2], 1, &s) < 0) goto out;
        res[nres++] = (lab_kv){"fold_0", s};
        char rname[32];
        snprintf(rname, sizeof rname, "test_%s", virgo_metric_name(d.metric));
        lab_ctx_result(ctx, rname, s);
        lab_ctx_log(ctx, "test %s %.2f at the best-validation epoch", virgo_metric_name(d.metric), s);
    } else {
        lab_rng frng = lab_rng_fork(lab_ctx_rng(ctx), 0xf01d);
        lab_tensor *folds = lab_graph_kfold(d.labels, o->folds, &frng);
        if (!folds) goto out;
        double acc[100];
        for (int i = 0; i < o->folds; i++) {
            lab_tensor *tr, *te;
            if (lab_graph_kfold_split(folds, i, &tr, &te) < 0) goto out;
            /* tr and te belong to this function's scope. */
            if (train_eval(ctx, o, &d, tr, NULL, te, 100 + (uint64_t)i, &acc[i]) < 0) goto out;
            snprintf(names[i], sizeof names[i], "fold_%d", i);
            res[nres++] = (lab_kv){names[i], acc[i]};
            lab_ctx_metrics(ctx, "fold", LAB_KV({"acc", acc[i]}));
            lab_ctx_log(ctx, "fold %d/%d: test accuracy %.2f", i + 1, o->folds, acc[i]);
        }
        lab_metric_summary s;
        if (lab_metric_summarize(acc, o->folds, &s) < 0) goto out;
        lab_ctx_result(ctx, "cv_acc", s.mean);
        lab_ctx_result(ctx, "cv_std", s.std);
        res[nres++] = (lab_kv){"cv_acc", s.mean};
        lab_ctx_log(ctx, "%d-fold accuracy %.2f ± %.2f", o->folds, s.mean, s.std);
    }
    if (virgo_record(ctx, o, res, nres) < 0) goto out;
    rc = 0;
out:
    while (lab_scope_depth() > depth) lab_scope_end();
    gdata_free(&d);
    return rc;
}
