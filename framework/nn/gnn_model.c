/* Stacks of GNN layers (lab/gnn.h): creation, the Virgo widths and
 * initialisation of the message-passing weights per architecture (brief §3),
 * and a forward pass that can expose each layer's output Y_l and, through
 * zero-valued probe leaves, dloss/dY_l for the variance analysis.
 * Tested in tests/unit/test_gnn.c (per-architecture init variances, the
 * exact-theory check, Cora stability ratios) and tests/plugins/test_virgo.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gnn_int.h"
#include "lab/error.h"
#include "lab/gnn.h"

lab_gnn_model_cfg lab_gnn_model_defaults(lab_gnn_arch arch, int layers, int64_t in_dim, int64_t hidden, int64_t out_dim)
{
    lab_gnn_model_cfg c;
    memset(&c, 0, sizeof c);
    c.arch = arch;
    c.layers = layers;
    c.in_dim = in_dim;
    c.hidden = hidden;
    c.out_dim = out_dim;
    c.bias = 1;
    c.gat_heads = 1;
    return c;
}

static int64_t layer_in(const lab_gnn_model_cfg *c, int l) { return l == 0 ? c->in_dim : c->hidden; }
static int64_t layer_out(const lab_gnn_model_cfg *c, int l) { return l == c->layers - 1 ? c->out_dim : c->hidden; }

void lab_gnn_model_free(lab_gnn_model *m) { free(m); }

lab_gnn_model *lab_gnn_model_new(const lab_gnn_model_cfg *cfg, lab_params *p, const char *prefix, lab_rng *rng)
{
    const char *op = "gnn_model";
    if (!cfg || !p) {
        lab_error_set("%s: NULL %s", op, cfg ? "params" : "config");
        return NULL;
    }
    if (cfg->layers < 1 || cfg->layers > LAB_GNN_MAX_DEPTH) {
        lab_error_set("%s: layers must be in [1, %d], got %d", op, LAB_GNN_MAX_DEPTH, cfg->layers);
        return NULL;
    }
    if (cfg->in_dim < 1 || cfg->out_dim < 1 || (cfg->layers > 1 && cfg->hidden < 1)) {
        lab_error_set("%s: widths must be >= 1 (in %lld, hidden %lld, out %lld)", op, (long long)cfg->in_dim,
                      (long long)cfg->hidden, (long long)cfg->out_dim);
        return NULL;
    }
    if ((unsigned)cfg->arch > LAB_GNN_GAT) {
        lab_error_set("%s: unknown architecture %d (one of %s)", op, (int)cfg->arch, LAB_GNN_ARCH_CHOICES);
        return NULL;
    }
    if (!(cfg->dropout >= 0 && cfg->dropout < 1)) {
        lab_error_set("%s: dropout must be in [0, 1), got %g", op, cfg->dropout);
        return NULL;
    }
    int heads = cfg->gat_heads < 1 ? 1 : cfg->gat_heads;
    if (cfg->arch == LAB_GNN_GAT && cfg->layers > 1 && cfg->hidden % heads != 0) {
        lab_error_set("%s: GAT hidden width %lld is not a multiple of %d heads", op, (long long)cfg->hidden, heads);
        return NULL;
    }
    lab_gnn_model *m = calloc(1, sizeof *m);
    if (!m) {
        lab_error_set("%s: out of host memory", op);
        return NULL;
    }
    m->cfg = *cfg;
    m->cfg.gat_heads = heads;
    const char *pre = prefix && prefix[0] ? prefix : "gnn";
    char name[256];
    for (int l = 0; l < cfg->layers; l++) {
        int64_t in = layer_in(cfg, l), out = layer_out(cfg, l);
        int last = l == cfg->layers - 1, rc = 0;
        snprintf(name, sizeof name, "%s.%d", pre, l);
        switch (cfg->arch) {
        case LAB_GNN_GCN: rc = lab_gcn_layer_init(&m->gcn[l], p, name, in, out, cfg->bias, rng); break;
        case LAB_GNN_SAGE: rc = lab_sage_layer_init(&m->sage[l], p, name, in, out, cfg->bias, rng); break;
        case LAB_GNN_GIN:
            rc = lab_gin_layer_init(&m->gin[l], p, name, in, cfg->gin_mid > 0 ? cfg->gin_mid : out, out,
                                    cfg->gin_learn_eps, cfg->gin_eps, rng);
            break;
        case LAB_GNN_GAT:
            rc = last ? lab_gat_layer_init(&m->gat[l], p, name, in, out, heads, 0, cfg->bias, rng)
                      : lab_gat_layer_init(&m->gat[l], p, name, in, out / heads, heads, 1, cfg->bias, rng);
            break;
        }
        if (rc == 0 && cfg->batchnorm && (!last || cfg->last_act)) {
            snprintf(name, sizeof name, "%s.bn%d", pre, l);
            rc = lab_batchnorm_layer_init(&m->bn[l], p, name, out);
        }
        if (rc < 0) {
            lab_error_prefix("%s: layer %d: ", op, l);
            free(m);
            return NULL;
        }
    }
    return m;
}

int lab_gnn_model_widths(const lab_gnn_model *m, int64_t *widths)
{
    if (!m || !widths) return lab_error_set("gnn_model_widths: NULL argument");
    const lab_gnn_model_cfg *c = &m->cfg;
    widths[0] = c->in_dim;
    for (int l = 0; l < c->layers; l++) {
        switch (c->arch) {
        case LAB_GNN_GIN: widths[l + 1] = m->gin[l].lin1.w->shape[0]; break;
        case LAB_GNN_GAT: widths[l + 1] = m->gat[l].w_src->shape[0]; break;
        default: widths[l + 1] = layer_out(c, l); break;
        }
    }
    return 0;
}

int lab_gnn_model_plan(const lab_gnn_model *m, const lab_gnn_init_cfg *cfg, const lab_gnn_stats *st,
                       lab_gnn_init_plan *plan)
{
    int64_t w[LAB_GNN_MAX_DEPTH + 1];
    if (lab_gnn_model_widths(m, w) < 0) return -1;
    return lab_gnn_init_plan_make(plan, cfg, st, m->cfg.layers, w);
}

int lab_gnn_model_init(lab_gnn_model *m, const lab_gnn_init_plan *plan, lab_rng *rng)
{
    if (!m || !plan) return lab_error_set("gnn_model_init: NULL argument");
    if (plan->depth != m->cfg.layers)
        return lab_error_set("gnn_model_init: the plan is for %d layers but the stack has %d", plan->depth,
                             m->cfg.layers);
    for (int l = 0; l < m->cfg.layers; l++) {
        int rc = 0;
        switch (m->cfg.arch) {
        case LAB_GNN_GCN: rc = lab_gnn_init_weight_(m->gcn[l].w, plan, l + 1, rng); break;
        case LAB_GNN_SAGE:
            rc = lab_gnn_init_weight_(m->sage[l].w_neigh, plan, l + 1, rng);
            if (rc == 0) rc = lab_gnn_init_weight_(m->sage[l].w_root, plan, l + 1, rng);
            break;
        case LAB_GNN_GIN:
            rc = lab_gnn_init_weight_(m->gin[l].lin1.w, plan, l + 1, rng);
            if (rc == 0) rc = lab_gnn_init_weight_(m->gin[l].lin2.w, plan, l + 1, rng);
            break;
        case LAB_GNN_GAT:
            rc = lab_gnn_init_weight_(m->gat[l].w_src, plan, l + 1, rng);
            if (rc == 0) rc = lab_gnn_init_weight_(m->gat[l].w_dst, plan, l + 1, rng);
            break;
        }
        if (rc < 0) return lab_error_prefix("gnn_model_init: layer %d: ", l + 1);
    }
    return 0;
}

static lab_tensor *layer_forward(const lab_gnn_model *m, int l, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs,
                                 int training)
{
    switch (m->cfg.arch) {
    case LAB_GNN_GCN: return lab_gcn_forward_any(&m->gcn[l], g, x, xs);
    case LAB_GNN_SAGE: return lab_sage_forward_any(&m->sage[l], g, x, xs);
    case LAB_GNN_GIN: return lab_gin_forward_any(&m->gin[l], g, x, xs, training);
    case LAB_GNN_GAT: return lab_gat_forward_any(&m->gat[l], g, x, xs);
    }
    return NULL;
}

lab_tensor *lab_gnn_model_forward_probed(const lab_gnn_model *m, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs,
                                         int training, lab_rng *rng, lab_tensor **pre, lab_tensor **probes)
{
    const char *op = "gnn_model_forward";
    if (!m) return NULL;
    if ((x == NULL) == (xs == NULL)) {
        lab_error_set("%s: give exactly one of dense x and sparse xs", op);
        return NULL;
    }
    int64_t in = xs ? xs->cols : (x->ndim == 2 ? x->shape[1] : -1);
    if (in != m->cfg.in_dim) {
        lab_error_set("%s: the input has %lld features but the stack expects %lld", op, (long long)in,
                      (long long)m->cfg.in_dim);
        return NULL;
    }
    if (m->cfg.dropout > 0 && training && !rng) {
        lab_error_set("%s: dropout %g in training needs an rng", op, m->cfg.dropout);
        return NULL;
    }
    int L = m->cfg.layers;
    lab_tensor *keep[2 * LAB_GNN_MAX_DEPTH];
    int nkeep = 0;
    lab_scope_begin();
    lab_tensor *h = x;
    for (int l = 0; l < L; l++) {
        lab_tensor *hin = h;
        if (l > 0 && m->cfg.dropout > 0) hin = lab_dropout(h, m->cfg.dropout, training, rng);
        lab_tensor *y = layer_forward(m, l, g, l == 0 ? x : hin, l == 0 ? xs : NULL, training);
        if (!y) break;
        if (pre) keep[nkeep++] = pre[l] = y;
        if (probes) {
            lab_tensor *p = lab_tensor_zeros_like(y);
            if (!p) {
                y = NULL;
                break;
            }
            lab_tensor_set_requires_grad(p, 1);
            keep[nkeep++] = probes[l] = p;
            y = lab_add(y, p);
        }
        if (l < L - 1 || m->cfg.last_act) {
            if (m->cfg.batchnorm) y = lab_batchnorm_layer_forward(&m->bn[l], y, training);
            y = lab_relu(y);
        }
        h = y;
        if (!h) break;
    }
    lab_tensor *out = h;
    if (out) {
        for (int i = 0; i < nkeep; i++) lab_keep(keep[i]);
        lab_keep(out);
    }
    lab_scope_end();
    if (!out) {
        for (int l = 0; l < L; l++) {
            if (pre) pre[l] = NULL;
            if (probes) probes[l] = NULL;
        }
    }
    return out;
}

lab_tensor *lab_gnn_model_forward(const lab_gnn_model *m, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs, int training,
                                  lab_rng *rng, lab_tensor **pre)
{
    return lab_gnn_model_forward_probed(m, g, x, xs, training, rng, pre, NULL);
}

double lab_gnn_mean_square(const lab_tensor *t)
{
    if (!t) return NAN;
    if (t->dtype != LAB_F32 || t->numel == 0) {
        char d[96];
        lab_error_set("gnn_mean_square: needs a non-empty f32 tensor, got %s", lab_tensor_desc(t, d, sizeof d));
        return NAN;
    }
    float *h = malloc((size_t)t->numel * sizeof *h);
    if (!h) {
        lab_error_set("gnn_mean_square: out of host memory");
        return NAN;
    }
    double s = 0;
    if (lab_tensor_copy_to_host(t, h) == 0)
        for (int64_t i = 0; i < t->numel; i++) s += (double)h[i] * h[i];
    else
        s = NAN;
    free(h);
    return s / (double)t->numel;
}
