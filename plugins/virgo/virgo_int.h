/* virgo_int.h — what the files of the virgo plugin share. */
#ifndef VIRGO_INT_H
#define VIRGO_INT_H

#include <lab/lab.h>

/* eval.metric, in the order of its choices. The graph and link tasks
 * resolve AUTO to the data set's OGB metric and reject choices of the other
 * task (gc.c, link.c). */
typedef enum {
    VIRGO_METRIC_AUTO = 0,
    VIRGO_METRIC_ACC,
    VIRGO_METRIC_ROCAUC,
    VIRGO_METRIC_AP,
    VIRGO_METRIC_HITS,
    VIRGO_METRIC_MRR
} virgo_metric;
#define VIRGO_METRIC_CHOICES "auto|acc|rocauc|ap|hits|mrr"

/* Everything one trial reads from its configuration, once. */
typedef struct virgo_opts {
    const char *task; /* node | link | graph | variance */
    const char *data; /* cora, citeseer, pubmed, tu:<NAME>, ogbn-*, ogbl-*, ogbg-* */
    const char *root; /* "" = search */
    int normalize;    /* row-normalise node features */
    double val_frac, test_frac;
    int folds;
    int64_t batch_size, max_degree, stat_graphs;
    const char *split; /* OGB split name ("" = the dataset's own) */

    lab_gnn_arch arch;
    int layers;
    int64_t hidden;
    lab_gnn_init_cfg init;  /* kind, mean, dgl_swap; classes = virgo.classes as given (0 = task default) */
    int op_model;           /* virgo.operator = model: statistics with the layer's own operator */
    const char *init_label; /* the row label: "xavier", ..., "virgo harmonic" */
    float dropout, readout_dropout;
    int batchnorm, heads, gin_learn_eps;
    float gin_eps;
    int64_t gin_mid, emb_dim;
    lab_gnn_pool pool;
    int decoder_mlp, decoder_layers;

    int64_t epochs, patience, step_size;
    double lr, weight_decay, gamma, grad_clip;
    int step_schedule;
    const int64_t *hits_k;
    int n_hits;
    virgo_metric metric;  /* graph and link tasks; AUTO until resolved */
    int64_t batch_edges;  /* link: positive training edges per step, 0 = all */

    const char *table, *table_out;
    const char *table_cmd; /* the command the table's header names */
} virgo_opts;

/* --- virgo.c ------------------------------------------------------------------ */

/* "acc", "rocauc", "ap", "hits", "mrr" ("auto" for AUTO): the eval.metric
 * choice, also the suffix of the test_<metric> result. */
const char *virgo_metric_name(virgo_metric m);

/* The Virgo plan for a model on a statistic graph; classes as the task
 * decided. Logs the variances. */
int virgo_plan_and_init(lab_ctx *ctx, const virgo_opts *o, lab_gnn_model *m, const lab_gnn_stats *st, int64_t classes,
                        lab_rng *rng);
/* S_f/S_b of x's row means on g to depth: the GCN operator, or with
 * virgo.operator = model the model's own (lab_gnn_stats_from_features_arch). */
int virgo_stats(const virgo_opts *o, lab_gnn_stats *st, lab_gnn_graph *g, const lab_tensor *x, int depth);
/* Adam with the configured lr / weight decay. */
lab_optim *virgo_optim(const virgo_opts *o, lab_params *p);
/* A flat JSON record of this trial in its directory (virgo.json): the keys
 * the tables group by and the results. */
int virgo_record(lab_ctx *ctx, const virgo_opts *o, const lab_kv *res, int nres);
/* Model config from the options. */
lab_gnn_model_cfg virgo_model_cfg(const virgo_opts *o, int64_t in, int64_t out);

/* A node-level data set on the run's device (Planetoid or ogbn-*). */
typedef struct {
    int64_t n, f, c;
    lab_tensor *x;      /* f32 [N, F] (cpu, owned) */
    lab_csr *xs;        /* sparse copy on the device when the features are sparse, else NULL */
    lab_tensor *xd;     /* dense features on the device when xs is NULL */
    lab_tensor *edges;  /* i64 [2, E] (cpu, owned) */
    lab_tensor *y;      /* i64 [N] on the device (single-label), or NULL */
    lab_tensor *ym;     /* f32 [N, T] on the device (multi-label, ROC-AUC), or NULL */
    lab_tensor *idx[3]; /* train, val, test (device) */
    int symmetrize;
} virgo_node_data;
int virgo_node_data_load(lab_ctx *ctx, const virgo_opts *o, virgo_node_data *d);
void virgo_node_data_free(virgo_node_data *d);
/* Accuracy (%) or mean ROC-AUC (%) of logits [N, C] on split 0/1/2. */
double virgo_node_score(const virgo_node_data *d, lab_tensor *logits, int split);
/* An owned reference to t on dev (a copy when dev is not the cpu). */
lab_tensor *virgo_own_on(lab_tensor *t, lab_device dev);

/* --- tasks ------------------------------------------------------------------------ */
int virgo_node(lab_ctx *ctx, const virgo_opts *o);
int virgo_link(lab_ctx *ctx, const virgo_opts *o);
int virgo_graph(lab_ctx *ctx, const virgo_opts *o);
int virgo_variance(lab_ctx *ctx, const virgo_opts *o);

/* --- table.c ------------------------------------------------------------------------ */
/* On the last trial of a run: gather every trial's virgo.json under the
 * run directory and write o->table_out. */
int virgo_table_maybe_write(lab_ctx *ctx, const virgo_opts *o);

#endif
