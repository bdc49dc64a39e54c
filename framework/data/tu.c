/* tu.c — the TUDataset plain-text format (MUTAG, PROTEINS, ENZYMES, NCI1,
 * IMDB-BINARY, IMDB-MULTI, ...).
 *
 * Each file has one record per line, values separated by commas with any
 * spaces around them ("8,1" in NCI1, " 2, 1" elsewhere), LF or CRLF line
 * ends; blank lines are allowed only at the end. Numbers are parsed strictly
 * (the whole field must be a number) and every inconsistency between the
 * files is reported with the file and the 1-based line.
 *
 * Tested by tests/unit/test_tu.c (the six staged sets against the counts in
 * shared/data/SOURCES.md and sums computed with numpy, plus malformed files)
 * and fuzzed by tests/fuzz/fuzz_tu.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_int.h"
#include "lab/error.h"

enum { F_A, F_GI, F_GL, F_NL, F_NA };
static const char *const suffix[5] = {"_A.txt", "_graph_indicator.txt", "_graph_labels.txt", "_node_labels.txt",
                                      "_node_attributes.txt"};

typedef struct {
    const char *p, *end, *name;
    int64_t line;
} reader;

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* Upper bound on the records of a buffer: its newlines plus one. */
static int64_t count_lines(const uint8_t *b, size_t n)
{
    int64_t k = 1;
    for (size_t i = 0; i < n; i++) k += b[i] == '\n';
    return k;
}

/* The next non-blank line in [*s, *e), 0 at the end (only blank lines left),
 * -1 for a blank line followed by more data. */
static int next_line(reader *r, const char **s, const char **e)
{
    while (r->p < r->end) {
        const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
        const char *le = nl ? nl : r->end;
        r->line++;
        const char *a = r->p, *b = le;
        r->p = nl ? nl + 1 : r->end;
        while (a < b && is_space(*a)) a++;
        while (b > a && is_space(b[-1])) b--;
        if (a < b) {
            *s = a;
            *e = b;
            return 1;
        }
        for (const char *q = r->p; q < r->end; q++)
            if (!is_space(*q) && *q != '\n')
                return lab_error_set("tu: %s: line %lld is blank", r->name, (long long)r->line);
        return 0;
    }
    return 0;
}

/* Splits [s, e) at commas into at most max fields (trimmed); returns the count
 * or -1 when there are more. */
static int split(const char *s, const char *e, const char **fs, const char **fe, int max)
{
    int n = 0;
    for (;;) {
        const char *c = memchr(s, ',', (size_t)(e - s));
        const char *f = c ? c : e;
        if (n == max) return -1;
        const char *a = s, *b = f;
        while (a < b && is_space(*a)) a++;
        while (b > a && is_space(b[-1])) b--;
        fs[n] = a;
        fe[n] = b;
        n++;
        if (!c) return n;
        s = c + 1;
    }
}

static int parse_int(const char *s, const char *e, int64_t *out)
{
    int neg = 0;
    if (s < e && (*s == '-' || *s == '+')) neg = *s++ == '-';
    if (s == e) return -1;
    uint64_t v = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9') return -1;
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > (uint64_t)INT64_MAX) return -1;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static int parse_float(const char *s, const char *e, float *out)
{
    char tmp[64];
    size_t n = (size_t)(e - s);
    if (n == 0 || n >= sizeof tmp) return -1;
    for (size_t i = 0; i < n; i++) /* digits, sign, point, exponent only: no "nan", "inf" or hex */
        if (!strchr("0123456789+-.eE", s[i])) return -1;
    memcpy(tmp, s, n);
    tmp[n] = 0;
    char *end;
    double d = strtod(tmp, &end);
    if (end != tmp + n || !isfinite(d) || fabs(d) > 3.4e38) return -1;
    *out = (float)d;
    return 0;
}

/* A file of `ncols` integers per line (ncols 1 or 2) into out[count*ncols]. */
static int read_ints(reader *r, int ncols, int64_t *out, int64_t cap, int64_t *count)
{
    int64_t n = 0;
    const char *s, *e;
    int rc;
    while ((rc = next_line(r, &s, &e)) == 1) {
        const char *fs[2], *fe[2];
        int k = split(s, e, fs, fe, ncols);
        if (k != ncols)
            return lab_error_set("tu: %s: line %lld: expected %d value%s, got \"%.*s\"", r->name, (long long)r->line,
                                 ncols, ncols > 1 ? "s" : "", (int)(e - s > 60 ? 60 : e - s), s);
        if (n >= cap) return lab_error_set("tu: %s: more lines than expected", r->name);
        for (int j = 0; j < ncols; j++)
            if (parse_int(fs[j], fe[j], &out[n * ncols + j]) < 0)
                return lab_error_set("tu: %s: line %lld: \"%.*s\" is not an integer", r->name, (long long)r->line,
                                     (int)(fe[j] - fs[j] > 40 ? 40 : fe[j] - fs[j]), fs[j]);
        n++;
    }
    if (rc < 0) return -1;
    *count = n;
    return 0;
}

void lab_tu_free(lab_tu *t)
{
    if (!t) return;
    lab_tensor_release(t->edges);
    lab_tensor_release(t->edge_ptr);
    lab_tensor_release(t->graph_of_node);
    lab_tensor_release(t->graph_ptr);
    lab_tensor_release(t->graph_labels);
    lab_tensor_release(t->node_labels);
    lab_tensor_release(t->node_attributes);
    free(t->class_values);
    free(t);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static lab_tensor *own_i64(int ndim, const int64_t *shape, const int64_t *data)
{
    return lab_tensor_own(lab_tensor_from_data(LAB_I64, ndim, shape, data, LAB_CPU));
}

lab_tu *lab_tu_parse(const uint8_t *const bufs[5], const size_t lens[5], const char *const names_in[5])
{
    const char *names[5];
    for (int i = 0; i < 5; i++) names[i] = names_in && names_in[i] ? names_in[i] : suffix[i];
    for (int i = 0; i < 3; i++)
        if (!bufs[i]) {
            lab_error_set("tu: %s is required", names[i]);
            return NULL;
        }
    lab_tu *t = calloc(1, sizeof *t);
    int64_t *gi = NULL, *gl = NULL, *a = NULL, *keys = NULL, *nl = NULL, *tmp = NULL;
    float *na = NULL;
    if (!t) goto oom;

    /* graph labels -> classes */
    int64_t cap = count_lines(bufs[F_GL], lens[F_GL]), G;
    reader r = {(const char *)bufs[F_GL], (const char *)bufs[F_GL] + lens[F_GL], names[F_GL], 0};
    if (!(gl = malloc((size_t)cap * sizeof *gl))) goto oom;
    if (read_ints(&r, 1, gl, cap, &G) < 0) goto fail;
    if (G == 0) {
        lab_error_set("tu: %s: no graphs", names[F_GL]);
        goto fail;
    }
    if (!(tmp = malloc((size_t)G * sizeof *tmp))) goto oom;
    memcpy(tmp, gl, (size_t)G * sizeof *tmp);
    qsort(tmp, (size_t)G, sizeof *tmp, cmp_i64);
    int64_t C = 0;
    for (int64_t i = 0; i < G; i++)
        if (i == 0 || tmp[i] != tmp[i - 1]) tmp[C++] = tmp[i];
    for (int64_t i = 0; i < G; i++) {
        int64_t lo = 0, hi = C - 1; /* binary search: gl[i] is in tmp */
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (tmp[mid] < gl[i]) lo = mid + 1;
            else hi = mid;
        }
        gl[i] = lo;
    }
    t->class_values = tmp;
    tmp = NULL;

    /* graph indicator */
    cap = count_lines(bufs[F_GI], lens[F_GI]);
    int64_t N;
    r = (reader){(const char *)bufs[F_GI], (const char *)bufs[F_GI] + lens[F_GI], names[F_GI], 0};
    if (!(gi = malloc((size_t)cap * sizeof *gi))) goto oom;
    if (read_ints(&r, 1, gi, cap, &N) < 0) goto fail;
    if (N == 0) {
        lab_error_set("tu: %s: no nodes", names[F_GI]);
        goto fail;
    }
    int64_t *gptr = calloc((size_t)G + 1, sizeof *gptr);
    if (!gptr) goto oom;
    int64_t prev = 0; /* 1-based graph of the previous node */
    for (int64_t i = 0; i < N; i++) {
        int64_t g = gi[i];
        if (g < 1 || g > G)
            lab_error_set("tu: %s: line %lld: graph id %lld is outside the %lld graphs of %s", names[F_GI],
                          (long long)i + 1, (long long)g, (long long)G, names[F_GL]);
        else if (g < prev)
            lab_error_set("tu: %s: line %lld: graph id %lld after %lld (ids must be non-decreasing)", names[F_GI],
                          (long long)i + 1, (long long)g, (long long)prev);
        else if (g > prev + 1)
            lab_error_set("tu: %s: line %lld: graph id %lld after %lld leaves graph %lld without nodes", names[F_GI],
                          (long long)i + 1, (long long)g, (long long)prev, (long long)prev + 1);
        else {
            prev = g;
            gi[i] = g - 1;
            gptr[g]++;
            continue;
        }
        free(gptr);
        goto fail;
    }
    if (gi[N - 1] != G - 1) {
        lab_error_set("tu: %s: the last node is in graph %lld but %s lists %lld graphs", names[F_GI],
                      (long long)gi[N - 1] + 1, names[F_GL], (long long)G);
        free(gptr);
        goto fail;
    }
    for (int64_t g = 0; g < G; g++) gptr[g + 1] += gptr[g];

    /* edges */
    cap = count_lines(bufs[F_A], lens[F_A]);
    int64_t lines;
    r = (reader){(const char *)bufs[F_A], (const char *)bufs[F_A] + lens[F_A], names[F_A], 0};
    if (!(a = malloc((size_t)cap * 2 * sizeof *a)) || !(keys = malloc((size_t)cap * sizeof *keys))) {
        free(gptr);
        goto oom;
    }
    if (read_ints(&r, 2, a, cap, &lines) < 0) {
        free(gptr);
        goto fail;
    }
    int64_t E = 0;
    for (int64_t i = 0; i < lines; i++) {
        int64_t u = a[2 * i], v = a[2 * i + 1];
        if (u < 1 || u > N || v < 1 || v > N) {
            lab_error_set("tu: %s: line %lld: edge (%lld, %lld) has an endpoint outside the %lld nodes of %s", names[F_A],
                          (long long)i + 1, (long long)u, (long long)v, (long long)N, names[F_GI]);
            free(gptr);
            goto fail;
        }
        if (gi[u - 1] != gi[v - 1]) {
            lab_error_set("tu: %s: line %lld: edge (%lld, %lld) joins graphs %lld and %lld", names[F_A], (long long)i + 1,
                          (long long)u, (long long)v, (long long)gi[u - 1] + 1, (long long)gi[v - 1] + 1);
            free(gptr);
            goto fail;
        }
        if (u != v) keys[E++] = (u - 1) * N + (v - 1);
    }
    qsort(keys, (size_t)E, sizeof *keys, cmp_i64);
    int64_t k = 0;
    for (int64_t i = 0; i < E; i++)
        if (i == 0 || keys[i] != keys[i - 1]) keys[k++] = keys[i];
    E = k;
    int64_t *eptr = calloc((size_t)G + 1, sizeof *eptr);
    if (!eptr) {
        free(gptr);
        goto oom;
    }
    /* reuse `a` as the [2, E] edge array */
    for (int64_t i = 0; i < E; i++) {
        a[i] = keys[i] / N;
        a[E + i] = keys[i] % N;
        eptr[gi[a[i]] + 1]++;
    }
    for (int64_t g = 0; g < G; g++) eptr[g + 1] += eptr[g];

    int64_t sh[2] = {2, E}, gp1 = G + 1;
    t->edges = own_i64(2, sh, a);
    t->edge_ptr = own_i64(1, &gp1, eptr);
    t->graph_ptr = own_i64(1, &gp1, gptr);
    t->graph_of_node = own_i64(1, &N, gi);
    t->graph_labels = own_i64(1, &G, gl);
    free(eptr);
    free(gptr);
    if (!t->edges || !t->edge_ptr || !t->graph_ptr || !t->graph_of_node || !t->graph_labels) goto fail;
    t->num_nodes = N;
    t->num_edges = E;
    t->num_edge_lines = lines;
    t->num_graphs = G;
    t->num_classes = C;

    /* node labels (optional) */
    if (bufs[F_NL]) {
        int64_t n;
        r = (reader){(const char *)bufs[F_NL], (const char *)bufs[F_NL] + lens[F_NL], names[F_NL], 0};
        cap = count_lines(bufs[F_NL], lens[F_NL]);
        if (!(nl = malloc((size_t)cap * sizeof *nl))) goto oom;
        if (read_ints(&r, 1, nl, cap, &n) < 0) goto fail;
        if (n != N) {
            lab_error_set("tu: %s has %lld lines but %s has %lld nodes", names[F_NL], (long long)n, names[F_GI],
                          (long long)N);
            goto fail;
        }
        int64_t lo = nl[0], hi = nl[0];
        for (int64_t i = 1; i < N; i++) lo = nl[i] < lo ? nl[i] : lo, hi = nl[i] > hi ? nl[i] : hi;
        if (hi - lo >= (int64_t)1 << 31 || hi - lo < 0) {
            lab_error_set("tu: %s: node labels span %lld .. %lld, too wide", names[F_NL], (long long)lo, (long long)hi);
            goto fail;
        }
        for (int64_t i = 0; i < N; i++) nl[i] -= lo;
        t->node_labels = own_i64(1, &N, nl);
        if (!t->node_labels) goto fail;
        t->num_node_labels = hi - lo + 1;
    }

    /* node attributes (optional): the first line fixes the width */
    if (bufs[F_NA]) {
        r = (reader){(const char *)bufs[F_NA], (const char *)bufs[F_NA] + lens[F_NA], names[F_NA], 0};
        const char *s, *e;
        int64_t n = 0, D = 0;
        int rc;
        enum { MAXD = 4096 };
        const char **fs = malloc(2 * MAXD * sizeof *fs), **fe = fs ? fs + MAXD : NULL;
        if (!fs) goto oom;
        while ((rc = next_line(&r, &s, &e)) == 1) {
            int c = split(s, e, fs, fe, MAXD);
            if (c < 0) {
                lab_error_set("tu: %s: line %lld has more than %d values", names[F_NA], (long long)r.line, MAXD);
                break;
            }
            if (n == 0) {
                D = c;
                if (!(na = malloc((size_t)N * (size_t)D * sizeof *na))) {
                    free(fs);
                    goto oom;
                }
            }
            if (c != D) {
                lab_error_set("tu: %s: line %lld has %d values, line 1 has %lld", names[F_NA], (long long)r.line, c,
                              (long long)D);
                rc = -1;
                break;
            }
            if (n >= N) {
                lab_error_set("tu: %s has more lines than the %lld nodes of %s", names[F_NA], (long long)N, names[F_GI]);
                rc = -1;
                break;
            }
            for (int j = 0; j < c; j++)
                if (parse_float(fs[j], fe[j], &na[n * D + j]) < 0) {
                    lab_error_set("tu: %s: line %lld: \"%.*s\" is not a finite number", names[F_NA], (long long)r.line,
                                  (int)(fe[j] - fs[j] > 40 ? 40 : fe[j] - fs[j]), fs[j]);
                    rc = -1;
                    break;
                }
            if (rc < 0) break;
            n++;
        }
        free(fs);
        if (rc < 0) goto fail;
        if (n != N) {
            lab_error_set("tu: %s has %lld lines but %s has %lld nodes", names[F_NA], (long long)n, names[F_GI],
                          (long long)N);
            goto fail;
        }
        int64_t shape[2] = {N, D};
        t->node_attributes = lab_tensor_own(lab_tensor_from_data(LAB_F32, 2, shape, na, LAB_CPU));
        if (!t->node_attributes) goto fail;
        t->num_node_attributes = D;
    }
    free(gi);
    free(gl);
    free(a);
    free(keys);
    free(nl);
    free(na);
    return t;
oom:
    lab_error_set("tu: out of memory");
fail:
    free(gi);
    free(gl);
    free(a);
    free(keys);
    free(nl);
    free(na);
    free(tmp);
    lab_tu_free(t);
    return NULL;
}

lab_tu *lab_tu_read(const char *dir, const char *name)
{
    if (!dir || !name) {
        lab_error_set("tu: no directory or dataset name given");
        return NULL;
    }
    uint8_t *bufs[5] = {0};
    size_t lens[5] = {0};
    char paths[5][4096];
    const char *names[5];
    lab_tu *t = NULL;
    for (int i = 0; i < 5; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/%s%s", dir, name, suffix[i]);
        names[i] = paths[i];
        if (i >= 3) {
            FILE *f = fopen(paths[i], "rb");
            if (!f) continue; /* optional */
            fclose(f);
        }
        if (lab_data_read_file("tu", paths[i], LAB_DATA_MAX_BYTES, &bufs[i], &lens[i]) < 0) goto done;
    }
    t = lab_tu_parse((const uint8_t *const *)bufs, lens, names);
done:
    for (int i = 0; i < 5; i++) free(bufs[i]);
    return t;
}
