/* CUDA im2col/col2im and 2-D max/avg pooling (NCHW), with the shapes and
 * conventions of framework/core/backend.h and kernels/cpu/cpu_conv.c.
 *
 * im2col: a thread per col element (rows c*kh*kw + i*kw + j on the grid's y,
 *   output positions on x), zero outside the image.
 * col2im: a thread per image element gathers its (i, j) contributions in the
 *   CPU's order, starting from the current value, so no atomics are needed
 *   and the sums are bit-identical to the CPU's.
 * im2col_batched / col2im_batched: the same over a whole batch, columns laid
 *   out [C*kh*kw, N, OH*OW], so lab_conv2d runs one launch and one gemm per
 *   batch (chunk) instead of per image; the one-image slots are these with
 *   N = 1 (the layouts coincide).
 * maxpool: a thread per output, the CPU's scan order and tie/NaN rule (first
 *   maximum wins, a NaN wins and stays the value while a later NaN moves
 *   the index, an all-padding window gives 0 and index -1); the backward
 *   scatters through the saved index with atomicAdd, since the slot carries
 *   no window geometry to gather with (overlapping windows add in an
 *   unspecified order).
 * avgpool: a thread per output (divisor k*k, count_include_pad); the
 *   backward gathers, for each input, the windows covering it in the CPU's
 *   (oh, ow) order.
 *
 * Tested by tests/parity/test_parity_conv.c (lab_conv2d forward and backward
 * with stride 1 and 2, padding, non-square images, 1x1 images; both pools
 * with overlapping windows and padding) against the CPU, on a GPU.
 */
#include <math.h>
#include <stdint.h>

#include "cuda_int.h"

static dim3 grid_rows(const lab_cu_dev *d, int64_t rows, int64_t cols)
{
    int64_t bx = (cols + LAB_CU_THREADS - 1) / LAB_CU_THREADS, cap = (int64_t)(d->sms > 0 ? d->sms : 16) * 32;
    if (bx > cap) bx = cap;
    if (bx < 1) bx = 1;
    int64_t by = cap / bx;
    if (by > rows) by = rows;
    if (by > 65535) by = 65535;
    if (by < 1) by = 1;
    return dim3((unsigned)bx, (unsigned)by, 1);
}

/* First output index o >= 0 whose window start o*stride - pad + (k-1) >= v,
 * i.e. the windows [o*stride - pad, o*stride - pad + k) that contain v start
 * at o_lo and end at o_hi (inclusive), clipped to [0, O). */
__device__ __forceinline__ void covering(int64_t v, int k, int stride, int pad, int64_t O, int64_t *lo, int64_t *hi)
{
    int64_t t = v + pad - k + 1;
    int64_t a = t <= 0 ? 0 : (t + stride - 1) / stride;
    int64_t b = (v + pad) / stride;
    if (b > O - 1) b = O - 1;
    *lo = a;
    *hi = b;
}

/* Batched layout col [C*kh*kw, N, P]: rows on the grid's y, (image,
 * position) pairs on x. */
__global__ void k_im2col_batched(const float *x, int64_t N, int64_t C, int64_t H, int64_t W, int kh, int kw,
                                 int stride, int pad, int64_t OH, int64_t OW, float *col)
{
    const int64_t rows = C * kh * kw, P = OH * OW, NP = N * P;
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
        int j = (int)(r % kw), i = (int)((r / kw) % kh);
        int64_t c = r / ((int64_t)kw * kh);
        float *out = col + r * NP;
        for (int64_t q = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; q < NP; q += (int64_t)blockDim.x * gridDim.x) {
            int64_t n = q / P, p = q - n * P;
            int64_t oh = p / OW, ow = p - oh * OW;
            int64_t ih = oh * stride - pad + i, iw = ow * stride - pad + j;
            out[q] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[((n * C + c) * H + ih) * W + iw] : 0.0f;
        }
    }
}

static void cu_im2col_batched(const float *x, int64_t N, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                              int pad, int64_t OH, int64_t OW, float *col)
{
    int64_t rows = C * kh * kw, NP = N * OH * OW;
    if (rows <= 0 || NP <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(col);
    k_im2col_batched<<<grid_rows(d, rows, NP), LAB_CU_THREADS, 0, d->stream>>>(x, N, C, H, W, kh, kw, stride, pad, OH,
                                                                              OW, col);
    LAB_CU_CHECK(d, "im2col_batched");
}

/* x[n, c, h, w] += sum over (i, j) of col[(c*kh + i)*kw + j, n, oh*OW + ow]
 * with oh*stride - pad + i == h and ow*stride - pad + j == w: a thread per
 * image element gathers its terms in the CPU's (i, j) order, starting from
 * the current value, so no atomics are needed and each sum is bit-identical
 * to the CPU's col2im. */
__global__ void k_col2im_batched(const float *col, int64_t N, int64_t C, int64_t H, int64_t W, int kh, int kw,
                                 int stride, int pad, int64_t OH, int64_t OW, float *x)
{
    const int64_t P = OH * OW, NP = N * P;
    LAB_CU_LOOP(e, N * C * H * W)
    {
        int64_t w = e % W, h = (e / W) % H, c = (e / (H * W)) % C, n = e / (C * H * W);
        float acc = x[e];
        for (int i = 0; i < kh; i++) {
            int64_t hp = h + pad - i;
            if (hp < 0 || hp % stride) continue;
            int64_t oh = hp / stride;
            if (oh >= OH) continue;
            for (int j = 0; j < kw; j++) {
                int64_t wp = w + pad - j;
                if (wp < 0 || wp % stride) continue;
                int64_t ow = wp / stride;
                if (ow >= OW) continue;
                acc += col[((c * kh + i) * kw + j) * NP + n * P + oh * OW + ow];
            }
        }
        x[e] = acc;
    }
}

static void cu_col2im_batched(const float *col, int64_t N, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                              int pad, int64_t OH, int64_t OW, float *x)
{
    int64_t n = N * C * H * W;
    if (n <= 0 || OH <= 0 || OW <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(x);
    k_col2im_batched<<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(col, N, C, H, W, kh, kw,
                                                                                            stride, pad, OH, OW, x);
    LAB_CU_CHECK(d, "col2im_batched");
}

/* One image is a batch of one: [C*kh*kw, 1, P] is im2col's [C*kh*kw, P]. */
static void cu_im2col(const float *x, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride, int pad,
                      int64_t OH, int64_t OW, float *col)
{
    cu_im2col_batched(x, 1, C, H, W, kh, kw, stride, pad, OH, OW, col);
}

static void cu_col2im(const float *col, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride, int pad,
                      int64_t OH, int64_t OW, float *x)
{
    cu_col2im_batched(col, 1, C, H, W, kh, kw, stride, pad, OH, OW, x);
}

__global__ void k_maxpool(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH, int64_t OW,
                          float *y, int64_t *idx, const float *x)
{
    LAB_CU_LOOP(o, NC * OH * OW)
    {
        int64_t ow = o % OW, oh = (o / OW) % OH, p = o / (OH * OW);
        const float *xp = x + p * H * W;
        int64_t h0 = oh * stride - pad, h1 = h0 + k, w0 = ow * stride - pad, w1 = w0 + k;
        if (h0 < 0) h0 = 0;
        if (h1 > H) h1 = H;
        if (w0 < 0) w0 = 0;
        if (w1 > W) w1 = W;
        float best = 0.0f;
        int64_t arg = -1;
        for (int64_t ih = h0; ih < h1; ih++)
            for (int64_t iw = w0; iw < w1; iw++) {
                float v = xp[ih * W + iw];
                /* cpu_conv.c's MAX_STEP: take a larger value or any NaN. */
                if (arg < 0 || v > best || v != v) {
                    best = v;
                    arg = ih * W + iw;
                }
            }
        y[o] = best;
        idx[o] = arg;
    }
}

static void cu_maxpool2d(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH, int64_t OW,
                         float *y, int64_t *idx, const float *x)
{
    int64_t n = NC * OH * OW;
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    k_maxpool<<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(NC, H, W, k, stride, pad, OH, OW,
                                                                                     y, idx, x);
    LAB_CU_CHECK(d, "maxpool2d");
}

__global__ void k_maxpool_bw(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW, float *gx, const float *gy,
                             const int64_t *idx)
{
    LAB_CU_LOOP(o, NC * OH * OW)
    {
        int64_t a = idx[o];
        if (a >= 0 && a < H * W) atomicAdd(gx + (o / (OH * OW)) * H * W + a, gy[o]);
    }
}

static void cu_maxpool2d_backward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW, float *gx, const float *gy,
                                  const int64_t *idx)
{
    int64_t n = NC * OH * OW;
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(gx);
    k_maxpool_bw<<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(NC, H, W, OH, OW, gx, gy, idx);
    LAB_CU_CHECK(d, "maxpool2d_backward");
}

__global__ void k_avgpool(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH, int64_t OW,
                          float *y, const float *x, float inv)
{
    LAB_CU_LOOP(o, NC * OH * OW)
    {
        int64_t ow = o % OW, oh = (o / OW) % OH, p = o / (OH * OW);
        const float *xp = x + p * H * W;
        int64_t h0 = oh * stride - pad, h1 = h0 + k, w0 = ow * stride - pad, w1 = w0 + k;
        if (h0 < 0) h0 = 0;
        if (h1 > H) h1 = H;
        if (w0 < 0) w0 = 0;
        if (w1 > W) w1 = W;
        float s = 0.0f;
        for (int64_t ih = h0; ih < h1; ih++)
            for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * W + iw];
        y[o] = s * inv;
    }
}

static void cu_avgpool2d(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH, int64_t OW, float *y,
                         const float *x)
{
    int64_t n = NC * OH * OW;
    if (n <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    float inv = 1.0f / (float)(k * k);
    k_avgpool<<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(NC, H, W, k, stride, pad, OH, OW,
                                                                                     y, x, inv);
    LAB_CU_CHECK(d, "avgpool2d");
}

/* gx[p, h, w] += sum over the windows (oh, ow) covering (h, w), in the CPU's
 * order, of gy[p, oh, ow] / (k*k). */
__global__ void k_avgpool_bw(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH, int64_t OW,
                             float *gx, const float *gy, float inv)
{
    LAB_CU_LOOP(e, NC * H * W)
    {
        int64_t w = e % W, h = (e / W) % H, p = e / (H * W);
        int64_t oh0, oh1, ow0, ow1;
        covering(h, k, stride, pad, OH, &oh0, &oh1);
        covering(w, k, stride, pad, OW, &ow0, &ow1);
        const float *gp = gy + p * OH * OW;
        float acc = gx[e];
        for (int64_t oh = oh0; oh <= oh1; oh++)
            for (int64_t ow = ow0; ow <= ow1; ow++) acc += __fmul_rn(gp[oh * OW + ow], inv); /* no FMA: the CPU rounds g*inv first */
        gx[e] = acc;
    }
}

static void cu_avgpool2d_backward(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH, int64_t OW,
                                  float *gx, const float *gy)
{
    int64_t n = NC * H * W;
    if (n <= 0 || OH <= 0 || OW <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(gx);
    float inv = 1.0f / (float)(k * k);
    k_avgpool_bw<<<lab_cu_blocks(d, n, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(NC, H, W, k, stride, pad, OH, OW,
                                                                                        gx, gy, inv);
    LAB_CU_CHECK(d, "avgpool2d_backward");
}

void lab_cu_install_conv(lab_backend *be)
{
    be->im2col = cu_im2col;
    be->col2im = cu_col2im;
    be->im2col_batched = cu_im2col_batched;
    be->col2im_batched = cu_col2im_batched;
    be->maxpool2d = cu_maxpool2d;
    be->maxpool2d_backward = cu_maxpool2d_backward;
    be->avgpool2d = cu_avgpool2d;
    be->avgpool2d_backward = cu_avgpool2d_backward;
}
