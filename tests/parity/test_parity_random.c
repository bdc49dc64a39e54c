/* CPU vs CUDA: Philox streams must be bit-identical (kernels/cuda/
 * cuda_random.cu). The GPU tests skip without a usable cuda:0; the
 * exhaustive check of lab_rng_gauss's portability runs everywhere (it is
 * what makes bit-identity possible and needs no GPU). */
#include <float.h>
#include <math.h>

#include "backend.h"
#include "parity.h"

/* Distance, in ulps of the double nearest e, from e to the nearest float
 * rounding boundary (midpoint between adjacent floats). Any approximation of
 * e within fewer ulps than this rounds to the same float as e. */
static double boundary_margin(long double e)
{
    float cr = (float)e;
    long double up = nextafterf(cr, INFINITY), dn = nextafterf(cr, -INFINITY);
    long double m1 = ((long double)cr + up) / 2, m2 = ((long double)cr + dn) / 2;
    long double dist = fminl(fabsl(e - m1), fabsl(e - m2));
    double de = fabs((double)e);
    double ulp = nextafter(de, INFINITY) - de;
    return (double)(dist / ulp);
}

/* lab_rng_gauss evaluates (float)log((double)u1) and
 * (float)cos((double)(2pi_f * u2)) over the 2^24 values of u01. For every
 * one, the exact value must sit well away from a float rounding boundary
 * (so glibc's double log/cos, within 1 ulp, and CUDA's, within 1 and 2 ulp,
 * round to the same float), and the CPU's result must be that float. The
 * exact values come from long double (64-bit mantissa on x86-64). */
Test(parity_random, gauss_transform_is_portable)
{
    double min_log = INFINITY, min_cos = INFINITY;
    int64_t bad_log = -1, bad_cos = -1;
    for (uint32_t k = 1; k <= (1u << 24); k++) {
        float u = lab_rng_u01((k - 1) << 8);
        long double el = logl((long double)u);
        if (el != 0) {
            double m = boundary_margin(el);
            if (m < min_log) min_log = m;
            if ((float)log((double)u) != (float)el && bad_log < 0) bad_log = k;
        }
        float a = 6.28318530717958647692f * u;
        long double ec = cosl((long double)a);
        double m = boundary_margin(ec);
        if (m < min_cos) min_cos = m;
        if ((float)cos((double)a) != (float)ec && bad_cos < 0) bad_cos = k;
    }
    cr_assert(bad_log < 0, "(float)log(double) is not correctly rounded at u = %u * 2^-24", (unsigned)bad_log);
    cr_assert(bad_cos < 0, "(float)cos(double) is not correctly rounded at u = %u * 2^-24", (unsigned)bad_cos);
    /* Measured on glibc/x86-64: 21.3 ulps for log, 9.17 for cos. Asking for
     * 4 leaves twice CUDA's documented 2-ulp bound for double cos. */
    cr_assert(min_log >= 4.0, "log margin %.2f ulps", min_log);
    cr_assert(min_cos >= 4.0, "cos margin %.2f ulps", min_cos);
}

/* Fill with the slot on both backends and compare bits. */
static void check_fill(int normal, int64_t n, uint64_t seed, uint64_t stream, uint64_t offset)
{
    lab_scope_begin();
    const lab_backend *cpu = lab_backend_cpu(), *gpu = lab_backend_get(PT_GPU);
    cr_assert_not_null(gpu, "%s", lab_error());
    lab_tensor *yc = lab_tensor_empty(LAB_F32, 1, &n, LAB_CPU), *yg = lab_tensor_empty(LAB_F32, 1, &n, PT_GPU);
    if (normal) {
        cpu->philox_normal(n, lab_tensor_raw(yc), seed, stream, offset, 0.25f, 1.75f);
        gpu->philox_normal(n, lab_tensor_raw(yg), seed, stream, offset, 0.25f, 1.75f);
    } else {
        cpu->philox_uniform(n, lab_tensor_raw(yc), seed, stream, offset, -0.3f, 2.9f);
        gpu->philox_uniform(n, lab_tensor_raw(yg), seed, stream, offset, -0.3f, 2.9f);
    }
    char name[128];
    snprintf(name, sizeof name, "%s n=%lld seed=%llu stream=%llu offset=%llu", normal ? "normal" : "uniform",
             (long long)n, (unsigned long long)seed, (unsigned long long)stream, (unsigned long long)offset);
    pt_assert_match(name, yg, yc, 0, 0);
    lab_scope_end();
}

Test(parity_random, slots_are_bit_identical)
{
    PT_REQUIRE_GPU();
    uint64_t seeds[3] = {0, 42, (1ull << 40) + 7}, streams[3] = {0, 3, 1ull << 33};
    /* Odd offsets make normal pairs straddle Philox blocks. */
    uint64_t offsets[5] = {0, 1, 2, 3, 1000003};
    int64_t sizes[5] = {1, 3, 5, 1000, (1 << 20) + 1};
    for (int normal = 0; normal < 2; normal++)
        for (int s = 0; s < 3; s++)
            for (int o = 0; o < 5; o++)
                for (int z = 0; z < 5; z++)
                    if (z < 4 || (s == 1 && o % 2 == 1)) /* the large size on a few combinations */
                        check_fill(normal, sizes[z], seeds[s], streams[(s + o) % 3], offsets[o]);
}

Test(parity_random, tensors_and_dropout_match_across_devices)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    int64_t sh[2] = {123, 457};
    lab_rng a = lab_rng_make(7, 1), b = lab_rng_make(7, 1);
    pt_assert_match("lab_rng_uniform", lab_rng_uniform(&b, 2, sh, -1, 1, PT_GPU), lab_rng_uniform(&a, 2, sh, -1, 1, LAB_CPU),
                    0, 0);
    pt_assert_match("lab_rng_normal", lab_rng_normal(&b, 2, sh, 0, 2, PT_GPU), lab_rng_normal(&a, 2, sh, 0, 2, LAB_CPU), 0,
                    0);
    pt_assert_match("lab_rng_bernoulli", lab_rng_bernoulli(&b, 2, sh, 0.3f, PT_GPU),
                    lab_rng_bernoulli(&a, 2, sh, 0.3f, LAB_CPU), 0, 0);
    cr_assert_eq(a.offset, b.offset, "both streams advanced alike");
    /* Dropout draws its mask from the run's stream: the same units drop on
     * either device. */
    lab_tensor *x = lt_randn(8, 2, sh), *xg = lab_tensor_to(x, PT_GPU);
    pt_assert_match("dropout", lab_dropout(xg, 0.4f, 1, &b), lab_dropout(x, 0.4f, 1, &a), 0, 0);
    lab_scope_end();
}
