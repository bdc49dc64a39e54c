/* virgo_int.h — what the files of the virgo plugin share. */
#ifndef VIRGO_INT_H
#define VIRGO_INT_H

#include <lab/gnn.h>
#include <lab/lab.h>
#include <lab/ogb.h>

/* Everything one trial reads from its configuration, once. */
typedef struct virgo_opts {
    const char *task;       /* node | link | graph | variance */
    const char *data;       /* cora, citeseer, pubmed, tu:<NAME>, ogbn-*, ogbl-*, ogbg-* */
    const char *root;       /* "" = search */
    int normalize;          /* row-normalise node features */
    double val_frac, test_frac;
    int folds;
    int64_t batch_size, max_degree, stat_graphs;
    const char *split;      /* OGB split name ("" = the dataset's own) */

    lab_gnn_arch arch;
    int layers;
    int64_t hidden;
    lab_gnn_init_cfg init;  /* kind, mean, dgl_swap; classes = virgo.classes as given (0 = task default) */
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

    const char *table, *table_out;
} virgo_opts;

/* --- virgo.c ------------------------------------------------------------------ */

/* The Virgo plan for a model on a statistic graph; classes as the task
 * decided. Logs the variances. */
int virgo_plan_and_init(lab_ctx *ctx, const virgo_opts *o, lab_gnn_model *m, const lab_gnn_stats *st,
                        int64_t classes, lab_rng *rng);
/* Adam with the configured lr / weight decay. */
lab_optim *virgo_optim(const virgo_opts *o, lab_params *p);
/* A flat JSON record of this trial in its directory (virgo.json): the keys
 * the tables group by and the results. */
int virgo_record(lab_ctx *ctx, const virgo_opts *o, const lab_kv *res, int nres);
/* Model config from the options. */
lab_gnn_model_cfg virgo_model_cfg(const virgo_opts *o, int64_t in, int64_t out);

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
