/* Reference im2col/col2im, pooling and a direct convolution (see ref_nn.h),
 * written element by element from the definitions. The yardstick for
 * cpu_conv.c and op_conv.c in tests/unit/test_conv.c. */
#include <math.h>
#include <string.h>

#include "ref_nn.h"

void lab_ref_im2col(const float *x, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                    int pad, int64_t OH, int64_t OW, float *col)
{
    for (int64_t c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                int64_t r = (c * kh + i) * kw + j;
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        int64_t ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                        int in = ih >= 0 && ih < H && iw >= 0 && iw < W;
                        col[r * OH * OW + oh * OW + ow] = in ? x[(c * H + ih) * W + iw] : 0.0f;
                    }
            }
}

void lab_ref_col2im(const float *col, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                    int pad, int64_t OH, int64_t OW, float *x)
{
    for (int64_t c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                int64_t r = (c * kh + i) * kw + j;
                for (int64_t oh = 0; oh < OH; oh++)
                    for (int64_t ow = 0; ow < OW; ow++) {
                        int64_t ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                            x[(c * H + ih) * W + iw] += col[r * OH * OW + oh * OW + ow];
                    }
            }
}

void lab_ref_maxpool2d(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH,
                       int64_t OW, float *y, int64_t *idx, const float *x)
{
    for (int64_t p = 0; p < NC; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                float best = 0.0f;
                int64_t arg = -1;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int64_t ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                        float v = x[(p * H + ih) * W + iw];
                        /* PyTorch's rule: the first maximum wins, a NaN takes
                         * the slot and keeps it (a later NaN moves the index). */
                        if (arg < 0 || v > best || isnan(v)) {
                            best = v;
                            arg = ih * W + iw;
                        }
                    }
                y[(p * OH + oh) * OW + ow] = best;
                idx[(p * OH + oh) * OW + ow] = arg;
            }
}

void lab_ref_maxpool2d_backward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                float *gx, const float *gy, const int64_t *idx)
{
    for (int64_t p = 0; p < NC; p++)
        for (int64_t o = 0; o < OH * OW; o++) {
            int64_t a = idx[p * OH * OW + o];
            if (a >= 0) gx[p * H * W + a] += gy[p * OH * OW + o];
        }
}

void lab_ref_avgpool2d(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH,
                       int64_t OW, float *y, const float *x)
{
    for (int64_t p = 0; p < NC; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double s = 0;
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int64_t ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W) s += x[(p * H + ih) * W + iw];
                    }
                y[(p * OH + oh) * OW + ow] = (float)(s / (k * k));
            }
}

void lab_ref_avgpool2d_backward(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad,
                                int64_t OH, int64_t OW, float *gx, const float *gy)
{
    for (int64_t p = 0; p < NC; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                float g = gy[(p * OH + oh) * OW + ow] / (float)(k * k);
                for (int i = 0; i < k; i++)
                    for (int j = 0; j < k; j++) {
                        int64_t ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                        if (ih >= 0 && ih < H && iw >= 0 && iw < W) gx[(p * H + ih) * W + iw] += g;
                    }
            }
}

void lab_ref_conv2d(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int kh, int kw,
                    int stride, int pad, int64_t OH, int64_t OW, float *y, const float *x,
                    const float *w, const float *b)
{
    for (int64_t n = 0; n < N; n++)
        for (int64_t o = 0; o < O; o++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double s = b ? b[o] : 0.0;
                    for (int64_t c = 0; c < C; c++)
                        for (int i = 0; i < kh; i++)
                            for (int j = 0; j < kw; j++) {
                                int64_t ih = oh * stride - pad + i, iw = ow * stride - pad + j;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                s += (double)x[((n * C + c) * H + ih) * W + iw] *
                                     w[((o * C + c) * kh + i) * kw + j];
                            }
                    y[((n * O + o) * OH + oh) * OW + ow] = (float)s;
                }
}
