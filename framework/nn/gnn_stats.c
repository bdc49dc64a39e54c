/* Graph statistics with a layer's own propagation operator (lab/gnn.h,
 * lab_gnn_stats_compute_arch): the generalisation of brief §2 that
 * `virgo.operator = model` selects. The default statistics
 * (lab_gnn_stats_compute, gnn_graph.c) always use the GCN operator Â, as the
 * paper's code does.
 *
 * Why these forms: take a linear stack of one layer kind with independent
 * zero-mean weights of variance v, input X = x̄ 1ᵀ. A layer y = M h Wᵀ
 * multiplies the expected energy by m v and replaces the profile by M h,
 * so E||Y_L||² = (Π m_l) v^L ||M^L x̄||². GraphSAGE adds a root term with
 * its own weight, y = P h W_nᵀ + h W_rᵀ: the two terms are uncorrelated,
 * so the energy is the sum over the 2^L words in {P, I}, and since I
 * commutes with P, Σ_j C(L, j) ||P^j x̄||². The backward pass runs the same
 * with Mᵀ on the gradient profile 1. The ReLU gate (factor ½ per layer)
 * does not depend on the operator and stays in the variance formulas.
 *
 * Every operator is rebuilt here in double precision on the host from the
 * graph's neighbour-sum pattern (lab_gnn_graph_sum), with the same degree
 * conventions as gnn_graph.c. Tested in tests/unit/test_gnn_stats.c
 * (hand-computed GIN and SAGE values, GCN against the default statistics and
 * a dense Âᵀ on a directed graph, and a Monte Carlo check of the SAGE form
 * against the real layer).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lab/error.h"
#include "lab/gnn.h"

/* y = M x with M = W (the pattern A: row v lists v's in-neighbours, one
 * weight per entry) + diag(self). */
typedef struct {
    int64_t n;
    int64_t *ptr, *col; /* CSR pattern of A, [n + 1] and [nnz] */
    double *w;          /* [nnz] */
    double *self;       /* [n] */
} host_op;

static void host_op_free(host_op *op)
{
    free(op->ptr);
    free(op->col);
    free(op->w);
    free(op->self);
}

static int host_op_make(host_op *op, lab_gnn_graph *g, lab_gnn_arch arch, double gin_eps)
{
    memset(op, 0, sizeof *op);
    if (arch == LAB_GNN_GAT)
        return lab_error_set("gnn_stats: the model operator is not defined for GAT (its attention depends on the "
                             "weights; hint: use the GCN operator, virgo.operator = gcn)");
    if (arch != LAB_GNN_GCN && arch != LAB_GNN_SAGE && arch != LAB_GNN_GIN)
        return lab_error_set("gnn_stats: unknown architecture %d", (int)arch);
    lab_csr *a = lab_gnn_graph_sum(g);
    if (!a) return -1;
    int64_t n = a->rows, nnz = a->nnz;
    op->n = n;
    op->ptr = malloc((size_t)(n + 1) * sizeof *op->ptr);
    op->col = malloc((size_t)(nnz ? nnz : 1) * sizeof *op->col);
    op->w = malloc((size_t)(nnz ? nnz : 1) * sizeof *op->w);
    op->self = malloc((size_t)(n ? n : 1) * sizeof *op->self);
    int64_t *dout = calloc((size_t)(n ? n : 1), sizeof *dout);
    int rc = -1;
    if (!op->ptr || !op->col || !op->w || !op->self || !dout) {
        lab_error_set("gnn_stats: out of host memory (%lld nodes, %lld edges)", (long long)n, (long long)nnz);
        goto out;
    }
    if (lab_tensor_copy_to_host(a->rowptr, op->ptr) < 0 || (nnz && lab_tensor_copy_to_host(a->colind, op->col) < 0))
        goto out;
    for (int64_t k = 0; k < nnz; k++) dout[op->col[k]]++;
    for (int64_t v = 0; v < n; v++) {
        int64_t din = op->ptr[v + 1] - op->ptr[v];
        switch (arch) {
        case LAB_GNN_GCN: /* Â of Ã = A + I: d_in(v)^-1/2 d_out(u)^-1/2, degrees counting the self-loop */
            for (int64_t k = op->ptr[v]; k < op->ptr[v + 1]; k++)
                op->w[k] = 1.0 / sqrt((double)(din + 1)) / sqrt((double)(dout[op->col[k]] + 1));
            op->self[v] = 1.0 / sqrt((double)(din + 1)) / sqrt((double)(dout[v] + 1));
            break;
        case LAB_GNN_GIN: /* (1 + ε) h_v + Σ_{u -> v} h_u */
            for (int64_t k = op->ptr[v]; k < op->ptr[v + 1]; k++) op->w[k] = 1.0;
            op->self[v] = 1.0 + gin_eps;
            break;
        default: /* SAGE: the in-neighbour mean; the root term is the I of the binomial sum */
            for (int64_t k = op->ptr[v]; k < op->ptr[v + 1]; k++) op->w[k] = 1.0 / (double)din;
            op->self[v] = 0.0;
            break;
        }
    }
    rc = 0;
out:
    free(dout);
    if (rc < 0) host_op_free(op);
    return rc;
}

/* y = M x, or Mᵀ x when transpose; y must not alias x. */
static void host_op_apply(const host_op *op, int transpose, const double *x, double *y)
{
    if (!transpose) {
        for (int64_t v = 0; v < op->n; v++) {
            double s = op->self[v] * x[v];
            for (int64_t k = op->ptr[v]; k < op->ptr[v + 1]; k++) s += op->w[k] * x[op->col[k]];
            y[v] = s;
        }
        return;
    }
    for (int64_t v = 0; v < op->n; v++) y[v] = op->self[v] * x[v];
    for (int64_t v = 0; v < op->n; v++)
        for (int64_t k = op->ptr[v]; k < op->ptr[v + 1]; k++) y[op->col[k]] += op->w[k] * x[v];
}

/* out[k], k = 0..depth: ||M^k h0||², or with binom Σ_j C(k, j) ||M^j h0||². */
static int energies(const host_op *op, int transpose, int binom, const double *h0, int depth, double *out)
{
    double *a = malloc((size_t)(op->n ? op->n : 1) * sizeof *a), *b = malloc((size_t)(op->n ? op->n : 1) * sizeof *b);
    double e[LAB_GNN_MAX_DEPTH + 1];
    if (!a || !b) {
        free(a);
        free(b);
        return lab_error_set("gnn_stats: out of host memory (%lld nodes)", (long long)op->n);
    }
    memcpy(a, h0, (size_t)op->n * sizeof *a);
    for (int k = 0; k <= depth; k++) {
        if (k > 0) {
            host_op_apply(op, transpose, a, b);
            double *t = a;
            a = b;
            b = t;
        }
        double s = 0;
        for (int64_t i = 0; i < op->n; i++) s += a[i] * a[i];
        e[k] = s;
    }
    free(a);
    free(b);
    for (int k = 0; k <= depth; k++) {
        if (!binom) {
            out[k] = e[k];
            continue;
        }
        double c = 1.0, s = 0.0; /* c = C(k, j) */
        for (int j = 0; j <= k; j++) {
            s += c * e[j];
            c = c * (double)(k - j) / (double)(j + 1);
        }
        out[k] = s;
    }
    return 0;
}

int lab_gnn_stats_compute_arch(lab_gnn_stats *st, lab_gnn_graph *g, lab_gnn_arch arch, double gin_eps,
                               const double *xbar, int depth)
{
    if (!st || !g) return lab_error_set("gnn_stats: NULL %s", st ? "graph" : "stats");
    if (depth < 1 || depth > LAB_GNN_MAX_DEPTH)
        return lab_error_set("gnn_stats: depth must be in [1, %d], got %d", LAB_GNN_MAX_DEPTH, depth);
    if (!isfinite(gin_eps)) return lab_error_set("gnn_stats: GIN epsilon is not finite");
    host_op op;
    if (host_op_make(&op, g, arch, gin_eps) < 0) return -1;
    memset(st, 0, sizeof *st);
    st->num_nodes = op.n;
    st->depth = depth;
    int binom = arch == LAB_GNN_SAGE, rc = -1;
    double *ones = malloc((size_t)(op.n ? op.n : 1) * sizeof *ones);
    if (!ones) {
        lab_error_set("gnn_stats: out of host memory");
        goto out;
    }
    for (int64_t i = 0; i < op.n; i++) ones[i] = 1.0;
    if (energies(&op, 1, binom, ones, depth, st->sb) < 0) goto out;
    if (xbar) {
        for (int64_t i = 0; i < op.n; i++)
            if (!isfinite(xbar[i])) {
                lab_error_set("gnn_stats: feature mean of node %lld is not finite", (long long)i);
                goto out;
            }
        if (energies(&op, 0, binom, xbar, depth, st->sf) < 0) goto out;
        st->has_fwd = 1;
    }
    rc = 0;
out:
    free(ones);
    host_op_free(&op);
    return rc;
}

int lab_gnn_stats_from_features_arch(lab_gnn_stats *st, lab_gnn_graph *g, lab_gnn_arch arch, double gin_eps,
                                     const lab_tensor *x, int depth)
{
    char d[96];
    if (!g || !x) return -1;
    int64_t n = lab_gnn_graph_num_nodes(g);
    if (x->ndim != 2 || x->shape[0] != n)
        return lab_error_set("gnn_stats: features %s do not have one row per node (%lld nodes)",
                             lab_tensor_desc(x, d, sizeof d), (long long)n);
    double *xbar = malloc((size_t)(n ? n : 1) * sizeof *xbar);
    if (!xbar) return lab_error_set("gnn_stats: out of host memory");
    int rc = lab_gnn_feature_mean(x, xbar);
    if (rc == 0) rc = lab_gnn_stats_compute_arch(st, g, arch, gin_eps, xbar, depth);
    free(xbar);
    return rc;
}
