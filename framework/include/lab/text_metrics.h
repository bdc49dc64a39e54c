/* lab/text_metrics.h — caption metrics.
 *
 * CIDEr-D (Vedantam et al., CVPR 2015, as in the coco-caption scorer):
 * sentences are split on whitespace; for n = 1..4 each sentence becomes a
 * vector of n-gram counts weighted by idf = log(#items) - log(max(1, df)),
 * df = the number of items whose references contain the n-gram. For a
 * candidate c and reference r:
 *
 *   sim_n(c, r) = sum_g min(c_g, r_g) r_g / (|c_n| |r_n|)      (0 norms: no division)
 *                 * exp(-(len(c) - len(r))^2 / (2 sigma^2)),   sigma = 6
 *   CIDEr-D(c)  = 10 * mean_n mean_r sim_n(c, r)
 *
 * and the corpus score is the mean over items. len() is the token count
 * (the coco-caption code counts bigrams, i.e. tokens - 1, which gives the
 * same difference for any two sentences of >= 2 tokens). Tested by
 * tests/unit/test_text_metrics.c on a hand-computed case.
 */
#ifndef LAB_TEXT_METRICS_H
#define LAB_TEXT_METRICS_H
#ifdef __cplusplus
extern "C" {
#endif
/* n items: cands[i] and its nrefs[i] >= 1 references refs[i][0..nrefs[i]).
 * Writes the corpus score to *score and, when per_item is not NULL, each
 * item's score. 0, or -1 with an error (n < 1, an item without references,
 * NULL strings, out of memory). */
int lab_cider_d(int n, const char *const *cands, const char *const *const *refs, const int *nrefs,
                double *score, double *per_item);
/* Precision/recall F1 of two sets of words (duplicates ignored), written as
 * whitespace-separated strings; 1 when both are empty. */
double lab_set_f1(const char *pred, const char *ref);
#ifdef __cplusplus
}
#endif
#endif
