/* lab/graph.h — graph utilities: adjacency (CSR), normalisation, degrees,
 * link-prediction splits, stratified k-fold, and batching of small graphs.
 *
 * Graphs are edge lists as the readers in data.h return them: an i64 [2, E]
 * tensor on the cpu, row 0 the source and row 1 the target of each directed
 * edge (an undirected graph lists both directions), node ids in [0, N).
 *
 *     // GCN on Cora: A_hat = D^-1/2 (A + I) D^-1/2, as a CSR for lab_spmm
 *     lab_csr *a = lab_graph_adjacency(g->edges, g->num_nodes, 1, LAB_GRAPH_NORM_SYM, LAB_CPU);
 *     lab_tensor *h = lab_spmm(a, lab_matmul(x, w));
 *     lab_csr_release(a);
 *
 *     // Link prediction: 85/5/10 split of the undirected edges
 *     lab_graph_link_split *s = lab_graph_link_split_new(g->edges, g->num_nodes, 0.05, 0.10, &rng);
 *     // train on s->train_edges; score s->val_pos/val_neg, s->test_pos/test_neg
 *     lab_graph_link_split_free(s);
 *
 *     // Graph classification: 10-fold CV and mini-batches of whole graphs
 *     lab_tensor *fold = lab_graph_kfold(tu->graph_labels, 10, &rng);
 *     lab_graph_set *set = lab_graph_set_new(x, tu->edges, tu->graph_ptr, tu->graph_labels);
 *     lab_graph_batch *b = lab_graph_set_batch(set, ids, 32);
 *     lab_tensor *pooled = lab_segment_mean(h, b->batch, b->num_graphs);
 *     lab_graph_batch_free(b);
 *     lab_graph_set_free(set);
 *
 * Tensors returned directly follow tensor.h (current scope, or the caller).
 * Tensors inside a returned struct belong to the struct (no scope) and are
 * released by its _free function; lab_tensor_retain() one to keep it longer.
 * All randomness comes from the lab_rng passed in: a seed gives the same
 * split on every machine.
 */
#ifndef LAB_GRAPH_H
#define LAB_GRAPH_H

#include <stdint.h>

#include "ops.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- adjacency ------------------------------------------------------------ */

typedef enum {
    LAB_GRAPH_NORM_NONE = 0, /* entries 1 */
    LAB_GRAPH_NORM_SYM = 1,  /* D^-1/2 A D^-1/2 (GCN, Kipf & Welling) */
    LAB_GRAPH_NORM_RW = 2,   /* D^-1 A: each row sums to 1 (mean of neighbours) */
} lab_graph_norm;

/* The adjacency as a CSR matrix [N, N] for lab_spmm: entry (i, j) is set
 * when the edge list has j -> i, so that (A X)[i] aggregates over i's
 * in-neighbours (PyG's source-to-target flow; for undirected graphs A is
 * symmetric). Duplicate edges count once. With self_loops != 0, every
 * existing self-loop is dropped and exactly one (i, i) is added per node:
 * A + I. D is the diagonal of row sums (in-degrees, self-loop included), as
 * PyG's gcn_norm; a node of degree 0 gets a zero row. Column ids are sorted
 * within each row. */
lab_csr *lab_graph_adjacency(const lab_tensor *edges, int64_t num_nodes, int self_loops, lab_graph_norm norm,
                             lab_device dev);

/* The edge list with every self-loop removed and one (i, i) appended per node
 * (i = 0..N-1, after the other edges, which keep their order): i64 [2, E'].
 * For models that take edge lists (GAT). */
lab_tensor *lab_graph_add_self_loops(const lab_tensor *edges, int64_t num_nodes);

/* --- degrees -------------------------------------------------------------- */

/* i64 [N]: in-degree (edges whose target is the node; in != 0) or out-degree
 * (edges whose source is the node), counting duplicates and self-loops as
 * listed. */
lab_tensor *lab_graph_degree(const lab_tensor *edges, int64_t num_nodes, int in);

/* f32 [N, max_degree + 1]: one-hot in-degree, degrees above max_degree
 * clamped to it (PyG's OneHotDegree, for graphs without node features). */
lab_tensor *lab_graph_degree_one_hot(const lab_tensor *edges, int64_t num_nodes, int64_t max_degree);

typedef struct lab_graph_degree_stats {
    int64_t min, max;
    double mean, std; /* population std */
    int64_t isolated; /* nodes of degree 0 */
} lab_graph_degree_stats;

/* Statistics of in- and out-degrees (either pointer may be NULL). 0 or -1. */
int lab_graph_degree_stats_get(const lab_tensor *edges, int64_t num_nodes, lab_graph_degree_stats *in,
                               lab_graph_degree_stats *out);

/* --- link prediction -------------------------------------------------------- */

/* A random split of the undirected edges for link prediction (as GAE's
 * mask_test_edges and PyG's RandomLinkSplit): each unordered pair {u, v},
 * u != v, present in either direction counts once (self-loops dropped).
 * floor(test_frac * E) pairs are test positives, floor(val_frac * E) the
 * validation positives, the rest training positives. Negatives for val and
 * test are as many pairs drawn uniformly among non-edges of the WHOLE graph:
 * never a positive of any split, all distinct, val and test disjoint.
 * Every pair is written with u < v. No leakage: train_edges holds only
 * training positives. */
typedef struct lab_graph_link_split {
    int64_t num_nodes;
    lab_tensor *train_edges; /* i64 [2, 2*Etr]: the message-passing graph, both directions */
    lab_tensor *train_pos;   /* i64 [2, Etr] */
    lab_tensor *val_pos;     /* i64 [2, Ev] */
    lab_tensor *val_neg;     /* i64 [2, Ev] */
    lab_tensor *test_pos;    /* i64 [2, Et] */
    lab_tensor *test_neg;    /* i64 [2, Et] */
} lab_graph_link_split;

lab_graph_link_split *lab_graph_link_split_new(const lab_tensor *edges, int64_t num_nodes, double val_frac,
                                               double test_frac, lab_rng *rng);
void lab_graph_link_split_free(lab_graph_link_split *s);

/* n distinct pairs (u < v, u != v) drawn uniformly among those absent from
 * `exclude` (either direction): i64 [2, n]. For training negatives pass
 * s->train_edges, so that nothing about val/test edges is used. Fails when
 * fewer than n such pairs exist. */
lab_tensor *lab_graph_negative_sample(const lab_tensor *exclude, int64_t num_nodes, int64_t n, lab_rng *rng);

/* --- k-fold cross-validation ------------------------------------------------ */

/* Stratified k-fold assignment of G items with labels i64 [G] (>= 0): i64
 * [G], the fold 0..k-1 of each item. Items are shuffled with rng, grouped by
 * class and dealt to folds in turn, so every fold gets floor or ceil of
 * (class count)/k of each class and floor or ceil of G/k items. */
lab_tensor *lab_graph_kfold(const lab_tensor *labels, int k, lab_rng *rng);

/* Indices (ascending, i64) of the items in fold i (*test) and in the others
 * (*train). Returns 0 or -1. */
int lab_graph_kfold_split(const lab_tensor *folds, int i, lab_tensor **train, lab_tensor **test);

/* --- batches of small graphs (graph classification) ------------------------ */

/* A collection of G graphs stored as one disjoint graph, as lab_tu: nodes of
 * graph g are graph_ptr[g] .. graph_ptr[g+1]-1, and no edge joins two graphs.
 * The set keeps references to the tensors. */
typedef struct lab_graph_set lab_graph_set;

/* x f32 [N, F] node features; edges i64 [2, E]; graph_ptr i64 [G+1];
 * labels i64 [G] or NULL. An edge joining two graphs is an error naming it. */
lab_graph_set *lab_graph_set_new(lab_tensor *x, lab_tensor *edges, lab_tensor *graph_ptr, lab_tensor *labels);
void lab_graph_set_free(lab_graph_set *s);
int64_t lab_graph_set_size(const lab_graph_set *s);

/* The graphs ids[0..n) joined into one disjoint graph, in that order. */
typedef struct lab_graph_batch {
    int64_t num_graphs;  /* B = n */
    int64_t num_nodes;   /* sum of the graphs' nodes */
    lab_tensor *x;       /* f32 [num_nodes, F], the graphs' rows concatenated */
    lab_tensor *edges;   /* i64 [2, sum E_g], ids offset to the batch's rows */
    lab_tensor *batch;   /* i64 [num_nodes]: graph 0..B-1 of each node (segment ids for lab_segment_*) */
    lab_tensor *ptr;     /* i64 [B + 1]: node offsets */
    lab_tensor *y;       /* i64 [B] labels, NULL when the set has none */
} lab_graph_batch;

lab_graph_batch *lab_graph_set_batch(const lab_graph_set *s, const int64_t *ids, int64_t n);
void lab_graph_batch_free(lab_graph_batch *b);

#ifdef __cplusplus
}
#endif
#endif
