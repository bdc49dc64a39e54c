/* lab/gnn.h — graph neural networks: graph statistics, Virgo and classic
 * initializers, GCN / GraphSAGE / GIN / GAT layers, stacks of them, readout
 * and link decoders.
 *
 * Initialising a GCN stack on a graph the way "On the Initialization of Graph
 * Neural Networks" (Virgo, ICML 2023) does:
 *
 *     lab_gnn_graph *g = lab_gnn_graph_new(edges, n, LAB_CPU);     // Â, built once
 *     lab_gnn_stats st;
 *     lab_gnn_stats_from_features(&st, g, x, L);                   // S_f(k), S_b(k), float64
 *     lab_gnn_model_cfg mc = lab_gnn_model_defaults(LAB_GNN_GCN, L, in, 64, classes);
 *     lab_gnn_model *m = lab_gnn_model_new(&mc, params, "gnn", rng);
 *     lab_gnn_init_cfg ic = lab_gnn_init_defaults();
 *     ic.kind = LAB_GNN_INIT_VIRGO; ic.classes = classes;
 *     lab_gnn_init_plan plan;
 *     lab_gnn_model_plan(m, &ic, &st, &plan);                      // v_l for l = 1..L
 *     lab_gnn_model_init(m, &plan, rng);                           // W_l ~ U(±sqrt(3 v_l))
 *     lab_tensor *logits = lab_gnn_model_forward(m, g, x, NULL, 1, rng, NULL);
 *
 * Notation (one graph, N nodes, edges u -> v): Ã = A + I with exactly one
 * self-loop per node (existing self-loops and repeated edges dropped);
 * d_in(v), d_out(u) its in/out-degrees; the GCN operator
 *     (Â h)_v = d_in(v)^-1/2 Σ_{u -> v} d_out(u)^-1/2 h_u,
 * which for an undirected graph is D̃^-1/2 Ã D̃^-1/2. x̄ is the mean over the
 * m_0 input features of each node.
 *
 * Weights are stored as lab_linear expects them, [out, in]; fan_in = in,
 * fan_out = out (lab_init_fans).
 *
 * Ownership: tensors returned directly follow tensor.h (current scope, or
 * the caller); everything inside a lab_gnn_graph or lab_gnn_model belongs
 * to it (parameters to the lab_params list given at creation).
 */
#ifndef LAB_GNN_H
#define LAB_GNN_H

#include <stdint.h>

#include "nn.h"
#include "ops.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Deepest stack the statistics and plans describe. */
#define LAB_GNN_MAX_DEPTH 64

/* --- the graph, with its operators built on first use ------------------------ */

typedef struct lab_gnn_graph lab_gnn_graph;

/* edges: i64 [2, E] on the cpu, row 0 the source u, row 1 the target v of
 * each directed edge u -> v (undirected graphs list both directions), ids in
 * [0, num_nodes). Out-of-range ids are an error naming the edge. The graph
 * copies what it needs; operators are built on `dev` when first asked for. */
lab_gnn_graph *lab_gnn_graph_new(const lab_tensor *edges, int64_t num_nodes, lab_device dev);
void lab_gnn_graph_free(lab_gnn_graph *g);
int64_t lab_gnn_graph_num_nodes(const lab_gnn_graph *g);
/* Distinct directed edges u != v after coalescing. */
int64_t lab_gnn_graph_num_edges(const lab_gnn_graph *g);

/* The operators (owned by the graph; NULL with an error on failure):
 *   gcn   Â as above, f32 values computed in double then rounded;
 *   mean  D_in^-1 A without self-loops (GraphSAGE mean; isolated rows 0);
 *   sum   A without self-loops (GIN's neighbour sum).
 * Each is a CSR whose row v holds v's in-neighbours. */
lab_csr *lab_gnn_graph_gcn(lab_gnn_graph *g);
lab_csr *lab_gnn_graph_mean(lab_gnn_graph *g);
lab_csr *lab_gnn_graph_sum(lab_gnn_graph *g);
/* GAT's edge list with one self-loop per node: i64 [E + N] source and
 * target ids on the graph's device (owned). */
int lab_gnn_graph_gat_edges(lab_gnn_graph *g, lab_tensor **src, lab_tensor **dst);

/* y = Â x in double precision on the host: x, y [N] (y may not alias x).
 * The primitive of the statistics below, exposed for tests and tools. */
int lab_gnn_graph_apply_gcn_f64(const lab_gnn_graph *g, const double *x, double *y);

/* --- node features --------------------------------------------------------------- */

/* Each row divided by its sum (PyG's NormalizeFeatures; all-zero rows stay
 * zero): x f32 [N, F] -> a new tensor. Not recorded. */
lab_tensor *lab_gnn_row_normalize(lab_tensor *x);
/* The nonzeros of x f32 [N, F] (cpu) as a CSR on dev, for the sparse-input
 * forwards (Planetoid bag-of-words features are ~1% dense). */
lab_csr *lab_gnn_features_csr(const lab_tensor *x, lab_device dev);

/* --- graph statistics (brief §2) ---------------------------------------------- */

typedef struct lab_gnn_stats {
    int64_t num_nodes;                /* N */
    int depth;                        /* L: entries 0..L are set */
    int has_fwd;                      /* 1 when sf[] was computed (a feature profile was given) */
    double sf[LAB_GNN_MAX_DEPTH + 1]; /* sf[k] = ||Â^k x̄||²; sf[0] = ||x̄||² */
    double sb[LAB_GNN_MAX_DEPTH + 1]; /* sb[k] = ||Â^k 1||²; sb[0] = N */
} lab_gnn_stats;

/* L sparse mat-vecs each for x̄ and 1, accumulated in double. xbar [N]
 * (host) may be NULL: then only sb[] is set (has_fwd = 0), which is all
 * virgo_bwd needs. 1 <= depth <= LAB_GNN_MAX_DEPTH. */
int lab_gnn_stats_compute(lab_gnn_stats *st, const lab_gnn_graph *g, const double *xbar, int depth);
/* x̄ from node features x f32 [N, m_0] (any device) — the per-node mean of
 * the row, as the dataset's preprocessing left it — then the above. */
int lab_gnn_stats_from_features(lab_gnn_stats *st, const lab_gnn_graph *g, const lab_tensor *x, int depth);
/* The per-node feature mean x̄ of x f32 [N, m_0] into xbar [N] (double). */
int lab_gnn_feature_mean(const lab_tensor *x, double *xbar);

/* --- initializers (brief §3) --------------------------------------------------- */

typedef enum {
    LAB_GNN_INIT_XAVIER = 0,  /* U(±sqrt(6/(fan_in+fan_out))), variance 2/(fan_in+fan_out) */
    LAB_GNN_INIT_KAIMING_IN,  /* variance 2/fan_in (2/fan_out with dgl_swap) */
    LAB_GNN_INIT_KAIMING_OUT, /* variance 2/fan_out (2/fan_in with dgl_swap) */
    LAB_GNN_INIT_VIRGO_FWD,   /* v_l^f: constant forward energy */
    LAB_GNN_INIT_VIRGO_BWD,   /* v_l^b: constant backward energy */
    LAB_GNN_INIT_VIRGO,       /* mean of the two (harmonic by default) */
} lab_gnn_init_kind;
#define LAB_GNN_INIT_CHOICES "xavier|kaiming_in|kaiming_out|virgo_fwd|virgo_bwd|virgo"

typedef enum { LAB_GNN_MEAN_HARMONIC = 0, LAB_GNN_MEAN_ARITHMETIC = 1 } lab_gnn_mean;
#define LAB_GNN_MEAN_CHOICES "harmonic|arithmetic"

/* "xavier", ... (the config spelling); NULL for a bad value. */
const char *lab_gnn_init_name(lab_gnn_init_kind k);
/* -1 with an error listing the choices when s is none of them. */
int lab_gnn_init_parse(const char *s, lab_gnn_init_kind *out);

typedef struct lab_gnn_init_cfg {
    lab_gnn_init_kind kind;
    lab_gnn_mean mean; /* virgo: harmonic (default) or arithmetic */
    int dgl_swap;      /* kaiming: reproduce DGL's in x out storage quirk */
    int64_t classes;   /* C of v_L^b; needed (>= 2) by virgo_bwd and virgo */
} lab_gnn_init_cfg;

/* xavier, harmonic, no swap, classes 0. */
lab_gnn_init_cfg lab_gnn_init_defaults(void);

/* The per-layer variances of one stack. For virgo kinds var[l] is the
 * variance of every message-passing weight of layer l; for the classic
 * kinds var[] is 0 and each weight uses its own fans. */
typedef struct lab_gnn_init_plan {
    lab_gnn_init_cfg cfg;
    int depth;                             /* L */
    int64_t widths[LAB_GNN_MAX_DEPTH + 1]; /* m_0 .. m_L */
    double var_fwd[LAB_GNN_MAX_DEPTH + 1]; /* v_l^f, l = 1..L (0 when not computed) */
    double var_bwd[LAB_GNN_MAX_DEPTH + 1]; /* v_l^b */
    double var[LAB_GNN_MAX_DEPTH + 1];     /* the chosen v_l */
} lab_gnn_init_plan;

/* widths[0..depth]: m_0 (input), the widths m_1..m_{L-1} of the hidden
 * layers (the forward formula uses m_{l-1} as m, the backward m_l), m_L.
 * Virgo kinds need st (NULL: "init = virgo needs graph statistics"), with
 * st->depth >= depth and, for virgo_fwd/virgo, st->has_fwd; virgo_bwd and
 * virgo need cfg->classes >= 2. Every v_l^f and v_l^b that st allows is
 * filled in whatever the kind (for reporting). */
int lab_gnn_init_plan_make(lab_gnn_init_plan *plan, const lab_gnn_init_cfg *cfg, const lab_gnn_stats *st, int depth,
                           const int64_t *widths);

/* The variance a weight of layer l (1..L) with the given fans gets. */
double lab_gnn_init_variance(const lab_gnn_init_plan *plan, int layer, int64_t fan_in, int64_t fan_out);
/* Fill w (f32 [out, in], any device) with U(±sqrt(3 v)) from rng, v as
 * lab_gnn_init_variance gives for w's fans. */
int lab_gnn_init_weight_(lab_tensor *w, const lab_gnn_init_plan *plan, int layer, lab_rng *rng);

/* --- layers --------------------------------------------------------------------- */

/* GCN (Kipf & Welling): y = Â x Wᵀ + b. Default init as DGL's GraphConv and
 * PyG's GCNConv: W Xavier-uniform, b = 0. */
typedef struct lab_gcn_layer {
    lab_tensor *w; /* [out, in] */
    lab_tensor *b; /* [out] or NULL */
} lab_gcn_layer;
int lab_gcn_layer_init(lab_gcn_layer *l, lab_params *p, const char *name, int64_t in, int64_t out, int bias,
                       lab_rng *rng);
/* x f32 [N, in] -> [N, out]. */
lab_tensor *lab_gcn_layer_forward(const lab_gcn_layer *l, lab_gnn_graph *g, lab_tensor *x);
/* The same with a sparse input (constant features as a CSR [N, in]): the
 * product x Wᵀ costs nnz(x)·out instead of N·in·out. */
lab_tensor *lab_gcn_layer_forward_sparse(const lab_gcn_layer *l, lab_gnn_graph *g, lab_csr *x);

/* GraphSAGE with the mean aggregator and a root weight (PyG SAGEConv):
 * y = mean_{u -> v} x_u W_nᵀ + x_v W_rᵀ + b. Default init: torch.nn.Linear's
 * for both weights, b as the neighbour Linear's bias. */
typedef struct lab_sage_layer {
    lab_tensor *w_neigh; /* [out, in] */
    lab_tensor *w_root;  /* [out, in] */
    lab_tensor *b;       /* [out] or NULL */
} lab_sage_layer;
int lab_sage_layer_init(lab_sage_layer *l, lab_params *p, const char *name, int64_t in, int64_t out, int bias,
                        lab_rng *rng);
lab_tensor *lab_sage_layer_forward(const lab_sage_layer *l, lab_gnn_graph *g, lab_tensor *x);

/* GIN (Xu et al.): y = MLP((1 + ε) x_v + Σ_{u -> v} x_u), MLP =
 * Linear(in, mid) – BatchNorm(mid) – ReLU – Linear(mid, out). ε is a
 * trainable scalar (learn_eps) or the constant eps0. torch defaults. */
typedef struct lab_gin_layer {
    lab_linear_layer lin1, lin2;
    lab_batchnorm_layer bn;
    lab_tensor *eps; /* [1] trainable, or NULL for the constant eps0 */
    float eps0;
} lab_gin_layer;
int lab_gin_layer_init(lab_gin_layer *l, lab_params *p, const char *name, int64_t in, int64_t mid, int64_t out,
                       int learn_eps, float eps0, lab_rng *rng);
lab_tensor *lab_gin_layer_forward(const lab_gin_layer *l, lab_gnn_graph *g, lab_tensor *x, int training);

/* GAT (Veličković et al.), PyG GATConv with separate source and target
 * projections: h_s = x W_sᵀ, h_t = x W_tᵀ (each [N, H, F]);
 * e_uv = LeakyReLU(<h_s[u], a_s> + <h_t[v], a_t>) per head over the edges
 * with self-loops; α = softmax of e over each target's in-edges
 * (lab_segment_softmax); y_v = Σ_u α_uv h_s[u], heads concatenated
 * ([N, H·F]) or averaged ([N, F]), + b. Default init: W_s, W_t, a_s, a_t
 * Xavier-uniform (glorot as PyG), b = 0. */
typedef struct lab_gat_layer {
    int heads;   /* H */
    int64_t out; /* F per head */
    int concat;
    float slope;                   /* 0.2 */
    lab_tensor *w_src;             /* [H·F, in] */
    lab_tensor *w_dst;             /* [H·F, in] */
    lab_tensor *att_src, *att_dst; /* [H, F] */
    lab_tensor *b;                 /* [H·F] (concat) or [F], or NULL */
} lab_gat_layer;
int lab_gat_layer_init(lab_gat_layer *l, lab_params *p, const char *name, int64_t in, int64_t out, int heads,
                       int concat, int bias, lab_rng *rng);
lab_tensor *lab_gat_layer_forward(const lab_gat_layer *l, lab_gnn_graph *g, lab_tensor *x);

/* --- readout and link decoders -------------------------------------------------- */

typedef enum { LAB_GNN_POOL_SUM = 0, LAB_GNN_POOL_MEAN = 1 } lab_gnn_pool;
#define LAB_GNN_POOL_CHOICES "sum|mean"
/* h [N, F], batch i64 [N] graph ids in [0, num_graphs) -> [num_graphs, F]. */
lab_tensor *lab_gnn_readout(lab_tensor *h, lab_tensor *batch, int64_t num_graphs, lab_gnn_pool pool);

/* Scores of node pairs: pairs i64 [2, P] (ids into h [N, F]) -> f32 [P]. */
lab_tensor *lab_gnn_link_dot(lab_tensor *h, lab_tensor *pairs);
/* h_u ⊙ h_v [P, F] (the input of an MLP decoder). */
lab_tensor *lab_gnn_link_hadamard(lab_tensor *h, lab_tensor *pairs);

/* --- stacks ----------------------------------------------------------------------- */

typedef enum { LAB_GNN_GCN = 0, LAB_GNN_SAGE = 1, LAB_GNN_GIN = 2, LAB_GNN_GAT = 3 } lab_gnn_arch;
#define LAB_GNN_ARCH_CHOICES "gcn|sage|gin|gat"

typedef struct lab_gnn_model_cfg {
    lab_gnn_arch arch;
    int layers;        /* L >= 1 */
    int64_t in_dim;    /* m_0 */
    int64_t hidden;    /* m: output width of layers 1..L-1 */
    int64_t out_dim;   /* output width of layer L (classes, or an embedding width) */
    int batchnorm;     /* BatchNorm after every hidden layer (before ReLU) */
    int last_act;      /* also BN (if on) + ReLU after layer L (encoders feeding a readout) */
    float dropout;     /* inverted dropout on the input of layers 2..L (0: off) */
    int bias;          /* 1: layer biases (GCN: initialised 0) */
    int gat_heads;     /* GAT: heads of hidden layers (concatenated: each head hidden/heads wide);
                          the last layer averages gat_heads heads of out_dim */
    int gin_learn_eps; /* GIN: ε trainable */
    float gin_eps;     /* GIN: ε (initial value when trainable) */
    int64_t gin_mid;   /* GIN: the MLP's inner width (0: the layer's output width) */
} lab_gnn_model_cfg;

/* GCN-style defaults: bias on, no BN, no dropout, last_act off, 1 GAT head,
 * GIN ε = 0 fixed, gin_mid = 0. */
lab_gnn_model_cfg lab_gnn_model_defaults(lab_gnn_arch arch, int layers, int64_t in_dim, int64_t hidden,
                                         int64_t out_dim);

typedef struct lab_gnn_model {
    lab_gnn_model_cfg cfg;
    lab_gcn_layer gcn[LAB_GNN_MAX_DEPTH];
    lab_sage_layer sage[LAB_GNN_MAX_DEPTH];
    lab_gin_layer gin[LAB_GNN_MAX_DEPTH];
    lab_gat_layer gat[LAB_GNN_MAX_DEPTH];
    lab_batchnorm_layer bn[LAB_GNN_MAX_DEPTH]; /* after layer l (0-based) when cfg.batchnorm */
} lab_gnn_model;

/* Creates the layers with their default initialisation, named
 * "<prefix>.<l>.*" in p (l = 0..L-1; BN "<prefix>.bn<l>.*"). */
lab_gnn_model *lab_gnn_model_new(const lab_gnn_model_cfg *cfg, lab_params *p, const char *prefix, lab_rng *rng);
void lab_gnn_model_free(lab_gnn_model *m);

/* The widths m_0..m_L the Virgo formulas see for this stack (brief §3):
 * GCN/SAGE/GAT: in, hidden (GAT: the projection's output width H·F), out;
 * GIN: in, then the width of each MLP's first Linear output. */
int lab_gnn_model_widths(const lab_gnn_model *m, int64_t *widths);
/* lab_gnn_init_plan_make with this stack's depth and widths. */
int lab_gnn_model_plan(const lab_gnn_model *m, const lab_gnn_init_cfg *cfg, const lab_gnn_stats *st,
                       lab_gnn_init_plan *plan);
/* Re-draw the message-passing weights of every layer from the plan (GCN W;
 * SAGE neighbour and root; GIN the MLP's first and last Linear; GAT source
 * and target projections). Everything else keeps its default. */
int lab_gnn_model_init(lab_gnn_model *m, const lab_gnn_init_plan *plan, lab_rng *rng);

/* The stack on x f32 [N, in] (or xs, a CSR [N, in] of constant features —
 * exactly one of x and xs). training switches dropout and BN batch
 * statistics; rng feeds dropout (may be NULL when dropout is off).
 * pre (may be NULL) receives L tensors: Y_l, the output of layer l before
 * BN/ReLU (new references in the current scope; what the variance analysis
 * measures — pass them to lab_gnn_probe_* to also get gradients). */
lab_tensor *lab_gnn_model_forward(const lab_gnn_model *m, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs, int training,
                                  lab_rng *rng, lab_tensor **pre);

/* Gradient probes: when probes != NULL, lab_gnn_model_forward_probed adds
 * a zero leaf tensor P_l (requires grad) to each Y_l, so that after
 * lab_backward(loss) probes[l]->grad holds dloss/dY_l while gradients still
 * flow to every parameter. probes[0..L) receive new references (current
 * scope). */
lab_tensor *lab_gnn_model_forward_probed(const lab_gnn_model *m, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs,
                                         int training, lab_rng *rng, lab_tensor **pre, lab_tensor **probes);

/* Mean of t² over all elements (double, on the host): the per-element
 * second moment E[y²] the variance analysis reports. NAN on error. */
double lab_gnn_mean_square(const lab_tensor *t);

/* --- statistics with a layer's own operator (virgo.operator = model) -------------- */

/* S_f(k) and S_b(k) of brief §2 with the propagation of an `arch` layer in
 * place of Â: a generalisation (the paper's code always uses Â; so does
 * lab_gnn_stats_compute). Each is the exact energy profile of a linear stack
 * y = M h Wᵀ with independent zero-mean weights, input x̄ 1ᵀ (forward) or
 * output gradient 1 1ᵀ (backward), so lab_gnn_init_plan_make's formulas
 * apply unchanged:
 *   GCN   M = Â                      S_f(k) = ||M^k x̄||²,  S_b(k) = ||(Mᵀ)^k 1||²
 *   GIN   M = A + (1 + gin_eps) I    (the sum aggregation before the MLP's first
 *                                     Linear; gin_eps = ε at initialisation), same forms
 *   SAGE  P = D_in^-1 A (in-neighbour mean; isolated rows 0) plus the root
 *         term's independent weight: S_f(k) = Σ_j C(k, j) ||P^j x̄||²,
 *                                    S_b(k) = Σ_j C(k, j) ||(Pᵀ)^j 1||²
 *   GAT   not defined (attention depends on the weights): an error.
 * S_b propagates by the transpose, as gradients do; for GCN on an undirected
 * graph that equals the default statistics. Float64 on the host; g's
 * neighbour-sum operator is built if it was not. xbar NULL: S_b only. */
int lab_gnn_stats_compute_arch(lab_gnn_stats *st, lab_gnn_graph *g, lab_gnn_arch arch, double gin_eps,
                               const double *xbar, int depth);
/* The same from node features x f32 [N, m_0] (x̄ = row means). */
int lab_gnn_stats_from_features_arch(lab_gnn_stats *st, lab_gnn_graph *g, lab_gnn_arch arch, double gin_eps,
                                     const lab_tensor *x, int depth);

#ifdef __cplusplus
}
#endif
#endif
