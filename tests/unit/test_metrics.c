/* Metrics against hand-computed cases and numbers computed once in Python
 * (numpy 1.24; sklearn is not installed, so ROC-AUC's reference is
 * sklearn's own algorithm — roc_curve thresholds at distinct scores, then
 * the trapezoid rule — written out in numpy; average precision by hand
 * from sklearn's definition; Hits@K and MRR follow
 * ogb/linkproppred/evaluate.py). */
#include <math.h>
#include <string.h>

#include "labtest.h"

Test(metrics, accuracy_from_predictions_and_logits)
{
    int64_t pred[5] = {0, 1, 2, 2, 1}, y[5] = {0, 1, 1, 2, 0};
    cr_assert_float_eq(lab_metric_accuracy(pred, y, 5), 0.6, 1e-15);
    float logits[4 * 3] = {0.1f, 0.5f, 0.4f, /* argmax 1 */
                           0.3f, 0.3f, 0.3f, /* tie: argmax is the first, 0 */
                           0.9f, 0.05f, 0.05f, 0.2f, 0.7f, 0.1f};
    int64_t labels[4] = {1, 0, 0, 2};
    cr_assert_float_eq(lab_metric_accuracy_logits(logits, labels, 4, 3), 0.75, 1e-15);
    labels[1] = 1; /* the tie no longer goes our way */
    cr_assert_float_eq(lab_metric_accuracy_logits(logits, labels, 4, 3), 0.5, 1e-15);
}

Test(metrics, topk_accuracy_ties_follow_a_stable_sort)
{
    float logits[4 * 3] = {0.1f, 0.5f, 0.4f, 0.3f, 0.3f, 0.3f, 0.9f, 0.05f, 0.05f, 0.2f, 0.7f, 0.1f};
    int64_t labels[4] = {2, 1, 1, 1};
    /* ranks of the true class: 1, 1 (tie behind class 0), 1 (tie ahead of
     * class 2), 0. */
    cr_assert_float_eq(lab_metric_topk_accuracy(logits, labels, 4, 3, 1), 0.25, 1e-15);
    cr_assert_float_eq(lab_metric_topk_accuracy(logits, labels, 4, 3, 2), 1.0, 1e-15);
    labels[1] = 2; /* rank 2 in the tie: needs k = 3 */
    cr_assert_float_eq(lab_metric_topk_accuracy(logits, labels, 4, 3, 2), 0.75, 1e-15);
    cr_assert_float_eq(lab_metric_topk_accuracy(logits, labels, 4, 3, 3), 1.0, 1e-15);
    cr_assert_float_eq(lab_metric_topk_accuracy(logits, labels, 4, 3, 7), 1.0, 1e-15);
    cr_assert(isnan(lab_metric_topk_accuracy(logits, labels, 4, 3, 0)));
    labels[2] = 3;
    cr_assert(isnan(lab_metric_topk_accuracy(logits, labels, 4, 3, 1)));
    lt_assert_error_contains("label 3 at position 2 is out of range [0, 3)");
    cr_assert(isnan(lab_metric_accuracy_logits(logits, labels, 0, 3)));
    lt_assert_error_contains("no samples");
}

Test(metrics, roc_auc_known_values)
{
    /* sklearn's documented example. */
    float s1[4] = {0.1f, 0.4f, 0.35f, 0.8f};
    int64_t y1[4] = {0, 0, 1, 1};
    cr_assert_float_eq(lab_metric_roc_auc(s1, y1, 4), 0.75, 1e-15);
    /* A tie between a positive and a negative counts one half. */
    float s2[4] = {0.1f, 0.5f, 0.5f, 0.9f};
    cr_assert_float_eq(lab_metric_roc_auc(s2, y1, 4), 0.875, 1e-15);
    float s3[4] = {0.5f, 0.5f, 0.5f, 0.5f};
    cr_assert_float_eq(lab_metric_roc_auc(s3, y1, 4), 0.5, 1e-15);
    float s4[4] = {0.9f, 0.8f, 0.2f, 0.1f}; /* perfectly wrong */
    cr_assert_float_eq(lab_metric_roc_auc(s4, y1, 4), 0.0, 1e-15);
}

Test(metrics, roc_auc_with_many_ties_matches_trapezoid_reference)
{
    static const float s[40] = {0.5f, 0.7f, 0.6f, 0.5f, 0.4f, 0.6f, 0.4f, 0.9f, 1.0f, 0.4f, 0.8f, 0.5f, 0.6f, 0.9f,
                                0.1f, 0.1f, 0.0f, 0.8f, 0.8f, 0.9f, 1.0f, 0.8f, 0.5f, 0.8f, 0.1f, 0.6f, 0.1f, 0.9f,
                                0.5f, 0.4f, 0.3f, 0.8f, 0.5f, 0.6f, 0.0f, 0.6f, 0.6f, 0.6f, 0.9f, 0.7f};
    static const int64_t y[40] = {1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0, 1,
                                  1, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
    cr_assert_float_eq(lab_metric_roc_auc(s, y, 40), 0.65984654731457804, 1e-12);
    /* Tensor form, labels as f32 0/1 (OGB style). */
    float yf[40];
    for (int i = 0; i < 40; i++) yf[i] = (float)y[i];
    lab_scope_begin();
    lab_tensor *ts = lab_tensor_from_f32(s, 1, (int64_t[]){40});
    lab_tensor *ty = lab_tensor_from_f32(yf, 1, (int64_t[]){40});
    cr_assert_float_eq(lab_metric_roc_auc_t(ts, ty), 0.65984654731457804, 1e-12);
    lab_scope_end();
}

Test(metrics, roc_auc_errors)
{
    float s[3] = {0.1f, 0.2f, 0.3f};
    int64_t one_class[3] = {1, 1, 1}, bad[3] = {0, 2, 1};
    cr_assert(isnan(lab_metric_roc_auc(s, one_class, 3)));
    lt_assert_error_contains("needs both classes, got 3 positives and 0 negatives");
    cr_assert(isnan(lab_metric_roc_auc(s, bad, 3)));
    lt_assert_error_contains("label 2 at position 1 is not 0 or 1");
    float sn[3] = {0.1f, NAN, 0.3f};
    int64_t y[3] = {0, 1, 1};
    cr_assert(isnan(lab_metric_roc_auc(sn, y, 3)));
    lt_assert_error_contains("score at position 1 is NaN");
}

Test(metrics, roc_auc_multitask_skips_missing_and_one_class_tasks)
{
    /* task 0: both classes (AUC 0.75 as sklearn's example, with a NaN row
     * ignored); task 1: positives only, skipped. */
    float s[5 * 2] = {0.1f, 0.3f, 0.4f, 0.2f, 0.35f, 0.9f, 0.8f, 0.1f, 0.99f, 0.5f};
    float y[5 * 2] = {0, 1, 0, 1, 1, NAN, 1, 1, NAN, 1};
    cr_assert_float_eq(lab_metric_roc_auc_multitask(s, y, 5, 2), 0.75, 1e-15);
    float none[5 * 2] = {1, 1, 1, 1, 1, 1, NAN, 1, 1, 1};
    cr_assert(isnan(lab_metric_roc_auc_multitask(s, none, 5, 2)));
    lt_assert_error_contains("no task has both positive and negative labels");
}

/* Average precision, hand-computed (sklearn's step-wise definition:
 * Σ (R_k − R_{k−1}) P_k over the distinct scores, descending). */
Test(metrics, average_precision_known_values_and_ties)
{
    /* sklearn's documented example: 1/2 * 1 + 1/2 * 2/3 = 0.8333... */
    float s1[4] = {0.1f, 0.4f, 0.35f, 0.8f};
    int64_t y1[4] = {0, 0, 1, 1};
    cr_assert_float_eq(lab_metric_average_precision(s1, y1, 4), 5.0 / 6.0, 1e-15);
    /* P = 3 of 6: 1/3 * 1 + 1/3 * 2/3 + 1/3 * 3/4 = 29/36 */
    float s2[6] = {0.9f, 0.8f, 0.7f, 0.6f, 0.5f, 0.4f};
    int64_t y2[6] = {1, 0, 1, 1, 0, 0};
    cr_assert_float_eq(lab_metric_average_precision(s2, y2, 6), 29.0 / 36.0, 1e-15);
    /* A tie enters as one threshold: {0.5: two positives, one negative}
     * gives 2/3 * 2/3, then 0.1 gives 1/3 * 3/4: 25/36. Item by item it
     * would be 23/36 (negative first) or 29/36 (positives first). */
    float s3[4] = {0.5f, 0.5f, 0.5f, 0.1f};
    int64_t y3[4] = {1, 0, 1, 1};
    cr_assert_float_eq(lab_metric_average_precision(s3, y3, 4), 25.0 / 36.0, 1e-15);
    int64_t all[4] = {1, 1, 1, 1};
    cr_assert_float_eq(lab_metric_average_precision(s3, all, 4), 1.0, 1e-15);
    int64_t none[4] = {0, 0, 0, 0};
    cr_assert(isnan(lab_metric_average_precision(s3, none, 4)));
    lt_assert_error_contains("average_precision: needs a positive label");
    int64_t bad[4] = {0, 2, 1, 0};
    cr_assert(isnan(lab_metric_average_precision(s3, bad, 4)));
    lt_assert_error_contains("average_precision: label 2 at position 1 is not 0 or 1");
    lab_scope_begin();
    lab_tensor *ts = lab_tensor_from_f32(s1, 1, (int64_t[]){4});
    lab_tensor *ty = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){4}, y1, LAB_CPU);
    cr_assert_float_eq(lab_metric_average_precision_t(ts, ty), 5.0 / 6.0, 1e-15);
    lab_scope_end();
}

Test(metrics, average_precision_multitask_ogb_convention)
{
    /* task 0: sklearn's example plus a NaN-labelled row scoring highest
     * (ignored): 5/6. task 1: labelled rows (0.2, 0), (0.6, 1), (0.7, 0),
     * (0.1, 1): 1/2 * 1/2 + 1/2 * 2/4 = 1/2. task 2: no positive among its
     * labels, skipped. Mean 2/3. */
    float s[5 * 3] = {0.1f, 0.2f, 0.5f, 0.4f, 0.9f, 0.5f, 0.35f, 0.6f, 0.5f, 0.8f, 0.7f, 0.5f, 0.99f, 0.1f, 0.5f};
    float y[5 * 3] = {0, 0, 0, 0, NAN, 0, 1, 1, NAN, 1, 0, 0, NAN, 1, 0};
    cr_assert_float_eq(lab_metric_average_precision_multitask(s, y, 5, 3), 2.0 / 3.0, 1e-15);
    /* the NaN row of task 0 counted as a positive would change it */
    y[4 * 3] = 1;
    cr_assert(fabs(lab_metric_average_precision_multitask(s, y, 5, 3) - 2.0 / 3.0) > 1e-3);
    float none[2 * 1] = {1, 1};
    cr_assert(isnan(lab_metric_average_precision_multitask(s, none, 2, 1)));
    lt_assert_error_contains("average_precision_multitask: no task has both positive and negative labels");
    float three[2 * 1] = {1, 3};
    cr_assert(isnan(lab_metric_average_precision_multitask(s, three, 2, 1)));
    lt_assert_error_contains("average_precision_multitask: label at row 1, task 0 is not 0, 1 or NaN");
}

Test(metrics, hits_at_k_ogb_convention)
{
    float pos[5] = {0.9f, 0.5f, 0.3f, 0.7f, 0.6f};
    float neg[5] = {0.8f, 0.6f, 0.4f, 0.2f, 0.1f};
    /* K = 2: the 2nd highest negative is 0.6; 0.6 itself does not count. */
    cr_assert_float_eq(lab_metric_hits_at_k(pos, 5, neg, 5, 2), 0.4, 1e-15);
    cr_assert_float_eq(lab_metric_hits_at_k(pos, 5, neg, 5, 1), 0.2, 1e-15);
    cr_assert_float_eq(lab_metric_hits_at_k(pos, 5, neg, 5, 5), 1.0, 1e-15);
    cr_assert_float_eq(lab_metric_hits_at_k(pos, 5, neg, 5, 6), 1.0, 1e-15); /* fewer negatives than K */
    cr_assert(isnan(lab_metric_hits_at_k(pos, 5, neg, 5, 0)));
    lab_scope_begin();
    lab_tensor *tp = lab_tensor_from_f32(pos, 1, (int64_t[]){5});
    lab_tensor *tn = lab_tensor_from_f32(neg, 1, (int64_t[]){5});
    cr_assert_float_eq(lab_metric_hits_at_k_t(tp, tn, 2), 0.4, 1e-15);
    lab_scope_end();
}

Test(metrics, mrr_ogb_convention)
{
    float pos[2] = {0.5f, 0.9f};
    float neg[2 * 3] = {0.6f, 0.5f, 0.1f, 0.1f, 0.2f, 0.3f};
    /* row 0: 1 greater, 2 greater-or-equal -> rank 2.5; row 1: rank 1. */
    cr_assert_float_eq(lab_metric_mrr(pos, neg, 2, 3), (0.4 + 1.0) / 2, 1e-15);
    lab_scope_begin();
    lab_tensor *tp = lab_tensor_from_f32(pos, 1, (int64_t[]){2});
    lab_tensor *tn = lab_tensor_from_f32(neg, 2, (int64_t[]){2, 3});
    cr_assert_float_eq(lab_metric_mrr_t(tp, tn), 0.7, 1e-15);
    lab_tensor *wrong = lab_tensor_from_f32(neg, 2, (int64_t[]){3, 2});
    cr_assert(isnan(lab_metric_mrr_t(tp, wrong)));
    lt_assert_error_contains("mrr: neg must be [n, m]");
    lab_scope_end();
}

Test(metrics, mean_std_sem_over_seeds)
{
    double v[5] = {0.81, 0.83, 0.79, 0.85, 0.80};
    cr_assert_float_eq(lab_metric_mean(v, 5), 0.81600000000000006, 1e-15);
    cr_assert_float_eq(lab_metric_std(v, 5), 0.024083189157584558, 1e-15);
    cr_assert_float_eq(lab_metric_stderr(v, 5), 0.010770329614268992, 1e-15);
    lab_metric_summary s;
    cr_assert_eq(lab_metric_summarize(v, 5, &s), 0);
    cr_assert_eq(s.n, 5);
    cr_assert_float_eq(s.std, 0.024083189157584558, 1e-15);
    cr_assert_float_eq(s.sem, 0.010770329614268992, 1e-15);
    cr_assert(s.min == 0.79 && s.max == 0.85);
    /* One seed: a mean but no spread. */
    cr_assert_eq(lab_metric_summarize(v, 1, &s), 0);
    cr_assert(s.mean == 0.81 && isnan(s.std) && isnan(s.sem));
    cr_assert(isnan(lab_metric_std(v, 1)));
    lt_assert_error_contains("needs at least 2 values, got 1");
    cr_assert_eq(lab_metric_summarize(v, 0, &s), -1);
    double bad[2] = {1, NAN};
    cr_assert_eq(lab_metric_summarize(bad, 2, &s), -1);
    lt_assert_error_contains("value 1 is NaN");
}

Test(metrics, tensor_forms_check_shapes_and_dtypes)
{
    lab_scope_begin();
    float lg[6] = {0.1f, 0.9f, 0.8f, 0.2f, 0.3f, 0.7f};
    lab_tensor *logits = lab_tensor_from_f32(lg, 2, (int64_t[]){3, 2});
    int64_t yv[3] = {1, 0, 0};
    lab_tensor *y = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){3}, yv, LAB_CPU);
    cr_assert_float_eq(lab_metric_accuracy_t(logits, y), 2.0 / 3.0, 1e-15);
    cr_assert_float_eq(lab_metric_topk_accuracy_t(logits, y, 2), 1.0, 1e-15);
    lab_tensor *pred = lab_argmax(logits, 1, 0);
    cr_assert_float_eq(lab_metric_accuracy_t(pred, y), 2.0 / 3.0, 1e-15);
    int32_t y32v[3] = {1, 0, 1};
    lab_tensor *y32 = lab_tensor_from_data(LAB_I32, 1, (int64_t[]){3}, y32v, LAB_CPU);
    cr_assert_float_eq(lab_metric_accuracy_t(logits, y32), 1.0, 1e-15);
    lab_tensor *short_y = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){2}, yv, LAB_CPU);
    cr_assert(isnan(lab_metric_accuracy_t(logits, short_y)));
    lt_assert_error_contains("labels must be [3], got i64[2]");
    lab_tensor *fy = lab_tensor_from_f32((float[]){1, 0, 0}, 1, (int64_t[]){3});
    cr_assert(isnan(lab_metric_accuracy_t(logits, fy)));
    lt_assert_error_contains("labels must be i64 or i32");
    cr_assert(isnan(lab_metric_accuracy_t(NULL, y)));
    lab_scope_end();
}
