/* lab/ogb.h — Open Graph Benchmark data sets in their original raw format.
 *
 * A data set folder as OGB's downloader leaves it (e.g. dataset/ogbn_arxiv):
 *
 *     raw/edge.csv.gz             "u,v" per line, node ids local to each graph
 *     raw/num-node-list.csv.gz    nodes of each graph (one line per graph)
 *     raw/num-edge-list.csv.gz    edges of each graph
 *     raw/node-feat.csv.gz        optional: one row of numbers per node
 *     raw/edge-feat.csv.gz        optional: one row per edge
 *     raw/node-label.csv.gz       node tasks: one row per node (tasks columns)
 *     raw/graph-label.csv.gz      graph tasks: one row per graph (empty or nan = missing)
 *     split/<split>/{train,valid,test}.csv.gz   node/graph tasks: one id per line
 *
 * Files may be gzip-compressed or plain (".csv.gz" is tried, then ".csv").
 * Link tasks (ogbl-*) ship their splits as PyTorch pickles (train.pt, ...),
 * which this reader does not parse; it reads instead, when present,
 * split/<split>/<part>_pos.csv[.gz] and <part>_neg.csv[.gz] ("u,v" per line,
 * part = train, valid, test; the plugin README gives the one-line export).
 *
 *     lab_ogb *d = lab_ogb_read("data/ogb/ogbn_arxiv", "ogbn-arxiv", NULL);
 *     // d->edges i64 [2, 1166243] (directed: arxiv is not symmetrised on load),
 *     // d->node_feat f32 [169343, 128], d->node_label f32 [169343, 1],
 *     // d->train_idx / valid_idx / test_idx i64
 *     lab_ogb_free(d);
 *
 * Every count is checked: the per-graph lists against the edge and feature
 * files, edge endpoints against their graph's node count, split ids against
 * the number of nodes or graphs; a mismatch names the file and the line.
 * Tensors belong to the struct (no scope) and are on the cpu.
 */
#ifndef LAB_OGB_H
#define LAB_OGB_H

#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { LAB_OGB_NODE = 0, LAB_OGB_LINK = 1, LAB_OGB_GRAPH = 2 } lab_ogb_task;

typedef struct lab_ogb {
    char name[64];                                /* "ogbn-arxiv" */
    lab_ogb_task task;                            /* from the name's prefix ogbn / ogbl / ogbg */
    int add_inverse_edge;                         /* each listed edge was added in both directions */
    int64_t num_graphs;                           /* G (1 for node and link tasks) */
    int64_t num_nodes;                            /* N, all graphs */
    int64_t num_edges;                            /* E after add_inverse_edge */
    lab_tensor *edges;                            /* i64 [2, E]: global ids (graph g's local ids + node_ptr[g]) */
    lab_tensor *node_ptr;                         /* i64 [G + 1] */
    lab_tensor *edge_ptr;                         /* i64 [G + 1], into edges */
    lab_tensor *node_feat;                        /* f32 [N, D] or NULL */
    lab_tensor *edge_feat;                        /* f32 [E, De] (duplicated like the edges) or NULL */
    lab_tensor *node_label;                       /* f32 [N, T] or NULL */
    lab_tensor *graph_label;                      /* f32 [G, T] or NULL; NAN marks a missing label */
    int64_t num_tasks;                            /* T */
    lab_tensor *train_idx, *valid_idx, *test_idx; /* i64 node or graph ids; NULL for link tasks */
    /* Link tasks: i64 [2, n] each, NULL when the CSV export is absent. */
    lab_tensor *train_pos, *valid_pos, *valid_neg, *test_pos, *test_neg;
} lab_ogb;

/* name: "ogbn-arxiv", ... (decides the task, add_inverse_edge and the
 * default split as OGB's master.csv: arxiv and citation2 directed, the rest
 * symmetrised; splits time / sales_ranking / species / throughput / target /
 * scaffold). An unknown name needs add_inverse_edge and split explicitly:
 * use lab_ogb_read_as. split NULL or "" = the default. */
lab_ogb *lab_ogb_read(const char *dir, const char *name, const char *split);
lab_ogb *lab_ogb_read_as(const char *dir, const char *name, lab_ogb_task task, int add_inverse_edge, const char *split);
void lab_ogb_free(lab_ogb *d);

/* One OGB CSV file (plain or gzip) as a matrix: f32 or i64 [rows, cols]
 * (cols = 0 accepts the first line's count; every line must match it).
 * Empty fields and "nan" read as NAN in f32 and are an error in i64. */
lab_tensor *lab_ogb_read_csv(const char *path, lab_dtype dt, int64_t cols);

#ifdef __cplusplus
}
#endif
#endif
