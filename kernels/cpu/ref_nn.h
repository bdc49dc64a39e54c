/* ref_nn.h — plain C references for the linear algebra, convolution,
 * pooling and normalization primitives (internal; for tests).
 *
 * Each lab_ref_<prim> has the signature and the exact semantics of the
 * backend slot <prim> in framework/core/backend.h, written as the most
 * direct loops (double accumulators, no blocking, no threads), so that a
 * fast kernel on any backend can be compared with it. lab_ref_conv2d is a
 * direct (non-im2col) convolution for checking lab_conv2d end to end.
 */
#ifndef LAB_REF_NN_H
#define LAB_REF_NN_H

#include <stdint.h>

/* --- ref_blas.c ------------------------------------------------------------ */
void lab_ref_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
void lab_ref_gemm_batched(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, int64_t strideA, const float *B, int64_t ldb,
                          int64_t strideB, float beta, float *C, int64_t ldc, int64_t strideC,
                          int64_t batch);

/* --- ref_conv.c ------------------------------------------------------------ */
void lab_ref_im2col(const float *x, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                    int pad, int64_t OH, int64_t OW, float *col);
void lab_ref_col2im(const float *col, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                    int pad, int64_t OH, int64_t OW, float *x);
void lab_ref_maxpool2d(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH,
                       int64_t OW, float *y, int64_t *idx, const float *x);
void lab_ref_maxpool2d_backward(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                float *gx, const float *gy, const int64_t *idx);
void lab_ref_avgpool2d(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH,
                       int64_t OW, float *y, const float *x);
void lab_ref_avgpool2d_backward(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad,
                                int64_t OH, int64_t OW, float *gx, const float *gy);
/* y [N, O, OH, OW] = conv(x [N, C, H, W], w [O, C, kh, kw]) + b[O] (b may
 * be NULL), zero padding `pad` on every side. */
void lab_ref_conv2d(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int kh, int kw,
                    int stride, int pad, int64_t OH, int64_t OW, float *y, const float *x,
                    const float *w, const float *b);

/* --- ref_norm.c ------------------------------------------------------------ */
void lab_ref_layernorm(int64_t rows, int64_t cols, float *y, float *mean, float *rstd,
                       const float *x, const float *g, const float *b, float eps);
void lab_ref_layernorm_backward(int64_t rows, int64_t cols, float *gx, float *gg, float *gb,
                                const float *gy, const float *x, const float *mean,
                                const float *rstd, const float *g);
void lab_ref_batchnorm_stats(int64_t N, int64_t C, int64_t S, float *mean, float *var,
                             float *running_mean, float *running_var, float momentum,
                             const float *x);
void lab_ref_batchnorm(int64_t N, int64_t C, int64_t S, float *y, const float *x,
                       const float *mean, const float *var, const float *g, const float *b,
                       float eps);
void lab_ref_batchnorm_backward(int64_t N, int64_t C, int64_t S, int batch_stats, float *gx,
                                float *gg, float *gb, const float *gy, const float *x,
                                const float *mean, const float *var, const float *g, float eps);

#endif
