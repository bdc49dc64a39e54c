/* Multi-head scaled dot-product attention, composed from differentiable ops
 * (batched matmul, softmax, broadcasting arithmetic), so autograd supplies
 * the backward and every backend that has those ops runs it.
 *
 *     S = (q / sqrt(D)) kᵀ + bias     bias = -1e30 where blocked, else 0
 *     P = softmax(S) * valid          valid = 0 for a query that sees no key
 *     out = P v
 *
 * A finite bias rather than -inf keeps a fully blocked row finite: softmax
 * makes it uniform instead of NaN, and `valid` then zeroes it, so its output
 * is 0 and no gradient flows through it (d/dS of a zeroed row is 0). For a
 * row with at least one allowed key, exp(-1e30 - max) is exactly 0, the same
 * as -inf masking.
 *
 * Off the cpu, heads of at most LAB_ATTN_MAX_D run fused instead: the
 * backend's attention slot computes out and the per-query log-sum-exp in
 * one pass without materialising S or P ([B, H, Tq, Tk]), and its backward
 * recomputes P from them (FlashAttention's scheme). Same semantics: blocked
 * keys contribute nothing, a query that sees no key gets 0 and no gradient.
 * The cpu keeps the composed form (its matmuls are the fast part there).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops_int.h"

#define BLOCKED_BIAS 1e30f

static int check_qkv(lab_tensor *q, lab_tensor *k, lab_tensor *v, lab_tensor *mask)
{
    const char *op = "attention";
    if (lab_op_check_f32(op, "q", q) < 0 || lab_op_check_f32(op, "k", k) < 0 || lab_op_check_f32(op, "v", v) < 0)
        return -1;
    if (lab_op_check_device(op, q, k) < 0 || lab_op_check_device(op, q, v) < 0) return -1;
    char sq[96], sk[96], sv[96];
    lab_tensor_shape_str(q, sq, sizeof sq);
    lab_tensor_shape_str(k, sk, sizeof sk);
    lab_tensor_shape_str(v, sv, sizeof sv);
    if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4)
        return lab_error_set("attention: q, k, v must be [B, H, T, D], got q %s, k %s, v %s", sq, sk, sv);
    if (!lab_tensor_same_shape(k, v) || k->shape[0] != q->shape[0] || k->shape[1] != q->shape[1] ||
        k->shape[3] != q->shape[3])
        return lab_error_set("attention: shapes q %s, k %s, v %s do not match (want q [B, H, Tq, D], k and "
                             "v [B, H, Tk, D])", sq, sk, sv);
    if (!mask) return 0;
    if (lab_op_check_f32(op, "mask", mask) < 0 || lab_op_check_device(op, q, mask) < 0) return -1;
    int64_t target[4] = {q->shape[0], q->shape[1], q->shape[2], k->shape[2]};
    int ok = mask->ndim <= 4;
    for (int d = 0; ok && d < mask->ndim; d++) {
        int64_t m = mask->shape[mask->ndim - 1 - d], t = target[3 - d];
        if (m != t && m != 1) ok = 0;
    }
    if (!ok) {
        char sm[96];
        return lab_error_set("attention: mask %s does not broadcast to [%lld, %lld, %lld, %lld]",
                             lab_tensor_shape_str(mask, sm, sizeof sm), (long long)target[0],
                             (long long)target[1], (long long)target[2], (long long)target[3]);
    }
    return 0;
}

/* 1 where query i may not see key j: j > i + (Tk - Tq). */
static lab_tensor *causal_blocked(int64_t Tq, int64_t Tk, lab_device dev)
{
    float *m = malloc((size_t)(Tq * Tk > 0 ? Tq * Tk : 1) * sizeof *m);
    if (!m) {
        lab_error_set("attention: out of host memory for a %lldx%lld causal mask", (long long)Tq, (long long)Tk);
        return NULL;
    }
    for (int64_t i = 0; i < Tq; i++)
        for (int64_t j = 0; j < Tk; j++) m[i * Tk + j] = j > i + (Tk - Tq) ? 1.0f : 0.0f;
    int64_t shape[2] = {Tq, Tk};
    lab_tensor *t = lab_tensor_from_data(LAB_F32, 2, shape, m, dev);
    free(m);
    return t;
}

/* --- fused (devices) ------------------------------------------------------------ */

/* Mask strides over [B, H, Tq, Tk] (0 along broadcast dims); zeros without a mask. */
static void mask_strides(const lab_tensor *q, const lab_tensor *k, const lab_tensor *mask, int64_t *ms)
{
    int64_t target[4] = {q->shape[0], q->shape[1], q->shape[2], k->shape[2]};
    if (mask)
        lab_op_broadcast_strides(mask, 4, target, ms);
    else
        ms[0] = ms[1] = ms[2] = ms[3] = 0;
}

static void attention_fused_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *q = node->inputs[0], *k = node->inputs[1], *v = node->inputs[2];
    lab_tensor *mask = node->saved[0], *out = node->saved[1], *lse = node->saved[2];
    const lab_backend *be = lab_tensor_backend(g);
    int64_t ms[4];
    mask_strides(q, k, mask, ms);
    int wq = lab_node_needs_grad(node, 0), wk = lab_node_needs_grad(node, 1), wv = lab_node_needs_grad(node, 2);
    lab_tensor *dq = wq ? lab_tensor_empty_like(q) : NULL;
    lab_tensor *dk = wk ? lab_tensor_empty_like(k) : NULL;
    lab_tensor *dv = wv ? lab_tensor_empty_like(v) : NULL;
    if ((wq && !dq) || (wk && !dk) || (wv && !dv)) return; /* error set */
    be->attention_backward(q->shape[0], q->shape[1], q->shape[2], k->shape[2], q->shape[3], (float)node->fparam[0],
                           lab_op_f32(q), lab_op_f32(k), lab_op_f32(v), mask ? lab_op_f32(mask) : NULL, ms,
                           (int)node->iparam[0], lab_op_f32(out), lab_op_f32(lse), lab_op_f32(g),
                           dq ? lab_op_f32(dq) : NULL, dk ? lab_op_f32(dk) : NULL, dv ? lab_op_f32(dv) : NULL);
    if (dq) lab_node_accumulate(node, 0, dq);
    if (dk) lab_node_accumulate(node, 1, dk);
    if (dv) lab_node_accumulate(node, 2, dv);
}

static lab_tensor *attention_fused(const lab_backend *be, lab_tensor *q, lab_tensor *k, lab_tensor *v,
                                   lab_tensor *mask, int causal)
{
    int64_t B = q->shape[0], H = q->shape[1], Tq = q->shape[2], Tk = k->shape[2], D = q->shape[3];
    float scale = D > 0 ? 1.0f / sqrtf((float)D) : 1.0f;
    int64_t ms[4];
    mask_strides(q, k, mask, ms);
    lab_tensor *out = lab_tensor_empty_like(q);
    int64_t ls[3] = {B, H, Tq};
    lab_tensor *lse = out ? lab_tensor_empty(LAB_F32, 3, ls, q->device) : NULL;
    if (!lse) {
        lab_tensor_release(lab_tensor_own(out));
        return NULL;
    }
    if (out->numel > 0)
        be->attention(B, H, Tq, Tk, D, scale, lab_op_f32(q), lab_op_f32(k), lab_op_f32(v),
                      mask ? lab_op_f32(mask) : NULL, ms, causal, lab_op_f32(out), lab_op_f32(lse));
    else if (lse->numel > 0) /* D = 0: nothing to attend with; keep lse defined */
        lab_tensor_fill_(lse, 0.0);
    lab_tensor *in[3] = {q, k, v};
    lab_node *n = lab_autograd_record(out, "attention", attention_fused_backward, 3, in);
    if (n) {
        if (mask) lab_node_save(n, 0, mask);
        lab_op_save_output(n, 1, out);
        lab_node_save(n, 2, lse);
        n->fparam[0] = scale;
        n->iparam[0] = causal;
    }
    lab_tensor_release(lab_tensor_own(lse)); /* the node keeps it if it needs it */
    return out;
}

lab_tensor *lab_attention(lab_tensor *q, lab_tensor *k, lab_tensor *v, lab_tensor *mask, int causal)
{
    if (!q || !k || !v) return NULL;
    if (check_qkv(q, k, v, mask) < 0) return NULL;
    /* LAB_CUDA_ATTN=composed: the composed form on devices too (benchmarks, bug hunts). */
    const char *mode = getenv("LAB_CUDA_ATTN");
    int composed = mode && strcmp(mode, "composed") == 0;
    if (q->device.type != LAB_DEV_CPU && q->shape[3] <= LAB_ATTN_MAX_D && !composed) {
        const lab_backend *be = lab_tensor_backend(q);
        if (be->attention && be->attention_backward) return attention_fused(be, q, k, v, mask, causal);
    }
    int64_t Tq = q->shape[2], Tk = k->shape[2], D = q->shape[3];
    lab_scope_begin();
    float scale = D > 0 ? 1.0f / sqrtf((float)D) : 1.0f;
    lab_tensor *s = lab_matmul_t(lab_mul_scalar(q, scale), k, 0, 1); /* [B, H, Tq, Tk] */
    lab_tensor *blocked = NULL; /* 1 = blocked, broadcastable to s */
    if (mask) {
        lab_tensor *zero = lab_tensor_scalar(0.0f, q->device);
        blocked = lab_eq(mask, zero);
    }
    if (causal) {
        lab_tensor *c = causal_blocked(Tq, Tk, q->device);
        blocked = blocked ? lab_maximum(blocked, c) : c;
    }
    lab_tensor *p;
    if (mask || causal) {
        s = lab_add(s, lab_mul_scalar(blocked, -BLOCKED_BIAS));
        p = lab_softmax(s, -1);
        /* valid = max over keys of (1 - blocked): 0 for a query that sees nothing. */
        lab_tensor *valid = lab_max(lab_affine(blocked, -1.0f, 1.0f), -1, 1);
        p = lab_mul(p, valid);
    } else {
        p = lab_softmax(s, -1);
    }
    lab_tensor *out = lab_matmul(p, v);
    lab_keep(out);
    lab_scope_end();
    return out;
}
