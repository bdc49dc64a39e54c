/* lab/ops.h — differentiable tensor ops.
 *
 * Every op returns a new tensor (owned as described in tensor.h) or NULL with
 * lab_error() set, naming the op and the shapes: "matmul: shapes [128, 784]
 * x [256, 10] do not match". A NULL input gives NULL. When grad mode is on
 * (autograd.h) and an input requires grad, the op is recorded for
 * lab_backward(). Unless stated, inputs are f32 and on one device; index
 * tensors are i64.
 *
 * `dim` arguments may be negative (-1 = last dim).
 */
#ifndef LAB_OPS_H
#define LAB_OPS_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- elementwise, broadcasting as in NumPy ------------------------------- */
lab_tensor *lab_add(lab_tensor *a, lab_tensor *b);
lab_tensor *lab_sub(lab_tensor *a, lab_tensor *b);
lab_tensor *lab_mul(lab_tensor *a, lab_tensor *b);
lab_tensor *lab_div(lab_tensor *a, lab_tensor *b);
lab_tensor *lab_pow(lab_tensor *a, lab_tensor *b); /* a > 0 where b is not an integer */
lab_tensor *lab_maximum(lab_tensor *a, lab_tensor *b);
lab_tensor *lab_minimum(lab_tensor *a, lab_tensor *b);
/* 0/1 masks (f32), never recorded. */
lab_tensor *lab_gt(lab_tensor *a, lab_tensor *b);
lab_tensor *lab_lt(lab_tensor *a, lab_tensor *b);
lab_tensor *lab_eq(lab_tensor *a, lab_tensor *b);
/* cond != 0 ? a : b, all three broadcast; grads flow to a and b. */
lab_tensor *lab_where(lab_tensor *cond, lab_tensor *a, lab_tensor *b);

lab_tensor *lab_add_scalar(lab_tensor *a, float s);
lab_tensor *lab_mul_scalar(lab_tensor *a, float s);
lab_tensor *lab_pow_scalar(lab_tensor *a, float p);
/* s * a + t, fused. */
lab_tensor *lab_affine(lab_tensor *a, float s, float t);

lab_tensor *lab_neg(lab_tensor *a);
lab_tensor *lab_exp(lab_tensor *a);
lab_tensor *lab_log(lab_tensor *a);
lab_tensor *lab_sqrt(lab_tensor *a);
lab_tensor *lab_rsqrt(lab_tensor *a);
lab_tensor *lab_abs(lab_tensor *a);
lab_tensor *lab_square(lab_tensor *a);
lab_tensor *lab_sin(lab_tensor *a);
lab_tensor *lab_cos(lab_tensor *a);
/* Clamp to [lo, hi]; use -INFINITY/INFINITY for one-sided. */
lab_tensor *lab_clamp(lab_tensor *a, float lo, float hi);
lab_tensor *lab_relu(lab_tensor *a);
lab_tensor *lab_leaky_relu(lab_tensor *a, float slope);
lab_tensor *lab_gelu(lab_tensor *a);     /* exact (erf) form */
lab_tensor *lab_silu(lab_tensor *a);
lab_tensor *lab_tanh(lab_tensor *a);
lab_tensor *lab_sigmoid(lab_tensor *a);
lab_tensor *lab_softplus(lab_tensor *a); /* log(1 + e^x), linear above 20 */

/* --- linear algebra ------------------------------------------------------ */
/* [M,K] x [K,N] -> [M,N]; [B,M,K] x [B,K,N] -> [B,M,N]; [B,M,K] x [K,N]. */
lab_tensor *lab_matmul(lab_tensor *a, lab_tensor *b);
/* As lab_matmul with either operand transposed in its last two dims. */
lab_tensor *lab_matmul_t(lab_tensor *a, lab_tensor *b, int trans_a, int trans_b);
/* x [..., in] · w[out, in]ᵀ + b[out] (b may be NULL) -> [..., out]. */
lab_tensor *lab_linear(lab_tensor *x, lab_tensor *w, lab_tensor *b);

/* --- shape --------------------------------------------------------------- */
/* One entry of shape may be -1 (inferred). Shares storage. */
lab_tensor *lab_reshape(lab_tensor *a, int ndim, const int64_t *shape);
/* Collapse dims [start, end] into one. */
lab_tensor *lab_flatten(lab_tensor *a, int start, int end);
lab_tensor *lab_transpose(lab_tensor *a, int d0, int d1);
lab_tensor *lab_permute(lab_tensor *a, const int *perm);
lab_tensor *lab_concat(int n, lab_tensor *const *ts, int dim);
/* Elements [start, end) along dim; a view when dim == 0. */
lab_tensor *lab_slice(lab_tensor *a, int dim, int64_t start, int64_t end);
/* Broadcast to shape (copying). */
lab_tensor *lab_expand(lab_tensor *a, int ndim, const int64_t *shape);
/* Sum g down to a broadcast-compatible smaller shape (the adjoint of
 * broadcasting). */
lab_tensor *lab_sum_to(lab_tensor *g, int ndim, const int64_t *shape);

/* --- indexing ------------------------------------------------------------ */
/* Rows of `a` along dim picked by idx (1-D i64). */
lab_tensor *lab_index_select(lab_tensor *a, int dim, lab_tensor *idx);
/* torch.gather: out[i][j][k] = a[i][idx[i][j][k]][k] for dim = 1, idx has
 * a's shape except along dim. */
lab_tensor *lab_gather(lab_tensor *a, int dim, lab_tensor *idx);
/* torch.scatter_add: a copy of a with src added at idx along dim. */
lab_tensor *lab_scatter_add(lab_tensor *a, int dim, lab_tensor *idx, lab_tensor *src);
/* weight [V, D], idx i64 of any shape -> idx.shape + [D]. */
lab_tensor *lab_embedding(lab_tensor *weight, lab_tensor *idx);
/* i64 labels -> f32 [..., classes]. */
lab_tensor *lab_one_hot(lab_tensor *idx, int64_t classes);

/* --- reductions ---------------------------------------------------------- */
lab_tensor *lab_sum(lab_tensor *a, int dim, int keepdim);
lab_tensor *lab_mean(lab_tensor *a, int dim, int keepdim);
lab_tensor *lab_max(lab_tensor *a, int dim, int keepdim);    /* values; grad to the argmax */
lab_tensor *lab_argmax(lab_tensor *a, int dim, int keepdim); /* i64, never recorded */
lab_tensor *lab_var(lab_tensor *a, int dim, int unbiased, int keepdim);
/* Over all elements -> scalar (ndim 0). */
lab_tensor *lab_sum_all(lab_tensor *a);
lab_tensor *lab_mean_all(lab_tensor *a);

lab_tensor *lab_softmax(lab_tensor *a, int dim);
lab_tensor *lab_log_softmax(lab_tensor *a, int dim);

/* --- normalization ------------------------------------------------------- */
/* Over the last dim; gamma, beta [D] or NULL. */
lab_tensor *lab_layernorm(lab_tensor *x, lab_tensor *gamma, lab_tensor *beta, float eps);
/* x * rsqrt(mean(x^2) + eps) * gamma over the last dim; gamma may be NULL. */
lab_tensor *lab_rmsnorm(lab_tensor *x, lab_tensor *gamma, float eps);
/* x [N, C] or [N, C, H, W]. In training, normalise with batch statistics and
 * update running_mean/var in place (momentum as in PyTorch, unbiased var);
 * in eval, use them. gamma/beta [C] or NULL; running stats may be NULL in
 * training. */
lab_tensor *lab_batchnorm(lab_tensor *x, lab_tensor *gamma, lab_tensor *beta,
                          lab_tensor *running_mean, lab_tensor *running_var,
                          int training, float momentum, float eps);

/* --- convolution and pooling (NCHW) -------------------------------------- */
/* x [N, C, H, W], w [O, C, kh, kw], b [O] or NULL. */
lab_tensor *lab_conv2d(lab_tensor *x, lab_tensor *w, lab_tensor *b, int stride, int pad);
lab_tensor *lab_max_pool2d(lab_tensor *x, int k, int stride, int pad);
/* Padding counts in the divisor (PyTorch count_include_pad = true). */
lab_tensor *lab_avg_pool2d(lab_tensor *x, int k, int stride, int pad);
/* [N, C, H, W] -> [N, C]. */
lab_tensor *lab_global_avg_pool2d(lab_tensor *x);

/* --- sparse and segments ------------------------------------------------- */
/* A CSR matrix with fixed values (f32), i64 row pointers and column ids. */
typedef struct lab_csr {
    int64_t rows, cols, nnz;
    lab_tensor *rowptr; /* i64 [rows + 1] */
    lab_tensor *colind; /* i64 [nnz] */
    lab_tensor *values; /* f32 [nnz] */
    /* Transpose, built on first use by the backward pass; owned. */
    struct lab_csr *transpose;
    int refcount;
} lab_csr;

/* Copies the arrays (host memory) and validates them: rowptr monotone from
 * 0 to nnz, column ids in range. values may be NULL (all ones). */
lab_csr *lab_csr_new(int64_t rows, int64_t cols, int64_t nnz, const int64_t *rowptr,
                     const int64_t *colind, const float *values, lab_device dev);
lab_csr *lab_csr_to(const lab_csr *a, lab_device dev);
lab_csr *lab_csr_retain(lab_csr *a);
void lab_csr_release(lab_csr *a);
/* A [rows, cols] x X [cols, F] -> [rows, F]; grad flows to X. */
lab_tensor *lab_spmm(lab_csr *a, lab_tensor *x);

/* x [N, F], seg i64 [N] with values in [0, nseg) -> [nseg, F]. Empty segments
 * give 0 (sum, mean, max). */
lab_tensor *lab_segment_sum(lab_tensor *x, lab_tensor *seg, int64_t nseg);
lab_tensor *lab_segment_mean(lab_tensor *x, lab_tensor *seg, int64_t nseg);
lab_tensor *lab_segment_max(lab_tensor *x, lab_tensor *seg, int64_t nseg);
/* Softmax of x [N] or [N, H] within each segment (GAT edge softmax). */
lab_tensor *lab_segment_softmax(lab_tensor *x, lab_tensor *seg, int64_t nseg);

/* --- attention ----------------------------------------------------------- */
/* q [B, H, Tq, D], k and v [B, H, Tk, D] -> [B, H, Tq, D], scaled by
 * 1/sqrt(D). mask (may be NULL): f32, broadcastable to [B, H, Tq, Tk], 1 =
 * may attend, 0 = blocked. causal: query i sees keys j <= i + (Tk - Tq).
 * A query that may attend to nothing outputs zeros. */
lab_tensor *lab_attention(lab_tensor *q, lab_tensor *k, lab_tensor *v,
                          lab_tensor *mask, int causal);

/* --- regularisation ------------------------------------------------------ */
struct lab_rng;
/* Inverted dropout; identity (a new reference to x) when !training or p == 0. */
lab_tensor *lab_dropout(lab_tensor *x, float p, int training, struct lab_rng *rng);

/* --- losses (mean over the batch) ---------------------------------------- */
/* logits [N, C], labels i64 [N] in [0, C). */
lab_tensor *lab_cross_entropy(lab_tensor *logits, lab_tensor *labels);
/* logp [N, C] (log-probabilities), labels i64 [N]. */
lab_tensor *lab_nll_loss(lab_tensor *logp, lab_tensor *labels);
/* mean of squared differences over all elements. */
lab_tensor *lab_mse_loss(lab_tensor *pred, lab_tensor *target);
/* logits and targets (0..1) of one shape, mean over all elements. */
lab_tensor *lab_bce_with_logits(lab_tensor *logits, lab_tensor *targets);

#ifdef __cplusplus
}
#endif
#endif
