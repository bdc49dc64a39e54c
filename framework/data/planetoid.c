/* planetoid.c — Cora, CiteSeer and PubMed in the Planetoid format
 * (ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}), preprocessed exactly
 * as PyG's read_planetoid_data (and Kipf's GCN loader) do:
 *
 *   features = vstack(allx, tx) where tx row i belongs to node test.index[i];
 *     test ids missing from test.index inside its range (CiteSeer's 15
 *     isolated nodes) get a zero row and label 0;
 *   labels   = argmax of the one-hot rows of vstack(ally, ty) (first maximum);
 *   train    = 0 .. len(y)-1, val = len(y) .. len(y)+499, test = sorted test ids;
 *   edges    = the graph dict, both directions, without self-loops and
 *              duplicates, sorted by (source, target).
 *
 * Checked: the pickles' types and sizes (pickle.c), equal feature widths and
 * class counts across the parts, row counts (x with y, allx with ally, tx with
 * ty and test.index), test ids unique, starting right after allx and spread
 * over at most twice their number of ids, val inside allx, every graph id a
 * node, and a dense feature matrix under LAB_DATA_MAX_BYTES.
 *
 * Tested by tests/unit/test_planetoid.c (Cora and CiteSeer against numbers
 * computed once with a Python reference loader, PubMed's present files,
 * PubMed-shaped files written by the test, corrupt parts).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_int.h"
#include "lab/error.h"

enum { P_X, P_Y, P_TX, P_TY, P_ALLX, P_ALLY, P_GRAPH, P_INDEX, P_COUNT };
static const char *const part[P_COUNT] = {"x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"};

#define VAL_SIZE 500

typedef struct {
    int64_t shape[2];
    double *data;
    int64_t *indices, *indptr;
} csr;

typedef struct {
    int64_t shape[2];
    double *data;
} dense;

void lab_planetoid_free(lab_planetoid *p)
{
    if (!p) return;
    lab_tensor_release(p->features);
    lab_tensor_release(p->labels);
    lab_tensor_release(p->edges);
    lab_tensor_release(p->train_idx);
    lab_tensor_release(p->val_idx);
    lab_tensor_release(p->test_idx);
    free(p);
}

static int load_csr(const uint8_t *b, size_t n, const char *name, csr *out)
{
    lab_pk_arena *a;
    lab_pk *root = lab_pickle_load(b, n, name, &a);
    int rc = root ? lab_pk_csr(root, name, out->shape, &out->data, &out->indices, &out->indptr) : -1;
    lab_pickle_free(a);
    return rc;
}

static int load_dense(const uint8_t *b, size_t n, const char *name, dense *out)
{
    lab_pk_arena *a;
    int ndim;
    lab_pk *root = lab_pickle_load(b, n, name, &a);
    int rc = root ? lab_pk_ndarray(root, name, out->shape, &ndim, &out->data) : -1;
    lab_pickle_free(a);
    if (rc == 0 && ndim != 2) {
        free(out->data);
        out->data = NULL;
        return lab_error_set("planetoid: %s: label array is 1-D, expected one-hot rows [n, classes]", name);
    }
    return rc;
}

/* test.index: one integer per line, blank lines only at the end. */
static int parse_index(const uint8_t *b, size_t n, const char *name, int64_t **out, int64_t *count)
{
    int64_t cap = 1;
    for (size_t i = 0; i < n; i++) cap += b[i] == '\n';
    int64_t *v = malloc((size_t)cap * sizeof *v), k = 0, line = 0;
    if (!v) return lab_error_set("planetoid: out of memory");
    size_t i = 0;
    int blank_seen = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && b[e] != '\n') e++;
        line++;
        size_t s = i, t = e;
        while (s < t && (b[s] == ' ' || b[s] == '\t' || b[s] == '\r')) s++;
        while (t > s && (b[t - 1] == ' ' || b[t - 1] == '\t' || b[t - 1] == '\r')) t--;
        i = e + 1;
        if (s == t) {
            blank_seen = 1;
            continue;
        }
        int64_t x = 0;
        int ok = !blank_seen && t - s <= 18;
        for (size_t j = s; ok && j < t; j++) {
            if (!isdigit(b[j])) ok = 0;
            else x = x * 10 + (b[j] - '0');
        }
        if (!ok) {
            free(v);
            return lab_error_set("planetoid: %s: line %lld: %s", name, (long long)line,
                                 blank_seen ? "data after a blank line" : "not a node id");
        }
        v[k++] = x;
    }
    if (k == 0) {
        free(v);
        return lab_error_set("planetoid: %s: no test ids", name);
    }
    *out = v;
    *count = k;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t argmax_row(const double *row, int64_t c)
{
    int64_t best = 0;
    for (int64_t j = 1; j < c; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

/* Dense f32 rows [row0, row0 + m.shape[0]) of `out` (width m.shape[1]) from
 * a CSR matrix, duplicates summed as scipy's toarray does; rowmap, when
 * given, sends matrix row i to output row rowmap[i]. */
static void scatter_csr(float *out, const csr *m, const int64_t *rowmap)
{
    int64_t F = m->shape[1];
    for (int64_t r = 0; r < m->shape[0]; r++) {
        float *dst = out + (rowmap ? rowmap[r] : r) * F;
        for (int64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++) dst[m->indices[k]] += (float)m->data[k];
    }
}

lab_planetoid *lab_planetoid_parse(const uint8_t *const bufs[8], const size_t lens[8], const char *const names_in[8])
{
    const char *names[P_COUNT];
    for (int i = 0; i < P_COUNT; i++) names[i] = names_in && names_in[i] ? names_in[i] : part[i];
    csr x = {0}, tx = {0}, allx = {0};
    dense y = {0}, ty = {0}, ally = {0};
    int64_t *tidx = NULL, *sorted = NULL, *keys = NULL, *ptr = NULL, *nbrs = NULL, *ekeys = NULL, *ebuf = NULL;
    int64_t *labels = NULL, *seq = NULL, ntest = 0, nkeys = 0;
    lab_planetoid *p = NULL;

    for (int i = 0; i < P_COUNT; i++)
        if (!bufs[i]) {
            lab_error_set("planetoid: %s is required", names[i]);
            return NULL;
        }
    if (load_csr(bufs[P_X], lens[P_X], names[P_X], &x) < 0 || load_csr(bufs[P_TX], lens[P_TX], names[P_TX], &tx) < 0 ||
        load_csr(bufs[P_ALLX], lens[P_ALLX], names[P_ALLX], &allx) < 0 ||
        load_dense(bufs[P_Y], lens[P_Y], names[P_Y], &y) < 0 || load_dense(bufs[P_TY], lens[P_TY], names[P_TY], &ty) < 0 ||
        load_dense(bufs[P_ALLY], lens[P_ALLY], names[P_ALLY], &ally) < 0)
        goto fail;
    {
        lab_pk_arena *a;
        lab_pk *root = lab_pickle_load(bufs[P_GRAPH], lens[P_GRAPH], names[P_GRAPH], &a);
        int rc = root ? lab_pk_adjacency(root, names[P_GRAPH], &nkeys, &keys, &ptr, &nbrs) : -1;
        lab_pickle_free(a);
        if (rc < 0) goto fail;
    }
    if (parse_index(bufs[P_INDEX], lens[P_INDEX], names[P_INDEX], &tidx, &ntest) < 0) goto fail;

    int64_t F = allx.shape[1], C = ally.shape[1], nall = allx.shape[0], ntrain = y.shape[0];
    if (x.shape[1] != F || tx.shape[1] != F) {
        lab_error_set("planetoid: feature widths differ: x %lld, tx %lld, allx %lld", (long long)x.shape[1],
                      (long long)tx.shape[1], (long long)F);
        goto fail;
    }
    if (C < 1 || y.shape[1] != C || ty.shape[1] != C) {
        lab_error_set("planetoid: class counts differ: y %lld, ty %lld, ally %lld", (long long)y.shape[1],
                      (long long)ty.shape[1], (long long)C);
        goto fail;
    }
    if (x.shape[0] != ntrain || ally.shape[0] != nall || tx.shape[0] != ntest || ty.shape[0] != ntest) {
        lab_error_set("planetoid: row counts disagree: x %lld / y %lld, allx %lld / ally %lld, tx %lld / ty %lld / "
                      "%s %lld",
                      (long long)x.shape[0], (long long)ntrain, (long long)nall, (long long)ally.shape[0],
                      (long long)tx.shape[0], (long long)ty.shape[0], names[P_INDEX], (long long)ntest);
        goto fail;
    }
    if (ntrain + VAL_SIZE > nall) {
        lab_error_set("planetoid: %lld training and %d validation nodes do not fit in the %lld rows of %s",
                      (long long)ntrain, VAL_SIZE, (long long)nall, names[P_ALLX]);
        goto fail;
    }
    if (!(sorted = malloc((size_t)ntest * sizeof *sorted))) goto oom;
    memcpy(sorted, tidx, (size_t)ntest * sizeof *sorted);
    qsort(sorted, (size_t)ntest, sizeof *sorted, cmp_i64);
    for (int64_t i = 1; i < ntest; i++)
        if (sorted[i] == sorted[i - 1]) {
            lab_error_set("planetoid: %s lists node %lld twice", names[P_INDEX], (long long)sorted[i]);
            goto fail;
        }
    if (sorted[0] != nall) {
        lab_error_set("planetoid: %s starts at node %lld, but the test nodes follow the %lld rows of %s",
                      names[P_INDEX], (long long)sorted[0], (long long)nall, names[P_ALLX]);
        goto fail;
    }
    int64_t N = sorted[ntest - 1] + 1; /* = nall + (max - min + 1) */
    /* CiteSeer leaves 15 of 1015 ids out; a range far wider than the list is corruption */
    if (N - nall > 2 * ntest) {
        lab_error_set("planetoid: %s: %lld test ids spread over %lld ids (%lld .. %lld)", names[P_INDEX],
                      (long long)ntest, (long long)(N - nall), (long long)nall, (long long)N - 1);
        goto fail;
    }
    if ((uint64_t)N * (uint64_t)F > LAB_DATA_MAX_BYTES / sizeof(float)) {
        lab_error_set("planetoid: %lld nodes x %lld features is too large for dense features", (long long)N,
                      (long long)F);
        goto fail;
    }

    if (!(p = calloc(1, sizeof *p))) goto oom;
    int64_t fshape[2] = {N, F};
    p->features = lab_tensor_own(lab_tensor_zeros(LAB_F32, 2, fshape, LAB_CPU));
    if (!p->features) goto fail;
    float *feat = lab_tensor_f32(p->features);
    scatter_csr(feat, &allx, NULL);
    scatter_csr(feat, &tx, tidx);

    if (!(labels = calloc((size_t)N, sizeof *labels))) goto oom;
    for (int64_t i = 0; i < nall; i++) labels[i] = argmax_row(ally.data + i * C, C);
    for (int64_t i = 0; i < ntest; i++) labels[tidx[i]] = argmax_row(ty.data + i * C, C);
    p->labels = lab_tensor_own(lab_tensor_from_data(LAB_I64, 1, &N, labels, LAB_CPU));

    int64_t nseq = ntrain + VAL_SIZE, nval = VAL_SIZE;
    if (!(seq = malloc((size_t)nseq * sizeof *seq))) goto oom;
    for (int64_t i = 0; i < nseq; i++) seq[i] = i;
    p->train_idx = lab_tensor_own(lab_tensor_from_data(LAB_I64, 1, &ntrain, seq, LAB_CPU));
    p->val_idx = lab_tensor_own(lab_tensor_from_data(LAB_I64, 1, &nval, seq + ntrain, LAB_CPU));
    p->test_idx = lab_tensor_own(lab_tensor_from_data(LAB_I64, 1, &ntest, sorted, LAB_CPU));
    if (!p->labels || !p->train_idx || !p->val_idx || !p->test_idx) goto fail;

    /* edges: both directions as (src * N + dst) keys, sorted and deduplicated */
    int64_t nnb = ptr[nkeys];
    if (nnb > (INT64_MAX / 2) - 1 || !(ekeys = malloc((size_t)(2 * nnb + 1) * sizeof *ekeys))) goto oom;
    int64_t E = 0;
    for (int64_t i = 0; i < nkeys; i++) {
        int64_t u = keys[i];
        if (u < 0 || u >= N) {
            lab_error_set("planetoid: %s: node %lld is outside the %lld nodes", names[P_GRAPH], (long long)u, (long long)N);
            goto fail;
        }
        for (int64_t k = ptr[i]; k < ptr[i + 1]; k++) {
            int64_t v = nbrs[k];
            if (v < 0 || v >= N) {
                lab_error_set("planetoid: %s: neighbour %lld of node %lld is outside the %lld nodes", names[P_GRAPH],
                              (long long)v, (long long)u, (long long)N);
                goto fail;
            }
            if (u == v) continue;
            ekeys[E++] = u * N + v;
            ekeys[E++] = v * N + u;
        }
    }
    qsort(ekeys, (size_t)E, sizeof *ekeys, cmp_i64);
    int64_t k = 0;
    for (int64_t i = 0; i < E; i++)
        if (i == 0 || ekeys[i] != ekeys[i - 1]) ekeys[k++] = ekeys[i];
    E = k;
    if (!(ebuf = malloc((size_t)(2 * E + 1) * sizeof *ebuf))) goto oom;
    for (int64_t i = 0; i < E; i++) {
        ebuf[i] = ekeys[i] / N;
        ebuf[E + i] = ekeys[i] % N;
    }
    int64_t eshape[2] = {2, E};
    p->edges = lab_tensor_own(lab_tensor_from_data(LAB_I64, 2, eshape, ebuf, LAB_CPU));
    if (!p->edges) goto fail;
    p->num_nodes = N;
    p->num_features = F;
    p->num_classes = C;
    p->num_edges = E;
    goto done;
oom:
    lab_error_set("planetoid: out of memory");
fail:
    lab_planetoid_free(p);
    p = NULL;
done:
    free(x.data), free(x.indices), free(x.indptr);
    free(tx.data), free(tx.indices), free(tx.indptr);
    free(allx.data), free(allx.indices), free(allx.indptr);
    free(y.data), free(ty.data), free(ally.data);
    free(tidx), free(sorted), free(keys), free(ptr), free(nbrs), free(ekeys), free(ebuf), free(labels), free(seq);
    return p;
}

lab_planetoid *lab_planetoid_read(const char *dir, const char *name)
{
    if (!dir || !name || !*name || strlen(name) > 64) {
        lab_error_set("planetoid: need a directory and a data set name (cora, citeseer, pubmed)");
        return NULL;
    }
    char lower[65];
    size_t n = strlen(name);
    for (size_t i = 0; i <= n; i++) lower[i] = (char)tolower((unsigned char)name[i]);
    char paths[P_COUNT][4096];
    const char *names[P_COUNT];
    uint8_t *bufs[P_COUNT] = {0};
    size_t lens[P_COUNT] = {0};
    lab_planetoid *p = NULL;
    for (int i = 0; i < P_COUNT; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/ind.%s.%s", dir, lower, part[i]);
        names[i] = paths[i];
    }
    for (int i = 0; i < P_COUNT; i++)
        if (lab_data_read_file("planetoid", paths[i], LAB_DATA_MAX_BYTES, &bufs[i], &lens[i]) < 0) {
            if (!strcmp(lower, "pubmed") && i == P_ALLX) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", lab_error());
                lab_error_set("%s (hint: ind.pubmed.allx is too large for the data mirror and must be supplied "
                              "separately; see data/SOURCES.md)",
                              msg);
            }
            goto done;
        }
    p = lab_planetoid_parse((const uint8_t *const *)bufs, lens, names);
done:
    for (int i = 0; i < P_COUNT; i++) free(bufs[i]);
    return p;
}
