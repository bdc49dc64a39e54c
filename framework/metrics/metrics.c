/* Evaluation metrics on host arrays (see lab/metrics.h for the conventions).
 *
 * ROC-AUC is the Mann–Whitney statistic with average ranks for ties, which
 * is exactly sklearn's trapezoidal roc_auc_score; average precision is
 * sklearn's average_precision_score (step-wise, not interpolated); the
 * multi-task forms, Hits@K and MRR follow the OGB evaluators
 * (ogb/graphproppred and ogb/linkproppred evaluate.py). Sums run in double.
 * Tested in tests/unit/test_metrics.c against sklearn/numpy/OGB numbers
 * and hand-computed cases. */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lab/error.h"
#include "lab/metrics.h"

/* Set the error and give the NAN that metric functions return on failure. */
static double fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static double fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lab_error_setv(fmt, ap);
    va_end(ap);
    return NAN;
}

static int check_n(const char *op, int64_t n)
{
    if (n <= 0) {
        lab_error_set("%s: no samples (n = %lld)", op, (long long)n);
        return -1;
    }
    return 0;
}

static int check_labels(const char *op, const int64_t *labels, int64_t n, int64_t classes)
{
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes) {
            lab_error_set("%s: label %lld at position %lld is out of range [0, %lld)", op, (long long)labels[i],
                          (long long)i, (long long)classes);
            return -1;
        }
    return 0;
}

double lab_metric_accuracy(const int64_t *pred, const int64_t *labels, int64_t n)
{
    if (check_n("accuracy", n) < 0) return NAN;
    if (!pred || !labels) return fail("accuracy: missing input");
    int64_t hit = 0;
    for (int64_t i = 0; i < n; i++) hit += pred[i] == labels[i];
    return (double)hit / (double)n;
}

double lab_metric_accuracy_logits(const float *logits, const int64_t *labels, int64_t n, int64_t classes)
{
    return lab_metric_topk_accuracy(logits, labels, n, classes, 1);
}

double lab_metric_topk_accuracy(const float *logits, const int64_t *labels, int64_t n, int64_t classes, int64_t k)
{
    const char *op = k == 1 ? "accuracy" : "topk_accuracy";
    if (check_n(op, n) < 0) return NAN;
    if (!logits || !labels) return fail("%s: missing input", op);
    if (classes <= 0 || k <= 0)
        return fail("%s: needs classes > 0 and k > 0 (got %lld, %lld)", op, (long long)classes, (long long)k);
    if (check_labels(op, labels, n, classes) < 0) return NAN;
    int64_t hit = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = logits + i * classes;
        int64_t y = labels[i], rank = 0;
        float sy = row[y];
        for (int64_t j = 0; j < classes && rank < k; j++)
            rank += row[j] > sy || (j < y && row[j] == sy);
        hit += rank < k;
    }
    return (double)hit / (double)n;
}

/* --- ROC-AUC --------------------------------------------------------------------- */

typedef struct {
    float s;
    int pos;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    float x = ((const scored *)a)->s, y = ((const scored *)b)->s;
    return (x > y) - (x < y);
}

/* Mann–Whitney: AUC = (sum of positive ranks - P(P+1)/2) / (P N), ranks
 * 1-based and averaged over ties. v is sorted in place. */
static double auc_sorted(scored *v, int64_t n, int64_t npos)
{
    qsort(v, (size_t)n, sizeof *v, cmp_scored);
    double rank_sum = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i, p = 0;
        while (j < n && v[j].s == v[i].s) p += v[j++].pos;
        double avg = 0.5 * (double)(i + 1 + j); /* mean of ranks i+1 .. j */
        rank_sum += avg * (double)p;
        i = j;
    }
    double P = (double)npos, N = (double)(n - npos);
    return (rank_sum - P * (P + 1) / 2) / (P * N);
}

double lab_metric_roc_auc(const float *scores, const int64_t *labels, int64_t n)
{
    if (check_n("roc_auc", n) < 0) return NAN;
    if (!scores || !labels) return fail("roc_auc: missing input");
    scored *v = malloc((size_t)n * sizeof *v);
    if (!v) return fail("roc_auc: out of host memory");
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] != 0 && labels[i] != 1) {
            free(v);
            return fail("roc_auc: label %lld at position %lld is not 0 or 1", (long long)labels[i], (long long)i);
        }
        if (isnan(scores[i])) {
            free(v);
            return fail("roc_auc: score at position %lld is NaN", (long long)i);
        }
        v[i].s = scores[i];
        v[i].pos = (int)labels[i];
        npos += labels[i];
    }
    if (npos == 0 || npos == n) {
        free(v);
        return fail("roc_auc: needs both classes, got %lld positives and %lld negatives", (long long)npos,
                    (long long)(n - npos));
    }
    double auc = auc_sorted(v, n, npos);
    free(v);
    return auc;
}

/* sklearn's average_precision_score: the distinct scores, taken in
 * decreasing order, are the thresholds (tied scores enter together);
 * AP = sum over thresholds of (recall gained) * (precision there). v is
 * sorted in place; npos > 0. */
static double ap_sorted(scored *v, int64_t n, int64_t npos)
{
    qsort(v, (size_t)n, sizeof *v, cmp_scored);
    double ap = 0;
    int64_t tp = 0, seen = 0;
    for (int64_t j = n; j > 0;) {
        int64_t i = j, p = 0;
        while (i > 0 && v[i - 1].s == v[j - 1].s) p += v[--i].pos;
        tp += p;
        seen += j - i;
        if (p) ap += ((double)p / (double)npos) * ((double)tp / (double)seen);
        j = i;
    }
    return ap;
}

double lab_metric_average_precision(const float *scores, const int64_t *labels, int64_t n)
{
    if (check_n("average_precision", n) < 0) return NAN;
    if (!scores || !labels) return fail("average_precision: missing input");
    scored *v = malloc((size_t)n * sizeof *v);
    if (!v) return fail("average_precision: out of host memory");
    int64_t npos = 0;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] != 0 && labels[i] != 1) {
            free(v);
            return fail("average_precision: label %lld at position %lld is not 0 or 1", (long long)labels[i],
                        (long long)i);
        }
        if (isnan(scores[i])) {
            free(v);
            return fail("average_precision: score at position %lld is NaN", (long long)i);
        }
        v[i].s = scores[i];
        v[i].pos = (int)labels[i];
        npos += labels[i];
    }
    if (npos == 0) {
        free(v);
        return fail("average_precision: needs a positive label, got %lld negatives only", (long long)n);
    }
    double ap = ap_sorted(v, n, npos);
    free(v);
    return ap;
}

/* OGB's multi-task convention (ogb/graphproppred/evaluate.py): per task,
 * the rows whose label is not NaN; a task counts only with both classes
 * among them; the mean over the tasks that count. */
static double multitask_mean(const char *op, double (*metric)(scored *, int64_t, int64_t), const float *scores,
                             const float *labels, int64_t n, int64_t tasks)
{
    if (check_n(op, n) < 0) return NAN;
    if (!scores || !labels || tasks <= 0) return fail("%s: missing input or %lld tasks", op, (long long)tasks);
    scored *v = malloc((size_t)n * sizeof *v);
    if (!v) return fail("%s: out of host memory", op);
    double sum = 0;
    int64_t used = 0;
    for (int64_t t = 0; t < tasks; t++) {
        int64_t m = 0, npos = 0;
        for (int64_t i = 0; i < n; i++) {
            float y = labels[i * tasks + t], s = scores[i * tasks + t];
            if (isnan(y)) continue;
            if (y != 0.0f && y != 1.0f) {
                free(v);
                return fail("%s: label at row %lld, task %lld is not 0, 1 or NaN", op, (long long)i, (long long)t);
            }
            if (isnan(s)) {
                free(v);
                return fail("%s: score at row %lld, task %lld is NaN", op, (long long)i, (long long)t);
            }
            v[m].s = s;
            v[m].pos = y == 1.0f;
            npos += v[m].pos;
            m++;
        }
        if (npos == 0 || npos == m) continue; /* OGB skips tasks without both classes */
        sum += metric(v, m, npos);
        used++;
    }
    free(v);
    if (used == 0)
        return fail("%s: no task has both positive and negative labels (%lld tasks, %lld rows)", op, (long long)tasks,
                    (long long)n);
    return sum / (double)used;
}

double lab_metric_roc_auc_multitask(const float *scores, const float *labels, int64_t n, int64_t tasks)
{
    return multitask_mean("roc_auc_multitask", auc_sorted, scores, labels, n, tasks);
}

double lab_metric_average_precision_multitask(const float *scores, const float *labels, int64_t n, int64_t tasks)
{
    return multitask_mean("average_precision_multitask", ap_sorted, scores, labels, n, tasks);
}

/* --- ranking (OGB) ------------------------------------------------------------------ */

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

double lab_metric_hits_at_k(const float *pos, int64_t npos, const float *neg, int64_t nneg, int64_t k)
{
    if (check_n("hits_at_k", npos) < 0) return NAN;
    if (!pos || (nneg > 0 && !neg)) return fail("hits_at_k: missing input");
    if (k <= 0 || nneg < 0)
        return fail("hits_at_k: needs k > 0 and nneg >= 0 (got k %lld, nneg %lld)", (long long)k, (long long)nneg);
    if (nneg < k) return 1.0;
    float *v = malloc((size_t)nneg * sizeof *v);
    if (!v) return fail("hits_at_k: out of host memory");
    memcpy(v, neg, (size_t)nneg * sizeof *v);
    for (int64_t i = 0; i < nneg; i++)
        if (isnan(v[i])) {
            free(v);
            return fail("hits_at_k: negative score %lld is NaN", (long long)i);
        }
    qsort(v, (size_t)nneg, sizeof *v, cmp_desc);
    float kth = v[k - 1];
    free(v);
    int64_t hit = 0;
    for (int64_t i = 0; i < npos; i++) hit += pos[i] > kth;
    return (double)hit / (double)npos;
}

double lab_metric_mrr(const float *pos, const float *neg, int64_t n, int64_t m)
{
    if (check_n("mrr", n) < 0) return NAN;
    if (!pos || (m > 0 && !neg) || m < 0)
        return fail("mrr: missing input or %lld negatives per positive", (long long)m);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t gt = 0, ge = 0;
        const float *row = neg + i * m;
        for (int64_t j = 0; j < m; j++) {
            gt += row[j] > pos[i];
            ge += row[j] >= pos[i];
        }
        sum += 1.0 / (0.5 * (double)(gt + ge) + 1.0);
    }
    return sum / (double)n;
}

/* --- over seeds ----------------------------------------------------------------------- */

double lab_metric_mean(const double *v, int64_t n)
{
    if (check_n("mean", n) < 0) return NAN;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    return s / (double)n;
}

double lab_metric_std(const double *v, int64_t n)
{
    if (n < 2) return fail("std: needs at least 2 values, got %lld", (long long)n);
    double mean = lab_metric_mean(v, n), ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
    return sqrt(ss / (double)(n - 1));
}

double lab_metric_stderr(const double *v, int64_t n)
{
    if (n < 2) return fail("stderr: needs at least 2 values, got %lld", (long long)n);
    return lab_metric_std(v, n) / sqrt((double)n);
}

int lab_metric_summarize(const double *v, int64_t n, lab_metric_summary *out)
{
    if (!out) return lab_error_set("summarize: no output");
    if (n < 1 || !v) return lab_error_set("summarize: no values (n = %lld)", (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (isnan(v[i])) return lab_error_set("summarize: value %lld is NaN", (long long)i);
    out->n = n;
    out->mean = lab_metric_mean(v, n);
    out->min = out->max = v[0];
    for (int64_t i = 1; i < n; i++) {
        if (v[i] < out->min) out->min = v[i];
        if (v[i] > out->max) out->max = v[i];
    }
    out->std = n > 1 ? lab_metric_std(v, n) : NAN;
    out->sem = n > 1 ? out->std / sqrt((double)n) : NAN;
    return 0;
}

/* --- tensor forms ------------------------------------------------------------------------ */

/* Host copy of a tensor as f32 (f32 only) or i64 (i64, i32, or f32 holding
 * whole numbers when allow_float). Caller frees. */
static float *host_f32(const char *op, const char *arg, const lab_tensor *t)
{
    char d[96];
    if (t->dtype != LAB_F32) {
        lab_error_set("%s: %s must be f32, got %s", op, arg, lab_tensor_desc(t, d, sizeof d));
        return NULL;
    }
    float *h = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *h);
    if (!h) {
        lab_error_set("%s: out of host memory", op);
        return NULL;
    }
    if (lab_tensor_copy_to_host(t, h) < 0) {
        free(h);
        return NULL;
    }
    return h;
}

static int64_t *host_i64(const char *op, const char *arg, const lab_tensor *t, int allow_float)
{
    char d[96];
    if (t->dtype == LAB_F32 && !allow_float) {
        lab_error_set("%s: %s must be i64 or i32, got %s", op, arg, lab_tensor_desc(t, d, sizeof d));
        return NULL;
    }
    size_t n = (size_t)(t->numel ? t->numel : 1);
    int64_t *h = malloc(n * sizeof *h);
    void *raw = malloc(n * lab_dtype_size(t->dtype));
    if (!h || !raw || lab_tensor_copy_to_host(t, raw) < 0) {
        if (!h || !raw) lab_error_set("%s: out of host memory", op);
        free(h);
        free(raw);
        return NULL;
    }
    for (int64_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case LAB_I64: h[i] = ((int64_t *)raw)[i]; break;
        case LAB_I32: h[i] = ((int32_t *)raw)[i]; break;
        case LAB_F32: {
            float f = ((float *)raw)[i];
            if (f != floorf(f)) {
                lab_error_set("%s: %s value %g at position %lld is not a whole number", op, arg, f, (long long)i);
                free(h);
                free(raw);
                return NULL;
            }
            h[i] = (int64_t)f;
            break;
        }
        }
    }
    free(raw);
    return h;
}

static int need_1d(const char *op, const char *arg, const lab_tensor *t, int64_t n)
{
    if (t->ndim == 1 && (n < 0 || t->shape[0] == n)) return 0;
    char d[96];
    if (n < 0) return lab_error_set("%s: %s must be 1-D, got %s", op, arg, lab_tensor_desc(t, d, sizeof d));
    return lab_error_set("%s: %s must be [%lld], got %s", op, arg, (long long)n, lab_tensor_desc(t, d, sizeof d));
}

double lab_metric_accuracy_t(const lab_tensor *x, const lab_tensor *labels)
{
    if (!x || !labels) return NAN;
    const char *op = "accuracy";
    char d[96];
    if (x->dtype == LAB_F32) {
        if (x->ndim != 2) {
            lab_error_set("%s: logits must be [n, classes], got %s", op, lab_tensor_desc(x, d, sizeof d));
            return NAN;
        }
        return lab_metric_topk_accuracy_t(x, labels, 1);
    }
    if (need_1d(op, "predictions", x, -1) < 0 || need_1d(op, "labels", labels, x->shape[0]) < 0) return NAN;
    int64_t *p = host_i64(op, "predictions", x, 0), *y = p ? host_i64(op, "labels", labels, 0) : NULL;
    double r = (p && y) ? lab_metric_accuracy(p, y, x->shape[0]) : NAN;
    free(p);
    free(y);
    return r;
}

double lab_metric_topk_accuracy_t(const lab_tensor *logits, const lab_tensor *labels, int64_t k)
{
    if (!logits || !labels) return NAN;
    const char *op = k == 1 ? "accuracy" : "topk_accuracy";
    char d[96];
    if (logits->ndim != 2) {
        lab_error_set("%s: logits must be [n, classes], got %s", op, lab_tensor_desc(logits, d, sizeof d));
        return NAN;
    }
    if (need_1d(op, "labels", labels, logits->shape[0]) < 0) return NAN;
    float *s = host_f32(op, "logits", logits);
    int64_t *y = s ? host_i64(op, "labels", labels, 0) : NULL;
    double r = (s && y) ? lab_metric_topk_accuracy(s, y, logits->shape[0], logits->shape[1], k) : NAN;
    free(s);
    free(y);
    return r;
}

double lab_metric_roc_auc_t(const lab_tensor *scores, const lab_tensor *labels)
{
    if (!scores || !labels) return NAN;
    if (need_1d("roc_auc", "scores", scores, -1) < 0 || need_1d("roc_auc", "labels", labels, scores->shape[0]) < 0)
        return NAN;
    float *s = host_f32("roc_auc", "scores", scores);
    int64_t *y = s ? host_i64("roc_auc", "labels", labels, 1) : NULL;
    double r = (s && y) ? lab_metric_roc_auc(s, y, scores->shape[0]) : NAN;
    free(s);
    free(y);
    return r;
}

double lab_metric_average_precision_t(const lab_tensor *scores, const lab_tensor *labels)
{
    const char *op = "average_precision";
    if (!scores || !labels) return NAN;
    if (need_1d(op, "scores", scores, -1) < 0 || need_1d(op, "labels", labels, scores->shape[0]) < 0) return NAN;
    float *s = host_f32(op, "scores", scores);
    int64_t *y = s ? host_i64(op, "labels", labels, 1) : NULL;
    double r = (s && y) ? lab_metric_average_precision(s, y, scores->shape[0]) : NAN;
    free(s);
    free(y);
    return r;
}

double lab_metric_hits_at_k_t(const lab_tensor *pos, const lab_tensor *neg, int64_t k)
{
    if (!pos || !neg) return NAN;
    if (need_1d("hits_at_k", "pos", pos, -1) < 0 || need_1d("hits_at_k", "neg", neg, -1) < 0) return NAN;
    float *p = host_f32("hits_at_k", "pos", pos);
    float *q = p ? host_f32("hits_at_k", "neg", neg) : NULL;
    double r = (p && q) ? lab_metric_hits_at_k(p, pos->shape[0], q, neg->shape[0], k) : NAN;
    free(p);
    free(q);
    return r;
}

double lab_metric_mrr_t(const lab_tensor *pos, const lab_tensor *neg)
{
    if (!pos || !neg) return NAN;
    if (need_1d("mrr", "pos", pos, -1) < 0) return NAN;
    if (neg->ndim != 2 || neg->shape[0] != pos->shape[0]) {
        char a[96], b[96];
        lab_error_set("mrr: neg must be [n, m] with n = %s's length, got pos %s and neg %s", "pos",
                      lab_tensor_desc(pos, a, sizeof a), lab_tensor_desc(neg, b, sizeof b));
        return NAN;
    }
    float *p = host_f32("mrr", "pos", pos);
    float *q = p ? host_f32("mrr", "neg", neg) : NULL;
    double r = (p && q) ? lab_metric_mrr(p, q, pos->shape[0], neg->shape[1]) : NAN;
    free(p);
    free(q);
    return r;
}
