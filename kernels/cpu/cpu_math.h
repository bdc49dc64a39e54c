/* cpu_math.h — elementary functions written so that loops calling them
 * vectorise (no libm calls, no branches, no lookups).
 *
 * lab_cpu_expf: Cephes' expf. n = round(x / ln 2) by the 1.5 * 2^23 trick
 * (default rounding mode; the build never uses -ffast-math), r = x - n ln 2
 * in two parts, exp(r) by a degree-6 polynomial, times 2^n built in two
 * halves so that results down in the subnormal range (x >= -104) and up to
 * overflow (x > 88.72 -> inf) come out right. Accuracy: within 2 ulp of
 * exp() over the whole float range; NaN in gives NaN out. Checked against
 * double-precision exp in tests/unit/test_elementwise.c (unary reference
 * test, extreme inputs included) and test_reduce.c (softmax). */
#ifndef LAB_CPU_MATH_H
#define LAB_CPU_MATH_H

#include <math.h>
#include <stdint.h>

/* Compute-bound kernels are built twice, for x86-64-v3 (AVX2, FMA) and the
 * baseline, and the loader picks one per machine (GCC function
 * multi-versioning). Put it on functions called inside OpenMP regions, not
 * on functions containing them: the outlined region bodies are not cloned. */
/* Not under ThreadSanitizer: its instrumented ifunc resolvers run during
 * relocation, before the TSan runtime is up, and crash at load time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_THREAD__)
#define LAB_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define LAB_CPU_CLONES
#endif

static inline float lab_cpu_bits_to_float(int32_t i)
{
    union {
        int32_t i;
        float f;
    } u = {i};
    return u.f;
}

static inline int32_t lab_cpu_float_to_bits(float f)
{
    union {
        float f;
        int32_t i;
    } u = {f};
    return u.i;
}

/* c ? a : b without a branch. */
static inline float lab_cpu_select(int c, float a, float b)
{
    int32_t m = -(int32_t)(c != 0);
    return lab_cpu_bits_to_float((lab_cpu_float_to_bits(a) & m) | (lab_cpu_float_to_bits(b) & ~m));
}

static inline float lab_cpu_expf(float x)
{
    /* Below -104 the result rounds to 0; above 89 it is inf either way.
     * Selects are bitwise, never `c ? a : b`: the compiler would turn those
     * into branches, specialise the arithmetic below per branch, and then
     * refuse to vectorise code that may raise a floating-point flag. */
    float xc = lab_cpu_select(x < -104.0f, -104.0f, x);
    xc = lab_cpu_select(xc > 89.0f, 89.0f, xc);
    xc = lab_cpu_select(xc != xc, 0.0f, xc);
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (xc * 1.44269504088896341f + magic) - magic;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float z = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * z + r + 1.0f;
    int32_t k = (int32_t)n, k1 = k / 2, k2 = k - k1; /* |k1|, |k2| <= 75 */
    float y = p * lab_cpu_bits_to_float((k1 + 127) << 23) * lab_cpu_bits_to_float((k2 + 127) << 23);
    return lab_cpu_select(x != x, x, y); /* NaN passes through */
}

/* 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) below: exact in both tails
 * (sigmoid(-90) is a subnormal, not 0). */
static inline float lab_cpu_sigmoidf(float x)
{
    float e = lab_cpu_expf(-fabsf(x));
    float s = 1.0f / (1.0f + e);
    return lab_cpu_select(x < 0.0f, e * s, s);
}

#endif
