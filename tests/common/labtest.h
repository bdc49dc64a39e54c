/* labtest.h — helpers shared by the Criterion tests. */
#ifndef LABTEST_H
#define LABTEST_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>

#include "lab/lab.h"

/* f32 tensor on cpu with N(0,1) values from a fixed stream (deterministic). */
lab_tensor *lt_randn(uint64_t seed, int ndim, const int64_t *shape);
/* Uniform in [lo, hi). */
lab_tensor *lt_rand(uint64_t seed, int ndim, const int64_t *shape, float lo, float hi);
/* i64 tensor with values in [0, n). */
lab_tensor *lt_randint(uint64_t seed, int ndim, const int64_t *shape, int64_t n);

/* Max over elements of |a-b| - (atol + rtol*|b|); <= 0 means close. Reports
 * the worst index in *where when not NULL. */
double lt_excess(const float *a, const float *b, int64_t n, double atol, double rtol, int64_t *where);

/* Assert two host arrays are close (atol + rtol*|ref|), naming the worst index. */
#define lt_assert_close(got, ref, n, atol, rtol)                                                   \
    do {                                                                                           \
        int64_t w_ = -1;                                                                           \
        double e_ = lt_excess((got), (ref), (n), (atol), (rtol), &w_);                             \
        cr_assert(e_ <= 0, "mismatch at %lld: got %g, want %g", (long long)w_,                     \
                  (double)(got)[w_ < 0 ? 0 : w_], (double)(ref)[w_ < 0 ? 0 : w_]);                \
    } while (0)

/* Assert a tensor (any device) equals host values. */
void lt_assert_tensor_close(const lab_tensor *t, const float *ref, double atol, double rtol);

/* Assert a call failed with a message containing `needle`. */
#define lt_assert_error_contains(needle)                                                           \
    cr_assert(strstr(lab_error(), (needle)) != NULL, "error \"%s\" lacks \"%s\"", lab_error(), (needle))

#endif
