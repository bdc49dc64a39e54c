/* CPU im2col/col2im and 2-D max/avg pooling (NCHW), one image or plane set
 * per call as described in backend.h.
 *
 * im2col writes each row (c, i, j) of col as OH runs of OW values: the
 * in-bounds part of a run is a plain copy when stride is 1, the padding
 * margins are zero-filled, so the inner loop has no per-element bounds test;
 * with stride 1 and "same" width a whole row of col is one block copy of the
 * shifted channel plane. 2x2/2 max pooling (the common case) is vectorised.
 * col2im and the pooling kernels split work by channel (or plane), never
 * across one, so no two threads touch the same output element. The calls
 * stay single-threaded when already inside a parallel region (the conv op
 * runs one image per thread) or when the work is small.
 *
 * Tested in tests/unit/test_conv.c against ref_conv.c on random shapes
 * (stride 1 and 2, padding, non-square kernels, 1x1 images, windows that
 * overhang the border) and end to end through lab_conv2d and the pools.
 */
#include <omp.h>
#include <string.h>

#include "cpu_int.h"

static inline int par_ok(int64_t work) { return work >= LAB_CPU_PAR_MIN && !omp_in_parallel(); }

/* The ow range [lo, hi) whose input column ow*stride - pad + j is inside [0, W). */
static inline void valid_range(int64_t OW, int64_t W, int stride, int pad, int j, int64_t *lo, int64_t *hi)
{
    int64_t off = j - pad; /* iw = ow*stride + off */
    int64_t a = off >= 0 ? 0 : (-off + stride - 1) / stride;
    int64_t b = W - off <= 0 ? 0 : (W - off + stride - 1) / stride; /* first ow with iw >= W */
    if (b > OW) b = OW;
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* One im2col row for stride 1 when the output is as wide as the input
 * ("same" padding): the row is the channel plane shifted by (di, dj) rows
 * and columns, so the in-bounds rows are one block copy; the columns that
 * wrapped around ([0, lo) and [hi, W) of every row) and the rows outside
 * the image are then zeroed. */
static void im2col_row_same(const float *xc, int64_t H, int64_t W, int64_t OH, int64_t di, int64_t dj,
                            int64_t lo, int64_t hi, float *out)
{
    int64_t o0 = di < 0 ? -di : 0, o1 = H - di < OH ? H - di : OH;
    if (o1 < o0) o1 = o0;
    memset(out, 0, (size_t)(o0 * W) * sizeof *out);
    memset(out + o1 * W, 0, (size_t)((OH - o1) * W) * sizeof *out);
    if (o1 == o0) return;
    int64_t ds = o0 * W, ss = (o0 + di) * W + dj, len = (o1 - o0) * W;
    /* Trimmed ends fall in wrapped columns, which are zeroed below. */
    if (ss < 0) {
        ds -= ss;
        len += ss;
        ss = 0;
    }
    if (ss + len > H * W) len = H * W - ss;
    if (len > 0) memcpy(out + ds, xc + ss, (size_t)len * sizeof *out);
    for (int64_t oh = o0; oh < o1; oh++) {
        float *r = out + oh * W;
        for (int64_t ow = 0; ow < lo; ow++) r[ow] = 0.0f;
        for (int64_t ow = hi; ow < W; ow++) r[ow] = 0.0f;
    }
}

static void cpu_im2col(const float *x, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                       int pad, int64_t OH, int64_t OW, float *col)
{
    int64_t rows = C * kh * kw;
#pragma omp parallel for schedule(static) if (par_ok(rows * OH * OW))
    for (int64_t r = 0; r < rows; r++) {
        int j = (int)(r % kw), i = (int)((r / kw) % kh);
        int64_t c = r / ((int64_t)kw * kh);
        const float *xc = x + c * H * W;
        float *out = col + r * OH * OW;
        int64_t lo, hi;
        valid_range(OW, W, stride, pad, j, &lo, &hi);
        if (stride == 1 && OW == W) {
            im2col_row_same(xc, H, W, OH, i - pad, j - pad, lo, hi, out);
            continue;
        }
        for (int64_t oh = 0; oh < OH; oh++, out += OW) {
            int64_t ih = oh * stride - pad + i;
            if (ih < 0 || ih >= H) {
                memset(out, 0, (size_t)OW * sizeof *out);
                continue;
            }
            const float *xr = xc + ih * W;
            int64_t off = j - pad;
            for (int64_t ow = 0; ow < lo; ow++) out[ow] = 0.0f;
            if (stride == 1) {
                if (hi > lo) memcpy(out + lo, xr + lo + off, (size_t)(hi - lo) * sizeof *out);
            } else {
                for (int64_t ow = lo; ow < hi; ow++) out[ow] = xr[ow * stride + off];
            }
            for (int64_t ow = hi; ow < OW; ow++) out[ow] = 0.0f;
        }
    }
}

static void cpu_col2im(const float *col, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                       int pad, int64_t OH, int64_t OW, float *x)
{
#pragma omp parallel for schedule(static) if (C > 1 && par_ok(C * kh * kw * OH * OW))
    for (int64_t c = 0; c < C; c++) {
        float *xc = x + c * H * W;
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                const float *in = col + ((c * kh + i) * kw + j) * OH * OW;
                int64_t lo, hi;
                valid_range(OW, W, stride, pad, j, &lo, &hi);
                if (hi <= lo) continue;
                for (int64_t oh = 0; oh < OH; oh++, in += OW) {
                    int64_t ih = oh * stride - pad + i;
                    if (ih < 0 || ih >= H) continue;
                    float *xr = xc + ih * W + j - pad + lo * stride; /* iw of ow = lo */
                    const float *ir = in + lo;
                    /* col and x never overlap. */
                    if (stride == 1)
#pragma omp simd
                        for (int64_t t = 0; t < hi - lo; t++) xr[t] += ir[t];
                    else
                        for (int64_t t = 0; t < hi - lo; t++) xr[t * stride] += ir[t];
                }
            }
    }
}

/* The batched layouts (backend.h). lab_conv2d uses them only off the cpu,
 * so on the cpu they serve the fake "cuda" backend of the parity tests and
 * are written for clarity: plain loops, the per-element order of col2im. */
static void cpu_im2col_batched(const float *x, int64_t N, int64_t C, int64_t H, int64_t W, int kh, int kw,
                               int stride, int pad, int64_t OH, int64_t OW, float *col)
{
    int64_t rows = C * kh * kw, P = OH * OW;
#pragma omp parallel for schedule(static) if (par_ok(rows * N * P))
    for (int64_t r = 0; r < rows; r++) {
        int j = (int)(r % kw), i = (int)((r / kw) % kh);
        int64_t c = r / ((int64_t)kw * kh);
        for (int64_t n = 0; n < N; n++) {
            const float *xc = x + (n * C + c) * H * W;
            float *out = col + (r * N + n) * P;
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    int64_t ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                    out[oh * OW + ow] = ih >= 0 && ih < H && iw >= 0 && iw < W ? xc[ih * W + iw] : 0.0f;
                }
        }
    }
}

static void cpu_col2im_batched(const float *col, int64_t N, int64_t C, int64_t H, int64_t W, int kh, int kw,
                               int stride, int pad, int64_t OH, int64_t OW, float *x)
{
    int64_t P = OH * OW;
#pragma omp parallel for schedule(static) if (par_ok(N * C * kh * kw * P))
    for (int64_t nc = 0; nc < N * C; nc++) {
        int64_t n = nc / C, c = nc % C;
        float *xc = x + nc * H * W;
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                const float *in = col + ((((int64_t)c * kh + i) * kw + j) * N + n) * P;
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        int64_t ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W) xc[ih * W + iw] += in[oh * OW + ow];
                    }
            }
    }
}

/* Max over one window, branch-free (data-dependent branches mispredict half
 * the time on real activations). As PyTorch: a larger value or a NaN takes
 * the slot, so a NaN sticks (later NaNs move the index). */
#define MAX_STEP(v_, i_)                                                                           \
    do {                                                                                           \
        float v__ = (v_);                                                                          \
        int take__ = (v__ > best) | (v__ != v__);                                                  \
        best = take__ ? v__ : best;                                                                \
        arg = take__ ? (i_) : arg;                                                                 \
    } while (0)

/* One output row of 2x2/2 max pooling from input rows r0 and r0 + W, four
 * outputs at a time in SSE-width vectors (GCC/Clang vector extensions, no
 * -m flags needed): even/odd columns are split by shuffles, and the winner
 * of each window is kept as a corner number 0..3 with bit masks, so there
 * is no data-dependent branch. Same rule as MAX_STEP. */
typedef float lab_v4f __attribute__((vector_size(16)));
typedef int32_t lab_v4i __attribute__((vector_size(16)));
#if defined(__clang__)
#define LAB_SHUF(a, b, i0, i1, i2, i3) __builtin_shufflevector(a, b, i0, i1, i2, i3)
#else
#define LAB_SHUF(a, b, i0, i1, i2, i3) __builtin_shuffle(a, b, (lab_v4i){i0, i1, i2, i3})
#endif

static void maxpool_2x2_row(const float *r0, int64_t W, int64_t OW, int64_t base, float *y, int64_t *idx)
{
    const float *r1 = r0 + W;
    int64_t ow = 0;
    for (; ow + 4 <= OW; ow += 4) {
        lab_v4f a0, a1, b0, b1;
        memcpy(&a0, r0 + 2 * ow, sizeof a0);
        memcpy(&a1, r0 + 2 * ow + 4, sizeof a1);
        memcpy(&b0, r1 + 2 * ow, sizeof b0);
        memcpy(&b1, r1 + 2 * ow + 4, sizeof b1);
        lab_v4f c[4] = {LAB_SHUF(a0, a1, 0, 2, 4, 6), LAB_SHUF(a0, a1, 1, 3, 5, 7), LAB_SHUF(b0, b1, 0, 2, 4, 6),
                        LAB_SHUF(b0, b1, 1, 3, 5, 7)};
        lab_v4f best = c[0];
        lab_v4i arg = {0, 0, 0, 0};
        for (int j = 1; j < 4; j++) {
            lab_v4i take = (c[j] > best) | (c[j] != c[j]);
            best = (lab_v4f)(((lab_v4i)c[j] & take) | ((lab_v4i)best & ~take));
            arg = (j & take) | (arg & ~take);
        }
        memcpy(y + ow, &best, sizeof best);
        for (int j = 0; j < 4; j++) idx[ow + j] = base + 2 * (ow + j) + (arg[j] & 1) + (arg[j] >> 1) * W;
    }
    for (; ow < OW; ow++) {
        int64_t c = 2 * ow;
        float best = r0[c];
        int64_t arg = base + c;
        float v[3] = {r0[c + 1], r1[c], r1[c + 1]};
        int64_t at[3] = {base + c + 1, base + W + c, base + W + c + 1};
        for (int j = 0; j < 3; j++)
            if (v[j] > best || v[j] != v[j]) {
                best = v[j];
                arg = at[j];
            }
        y[ow] = best;
        idx[ow] = arg;
    }
}

static void cpu_maxpool2d(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH,
                          int64_t OW, float *y, int64_t *idx, const float *x)
{
    /* The common 2x2/2 pooling without padding gets its own loop. */
    int k2s2 = k == 2 && stride == 2 && pad == 0;
#pragma omp parallel for schedule(static) if (par_ok(NC * OH * OW * k * k))
    for (int64_t p = 0; p < NC; p++) {
        const float *xp = x + p * H * W;
        float *yp = y + p * OH * OW;
        int64_t *ip = idx + p * OH * OW;
        if (k2s2) {
            for (int64_t oh = 0; oh < OH; oh++)
                maxpool_2x2_row(xp + 2 * oh * W, W, OW, 2 * oh * W, yp + oh * OW, ip + oh * OW);
            continue;
        }
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * stride - pad, h1 = h0 + k;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * stride - pad, w1 = w0 + k;
                if (w0 < 0) w0 = 0;
                if (w1 > W) w1 = W;
                if (h0 >= h1 || w0 >= w1) { /* all padding: cannot happen with pad <= k/2 */
                    yp[oh * OW + ow] = 0.0f;
                    ip[oh * OW + ow] = -1;
                    continue;
                }
                float best = xp[h0 * W + w0];
                int64_t arg = h0 * W + w0;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) MAX_STEP(xp[ih * W + iw], ih * W + iw);
                yp[oh * OW + ow] = best;
                ip[oh * OW + ow] = arg;
            }
        }
    }
}
#undef MAX_STEP

static void cpu_maxpool2d_backward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                   float *gx, const float *gy, const int64_t *idx)
{
#pragma omp parallel for schedule(static) if (par_ok(NC * OH * OW))
    for (int64_t p = 0; p < NC; p++) {
        float *gp = gx + p * H * W;
        const float *gyp = gy + p * OH * OW;
        const int64_t *ip = idx + p * OH * OW;
        for (int64_t o = 0; o < OH * OW; o++)
            if (ip[o] >= 0) gp[ip[o]] += gyp[o];
    }
}

static void cpu_avgpool2d(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH,
                          int64_t OW, float *y, const float *x)
{
    /* count_include_pad: the divisor is always k*k (floor-mode windows never
     * reach past the padding). */
    float inv = 1.0f / (float)(k * k);
#pragma omp parallel for schedule(static) if (par_ok(NC * OH * OW * k * k))
    for (int64_t p = 0; p < NC; p++) {
        const float *xp = x + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * stride - pad, h1 = h0 + k;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * stride - pad, w1 = w0 + k;
                if (w0 < 0) w0 = 0;
                if (w1 > W) w1 = W;
                float s = 0.0f;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * W + iw];
                y[(p * OH + oh) * OW + ow] = s * inv;
            }
        }
    }
}

static void cpu_avgpool2d_backward(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad,
                                   int64_t OH, int64_t OW, float *gx, const float *gy)
{
    float inv = 1.0f / (float)(k * k);
#pragma omp parallel for schedule(static) if (par_ok(NC * OH * OW * k * k))
    for (int64_t p = 0; p < NC; p++) {
        float *gp = gx + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * stride - pad, h1 = h0 + k;
            if (h0 < 0) h0 = 0;
            if (h1 > H) h1 = H;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * stride - pad, w1 = w0 + k;
                if (w0 < 0) w0 = 0;
                if (w1 > W) w1 = W;
                float g = gy[(p * OH + oh) * OW + ow] * inv;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) gp[ih * W + iw] += g;
            }
        }
    }
}

void lab_cpu_install_conv(lab_backend *be)
{
    be->im2col = cpu_im2col;
    be->col2im = cpu_col2im;
    be->im2col_batched = cpu_im2col_batched;
    be->col2im_batched = cpu_col2im_batched;
    be->maxpool2d = cpu_maxpool2d;
    be->maxpool2d_backward = cpu_maxpool2d_backward;
    be->avgpool2d = cpu_avgpool2d;
    be->avgpool2d_backward = cpu_avgpool2d_backward;
}
