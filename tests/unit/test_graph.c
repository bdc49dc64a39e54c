/* Tests of lab/graph.h: adjacency and normalisation checked against values
 * worked out by hand, link splits and k-folds checked for the properties
 * they promise (disjoint, no leakage, stratified, deterministic), batching
 * checked against the source graphs. */
#include <string.h>

#include "labtest.h"
#include "lab/graph.h"
#include "lab/loader.h"

static lab_tensor *edge_tensor(const int64_t *src, const int64_t *dst, int64_t e)
{
    int64_t *buf = malloc((size_t)(2 * e + 1) * sizeof *buf);
    memcpy(buf, src, (size_t)e * sizeof *buf);
    memcpy(buf + e, dst, (size_t)e * sizeof *buf);
    int64_t shape[2] = {2, e};
    lab_tensor *t = lab_tensor_from_data(LAB_I64, 2, shape, buf, LAB_CPU);
    free(buf);
    return t;
}

/* Path 0-1-2 (both directions), a self-loop on 1, a duplicate 0->1, and an
 * isolated node 3. */
static lab_tensor *path_graph(void)
{
    const int64_t src[] = {0, 1, 1, 2, 1, 0};
    const int64_t dst[] = {1, 0, 2, 1, 1, 1};
    return edge_tensor(src, dst, 6);
}

static void assert_i64(const lab_tensor *t, const int64_t *want, int64_t n)
{
    cr_assert_eq(t->numel, n, "numel %lld, want %lld", (long long)t->numel, (long long)n);
    const int64_t *p = lab_tensor_i64(t);
    for (int64_t i = 0; i < n; i++)
        cr_assert_eq(p[i], want[i], "at %lld: %lld, want %lld", (long long)i, (long long)p[i], (long long)want[i]);
}

Test(graph, adjacency_sym_norm_with_self_loops)
{
    lab_scope_begin();
    lab_csr *a = lab_graph_adjacency(path_graph(), 4, 1, LAB_GRAPH_NORM_SYM, LAB_CPU);
    cr_assert_not_null(a, "%s", lab_error());
    cr_assert_eq(a->rows, 4);
    cr_assert_eq(a->nnz, 8);
    /* A + I rows: {0,1} {0,1,2} {1,2} {3}; degrees 2, 3, 2, 1. */
    const int64_t rowptr[] = {0, 2, 5, 7, 8}, col[] = {0, 1, 0, 1, 2, 1, 2, 3};
    assert_i64(a->rowptr, rowptr, 5);
    assert_i64(a->colind, col, 8);
    const float s6 = (float)(1 / sqrt(6.0));
    const float val[] = {0.5f, s6, s6, 1.0f / 3, s6, s6, 0.5f, 1.0f};
    lt_assert_tensor_close(a->values, val, 1e-7, 1e-6);
    lab_csr_release(a);
    lab_scope_end();
}

Test(graph, adjacency_random_walk_rows_sum_to_one)
{
    lab_scope_begin();
    lab_csr *a = lab_graph_adjacency(path_graph(), 4, 1, LAB_GRAPH_NORM_RW, LAB_CPU);
    cr_assert_not_null(a);
    const float val[] = {0.5f, 0.5f, 1.0f / 3, 1.0f / 3, 1.0f / 3, 0.5f, 0.5f, 1.0f};
    lt_assert_tensor_close(a->values, val, 1e-7, 1e-6);
    /* Through lab_spmm: A_rw @ ones = ones. */
    int64_t shape[2] = {4, 2};
    lab_tensor *y = lab_spmm(a, lab_tensor_full(LAB_F32, 2, shape, 1.0, LAB_CPU));
    cr_assert_not_null(y, "%s", lab_error());
    const float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    lt_assert_tensor_close(y, ones, 1e-6, 0);
    lab_csr_release(a);
    lab_scope_end();
}

Test(graph, adjacency_without_self_loops_keeps_given_ones)
{
    lab_scope_begin();
    lab_csr *a = lab_graph_adjacency(path_graph(), 4, 0, LAB_GRAPH_NORM_NONE, LAB_CPU);
    cr_assert_not_null(a);
    /* Rows {1} {0,1,2} {1} {}: the listed loop on 1 stays, the duplicate counts once. */
    const int64_t rowptr[] = {0, 1, 4, 5, 5}, col[] = {1, 0, 1, 2, 1};
    assert_i64(a->rowptr, rowptr, 5);
    assert_i64(a->colind, col, 5);
    const float ones[5] = {1, 1, 1, 1, 1};
    lt_assert_tensor_close(a->values, ones, 0, 0);
    lab_csr_release(a);
    lab_scope_end();
}

Test(graph, adjacency_rows_are_targets)
{
    lab_scope_begin();
    /* One directed edge 0 -> 1: row 1 aggregates from column 0. */
    const int64_t s[] = {0}, d[] = {1};
    lab_csr *a = lab_graph_adjacency(edge_tensor(s, d, 1), 2, 1, LAB_GRAPH_NORM_SYM, LAB_CPU);
    const int64_t rowptr[] = {0, 1, 3}, col[] = {0, 0, 1};
    assert_i64(a->rowptr, rowptr, 3);
    assert_i64(a->colind, col, 3);
    /* deg = (1, 2): (0,0) 1, (1,0) 1/sqrt(2), (1,1) 1/2. */
    const float val[] = {1.0f, (float)(1 / sqrt(2.0)), 0.5f};
    lt_assert_tensor_close(a->values, val, 1e-7, 1e-6);
    lab_csr_release(a);
    lab_scope_end();
}

Test(graph, adjacency_errors)
{
    lab_scope_begin();
    const int64_t s[] = {0, 5}, d[] = {1, 2};
    cr_assert_null(lab_graph_adjacency(edge_tensor(s, d, 2), 4, 1, LAB_GRAPH_NORM_SYM, LAB_CPU));
    lt_assert_error_contains("graph_adjacency: edge 1 (5 -> 2) is out of range for 4 nodes");
    int64_t shape[2] = {3, 2};
    cr_assert_null(lab_graph_adjacency(lab_tensor_zeros(LAB_I64, 2, shape, LAB_CPU), 4, 1, LAB_GRAPH_NORM_SYM, LAB_CPU));
    lt_assert_error_contains("edges must be i64 [2, E] on the cpu, got i64[3, 2]");
    cr_assert_null(lab_graph_adjacency(NULL, 4, 1, LAB_GRAPH_NORM_SYM, LAB_CPU));
    lab_scope_end();
}

Test(graph, add_self_loops_exactly_one_per_node)
{
    lab_scope_begin();
    lab_tensor *e = lab_graph_add_self_loops(path_graph(), 4);
    cr_assert_not_null(e);
    /* The loop (1, 1) goes; 5 edges stay in order, then (0,0) .. (3,3). */
    const int64_t want[] = {0, 1, 1, 2, 0, 0, 1, 2, 3, /* row 1: */ 1, 0, 2, 1, 1, 0, 1, 2, 3};
    assert_i64(e, want, 18);
    lab_scope_end();
}

Test(graph, degrees_and_statistics)
{
    lab_scope_begin();
    /* Directed star 0 -> 1, 2, 3 plus 1 -> 2; node 4 isolated. */
    const int64_t s[] = {0, 0, 0, 1}, d[] = {1, 2, 3, 2};
    lab_tensor *e = edge_tensor(s, d, 4);
    const int64_t din[] = {0, 1, 2, 1, 0}, dout[] = {3, 1, 0, 0, 0};
    assert_i64(lab_graph_degree(e, 5, 1), din, 5);
    assert_i64(lab_graph_degree(e, 5, 0), dout, 5);
    lab_graph_degree_stats in, out;
    cr_assert_eq(lab_graph_degree_stats_get(e, 5, &in, &out), 0);
    cr_assert_eq(in.min, 0);
    cr_assert_eq(in.max, 2);
    cr_assert_eq(in.isolated, 2);
    cr_assert(fabs(in.mean - 0.8) < 1e-12);
    cr_assert(fabs(in.std - sqrt((0.64 + 0.04 + 1.44 + 0.04 + 0.64) / 5)) < 1e-12);
    cr_assert_eq(out.max, 3);
    cr_assert_eq(out.isolated, 3);
    lab_tensor *oh = lab_graph_degree_one_hot(e, 5, 1);
    const float want[] = {1, 0, 0, 1, 0, 1, 0, 1, 1, 0}; /* in-degree 2 clamps to 1 */
    lt_assert_tensor_close(oh, want, 0, 0);
    lab_scope_end();
}

/* A reproducible random undirected graph (both directions listed). */
static lab_tensor *random_graph(int64_t n, int64_t pairs, uint64_t seed)
{
    lab_rng r = lab_rng_make(seed, 0);
    int64_t *s = malloc((size_t)(2 * pairs) * sizeof *s), *d = malloc((size_t)(2 * pairs) * sizeof *d);
    for (int64_t i = 0; i < pairs; i++) {
        int64_t u = (int64_t)lab_rng_next_below(&r, (uint64_t)n), v = (int64_t)lab_rng_next_below(&r, (uint64_t)n);
        s[2 * i] = u, d[2 * i] = v;
        s[2 * i + 1] = v, d[2 * i + 1] = u;
    }
    lab_tensor *t = edge_tensor(s, d, 2 * pairs);
    free(s);
    free(d);
    return t;
}

/* Set of keys u*N+v (u < v) as a sorted array for membership checks. */
static int64_t *pair_keys(const lab_tensor *t, int64_t n, int64_t *count)
{
    int64_t e = t->shape[1];
    const int64_t *p = lab_tensor_i64(t);
    int64_t *k = malloc((size_t)(e + 1) * sizeof *k);
    for (int64_t i = 0; i < e; i++) {
        int64_t u = p[i], v = p[e + i];
        k[i] = u < v ? u * n + v : v * n + u;
    }
    *count = e;
    return k;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int has_key(const int64_t *sorted, int64_t n, int64_t key)
{
    return bsearch(&key, sorted, (size_t)n, sizeof key, cmp64) != NULL;
}

Test(graph, link_split_counts_disjoint_no_leakage)
{
    lab_scope_begin();
    const int64_t N = 300;
    lab_tensor *g = random_graph(N, 1600, 3);
    /* Unique undirected non-loop pairs of g. */
    int64_t ne, m = 0;
    int64_t *all = pair_keys(g, N, &ne);
    int64_t *uniq = malloc((size_t)ne * sizeof *uniq);
    qsort(all, (size_t)ne, sizeof *all, cmp64);
    for (int64_t i = 0; i < ne; i++) {
        if (all[i] / N == all[i] % N) continue; /* self-loop */
        if (m && uniq[m - 1] == all[i]) continue;
        uniq[m++] = all[i];
    }

    lab_rng rng = lab_rng_make(42, 0);
    lab_graph_link_split *s = lab_graph_link_split_new(g, N, 0.05, 0.10, &rng);
    cr_assert_not_null(s, "%s", lab_error());
    int64_t nt = (int64_t)floor(0.10 * m), nv = (int64_t)floor(0.05 * m);
    cr_assert_eq(s->test_pos->shape[1], nt);
    cr_assert_eq(s->val_pos->shape[1], nv);
    cr_assert_eq(s->train_pos->shape[1], m - nt - nv);
    cr_assert_eq(s->test_neg->shape[1], nt);
    cr_assert_eq(s->val_neg->shape[1], nv);
    cr_assert_eq(s->train_edges->shape[1], 2 * (m - nt - nv));

    /* Positives: u < v, partition the original pairs. */
    const lab_tensor *parts[3] = {s->train_pos, s->val_pos, s->test_pos};
    int64_t *seen = malloc((size_t)m * sizeof *seen), ns = 0;
    for (int p = 0; p < 3; p++) {
        const int64_t *q = lab_tensor_i64(parts[p]);
        int64_t e = parts[p]->shape[1];
        for (int64_t i = 0; i < e; i++) {
            cr_assert(q[i] < q[e + i], "positive pair not ordered");
            int64_t key = q[i] * N + q[e + i];
            cr_assert(has_key(uniq, m, key), "positive (%lld, %lld) is not an edge", (long long)q[i], (long long)q[e + i]);
            seen[ns++] = key;
        }
    }
    qsort(seen, (size_t)ns, sizeof *seen, cmp64);
    cr_assert_eq(ns, m);
    for (int64_t i = 0; i < m; i++) cr_assert_eq(seen[i], uniq[i], "positives are not a partition");

    /* No leakage: the training graph holds both directions of train_pos only. */
    int64_t ntr;
    int64_t *trk = pair_keys(s->train_edges, N, &ntr);
    qsort(trk, (size_t)ntr, sizeof *trk, cmp64);
    int64_t nvk, ntk;
    int64_t *vk = pair_keys(s->val_pos, N, &nvk), *tk = pair_keys(s->test_pos, N, &ntk);
    for (int64_t i = 0; i < nvk; i++) cr_assert(!has_key(trk, ntr, vk[i]), "val edge in the training graph");
    for (int64_t i = 0; i < ntk; i++) cr_assert(!has_key(trk, ntr, tk[i]), "test edge in the training graph");
    for (int64_t i = 0; i < ntr; i += 2) cr_assert_eq(trk[i], trk[i + 1], "train edge without its reverse");

    /* Negatives: never positive, distinct, val and test disjoint. */
    int64_t nvn, ntn;
    int64_t *vn = pair_keys(s->val_neg, N, &nvn), *tn = pair_keys(s->test_neg, N, &ntn);
    int64_t *negs = malloc((size_t)(nvn + ntn) * sizeof *negs);
    memcpy(negs, vn, (size_t)nvn * sizeof *negs);
    memcpy(negs + nvn, tn, (size_t)ntn * sizeof *negs);
    for (int64_t i = 0; i < nvn + ntn; i++) {
        cr_assert(!has_key(uniq, m, negs[i]), "negative is an edge");
        cr_assert(negs[i] / N != negs[i] % N, "negative self-loop");
    }
    qsort(negs, (size_t)(nvn + ntn), sizeof *negs, cmp64);
    for (int64_t i = 1; i < nvn + ntn; i++) cr_assert(negs[i] != negs[i - 1], "duplicate negative");

    /* Deterministic for a seed, different for another. */
    lab_rng again = lab_rng_make(42, 0), other = lab_rng_make(43, 0);
    lab_graph_link_split *s2 = lab_graph_link_split_new(g, N, 0.05, 0.10, &again);
    lab_graph_link_split *s3 = lab_graph_link_split_new(g, N, 0.05, 0.10, &other);
    size_t bytes = (size_t)s->test_pos->numel * 8;
    cr_assert_eq(memcmp(lab_tensor_i64(s->test_pos), lab_tensor_i64(s2->test_pos), bytes), 0);
    cr_assert_eq(memcmp(lab_tensor_i64(s->test_neg), lab_tensor_i64(s2->test_neg), bytes), 0);
    cr_assert_eq(memcmp(lab_tensor_i64(s->train_edges), lab_tensor_i64(s2->train_edges),
                        (size_t)s->train_edges->numel * 8), 0);
    cr_assert_neq(memcmp(lab_tensor_i64(s->test_pos), lab_tensor_i64(s3->test_pos), bytes), 0);

    lab_graph_link_split_free(s);
    lab_graph_link_split_free(s2);
    lab_graph_link_split_free(s3);
    free(all), free(uniq), free(seen), free(trk), free(vk), free(tk), free(vn), free(tn), free(negs);
    lab_scope_end();
}

Test(graph, link_split_errors)
{
    lab_scope_begin();
    lab_rng rng = lab_rng_make(1, 0);
    lab_tensor *g = random_graph(20, 30, 1);
    cr_assert_null(lab_graph_link_split_new(g, 20, 0.5, 0.5, &rng));
    lt_assert_error_contains("val_frac + test_frac < 1");
    /* A triangle's complement is empty: no negatives to draw. */
    const int64_t s[] = {0, 1, 2}, d[] = {1, 2, 0};
    cr_assert_null(lab_graph_link_split_new(edge_tensor(s, d, 3), 3, 0.0, 0.34, &rng));
    lt_assert_error_contains("needs 1 negative pairs but only 0 node pairs are not edges (3 nodes)");
    lab_scope_end();
}

Test(graph, negative_sample_sparse_and_dense)
{
    lab_scope_begin();
    lab_rng rng = lab_rng_make(9, 0);
    /* Dense: 6 nodes, 12 of 15 pairs are edges, ask for all 3 others. */
    int64_t s[12], d[12], k = 0;
    for (int64_t u = 0; u < 6; u++)
        for (int64_t v = u + 1; v < 6; v++)
            if (!((u == 0 && v == 5) || (u == 1 && v == 3) || (u == 2 && v == 4))) s[k] = u, d[k++] = v;
    lab_tensor *ex = edge_tensor(s, d, 12);
    lab_tensor *neg = lab_graph_negative_sample(ex, 6, 3, &rng);
    cr_assert_not_null(neg, "%s", lab_error());
    int64_t n;
    int64_t *keys = pair_keys(neg, 6, &n);
    qsort(keys, 3, sizeof *keys, cmp64);
    const int64_t want[3] = {0 * 6 + 5, 1 * 6 + 3, 2 * 6 + 4};
    for (int i = 0; i < 3; i++) cr_assert_eq(keys[i], want[i]);
    free(keys);
    cr_assert_null(lab_graph_negative_sample(ex, 6, 4, &rng));
    lt_assert_error_contains("needs 4 negative pairs but only 3");
    /* Sparse: 500 from a 300-node graph, none an edge, all distinct. */
    lab_tensor *g = random_graph(300, 1000, 5);
    lab_tensor *ns = lab_graph_negative_sample(g, 300, 500, &rng);
    int64_t ne, nn;
    int64_t *ek = pair_keys(g, 300, &ne), *nk = pair_keys(ns, 300, &nn);
    qsort(ek, (size_t)ne, sizeof *ek, cmp64);
    qsort(nk, (size_t)nn, sizeof *nk, cmp64);
    cr_assert_eq(nn, 500);
    for (int64_t i = 0; i < nn; i++) {
        cr_assert(!has_key(ek, ne, nk[i]));
        cr_assert(i == 0 || nk[i] != nk[i - 1]);
    }
    free(ek);
    free(nk);
    lab_scope_end();
}

Test(graph, stratified_kfold)
{
    lab_scope_begin();
    /* MUTAG-like: 125 of class 1, 63 of class 0, interleaved. */
    int64_t G = 188, y[188];
    for (int64_t i = 0; i < G; i++) y[i] = (i % 3 == 0 && i / 3 < 63) ? 0 : 1;
    int64_t c0 = 0;
    for (int64_t i = 0; i < G; i++) c0 += y[i] == 0;
    cr_assert_eq(c0, 63);
    lab_tensor *labels = lab_tensor_from_data(LAB_I64, 1, &G, y, LAB_CPU);
    lab_rng rng = lab_rng_make(7, 0);
    lab_tensor *folds = lab_graph_kfold(labels, 10, &rng);
    cr_assert_not_null(folds, "%s", lab_error());
    const int64_t *f = lab_tensor_i64(folds);
    int64_t size[10] = {0}, per[10][2] = {{0}};
    for (int64_t i = 0; i < G; i++) {
        cr_assert(f[i] >= 0 && f[i] < 10);
        size[f[i]]++;
        per[f[i]][y[i]]++;
    }
    for (int k = 0; k < 10; k++) {
        cr_assert(size[k] == 18 || size[k] == 19, "fold %d has %lld", k, (long long)size[k]);
        cr_assert(per[k][0] == 6 || per[k][0] == 7, "fold %d class 0: %lld", k, (long long)per[k][0]);
        cr_assert(per[k][1] == 12 || per[k][1] == 13, "fold %d class 1: %lld", k, (long long)per[k][1]);
    }
    /* Train/test of each fold are disjoint and cover everything. */
    int64_t covered[188] = {0};
    for (int k = 0; k < 10; k++) {
        lab_tensor *tr, *te;
        cr_assert_eq(lab_graph_kfold_split(folds, k, &tr, &te), 0);
        cr_assert_eq(tr->numel + te->numel, G);
        for (int64_t i = 0; i < te->numel; i++) {
            int64_t id = lab_tensor_i64(te)[i];
            cr_assert_eq(f[id], k);
            covered[id]++;
        }
        for (int64_t i = 0; i < tr->numel; i++) cr_assert_neq(f[lab_tensor_i64(tr)[i]], k);
    }
    for (int64_t i = 0; i < G; i++) cr_assert_eq(covered[i], 1);
    /* Deterministic; another seed deals differently. */
    lab_rng r2 = lab_rng_make(7, 0), r3 = lab_rng_make(8, 0);
    cr_assert_eq(memcmp(f, lab_tensor_i64(lab_graph_kfold(labels, 10, &r2)), G * 8), 0);
    cr_assert_neq(memcmp(f, lab_tensor_i64(lab_graph_kfold(labels, 10, &r3)), G * 8), 0);
    cr_assert_null(lab_graph_kfold(labels, 1, &rng));
    lt_assert_error_contains("graph_kfold: k must be in [2, 188] for 188 items, got 1");
    lab_tensor *tr, *te;
    cr_assert_eq(lab_graph_kfold_split(folds, 10, &tr, &te), -1);
    lt_assert_error_contains("fold 10 has no items");
    lab_scope_end();
}

Test(graph, batch_offsets_and_readout)
{
    lab_scope_begin();
    /* g0: nodes 0-2, path; g1: nodes 3-4, one edge; g2: node 5 alone. The
     * edge list mixes graphs on purpose. */
    const int64_t s[] = {3, 0, 1, 4, 1, 2}, d[] = {4, 1, 0, 3, 2, 1};
    lab_tensor *e = edge_tensor(s, d, 6);
    float xv[12];
    for (int i = 0; i < 12; i++) xv[i] = (float)i;
    int64_t xs[2] = {6, 2}, four = 4, three = 3;
    lab_tensor *x = lab_tensor_from_f32(xv, 2, xs);
    const int64_t ptr[] = {0, 3, 5, 6}, lab[] = {1, 0, 2};
    lab_graph_set *set = lab_graph_set_new(x, e, lab_tensor_from_data(LAB_I64, 1, &four, ptr, LAB_CPU),
                                           lab_tensor_from_data(LAB_I64, 1, &three, lab, LAB_CPU));
    cr_assert_not_null(set, "%s", lab_error());
    cr_assert_eq(lab_graph_set_size(set), 3);
    const int64_t ids[] = {2, 0, 1};
    lab_graph_batch *b = lab_graph_set_batch(set, ids, 3);
    cr_assert_not_null(b, "%s", lab_error());
    cr_assert_eq(b->num_graphs, 3);
    cr_assert_eq(b->num_nodes, 6);
    const float wx[] = {10, 11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    lt_assert_tensor_close(b->x, wx, 0, 0);
    const int64_t wb[] = {0, 1, 1, 1, 2, 2}, wp[] = {0, 1, 4, 6}, wy[] = {2, 1, 0};
    assert_i64(b->batch, wb, 6);
    assert_i64(b->ptr, wp, 4);
    assert_i64(b->y, wy, 3);
    /* g0's edges (0->1, 1->0, 1->2, 2->1) move to rows 1..3, g1's to 4..5. */
    const int64_t we[] = {1, 2, 2, 3, 4, 5, /* targets */ 2, 1, 3, 2, 5, 4};
    assert_i64(b->edges, we, 12);
    /* Readout through lab_segment_sum: per-graph sums of x. */
    lab_tensor *pooled = lab_segment_sum(b->x, b->batch, 3);
    cr_assert_not_null(pooled, "%s", lab_error());
    const float wpool[] = {10, 11, 0 + 2 + 4, 1 + 3 + 5, 6 + 8, 7 + 9};
    lt_assert_tensor_close(pooled, wpool, 1e-6, 0);
    lab_graph_batch_free(b);
    const int64_t bad_ids[] = {0, 3};
    cr_assert_null(lab_graph_set_batch(set, bad_ids, 2));
    lt_assert_error_contains("graph id 3 at position 1 is out of range [0, 3)");
    lab_graph_set_free(set);

    /* An edge joining two graphs is refused. */
    const int64_t s2[] = {0, 2}, d2[] = {1, 3};
    cr_assert_null(lab_graph_set_new(x, edge_tensor(s2, d2, 2), lab_tensor_from_data(LAB_I64, 1, &four, ptr, LAB_CPU),
                                     NULL));
    lt_assert_error_contains("graph_set: edge 1 (2 -> 3) joins graph 0 and graph 1");
    lab_scope_end();
}

/* --- on the real data, when shared/data is reachable ------------------------ */

Test(graph, real_cora_split_and_mutag_batches)
{
    char dir[4096];
    if (lab_dataset_locate("cora", NULL, dir, sizeof dir) != 0 || lab_dataset_locate("tu:MUTAG", NULL, dir, sizeof dir) != 0)
        cr_skip_test("shared data not found: %s", lab_error());
    lab_dataset *cora = lab_dataset_open(&(lab_data_spec){.name = "cora"});
    cr_assert_not_null(cora, "%s", lab_error());
    const lab_planetoid *p = cora->planetoid;
    /* Cora: 10556 directed edges = 5278 undirected; 527 test, 263 val. */
    lab_rng rng = lab_rng_make(0, 0);
    lab_graph_link_split *s = lab_graph_link_split_new(p->edges, p->num_nodes, 0.05, 0.10, &rng);
    cr_assert_not_null(s, "%s", lab_error());
    cr_assert_eq(s->test_pos->shape[1], 527);
    cr_assert_eq(s->val_pos->shape[1], 263);
    cr_assert_eq(s->train_pos->shape[1], 5278 - 527 - 263);
    lab_graph_degree_stats in;
    cr_assert_eq(lab_graph_degree_stats_get(p->edges, p->num_nodes, &in, NULL), 0);
    cr_assert_eq(in.max, 168);
    cr_assert_eq(in.isolated, 0);
    cr_assert(fabs(in.mean - 10556.0 / 2708) < 1e-9);
    lab_csr *a = lab_graph_adjacency(p->edges, p->num_nodes, 1, LAB_GRAPH_NORM_SYM, LAB_CPU);
    cr_assert_not_null(a);
    cr_assert_eq(a->nnz, 10556 + 2708);
    lab_csr_release(a);
    lab_graph_link_split_free(s);
    lab_dataset_free(cora);

    lab_dataset *mutag = lab_dataset_open(&(lab_data_spec){.name = "tu:MUTAG"});
    cr_assert_not_null(mutag, "%s", lab_error());
    const lab_tu *t = mutag->tu;
    lab_scope_begin();
    lab_tensor *x = lab_one_hot(t->node_labels, t->num_node_labels);
    cr_assert_not_null(x, "%s", lab_error());
    lab_graph_set *set = lab_graph_set_new(x, t->edges, t->graph_ptr, t->graph_labels);
    cr_assert_not_null(set, "%s", lab_error());
    int64_t ids[188];
    for (int i = 0; i < 188; i++) ids[i] = i;
    lab_graph_batch *b = lab_graph_set_batch(set, ids, 188);
    cr_assert_not_null(b);
    /* All graphs in order give back the whole data set. */
    cr_assert_eq(b->num_nodes, t->num_nodes);
    cr_assert_eq(memcmp(lab_tensor_i64(b->edges), lab_tensor_i64(t->edges), (size_t)t->edges->numel * 8), 0);
    cr_assert_eq(memcmp(lab_tensor_i64(b->batch), lab_tensor_i64(t->graph_of_node), (size_t)t->num_nodes * 8), 0);
    lab_graph_batch_free(b);
    lab_graph_set_free(set);
    lab_scope_end();
    lab_dataset_free(mutag);
}
