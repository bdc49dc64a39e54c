/* Link prediction: a GNN encoder on the training graph, a dot-product or
 * MLP(h_u ⊙ h_v) decoder, BCE on the training edges against as many fresh
 * negatives each epoch (sampled among non-edges of the training graph, so
 * nothing about val/test edges leaks), model selection on the validation
 * score, and the test ROC-AUC and Hits@K of the best-validation epoch.
 *
 * Planetoid: a random 85/5/10 split of the undirected edges per seed
 * (lab_graph_link_split_new). ogbl-*: the data set's split, exported to CSV
 * (see lab/ogb.h); selection on the first eval.hits_k, or with eval.metric =
 * mrr (ogbl-citation2) on the MRR of each positive against its own
 * negatives: <part>_neg.csv then lists m negatives per positive, in the
 * positives' order, each with its positive's source; training negatives
 * keep the positive's source too, as OGB's citation2 script.
 *
 * train.batch_edges splits the positives of an epoch into shuffled steps,
 * each running the encoder on the whole training graph (OGB's link
 * scripts); 0 keeps one full-batch step. Evaluation decodes at most
 * EVAL_CHUNK pairs at a time (citation2 has 87M negative pairs per split).
 * Statistics use the training graph the model sees, except for a directed
 * data set (citation2), whose statistics use the directed training edges,
 * as loaded (brief §5).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virgo_int.h"

typedef struct {
    int64_t n, f;
    lab_tensor *x;           /* f32 [N, F] cpu, or NULL with emb_dim */
    lab_tensor *train_edges; /* i64 [2, 2 Etr]: the message-passing graph (cpu) */
    lab_tensor *train_host;  /* i64 [2, Etr]: the training positives (cpu) */
    lab_tensor *stat_edges;  /* directed data sets: the edges for S_f/S_b (cpu); NULL = train_edges */
    lab_tensor *pos[3];      /* train, val, test positives i64 [2, n] (device) */
    lab_tensor *neg[3];      /* -, val, test negatives (device); [0] unused */
    int64_t per_pos[3];      /* MRR: negatives per positive of val, test; 0 otherwise */
    int ogb;
} link_data;

static void link_data_free(link_data *d)
{
    lab_tensor_release(d->x);
    lab_tensor_release(d->train_edges);
    lab_tensor_release(d->train_host);
    lab_tensor_release(d->stat_edges);
    for (int i = 0; i < 3; i++) {
        lab_tensor_release(d->pos[i]);
        lab_tensor_release(d->neg[i]);
    }
}

static lab_tensor *both_directions(const lab_tensor *pos)
{
    int64_t m = pos->shape[1];
    lab_tensor *r = lab_tensor_empty(LAB_I64, 2, (int64_t[]){2, 2 * m}, LAB_CPU);
    if (!r) return NULL;
    const int64_t *s = lab_tensor_i64(pos);
    int64_t *d = lab_tensor_i64(r);
    memcpy(d, s, (size_t)m * sizeof *d);
    memcpy(d + m, s + m, (size_t)m * sizeof *d);
    memcpy(d + 2 * m, s + m, (size_t)m * sizeof *d);
    memcpy(d + 3 * m, s, (size_t)m * sizeof *d);
    return r;
}

/* MRR's layout: neg [2, n m] holds m >= 1 negatives per positive of pos
 * [2, n], in order, each sharing its positive's source. Gives m. */
static int64_t per_source_negatives(const char *data, const char *part, const lab_tensor *pos, const lab_tensor *neg)
{
    int64_t n = pos->shape[1], nn = neg->shape[1];
    if (n == 0 || nn == 0 || nn % n != 0) {
        lab_error_set("%s: eval.metric = mrr needs m negatives per positive in %s_neg (%lld positives, %lld negatives; "
                      "hint: export target_node_neg as \"source,target\" lines, m per positive, in order)",
                      data, part, (long long)n, (long long)nn);
        return -1;
    }
    int64_t m = nn / n;
    const int64_t *ps = lab_tensor_i64(pos), *ns = lab_tensor_i64(neg);
    for (int64_t k = 0; k < nn; k++)
        if (ns[k] != ps[k / m]) {
            lab_error_set("%s: %s_neg line %lld has source %lld but belongs to positive %lld, whose source is %lld "
                          "(m = %lld negatives per positive)",
                          data, part, (long long)k + 1, (long long)ns[k], (long long)(k / m), (long long)ps[k / m],
                          (long long)m);
            return -1;
        }
    return m;
}

static int load_link(lab_ctx *ctx, const virgo_opts *o, link_data *d)
{
    lab_device dev = lab_ctx_device(ctx);
    memset(d, 0, sizeof *d);
    int rc = -1;
    lab_dataset *ds = NULL;
    lab_ogb *og = NULL;
    lab_graph_link_split *sp = NULL;
    lab_scope_begin();
    if (strncmp(o->data, "ogbl-", 5) == 0) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", o->root[0] ? o->root : "data/ogb", o->data);
        for (char *p = dir + strlen(dir) - strlen(o->data); *p; p++)
            if (*p == '-') *p = '_';
        if (!(og = lab_ogb_read(dir, o->data, o->split))) goto out;
        if (!og->train_pos || !og->valid_pos || !og->valid_neg || !og->test_pos || !og->test_neg) {
            lab_error_set("%s: the edge split is missing as CSV under %s/split (hint: export OGB's train/valid/test.pt "
                          "as <part>_pos.csv and <part>_neg.csv, see plugins/virgo/README.md)",
                          o->data, dir);
            goto out;
        }
        d->ogb = 1;
        d->n = og->num_nodes;
        if (og->node_feat) d->x = lab_tensor_retain(og->node_feat);
        d->train_edges = lab_tensor_own(both_directions(og->train_pos));
        d->train_host = lab_tensor_retain(og->train_pos);
        if (!og->add_inverse_edge) d->stat_edges = lab_tensor_retain(og->train_pos);
        if (o->metric == VIRGO_METRIC_MRR) {
            if ((d->per_pos[1] = per_source_negatives(o->data, "valid", og->valid_pos, og->valid_neg)) < 0 ||
                (d->per_pos[2] = per_source_negatives(o->data, "test", og->test_pos, og->test_neg)) < 0)
                goto out;
        }
        lab_tensor *p3[3] = {og->train_pos, og->valid_pos, og->test_pos}, *n3[3] = {NULL, og->valid_neg, og->test_neg};
        for (int i = 0; i < 3; i++) {
            if (!(d->pos[i] = virgo_own_on(p3[i], dev))) goto out;
            if (n3[i] && !(d->neg[i] = virgo_own_on(n3[i], dev))) goto out;
        }
    } else {
        lab_data_spec spec = {.name = o->data, .root = o->root[0] ? o->root : NULL};
        if (!(ds = lab_dataset_open(&spec))) goto out;
        if (ds->kind != LAB_DATA_NODES) {
            lab_error_set("task.name = link needs a graph of nodes (cora, citeseer, pubmed, ogbl-*), got %s", o->data);
            goto out;
        }
        lab_planetoid *pl = ds->planetoid;
        d->n = pl->num_nodes;
        /* The split depends on the seed only (its own stream). */
        lab_rng srng = lab_rng_fork(lab_ctx_rng(ctx), 0x5b17);
        if (!(sp = lab_graph_link_split_new(pl->edges, pl->num_nodes, o->val_frac, o->test_frac, &srng))) goto out;
        lab_tensor *x = o->normalize ? lab_gnn_row_normalize(pl->features) : pl->features;
        if (!x) goto out;
        d->x = lab_tensor_retain(x);
        d->train_edges = lab_tensor_retain(sp->train_edges);
        d->train_host = lab_tensor_retain(sp->train_pos);
        lab_tensor *p3[3] = {sp->train_pos, sp->val_pos, sp->test_pos}, *n3[3] = {NULL, sp->val_neg, sp->test_neg};
        for (int i = 0; i < 3; i++) {
            if (!(d->pos[i] = virgo_own_on(p3[i], dev))) goto out;
            if (n3[i] && !(d->neg[i] = virgo_own_on(n3[i], dev))) goto out;
        }
    }
    if (!d->train_edges || !d->train_host) goto out;
    d->f = d->x ? d->x->shape[1] : 0;
    lab_ctx_log(ctx, "%s: %lld nodes; %lld training edges, %lld/%lld val, %lld/%lld test (pos/neg)", o->data,
                (long long)d->n, (long long)d->pos[0]->shape[1], (long long)d->pos[1]->shape[1],
                (long long)d->neg[1]->shape[1], (long long)d->pos[2]->shape[1], (long long)d->neg[2]->shape[1]);
    rc = 0;
out:
    lab_scope_end();
    lab_graph_link_split_free(sp);
    lab_dataset_free(ds);
    lab_ogb_free(og);
    if (rc < 0) link_data_free(d);
    return rc;
}

typedef struct {
    int mlp, nl;
    lab_linear_layer lin[16];
} decoder;

static lab_tensor *decode(const decoder *dec, lab_tensor *h, lab_tensor *pairs)
{
    if (!dec->mlp) return lab_gnn_link_dot(h, pairs);
    lab_scope_begin();
    lab_tensor *z = lab_gnn_link_hadamard(h, pairs);
    for (int i = 0; i < dec->nl; i++) {
        z = lab_linear_layer_forward(&dec->lin[i], z);
        if (i < dec->nl - 1) z = lab_relu(z);
    }
    lab_tensor *y = z ? lab_reshape(z, 1, (int64_t[]){z->shape[0]}) : NULL;
    lab_keep(y);
    lab_scope_end();
    return y;
}

enum { EVAL_CHUNK = 1 << 20 }; /* pairs decoded at once: bounds the [pairs, hidden] intermediates */

/* The scores of pairs [2, P] (device) into out[P] on the host. */
static int decode_host(const decoder *dec, lab_tensor *h, lab_tensor *pairs, float *out)
{
    int64_t np = pairs->shape[1];
    for (int64_t i = 0; i < np; i += EVAL_CHUNK) {
        int64_t j = np - i > EVAL_CHUNK ? i + EVAL_CHUNK : np;
        lab_scope_begin();
        lab_tensor *s = decode(dec, h, j - i == np ? pairs : lab_slice(pairs, 1, i, j));
        int ok = s && lab_tensor_copy_to_host(s, out + i) == 0;
        lab_scope_end();
        if (!ok) return -1;
    }
    return 0;
}

/* One split's scores: ROC-AUC (%) into *score and Hits@K (%) into hits; or,
 * when per_pos > 0 (neg holds per_pos negatives for each positive, in
 * order), the MRR (%) into *score. */
static int link_scores(const decoder *dec, lab_tensor *h, lab_tensor *pos, lab_tensor *neg, int64_t per_pos,
                       const virgo_opts *o, double *score, double *hits)
{
    int64_t np = pos->shape[1], nn = neg->shape[1];
    float *s = malloc((size_t)(np + nn) * sizeof *s);
    int64_t *lab = per_pos ? NULL : malloc((size_t)(np + nn) * sizeof *lab);
    int rc = -1;
    if (!s || (!per_pos && !lab)) {
        lab_error_set("link: out of host memory for %lld scores", (long long)(np + nn));
    } else if (decode_host(dec, h, pos, s) == 0 && decode_host(dec, h, neg, s + np) == 0) {
        if (per_pos) {
            *score = 100.0 * lab_metric_mrr(s, s + np, np, per_pos);
        } else {
            for (int64_t i = 0; i < np + nn; i++) lab[i] = i < np;
            *score = 100.0 * lab_metric_roc_auc(s, lab, np + nn);
            for (int k = 0; k < o->n_hits; k++) hits[k] = 100.0 * lab_metric_hits_at_k(s, np, s + np, nn, o->hits_k[k]);
        }
        rc = isnan(*score) ? -1 : 0;
    }
    free(s);
    free(lab);
    return rc;
}

/* The positives of one training step [2, m] (device) and their negatives:
 * perm NULL = every positive in order. Negatives: per-source (MRR: the
 * positive's source, a uniform target), uniform pairs (ogbl-*), or
 * non-edges of the training graph (Planetoid). */
static int step_pairs(const link_data *d, const int64_t *perm, int64_t i0, int64_t m, int per_source, lab_device dev,
                      lab_rng *rng, lab_tensor **pos, lab_tensor **neg)
{
    const int64_t *tp = lab_tensor_i64(d->train_host);
    int64_t ntr = d->train_host->shape[1];
    *pos = d->pos[0];
    if (perm) {
        lab_tensor *p = lab_tensor_empty(LAB_I64, 2, (int64_t[]){2, m}, LAB_CPU);
        if (!p) return -1;
        int64_t *pv = lab_tensor_i64(p);
        for (int64_t k = 0; k < m; k++) pv[k] = tp[perm[i0 + k]], pv[m + k] = tp[ntr + perm[i0 + k]];
        *pos = dev.type == LAB_DEV_CPU ? p : lab_tensor_to(p, dev);
    }
    if (per_source) {
        *neg = lab_tensor_empty(LAB_I64, 2, (int64_t[]){2, m}, LAB_CPU);
        if (!*neg) return -1;
        int64_t *nv = lab_tensor_i64(*neg);
        for (int64_t k = 0; k < m; k++)
            nv[k] = tp[perm ? perm[i0 + k] : i0 + k], nv[m + k] = (int64_t)lab_rng_next_below(rng, (uint64_t)d->n);
    } else {
        *neg = d->ogb ? lab_rng_randint(rng, 2, (int64_t[]){2, m}, 0, d->n, LAB_CPU)
                      : lab_graph_negative_sample(d->train_edges, d->n, m, rng);
    }
    if (*neg && dev.type != LAB_DEV_CPU) *neg = lab_tensor_to(*neg, dev);
    return *pos && *neg ? 0 : -1;
}

int virgo_link(lab_ctx *ctx, const virgo_opts *o0)
{
    /* eval.metric: hits (ROC-AUC + Hits@K) or mrr; auto = OGB's metric. */
    virgo_opts lo = *o0;
    const virgo_opts *o = &lo;
    if (lo.metric == VIRGO_METRIC_AUTO)
        lo.metric = !strcmp(lo.data, "ogbl-citation2") ? VIRGO_METRIC_MRR : VIRGO_METRIC_HITS;
    if (lo.metric != VIRGO_METRIC_HITS && lo.metric != VIRGO_METRIC_MRR)
        return lab_error_set("eval.metric = %s does not apply to link prediction: use hits or mrr",
                             virgo_metric_name(lo.metric));
    if (lo.metric == VIRGO_METRIC_MRR && strncmp(lo.data, "ogbl-", 5) != 0)
        return lab_error_set("eval.metric = mrr needs per-source negatives (an ogbl-* split like ogbl-citation2), "
                             "not %s", lo.data);
    int mrr = lo.metric == VIRGO_METRIC_MRR;
    link_data d;
    if (load_link(ctx, o, &d) < 0) return -1;
    lab_device dev = lab_ctx_device(ctx);
    lab_rng *rng = lab_ctx_rng(ctx);
    lab_params *p = lab_params_new();
    lab_gnn_graph *g = NULL, *gs = NULL;
    lab_gnn_model *m = NULL;
    lab_optim *opt = NULL;
    lab_csr *xs = NULL;
    lab_tensor *xd = NULL;
    int64_t *perm = NULL;
    int rc = -1, depth = lab_scope_depth();
    if (o->n_hits > 8) {
        lab_error_set("eval.hits_k: at most 8 values");
        goto out;
    }
    if (!p || !(g = lab_gnn_graph_new(d.train_edges, d.n, dev))) goto out;
    /* A directed data set's statistics come from its directed edges, as loaded (brief §5). */
    if (d.stat_edges && !(gs = lab_gnn_graph_new(d.stat_edges, d.n, LAB_CPU))) goto out;
    lab_embedding_layer emb = {0};
    int64_t in = d.f;
    lab_gnn_stats st;
    if (o->emb_dim > 0) {
        /* ogbl-ddi: a learned embedding; x̄ of its (random) initial value, as the official code. */
        if (lab_embedding_layer_init(&emb, p, "emb", d.n, o->emb_dim, rng) < 0) goto out;
        if (lab_init_xavier_uniform_(emb.weight, rng, 1.0) < 0) goto out;
        in = o->emb_dim;
        if (virgo_stats(o, &st, gs ? gs : g, emb.weight, o->layers) < 0) goto out;
    } else {
        if (!d.x) {
            lab_error_set("%s has no node features: set model.emb_dim", o->data);
            goto out;
        }
        if (virgo_stats(o, &st, gs ? gs : g, d.x, o->layers) < 0) goto out;
        int64_t nnz = 0;
        const float *xv = lab_tensor_f32(d.x);
        for (int64_t i = 0; i < d.x->numel; i++) nnz += xv[i] != 0;
        if ((double)nnz < 0.2 * (double)d.x->numel ? !(xs = lab_gnn_features_csr(d.x, dev))
                                                   : !(xd = virgo_own_on(d.x, dev)))
            goto out;
    }
    lab_gnn_model_cfg mc = virgo_model_cfg(o, in, o->hidden);
    if (!(m = lab_gnn_model_new(&mc, p, "gnn", rng))) goto out;
    /* No classes in link prediction: virgo_bwd / virgo need virgo.classes. */
    if (virgo_plan_and_init(ctx, o, m, &st, o->init.classes, rng) < 0) goto out;
    decoder dec = {o->decoder_mlp, o->decoder_mlp ? o->decoder_layers : 0, {{0}}};
    for (int i = 0; i < dec.nl; i++) {
        char name[32];
        snprintf(name, sizeof name, "dec.%d", i);
        if (lab_linear_layer_init(&dec.lin[i], p, name, o->hidden, i == dec.nl - 1 ? 1 : o->hidden, 1, rng) < 0)
            goto out;
    }
    lab_tensor *state =
        lab_params_add_buffer(p, "virgo.state", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){3 + 2 * 8}, LAB_CPU));
    if (!state || lab_params_to(p, dev) < 0 || !(opt = virgo_optim(o, p))) goto out;
    lab_ctx_checkpoint_track(ctx, p);
    lab_ctx_checkpoint_track_optim(ctx, opt);
    int64_t e0 = 0, s0 = 0;
    if (lab_ctx_checkpoint_load(ctx, &e0, &s0) < 0) goto out;
    /* best val, its epoch, wait, test AUC (or MRR), test Hits@K... */
    float bk[3 + 2 * 8] = {-1, -1, 0};
    if (e0 > 0 && lab_tensor_copy_to_host(state, bk) < 0) goto out;
    /* Steps of bsz positives in a fresh order each epoch; one step (in
     * file order, no shuffle) when the batch holds them all. */
    int64_t ntr = d.pos[0]->shape[1], e = e0;
    int64_t bsz = o->batch_edges > 0 && o->batch_edges < ntr ? o->batch_edges : ntr;
    int64_t nb = ntr > 0 ? (ntr + bsz - 1) / bsz : 0;
    if (nb > 1 && !(perm = malloc((size_t)ntr * sizeof *perm))) {
        lab_error_set("link: out of host memory for %lld training edges", (long long)ntr);
        goto out;
    }
    for (; e < o->epochs; e++) {
        if (lab_ctx_should_stop(ctx)) {
            lab_tensor_copy_from_host(state, bk);
            rc = lab_ctx_checkpoint_save(ctx, e, 0);
            goto out;
        }
        lab_rng erng = lab_rng_fork(rng, 0x1000 + (uint64_t)e);
        if (perm) {
            for (int64_t i = 0; i < ntr; i++) perm[i] = i;
            lab_rng_shuffle_i64(&erng, perm, ntr);
        }
        lab_tensor *x0 = o->emb_dim > 0 ? emb.weight : xd;
        double lsum = 0;
        int ok = 1;
        for (int64_t b = 0; ok && b < nb; b++) {
            int64_t i0 = b * bsz, mb = ntr - i0 < bsz ? ntr - i0 : bsz;
            lab_scope_begin();
            lab_tensor *pos = NULL, *neg = NULL;
            ok = step_pairs(&d, perm, i0, mb, mrr, dev, &erng, &pos, &neg) == 0;
            lab_tensor *h = ok ? lab_gnn_model_forward(m, g, x0, o->emb_dim > 0 ? NULL : xs, 1, rng, NULL) : NULL;
            lab_tensor *sp = decode(&dec, h, pos), *sn = decode(&dec, h, neg);
            lab_tensor *ones = lab_tensor_full(LAB_F32, 1, (int64_t[]){mb}, 1.0, dev);
            lab_tensor *zeros = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){mb}, dev);
            lab_tensor *loss = lab_add(lab_bce_with_logits(sp, ones), lab_bce_with_logits(sn, zeros));
            ok = loss && lab_backward(loss) == 0;
            if (ok && o->grad_clip > 0) ok = lab_clip_grad_norm(p, (float)o->grad_clip) >= 0;
            ok = ok && lab_optim_step(opt) == 0;
            lab_optim_zero_grad(opt);
            if (ok) lsum += lab_tensor_item(loss);
            lab_scope_end();
        }
        double lv = ok ? lsum / (double)(nb > 0 ? nb : 1) : NAN;
        lab_scope_begin();
        int prev = lab_grad_set_enabled(0);
        lab_tensor *he = ok ? lab_gnn_model_forward(m, g, x0, o->emb_dim > 0 ? NULL : xs, 0, NULL, NULL) : NULL;
        double va, vh[8], ta, th[8];
        int sok = he && link_scores(&dec, he, d.pos[1], d.neg[1], d.per_pos[1], o, &va, vh) == 0 &&
                  link_scores(&dec, he, d.pos[2], d.neg[2], d.per_pos[2], o, &ta, th) == 0;
        lab_grad_set_enabled(prev);
        lab_scope_end();
        if (!ok || !sok) goto out;
        lab_ctx_progress(ctx, e, o->epochs, 1, 1);
        lab_ctx_metrics(ctx, "train", LAB_KV({"loss", lv}));
        if (mrr) {
            lab_ctx_metrics(ctx, "val", LAB_KV({"mrr", va}));
            lab_ctx_metrics(ctx, "test", LAB_KV({"mrr", ta}));
        } else {
            lab_ctx_metrics(ctx, "val", LAB_KV({"auc", va}, {"hits", o->n_hits ? vh[0] : NAN}));
            lab_ctx_metrics(ctx, "test", LAB_KV({"auc", ta}, {"hits", o->n_hits ? th[0] : NAN}));
        }
        double sel = !mrr && d.ogb && o->n_hits ? vh[0] : va;
        if ((float)sel > bk[0]) { /* in float, as bk holds it: a tie is not an improvement */
            bk[0] = (float)sel, bk[1] = (float)e, bk[2] = 0, bk[3] = (float)ta;
            for (int k = 0; k < o->n_hits; k++) bk[4 + k] = (float)th[k];
        } else if (o->patience > 0 && ++bk[2] >= (float)o->patience) {
            e++;
            break;
        }
    }
    lab_kv res[12];
    int nres = 0;
    res[nres++] = (lab_kv){mrr ? "test_mrr" : "test_auc", bk[3]};
    static char names[8][32];
    for (int k = 0; k < o->n_hits; k++) {
        snprintf(names[k], sizeof names[k], "test_hits%lld", (long long)o->hits_k[k]);
        res[nres++] = (lab_kv){names[k], bk[4 + k]};
    }
    res[nres++] = (lab_kv){"val_score", bk[0]};
    res[nres++] = (lab_kv){"best_epoch", bk[1] + 1};
    res[nres++] = (lab_kv){"epochs", (double)e};
    for (int i = 0; i < nres; i++) lab_ctx_result(ctx, res[i].name, res[i].value);
    if (mrr)
        lab_ctx_log(ctx, "best val MRR %.2f at epoch %d: test MRR %.2f", bk[0], (int)bk[1] + 1, bk[3]);
    else
        lab_ctx_log(ctx, "best val %.2f at epoch %d: test ROC-AUC %.2f, Hits@%lld %.2f", bk[0], (int)bk[1] + 1, bk[3],
                    o->n_hits ? (long long)o->hits_k[0] : 0LL, o->n_hits ? bk[4] : NAN);
    if (virgo_record(ctx, o, res, nres) < 0) goto out;
    rc = 0;
out:
    while (lab_scope_depth() > depth) lab_scope_end();
    free(perm);
    lab_optim_free(opt);
    lab_gnn_model_free(m);
    lab_gnn_graph_free(g);
    lab_gnn_graph_free(gs);
    lab_csr_release(xs);
    lab_tensor_release(xd);
    lab_params_free(p);
    link_data_free(&d);
    return rc;
}
