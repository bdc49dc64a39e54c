/* GNN graphs and their operators, the Virgo graph statistics S_f(k), S_b(k)
 * and the per-layer initialisation variances (lab/gnn.h).
 *
 * The graph is coalesced once on the host (duplicates and self-loops
 * dropped, edges bucketed by target, sources sorted), and the GCN operator
 * Â = D_in^-1/2 (A + I) D_out^-1/2 is kept in double: the statistics are L
 * sparse mat-vecs over it with float64 accumulation, and the f32 CSR the
 * layers use is rounded from the same values, so model and statistics see
 * one operator. Tested in tests/unit/test_gnn.c against the golden values of
 * the Virgo brief §4 (1e-9 on tiny graphs, 1e-6 relative on Planetoid) and
 * the closed forms of regular graphs and connected components.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lab/error.h"
#include "lab/gnn.h"
#include "lab/graph.h"

struct lab_gnn_graph {
    int64_t n, e; /* nodes; distinct edges u != v */
    lab_device dev;
    int64_t *in_ptr;  /* [n + 1]: in-edges of v are in_src[in_ptr[v] .. in_ptr[v+1]) */
    int64_t *in_src;  /* [e], ascending within each row */
    int64_t *out_deg; /* [n] out-degrees, without the self-loop */
    /* Â with the self-loop merged in, rows = targets: [n + 1], [e + n]. */
    int64_t *a_ptr, *a_col;
    double *a_val;
    lab_csr *gcn, *mean, *sum;
    lab_tensor *gat_src, *gat_dst;
};

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

void lab_gnn_graph_free(lab_gnn_graph *g)
{
    if (!g) return;
    free(g->in_ptr);
    free(g->in_src);
    free(g->out_deg);
    free(g->a_ptr);
    free(g->a_col);
    free(g->a_val);
    lab_csr_release(g->gcn);
    lab_csr_release(g->mean);
    lab_csr_release(g->sum);
    lab_tensor_release(g->gat_src);
    lab_tensor_release(g->gat_dst);
    free(g);
}

lab_gnn_graph *lab_gnn_graph_new(const lab_tensor *edges, int64_t num_nodes, lab_device dev)
{
    const char *op = "gnn_graph";
    char d[96];
    if (!edges) return NULL;
    if (num_nodes < 1 || num_nodes > ((int64_t)1 << 40)) {
        lab_error_set("%s: num_nodes must be in [1, 2^40], got %lld", op, (long long)num_nodes);
        return NULL;
    }
    if (edges->dtype != LAB_I64 || edges->device.type != LAB_DEV_CPU || edges->ndim != 2 || edges->shape[0] != 2) {
        lab_error_set("%s: edges must be i64 [2, E] on the cpu, got %s", op, lab_tensor_desc(edges, d, sizeof d));
        return NULL;
    }
    int64_t ne = edges->shape[1], n = num_nodes;
    const int64_t *src = lab_tensor_i64(edges), *dst = src + ne;
    for (int64_t i = 0; i < ne; i++) {
        if (src[i] < 0 || src[i] >= n || dst[i] < 0 || dst[i] >= n) {
            lab_error_set("%s: edge %lld (%lld -> %lld) has a node id outside [0, %lld)", op, (long long)i,
                          (long long)src[i], (long long)dst[i], (long long)n);
            return NULL;
        }
    }
    lab_gnn_graph *g = calloc(1, sizeof *g);
    if (!g) {
        lab_error_set("%s: out of host memory", op);
        return NULL;
    }
    g->n = n;
    g->dev = dev;
    g->in_ptr = calloc((size_t)n + 1, sizeof *g->in_ptr);
    g->in_src = malloc((size_t)(ne + 1) * sizeof *g->in_src);
    g->out_deg = calloc((size_t)n, sizeof *g->out_deg);
    int64_t *cur = malloc(((size_t)n + 1) * sizeof *cur);
    if (!g->in_ptr || !g->in_src || !g->out_deg || !cur) {
        free(cur);
        lab_gnn_graph_free(g);
        lab_error_set("%s: out of host memory (%lld nodes, %lld edges)", op, (long long)n, (long long)ne);
        return NULL;
    }
    for (int64_t i = 0; i < ne; i++)
        if (src[i] != dst[i]) g->in_ptr[dst[i] + 1]++;
    for (int64_t v = 0; v < n; v++) g->in_ptr[v + 1] += g->in_ptr[v];
    memcpy(cur, g->in_ptr, (size_t)n * sizeof *cur);
    for (int64_t i = 0; i < ne; i++)
        if (src[i] != dst[i]) g->in_src[cur[dst[i]]++] = src[i];
    /* Sort and deduplicate each row in place, compacting as we go. */
    int64_t w = 0;
    for (int64_t v = 0; v < n; v++) {
        int64_t b = g->in_ptr[v], len = g->in_ptr[v + 1] - b;
        qsort(g->in_src + b, (size_t)len, sizeof *g->in_src, cmp_i64);
        g->in_ptr[v] = w;
        for (int64_t j = 0; j < len; j++) {
            int64_t u = g->in_src[b + j];
            if (j > 0 && u == g->in_src[b + j - 1]) continue;
            g->in_src[w++] = u;
            g->out_deg[u]++;
        }
    }
    g->in_ptr[n] = w;
    g->e = w;
    free(cur);

    /* Â: row v = v's in-neighbours and v itself, columns ascending. */
    g->a_ptr = malloc(((size_t)n + 1) * sizeof *g->a_ptr);
    g->a_col = malloc((size_t)(w + n) * sizeof *g->a_col);
    g->a_val = malloc((size_t)(w + n) * sizeof *g->a_val);
    if (!g->a_ptr || !g->a_col || !g->a_val) {
        lab_gnn_graph_free(g);
        lab_error_set("%s: out of host memory (%lld nodes, %lld edges)", op, (long long)n, (long long)w);
        return NULL;
    }
    int64_t k = 0;
    for (int64_t v = 0; v < n; v++) {
        g->a_ptr[v] = k;
        double din = (double)(g->in_ptr[v + 1] - g->in_ptr[v] + 1);
        int loop = 0;
        for (int64_t j = g->in_ptr[v]; j < g->in_ptr[v + 1]; j++) {
            int64_t u = g->in_src[j];
            if (!loop && u > v) {
                g->a_col[k] = v;
                g->a_val[k++] = 1.0 / sqrt(din) / sqrt((double)(g->out_deg[v] + 1));
                loop = 1;
            }
            g->a_col[k] = u;
            g->a_val[k++] = 1.0 / sqrt(din) / sqrt((double)(g->out_deg[u] + 1));
        }
        if (!loop) {
            g->a_col[k] = v;
            g->a_val[k++] = 1.0 / sqrt(din) / sqrt((double)(g->out_deg[v] + 1));
        }
    }
    g->a_ptr[n] = k;
    return g;
}

int64_t lab_gnn_graph_num_nodes(const lab_gnn_graph *g) { return g ? g->n : 0; }
int64_t lab_gnn_graph_num_edges(const lab_gnn_graph *g) { return g ? g->e : 0; }

int lab_gnn_graph_apply_gcn_f64(const lab_gnn_graph *g, const double *x, double *y)
{
    if (!g || !x || !y) return lab_error_set("gnn_apply_gcn: NULL argument");
    for (int64_t v = 0; v < g->n; v++) {
        double s = 0;
        for (int64_t j = g->a_ptr[v]; j < g->a_ptr[v + 1]; j++) s += g->a_val[j] * x[g->a_col[j]];
        y[v] = s;
    }
    return 0;
}

lab_csr *lab_gnn_graph_gcn(lab_gnn_graph *g)
{
    if (!g) return NULL;
    if (g->gcn) return g->gcn;
    int64_t nnz = g->a_ptr[g->n];
    float *val = malloc((size_t)(nnz + 1) * sizeof *val);
    if (!val) {
        lab_error_set("gnn_graph: out of host memory");
        return NULL;
    }
    for (int64_t j = 0; j < nnz; j++) val[j] = (float)g->a_val[j];
    g->gcn = lab_csr_new(g->n, g->n, nnz, g->a_ptr, g->a_col, val, g->dev);
    free(val);
    return g->gcn;
}

/* A without self-loops, entries 1 (sum) or 1/indeg (mean). */
static lab_csr *plain_operator(lab_gnn_graph *g, int mean)
{
    float *val = malloc((size_t)(g->e + 1) * sizeof *val);
    if (!val) {
        lab_error_set("gnn_graph: out of host memory");
        return NULL;
    }
    for (int64_t v = 0; v < g->n; v++) {
        int64_t deg = g->in_ptr[v + 1] - g->in_ptr[v];
        for (int64_t j = g->in_ptr[v]; j < g->in_ptr[v + 1]; j++) val[j] = mean ? 1.0f / (float)deg : 1.0f;
    }
    lab_csr *a = lab_csr_new(g->n, g->n, g->e, g->in_ptr, g->in_src, val, g->dev);
    free(val);
    return a;
}

lab_csr *lab_gnn_graph_mean(lab_gnn_graph *g)
{
    if (!g) return NULL;
    if (!g->mean) g->mean = plain_operator(g, 1);
    return g->mean;
}

lab_csr *lab_gnn_graph_sum(lab_gnn_graph *g)
{
    if (!g) return NULL;
    if (!g->sum) g->sum = plain_operator(g, 0);
    return g->sum;
}

int lab_gnn_graph_gat_edges(lab_gnn_graph *g, lab_tensor **src, lab_tensor **dst)
{
    if (!g) return -1;
    if (!g->gat_src) {
        int64_t m = g->a_ptr[g->n];
        int64_t *s = malloc((size_t)m * sizeof *s), *t = malloc((size_t)m * sizeof *t);
        if (!s || !t) {
            free(s);
            free(t);
            return lab_error_set("gnn_graph: out of host memory");
        }
        /* Â's pattern is exactly the edges plus one self-loop each, grouped
         * by target: the order segment ops like. */
        for (int64_t v = 0; v < g->n; v++)
            for (int64_t j = g->a_ptr[v]; j < g->a_ptr[v + 1]; j++) {
                s[j] = g->a_col[j];
                t[j] = v;
            }
        g->gat_src = lab_tensor_own(lab_tensor_from_data(LAB_I64, 1, &m, s, g->dev));
        g->gat_dst = lab_tensor_own(lab_tensor_from_data(LAB_I64, 1, &m, t, g->dev));
        free(s);
        free(t);
        if (!g->gat_src || !g->gat_dst) {
            lab_tensor_release(g->gat_src);
            lab_tensor_release(g->gat_dst);
            g->gat_src = g->gat_dst = NULL;
            return -1;
        }
    }
    if (src) *src = g->gat_src;
    if (dst) *dst = g->gat_dst;
    return 0;
}

/* --- statistics ------------------------------------------------------------------- */

/* out[k] = ||Â^k h0||², k = 0..depth. */
static int power_energies(const lab_gnn_graph *g, const double *h0, int depth, double *out)
{
    double *a = malloc((size_t)g->n * sizeof *a), *b = malloc((size_t)g->n * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return lab_error_set("gnn_stats: out of host memory (%lld nodes)", (long long)g->n);
    }
    memcpy(a, h0, (size_t)g->n * sizeof *a);
    for (int k = 0; k <= depth; k++) {
        if (k > 0) {
            lab_gnn_graph_apply_gcn_f64(g, a, b);
            double *t = a;
            a = b;
            b = t;
        }
        double s = 0;
        for (int64_t i = 0; i < g->n; i++) s += a[i] * a[i];
        out[k] = s;
    }
    free(a);
    free(b);
    return 0;
}

int lab_gnn_stats_compute(lab_gnn_stats *st, const lab_gnn_graph *g, const double *xbar, int depth)
{
    if (!st || !g) return lab_error_set("gnn_stats: NULL %s", st ? "graph" : "stats");
    if (depth < 1 || depth > LAB_GNN_MAX_DEPTH)
        return lab_error_set("gnn_stats: depth must be in [1, %d], got %d", LAB_GNN_MAX_DEPTH, depth);
    memset(st, 0, sizeof *st);
    st->num_nodes = g->n;
    st->depth = depth;
    double *ones = malloc((size_t)g->n * sizeof *ones);
    if (!ones) return lab_error_set("gnn_stats: out of host memory");
    for (int64_t i = 0; i < g->n; i++) ones[i] = 1.0;
    int rc = power_energies(g, ones, depth, st->sb);
    free(ones);
    if (rc < 0) return -1;
    if (xbar) {
        for (int64_t i = 0; i < g->n; i++)
            if (!isfinite(xbar[i]))
                return lab_error_set("gnn_stats: feature mean of node %lld is not finite", (long long)i);
        if (power_energies(g, xbar, depth, st->sf) < 0) return -1;
        st->has_fwd = 1;
    }
    return 0;
}

int lab_gnn_feature_mean(const lab_tensor *x, double *xbar)
{
    char d[96];
    if (!x) return -1;
    if (x->dtype != LAB_F32 || x->ndim != 2)
        return lab_error_set("gnn_feature_mean: x must be f32 [N, m0], got %s", lab_tensor_desc(x, d, sizeof d));
    int64_t n = x->shape[0], m = x->shape[1];
    if (m < 1) return lab_error_set("gnn_feature_mean: x has no feature columns (%s)", lab_tensor_desc(x, d, sizeof d));
    float *h = malloc((size_t)(x->numel ? x->numel : 1) * sizeof *h);
    if (!h) return lab_error_set("gnn_feature_mean: out of host memory");
    if (lab_tensor_copy_to_host(x, h) < 0) {
        free(h);
        return -1;
    }
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < m; j++) s += h[i * m + j];
        xbar[i] = s / (double)m;
    }
    free(h);
    return 0;
}

int lab_gnn_stats_from_features(lab_gnn_stats *st, const lab_gnn_graph *g, const lab_tensor *x, int depth)
{
    char d[96];
    if (!g || !x) return -1;
    if (x->ndim != 2 || x->shape[0] != g->n)
        return lab_error_set("gnn_stats: features %s do not have one row per node (%lld nodes)",
                             lab_tensor_desc(x, d, sizeof d), (long long)g->n);
    double *xbar = malloc((size_t)g->n * sizeof *xbar);
    if (!xbar) return lab_error_set("gnn_stats: out of host memory");
    int rc = lab_gnn_feature_mean(x, xbar);
    if (rc == 0) rc = lab_gnn_stats_compute(st, g, xbar, depth);
    free(xbar);
    return rc;
}

/* --- initialisation plans ------------------------------------------------------------ */

static const char *const init_names[] = {"xavier", "kaiming_in", "kaiming_out", "virgo_fwd", "virgo_bwd", "virgo"};

const char *lab_gnn_init_name(lab_gnn_init_kind k)
{
    return (unsigned)k < sizeof init_names / sizeof init_names[0] ? init_names[k] : NULL;
}

int lab_gnn_init_parse(const char *s, lab_gnn_init_kind *out)
{
    for (unsigned i = 0; s && i < sizeof init_names / sizeof init_names[0]; i++)
        if (strcmp(s, init_names[i]) == 0) {
            *out = (lab_gnn_init_kind)i;
            return 0;
        }
    return lab_error_set("gnn init: unknown init '%s' (one of %s)", s ? s : "(null)", LAB_GNN_INIT_CHOICES);
}

lab_gnn_init_cfg lab_gnn_init_defaults(void)
{
    lab_gnn_init_cfg c = {LAB_GNN_INIT_XAVIER, LAB_GNN_MEAN_HARMONIC, 0, 0};
    return c;
}

static int is_virgo(lab_gnn_init_kind k)
{
    return k == LAB_GNN_INIT_VIRGO_FWD || k == LAB_GNN_INIT_VIRGO_BWD || k == LAB_GNN_INIT_VIRGO;
}

int lab_gnn_init_plan_make(lab_gnn_init_plan *plan, const lab_gnn_init_cfg *cfg, const lab_gnn_stats *st, int depth,
                           const int64_t *widths)
{
    const char *op = "gnn init";
    if (!plan || !cfg || !widths) return lab_error_set("%s: NULL argument", op);
    const char *name = lab_gnn_init_name(cfg->kind);
    if (!name) return lab_error_set("%s: unknown init kind %d", op, (int)cfg->kind);
    if (cfg->mean != LAB_GNN_MEAN_HARMONIC && cfg->mean != LAB_GNN_MEAN_ARITHMETIC)
        return lab_error_set("%s: unknown virgo.mean %d", op, (int)cfg->mean);
    if (depth < 1 || depth > LAB_GNN_MAX_DEPTH)
        return lab_error_set("%s: depth must be in [1, %d], got %d", op, LAB_GNN_MAX_DEPTH, depth);
    for (int l = 0; l <= depth; l++)
        if (widths[l] < 1) return lab_error_set("%s: width m_%d is %lld (must be >= 1)", op, l, (long long)widths[l]);
    memset(plan, 0, sizeof *plan);
    plan->cfg = *cfg;
    plan->depth = depth;
    memcpy(plan->widths, widths, (size_t)(depth + 1) * sizeof *widths);
    int L = depth;
    int need_fwd = cfg->kind == LAB_GNN_INIT_VIRGO_FWD || cfg->kind == LAB_GNN_INIT_VIRGO;
    int need_bwd = cfg->kind == LAB_GNN_INIT_VIRGO_BWD || cfg->kind == LAB_GNN_INIT_VIRGO;
    if (is_virgo(cfg->kind) && !st)
        return lab_error_set("%s: init = %s needs graph statistics S_f/S_b, but none were given "
                             "(hint: compute them with lab_gnn_stats_from_features on the training graph)",
                             op, name);
    if (st && st->depth < L)
        return lab_error_set("%s: the graph statistics go to depth %d but the stack has %d layers", op, st->depth, L);
    if (need_fwd && !st->has_fwd)
        return lab_error_set("%s: init = %s needs the forward statistic S_f, but the statistics were computed "
                             "without node features (hint: lab_gnn_stats_from_features)",
                             op, name);
    if (need_bwd && cfg->classes < 2)
        return lab_error_set("%s: init = %s needs virgo.classes >= 2 for the output layer's backward variance, "
                             "got %lld",
                             op, name, (long long)cfg->classes);
    if (st && st->has_fwd) {
        plan->var_fwd[1] = 2.0 / (double)widths[0];
        for (int l = 2; l <= L; l++) {
            if (!(st->sf[l] > 0))
                return lab_error_set("%s: S_f(%d) = %g: the features' mean profile vanishes after %d propagations", op,
                                     l, st->sf[l], l);
            plan->var_fwd[l] = 2.0 / (double)widths[l - 1] * st->sf[l - 1] / st->sf[l];
        }
    }
    if (st) {
        for (int l = 1; l <= L; l++)
            if (!(st->sb[l] > 0)) return lab_error_set("%s: S_b(%d) = %g is not positive", op, l, st->sb[l]);
        if (cfg->classes >= 2) plan->var_bwd[L] = (double)st->num_nodes / ((double)(cfg->classes - 1) * st->sb[1]);
        for (int l = 1; l < L; l++) plan->var_bwd[l] = 2.0 / (double)widths[l] * st->sb[L - l] / st->sb[L - l + 1];
    }
    for (int l = 1; l <= L; l++) {
        double f = plan->var_fwd[l], b = plan->var_bwd[l];
        switch (cfg->kind) {
        case LAB_GNN_INIT_VIRGO_FWD: plan->var[l] = f; break;
        case LAB_GNN_INIT_VIRGO_BWD: plan->var[l] = b; break;
        case LAB_GNN_INIT_VIRGO:
            plan->var[l] = cfg->mean == LAB_GNN_MEAN_HARMONIC ? 2.0 * f * b / (f + b) : 0.5 * (f + b);
            break;
        default: plan->var[l] = 0; break;
        }
    }
    return 0;
}

double lab_gnn_init_variance(const lab_gnn_init_plan *plan, int layer, int64_t fan_in, int64_t fan_out)
{
    if (!plan || layer < 1 || layer > plan->depth) {
        lab_error_set("gnn init: layer %d is outside the plan's 1..%d", layer, plan ? plan->depth : 0);
        return NAN;
    }
    double fi = (double)fan_in, fo = (double)fan_out;
    int swap = plan->cfg.dgl_swap;
    switch (plan->cfg.kind) {
    case LAB_GNN_INIT_XAVIER: return 2.0 / (fi + fo);
    case LAB_GNN_INIT_KAIMING_IN: return 2.0 / (swap ? fo : fi);
    case LAB_GNN_INIT_KAIMING_OUT: return 2.0 / (swap ? fi : fo);
    default: return plan->var[layer];
    }
}

int lab_gnn_init_weight_(lab_tensor *w, const lab_gnn_init_plan *plan, int layer, lab_rng *rng)
{
    char d[96];
    if (!w) return -1;
    if (w->dtype != LAB_F32 || w->ndim != 2)
        return lab_error_set("gnn init: weight must be f32 [out, in], got %s", lab_tensor_desc(w, d, sizeof d));
    double v = lab_gnn_init_variance(plan, layer, w->shape[1], w->shape[0]);
    if (!(v >= 0) || !isfinite(v)) return lab_error_set("gnn init: layer %d has variance %g", layer, v);
    return lab_init_uniform_std_(w, rng, sqrt(v));
}

/* --- node features ------------------------------------------------------------------ */

lab_tensor *lab_gnn_row_normalize(lab_tensor *x)
{
    char d[96];
    if (!x) return NULL;
    if (x->dtype != LAB_F32 || x->ndim != 2 || x->device.type != LAB_DEV_CPU) {
        lab_error_set("gnn_row_normalize: x must be f32 [N, F] on the cpu, got %s", lab_tensor_desc(x, d, sizeof d));
        return NULL;
    }
    lab_tensor *y = lab_tensor_empty_like(x);
    if (!y) return NULL;
    const float *a = lab_tensor_f32(x);
    float *b = lab_tensor_f32(y);
    int64_t n = x->shape[0], f = x->shape[1];
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t j = 0; j < f; j++) s += a[i * f + j];
        float inv = s != 0 ? (float)(1.0 / s) : 0.0f;
        for (int64_t j = 0; j < f; j++) b[i * f + j] = a[i * f + j] * inv;
    }
    return y;
}

lab_csr *lab_gnn_features_csr(const lab_tensor *x, lab_device dev)
{
    char d[96];
    if (!x) return NULL;
    if (x->dtype != LAB_F32 || x->ndim != 2 || x->device.type != LAB_DEV_CPU) {
        lab_error_set("gnn_features_csr: x must be f32 [N, F] on the cpu, got %s", lab_tensor_desc(x, d, sizeof d));
        return NULL;
    }
    const float *a = lab_tensor_f32(x);
    int64_t n = x->shape[0], f = x->shape[1], nnz = 0;
    for (int64_t i = 0; i < n * f; i++) nnz += a[i] != 0;
    int64_t *ptr = malloc(((size_t)n + 1) * sizeof *ptr), *col = malloc((size_t)(nnz + 1) * sizeof *col);
    float *val = malloc((size_t)(nnz + 1) * sizeof *val);
    lab_csr *c = NULL;
    if (ptr && col && val) {
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++) {
            ptr[i] = k;
            for (int64_t j = 0; j < f; j++)
                if (a[i * f + j] != 0) {
                    col[k] = j;
                    val[k++] = a[i * f + j];
                }
        }
        ptr[n] = k;
        c = lab_csr_new(n, f, nnz, ptr, col, val, dev);
    } else {
        lab_error_set("gnn_features_csr: out of host memory");
    }
    free(ptr);
    free(col);
    free(val);
    return c;
}
