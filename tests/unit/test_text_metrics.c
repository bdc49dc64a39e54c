/* test_text_metrics.c — CIDEr-D on a hand-computed case and against the
 * coco-caption formula (numbers computed once in Python), set F1. */
#include <string.h>

#include "lab/text_metrics.h"
#include "labtest.h"

/* Two items, one reference each, no shared n-grams, so every idf is log 2.
 * Item 0 equals its reference: n = 1, 2 give cosine 1, n = 3, 4 have no
 * n-grams: 10 * (1 + 1 + 0 + 0) / 4 = 5. Item 1 "c" vs "c d": unigram cosine
 * log2^2 / (log2 * sqrt(2) log2) = 1/sqrt(2), length penalty exp(-1/72):
 * 10 * exp(-1/72) / sqrt(2) / 4. */
Test(cider, hand_computed)
{
    const char *cands[2] = {"a b", "c"};
    const char *r0[1] = {"a b"}, *r1[1] = {"c d"};
    const char *const *refs[2] = {r0, r1};
    int nrefs[2] = {1, 1};
    double score, per[2];
    cr_assert_eq(lab_cider_d(2, cands, refs, nrefs, &score, per), 0, "%s", lab_error());
    double want1 = 10.0 * exp(-1.0 / 72.0) / sqrt(2.0) / 4.0;
    cr_assert_float_eq(per[0], 5.0, 1e-12);
    cr_assert_float_eq(per[1], want1, 1e-12);
    cr_assert_float_eq(score, (5.0 + want1) / 2, 1e-12);
}

Test(cider, matches_reference_formula_with_multiple_refs)
{
    const char *cands[3] = {"the cat sat on the mat", "a dog runs", "two birds fly over water"};
    const char *r0[2] = {"the cat sat on a mat", "a cat is on the mat"};
    const char *r1[2] = {"the dog runs fast", "a dog is running"};
    const char *r2[2] = {"birds fly over the lake", "two birds over water"};
    const char *const *refs[3] = {r0, r1, r2};
    int nrefs[3] = {2, 2, 2};
    double score, per[3];
    cr_assert_eq(lab_cider_d(3, cands, refs, nrefs, &score, per), 0);
    double want[3] = {4.869905006518517, 2.6161949493901515, 3.6945389151068526};
    for (int i = 0; i < 3; i++) cr_assert_float_eq(per[i], want[i], 1e-9, "item %d: %g", i, per[i]);
    cr_assert_float_eq(score, (want[0] + want[1] + want[2]) / 3, 1e-9);
}

Test(cider, bad_input)
{
    const char *cands[1] = {"a"};
    const char *const *refs[1] = {NULL};
    int nrefs[1] = {0};
    double score;
    cr_assert_eq(lab_cider_d(1, cands, refs, nrefs, &score, NULL), -1);
    lt_assert_error_contains("no references");
    cr_assert_eq(lab_cider_d(0, cands, refs, nrefs, &score, NULL), -1);
}

Test(set_f1, values)
{
    cr_assert_float_eq(lab_set_f1("a b c", "a b c"), 1.0, 1e-12);
    cr_assert_float_eq(lab_set_f1("a b", "a c"), 0.5, 1e-12);
    cr_assert_float_eq(lab_set_f1("a a b", "b"), 2.0 * 0.5 * 1 / 1.5, 1e-12);
    cr_assert_float_eq(lab_set_f1("x", "y"), 0.0, 1e-12);
    cr_assert_float_eq(lab_set_f1("", ""), 1.0, 1e-12);
}
