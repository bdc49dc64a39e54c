/* text_metrics.c — CIDEr-D and set F1 (lab/text_metrics.h).
 *
 * N-grams are kept as strings (tokens joined by a space) in one sorted
 * array per sentence; document frequencies live in a hash table. Tested by
 * tests/unit/test_text_metrics.c (hand-computed scores, identical candidates,
 * bad input). */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lab/error.h"
#include "lab/text_metrics.h"

#define CIDER_N 4
#define CIDER_SIGMA 6.0

typedef struct {
    char *gram;
    int n;      /* 1..4 */
    double cnt; /* term frequency */
} gram_cnt;

typedef struct {
    gram_cnt *g;
    int ng;
    int len; /* tokens */
} sent;

static int cmp_gram(const void *a, const void *b)
{
    return strcmp(((const gram_cnt *)a)->gram, ((const gram_cnt *)b)->gram);
}

static void sent_free(sent *s)
{
    for (int i = 0; i < s->ng; i++) free(s->g[i].gram);
    free(s->g);
    s->g = NULL;
    s->ng = 0;
}

/* Tokenise and count n-grams (n = 1..4), merged and sorted. */
static int sent_build(const char *text, sent *s)
{
    memset(s, 0, sizeof *s);
    int cap = 16, nt = 0;
    char **tok = malloc(sizeof(char *) * (size_t)cap);
    if (!tok) return -1;
    const char *p = text;
    while (*p) {
        while (*p && isspace((unsigned char)*p)) p++;
        if (!*p) break;
        const char *q = p;
        while (*q && !isspace((unsigned char)*q)) q++;
        if (nt == cap) {
            cap *= 2;
            char **t2 = realloc(tok, sizeof(char *) * (size_t)cap);
            if (!t2) goto fail;
            tok = t2;
        }
        tok[nt] = strndup(p, (size_t)(q - p));
        if (!tok[nt]) goto fail;
        nt++;
        p = q;
    }
    s->len = nt;
    int maxg = nt * CIDER_N + 1;
    s->g = calloc((size_t)maxg, sizeof(gram_cnt));
    if (!s->g) goto fail;
    for (int n = 1; n <= CIDER_N; n++)
        for (int i = 0; i + n <= nt; i++) {
            size_t L = 0;
            for (int k = 0; k < n; k++) L += strlen(tok[i + k]) + 1;
            char *g = malloc(L + 1);
            if (!g) goto fail;
            g[0] = 0;
            for (int k = 0; k < n; k++) {
                if (k) strcat(g, " ");
                strcat(g, tok[i + k]);
            }
            s->g[s->ng].gram = g;
            s->g[s->ng].n = n;
            s->g[s->ng].cnt = 1;
            s->ng++;
        }
    qsort(s->g, (size_t)s->ng, sizeof(gram_cnt), cmp_gram);
    int w = 0;
    for (int i = 0; i < s->ng; i++) {
        if (w > 0 && strcmp(s->g[w - 1].gram, s->g[i].gram) == 0) {
            s->g[w - 1].cnt += 1;
            free(s->g[i].gram);
        } else
            s->g[w++] = s->g[i];
    }
    s->ng = w;
    for (int i = 0; i < nt; i++) free(tok[i]);
    free(tok);
    return 0;
fail:
    for (int i = 0; i < nt; i++) free(tok[i]);
    free(tok);
    sent_free(s);
    return -1;
}

/* Document frequencies: open-addressing hash of n-gram -> count. */
typedef struct {
    char **key;
    int *df;
    int *last; /* last item that counted the key, so each item counts once */
    size_t cap;
} df_table;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static size_t df_slot(const df_table *t, const char *k)
{
    size_t i = hash_str(k) & (t->cap - 1);
    while (t->key[i] && strcmp(t->key[i], k) != 0) i = (i + 1) & (t->cap - 1);
    return i;
}

static double sent_weights(const sent *s, const df_table *t, double log_items, double *w, double *norm)
{
    for (int n = 0; n < CIDER_N; n++) norm[n] = 0;
    for (int i = 0; i < s->ng; i++) {
        size_t k = df_slot(t, s->g[i].gram);
        int df = t->key[k] ? t->df[k] : 0;
        w[i] = s->g[i].cnt * (log_items - log(df > 1 ? (double)df : 1.0));
        norm[s->g[i].n - 1] += w[i] * w[i];
    }
    for (int n = 0; n < CIDER_N; n++) norm[n] = sqrt(norm[n]);
    return 0;
}

int lab_cider_d(int n, const char *const *cands, const char *const *const *refs, const int *nrefs,
                double *score, double *per_item)
{
    if (n < 1 || !cands || !refs || !nrefs || !score) return lab_error_set("cider_d: need n >= 1 items, got %d", n);
    for (int i = 0; i < n; i++) {
        if (!cands[i]) return lab_error_set("cider_d: candidate %d is NULL", i);
        if (nrefs[i] < 1 || !refs[i]) return lab_error_set("cider_d: item %d has no references", i);
        for (int r = 0; r < nrefs[i]; r++)
            if (!refs[i][r]) return lab_error_set("cider_d: reference %d of item %d is NULL", r, i);
    }
    int total_refs = 0;
    for (int i = 0; i < n; i++) total_refs += nrefs[i];
    sent *rs = calloc((size_t)total_refs, sizeof(sent));
    sent cs = {0};
    df_table t = {0};
    int rc = -1;
    double total = 0;
    if (!rs) goto done;
    size_t ngr = 0;
    for (int i = 0, k = 0; i < n; i++)
        for (int r = 0; r < nrefs[i]; r++, k++) {
            if (sent_build(refs[i][r], &rs[k]) < 0) goto done;
            ngr += (size_t)rs[k].ng;
        }
    t.cap = 16;
    while (t.cap < 2 * ngr + 16) t.cap *= 2;
    t.key = calloc(t.cap, sizeof(char *));
    t.df = calloc(t.cap, sizeof(int));
    t.last = calloc(t.cap, sizeof(int));
    if (!t.key || !t.df || !t.last) goto done;
    for (int i = 0, k = 0; i < n; i++)
        for (int r = 0; r < nrefs[i]; r++, k++)
            for (int g = 0; g < rs[k].ng; g++) {
                size_t s = df_slot(&t, rs[k].g[g].gram);
                if (!t.key[s]) {
                    t.key[s] = rs[k].g[g].gram; /* borrowed from rs */
                    t.df[s] = 1;
                    t.last[s] = i;
                } else if (t.last[s] != i) {
                    t.df[s]++;
                    t.last[s] = i;
                }
            }
    double log_items = log((double)n);
    for (int i = 0, k = 0; i < n; i++) {
        if (sent_build(cands[i], &cs) < 0) goto done;
        double *wc = malloc(sizeof(double) * (size_t)(cs.ng + 1)), nc[CIDER_N];
        if (!wc) goto done;
        sent_weights(&cs, &t, log_items, wc, nc);
        double item = 0;
        for (int r = 0; r < nrefs[i]; r++, k++) {
            const sent *rr = &rs[k];
            double *wr = malloc(sizeof(double) * (size_t)(rr->ng + 1)), nr[CIDER_N], val[CIDER_N] = {0};
            if (!wr) {
                free(wc);
                goto done;
            }
            sent_weights(rr, &t, log_items, wr, nr);
            /* Both gram lists are sorted: merge. */
            for (int a = 0, b = 0; a < cs.ng && b < rr->ng;) {
                int c = strcmp(cs.g[a].gram, rr->g[b].gram);
                if (c == 0) {
                    val[cs.g[a].n - 1] += fmin(wc[a], wr[b]) * wr[b];
                    a++, b++;
                } else if (c < 0)
                    a++;
                else
                    b++;
            }
            double delta = (double)(cs.len - rr->len);
            double pen = exp(-(delta * delta) / (2 * CIDER_SIGMA * CIDER_SIGMA));
            for (int g = 0; g < CIDER_N; g++) {
                if (nc[g] != 0 && nr[g] != 0) val[g] /= nc[g] * nr[g];
                item += val[g] * pen / CIDER_N;
            }
            free(wr);
        }
        free(wc);
        sent_free(&cs);
        item = item / nrefs[i] * 10.0;
        if (per_item) per_item[i] = item;
        total += item;
    }
    *score = total / n;
    rc = 0;
done:
    if (rc < 0) lab_error_set("cider_d: out of memory");
    sent_free(&cs);
    if (rs)
        for (int k = 0; k < total_refs; k++) sent_free(&rs[k]);
    free(rs);
    free(t.key);
    free(t.df);
    free(t.last);
    return rc;
}

/* Distinct tokens of s, sorted; returns the count. */
static int word_set(const char *s, sent *out)
{
    if (sent_build(s, out) < 0) return -1;
    int w = 0;
    for (int i = 0; i < out->ng; i++) {
        if (out->g[i].n == 1)
            out->g[w++] = out->g[i];
        else
            free(out->g[i].gram);
    }
    out->ng = w;
    return w;
}

double lab_set_f1(const char *pred, const char *ref)
{
    sent a, b;
    if (!pred || !ref || word_set(pred, &a) < 0) return 0;
    if (word_set(ref, &b) < 0) {
        sent_free(&a);
        return 0;
    }
    double f1;
    if (a.ng == 0 && b.ng == 0)
        f1 = 1;
    else {
        int common = 0;
        for (int i = 0, j = 0; i < a.ng && j < b.ng;) {
            int c = strcmp(a.g[i].gram, b.g[j].gram);
            if (c == 0)
                common++, i++, j++;
            else if (c < 0)
                i++;
            else
                j++;
        }
        double p = a.ng ? (double)common / a.ng : 0, r = b.ng ? (double)common / b.ng : 0;
        f1 = p + r > 0 ? 2 * p * r / (p + r) : 0;
    }
    sent_free(&a);
    sent_free(&b);
    return f1;
}
