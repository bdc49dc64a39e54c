/* Graph utilities: CSR adjacency with self-loops and normalisation, degrees,
 * link-prediction splits with negative sampling, stratified k-fold, and
 * batching of small graphs for graph classification.
 *
 * All host-side index work on i64 edge lists; the CSR is handed to
 * lab_csr_new (ops.h) on the requested device. Tested in
 * tests/unit/test_graph.c: hand-checked adjacency values on small graphs,
 * the split's disjointness / no-leakage / determinism properties on Cora-like
 * random graphs, fold balance, and batch offsets against the source graphs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lab/error.h"
#include "lab/graph.h"

/* --- helpers ------------------------------------------------------------------ */

/* Node ids are packed as u * N + v, so N is bounded well below 2^32. */
#define MAX_NODES ((int64_t)1 << 31)

static int check_nodes(const char *op, int64_t n)
{
    if (n < 0 || n > MAX_NODES)
        return lab_error_set("%s: num_nodes must be in [0, 2^31], got %lld", op, (long long)n);
    return 0;
}

/* edges must be i64 [2, E] on the cpu with ids in [0, n). */
static int check_edges(const char *op, const lab_tensor *edges, int64_t n, const int64_t **src,
                       const int64_t **dst, int64_t *ne)
{
    char buf[96];
    if (!edges) return -1;
    if (check_nodes(op, n) < 0) return -1;
    if (edges->dtype != LAB_I64 || edges->device.type != LAB_DEV_CPU || edges->ndim != 2 || edges->shape[0] != 2)
        return lab_error_set("%s: edges must be i64 [2, E] on the cpu, got %s", op,
                             lab_tensor_desc(edges, buf, sizeof buf));
    int64_t e = edges->shape[1];
    const int64_t *p = lab_tensor_i64(edges);
    for (int64_t i = 0; i < e; i++) {
        if (p[i] < 0 || p[i] >= n || p[e + i] < 0 || p[e + i] >= n)
            return lab_error_set("%s: edge %lld (%lld -> %lld) is out of range for %lld nodes", op, (long long)i,
                                 (long long)p[i], (long long)p[e + i], (long long)n);
    }
    *src = p;
    *dst = p + e;
    *ne = e;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A tensor outside every scope (owned by a struct). */
static lab_tensor *owned_i64(int ndim, const int64_t *shape, const int64_t *data)
{
    lab_tensor *t = data ? lab_tensor_from_data(LAB_I64, ndim, shape, data, LAB_CPU)
                         : lab_tensor_empty(LAB_I64, ndim, shape, LAB_CPU);
    return lab_tensor_own(t);
}

/* Open-addressing set of 64-bit keys (pairs packed as u * N + v). */
typedef struct {
    uint64_t *slot; /* key + 1; 0 = empty */
    size_t cap, n;
} pairset;

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static int pairset_init(pairset *s, size_t expect)
{
    s->cap = 16;
    while (s->cap < 2 * expect + 16) s->cap <<= 1;
    s->n = 0;
    s->slot = calloc(s->cap, sizeof *s->slot);
    return s->slot ? 0 : lab_error_set("graph: out of host memory for a set of %zu pairs", expect);
}

static void pairset_free(pairset *s) { free(s->slot); }

static int pairset_has(const pairset *s, uint64_t key)
{
    size_t m = s->cap - 1, i = (size_t)mix64(key) & m;
    while (s->slot[i]) {
        if (s->slot[i] == key + 1) return 1;
        i = (i + 1) & m;
    }
    return 0;
}

/* 1 when added, 0 when already present, -1 on allocation failure. */
static int pairset_add(pairset *s, uint64_t key)
{
    if (2 * (s->n + 1) > s->cap) {
        pairset g;
        g.cap = s->cap * 2;
        g.n = 0;
        g.slot = calloc(g.cap, sizeof *g.slot);
        if (!g.slot) return lab_error_set("graph: out of host memory growing a pair set");
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->slot[i]) continue;
            size_t j = (size_t)mix64(s->slot[i] - 1) & (g.cap - 1);
            while (g.slot[j]) j = (j + 1) & (g.cap - 1);
            g.slot[j] = s->slot[i];
            g.n++;
        }
        free(s->slot);
        *s = g;
    }
    size_t m = s->cap - 1, i = (size_t)mix64(key) & m;
    while (s->slot[i]) {
        if (s->slot[i] == key + 1) return 0;
        i = (i + 1) & m;
    }
    s->slot[i] = key + 1;
    s->n++;
    return 1;
}

static inline uint64_t pair_key(int64_t u, int64_t v, int64_t n)
{
    if (u > v) {
        int64_t t = u;
        u = v;
        v = t;
    }
    return (uint64_t)u * (uint64_t)n + (uint64_t)v;
}

/* --- adjacency ------------------------------------------------------------------ */

lab_csr *lab_graph_adjacency(const lab_tensor *edges, int64_t num_nodes, int self_loops, lab_graph_norm norm,
                             lab_device dev)
{
    const char *op = "graph_adjacency";
    const int64_t *src, *dst;
    int64_t e;
    if (check_edges(op, edges, num_nodes, &src, &dst, &e) < 0) return NULL;
    if (norm != LAB_GRAPH_NORM_NONE && norm != LAB_GRAPH_NORM_SYM && norm != LAB_GRAPH_NORM_RW) {
        lab_error_set("%s: unknown normalisation %d", op, (int)norm);
        return NULL;
    }
    int64_t n = num_nodes;
    int64_t *start = calloc((size_t)n + 1, sizeof *start);
    int64_t *rowptr = calloc((size_t)n + 1, sizeof *rowptr);
    int64_t *col = malloc((size_t)(e + 1) * sizeof *col);
    int64_t *outcol = malloc((size_t)(e + n + 1) * sizeof *outcol);
    float *val = malloc((size_t)(e + n + 1) * sizeof *val);
    double *dinv = malloc((size_t)(n + 1) * sizeof *dinv);
    lab_csr *a = NULL;
    if (!start || !rowptr || !col || !outcol || !val || !dinv) {
        lab_error_set("%s: out of host memory (%lld nodes, %lld edges)", op, (long long)n, (long long)e);
        goto done;
    }
    /* Bucket the edges by target (the row). */
    for (int64_t i = 0; i < e; i++)
        if (!(self_loops && src[i] == dst[i])) start[dst[i] + 1]++;
    for (int64_t r = 0; r < n; r++) start[r + 1] += start[r];
    {
        int64_t *cur = rowptr; /* reuse as a cursor, rebuilt below */
        memcpy(cur, start, (size_t)n * sizeof *cur);
        for (int64_t i = 0; i < e; i++)
            if (!(self_loops && src[i] == dst[i])) col[cur[dst[i]]++] = src[i];
    }
    /* Sort each row, drop duplicates, merge in the self-loop. */
    int64_t nnz = 0;
    rowptr[0] = 0;
    for (int64_t r = 0; r < n; r++) {
        int64_t b = start[r], len = start[r + 1] - b;
        qsort(col + b, (size_t)len, sizeof *col, cmp_i64);
        int loop_done = !self_loops;
        for (int64_t j = 0; j < len; j++) {
            int64_t c = col[b + j];
            if (j > 0 && c == col[b + j - 1]) continue;
            if (!loop_done && c > r) {
                outcol[nnz++] = r;
                loop_done = 1;
            }
            outcol[nnz++] = c;
        }
        if (!loop_done) outcol[nnz++] = r;
        rowptr[r + 1] = nnz;
    }
    for (int64_t r = 0; r < n; r++) {
        double d = (double)(rowptr[r + 1] - rowptr[r]);
        dinv[r] = d > 0 ? (norm == LAB_GRAPH_NORM_SYM ? 1.0 / sqrt(d) : 1.0 / d) : 0.0;
    }
    for (int64_t r = 0; r < n; r++) {
        for (int64_t j = rowptr[r]; j < rowptr[r + 1]; j++) {
            if (norm == LAB_GRAPH_NORM_SYM)
                val[j] = (float)(dinv[r] * dinv[outcol[j]]);
            else if (norm == LAB_GRAPH_NORM_RW)
                val[j] = (float)dinv[r];
            else
                val[j] = 1.0f;
        }
    }
    a = lab_csr_new(n, n, nnz, rowptr, outcol, val, dev);
    if (!a) lab_error_prefix("%s: ", op);
done:
    free(start);
    free(rowptr);
    free(col);
    free(outcol);
    free(val);
    free(dinv);
    return a;
}

lab_tensor *lab_graph_add_self_loops(const lab_tensor *edges, int64_t num_nodes)
{
    const int64_t *src, *dst;
    int64_t e;
    if (check_edges("graph_add_self_loops", edges, num_nodes, &src, &dst, &e) < 0) return NULL;
    int64_t keep = 0;
    for (int64_t i = 0; i < e; i++) keep += src[i] != dst[i];
    int64_t shape[2] = {2, keep + num_nodes};
    lab_tensor *out = lab_tensor_empty(LAB_I64, 2, shape, LAB_CPU);
    if (!out) return NULL;
    int64_t *os = lab_tensor_i64(out), *od = os + shape[1], k = 0;
    for (int64_t i = 0; i < e; i++) {
        if (src[i] == dst[i]) continue;
        os[k] = src[i];
        od[k++] = dst[i];
    }
    for (int64_t i = 0; i < num_nodes; i++) {
        os[k] = i;
        od[k++] = i;
    }
    return out;
}

/* --- degrees ---------------------------------------------------------------------- */

lab_tensor *lab_graph_degree(const lab_tensor *edges, int64_t num_nodes, int in)
{
    const int64_t *src, *dst;
    int64_t e;
    if (check_edges("graph_degree", edges, num_nodes, &src, &dst, &e) < 0) return NULL;
    lab_tensor *d = lab_tensor_zeros(LAB_I64, 1, &num_nodes, LAB_CPU);
    if (!d) return NULL;
    int64_t *p = lab_tensor_i64(d);
    const int64_t *ends = in ? dst : src;
    for (int64_t i = 0; i < e; i++) p[ends[i]]++;
    return d;
}

lab_tensor *lab_graph_degree_one_hot(const lab_tensor *edges, int64_t num_nodes, int64_t max_degree)
{
    const int64_t *src, *dst;
    int64_t e;
    if (check_edges("graph_degree_one_hot", edges, num_nodes, &src, &dst, &e) < 0) return NULL;
    if (max_degree < 0 || max_degree > 100000) {
        lab_error_set("graph_degree_one_hot: max_degree must be in [0, 100000], got %lld", (long long)max_degree);
        return NULL;
    }
    int64_t *deg = calloc((size_t)num_nodes + 1, sizeof *deg);
    if (!deg) {
        lab_error_set("graph_degree_one_hot: out of host memory");
        return NULL;
    }
    for (int64_t i = 0; i < e; i++) deg[dst[i]]++;
    int64_t shape[2] = {num_nodes, max_degree + 1};
    lab_tensor *t = lab_tensor_zeros(LAB_F32, 2, shape, LAB_CPU);
    if (t) {
        float *p = lab_tensor_f32(t);
        for (int64_t i = 0; i < num_nodes; i++)
            p[i * (max_degree + 1) + (deg[i] < max_degree ? deg[i] : max_degree)] = 1.0f;
    }
    free(deg);
    return t;
}

static void fill_stats(const int64_t *deg, int64_t n, lab_graph_degree_stats *st)
{
    memset(st, 0, sizeof *st);
    if (n == 0) return;
    double s = 0, s2 = 0;
    st->min = st->max = deg[0];
    for (int64_t i = 0; i < n; i++) {
        if (deg[i] < st->min) st->min = deg[i];
        if (deg[i] > st->max) st->max = deg[i];
        st->isolated += deg[i] == 0;
        s += (double)deg[i];
    }
    st->mean = s / (double)n;
    for (int64_t i = 0; i < n; i++) s2 += ((double)deg[i] - st->mean) * ((double)deg[i] - st->mean);
    st->std = sqrt(s2 / (double)n);
}

int lab_graph_degree_stats_get(const lab_tensor *edges, int64_t num_nodes, lab_graph_degree_stats *in,
                               lab_graph_degree_stats *out)
{
    const int64_t *src, *dst;
    int64_t e;
    if (check_edges("graph_degree_stats", edges, num_nodes, &src, &dst, &e) < 0) return -1;
    int64_t *din = calloc((size_t)num_nodes + 1, sizeof *din), *dout = calloc((size_t)num_nodes + 1, sizeof *dout);
    if (!din || !dout) {
        free(din);
        free(dout);
        return lab_error_set("graph_degree_stats: out of host memory");
    }
    for (int64_t i = 0; i < e; i++) {
        din[dst[i]]++;
        dout[src[i]]++;
    }
    if (in) fill_stats(din, num_nodes, in);
    if (out) fill_stats(dout, num_nodes, out);
    free(din);
    free(dout);
    return 0;
}

/* --- link prediction ---------------------------------------------------------------- */

/* Draw n distinct pairs u < v outside `pos` (and outside `taken`, to which
 * they are added) into us/vs. avail = pairs outside pos and taken. */
static int sample_non_edges(const char *op, int64_t num_nodes, const pairset *pos, pairset *taken, int64_t n,
                            lab_rng *rng, int64_t *us, int64_t *vs)
{
    int64_t total = num_nodes * (num_nodes - 1) / 2;
    int64_t avail = total - (int64_t)pos->n - (int64_t)taken->n;
    if (n > avail)
        return lab_error_set("%s: needs %lld negative pairs but only %lld node pairs are not edges (%lld nodes)", op,
                             (long long)n, (long long)avail, (long long)num_nodes);
    if (n == 0) return 0;
    if (2 * n <= avail) {
        /* Sparse case: rejection sampling accepts at least half the draws. */
        int64_t k = 0;
        while (k < n) {
            int64_t u = (int64_t)lab_rng_next_below(rng, (uint64_t)num_nodes);
            int64_t v = (int64_t)lab_rng_next_below(rng, (uint64_t)num_nodes);
            if (u == v) continue;
            uint64_t key = pair_key(u, v, num_nodes);
            if (pairset_has(pos, key)) continue;
            int r = pairset_add(taken, key);
            if (r < 0) return -1;
            if (r == 0) continue;
            us[k] = u < v ? u : v;
            vs[k] = u < v ? v : u;
            k++;
        }
        return 0;
    }
    /* Dense case: list every free pair (fewer than 2n of them) and take a
     * random n. */
    int64_t *cand = malloc((size_t)avail * sizeof *cand);
    if (!cand) return lab_error_set("%s: out of host memory", op);
    int64_t c = 0;
    for (int64_t u = 0; u < num_nodes && c < avail; u++)
        for (int64_t v = u + 1; v < num_nodes; v++) {
            uint64_t key = pair_key(u, v, num_nodes);
            if (!pairset_has(pos, key) && !pairset_has(taken, key)) cand[c++] = (int64_t)key;
        }
    lab_rng_shuffle_i64(rng, cand, c);
    int rc = 0;
    for (int64_t k = 0; k < n; k++) {
        uint64_t key = (uint64_t)cand[k];
        us[k] = (int64_t)(key / (uint64_t)num_nodes);
        vs[k] = (int64_t)(key % (uint64_t)num_nodes);
        if (pairset_add(taken, key) < 0) {
            rc = -1;
            break;
        }
    }
    free(cand);
    return rc;
}

void lab_graph_link_split_free(lab_graph_link_split *s)
{
    if (!s) return;
    lab_tensor_release(s->train_edges);
    lab_tensor_release(s->train_pos);
    lab_tensor_release(s->val_pos);
    lab_tensor_release(s->val_neg);
    lab_tensor_release(s->test_pos);
    lab_tensor_release(s->test_neg);
    free(s);
}

/* i64 [2, n] from two host arrays (owned, no scope). */
static lab_tensor *pairs_tensor(const int64_t *us, const int64_t *vs, int64_t n)
{
    int64_t shape[2] = {2, n};
    lab_tensor *t = owned_i64(2, shape, NULL);
    if (!t) return NULL;
    int64_t *p = lab_tensor_i64(t);
    if (n) {
        memcpy(p, us, (size_t)n * sizeof *p);
        memcpy(p + n, vs, (size_t)n * sizeof *p);
    }
    return t;
}

lab_graph_link_split *lab_graph_link_split_new(const lab_tensor *edges, int64_t num_nodes, double val_frac,
                                               double test_frac, lab_rng *rng)
{
    const char *op = "graph_link_split";
    const int64_t *src, *dst;
    int64_t e;
    if (check_edges(op, edges, num_nodes, &src, &dst, &e) < 0) return NULL;
    if (!rng) {
        lab_error_set("%s: NULL rng", op);
        return NULL;
    }
    if (!(val_frac >= 0 && test_frac >= 0 && val_frac + test_frac < 1)) {
        lab_error_set("%s: need val_frac >= 0, test_frac >= 0 and val_frac + test_frac < 1, got %g and %g", op,
                      val_frac, test_frac);
        return NULL;
    }
    lab_graph_link_split *s = calloc(1, sizeof *s);
    int64_t *us = malloc((size_t)(e + 1) * sizeof *us), *vs = malloc((size_t)(e + 1) * sizeof *vs);
    int64_t *perm = malloc((size_t)(e + 1) * sizeof *perm);
    int64_t *nu = NULL, *nv = NULL, *tu = NULL, *tv = NULL;
    pairset pos = {0}, neg = {0};
    if (!s || !us || !vs || !perm || pairset_init(&pos, (size_t)e) < 0 || pairset_init(&neg, 16) < 0) {
        if (!s || !us || !vs || !perm) lab_error_set("%s: out of host memory", op);
        goto fail;
    }
    s->num_nodes = num_nodes;
    /* Unique undirected pairs, in order of first appearance. */
    int64_t m = 0;
    for (int64_t i = 0; i < e; i++) {
        if (src[i] == dst[i]) continue;
        int r = pairset_add(&pos, pair_key(src[i], dst[i], num_nodes));
        if (r < 0) goto fail;
        if (r == 0) continue;
        us[m] = src[i] < dst[i] ? src[i] : dst[i];
        vs[m] = src[i] < dst[i] ? dst[i] : src[i];
        m++;
    }
    int64_t n_test = (int64_t)floor(test_frac * (double)m), n_val = (int64_t)floor(val_frac * (double)m);
    int64_t n_train = m - n_test - n_val;
    if (n_train < 1) {
        lab_error_set("%s: %lld undirected edges leave no training edge", op, (long long)m);
        goto fail;
    }
    for (int64_t i = 0; i < m; i++) perm[i] = i;
    lab_rng_shuffle_i64(rng, perm, m);
    int64_t nn = n_test + n_val;
    nu = malloc((size_t)(nn + 1) * sizeof *nu);
    nv = malloc((size_t)(nn + 1) * sizeof *nv);
    tu = malloc((size_t)(2 * n_train) * sizeof *tu);
    tv = malloc((size_t)(2 * n_train) * sizeof *tv);
    if (!nu || !nv || !tu || !tv) {
        lab_error_set("%s: out of host memory", op);
        goto fail;
    }
    /* Test negatives first, then validation, from one growing `taken` set. */
    if (sample_non_edges(op, num_nodes, &pos, &neg, n_test, rng, nu, nv) < 0) goto fail;
    if (sample_non_edges(op, num_nodes, &pos, &neg, n_val, rng, nu + n_test, nv + n_test) < 0) goto fail;
    /* Gather positives in permuted order: test, val, train. */
    int64_t *pu = malloc((size_t)(m + 1) * sizeof *pu), *pv = malloc((size_t)(m + 1) * sizeof *pv);
    if (!pu || !pv) {
        free(pu);
        free(pv);
        lab_error_set("%s: out of host memory", op);
        goto fail;
    }
    for (int64_t i = 0; i < m; i++) {
        pu[i] = us[perm[i]];
        pv[i] = vs[perm[i]];
    }
    for (int64_t i = 0; i < n_train; i++) {
        int64_t a = pu[nn + i], b = pv[nn + i];
        tu[2 * i] = a, tv[2 * i] = b;
        tu[2 * i + 1] = b, tv[2 * i + 1] = a;
    }
    s->test_pos = pairs_tensor(pu, pv, n_test);
    s->val_pos = pairs_tensor(pu + n_test, pv + n_test, n_val);
    s->train_pos = pairs_tensor(pu + nn, pv + nn, n_train);
    s->test_neg = pairs_tensor(nu, nv, n_test);
    s->val_neg = pairs_tensor(nu + n_test, nv + n_test, n_val);
    s->train_edges = pairs_tensor(tu, tv, 2 * n_train);
    free(pu);
    free(pv);
    if (!s->test_pos || !s->val_pos || !s->train_pos || !s->test_neg || !s->val_neg || !s->train_edges) goto fail;
    free(us), free(vs), free(perm), free(nu), free(nv), free(tu), free(tv);
    pairset_free(&pos);
    pairset_free(&neg);
    return s;
fail:
    free(us), free(vs), free(perm), free(nu), free(nv), free(tu), free(tv);
    pairset_free(&pos);
    pairset_free(&neg);
    lab_graph_link_split_free(s);
    return NULL;
}

lab_tensor *lab_graph_negative_sample(const lab_tensor *exclude, int64_t num_nodes, int64_t n, lab_rng *rng)
{
    const char *op = "graph_negative_sample";
    const int64_t *src, *dst;
    int64_t e;
    if (check_edges(op, exclude, num_nodes, &src, &dst, &e) < 0) return NULL;
    if (!rng || n < 0) {
        lab_error_set("%s: need an rng and n >= 0, got n = %lld", op, (long long)n);
        return NULL;
    }
    pairset pos = {0}, taken = {0};
    int64_t *us = malloc((size_t)(n + 1) * sizeof *us), *vs = malloc((size_t)(n + 1) * sizeof *vs);
    lab_tensor *out = NULL;
    if (!us || !vs) {
        lab_error_set("%s: out of host memory", op);
        goto done;
    }
    if (pairset_init(&pos, (size_t)e) < 0 || pairset_init(&taken, (size_t)n) < 0) goto done;
    for (int64_t i = 0; i < e; i++)
        if (src[i] != dst[i] && pairset_add(&pos, pair_key(src[i], dst[i], num_nodes)) < 0) goto done;
    if (sample_non_edges(op, num_nodes, &pos, &taken, n, rng, us, vs) < 0) goto done;
    int64_t shape[2] = {2, n};
    out = lab_tensor_empty(LAB_I64, 2, shape, LAB_CPU);
    if (out && n) {
        memcpy(lab_tensor_i64(out), us, (size_t)n * sizeof *us);
        memcpy(lab_tensor_i64(out) + n, vs, (size_t)n * sizeof *vs);
    }
done:
    free(us);
    free(vs);
    pairset_free(&pos);
    pairset_free(&taken);
    return out;
}

/* --- k-fold ------------------------------------------------------------------------ */

typedef struct {
    int64_t label, pos, item;
} kf_entry;

static int cmp_kf(const void *a, const void *b)
{
    const kf_entry *x = a, *y = b;
    if (x->label != y->label) return (x->label > y->label) - (x->label < y->label);
    return (x->pos > y->pos) - (x->pos < y->pos);
}

lab_tensor *lab_graph_kfold(const lab_tensor *labels, int k, lab_rng *rng)
{
    const char *op = "graph_kfold";
    char buf[96];
    if (!labels) return NULL;
    if (!rng) {
        lab_error_set("%s: NULL rng", op);
        return NULL;
    }
    if (labels->dtype != LAB_I64 || labels->device.type != LAB_DEV_CPU || labels->ndim != 1) {
        lab_error_set("%s: labels must be i64 [G] on the cpu, got %s", op, lab_tensor_desc(labels, buf, sizeof buf));
        return NULL;
    }
    int64_t g = labels->shape[0];
    if (k < 2 || k > g) {
        lab_error_set("%s: k must be in [2, %lld] for %lld items, got %d", op, (long long)g, (long long)g, k);
        return NULL;
    }
    const int64_t *y = lab_tensor_i64(labels);
    for (int64_t i = 0; i < g; i++)
        if (y[i] < 0) {
            lab_error_set("%s: label %lld of item %lld is negative", op, (long long)y[i], (long long)i);
            return NULL;
        }
    int64_t *order = malloc((size_t)g * sizeof *order);
    kf_entry *ent = malloc((size_t)g * sizeof *ent);
    lab_tensor *out = NULL;
    if (!order || !ent) {
        lab_error_set("%s: out of host memory", op);
        goto done;
    }
    for (int64_t i = 0; i < g; i++) order[i] = i;
    lab_rng_shuffle_i64(rng, order, g);
    for (int64_t p = 0; p < g; p++) ent[p] = (kf_entry){y[order[p]], p, order[p]};
    qsort(ent, (size_t)g, sizeof *ent, cmp_kf);
    out = lab_tensor_empty(LAB_I64, 1, &g, LAB_CPU);
    if (!out) goto done;
    int64_t *f = lab_tensor_i64(out);
    for (int64_t p = 0; p < g; p++) f[ent[p].item] = p % k;
done:
    free(order);
    free(ent);
    return out;
}

int lab_graph_kfold_split(const lab_tensor *folds, int i, lab_tensor **train, lab_tensor **test)
{
    const char *op = "graph_kfold_split";
    char buf[96];
    if (!train || !test) return lab_error_set("%s: NULL output pointer", op);
    *train = *test = NULL;
    if (!folds) return -1;
    if (folds->dtype != LAB_I64 || folds->device.type != LAB_DEV_CPU || folds->ndim != 1)
        return lab_error_set("%s: folds must be i64 [G] on the cpu, got %s", op, lab_tensor_desc(folds, buf, sizeof buf));
    int64_t g = folds->shape[0], nt = 0;
    const int64_t *f = lab_tensor_i64(folds);
    for (int64_t j = 0; j < g; j++) nt += f[j] == i;
    if (nt == 0) return lab_error_set("%s: fold %d has no items", op, i);
    int64_t ntr = g - nt;
    lab_tensor *tr = lab_tensor_empty(LAB_I64, 1, &ntr, LAB_CPU);
    lab_tensor *te = lab_tensor_empty(LAB_I64, 1, &nt, LAB_CPU);
    if (!tr || !te) {
        lab_tensor_release(lab_tensor_own(tr));
        lab_tensor_release(lab_tensor_own(te));
        return -1;
    }
    int64_t *ptr = lab_tensor_i64(tr), *pte = lab_tensor_i64(te);
    for (int64_t j = 0; j < g; j++) {
        if (f[j] == i)
            *pte++ = j;
        else
            *ptr++ = j;
    }
    *train = tr;
    *test = te;
    return 0;
}

/* --- graph sets and batches -------------------------------------------------------- */

struct lab_graph_set {
    int64_t g, n, e, f;
    lab_tensor *x, *edges, *ptr, *labels; /* retained */
    int64_t *eptr;  /* [G+1]: edges of graph g are eorder[eptr[g] .. eptr[g+1]) */
    int64_t *eorder;
};

void lab_graph_set_free(lab_graph_set *s)
{
    if (!s) return;
    lab_tensor_release(s->x);
    lab_tensor_release(s->edges);
    lab_tensor_release(s->ptr);
    lab_tensor_release(s->labels);
    free(s->eptr);
    free(s->eorder);
    free(s);
}

int64_t lab_graph_set_size(const lab_graph_set *s) { return s ? s->g : 0; }

lab_graph_set *lab_graph_set_new(lab_tensor *x, lab_tensor *edges, lab_tensor *graph_ptr, lab_tensor *labels)
{
    const char *op = "graph_set";
    char buf[96];
    if (!x || !edges || !graph_ptr) return NULL;
    if (x->dtype != LAB_F32 || x->device.type != LAB_DEV_CPU || x->ndim != 2) {
        lab_error_set("%s: x must be f32 [N, F] on the cpu, got %s", op, lab_tensor_desc(x, buf, sizeof buf));
        return NULL;
    }
    int64_t n = x->shape[0];
    if (graph_ptr->dtype != LAB_I64 || graph_ptr->device.type != LAB_DEV_CPU || graph_ptr->ndim != 1 ||
        graph_ptr->shape[0] < 1) {
        lab_error_set("%s: graph_ptr must be i64 [G + 1] on the cpu, got %s", op,
                      lab_tensor_desc(graph_ptr, buf, sizeof buf));
        return NULL;
    }
    int64_t g = graph_ptr->shape[0] - 1;
    const int64_t *gp = lab_tensor_i64(graph_ptr);
    if (gp[0] != 0 || gp[g] != n) {
        lab_error_set("%s: graph_ptr must run from 0 to N = %lld, got %lld .. %lld", op, (long long)n,
                      (long long)gp[0], (long long)gp[g]);
        return NULL;
    }
    for (int64_t i = 0; i < g; i++)
        if (gp[i + 1] < gp[i]) {
            lab_error_set("%s: graph_ptr decreases at graph %lld (%lld > %lld)", op, (long long)i, (long long)gp[i],
                          (long long)gp[i + 1]);
            return NULL;
        }
    if (labels && (labels->dtype != LAB_I64 || labels->device.type != LAB_DEV_CPU || labels->ndim != 1 ||
                   labels->shape[0] != g)) {
        lab_error_set("%s: labels must be i64 [%lld] on the cpu, got %s", op, (long long)g,
                      lab_tensor_desc(labels, buf, sizeof buf));
        return NULL;
    }
    const int64_t *src, *dst;
    int64_t e;
    if (check_edges(op, edges, n, &src, &dst, &e) < 0) return NULL;
    lab_graph_set *s = calloc(1, sizeof *s);
    int64_t *gof = malloc((size_t)(n + 1) * sizeof *gof);
    if (!s || !gof) goto oom;
    s->eptr = calloc((size_t)g + 2, sizeof *s->eptr);
    s->eorder = malloc((size_t)(e + 1) * sizeof *s->eorder);
    if (!s->eptr || !s->eorder) goto oom;
    for (int64_t i = 0; i < g; i++)
        for (int64_t v = gp[i]; v < gp[i + 1]; v++) gof[v] = i;
    for (int64_t i = 0; i < e; i++) {
        if (gof[src[i]] != gof[dst[i]]) {
            lab_error_set("%s: edge %lld (%lld -> %lld) joins graph %lld and graph %lld", op, (long long)i,
                          (long long)src[i], (long long)dst[i], (long long)gof[src[i]], (long long)gof[dst[i]]);
            goto fail;
        }
        s->eptr[gof[src[i]] + 1]++;
    }
    for (int64_t i = 0; i < g; i++) s->eptr[i + 1] += s->eptr[i];
    {
        int64_t *cur = malloc((size_t)(g + 1) * sizeof *cur);
        if (!cur) goto oom;
        memcpy(cur, s->eptr, (size_t)(g + 1) * sizeof *cur);
        for (int64_t i = 0; i < e; i++) s->eorder[cur[gof[src[i]]]++] = i;
        free(cur);
    }
    free(gof);
    s->g = g;
    s->n = n;
    s->e = e;
    s->f = x->shape[1];
    s->x = lab_tensor_retain(x);
    s->edges = lab_tensor_retain(edges);
    s->ptr = lab_tensor_retain(graph_ptr);
    s->labels = labels ? lab_tensor_retain(labels) : NULL;
    return s;
oom:
    lab_error_set("%s: out of host memory (%lld nodes, %lld graphs)", op, (long long)n, (long long)g);
fail:
    free(gof);
    lab_graph_set_free(s);
    return NULL;
}

void lab_graph_batch_free(lab_graph_batch *b)
{
    if (!b) return;
    lab_tensor_release(b->x);
    lab_tensor_release(b->edges);
    lab_tensor_release(b->batch);
    lab_tensor_release(b->ptr);
    lab_tensor_release(b->y);
    free(b);
}

lab_graph_batch *lab_graph_set_batch(const lab_graph_set *s, const int64_t *ids, int64_t n)
{
    const char *op = "graph_batch";
    if (!s || !ids || n < 1) {
        lab_error_set("%s: need a graph set and at least one id, got n = %lld", op, (long long)n);
        return NULL;
    }
    const int64_t *gp = lab_tensor_i64(s->ptr);
    int64_t nodes = 0, nedges = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= s->g) {
            lab_error_set("%s: graph id %lld at position %lld is out of range [0, %lld)", op, (long long)ids[i],
                          (long long)i, (long long)s->g);
            return NULL;
        }
        nodes += gp[ids[i] + 1] - gp[ids[i]];
        nedges += s->eptr[ids[i] + 1] - s->eptr[ids[i]];
    }
    lab_graph_batch *b = calloc(1, sizeof *b);
    if (!b) {
        lab_error_set("%s: out of host memory", op);
        return NULL;
    }
    b->num_graphs = n;
    b->num_nodes = nodes;
    int64_t xs[2] = {nodes, s->f}, es[2] = {2, nedges}, ps = n + 1;
    b->x = lab_tensor_own(lab_tensor_empty(LAB_F32, 2, xs, LAB_CPU));
    b->edges = owned_i64(2, es, NULL);
    b->batch = owned_i64(1, &nodes, NULL);
    b->ptr = owned_i64(1, &ps, NULL);
    b->y = s->labels ? owned_i64(1, &n, NULL) : NULL;
    if (!b->x || !b->edges || !b->batch || !b->ptr || (s->labels && !b->y)) {
        lab_graph_batch_free(b);
        return NULL;
    }
    const float *x = lab_tensor_f32(s->x);
    const int64_t *src = lab_tensor_i64(s->edges), *dst = src + s->e;
    const int64_t *lab = s->labels ? lab_tensor_i64(s->labels) : NULL;
    float *bx = lab_tensor_f32(b->x);
    int64_t *bs = lab_tensor_i64(b->edges), *bd = bs + nedges, *bb = lab_tensor_i64(b->batch);
    int64_t *bp = lab_tensor_i64(b->ptr), *by = b->y ? lab_tensor_i64(b->y) : NULL;
    int64_t off = 0, k = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t g = ids[i], g0 = gp[g], cnt = gp[g + 1] - g0;
        bp[i] = off;
        if (cnt) memcpy(bx + off * s->f, x + g0 * s->f, (size_t)(cnt * s->f) * sizeof *bx);
        for (int64_t v = 0; v < cnt; v++) bb[off + v] = i;
        for (int64_t j = s->eptr[g]; j < s->eptr[g + 1]; j++) {
            int64_t ei = s->eorder[j];
            bs[k] = src[ei] - g0 + off;
            bd[k] = dst[ei] - g0 + off;
            k++;
        }
        if (by) by[i] = lab[g];
        off += cnt;
    }
    bp[n] = off;
    return b;
}
