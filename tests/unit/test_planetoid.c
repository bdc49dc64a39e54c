/* Planetoid reader and its pickle machine: Cora and CiteSeer against numbers
 * computed once with a Python reference loader (pickle + numpy + scipy, the
 * PyG preprocessing), PubMed's present files, PubMed- and CiteSeer-shaped
 * sets written by the test in the byte layout of the real Python 2 pickles,
 * and corrupt parts. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "labtest.h"
#include "lab/data.h"
#include "../../framework/data/data_int.h"

#define PLANETOID "../shared/data/planetoid" /* tests run from the repository root */

typedef struct {
    const char *name;
    int64_t nodes, features, classes, edges, train, test_first, test_last;
    double feat_sum, feat_wsum;
    long long label_sum, label_wsum, edge_sum, edge_wsum;
    int64_t first[3], last[3];
} ref_t;

static const ref_t cora = {"cora",     2708,     1433,    7,          10556,      140, 1708, 2707, 49216.0,
                           6047809.0,  7781,     978935,  27640436LL, 2422698494LL, {3, 4, 4}, {3, 3, 3}};
static const ref_t citeseer = {"CiteSeer", 3327,     3703,    6,          9104,         120, 2312, 3326, 105165.0,
                               13051638.0, 8953,     1113380, 29709792LL, 2593087929LL, {3, 1, 5}, {3, 1, 5}};

static void check_ref(const ref_t *r)
{
    lab_planetoid *p = lab_planetoid_read(PLANETOID, r->name);
    cr_assert_not_null(p, "%s: %s", r->name, lab_error());
    cr_assert_eq(p->num_nodes, r->nodes);
    cr_assert_eq(p->num_features, r->features);
    cr_assert_eq(p->num_classes, r->classes);
    cr_assert_eq(p->num_edges, r->edges, "%s: %lld edges", r->name, (long long)p->num_edges);
    cr_assert_eq(p->features->shape[0], r->nodes);
    cr_assert_eq(p->features->shape[1], r->features);
    cr_assert_eq(p->edges->shape[0], 2);
    cr_assert_eq(p->edges->shape[1], r->edges);
    cr_assert_eq(p->train_idx->numel, r->train);
    cr_assert_eq(p->val_idx->numel, 500);
    cr_assert_eq(p->test_idx->numel, 1000);
    const int64_t *tr = lab_tensor_i64(p->train_idx), *va = lab_tensor_i64(p->val_idx), *te = lab_tensor_i64(p->test_idx);
    cr_assert_eq(tr[0], 0);
    cr_assert_eq(tr[r->train - 1], r->train - 1);
    cr_assert_eq(va[0], r->train);
    cr_assert_eq(va[499], r->train + 499);
    cr_assert_eq(te[0], r->test_first);
    cr_assert_eq(te[999], r->test_last);
    for (int i = 1; i < 1000; i++) cr_assert_lt(te[i - 1], te[i]);
    const float *f = lab_tensor_f32(p->features);
    double fs = 0, fw = 0;
    for (int64_t i = 0; i < p->num_nodes; i++) {
        double row = 0;
        for (int64_t j = 0; j < p->num_features; j++) row += f[i * p->num_features + j];
        fs += row;
        fw += row * (double)(i % 251 + 1);
    }
    cr_assert_eq(fs, r->feat_sum, "%s: feature sum %.1f", r->name, fs);
    cr_assert_eq(fw, r->feat_wsum, "%s: weighted feature sum %.1f", r->name, fw);
    const int64_t *l = lab_tensor_i64(p->labels);
    long long ls = 0, lw = 0;
    for (int64_t i = 0; i < p->num_nodes; i++) {
        cr_assert(l[i] >= 0 && l[i] < r->classes);
        ls += l[i];
        lw += l[i] * (i % 251 + 1);
    }
    cr_assert_eq(ls, r->label_sum, "%s: label sum %lld", r->name, ls);
    cr_assert_eq(lw, r->label_wsum);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(l[i], r->first[i]);
        cr_assert_eq(l[r->nodes - 3 + i], r->last[i]);
    }
    const int64_t *e = lab_tensor_i64(p->edges);
    long long es = 0, ew = 0;
    int64_t E = p->num_edges;
    for (int64_t i = 0; i < E; i++) {
        cr_assert_neq(e[i], e[E + i], "self-loop at %lld", (long long)i);
        if (i) cr_assert(e[i - 1] < e[i] || (e[i - 1] == e[i] && e[E + i - 1] < e[E + i]), "not sorted/unique at %lld",
                         (long long)i);
        es += e[i] + e[E + i];
        ew += e[i] * (i % 251 + 1) + e[E + i] * (i % 97 + 1);
    }
    cr_assert_eq(es, r->edge_sum, "%s: edge sum %lld", r->name, es);
    cr_assert_eq(ew, r->edge_wsum, "%s: weighted edge sum %lld", r->name, ew);
    lab_planetoid_free(p);
}

Test(planetoid, cora) { check_ref(&cora); }
Test(planetoid, citeseer) { check_ref(&citeseer); }

/* CiteSeer's 15 test ids missing from test.index: zero rows, label 0 (PyG). */
Test(planetoid, citeseer_isolated_nodes)
{
    static const int64_t missing[15] = {2407, 2489, 2553, 2682, 2781, 2953, 3042, 3063,
                                        3212, 3214, 3250, 3292, 3305, 3306, 3309};
    lab_planetoid *p = lab_planetoid_read(PLANETOID, "citeseer");
    cr_assert_not_null(p, "%s", lab_error());
    const float *f = lab_tensor_f32(p->features);
    for (int k = 0; k < 15; k++) {
        int64_t n = missing[k];
        for (int64_t j = 0; j < p->num_features; j++) cr_assert_eq(f[n * p->num_features + j], 0.0f);
        cr_assert_eq(lab_tensor_i64(p->labels)[n], 0);
        for (int64_t i = 0; i < 1000; i++) cr_assert_neq(lab_tensor_i64(p->test_idx)[i], n);
    }
    lab_planetoid_free(p);
}

/* ind.pubmed.allx is not staged: a clear error naming it; the other PubMed
 * pickles parse to what Python sees. */
Test(planetoid, pubmed_present_files)
{
    lab_error_clear();
    cr_assert_null(lab_planetoid_read(PLANETOID, "PubMed"));
    lt_assert_error_contains("ind.pubmed.allx");
    lt_assert_error_contains("hint:");

    uint8_t *b;
    size_t n;
    lab_pk_arena *a;
    cr_assert_eq(lab_data_read_file("t", PLANETOID "/ind.pubmed.tx", 1 << 30, &b, &n), 0);
    lab_pk *o = lab_pickle_load(b, n, "ind.pubmed.tx", &a);
    cr_assert_not_null(o, "%s", lab_error());
    int64_t shape[2], *idx, *ptr;
    double *val;
    cr_assert_eq(lab_pk_csr(o, "tx", shape, &val, &idx, &ptr), 0, "%s", lab_error());
    cr_assert_eq(shape[0], 1000);
    cr_assert_eq(shape[1], 500);
    cr_assert_eq(ptr[1000], 50140);
    double s = 0;
    for (int64_t k = 0; k < 50140; k++) s += val[k];
    cr_assert(fabs(s - 1964.495735) < 1e-3, "tx value sum %.6f", s);
    free(val), free(idx), free(ptr);
    lab_pickle_free(a);
    free(b);

    cr_assert_eq(lab_data_read_file("t", PLANETOID "/ind.pubmed.graph", 1 << 30, &b, &n), 0);
    o = lab_pickle_load(b, n, "ind.pubmed.graph", &a);
    cr_assert_not_null(o, "%s", lab_error());
    int64_t nk, *keys, *nb;
    cr_assert_eq(lab_pk_adjacency(o, "graph", &nk, &keys, &ptr, &nb), 0, "%s", lab_error());
    cr_assert_eq(nk, 19717);
    cr_assert_eq(ptr[nk], 88676);
    long long ks = 0, ns = 0;
    for (int64_t i = 0; i < nk; i++) ks += keys[i];
    for (int64_t i = 0; i < ptr[nk]; i++) ns += nb[i];
    cr_assert_eq(ks, 194370186LL);
    cr_assert_eq(ns, 864709429LL);
    cr_assert_eq(nb[0], 14442); /* graph[0] = [14442, 1378, 1544, 6092, 7636] */
    cr_assert_eq(ptr[1], 5);
    free(keys), free(ptr), free(nb);
    lab_pickle_free(a);
    free(b);

    cr_assert_eq(lab_data_read_file("t", PLANETOID "/ind.pubmed.ally", 1 << 30, &b, &n), 0);
    o = lab_pickle_load(b, n, "ind.pubmed.ally", &a);
    int nd;
    cr_assert_eq(lab_pk_ndarray(o, "ally", shape, &nd, &val), 0, "%s", lab_error());
    cr_assert_eq(nd, 2);
    cr_assert_eq(shape[0], 18717);
    cr_assert_eq(shape[1], 3);
    long long am = 0;
    for (int64_t i = 0; i < shape[0]; i++) {
        int best = 0;
        for (int j = 1; j < 3; j++)
            if (val[i * 3 + j] > val[i * 3 + best]) best = j;
        am += best;
    }
    cr_assert_eq(am, 22262);
    free(val);
    lab_pickle_free(a);
    free(b);
}

/* --- pickles in the layout of the real files (Python 2 cPickle, protocol 2) --- */

typedef struct {
    uint8_t *b;
    size_t n, cap;
    unsigned memo;
} pk;

static void raw(pk *w, const void *p, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 64;
        w->b = realloc(w->b, w->cap);
    }
    memcpy(w->b + w->n, p, n);
    w->n += n;
}
static void op(pk *w, uint8_t o) { raw(w, &o, 1); }
static void u32(pk *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    raw(w, b, 4);
}
static void put(pk *w)
{
    if (w->memo < 256) {
        op(w, 'q'), op(w, (uint8_t)w->memo++);
    } else {
        op(w, 'r'), u32(w, w->memo++);
    }
}
static void pint(pk *w, int64_t v)
{
    if (v >= 0 && v < 256) op(w, 'K'), op(w, (uint8_t)v);
    else if (v >= 0 && v < 65536) op(w, 'M'), op(w, (uint8_t)v), op(w, (uint8_t)(v >> 8));
    else op(w, 'J'), u32(w, (uint32_t)v);
}
static void sstr(pk *w, const char *s) { op(w, 'U'), op(w, (uint8_t)strlen(s)), raw(w, s, strlen(s)); }
static void glob(pk *w, const char *g) { op(w, 'c'), raw(w, g, strlen(g)), put(w); }

/* numpy.core.multiarray._reconstruct(ndarray, (0,), 'b') + BUILD state */
static void ndarray(pk *w, int ndim, int64_t r, int64_t c, const char *dt, const void *data, size_t bytes)
{
    glob(w, "numpy.core.multiarray\n_reconstruct\n");
    glob(w, "numpy\nndarray\n");
    pint(w, 0), op(w, 0x85), sstr(w, "b"), op(w, 0x87), op(w, 'R'), put(w);
    op(w, '('), pint(w, 1), pint(w, r);
    if (ndim == 2) pint(w, c), op(w, 0x86);
    else op(w, 0x85);
    glob(w, "numpy\ndtype\n");
    sstr(w, dt), pint(w, 0), pint(w, 1), op(w, 0x87), op(w, 'R'), put(w);
    op(w, '('), pint(w, 3), sstr(w, "<"), op(w, 'N'), op(w, 'N'), op(w, 'N');
    op(w, 'J'), u32(w, 0xffffffff), op(w, 'J'), u32(w, 0xffffffff), pint(w, 0), op(w, 't'), op(w, 'b');
    op(w, 0x89), op(w, 'T'), u32(w, (uint32_t)bytes), raw(w, data, bytes), op(w, 't'), op(w, 'b');
}

static void write_pk(const char *path, pk *w)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    cr_assert_eq(fwrite(w->b, 1, w->n, f), w->n);
    fclose(f);
    free(w->b);
}

/* A dense float matrix pickled as scipy.sparse.csr_matrix (zeros left out). */
static void write_csr(const char *path, int64_t rows, int64_t cols, const float *dense)
{
    int32_t *ptr = malloc((size_t)(rows + 1) * 4), *idx = malloc((size_t)(rows * cols + 1) * 4);
    float *val = malloc((size_t)(rows * cols + 1) * 4);
    int32_t nnz = 0;
    ptr[0] = 0;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++)
            if (dense[r * cols + c] != 0) idx[nnz] = (int32_t)c, val[nnz++] = dense[r * cols + c];
        ptr[r + 1] = nnz;
    }
    pk w = {0};
    op(&w, 0x80), op(&w, 2);
    glob(&w, "scipy.sparse.csr\ncsr_matrix\n");
    op(&w, ')'), op(&w, 0x81), put(&w), op(&w, '}'), put(&w), op(&w, '(');
    sstr(&w, "format"), put(&w), sstr(&w, "csr");
    sstr(&w, "_shape"), put(&w), pint(&w, rows), pint(&w, cols), op(&w, 0x86);
    sstr(&w, "indptr"), put(&w), ndarray(&w, 1, rows + 1, 0, "i4", ptr, (size_t)(rows + 1) * 4);
    sstr(&w, "_cs_matrix__has_sorted_indices"), put(&w), op(&w, 0x88);
    sstr(&w, "indices"), put(&w), ndarray(&w, 1, nnz, 0, "i4", idx, (size_t)nnz * 4);
    sstr(&w, "maxprint"), put(&w), pint(&w, 50);
    sstr(&w, "data"), put(&w), ndarray(&w, 1, nnz, 0, "f4", val, (size_t)nnz * 4);
    op(&w, 'u'), op(&w, 'b'), op(&w, '.');
    write_pk(path, &w);
    free(ptr), free(idx), free(val);
}

/* One-hot int32 labels [rows, classes] as a numpy array. */
static void write_onehot(const char *path, int64_t rows, int classes, const int *label)
{
    int32_t *v = calloc((size_t)(rows * classes + 1), 4);
    for (int64_t r = 0; r < rows; r++)
        if (label[r] >= 0) v[r * classes + label[r]] = 1;
    pk w = {0};
    op(&w, 0x80), op(&w, 2);
    ndarray(&w, 2, rows, classes, "i4", v, (size_t)(rows * classes) * 4);
    op(&w, '.');
    write_pk(path, &w);
    free(v);
}

/* defaultdict(list) with LONG_BINPUT once the memo passes 255, APPEND for
 * one-element lists and MARK ... APPENDS otherwise, SETITEMS per 1000 keys. */
static void write_graph(const char *path, int64_t n, int64_t (*nbr)(int64_t, int), const int *deg)
{
    pk w = {0};
    op(&w, 0x80), op(&w, 2);
    glob(&w, "collections\ndefaultdict\n");
    glob(&w, "__builtin__\nlist\n");
    op(&w, 0x85), op(&w, 'R'), put(&w);
    for (int64_t k = 0; k < n; k++) {
        if (k % 1000 == 0) op(&w, '(');
        pint(&w, k), op(&w, ']'), put(&w);
        if (deg[k] == 1) pint(&w, nbr(k, 0)), op(&w, 'a');
        else if (deg[k] > 1) {
            op(&w, '(');
            for (int j = 0; j < deg[k]; j++) pint(&w, nbr(k, j));
            op(&w, 'e');
        }
        if (k % 1000 == 999 || k == n - 1) op(&w, 'u');
    }
    op(&w, '.');
    write_pk(path, &w);
}

static char tmpdir[64];

static void mk_tmp(void)
{
    strcpy(tmpdir, "/tmp/labtest_planetoid_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static const char *path_of(const char *set, const char *partname)
{
    static char p[8][256];
    static int k;
    char *s = p[k++ & 7];
    snprintf(s, 256, "%s/ind.%s.%s", tmpdir, set, partname);
    return s;
}

/* A small set shaped like PubMed (3 classes, 20 per class for training,
 * float TF-IDF-like features, shuffled test ids) or, with gaps, like CiteSeer. */
enum { S_TRAIN = 60, S_ALL = 600, S_TEST = 40, S_F = 7, S_C = 3 };
static int64_t s_nodes;

static int64_t ring_nbr(int64_t k, int j)
{
    /* neighbours k+1, k+2 (mod n), a self-loop and a repeat: the last two must vanish */
    switch (j) {
    case 0: return (k + 1) % s_nodes;
    case 1: return (k + 2) % s_nodes;
    case 2: return k;
    default: return (k + 1) % s_nodes;
    }
}

static float feat(int64_t node, int j) { return ((node * 7 + j * 3) % 5 == 0) ? 0.0f : (float)((node % 13) + j) * 0.125f; }
static int label(int64_t node) { return (int)((node * 5 + 1) % S_C); }

/* test ids: S_ALL .. S_ALL+S_TEST-1 (+ gaps), in a shuffled order */
static void make_set(const char *set, int gaps, int64_t *test_ids)
{
    int64_t ids[S_TEST + 8];
    int n = 0;
    for (int64_t id = S_ALL; n < S_TEST; id++)
        if (!gaps || id % 7 != 3) ids[n++] = id;
    s_nodes = ids[S_TEST - 1] + 1;
    for (int i = 0; i < S_TEST; i++) test_ids[i] = ids[(i * 17) % S_TEST]; /* 17 is coprime to 40 */

    float *allx = calloc(S_ALL * S_F, 4), *x = calloc(S_TRAIN * S_F, 4), *tx = calloc(S_TEST * S_F, 4);
    int ally[S_ALL], y[S_TRAIN], ty[S_TEST];
    for (int64_t i = 0; i < S_ALL; i++) {
        for (int j = 0; j < S_F; j++) allx[i * S_F + j] = feat(i, j);
        ally[i] = i % 50 == 49 ? -1 : label(i); /* some unlabelled rows: label 0 by argmax */
    }
    memcpy(x, allx, S_TRAIN * S_F * 4);
    memcpy(y, ally, sizeof y);
    for (int i = 0; i < S_TEST; i++) {
        for (int j = 0; j < S_F; j++) tx[i * S_F + j] = feat(test_ids[i], j);
        ty[i] = label(test_ids[i]);
    }
    write_csr(path_of(set, "x"), S_TRAIN, S_F, x);
    write_csr(path_of(set, "allx"), S_ALL, S_F, allx);
    write_csr(path_of(set, "tx"), S_TEST, S_F, tx);
    write_onehot(path_of(set, "y"), S_TRAIN, S_C, y);
    write_onehot(path_of(set, "ally"), S_ALL, S_C, ally);
    write_onehot(path_of(set, "ty"), S_TEST, S_C, ty);
    int *deg = malloc((size_t)s_nodes * sizeof *deg);
    for (int64_t k = 0; k < s_nodes; k++) deg[k] = (int)(k % 5); /* 0..4 neighbours */
    write_graph(path_of(set, "graph"), s_nodes, ring_nbr, deg);
    FILE *f = fopen(path_of(set, "test.index"), "w");
    for (int i = 0; i < S_TEST; i++) fprintf(f, "%lld\n", (long long)test_ids[i]);
    fclose(f);
    free(allx), free(x), free(tx), free(deg);
}

static void check_small(const lab_planetoid *p, int gaps, const int64_t *test_ids)
{
    cr_assert_eq(p->num_nodes, s_nodes);
    cr_assert_eq(p->num_features, S_F);
    cr_assert_eq(p->num_classes, S_C);
    cr_assert_eq(p->train_idx->numel, S_TRAIN);
    cr_assert_eq(p->val_idx->numel, 500);
    cr_assert_eq(lab_tensor_i64(p->val_idx)[0], S_TRAIN);
    cr_assert_eq(p->test_idx->numel, S_TEST);
    const float *f = lab_tensor_f32(p->features);
    const int64_t *l = lab_tensor_i64(p->labels);
    char is_test[1024] = {0};
    for (int i = 0; i < S_TEST; i++) is_test[test_ids[i]] = 1;
    for (int64_t n = 0; n < s_nodes; n++) {
        int present = n < S_ALL || is_test[n];
        for (int j = 0; j < S_F; j++)
            cr_assert_eq(f[n * S_F + j], present ? feat(n, j) : 0.0f, "node %lld feature %d", (long long)n, j);
        int want = !present || (n < S_ALL && n % 50 == 49) ? 0 : label(n);
        cr_assert_eq(l[n], want, "node %lld label %lld, want %d", (long long)n, (long long)l[n], want);
    }
    /* ring edges k -> k+1 (deg >= 1), k -> k+2 (deg >= 2), symmetrised */
    char *adj = calloc((size_t)(s_nodes * s_nodes), 1);
    int64_t E = 0;
    for (int64_t k = 0; k < s_nodes; k++)
        for (int j = 0; j < (int)(k % 5) && j < 2; j++) {
            int64_t v = ring_nbr(k, j);
            adj[k * s_nodes + v] = adj[v * s_nodes + k] = 1;
        }
    for (int64_t i = 0; i < s_nodes * s_nodes; i++) E += adj[i];
    cr_assert_eq(p->num_edges, E, "%lld edges, want %lld", (long long)p->num_edges, (long long)E);
    const int64_t *e = lab_tensor_i64(p->edges);
    for (int64_t i = 0; i < E; i++) cr_assert(adj[e[i] * s_nodes + e[E + i]], "edge %lld not expected", (long long)i);
    free(adj);
    (void)gaps;
}

Test(planetoid, pubmed_shaped_set)
{
    mk_tmp();
    int64_t test_ids[S_TEST];
    make_set("pubmed", 0, test_ids);
    lab_planetoid *p = lab_planetoid_read(tmpdir, "pubmed");
    cr_assert_not_null(p, "%s", lab_error());
    check_small(p, 0, test_ids);
    cr_assert_eq(p->num_nodes, S_ALL + S_TEST);
    lab_planetoid_free(p);
    rm_tmp();
}

Test(planetoid, citeseer_shaped_gaps)
{
    mk_tmp();
    int64_t test_ids[S_TEST];
    make_set("gappy", 1, test_ids);
    lab_planetoid *p = lab_planetoid_read(tmpdir, "gappy");
    cr_assert_not_null(p, "%s", lab_error());
    cr_assert_gt(p->num_nodes, S_ALL + S_TEST);
    check_small(p, 1, test_ids);
    lab_planetoid_free(p);
    rm_tmp();
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void expect_fail(const char *needle)
{
    lab_error_clear();
    lab_planetoid *p = lab_planetoid_read(tmpdir, "pubmed");
    cr_assert_null(p, "accepted (want \"%s\")", needle);
    cr_assert(strstr(lab_error(), needle), "error \"%s\" lacks \"%s\"", lab_error(), needle);
}

Test(planetoid, inconsistent_parts)
{
    mk_tmp();
    int64_t ids[S_TEST];
    make_set("pubmed", 0, ids);
    float wide[S_TEST * (S_F + 1)];
    for (int i = 0; i < S_TEST * (S_F + 1); i++) wide[i] = 1;
    write_csr(path_of("pubmed", "tx"), S_TEST, S_F + 1, wide);
    expect_fail("feature widths differ: x 7, tx 8, allx 7");

    make_set("pubmed", 0, ids);
    int lab[S_TEST] = {0};
    write_onehot(path_of("pubmed", "ty"), S_TEST - 1, S_C, lab);
    expect_fail("row counts disagree");

    make_set("pubmed", 0, ids);
    write_onehot(path_of("pubmed", "ty"), S_TEST, S_C + 1, lab);
    expect_fail("class counts differ");

    make_set("pubmed", 0, ids);
    char text[1024] = "", *t = text;
    for (int i = 0; i < S_TEST; i++) t += sprintf(t, "%d\n", i == 5 ? S_ALL + 1 : S_ALL + i);
    write_text(path_of("pubmed", "test.index"), text);
    expect_fail("lists node 601 twice");
    t = text;
    for (int i = 0; i < S_TEST; i++) t += sprintf(t, "%d\n", S_ALL + 1 + i);
    write_text(path_of("pubmed", "test.index"), text);
    expect_fail("starts at node 601, but the test nodes follow the 600 rows");
    t = text;
    for (int i = 0; i < S_TEST; i++) t += sprintf(t, "%d\n", i == S_TEST - 1 ? 100000 : S_ALL + i);
    write_text(path_of("pubmed", "test.index"), text);
    expect_fail("40 test ids spread over 99401 ids");
    write_text(path_of("pubmed", "test.index"), "600\nabc\n");
    expect_fail("test.index: line 2: not a node id");
    write_text(path_of("pubmed", "test.index"), "600\n\n601\n");
    expect_fail("line 3: data after a blank line");

    make_set("pubmed", 0, ids);
    s_nodes = S_ALL + S_TEST + 1; /* one node more than the features: its id is out of range */
    int deg[S_ALL + S_TEST + 1];
    for (int i = 0; i < S_ALL + S_TEST + 1; i++) deg[i] = 1;
    write_graph(path_of("pubmed", "graph"), S_ALL + S_TEST + 1, ring_nbr, deg);
    expect_fail("ind.pubmed.graph: neighbour 640 of node 639 is outside the 640 nodes");

    make_set("pubmed", 0, ids);
    unlink(path_of("pubmed", "ty"));
    expect_fail("cannot open");
    rm_tmp();
}

/* Truncations and single-byte corruptions of the real Cora pickles fail with
 * an error naming the file (or, rarely, still parse to a consistent set);
 * never a crash or a leak. */
Test(planetoid, corrupt_cora_pickles)
{
    mk_tmp();
    static const char *parts[] = {"x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"};
    uint8_t *orig[8];
    size_t len[8];
    for (int i = 0; i < 8; i++) {
        char src[256];
        snprintf(src, sizeof src, PLANETOID "/ind.cora.%s", parts[i]);
        cr_assert_eq(lab_data_read_file("t", src, 1 << 30, &orig[i], &len[i]), 0);
    }
    for (int victim = 0; victim < 7; victim++) {
        for (int trial = 0; trial < 12; trial++) {
            for (int i = 0; i < 8; i++) {
                FILE *f = fopen(path_of("pubmed", parts[i]), "wb");
                size_t n = len[i];
                uint8_t *b = malloc(n);
                memcpy(b, orig[i], n);
                if (i == victim) {
                    size_t at = (size_t)(trial * 7919) % n;
                    if (trial % 2) n = at; /* truncate */
                    else b[at] ^= (uint8_t)(0x41 + trial);
                }
                fwrite(b, 1, n, f);
                fclose(f);
                free(b);
            }
            lab_error_clear();
            lab_planetoid *p = lab_planetoid_read(tmpdir, "pubmed");
            if (!p) {
                cr_assert(strstr(lab_error(), "ind.pubmed.") || strstr(lab_error(), "planetoid:"),
                          "part %s trial %d: \"%s\"", parts[victim], trial, lab_error());
                if (trial % 2) cr_assert(strstr(lab_error(), parts[victim]), "%s", lab_error());
            } else {
                cr_assert_eq(trial % 2, 0, "a truncated %s was accepted", parts[victim]);
                lab_planetoid_free(p);
            }
        }
    }
    for (int i = 0; i < 8; i++) free(orig[i]);
    rm_tmp();
}

Test(pickle, rejects_what_the_files_never_use)
{
#define C(s, needle) {s, sizeof(s) - 1, needle}
    struct {
        const char *bytes;
        size_t n;
        const char *needle;
    } cases[] = {
        C("\x80\x02K\x01.", NULL),
        C("\x80\x03K\x01.", "protocol 3"),
        C("\x80\x02G\x00.", "opcode 0x47"),
        C("\x80\x02" "cos\nsystem\n.", "global os.system"),
        C("\x80\x02K\x01K\x02.", "2 objects on the stack"),
        C("\x80\x02K\x01.K", "1 bytes after STOP"),
        C("\x80\x02K\x01", "no STOP"),
        C("\x80\x02(K\x01.", "unclosed MARK"),
        C("\x80\x02h\x05.", "memo index 5 was never stored"),
        C("\x80\x02K\x01r\xff\xff\xff\x7f.", "implausibly large"),
        C("\x80\x02T\xff\xff\xff\xff", "negative length"),
        C("\x80\x02T\x10\x00\x00\x00" "ab", "truncated"),
        C("\x80\x02K\x01K\x02" "a.", "APPEND to something that is not a list"),
        C("\x80\x02}K\x01u.", "no MARK"),
        C("\x80\x02}(K\x01u.", "odd number of keys"),
        C("\x80\x02" "e.", "no MARK"),
        C("\x80\x02\x85.", "stack underflow"),
        C("\x80\x02)K\x01" "b.", "BUILD on an object that is not"),
        C("\x80\x02" "c__builtin__\nlist\n)R.", "REDUCE of something other than"),
    };
#undef C
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        lab_pk_arena *a;
        lab_error_clear();
        lab_pk *o = lab_pickle_load((const uint8_t *)cases[i].bytes, cases[i].n, "t.pkl", &a);
        if (!cases[i].needle) {
            cr_assert_not_null(o, "case %zu: %s", i, lab_error());
        } else {
            cr_assert_null(o, "case %zu accepted", i);
            cr_assert(strstr(lab_error(), cases[i].needle), "case %zu: \"%s\" lacks \"%s\"", i, lab_error(),
                      cases[i].needle);
            lt_assert_error_contains("t.pkl");
        }
        lab_pickle_free(a);
    }
}
