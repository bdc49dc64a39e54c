#include <string.h>

#include "labtest.h"

/* Known-answer vectors of Random123 (kat_vectors, philox4x32 10 rounds). */
Test(rng, philox_known_answers)
{
    struct {
        uint32_t ctr[4], key[2], out[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint32_t out[4];
        lab_philox4x32_10(kat[i].ctr, kat[i].key, out);
        for (int j = 0; j < 4; j++)
            cr_assert_eq(out[j], kat[i].out[j], "vector %zu word %d: %08x != %08x", i, j, out[j], kat[i].out[j]);
    }
}

Test(rng, tensor_fill_matches_scalar_stream)
{
    lab_rng a = lab_rng_make(42, 3), b = lab_rng_make(42, 3);
    int64_t n = 1001;
    lab_tensor *t = lab_rng_uniform(&a, 1, &n, 0.0f, 1.0f, LAB_CPU);
    cr_assert_not_null(t);
    const float *v = lab_tensor_f32(t);
    for (int64_t i = 0; i < n; i++) cr_assert_eq(v[i], (float)lab_rng_next_uniform(&b), "at %lld", (long long)i);
    /* Offsets advance by whole blocks, so the next fill starts aligned. */
    cr_assert_eq(a.offset, 1004);
    lab_tensor_release(t);
}

Test(rng, normal_moments)
{
    lab_rng a = lab_rng_make(7, 0);
    int64_t n = 200000;
    lab_tensor *t = lab_rng_normal(&a, 1, &n, 1.0f, 2.0f, LAB_CPU);
    const float *v = lab_tensor_f32(t);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; i++) s += v[i], s2 += (double)v[i] * v[i];
    double mean = s / n, var = s2 / n - mean * mean;
    cr_assert(fabs(mean - 1.0) < 0.02, "mean %g", mean);
    cr_assert(fabs(var - 4.0) < 0.06, "var %g", var);
    lab_tensor_release(t);
}

Test(rng, streams_and_seeds_differ)
{
    lab_rng a = lab_rng_make(1, 0), b = lab_rng_make(1, 1), c = lab_rng_make(2, 0);
    uint32_t x = lab_rng_next_u32(&a), y = lab_rng_next_u32(&b), z = lab_rng_next_u32(&c);
    cr_assert(x != y && x != z && y != z);
    lab_rng f1 = lab_rng_fork(&a, 1), f2 = lab_rng_fork(&a, 2);
    cr_assert(f1.stream != f2.stream);
}

Test(rng, randint_range_and_perm)
{
    lab_rng a = lab_rng_make(5, 0);
    int64_t n = 5000;
    lab_tensor *t = lab_rng_randint(&a, 1, &n, -3, 4, LAB_CPU);
    const int64_t *v = lab_tensor_i64(t);
    int seen[7] = {0};
    for (int64_t i = 0; i < n; i++) {
        cr_assert(v[i] >= -3 && v[i] < 4);
        seen[v[i] + 3] = 1;
    }
    for (int i = 0; i < 7; i++) cr_assert(seen[i]);
    lab_tensor *p = lab_rng_randperm(&a, 100);
    const int64_t *pv = lab_tensor_i64(p);
    int hit[100] = {0};
    for (int i = 0; i < 100; i++) hit[pv[i]]++;
    for (int i = 0; i < 100; i++) cr_assert_eq(hit[i], 1);
    cr_assert_null(lab_rng_randint(&a, 1, &n, 4, 4, LAB_CPU));
    lt_assert_error_contains("randint: empty range");
    lab_tensor_release(t);
    lab_tensor_release(p);
}
