/* backend.h — the primitives every device backend provides (internal).
 *
 * Ops (framework/core/op_*.c) check shapes, allocate outputs and record
 * autograd nodes; the arithmetic goes through a lab_backend. The CPU backend
 * (kernels/cpu) is always built; the CUDA backend (kernels/cuda ->
 * liblab_cuda.so) fills the same table and is loaded with dlopen().
 *
 * Conventions: pointers are device pointers of the backend, outputs first,
 * f32 unless the name says otherwise, index arrays are int64. Strides are in
 * elements. A slot left NULL means "not available on this backend": ops
 * report that as an error naming the op and the backend.
 *
 * The table only grows at the end of each group (LAB_BACKEND_ABI counts
 * changes), so an older liblab_cuda.so is refused, never called wrongly.
 */
#ifndef LAB_BACKEND_H
#define LAB_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "lab/tensor.h"

#define LAB_BACKEND_ABI 3

/* Largest head size the fused attention slots take. */
#define LAB_ATTN_MAX_D 128

typedef enum {
    LAB_UN_NEG = 0, LAB_UN_EXP, LAB_UN_LOG, LAB_UN_SQRT, LAB_UN_RSQRT, LAB_UN_ABS,
    LAB_UN_SQUARE, LAB_UN_SIN, LAB_UN_COS,
    LAB_UN_RELU, LAB_UN_LEAKY_RELU /* p0 slope */, LAB_UN_GELU, LAB_UN_SILU, LAB_UN_TANH,
    LAB_UN_SIGMOID, LAB_UN_SOFTPLUS,
    LAB_UN_POW /* x^p0 */, LAB_UN_CLAMP /* [p0, p1] */, LAB_UN_AFFINE /* p0*x + p1 */,
    LAB_UN_COUNT
} lab_unary_op;

typedef enum {
    LAB_BIN_ADD = 0, LAB_BIN_SUB, LAB_BIN_MUL, LAB_BIN_DIV, LAB_BIN_POW, LAB_BIN_MAX,
    LAB_BIN_MIN, LAB_BIN_GT, LAB_BIN_LT, LAB_BIN_EQ,
    LAB_BIN_COUNT
} lab_binary_op;

typedef enum { LAB_RED_SUM = 0, LAB_RED_MAX, LAB_RED_MIN } lab_reduce_op;

typedef struct lab_backend {
    int abi;
    const char *name; /* "cpu", "cuda" */

    /* --- memory (dev = device index) ------------------------------------ */
    void *(*alloc)(int dev, size_t bytes);          /* NULL on failure, error set */
    void (*free)(int dev, void *p, size_t bytes);
    int (*copy_h2d)(int dev, void *dst, const void *src, size_t bytes);
    int (*copy_d2h)(int dev, void *dst, const void *src, size_t bytes);
    int (*copy_d2d)(int dev, void *dst, const void *src, size_t bytes);
    int (*synchronize)(int dev);
    int (*device_count)(void);
    /* One line describing device dev ("NVIDIA H200, 139 GiB, sm_90"). */
    int (*device_info)(int dev, char *buf, size_t len);

    /* --- elementwise ----------------------------------------------------- */
    /* y[i] = value (converted to dtype). */
    void (*fill)(void *y, lab_dtype dt, int64_t n, double value);
    void (*cast)(void *y, lab_dtype ydt, const void *x, lab_dtype xdt, int64_t n);
    /* y = f(x); y may alias x. */
    void (*unary)(lab_unary_op op, int64_t n, float *y, const float *x, float p0, float p1);
    /* gx = gy * f'(x); y is f(x) (some derivatives read it). */
    void (*unary_backward)(lab_unary_op op, int64_t n, float *gx, const float *gy,
                           const float *x, const float *y, float p0, float p1);
    /* Broadcasting: y is contiguous of `shape` (ndim <= LAB_MAX_DIMS); a and b
     * are read with their strides (0 along broadcast dims). */
    void (*binary)(lab_binary_op op, int ndim, const int64_t *shape, float *y,
                   const float *a, const int64_t *sa, const float *b, const int64_t *sb);
    void (*where)(int ndim, const int64_t *shape, float *y, const float *c, const int64_t *sc,
                  const float *a, const int64_t *sa, const float *b, const int64_t *sb);
    /* Generic strided copy of elem-byte elements: dst[index·ds] = src[index·ss]
     * for every index of shape (transpose, permute, concat, slice, expand). */
    void (*strided_copy)(int ndim, const int64_t *shape, size_t elem, void *dst,
                         const int64_t *ds, const void *src, const int64_t *ss);
    /* y += x (n elements), used for gradient accumulation. */
    void (*accumulate)(int64_t n, float *y, const float *x);
    /* Rotary position embedding over x [rows, T, D] (rotate-half pairing):
     * (a, b) = (x[i], x[i + D/2]) -> (a c - b s, a s + b c) with angle
     * pos[t] * base^(-2i/D), c = cos, s = sign * sin, angles in double.
     * sign = -1 applies the inverse rotation (the backward pass). */
    void (*rope)(int64_t rows, int64_t T, int64_t D, float *y, const float *x, const int64_t *pos,
                 double base, double sign);

    /* --- reductions over x viewed as [outer, n, inner] ------------------- */
    /* y [outer, inner]; for MAX/MIN, arg (may be NULL) receives the index in
     * [0, n) of the first extreme. */
    void (*reduce)(lab_reduce_op op, int64_t outer, int64_t n, int64_t inner, float *y,
                   int64_t *arg, const float *x);
    /* Softmax (or log-softmax) along the middle dim. */
    void (*softmax)(int64_t outer, int64_t n, int64_t inner, float *y, const float *x, int log);
    void (*softmax_backward)(int64_t outer, int64_t n, int64_t inner, float *gx, const float *gy,
                             const float *y, int log);

    /* --- linear algebra (row-major) -------------------------------------- */
    /* C[M,N] = alpha * op(A) op(B) + beta * C; op(A) is [M,K]. */
    void (*gemm)(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                 int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);
    void (*gemm_batched)(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                         const float *A, int64_t lda, int64_t strideA, const float *B, int64_t ldb,
                         int64_t strideB, float beta, float *C, int64_t ldc, int64_t strideC,
                         int64_t batch);

    /* --- normalization ----------------------------------------------------
     * layernorm over rows of length cols; mean/rstd [rows] are saved for
     * backward; g, b may be NULL. gg, gb may be NULL (not wanted); they are
     * overwritten, not accumulated. */
    void (*layernorm)(int64_t rows, int64_t cols, float *y, float *mean, float *rstd,
                      const float *x, const float *g, const float *b, float eps);
    void (*layernorm_backward)(int64_t rows, int64_t cols, float *gx, float *gg, float *gb,
                               const float *gy, const float *x, const float *mean,
                               const float *rstd, const float *g);
    /* batchnorm over x viewed as [N, C, S] (S = H*W, or 1 for [N, C]).
     * stats: mean[c] and biased var[c] over the N*S values of channel c;
     * when running_mean/var are not NULL they are updated in place:
     * r = (1 - momentum) r + momentum s, with the unbiased var (PyTorch). */
    void (*batchnorm_stats)(int64_t N, int64_t C, int64_t S, float *mean, float *var,
                            float *running_mean, float *running_var, float momentum,
                            const float *x);
    /* y = (x - mean[c]) / sqrt(var[c] + eps) * g[c] + b[c]; g, b may be NULL. */
    void (*batchnorm)(int64_t N, int64_t C, int64_t S, float *y, const float *x,
                      const float *mean, const float *var, const float *g, const float *b,
                      float eps);
    /* batch_stats: mean/var were computed from x (training), so gx includes
     * their dependence on x; else they are constants (eval). gx, gg, gb may
     * each be NULL (not wanted); they are overwritten, not accumulated. */
    void (*batchnorm_backward)(int64_t N, int64_t C, int64_t S, int batch_stats, float *gx,
                               float *gg, float *gb, const float *gy, const float *x,
                               const float *mean, const float *var, const float *g, float eps);

    /* --- convolution and pooling, one image [C, H, W] at a time ---------- */
    /* col [C*kh*kw, OH*OW]. */
    void (*im2col)(const float *x, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                   int pad, int64_t OH, int64_t OW, float *col);
    /* x += col2im(col) (accumulates). */
    void (*col2im)(const float *col, int64_t C, int64_t H, int64_t W, int kh, int kw, int stride,
                   int pad, int64_t OH, int64_t OW, float *x);
    /* x [NC, H, W] -> y [NC, OH, OW]; max records argmax (flat h*W+w, -1 if
     * the window is all padding) in idx. */
    void (*maxpool2d)(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH,
                      int64_t OW, float *y, int64_t *idx, const float *x);
    /* gx (zeroed by the caller) += scatter of gy through idx. */
    void (*maxpool2d_backward)(int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW,
                               float *gx, const float *gy, const int64_t *idx);
    void (*avgpool2d)(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad, int64_t OH,
                      int64_t OW, float *y, const float *x);
    void (*avgpool2d_backward)(int64_t NC, int64_t H, int64_t W, int k, int stride, int pad,
                               int64_t OH, int64_t OW, float *gx, const float *gy);
    /* The whole batch at once, for devices where one launch per image is the
     * bottleneck: x [N, C, H, W] -> col [C*kh*kw, N, OH*OW] (row (c, i, j),
     * then image, then output position), so one gemm covers every image. */
    void (*im2col_batched)(const float *x, int64_t N, int64_t C, int64_t H, int64_t W, int kh, int kw,
                           int stride, int pad, int64_t OH, int64_t OW, float *col);
    /* x [N, C, H, W] += col2im of col in im2col_batched's layout; each
     * element adds its (i, j) terms in the order col2im does. */
    void (*col2im_batched)(const float *col, int64_t N, int64_t C, int64_t H, int64_t W, int kh, int kw,
                           int stride, int pad, int64_t OH, int64_t OW, float *x);

    /* --- indexing over x viewed as [outer, n, inner] --------------------- */
    /* y[o, j, i] = x[o, idx[j], i], j < nidx (idx validated by the op). */
    void (*index_select)(int64_t outer, int64_t n, int64_t inner, float *y, const float *x,
                         const int64_t *idx, int64_t nidx);
    /* y[o, idx[j], i] += src[o, j, i]. */
    void (*index_add)(int64_t outer, int64_t n, int64_t inner, float *y, const float *src,
                      const int64_t *idx, int64_t nidx);
    /* Per-element: y[o, j, i] = x[o, idx[o, j, i], i], idx [outer, m, inner]. */
    void (*gather)(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y, const float *x,
                   const int64_t *idx);
    /* y[o, idx[o, j, i], i] += src[o, j, i]. */
    void (*scatter_add)(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y,
                        const float *src, const int64_t *idx);
    /* y [nidx, classes] one-hot of idx (validated). */
    void (*one_hot)(int64_t nidx, int64_t classes, float *y, const int64_t *idx);
    /* Segments: x [n, f], seg [n] in [0, nseg) -> y [nseg, f]; SUM or MAX
     * (arg [nseg, f] gets the row index of the max, -1 for empty segments,
     * whose y is 0). */
    void (*segment_reduce)(lab_reduce_op op, int64_t n, int64_t f, float *y, int64_t *arg,
                           const float *x, const int64_t *seg, int64_t nseg);
    /* Validates idx[0..n) against [0, limit). On failure the error reads
     * "<op>: <what> 12 at position 3 is out of range [0, 10)" (first bad
     * position). The cpu checks at once and returns -1. The cuda backend
     * queues the check on the stream and returns 0 without waiting: a
     * failure is reported by the next call that waits for the device (copy
     * to host, synchronize), so an index op costs no host round trip; the
     * index kernels skip out-of-range entries meanwhile. op and what are
     * copied. */
    int (*check_index)(int dev, const int64_t *idx, int64_t n, int64_t limit, const char *op,
                       const char *what);

    /* --- sparse ------------------------------------------------------------
     * y [rows, f] = A x, A in CSR (rowptr [rows+1], colind, vals [nnz]);
     * nnz == rowptr[rows], passed so a device need not read it back. */
    void (*spmm)(int64_t rows, int64_t cols, int64_t f, int64_t nnz, const int64_t *rowptr,
                 const int64_t *colind, const float *vals, const float *x, float *y);

    /* --- fused attention (small heads, D <= LAB_ATTN_MAX_D) -----------------
     * q [B*H, Tq, D], k and v [B*H, Tk, D]; head bh is (b, h) = (bh / H,
     * bh % H). Key j is allowed for query i unless mask (may be NULL), read at
     * b*ms[0] + h*ms[1] + i*ms[2] + j*ms[3], is 0 there, or causal and
     * j > i + Tk - Tq. Scores are (scale*q_i)·k_j. out [B*H, Tq, D];
     * lse [B*H, Tq] = log-sum-exp of the allowed scores, +inf for a query
     * that sees no key (its output is 0). lab_attention uses these off the
     * cpu only; the cpu's versions are plain reference loops. */
    void (*attention)(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, float scale, const float *q,
                      const float *k, const float *v, const float *mask, const int64_t *ms, int causal,
                      float *out, float *lse);
    /* Gradients given dout; dq, dk, dv are overwritten, each may be NULL. */
    void (*attention_backward)(int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, float scale,
                               const float *q, const float *k, const float *v, const float *mask,
                               const int64_t *ms, int causal, const float *out, const float *lse,
                               const float *dout, float *dq, float *dk, float *dv);

    /* --- random (see rng.h for the word layout) ------------------------- */
    void (*philox_uniform)(int64_t n, float *y, uint64_t seed, uint64_t stream,
                           uint64_t offset, float lo, float hi);
    void (*philox_normal)(int64_t n, float *y, uint64_t seed, uint64_t stream, uint64_t offset,
                          float mean, float std);

    /* --- optimizers (in place) ------------------------------------------ */
    /* Adam/AdamW step t (1-based). decoupled: p -= lr*wd*p first (AdamW);
     * else g += wd*p (Adam's L2). */
    void (*adam)(int64_t n, float *p, const float *g, float *m, float *v, float lr, float beta1,
                 float beta2, float eps, float wd, int decoupled, int64_t t);
    /* SGD with momentum buffer buf (may be NULL when momentum == 0);
     * first: the buffer is uninitialised (PyTorch sets buf = g). */
    void (*sgd)(int64_t n, float *p, const float *g, float *buf, float lr, float momentum,
                float dampening, float wd, int nesterov, int first);
    /* Sum of squares over `count` arrays xs[k] of ns[k] elements (the global
     * norm for clipping), in double, into *out on the host: one wait for the
     * device however many arrays. 0, or -1 with the error set. */
    int (*sumsq)(int count, const int64_t *ns, const float *const *xs, double *out);

    /* --- device extras (CUDA; the cpu leaves them NULL) -------------------
     * Reached from framework/core/cuda_api.c (lab/cuda.h), so liblab never
     * links CUDA. Each returns 0, or -1 with the error set. */
    /* Bytes the caching allocator holds from the driver for device dev (in
     * use plus cached), now and at peak since start. */
    int (*memory_stats)(int dev, size_t *current, size_t *peak);
    /* Give device dev's cached free blocks back to the driver. */
    int (*empty_cache)(int dev);
    /* Allow TF32 tensor-core math in gemm (on != 0) for every device;
     * returns the previous setting (0/1). Off by default. */
    int (*set_tf32)(int on);
    /* Page-locked host memory: copy_h2d from it is a DMA with no staging
     * copy. NULL with the error set; host_free(NULL) is a no-op. */
    void *(*host_alloc)(size_t bytes);
    void (*host_free)(void *p);
} lab_backend;

/* The backend for a device: cpu always; cuda loads liblab_cuda.so on first
 * use. NULL with error set when unavailable. */
const lab_backend *lab_backend_get(lab_device dev);
const lab_backend *lab_backend_cpu(void);

/* The entry point liblab_cuda.so exports. */
typedef const lab_backend *(*lab_cuda_entry_fn)(int abi, char *err, size_t errlen);
#define LAB_CUDA_ENTRY "lab_cuda_backend_entry"

#endif
