/* Plain C references for the elementwise primitives (see ref_elementwise.h):
 * unary maps and derivatives in double precision, broadcasting binary ops,
 * where and strided copies with per-element index arithmetic. They are the
 * ground truth of tests/unit/test_elementwise.c and test_shape.c, which also
 * check them against values computed once with PyTorch. */
#include <math.h>
#include <string.h>

#include "ref_elementwise.h"

static double ref_unary1(lab_unary_op op, double v, double p0, double p1)
{
    switch (op) {
    case LAB_UN_NEG: return -v;
    case LAB_UN_EXP: return exp(v);
    case LAB_UN_LOG: return log(v);
    case LAB_UN_SQRT: return sqrt(v);
    case LAB_UN_RSQRT: return 1.0 / sqrt(v);
    case LAB_UN_ABS: return fabs(v);
    case LAB_UN_SQUARE: return v * v;
    case LAB_UN_SIN: return sin(v);
    case LAB_UN_COS: return cos(v);
    case LAB_UN_RELU: return v < 0 ? 0.0 : v;
    case LAB_UN_LEAKY_RELU: return v < 0 ? p0 * v : v;
    case LAB_UN_GELU: return 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
    case LAB_UN_SILU: return v / (1.0 + exp(-v));
    case LAB_UN_TANH: return tanh(v);
    case LAB_UN_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case LAB_UN_SOFTPLUS: return v > 20.0 ? v : log1p(exp(v));
    case LAB_UN_POW: return pow(v, p0);
    case LAB_UN_CLAMP: return v < p0 ? p0 : (v > p1 ? p1 : v);
    case LAB_UN_AFFINE: return p0 * v + p1;
    case LAB_UN_COUNT: break;
    }
    return NAN;
}

void lab_ref_unary(lab_unary_op op, int64_t n, float *y, const float *x, float p0, float p1)
{
    for (int64_t i = 0; i < n; i++) y[i] = (float)ref_unary1(op, x[i], p0, p1);
}

/* d f(x) / dx, from x alone (the reference never trusts a saved output). */
static double ref_deriv(lab_unary_op op, double v, double p0, double p1)
{
    const double pi = 3.14159265358979323846;
    double s = 1.0 / (1.0 + exp(-v));
    switch (op) {
    case LAB_UN_NEG: return -1.0;
    case LAB_UN_EXP: return exp(v);
    case LAB_UN_LOG: return 1.0 / v;
    case LAB_UN_SQRT: return 0.5 / sqrt(v);
    case LAB_UN_RSQRT: return -0.5 * pow(v, -1.5);
    case LAB_UN_ABS: return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0);
    case LAB_UN_SQUARE: return 2.0 * v;
    case LAB_UN_SIN: return cos(v);
    case LAB_UN_COS: return -sin(v);
    case LAB_UN_RELU: return v > 0 ? 1.0 : 0.0;
    case LAB_UN_LEAKY_RELU: return v > 0 ? 1.0 : p0;
    case LAB_UN_GELU: return 0.5 * (1.0 + erf(v / sqrt(2.0))) + v * exp(-0.5 * v * v) / sqrt(2.0 * pi);
    case LAB_UN_SILU: return s * (1.0 + v * (1.0 - s));
    case LAB_UN_TANH: return 1.0 - tanh(v) * tanh(v);
    case LAB_UN_SIGMOID: return s * (1.0 - s);
    case LAB_UN_SOFTPLUS: return v > 20.0 ? 1.0 : s;
    case LAB_UN_POW: return p0 == 0 ? 0.0 : p0 * pow(v, p0 - 1.0);
    case LAB_UN_CLAMP: return v >= p0 && v <= p1 ? 1.0 : 0.0;
    case LAB_UN_AFFINE: return p0;
    case LAB_UN_COUNT: break;
    }
    return NAN;
}

void lab_ref_unary_backward(lab_unary_op op, int64_t n, float *gx, const float *gy, const float *x,
                            const float *y, float p0, float p1)
{
    (void)y;
    for (int64_t i = 0; i < n; i++) gx[i] = (float)(gy[i] * ref_deriv(op, x[i], p0, p1));
}

static double ref_binary1(lab_binary_op op, double u, double v)
{
    switch (op) {
    case LAB_BIN_ADD: return u + v;
    case LAB_BIN_SUB: return u - v;
    case LAB_BIN_MUL: return u * v;
    case LAB_BIN_DIV: return u / v;
    case LAB_BIN_POW: return pow(u, v);
    case LAB_BIN_MAX: return isnan(u) || isnan(v) ? NAN : (u > v ? u : v);
    case LAB_BIN_MIN: return isnan(u) || isnan(v) ? NAN : (u < v ? u : v);
    case LAB_BIN_GT: return u > v;
    case LAB_BIN_LT: return u < v;
    case LAB_BIN_EQ: return u == v;
    case LAB_BIN_COUNT: break;
    }
    return NAN;
}

/* Offset of flat (row-major) index i of `shape` under `strides`. */
static int64_t ref_offset(int ndim, const int64_t *shape, const int64_t *strides, int64_t i)
{
    int64_t off = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        off += (i % shape[d]) * strides[d];
        i /= shape[d];
    }
    return off;
}

static int64_t ref_numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

void lab_ref_binary(lab_binary_op op, int ndim, const int64_t *shape, float *y, const float *a,
                    const int64_t *sa, const float *b, const int64_t *sb)
{
    int64_t n = ref_numel(ndim, shape);
    for (int64_t i = 0; i < n; i++)
        y[i] = (float)ref_binary1(op, a[ref_offset(ndim, shape, sa, i)], b[ref_offset(ndim, shape, sb, i)]);
}

void lab_ref_where(int ndim, const int64_t *shape, float *y, const float *c, const int64_t *sc,
                   const float *a, const int64_t *sa, const float *b, const int64_t *sb)
{
    int64_t n = ref_numel(ndim, shape);
    for (int64_t i = 0; i < n; i++)
        y[i] = c[ref_offset(ndim, shape, sc, i)] != 0 ? a[ref_offset(ndim, shape, sa, i)]
                                                      : b[ref_offset(ndim, shape, sb, i)];
}

void lab_ref_strided_copy(int ndim, const int64_t *shape, size_t elem, void *dst, const int64_t *ds,
                          const void *src, const int64_t *ss)
{
    int64_t n = ref_numel(ndim, shape);
    for (int64_t i = 0; i < n; i++)
        memcpy((char *)dst + (size_t)ref_offset(ndim, shape, ds, i) * elem,
               (const char *)src + (size_t)ref_offset(ndim, shape, ss, i) * elem, elem);
}

void lab_ref_accumulate(int64_t n, float *y, const float *x)
{
    for (int64_t i = 0; i < n; i++) y[i] = (float)((double)y[i] + x[i]);
}
