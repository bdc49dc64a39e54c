#include "labtest.h"

#include <stdlib.h>
#include <string.h>

lab_tensor *lt_randn(uint64_t seed, int ndim, const int64_t *shape)
{
    lab_rng r = lab_rng_make(seed, 77);
    return lab_rng_normal(&r, ndim, shape, 0.0f, 1.0f, LAB_CPU);
}

lab_tensor *lt_rand(uint64_t seed, int ndim, const int64_t *shape, float lo, float hi)
{
    lab_rng r = lab_rng_make(seed, 78);
    return lab_rng_uniform(&r, ndim, shape, lo, hi, LAB_CPU);
}

lab_tensor *lt_randint(uint64_t seed, int ndim, const int64_t *shape, int64_t n)
{
    lab_rng r = lab_rng_make(seed, 79);
    return lab_rng_randint(&r, ndim, shape, 0, n, LAB_CPU);
}

double lt_excess(const float *a, const float *b, int64_t n, double atol, double rtol, int64_t *where)
{
    double worst = -INFINITY;
    int64_t wi = -1;
    for (int64_t i = 0; i < n; i++) {
        double e;
        if (isnan(a[i]) || isnan(b[i]))
            e = (isnan(a[i]) && isnan(b[i])) ? -1 : INFINITY;
        else if (isinf(b[i]) || isinf(a[i]))
            e = a[i] == b[i] ? -1 : INFINITY;
        else
            e = fabs((double)a[i] - b[i]) - (atol + rtol * fabs((double)b[i]));
        if (e > worst) {
            worst = e;
            wi = i;
        }
    }
    if (where) *where = wi;
    return n ? worst : -1;
}

void lt_assert_tensor_close(const lab_tensor *t, const float *ref, double atol, double rtol)
{
    cr_assert_not_null(t, "tensor is NULL: %s", lab_error());
    float *got = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *got);
    cr_assert_eq(lab_tensor_copy_to_host(t, got), 0);
    int64_t w = -1;
    double e = lt_excess(got, ref, t->numel, atol, rtol, &w);
    float g = w >= 0 ? got[w] : 0, r = w >= 0 ? ref[w] : 0;
    free(got);
    cr_assert(e <= 0, "mismatch at %lld: got %.7g, want %.7g", (long long)w, g, r);
}
