/* Open Graph Benchmark readers (lab/ogb.h): the raw CSV files as OGB's
 * read_csv_graph_raw reads them (edge.csv, num-node-list.csv,
 * num-edge-list.csv, node-feat.csv, edge-feat.csv, node-label.csv,
 * graph-label.csv, each plain or gzip), the per-graph offsets, the
 * add_inverse_edge duplication in OGB's order (each edge followed by its
 * reverse), and the split index files. Every count and id is checked
 * against the others and a mismatch names the file and line.
 *
 * Tested in tests/unit/test_ogb.c on small data sets written by the test in
 * the real layout (gzip and plain), including every mismatch.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "data_int.h"
#include "lab/error.h"
#include "lab/ogb.h"

/* --- CSV ------------------------------------------------------------------------ */

lab_tensor *lab_ogb_parse_csv(const uint8_t *data, size_t len, const char *name, lab_dtype dt, int64_t cols)
{
    const char *buf = (const char *)data;
    if (dt != LAB_F32 && dt != LAB_I64) {
        lab_error_set("ogb: %s: read as f32 or i64", name);
        return NULL;
    }
    if (cols < 0) {
        lab_error_set("ogb: %s: negative column count %lld", name, (long long)cols);
        return NULL;
    }
    /* Pass 1: rows and the first line's field count. */
    int64_t rows = 0, first = -1;
    for (size_t i = 0; i < len;) {
        size_t j = i;
        while (j < len && buf[j] != '\n') j++;
        size_t e = j;
        if (e > i && buf[e - 1] == '\r') e--;
        if (e > i || j < len) {
            if (e == i && j + 1 >= len) break; /* a final empty line */
            if (first < 0) {
                first = 1;
                for (size_t k = i; k < e; k++) first += buf[k] == ',';
            }
            rows++;
        }
        i = j + 1;
    }
    if (rows == 0) {
        lab_error_set("ogb: %s is empty", name);
        return NULL;
    }
    if (cols == 0) cols = first;
    int64_t shape[2] = {rows, cols};
    lab_tensor *t = lab_tensor_own(lab_tensor_empty(dt, 2, shape, LAB_CPU));
    if (!t) return NULL;
    float *fv = dt == LAB_F32 ? lab_tensor_f32(t) : NULL;
    int64_t *iv = dt == LAB_I64 ? lab_tensor_i64(t) : NULL;
    int64_t r = 0;
    char field[128];
    for (size_t i = 0; i < len && r < rows; r++) {
        size_t j = i;
        while (j < len && buf[j] != '\n') j++;
        size_t e = j;
        if (e > i && buf[e - 1] == '\r') e--;
        int64_t c = 0;
        size_t k = i;
        for (;;) {
            size_t s = k;
            while (k < e && buf[k] != ',') k++;
            if (c >= cols) {
                lab_error_set("ogb: %s:%lld: more than %lld fields", name, (long long)r + 1, (long long)cols);
                goto fail;
            }
            size_t fl = k - s;
            while (fl > 0 && isspace((unsigned char)buf[s])) s++, fl--;
            while (fl > 0 && isspace((unsigned char)buf[s + fl - 1])) fl--;
            if (fl >= sizeof field) {
                lab_error_set("ogb: %s:%lld: field %lld is too long", name, (long long)r + 1, (long long)c + 1);
                goto fail;
            }
            memcpy(field, buf + s, fl);
            field[fl] = '\0';
            char *end;
            if (fv) {
                if (fl == 0 || !strcasecmp(field, "nan")) {
                    fv[r * cols + c] = NAN;
                } else {
                    fv[r * cols + c] = strtof(field, &end);
                    if (*end) {
                        lab_error_set("ogb: %s:%lld: field %lld ('%s') is not a number", name, (long long)r + 1,
                                      (long long)c + 1, field);
                        goto fail;
                    }
                }
            } else {
                long long v = fl ? strtoll(field, &end, 10) : 0;
                if (fl == 0 || *end) {
                    /* Integer files may be written as floats ("3.0"). */
                    double dv = fl ? strtod(field, &end) : NAN;
                    if (fl == 0 || *end || dv != floor(dv) || fabs(dv) > 9e15) {
                        lab_error_set("ogb: %s:%lld: field %lld ('%s') is not an integer", name, (long long)r + 1,
                                      (long long)c + 1, field);
                        goto fail;
                    }
                    v = (long long)dv;
                }
                iv[r * cols + c] = v;
            }
            c++;
            if (k >= e) break;
            k++;
        }
        if (c != cols) {
            lab_error_set("ogb: %s:%lld: %lld fields, expected %lld", name, (long long)r + 1, (long long)c,
                          (long long)cols);
            goto fail;
        }
        i = j + 1;
    }
    return t;
fail:
    lab_tensor_release(t);
    return NULL;
}

lab_tensor *lab_ogb_read_csv(const char *path, lab_dtype dt, int64_t cols)
{
    if (dt != LAB_F32 && dt != LAB_I64) {
        lab_error_set("ogb: %s: read as f32 or i64", path);
        return NULL;
    }
    uint8_t *buf;
    size_t len;
    if (lab_data_load("ogb", path, &buf, &len) < 0) return NULL;
    lab_tensor *t = lab_ogb_parse_csv(buf, len, path, dt, cols);
    free(buf);
    return t;
}

/* dir/base.csv.gz, else dir/base.csv; NULL (no error) when neither exists. */
static lab_tensor *read_opt(const char *dir, const char *base, lab_dtype dt, int64_t cols, int *missing)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s.csv.gz", dir, base);
    if (access(path, R_OK) != 0) snprintf(path, sizeof path, "%s/%s.csv", dir, base);
    if (access(path, R_OK) != 0) {
        *missing = 1;
        return NULL;
    }
    *missing = 0;
    return lab_ogb_read_csv(path, dt, cols);
}

static lab_tensor *read_req(const char *dir, const char *base, lab_dtype dt, int64_t cols)
{
    int missing;
    lab_tensor *t = read_opt(dir, base, dt, cols, &missing);
    if (missing) lab_error_set("ogb: %s/%s.csv.gz (or .csv) is missing", dir, base);
    return t;
}

/* --- data sets ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    int add_inverse;
    const char *split;
} known[] = {
    {"ogbn-arxiv", 0, "time"},       {"ogbn-products", 1, "sales_ranking"},
    {"ogbn-proteins", 1, "species"}, {"ogbn-papers100M", 0, "time"},
    {"ogbl-collab", 1, "time"},      {"ogbl-ppa", 1, "throughput"},
    {"ogbl-ddi", 1, "target"},       {"ogbl-citation2", 0, "time"},
    {"ogbl-biokg", 0, "random"},     {"ogbg-molhiv", 1, "scaffold"},
    {"ogbg-molpcba", 1, "scaffold"}, {"ogbg-ppa", 1, "species"},
    {"ogbg-code2", 0, "project"},
};

void lab_ogb_free(lab_ogb *d)
{
    if (!d) return;
    lab_tensor *ts[] = {d->edges,      d->node_ptr,    d->edge_ptr,  d->node_feat, d->edge_feat,
                        d->node_label, d->graph_label, d->train_idx, d->valid_idx, d->test_idx,
                        d->train_pos,  d->valid_pos,   d->valid_neg, d->test_pos,  d->test_neg};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lab_tensor_release(ts[i]);
    free(d);
}

lab_ogb *lab_ogb_read(const char *dir, const char *name, const char *split)
{
    if (!dir || !name) {
        lab_error_set("ogb: NULL %s", dir ? "name" : "dir");
        return NULL;
    }
    lab_ogb_task task;
    if (!strncmp(name, "ogbn-", 5))
        task = LAB_OGB_NODE;
    else if (!strncmp(name, "ogbl-", 5))
        task = LAB_OGB_LINK;
    else if (!strncmp(name, "ogbg-", 5))
        task = LAB_OGB_GRAPH;
    else {
        lab_error_set("ogb: '%s' is not an OGB name (ogbn-*, ogbl-*, ogbg-*)", name);
        return NULL;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(known[i].name, name))
            return lab_ogb_read_as(dir, name, task, known[i].add_inverse, split && split[0] ? split : known[i].split);
    lab_error_set("ogb: unknown data set '%s' (hint: lab_ogb_read_as with add_inverse_edge and the split)", name);
    return NULL;
}

/* i64 [n, 1] -> [n] ids in [0, limit). */
static lab_tensor *ids_from(lab_tensor *t, int64_t limit, const char *what)
{
    if (!t) return NULL;
    if (t->shape[1] != 1) {
        lab_error_set("ogb: %s has %lld columns, expected 1", what, (long long)t->shape[1]);
        lab_tensor_release(t);
        return NULL;
    }
    const int64_t *v = lab_tensor_i64(t);
    for (int64_t i = 0; i < t->shape[0]; i++)
        if (v[i] < 0 || v[i] >= limit) {
            lab_error_set("ogb: %s:%lld: id %lld is outside [0, %lld)", what, (long long)i + 1, (long long)v[i],
                          (long long)limit);
            lab_tensor_release(t);
            return NULL;
        }
    t->ndim = 1;
    return t;
}

/* i64 [n, 2] pairs -> [2, n] with ids in [0, limit). */
static lab_tensor *pairs_from(lab_tensor *t, int64_t limit, const char *what)
{
    if (!t) return NULL;
    int64_t n = t->shape[0];
    lab_tensor *r = NULL;
    if (t->shape[1] != 2) {
        lab_error_set("ogb: %s has %lld columns, expected 2 (u,v)", what, (long long)t->shape[1]);
        goto done;
    }
    r = lab_tensor_own(lab_tensor_empty(LAB_I64, 2, (int64_t[]){2, n}, LAB_CPU));
    if (!r) goto done;
    const int64_t *s = lab_tensor_i64(t);
    int64_t *d = lab_tensor_i64(r);
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < 2; k++)
            if (s[2 * i + k] < 0 || s[2 * i + k] >= limit) {
                lab_error_set("ogb: %s:%lld: node %lld is outside [0, %lld)", what, (long long)i + 1,
                              (long long)s[2 * i + k], (long long)limit);
                lab_tensor_release(r);
                r = NULL;
                goto done;
            }
        d[i] = s[2 * i], d[n + i] = s[2 * i + 1];
    }
done:
    lab_tensor_release(t);
    return r;
}

static int64_t sum_list(const lab_tensor *t, const char *what, int *bad)
{
    const int64_t *v = lab_tensor_i64(t);
    int64_t s = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        if (v[i] < 0) {
            lab_error_set("ogb: %s:%lld: negative count %lld", what, (long long)i + 1, (long long)v[i]);
            *bad = 1;
        }
        s += v[i];
    }
    return s;
}

lab_ogb *lab_ogb_read_as(const char *dir, const char *name, lab_ogb_task task, int add_inverse_edge, const char *split)
{
    char raw[4200], sdir[4400], what[4600];
    lab_tensor *e0 = NULL, *nn = NULL, *ne = NULL, *ef = NULL;
    lab_ogb *d = calloc(1, sizeof *d);
    if (!d) {
        lab_error_set("ogb: out of host memory");
        return NULL;
    }
    snprintf(d->name, sizeof d->name, "%s", name);
    d->task = task;
    d->add_inverse_edge = add_inverse_edge;
    snprintf(raw, sizeof raw, "%s/raw", dir);
    if (!(e0 = read_req(raw, "edge", LAB_I64, 2)) || !(nn = read_req(raw, "num-node-list", LAB_I64, 1)) ||
        !(ne = read_req(raw, "num-edge-list", LAB_I64, 1)))
        goto fail;
    int64_t g = nn->shape[0];
    if (ne->shape[0] != g) {
        lab_error_set("ogb: %s/num-edge-list lists %lld graphs but num-node-list %lld", raw, (long long)ne->shape[0],
                      (long long)g);
        goto fail;
    }
    int bad = 0;
    int64_t n = sum_list(nn, "num-node-list", &bad), m = sum_list(ne, "num-edge-list", &bad);
    if (bad) goto fail;
    if (m != e0->shape[0]) {
        lab_error_set("ogb: %s/edge has %lld lines but num-edge-list sums to %lld", raw, (long long)e0->shape[0],
                      (long long)m);
        goto fail;
    }
    int mult = add_inverse_edge ? 2 : 1;
    d->num_graphs = g, d->num_nodes = n, d->num_edges = m * mult;
    d->edges = lab_tensor_own(lab_tensor_empty(LAB_I64, 2, (int64_t[]){2, m * mult}, LAB_CPU));
    d->node_ptr = lab_tensor_own(lab_tensor_empty(LAB_I64, 1, (int64_t[]){g + 1}, LAB_CPU));
    d->edge_ptr = lab_tensor_own(lab_tensor_empty(LAB_I64, 1, (int64_t[]){g + 1}, LAB_CPU));
    if (!d->edges || !d->node_ptr || !d->edge_ptr) goto fail;
    {
        const int64_t *src = lab_tensor_i64(e0), *nv = lab_tensor_i64(nn), *mv = lab_tensor_i64(ne);
        int64_t *dst = lab_tensor_i64(d->edges), *np = lab_tensor_i64(d->node_ptr), *ep = lab_tensor_i64(d->edge_ptr);
        int64_t M = m * mult, off = 0, k = 0;
        np[0] = ep[0] = 0;
        for (int64_t gi = 0; gi < g; gi++) {
            for (int64_t j = 0; j < mv[gi]; j++, k++) {
                int64_t u = src[2 * k], v = src[2 * k + 1];
                if (u < 0 || u >= nv[gi] || v < 0 || v >= nv[gi]) {
                    lab_error_set("ogb: %s/edge:%lld: edge (%lld, %lld) of graph %lld is outside its %lld nodes", raw,
                                  (long long)k + 1, (long long)u, (long long)v, (long long)gi, (long long)nv[gi]);
                    goto fail;
                }
                int64_t w = k * mult;
                dst[w] = u + off, dst[M + w] = v + off;
                if (mult == 2) dst[w + 1] = v + off, dst[M + w + 1] = u + off;
            }
            off += nv[gi];
            np[gi + 1] = off;
            ep[gi + 1] = k * mult;
        }
    }
    int missing;
    d->node_feat = read_opt(raw, "node-feat", LAB_F32, 0, &missing);
    if (!missing && !d->node_feat) goto fail;
    if (d->node_feat && d->node_feat->shape[0] != n) {
        lab_error_set("ogb: %s/node-feat has %lld rows but the graphs have %lld nodes", raw,
                      (long long)d->node_feat->shape[0], (long long)n);
        goto fail;
    }
    ef = read_opt(raw, "edge-feat", LAB_F32, 0, &missing);
    if (!missing && !ef) goto fail;
    if (ef) {
        if (ef->shape[0] != m) {
            lab_error_set("ogb: %s/edge-feat has %lld rows but edge has %lld", raw, (long long)ef->shape[0],
                          (long long)m);
            goto fail;
        }
        int64_t de = ef->shape[1];
        d->edge_feat = lab_tensor_own(lab_tensor_empty(LAB_F32, 2, (int64_t[]){m * mult, de}, LAB_CPU));
        if (!d->edge_feat) goto fail;
        const float *s = lab_tensor_f32(ef);
        float *t = lab_tensor_f32(d->edge_feat);
        for (int64_t k = 0; k < m; k++)
            for (int c = 0; c < mult; c++) memcpy(t + (k * mult + c) * de, s + k * de, (size_t)de * sizeof *t);
    }
    if (task == LAB_OGB_NODE) {
        if (!(d->node_label = read_req(raw, "node-label", LAB_F32, 0))) goto fail;
        if (d->node_label->shape[0] != n) {
            lab_error_set("ogb: %s/node-label has %lld rows but the graph has %lld nodes", raw,
                          (long long)d->node_label->shape[0], (long long)n);
            goto fail;
        }
        d->num_tasks = d->node_label->shape[1];
    } else if (task == LAB_OGB_GRAPH) {
        if (!(d->graph_label = read_req(raw, "graph-label", LAB_F32, 0))) goto fail;
        if (d->graph_label->shape[0] != g) {
            lab_error_set("ogb: %s/graph-label has %lld rows but num-node-list lists %lld graphs", raw,
                          (long long)d->graph_label->shape[0], (long long)g);
            goto fail;
        }
        d->num_tasks = d->graph_label->shape[1];
    }
    snprintf(sdir, sizeof sdir, "%s/split/%s", dir, split && split[0] ? split : "");
    if (task == LAB_OGB_LINK) {
        const char *parts[5] = {"train_pos", "valid_pos", "valid_neg", "test_pos", "test_neg"};
        lab_tensor **dst[5] = {&d->train_pos, &d->valid_pos, &d->valid_neg, &d->test_pos, &d->test_neg};
        for (int i = 0; i < 5; i++) {
            lab_tensor *t = read_opt(sdir, parts[i], LAB_I64, 2, &missing);
            if (missing) continue;
            snprintf(what, sizeof what, "%s/%s", sdir, parts[i]);
            if (!(*dst[i] = pairs_from(t, n, what))) goto fail;
        }
    } else {
        const char *parts[3] = {"train", "valid", "test"};
        lab_tensor **dst[3] = {&d->train_idx, &d->valid_idx, &d->test_idx};
        for (int i = 0; i < 3; i++) {
            snprintf(what, sizeof what, "%s/%s", sdir, parts[i]);
            if (!(*dst[i] = ids_from(read_req(sdir, parts[i], LAB_I64, 1), task == LAB_OGB_NODE ? n : g, what)))
                goto fail;
        }
    }
    lab_tensor_release(e0);
    lab_tensor_release(nn);
    lab_tensor_release(ne);
    lab_tensor_release(ef);
    return d;
fail:
    lab_error_prefix("%s: ", name);
    lab_tensor_release(e0);
    lab_tensor_release(nn);
    lab_tensor_release(ne);
    lab_tensor_release(ef);
    lab_ogb_free(d);
    return NULL;
}
