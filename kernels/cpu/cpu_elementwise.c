/* CPU elementwise primitives: unary maps and their derivatives, broadcasting
 * binary ops, where, strided copies and gradient accumulation (semantics in
 * framework/core/backend.h).
 *
 * Broadcasting and strided copies go through one iterator: dims of size 1
 * are dropped and adjacent dims that every operand walks contiguously are
 * merged, so the common cases become a few long rows with inner strides of
 * 0 or 1 (same shape: one row; bias add [N, C] + [C]: N rows of C; a
 * per-row scalar [N, C] * [N, 1]: N rows with a stride-0 operand). The row
 * kernels specialise on those strides so the compiler vectorises them; index
 * arithmetic happens once per row, never per element. Large rows are cut in
 * chunks so a single flat row still spreads over the OpenMP threads.
 *
 * Tested in tests/unit/test_elementwise.c and test_shape.c against the plain
 * references in ref_elementwise.c (random shapes, broadcasting, size-1 and
 * empty dims), and through finite-difference gradchecks of every op. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_int.h"
#include "cpu_math.h"

/* --- the strided iterator ------------------------------------------------ */

#define IT_MAXOP 4
/* Elements per work item when one row is split across threads. */
#define IT_CHUNK 16384

typedef struct {
    int nd, nop;
    int64_t shape[LAB_MAX_DIMS];
    int64_t st[IT_MAXOP][LAB_MAX_DIMS]; /* element strides per operand */
} iter;

static void iter_init(iter *it, int ndim, const int64_t *shape, int nop, const int64_t *const *strides)
{
    int nd = 0;
    it->nop = nop;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue; /* contributes nothing to any address */
        if (nd > 0) {
            int merge = 1;
            for (int k = 0; k < nop; k++)
                if (it->st[k][nd - 1] != strides[k][d] * shape[d]) merge = 0;
            if (merge) {
                it->shape[nd - 1] *= shape[d];
                for (int k = 0; k < nop; k++) it->st[k][nd - 1] = strides[k][d];
                continue;
            }
        }
        it->shape[nd] = shape[d];
        for (int k = 0; k < nop; k++) it->st[k][nd] = strides[k][d];
        nd++;
    }
    if (nd == 0) {
        it->shape[0] = 1;
        for (int k = 0; k < nop; k++) it->st[k][0] = 0;
        nd = 1;
    }
    it->nd = nd;
}

/* Called once per row chunk: n elements, operand k starting at element
 * offset off[k] and stepping by inner[k]. */
typedef void (*iter_body)(void *ctx, int64_t n, const int64_t *off, const int64_t *inner);

static void iter_run(const iter *it, void *ctx, iter_body body)
{
    const int nd = it->nd, nop = it->nop;
    int64_t len = it->shape[nd - 1], nrows = 1;
    for (int d = 0; d < nd - 1; d++) nrows *= it->shape[d];
    int64_t total = nrows * len;
    if (total == 0) return;
    int64_t chunk = len, nchunks = 1;
    if (total > LAB_CPU_PAR_MIN && len > IT_CHUNK) {
        nchunks = (len + IT_CHUNK - 1) / IT_CHUNK;
        chunk = IT_CHUNK;
    }
    int64_t inner[IT_MAXOP];
    for (int k = 0; k < nop; k++) inner[k] = it->st[k][nd - 1];
    int64_t items = nrows * nchunks;
#pragma omp parallel for schedule(static) if (total > LAB_CPU_PAR_MIN)
    for (int64_t w = 0; w < items; w++) {
        int64_t r = w / nchunks, c = w % nchunks;
        int64_t off[IT_MAXOP] = {0};
        for (int d = nd - 2; d >= 0; d--) {
            int64_t i = r % it->shape[d];
            r /= it->shape[d];
            for (int k = 0; k < nop; k++) off[k] += i * it->st[k][d];
        }
        int64_t start = c * chunk, n = len - start < chunk ? len - start : chunk;
        for (int k = 0; k < nop; k++) off[k] += start * inner[k];
        body(ctx, n, off, inner);
    }
}

/* --- unary ----------------------------------------------------------------- */

/* Every case is its own loop so the op switch stays outside the elements. */
#define UNARY_LOOP(EXPR)                                                                           \
    do {                                                                                           \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++)                                        \
        {                                                                                          \
            float v = x[i];                                                                        \
            y[i] = (EXPR);                                                                         \
        }                                                                                          \
    } while (0)

LAB_CPU_CLONES static void unary_span(lab_unary_op op, int64_t n, float *y, const float *x, float p0,
                                      float p1)
{
    switch (op) {
    case LAB_UN_NEG: UNARY_LOOP(-v); break;
    case LAB_UN_EXP: UNARY_LOOP(lab_cpu_expf(v)); break;
    case LAB_UN_LOG: UNARY_LOOP(logf(v)); break;
    case LAB_UN_SQRT: UNARY_LOOP(sqrtf(v)); break;
    case LAB_UN_RSQRT: UNARY_LOOP(1.0f / sqrtf(v)); break;
    case LAB_UN_ABS: UNARY_LOOP(fabsf(v)); break;
    case LAB_UN_SQUARE: UNARY_LOOP(v * v); break;
    case LAB_UN_SIN: UNARY_LOOP(sinf(v)); break;
    case LAB_UN_COS: UNARY_LOOP(cosf(v)); break;
    /* `v < 0 ? 0 : v` rather than fmaxf so that NaN propagates (as PyTorch). */
    case LAB_UN_RELU: UNARY_LOOP(v < 0.0f ? 0.0f : v); break;
    case LAB_UN_LEAKY_RELU: UNARY_LOOP(lab_cpu_select(v < 0.0f, p0 * v, v)); break;
    /* 1 + erf(x/sqrt2) written as erfc(-x/sqrt2): no cancellation for x < 0. */
    case LAB_UN_GELU: UNARY_LOOP(0.5f * v * erfcf(-v * (float)M_SQRT1_2)); break;
    case LAB_UN_SILU: UNARY_LOOP(v * lab_cpu_sigmoidf(v)); break;
    case LAB_UN_TANH: UNARY_LOOP(tanhf(v)); break;
    case LAB_UN_SIGMOID: UNARY_LOOP(lab_cpu_sigmoidf(v)); break;
    /* PyTorch's threshold: above 20, log1p(e^x) == x in f32. */
    case LAB_UN_SOFTPLUS: UNARY_LOOP(v > 20.0f ? v : log1pf(expf(v))); break;
    case LAB_UN_POW:
        if (p0 == 2.0f) UNARY_LOOP(v * v);
        else if (p0 == 1.0f) UNARY_LOOP(v);
        else if (p0 == 0.5f) UNARY_LOOP(sqrtf(v));
        else if (p0 == -1.0f) UNARY_LOOP(1.0f / v);
        else UNARY_LOOP(powf(v, p0));
        break;
    case LAB_UN_CLAMP: UNARY_LOOP(v < p0 ? p0 : (v > p1 ? p1 : v)); break;
    case LAB_UN_AFFINE: UNARY_LOOP(p0 * v + p1); break;
    case LAB_UN_COUNT: break;
    }
}

/* Flat maps: one span when small, else IT_CHUNK-sized spans over threads. */
static void cpu_unary(lab_unary_op op, int64_t n, float *y, const float *x, float p0, float p1)
{
    if (n <= LAB_CPU_PAR_MIN) {
        unary_span(op, n, y, x, p0, p1);
        return;
    }
    int64_t nc = (n + IT_CHUNK - 1) / IT_CHUNK;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        int64_t o = c * IT_CHUNK, len = n - o < IT_CHUNK ? n - o : IT_CHUNK;
        unary_span(op, len, y + o, x + o, p0, p1);
    }
}

/* EXPR reads g (the output gradient) and X / Y (input and output of the
 * forward): only the operands an op's derivative needs are loaded. */
#define X x[i]
#define Y y[i]
#define UNARY_BW_LOOP(EXPR)                                                                        \
    do {                                                                                           \
        _Pragma("omp simd") for (int64_t i = 0; i < n; i++)                                        \
        {                                                                                          \
            float g = gy[i];                                                                       \
            gx[i] = (EXPR);                                                                        \
        }                                                                                          \
    } while (0)

/* Derivatives follow PyTorch's conventions at kinks: relu'(0) = 0, |x|'(0) =
 * 0, clamp passes the gradient on the closed interval [lo, hi]. */
LAB_CPU_CLONES static void unary_bw_span(lab_unary_op op, int64_t n, float *gx, const float *gy,
                                         const float *x, const float *y, float p0, float p1)
{
    const float inv_sqrt_2pi = 0.39894228040143267794f;
    switch (op) {
    case LAB_UN_NEG: UNARY_BW_LOOP(-g); break;
    case LAB_UN_EXP: UNARY_BW_LOOP(g * Y); break;
    case LAB_UN_LOG: UNARY_BW_LOOP(g / X); break;
    case LAB_UN_SQRT: UNARY_BW_LOOP(g * 0.5f / Y); break;
    case LAB_UN_RSQRT: UNARY_BW_LOOP(-0.5f * g * Y * Y * Y); break;
    case LAB_UN_ABS: UNARY_BW_LOOP(X > 0.0f ? g : (X < 0.0f ? -g : 0.0f)); break;
    case LAB_UN_SQUARE: UNARY_BW_LOOP(2.0f * X * g); break;
    case LAB_UN_SIN: UNARY_BW_LOOP(g * cosf(X)); break;
    case LAB_UN_COS: UNARY_BW_LOOP(-g * sinf(X)); break;
    case LAB_UN_RELU: UNARY_BW_LOOP(X > 0.0f ? g : 0.0f); break;
    case LAB_UN_LEAKY_RELU: UNARY_BW_LOOP(lab_cpu_select(X > 0.0f, g, p0 * g)); break;
    case LAB_UN_GELU:
        UNARY_BW_LOOP(g * (0.5f * erfcf(-X * (float)M_SQRT1_2) +
                           X * inv_sqrt_2pi * lab_cpu_expf(-0.5f * X * X)));
        break;
    case LAB_UN_SILU:
        UNARY_BW_LOOP(g * lab_cpu_sigmoidf(X) * (1.0f + X * (1.0f - lab_cpu_sigmoidf(X))));
        break;
    case LAB_UN_TANH: UNARY_BW_LOOP(g * (1.0f - Y * Y)); break;
    case LAB_UN_SIGMOID: UNARY_BW_LOOP(g * Y * (1.0f - Y)); break;
    case LAB_UN_SOFTPLUS: UNARY_BW_LOOP(lab_cpu_select(X > 20.0f, g, g * lab_cpu_sigmoidf(X))); break;
    case LAB_UN_POW:
        if (p0 == 0.0f) UNARY_BW_LOOP(((void)g, 0.0f));
        else if (p0 == 2.0f) UNARY_BW_LOOP(2.0f * X * g);
        else if (p0 == 1.0f) UNARY_BW_LOOP(g);
        else UNARY_BW_LOOP(g * p0 * powf(X, p0 - 1.0f));
        break;
    case LAB_UN_CLAMP: UNARY_BW_LOOP(X >= p0 && X <= p1 ? g : 0.0f); break;
    case LAB_UN_AFFINE: UNARY_BW_LOOP(p0 * g); break;
    case LAB_UN_COUNT: break;
    }
}
#undef X
#undef Y

static void cpu_unary_backward(lab_unary_op op, int64_t n, float *gx, const float *gy, const float *x,
                               const float *y, float p0, float p1)
{
    if (n <= LAB_CPU_PAR_MIN) {
        unary_bw_span(op, n, gx, gy, x, y, p0, p1);
        return;
    }
    int64_t nc = (n + IT_CHUNK - 1) / IT_CHUNK;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        int64_t o = c * IT_CHUNK, len = n - o < IT_CHUNK ? n - o : IT_CHUNK;
        /* x or y may be NULL for ops whose derivative does not read them */
        unary_bw_span(op, len, gx + o, gy + o, x ? x + o : NULL, y ? y + o : NULL, p0, p1);
    }
}

/* --- binary ----------------------------------------------------------------- */

typedef void (*bin_row)(int64_t n, float *y, const float *a, int64_t sa, const float *b, int64_t sb);

/* One row kernel per op, specialised on the inner strides the iterator
 * leaves: both contiguous, either operand a per-row scalar, or general. */
#define DEF_BIN(NAME, EXPR)                                                                        \
    LAB_CPU_CLONES static void bin_##NAME(int64_t n, float *y, const float *a, int64_t sa,         \
                                          const float *b, int64_t sb)                              \
    {                                                                                              \
        if (sa == 1 && sb == 1) {                                                                  \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++)                                    \
            {                                                                                      \
                float u = a[i], v = b[i];                                                          \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (sa == 1 && sb == 0) {                                                           \
            const float v = b[0];                                                                  \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++)                                    \
            {                                                                                      \
                float u = a[i];                                                                    \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else if (sa == 0 && sb == 1) {                                                           \
            const float u = a[0];                                                                  \
            _Pragma("omp simd") for (int64_t i = 0; i < n; i++)                                    \
            {                                                                                      \
                float v = b[i];                                                                    \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        } else {                                                                                   \
            for (int64_t i = 0; i < n; i++) {                                                      \
                float u = a[i * sa], v = b[i * sb];                                                \
                y[i] = (EXPR);                                                                     \
            }                                                                                      \
        }                                                                                          \
    }

DEF_BIN(add, u + v)
DEF_BIN(sub, u - v)
DEF_BIN(mul, u * v)
DEF_BIN(div, u / v)
DEF_BIN(pow, powf(u, v))
/* NaN in either operand propagates, as torch.maximum/minimum. */
DEF_BIN(max, u != u ? u : (u > v ? u : v))
DEF_BIN(min, u != u ? u : (u < v ? u : v))
DEF_BIN(gt, u > v ? 1.0f : 0.0f)
DEF_BIN(lt, u < v ? 1.0f : 0.0f)
DEF_BIN(eq, u == v ? 1.0f : 0.0f)

static const bin_row bin_rows[LAB_BIN_COUNT] = {
    [LAB_BIN_ADD] = bin_add, [LAB_BIN_SUB] = bin_sub, [LAB_BIN_MUL] = bin_mul,
    [LAB_BIN_DIV] = bin_div, [LAB_BIN_POW] = bin_pow, [LAB_BIN_MAX] = bin_max,
    [LAB_BIN_MIN] = bin_min, [LAB_BIN_GT] = bin_gt,   [LAB_BIN_LT] = bin_lt,
    [LAB_BIN_EQ] = bin_eq,
};

typedef struct {
    bin_row fn;
    float *y;
    const float *a, *b;
} bin_ctx;

static void bin_body(void *ctx, int64_t n, const int64_t *off, const int64_t *inner)
{
    const bin_ctx *c = ctx;
    c->fn(n, c->y + off[0], c->a + off[1], inner[1], c->b + off[2], inner[2]);
}

static void cpu_binary(lab_binary_op op, int ndim, const int64_t *shape, float *y, const float *a,
                       const int64_t *sa, const float *b, const int64_t *sb)
{
    if (op < 0 || op >= LAB_BIN_COUNT) return;
    int64_t sy[LAB_MAX_DIMS];
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        sy[d] = s;
        s *= shape[d];
    }
    const int64_t *strides[3] = {sy, sa, sb};
    iter it;
    iter_init(&it, ndim, shape, 3, strides);
    bin_ctx c = {bin_rows[op], y, a, b};
    iter_run(&it, &c, bin_body);
}

/* --- where ------------------------------------------------------------------ */

typedef struct {
    float *y;
    const float *c, *a, *b;
} where_ctx;

LAB_CPU_CLONES static void where_body(void *ctx, int64_t n, const int64_t *off, const int64_t *inner)
{
    const where_ctx *w = ctx;
    float *y = w->y + off[0];
    const float *c = w->c + off[1], *a = w->a + off[2], *b = w->b + off[3];
    int64_t sc = inner[1], sa = inner[2], sb = inner[3];
    if (sc == 1 && sa == 1 && sb == 1) {
#pragma omp simd
        for (int64_t i = 0; i < n; i++) {
            float av = a[i], bv = b[i]; /* both loaded: a select, not a branch */
            y[i] = c[i] != 0.0f ? av : bv;
        }
    } else {
        for (int64_t i = 0; i < n; i++) y[i] = c[i * sc] != 0.0f ? a[i * sa] : b[i * sb];
    }
}

static void cpu_where(int ndim, const int64_t *shape, float *y, const float *c, const int64_t *sc,
                      const float *a, const int64_t *sa, const float *b, const int64_t *sb)
{
    int64_t sy[LAB_MAX_DIMS];
    int64_t s = 1;
    for (int d = ndim - 1; d >= 0; d--) {
        sy[d] = s;
        s *= shape[d];
    }
    const int64_t *strides[4] = {sy, sc, sa, sb};
    iter it;
    iter_init(&it, ndim, shape, 4, strides);
    where_ctx w = {y, c, a, b};
    iter_run(&it, &w, where_body);
}

/* --- strided copy -------------------------------------------------------- */

typedef struct {
    size_t elem;
    char *dst;
    const char *src;
} copy_ctx;

static void copy_body(void *ctx, int64_t n, const int64_t *off, const int64_t *inner)
{
    const copy_ctx *c = ctx;
    const size_t e = c->elem;
    char *d = c->dst + (size_t)off[0] * e;
    const char *s = c->src + (size_t)off[1] * e;
    int64_t ds = inner[0], ss = inner[1];
    if (ds == 1 && ss == 1) {
        memcpy(d, s, (size_t)n * e);
    } else if (e == 4) {
        float *dd = (float *)d;
        const float *sp = (const float *)s;
        if (ds == 1 && ss == 0) {
            const float v = sp[0];
            for (int64_t i = 0; i < n; i++) dd[i] = v;
        } else {
            for (int64_t i = 0; i < n; i++) dd[i * ds] = sp[i * ss];
        }
    } else if (e == 8) {
        int64_t *dd = (int64_t *)d;
        const int64_t *sp = (const int64_t *)s;
        for (int64_t i = 0; i < n; i++) dd[i * ds] = sp[i * ss];
    } else {
        for (int64_t i = 0; i < n; i++) memcpy(d + (size_t)(i * ds) * e, s + (size_t)(i * ss) * e, e);
    }
}

/* Transposes: the destination walks the last dim contiguously while the
 * source walks dim p contiguously. Row-by-row copying would read the source
 * a cache line per element; TILE x TILE blocks keep both sides in cache. */
#define TILE 32

#define TILE_LOOP(T)                                                                               \
    do {                                                                                           \
        T *d = (T *)dst + od;                                                                      \
        const T *sp = (const T *)src + os;                                                         \
        for (int64_t i = 0; i < ni; i++)                                                           \
            for (int64_t j = 0; j < nj; j++) d[i * dsp + j] = sp[i + j * ssl];                     \
    } while (0)

static void copy_tiled(const iter *it, int p, size_t e, char *dst, const char *src)
{
    const int nd = it->nd, q = nd - 1;
    const int64_t np = it->shape[p], nq = it->shape[q];
    const int64_t dsp = it->st[0][p], ssl = it->st[1][q];
    int64_t planes = 1;
    for (int d = 0; d < q; d++)
        if (d != p) planes *= it->shape[d];
    const int64_t tp = (np + TILE - 1) / TILE, tq = (nq + TILE - 1) / TILE;
    const int64_t items = planes * tp * tq;
#pragma omp parallel for schedule(static) if (planes * np * nq > LAB_CPU_PAR_MIN)
    for (int64_t w = 0; w < items; w++) {
        int64_t r = w / (tp * tq), t = w % (tp * tq);
        int64_t i0 = (t / tq) * TILE, j0 = (t % tq) * TILE;
        int64_t od = 0, os = 0;
        for (int d = q - 1; d >= 0; d--) {
            if (d == p) continue;
            int64_t i = r % it->shape[d];
            r /= it->shape[d];
            od += i * it->st[0][d];
            os += i * it->st[1][d];
        }
        od += i0 * dsp + j0;
        os += i0 + j0 * ssl;
        int64_t ni = np - i0 < TILE ? np - i0 : TILE, nj = nq - j0 < TILE ? nq - j0 : TILE;
        if (e == 4) {
            TILE_LOOP(float);
        } else if (e == 8) {
            TILE_LOOP(int64_t);
        } else {
            for (int64_t i = 0; i < ni; i++)
                for (int64_t j = 0; j < nj; j++)
                    memcpy(dst + (size_t)(od + i * dsp + j) * e, src + (size_t)(os + i + j * ssl) * e, e);
        }
    }
}

static void cpu_strided_copy(int ndim, const int64_t *shape, size_t elem, void *dst, const int64_t *ds,
                             const void *src, const int64_t *ss)
{
    const int64_t *strides[2] = {ds, ss};
    iter it;
    iter_init(&it, ndim, shape, 2, strides);
    const int q = it.nd - 1;
    if (q >= 1 && it.st[0][q] == 1 && it.st[1][q] > 1 && it.shape[q] >= 8) {
        for (int p = q - 1; p >= 0; p--) {
            if (it.st[1][p] == 1 && it.shape[p] >= 8) {
                copy_tiled(&it, p, elem, dst, src);
                return;
            }
        }
    }
    copy_ctx c = {elem, dst, src};
    iter_run(&it, &c, copy_body);
}

LAB_CPU_CLONES static void accumulate_span(int64_t n, float *y, const float *x)
{
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

static void cpu_accumulate(int64_t n, float *y, const float *x)
{
    if (n <= LAB_CPU_PAR_MIN) {
        accumulate_span(n, y, x);
        return;
    }
    int64_t nc = (n + IT_CHUNK - 1) / IT_CHUNK;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < nc; c++) {
        int64_t o = c * IT_CHUNK, len = n - o < IT_CHUNK ? n - o : IT_CHUNK;
        accumulate_span(len, y + o, x + o);
    }
}

/* The angle of each (t, i) is formed in double from pos and base, as the
 * CUDA kernel does, so both round the same products to float. The table is
 * per call: T * D/2 entries, small next to x. Rows without a table (out of
 * memory) cannot happen silently: the slot has no error return, so the
 * angles are then computed inline instead. */
static void cpu_rope(int64_t rows, int64_t T, int64_t D, float *y, const float *x, const int64_t *pos,
                     double base, double sign)
{
    int64_t half = D / 2;
    double *cs = malloc(sizeof(double) * (size_t)(T * half * 2 + 1));
    if (cs) {
        for (int64_t t = 0; t < T; t++)
            for (int64_t i = 0; i < half; i++) {
                double ang = (double)pos[t] * pow(base, -2.0 * (double)i / (double)D);
                cs[(t * half + i) * 2] = cos(ang);
                cs[(t * half + i) * 2 + 1] = sign * sin(ang);
            }
    }
#pragma omp parallel for schedule(static) if (parallel : rows * T * D > LAB_CPU_PAR_MIN)
    for (int64_t r = 0; r < rows; r++)
        for (int64_t t = 0; t < T; t++) {
            const float *xv = x + (r * T + t) * D;
            float *yv = y + (r * T + t) * D;
            for (int64_t i = 0; i < half; i++) {
                double c, s;
                if (cs) {
                    c = cs[(t * half + i) * 2];
                    s = cs[(t * half + i) * 2 + 1];
                } else {
                    double ang = (double)pos[t] * pow(base, -2.0 * (double)i / (double)D);
                    c = cos(ang);
                    s = sign * sin(ang);
                }
                double a = xv[i], b = xv[i + half];
                yv[i] = (float)(a * c - b * s);
                yv[i + half] = (float)(a * s + b * c);
            }
        }
    free(cs);
}

void lab_cpu_install_elementwise(lab_backend *be)
{
    be->rope = cpu_rope;
    be->unary = cpu_unary;
    be->unary_backward = cpu_unary_backward;
    be->binary = cpu_binary;
    be->where = cpu_where;
    be->strided_copy = cpu_strided_copy;
    be->accumulate = cpu_accumulate;
}
