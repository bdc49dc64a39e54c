/* lab/metrics.h — evaluation metrics, computed on the host.
 *
 * Plain arrays in, a double out. A call that cannot give a value (no
 * samples, a label out of range, one class only for ROC-AUC, a NaN score)
 * returns NAN and sets lab_error(). The _t variants take tensors on any
 * device (copied to the host) and check shapes and dtypes.
 *
 *     double acc = lab_metric_accuracy_logits(logits, labels, n, classes);
 *     double auc = lab_metric_roc_auc(scores, labels01, n);
 *     lab_metric_summary s;
 *     lab_metric_summarize(test_acc_per_seed, nseeds, &s);   // s.mean ± s.std
 *
 * Conventions (each matches a reference, named per function): argmax ties
 * go to the lowest class index (torch.argmax, numpy.argmax); rankings with
 * ties use average ranks.
 */
#ifndef LAB_METRICS_H
#define LAB_METRICS_H

#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Fraction of i with pred[i] == labels[i]. */
double lab_metric_accuracy(const int64_t *pred, const int64_t *labels, int64_t n);
/* logits [n, classes] row-major; prediction = argmax (first maximum).
 * Labels must lie in [0, classes). */
double lab_metric_accuracy_logits(const float *logits, const int64_t *labels, int64_t n, int64_t classes);
/* A sample counts when its label is among the k best classes, ties broken
 * toward the lower class index (a stable descending sort), so k = 1 equals
 * lab_metric_accuracy_logits. k >= classes gives 1. */
double lab_metric_topk_accuracy(const float *logits, const int64_t *labels, int64_t n, int64_t classes, int64_t k);

/* Area under the ROC curve of scores against labels (0 or 1), with tied
 * scores at their average rank (the Mann–Whitney U statistic / (P·N)),
 * as sklearn.metrics.roc_auc_score. Needs both classes. */
double lab_metric_roc_auc(const float *scores, const int64_t *labels, int64_t n);
/* OGB's multi-task ROC-AUC (ogbg-molhiv, -molpcba): scores and labels
 * [n, tasks] row-major; labels 0, 1 or NAN (missing). Each task with both
 * classes among its labelled rows contributes its ROC-AUC; the result is
 * their mean (an error when no task qualifies). */
double lab_metric_roc_auc_multitask(const float *scores, const float *labels, int64_t n, int64_t tasks);

/* Average precision of scores against labels (0 or 1), as
 * sklearn.metrics.average_precision_score: the distinct scores in
 * decreasing order are the thresholds (tied scores enter together), and
 * AP = Σ (R_k − R_{k−1}) P_k over them, with recall R_k and precision P_k
 * at threshold k (no interpolation). Needs at least one positive. */
double lab_metric_average_precision(const float *scores, const int64_t *labels, int64_t n);
/* OGB's multi-task AP (ogbg-molpcba): as lab_metric_roc_auc_multitask —
 * NAN labels are missing, tasks without both classes among their labelled
 * rows are skipped, the result is the mean AP of the rest. */
double lab_metric_average_precision_multitask(const float *scores, const float *labels, int64_t n, int64_t tasks);

/* OGB's Hits@K (ogbl-*): the fraction of positive scores strictly greater
 * than the K-th highest negative score; 1 when there are fewer than K
 * negatives (as the OGB evaluator). */
double lab_metric_hits_at_k(const float *pos, int64_t npos, const float *neg, int64_t nneg, int64_t k);
/* OGB's MRR (ogbl-citation2, -wikikg2): positive i is ranked against its own
 * negatives neg[i, 0..m); rank = 1 + (#greater + #greater-or-equal) / 2;
 * the result is the mean of 1 / rank over the n positives. */
double lab_metric_mrr(const float *pos, const float *neg, int64_t n, int64_t m);

/* --- over seeds ---------------------------------------------------------- */
double lab_metric_mean(const double *v, int64_t n);
/* Sample standard deviation (divides by n - 1); NAN with an error for n < 2. */
double lab_metric_std(const double *v, int64_t n);
/* Standard error of the mean: std / sqrt(n); NAN with an error for n < 2. */
double lab_metric_stderr(const double *v, int64_t n);

typedef struct lab_metric_summary {
    int64_t n;
    double mean;
    double std; /* sample std (n - 1); NAN when n == 1 */
    double sem; /* std / sqrt(n); NAN when n == 1 */
    double min, max;
} lab_metric_summary;
/* Fills out; -1 with an error when n < 1 or a value is NaN. n == 1 is not
 * an error: std and sem are then NAN (there is no spread to measure). */
int lab_metric_summarize(const double *v, int64_t n, lab_metric_summary *out);

/* --- tensor forms (any device; copied to the host) ----------------------- */
/* logits_or_pred: f32 [n, classes] logits or i64/i32 [n] predictions;
 * labels i64/i32 [n]. */
double lab_metric_accuracy_t(const lab_tensor *logits_or_pred, const lab_tensor *labels);
double lab_metric_topk_accuracy_t(const lab_tensor *logits, const lab_tensor *labels, int64_t k);
/* scores f32 [n]; labels i64/i32 [n] or f32 [n] of 0/1. */
double lab_metric_roc_auc_t(const lab_tensor *scores, const lab_tensor *labels);
/* scores f32 [n]; labels i64/i32 [n] or f32 [n] of 0/1. */
double lab_metric_average_precision_t(const lab_tensor *scores, const lab_tensor *labels);
/* pos f32 [npos], neg f32 [nneg]. */
double lab_metric_hits_at_k_t(const lab_tensor *pos, const lab_tensor *neg, int64_t k);
/* pos f32 [n], neg f32 [n, m]. */
double lab_metric_mrr_t(const lab_tensor *pos, const lab_tensor *neg);

#ifdef __cplusplus
}
#endif
#endif
