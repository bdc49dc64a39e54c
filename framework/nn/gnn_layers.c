/* GNN layers (GCN, GraphSAGE-mean, GIN, GAT), graph readout and link
 * decoders (lab/gnn.h), written with the differentiable ops of ops.h so
 * autograd and every backend come for free.
 *
 * Each layer's forward is linear in x before its nonlinearity, so the
 * projection x Wᵀ may come first; gnn_project() does that for dense x or a
 * sparse CSR input (spmm with Wᵀ as the dense operand, which carries the
 * weight's gradient). Tested in tests/unit/test_gnn.c: outputs against
 * hand-computed values on small graphs and finite-difference gradchecks of
 * every layer (GAT with two heads, GIN with a trainable ε).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gnn_int.h"
#include "lab/error.h"
#include "lab/gnn.h"

#define NAME_LEN 256

static lab_tensor *add_param(lab_params *p, const char *name, const char *field, int ndim, const int64_t *shape)
{
    char buf[NAME_LEN];
    snprintf(buf, sizeof buf, "%s.%s", name, field);
    lab_tensor *t = lab_tensor_zeros(LAB_F32, ndim, shape, LAB_CPU);
    return t ? lab_params_add(p, buf, t) : NULL;
}

lab_tensor *lab_gnn_project(lab_tensor *x, lab_csr *xs, lab_tensor *w)
{
    if (xs) {
        lab_scope_begin();
        lab_tensor *y = lab_spmm(xs, lab_transpose(w, 0, 1));
        lab_keep(y);
        lab_scope_end();
        return y;
    }
    return lab_linear(x, w, NULL);
}

static int check_graph(const char *op, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs)
{
    int64_t rows = xs ? xs->rows : (x ? x->shape[0] : -1);
    if (!g) return lab_error_set("%s: NULL graph", op);
    if (!x && !xs) return -1;
    if (rows != lab_gnn_graph_num_nodes(g))
        return lab_error_set("%s: the input has %lld rows but the graph has %lld nodes", op, (long long)rows,
                             (long long)lab_gnn_graph_num_nodes(g));
    return 0;
}

/* --- GCN ---------------------------------------------------------------------------- */

int lab_gcn_layer_init(lab_gcn_layer *l, lab_params *p, const char *name, int64_t in, int64_t out, int bias,
                       lab_rng *rng)
{
    memset(l, 0, sizeof *l);
    if (in < 1 || out < 1)
        return lab_error_set("gcn_layer: widths must be >= 1, got %lld -> %lld", (long long)in, (long long)out);
    l->w = add_param(p, name, "weight", 2, (int64_t[]){out, in});
    if (!l->w || lab_init_xavier_uniform_(l->w, rng, 1.0) < 0) return -1;
    if (bias && !(l->b = add_param(p, name, "bias", 1, &out))) return -1;
    return 0;
}

lab_tensor *lab_gcn_forward_any(const lab_gcn_layer *l, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs)
{
    if (check_graph("gcn_layer", g, x, xs) < 0) return NULL;
    lab_csr *a = lab_gnn_graph_gcn(g);
    if (!a) return NULL;
    lab_scope_begin();
    lab_tensor *y;
    int64_t in = l->w->shape[1], out = l->w->shape[0];
    if (!xs && in < out)
        y = lab_linear(lab_spmm(a, x), l->w, l->b);
    else {
        y = lab_spmm(a, lab_gnn_project(x, xs, l->w));
        if (l->b) y = lab_add(y, l->b);
    }
    lab_keep(y);
    lab_scope_end();
    return y;
}

lab_tensor *lab_gcn_layer_forward(const lab_gcn_layer *l, lab_gnn_graph *g, lab_tensor *x)
{
    return x ? lab_gcn_forward_any(l, g, x, NULL) : NULL;
}

lab_tensor *lab_gcn_layer_forward_sparse(const lab_gcn_layer *l, lab_gnn_graph *g, lab_csr *x)
{
    return x ? lab_gcn_forward_any(l, g, NULL, x) : NULL;
}

/* --- GraphSAGE ------------------------------------------------------------------------ */

int lab_sage_layer_init(lab_sage_layer *l, lab_params *p, const char *name, int64_t in, int64_t out, int bias,
                        lab_rng *rng)
{
    memset(l, 0, sizeof *l);
    if (in < 1 || out < 1)
        return lab_error_set("sage_layer: widths must be >= 1, got %lld -> %lld", (long long)in, (long long)out);
    char nn[NAME_LEN], nr[NAME_LEN];
    snprintf(nn, sizeof nn, "%s.lin_l", name);
    snprintf(nr, sizeof nr, "%s.lin_r", name);
    lab_linear_layer ln, lr;
    if (lab_linear_layer_init(&ln, p, nn, in, out, bias, rng) < 0) return -1;
    if (lab_linear_layer_init(&lr, p, nr, in, out, 0, rng) < 0) return -1;
    l->w_neigh = ln.w;
    l->b = ln.b;
    l->w_root = lr.w;
    return 0;
}

lab_tensor *lab_sage_forward_any(const lab_sage_layer *l, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs)
{
    if (check_graph("sage_layer", g, x, xs) < 0) return NULL;
    lab_csr *a = lab_gnn_graph_mean(g);
    if (!a) return NULL;
    lab_scope_begin();
    lab_tensor *y = lab_add(lab_spmm(a, lab_gnn_project(x, xs, l->w_neigh)), lab_gnn_project(x, xs, l->w_root));
    if (l->b) y = lab_add(y, l->b);
    lab_keep(y);
    lab_scope_end();
    return y;
}

lab_tensor *lab_sage_layer_forward(const lab_sage_layer *l, lab_gnn_graph *g, lab_tensor *x)
{
    return x ? lab_sage_forward_any(l, g, x, NULL) : NULL;
}

/* --- GIN -------------------------------------------------------------------------------- */

int lab_gin_layer_init(lab_gin_layer *l, lab_params *p, const char *name, int64_t in, int64_t mid, int64_t out,
                       int learn_eps, float eps0, lab_rng *rng)
{
    memset(l, 0, sizeof *l);
    if (in < 1 || mid < 1 || out < 1)
        return lab_error_set("gin_layer: widths must be >= 1, got %lld -> %lld -> %lld", (long long)in, (long long)mid,
                             (long long)out);
    char b1[NAME_LEN], b2[NAME_LEN], bb[NAME_LEN];
    snprintf(b1, sizeof b1, "%s.mlp.0", name);
    snprintf(bb, sizeof bb, "%s.mlp.1", name);
    snprintf(b2, sizeof b2, "%s.mlp.3", name);
    if (lab_linear_layer_init(&l->lin1, p, b1, in, mid, 1, rng) < 0) return -1;
    if (lab_batchnorm_layer_init(&l->bn, p, bb, mid) < 0) return -1;
    if (lab_linear_layer_init(&l->lin2, p, b2, mid, out, 1, rng) < 0) return -1;
    l->eps0 = eps0;
    if (learn_eps) {
        int64_t one = 1;
        if (!(l->eps = add_param(p, name, "eps", 1, &one))) return -1;
        lab_tensor_fill_(l->eps, eps0);
    }
    return 0;
}

lab_tensor *lab_gin_forward_any(const lab_gin_layer *l, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs, int training)
{
    if (check_graph("gin_layer", g, x, xs) < 0) return NULL;
    lab_csr *a = lab_gnn_graph_sum(g);
    if (!a) return NULL;
    lab_scope_begin();
    /* Linear(((1+ε) x + Σ x_u)) = (1+ε) xW1ᵀ + Σ (xW1ᵀ)_u + b1. */
    lab_tensor *h = lab_gnn_project(x, xs, l->lin1.w);
    lab_tensor *self = l->eps ? lab_mul(h, lab_add_scalar(l->eps, 1.0f)) : lab_mul_scalar(h, 1.0f + l->eps0);
    lab_tensor *z = lab_add(self, lab_spmm(a, h));
    if (l->lin1.b) z = lab_add(z, l->lin1.b);
    z = lab_relu(lab_batchnorm_layer_forward(&l->bn, z, training));
    lab_tensor *y = lab_linear_layer_forward(&l->lin2, z);
    lab_keep(y);
    lab_scope_end();
    return y;
}

lab_tensor *lab_gin_layer_forward(const lab_gin_layer *l, lab_gnn_graph *g, lab_tensor *x, int training)
{
    return x ? lab_gin_forward_any(l, g, x, NULL, training) : NULL;
}

/* --- GAT ---------------------------------------------------------------------------------- */

int lab_gat_layer_init(lab_gat_layer *l, lab_params *p, const char *name, int64_t in, int64_t out, int heads,
                       int concat, int bias, lab_rng *rng)
{
    memset(l, 0, sizeof *l);
    if (in < 1 || out < 1 || heads < 1)
        return lab_error_set("gat_layer: widths and heads must be >= 1, got %lld -> %d x %lld", (long long)in, heads,
                             (long long)out);
    l->heads = heads;
    l->out = out;
    l->concat = concat;
    l->slope = 0.2f;
    int64_t hf = (int64_t)heads * out, ws[2] = {hf, in}, as[2] = {heads, out};
    if (!(l->w_src = add_param(p, name, "lin_src.weight", 2, ws)) || lab_init_xavier_uniform_(l->w_src, rng, 1.0) < 0)
        return -1;
    if (!(l->w_dst = add_param(p, name, "lin_dst.weight", 2, ws)) || lab_init_xavier_uniform_(l->w_dst, rng, 1.0) < 0)
        return -1;
    if (!(l->att_src = add_param(p, name, "att_src", 2, as)) || lab_init_xavier_uniform_(l->att_src, rng, 1.0) < 0)
        return -1;
    if (!(l->att_dst = add_param(p, name, "att_dst", 2, as)) || lab_init_xavier_uniform_(l->att_dst, rng, 1.0) < 0)
        return -1;
    int64_t bs = concat ? hf : out;
    if (bias && !(l->b = add_param(p, name, "bias", 1, &bs))) return -1;
    return 0;
}

lab_tensor *lab_gat_forward_any(const lab_gat_layer *l, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs)
{
    if (check_graph("gat_layer", g, x, xs) < 0) return NULL;
    lab_tensor *src, *dst;
    if (lab_gnn_graph_gat_edges(g, &src, &dst) < 0) return NULL;
    int64_t n = lab_gnn_graph_num_nodes(g), e = src->shape[0], h = l->heads, f = l->out;
    lab_scope_begin();
    lab_tensor *hs = lab_reshape(lab_gnn_project(x, xs, l->w_src), 3, (int64_t[]){n, h, f});
    lab_tensor *ht = lab_reshape(lab_gnn_project(x, xs, l->w_dst), 3, (int64_t[]){n, h, f});
    lab_tensor *as = lab_sum(lab_mul(hs, l->att_src), -1, 0); /* [N, H] */
    lab_tensor *at = lab_sum(lab_mul(ht, l->att_dst), -1, 0);
    lab_tensor *score = lab_leaky_relu(lab_add(lab_index_select(as, 0, src), lab_index_select(at, 0, dst)), l->slope);
    lab_tensor *alpha = lab_segment_softmax(score, dst, n); /* [E, H] */
    lab_tensor *msg = lab_mul(lab_index_select(hs, 0, src), lab_reshape(alpha, 3, (int64_t[]){e, h, 1}));
    lab_tensor *y = lab_segment_sum(lab_reshape(msg, 2, (int64_t[]){e, h * f}), dst, n);
    if (!l->concat && h > 1)
        y = lab_mean(lab_reshape(y, 3, (int64_t[]){n, h, f}), 1, 0);
    else if (!l->concat)
        y = lab_reshape(y, 2, (int64_t[]){n, f});
    if (l->b) y = lab_add(y, l->b);
    lab_keep(y);
    lab_scope_end();
    return y;
}

lab_tensor *lab_gat_layer_forward(const lab_gat_layer *l, lab_gnn_graph *g, lab_tensor *x)
{
    return x ? lab_gat_forward_any(l, g, x, NULL) : NULL;
}

/* --- readout and decoders --------------------------------------------------------------- */

lab_tensor *lab_gnn_readout(lab_tensor *h, lab_tensor *batch, int64_t num_graphs, lab_gnn_pool pool)
{
    switch (pool) {
    case LAB_GNN_POOL_SUM: return lab_segment_sum(h, batch, num_graphs);
    case LAB_GNN_POOL_MEAN: return lab_segment_mean(h, batch, num_graphs);
    }
    lab_error_set("gnn_readout: unknown pooling %d (one of %s)", (int)pool, LAB_GNN_POOL_CHOICES);
    return NULL;
}

static int pair_rows(const char *op, lab_tensor *pairs, lab_tensor **u, lab_tensor **v)
{
    char d[96];
    if (!pairs) return -1;
    if (pairs->dtype != LAB_I64 || pairs->ndim != 2 || pairs->shape[0] != 2)
        return lab_error_set("%s: pairs must be i64 [2, P], got %s", op, lab_tensor_desc(pairs, d, sizeof d));
    int64_t p = pairs->shape[1];
    *u = lab_reshape(lab_slice(pairs, 0, 0, 1), 1, &p);
    *v = lab_reshape(lab_slice(pairs, 0, 1, 2), 1, &p);
    return *u && *v ? 0 : -1;
}

lab_tensor *lab_gnn_link_hadamard(lab_tensor *h, lab_tensor *pairs)
{
    if (!h || !pairs) return NULL;
    lab_scope_begin();
    lab_tensor *u = NULL, *v = NULL, *y = NULL;
    if (pair_rows("gnn_link", pairs, &u, &v) == 0) y = lab_mul(lab_index_select(h, 0, u), lab_index_select(h, 0, v));
    lab_keep(y);
    lab_scope_end();
    return y;
}

lab_tensor *lab_gnn_link_dot(lab_tensor *h, lab_tensor *pairs)
{
    if (!h || !pairs) return NULL;
    lab_scope_begin();
    lab_tensor *y = lab_sum(lab_gnn_link_hadamard(h, pairs), -1, 0);
    lab_keep(y);
    lab_scope_end();
    return y;
}
