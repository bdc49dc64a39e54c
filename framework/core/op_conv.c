/* Convolution and pooling (NCHW): lab_conv2d, lab_max_pool2d,
 * lab_avg_pool2d, lab_global_avg_pool2d.
 *
 * conv2d is im2col + gemm one image at a time. On the cpu the images are
 * spread over OpenMP threads, each with its own im2col buffer of one image
 * (C*kh*kw x OH*OW floats), so the working set stays in cache and no
 * batch-sized column matrix is ever allocated; other backends run the same
 * loop on one thread. The autograd node keeps only x and w (which exist
 * anyway): backward recomputes each image's columns, which costs one
 * im2col per image against the three gemms it already does. A 1x1 kernel
 * with stride 1 and no padding needs no columns at all: the image is its
 * own column matrix.
 *
 * Backward per image: dW += gy[n] colᵀ and db += gy[n] 1 into per-thread
 * partial sums (added at the end by one gemm against a ones vector), then
 * the column buffer is reused for Wᵀ gy[n] and scattered into dx[n] by
 * col2im. Only the gradients that are wanted are computed (the first
 * layer's input needs none).
 *
 * Off the cpu (CUDA), launches rather than arithmetic dominate small
 * convolutions, so the batch goes through at once: im2col_batched lays the
 * columns of a chunk of images out as [C*kh*kw, n, OH*OW], one gemm gives
 * y in [O, n, P], and one broadcasting add (or copy) transposes it into
 * [n, O, P] with the bias. The backward transposes gy the same way and needs
 * one gemm per wanted gradient and one col2im_batched: about 3 launches
 * forward and 6 backward per chunk instead of 2-5 per image. Chunks hold at
 * most LAB_CONV_BATCH_FLOATS floats (default 2^25, 128 MiB) per buffer.
 *
 * Pooling calls the backend's pooling primitives on all N*C planes at once;
 * global average pooling is a gemm against a ones vector.
 */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ops_int.h"

typedef struct {
    int64_t N, C, H, W, O, OH, OW;
    int kh, kw, stride, pad;
    int direct; /* 1x1, stride 1, no padding: x[n] is the column matrix */
} conv_geom;

/* Threads for a per-image loop: the cpu splits images over its OpenMP
 * threads (one image per gemm, each gemm single-threaded inside the
 * region); a batch smaller than the thread count is better served by
 * threading each gemm, so it runs on one thread. */
static int conv_threads(const lab_tensor *x, int64_t N)
{
    if (x->device.type != LAB_DEV_CPU || omp_in_parallel()) return 1;
    int t = omp_get_max_threads();
    return N >= t ? t : 1;
}

static void range_of(int64_t N, int tid, int nth, int64_t *lo, int64_t *hi)
{
    *lo = N * tid / nth;
    *hi = N * (tid + 1) / nth;
}

static int conv_check(lab_tensor *x, lab_tensor *w, lab_tensor *b, int stride, int pad, conv_geom *g)
{
    const char *op = "conv2d";
    if (lab_op_check_f32(op, "x", x) < 0 || lab_op_check_f32(op, "w", w) < 0) return -1;
    if (b && lab_op_check_f32(op, "b", b) < 0) return -1;
    if (lab_op_check_device(op, x, w) < 0 || (b && lab_op_check_device(op, x, b) < 0)) return -1;
    char sx[96], sw[96], sb[96];
    lab_tensor_shape_str(x, sx, sizeof sx);
    lab_tensor_shape_str(w, sw, sizeof sw);
    if (x->ndim != 4) return lab_error_set("conv2d: x must be [N, C, H, W], got %s", sx);
    if (w->ndim != 4) return lab_error_set("conv2d: w must be [out, in, kh, kw], got %s", sw);
    if (w->shape[1] != x->shape[1])
        return lab_error_set("conv2d: x %s has %lld channels but w %s expects %lld", sx,
                             (long long)x->shape[1], sw, (long long)w->shape[1]);
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0]))
        return lab_error_set("conv2d: b %s does not match w %s (expected [%lld])",
                             lab_tensor_shape_str(b, sb, sizeof sb), sw, (long long)w->shape[0]);
    if (stride < 1 || pad < 0)
        return lab_error_set("conv2d: stride %d and pad %d must be >= 1 and >= 0", stride, pad);
    if (w->shape[2] < 1 || w->shape[3] < 1 || w->shape[2] > 1 << 20 || w->shape[3] > 1 << 20)
        return lab_error_set("conv2d: kernel of w %s must be at least 1x1", sw);
    g->N = x->shape[0];
    g->C = x->shape[1];
    g->H = x->shape[2];
    g->W = x->shape[3];
    g->O = w->shape[0];
    g->kh = (int)w->shape[2];
    g->kw = (int)w->shape[3];
    g->stride = stride;
    g->pad = pad;
    int64_t eh = g->H + 2 * (int64_t)pad - g->kh, ew = g->W + 2 * (int64_t)pad - g->kw;
    if (eh < 0 || ew < 0)
        return lab_error_set("conv2d: kernel %dx%d is larger than the padded input %s (pad %d)", g->kh,
                             g->kw, sx, pad);
    g->OH = eh / stride + 1;
    g->OW = ew / stride + 1;
    g->direct = g->kh == 1 && g->kw == 1 && stride == 1 && pad == 0;
    return 0;
}

/* Column matrix of image n: x[n] itself, or im2col into `col`. */
static const float *image_cols(const lab_backend *be, const conv_geom *g, const float *xn, float *col)
{
    if (g->direct) return xn;
    be->im2col(xn, g->C, g->H, g->W, g->kh, g->kw, g->stride, g->pad, g->OH, g->OW, col);
    return col;
}

/* --- batched path (devices) ----------------------------------------------------- */

/* LAB_CUDA_CONV=per-image keeps devices on the per-image loop (for
 * benchmarking the two against each other, or to rule the batched path out
 * when hunting a bug); read at every call, it costs nothing next to a conv. */
static int use_batched(const lab_backend *be, const lab_tensor *x)
{
    const char *mode = getenv("LAB_CUDA_CONV");
    if (mode && strcmp(mode, "per-image") == 0) return 0;
    return x->device.type != LAB_DEV_CPU && be->im2col_batched && be->col2im_batched && be->binary &&
           be->strided_copy;
}

/* Images per chunk: each of the chunk's buffers (columns, transposed y or
 * gy) stays within LAB_CONV_BATCH_FLOATS floats. */
static int64_t batch_chunk(const conv_geom *g)
{
    static int64_t cached; /* read once; racing first readers store the same value */
    int64_t cap = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (!cap) {
        const char *e = getenv("LAB_CONV_BATCH_FLOATS");
        long long v = e ? atoll(e) : 0;
        cap = v > 0 ? (int64_t)v : (int64_t)1 << 25;
        __atomic_store_n(&cached, cap, __ATOMIC_RELAXED);
    }
    int64_t P = g->OH * g->OW, per = g->C * g->kh * g->kw * P;
    if (g->O * P > per) per = g->O * P;
    int64_t n = per > 0 ? cap / per : g->N;
    if (n > g->N) n = g->N;
    return n < 1 ? 1 : n;
}

static int conv_forward_batched(const lab_backend *be, const conv_geom *g, lab_tensor *x, lab_tensor *w,
                                lab_tensor *b, lab_tensor *y)
{
    int64_t P = g->OH * g->OW, CKK = g->C * g->kh * g->kw, CHW = g->C * g->H * g->W;
    int64_t nc = batch_chunk(g);
    lab_scope_begin();
    int64_t cs = CKK * nc * P, ys = g->O * nc * P;
    lab_tensor *col = lab_tensor_empty(LAB_F32, 1, &cs, x->device);
    lab_tensor *yt = lab_tensor_empty(LAB_F32, 1, &ys, x->device);
    int ok = col && yt;
    for (int64_t n0 = 0; ok && n0 < g->N; n0 += nc) {
        int64_t m = g->N - n0 < nc ? g->N - n0 : nc;
        float *COL = lab_op_f32(col), *YT = lab_op_f32(yt);
        be->im2col_batched(lab_op_f32(x) + n0 * CHW, m, g->C, g->H, g->W, g->kh, g->kw, g->stride, g->pad, g->OH,
                           g->OW, COL);
        be->gemm(0, 0, g->O, m * P, CKK, 1.0f, lab_op_f32(w), CKK, COL, m * P, 0.0f, YT, m * P);
        /* y[n0 + n, o, p] = yt[o, n, p] (+ b[o]) */
        int64_t shape[3] = {m, g->O, P}, st[3] = {P, m * P, 1}, sb[3] = {0, 1, 0}, sy[3] = {g->O * P, P, 1};
        float *Y = lab_op_f32(y) + n0 * g->O * P;
        if (b)
            be->binary(LAB_BIN_ADD, 3, shape, Y, YT, st, lab_op_f32(b), sb);
        else
            be->strided_copy(3, shape, sizeof(float), Y, sy, YT, st);
    }
    lab_scope_end();
    return ok ? 0 : -1;
}

static void conv_backward_batched(lab_node *node, lab_tensor *gy, const conv_geom *g, int want_x, int want_w,
                                  int want_b)
{
    lab_tensor *x = node->inputs[0], *w = node->inputs[1];
    const lab_backend *be = lab_tensor_backend(gy);
    lab_device dev = x->device;
    int64_t P = g->OH * g->OW, CKK = g->C * g->kh * g->kw, CHW = g->C * g->H * g->W;
    int64_t nc = batch_chunk(g);
    int64_t cs = CKK * nc * P, gs = g->O * nc * P, ns = nc * P;
    lab_tensor *gx = want_x ? lab_tensor_zeros(LAB_F32, 4, x->shape, dev) : NULL;
    lab_tensor *gw = want_w ? lab_tensor_zeros(LAB_F32, 4, w->shape, dev) : NULL; /* [O, CKK] for the gemm */
    lab_tensor *gb = want_b ? lab_tensor_zeros(LAB_F32, 1, &g->O, dev) : NULL;
    lab_scope_begin();
    lab_tensor *gyt = lab_tensor_empty(LAB_F32, 1, &gs, dev);
    lab_tensor *col = want_x || want_w ? lab_tensor_empty(LAB_F32, 1, &cs, dev) : NULL;
    lab_tensor *ones = want_b ? lab_tensor_full(LAB_F32, 1, &ns, 1.0, dev) : NULL;
    int ok = gyt && (!(want_x || want_w) || col) && (!want_b || ones) && (!want_x || gx) && (!want_w || gw) &&
             (!want_b || gb);
    for (int64_t n0 = 0; ok && n0 < g->N; n0 += nc) {
        int64_t m = g->N - n0 < nc ? g->N - n0 : nc;
        float *GYT = lab_op_f32(gyt), *COL = col ? lab_op_f32(col) : NULL;
        float beta = n0 == 0 ? 0.0f : 1.0f;
        /* gyt[o, n, p] = gy[n0 + n, o, p] */
        int64_t shape[3] = {g->O, m, P}, dt[3] = {m * P, P, 1}, sg[3] = {P, g->O * P, 1};
        be->strided_copy(3, shape, sizeof(float), GYT, dt, lab_op_f32(gy) + n0 * g->O * P, sg);
        if (want_w) { /* dW [O, CKK] += gyt [O, mP] colsᵀ */
            be->im2col_batched(lab_op_f32(x) + n0 * CHW, m, g->C, g->H, g->W, g->kh, g->kw, g->stride, g->pad,
                               g->OH, g->OW, COL);
            be->gemm(0, 1, g->O, CKK, m * P, 1.0f, GYT, m * P, COL, m * P, beta, lab_op_f32(gw), CKK);
        }
        if (want_b) be->gemm(0, 0, g->O, 1, m * P, 1.0f, GYT, m * P, lab_op_f32(ones), 1, beta, lab_op_f32(gb), 1);
        if (want_x) { /* dcols = Wᵀ gyt, scattered into dx */
            be->gemm(1, 0, CKK, m * P, g->O, 1.0f, lab_op_f32(w), CKK, GYT, m * P, 0.0f, COL, m * P);
            be->col2im_batched(COL, m, g->C, g->H, g->W, g->kh, g->kw, g->stride, g->pad, g->OH, g->OW,
                               lab_op_f32(gx) + n0 * CHW);
        }
    }
    lab_scope_end();
    if (!ok) { /* error set; the gradients are lost, as with any failed op */
        lab_tensor_release(lab_tensor_own(gx));
        lab_tensor_release(lab_tensor_own(gw));
        lab_tensor_release(lab_tensor_own(gb));
        return;
    }
    if (gx) lab_node_accumulate(node, 0, gx);
    if (gw) lab_node_accumulate(node, 1, gw);
    if (gb) lab_node_accumulate(node, 2, gb);
}

static void conv2d_backward(lab_node *node, lab_tensor *gy)
{
    lab_tensor *x = node->inputs[0], *w = node->inputs[1], *b = node->inputs[2];
    const lab_backend *be = lab_tensor_backend(gy);
    conv_geom g;
    if (conv_check(x, w, b, (int)node->iparam[0], (int)node->iparam[1], &g) < 0) return;
    int64_t P = g.OH * g.OW, CKK = g.C * g.kh * g.kw;
    int want_x = lab_node_needs_grad(node, 0), want_w = lab_node_needs_grad(node, 1),
        want_b = b && lab_node_needs_grad(node, 2);
    if (use_batched(be, x)) {
        conv_backward_batched(node, gy, &g, want_x, want_w, want_b);
        return;
    }
    int T = conv_threads(x, g.N);
    lab_device dev = x->device;
    /* col2im accumulates, so dx starts at zero; the 1x1 path writes it whole. */
    lab_tensor *gx = !want_x ? NULL
                     : g.direct ? lab_tensor_empty(LAB_F32, 4, x->shape, dev)
                                : lab_tensor_zeros(LAB_F32, 4, x->shape, dev);
    int64_t cs[2] = {T, g.direct ? 1 : CKK * P};
    int64_t ws[2] = {T, g.O * CKK}, bs[2] = {T, g.O};
    lab_tensor *col = (want_w || (want_x && !g.direct)) ? lab_tensor_empty(LAB_F32, 2, cs, dev) : NULL;
    lab_tensor *pw = want_w ? lab_tensor_empty(LAB_F32, 2, ws, dev) : NULL;
    lab_tensor *pb = want_b ? lab_tensor_empty(LAB_F32, 2, bs, dev) : NULL;
    lab_tensor *ones = want_b || T > 1 ? lab_tensor_full(LAB_F32, 1, &(int64_t){P > T ? P : T}, 1.0, dev) : NULL;
    if ((want_x && !gx) || ((want_w || (want_x && !g.direct)) && !col) || (want_w && !pw) ||
        (want_b && !pb) || ((want_b || T > 1) && !ones))
        return;
    if (pw && g.N == 0) be->fill(lab_op_f32(pw), LAB_F32, pw->numel, 0.0);
    if (pb && g.N == 0) be->fill(lab_op_f32(pb), LAB_F32, pb->numel, 0.0);
    const float *X = lab_op_f32(x), *Wt = lab_op_f32(w), *G = lab_op_f32(gy), *ONES = ones ? lab_op_f32(ones) : NULL;
    float *GX = gx ? lab_op_f32(gx) : NULL, *COL = col ? lab_op_f32(col) : NULL;
    float *PW = pw ? lab_op_f32(pw) : NULL, *PB = pb ? lab_op_f32(pb) : NULL;
    int used = 1;
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int tid = omp_get_thread_num(), nth = omp_get_num_threads();
        if (tid == 0) used = nth;
        int64_t lo, hi;
        range_of(g.N, tid, nth, &lo, &hi);
        float *colt = COL ? COL + (size_t)tid * (size_t)cs[1] : NULL;
        float *pwt = PW ? PW + (size_t)tid * (size_t)ws[1] : NULL;
        float *pbt = PB ? PB + (size_t)tid * (size_t)g.O : NULL;
        if (lo == hi) { /* no images for this thread: its partials are zero */
            if (pwt) be->fill(pwt, LAB_F32, ws[1], 0.0);
            if (pbt) be->fill(pbt, LAB_F32, g.O, 0.0);
        }
        for (int64_t n = lo; n < hi; n++) {
            const float *xn = X + n * g.C * g.H * g.W, *gn = G + n * g.O * P;
            float beta = n == lo ? 0.0f : 1.0f;
            if (pwt) { /* dW [O, CKK] += gy[n] [O, P] colsᵀ */
                const float *cn = image_cols(be, &g, xn, colt);
                be->gemm(0, 1, g.O, CKK, P, 1.0f, gn, P, cn, P, beta, pwt, CKK);
            }
            if (pbt) be->gemm(0, 0, g.O, 1, P, 1.0f, gn, P, ONES, 1, beta, pbt, 1);
            if (GX) { /* dcols = Wᵀ gy[n], scattered into dx[n] */
                float *gxn = GX + n * g.C * g.H * g.W;
                if (g.direct) {
                    be->gemm(1, 0, CKK, P, g.O, 1.0f, Wt, CKK, gn, P, 0.0f, gxn, P);
                } else {
                    be->gemm(1, 0, CKK, P, g.O, 1.0f, Wt, CKK, gn, P, 0.0f, colt, P);
                    be->col2im(colt, g.C, g.H, g.W, g.kh, g.kw, g.stride, g.pad, g.OH, g.OW, gxn);
                }
            }
        }
    }
    if (gx) lab_node_accumulate(node, 0, gx);
    if (pw) { /* sum of the per-thread partials */
        lab_tensor *gw = lab_tensor_empty(LAB_F32, 4, w->shape, dev);
        if (!gw) return;
        if (used == 1)
            be->copy_d2d(dev.index, lab_op_f32(gw), PW, (size_t)ws[1] * sizeof(float));
        else
            be->gemm(0, 0, 1, ws[1], used, 1.0f, ONES, used, PW, ws[1], 0.0f, lab_op_f32(gw), ws[1]);
        lab_node_accumulate(node, 1, gw);
    }
    if (pb) {
        lab_tensor *gb = lab_tensor_empty(LAB_F32, 1, &g.O, dev);
        if (!gb) return;
        if (used == 1)
            be->copy_d2d(dev.index, lab_op_f32(gb), PB, (size_t)g.O * sizeof(float));
        else
            be->gemm(0, 0, 1, g.O, used, 1.0f, ONES, used, PB, g.O, 0.0f, lab_op_f32(gb), g.O);
        lab_node_accumulate(node, 2, gb);
    }
}

static lab_tensor *conv_record(lab_tensor *x, lab_tensor *w, lab_tensor *b, lab_tensor *y, int stride, int pad)
{
    lab_tensor *in[3] = {x, w, b};
    lab_node *n = lab_autograd_record(y, "conv2d", conv2d_backward, 3, in);
    if (n) {
        n->iparam[0] = stride;
        n->iparam[1] = pad;
    }
    return y;
}

lab_tensor *lab_conv2d(lab_tensor *x, lab_tensor *w, lab_tensor *b, int stride, int pad)
{
    if (!x || !w) return NULL;
    conv_geom g;
    if (conv_check(x, w, b, stride, pad, &g) < 0) return NULL;
    const lab_backend *be = lab_op_backend("conv2d", x, LAB_SLOT(im2col));
    if (!be || !lab_op_backend("conv2d", x, LAB_SLOT(col2im)) || !lab_op_backend("conv2d", x, LAB_SLOT(gemm)))
        return NULL;
    int64_t P = g.OH * g.OW, CKK = g.C * g.kh * g.kw;
    int64_t shape[4] = {g.N, g.O, g.OH, g.OW};
    lab_tensor *y = lab_tensor_empty(LAB_F32, 4, shape, x->device);
    if (!y) return NULL;
    if (use_batched(be, x)) {
        if (conv_forward_batched(be, &g, x, w, b, y) < 0) {
            lab_tensor_own(y);
            lab_tensor_release(y);
            return NULL;
        }
        return conv_record(x, w, b, y, stride, pad);
    }
    int T = conv_threads(x, g.N);
    lab_scope_begin();
    int64_t cs[2] = {T, CKK * P};
    lab_tensor *col = g.direct ? NULL : lab_tensor_empty(LAB_F32, 2, cs, x->device);
    lab_tensor *ones = b ? lab_tensor_full(LAB_F32, 1, &P, 1.0, x->device) : NULL;
    int ok = (g.direct || col) && (!b || ones);
    if (ok) {
        const float *X = lab_op_f32(x), *Wt = lab_op_f32(w), *B = b ? lab_op_f32(b) : NULL;
        const float *ONES = ones ? lab_op_f32(ones) : NULL;
        float *Y = lab_op_f32(y), *COL = col ? lab_op_f32(col) : NULL;
#pragma omp parallel num_threads(T) if (T > 1)
        {
            int tid = omp_get_thread_num(), nth = omp_get_num_threads();
            int64_t lo, hi;
            range_of(g.N, tid, nth, &lo, &hi);
            float *colt = COL ? COL + (size_t)tid * (size_t)cs[1] : NULL;
            for (int64_t n = lo; n < hi; n++) {
                const float *cn = image_cols(be, &g, X + n * g.C * g.H * g.W, colt);
                float *yn = Y + n * g.O * P;
                /* y[n] = b 1ᵀ + W cols: the bias as a rank-1 product first. */
                if (B) be->gemm(0, 0, g.O, P, 1, 1.0f, B, 1, ONES, P, 0.0f, yn, P);
                be->gemm(0, 0, g.O, P, CKK, 1.0f, Wt, CKK, cn, P, B ? 1.0f : 0.0f, yn, P);
            }
        }
    }
    lab_scope_end();
    if (!ok) {
        lab_tensor_own(y);
        lab_tensor_release(y);
        return NULL;
    }
    return conv_record(x, w, b, y, stride, pad);
}

/* --- pooling ------------------------------------------------------------------- */

static int pool_check(const char *op, lab_tensor *x, int k, int stride, int pad, int64_t *OH, int64_t *OW)
{
    if (lab_op_check_f32(op, "x", x) < 0) return -1;
    char sx[96];
    lab_tensor_shape_str(x, sx, sizeof sx);
    if (x->ndim != 4) return lab_error_set("%s: x must be [N, C, H, W], got %s", op, sx);
    if (k < 1 || stride < 1 || pad < 0)
        return lab_error_set("%s: kernel %d, stride %d, pad %d (need k >= 1, stride >= 1, pad >= 0)", op, k,
                             stride, pad);
    /* As PyTorch: a window must always see at least one real element. */
    if (pad > k / 2) return lab_error_set("%s: pad %d is more than half the kernel %d", op, pad, k);
    int64_t eh = x->shape[2] + 2 * (int64_t)pad - k, ew = x->shape[3] + 2 * (int64_t)pad - k;
    if (eh < 0 || ew < 0)
        return lab_error_set("%s: kernel %d is larger than the padded input %s (pad %d)", op, k, sx, pad);
    *OH = eh / stride + 1;
    *OW = ew / stride + 1;
    return 0;
}

static void maxpool_backward(lab_node *node, lab_tensor *gy)
{
    lab_tensor *x = node->inputs[0], *idx = node->saved[0];
    const lab_backend *be = lab_tensor_backend(gy);
    lab_tensor *gx = lab_tensor_zeros(LAB_F32, 4, x->shape, x->device);
    if (!gx) return;
    be->maxpool2d_backward(x->shape[0] * x->shape[1], x->shape[2], x->shape[3], gy->shape[2], gy->shape[3],
                           lab_op_f32(gx), lab_op_f32(gy), lab_op_i64(idx));
    lab_node_accumulate(node, 0, gx);
}

lab_tensor *lab_max_pool2d(lab_tensor *x, int k, int stride, int pad)
{
    if (!x) return NULL;
    int64_t OH, OW;
    if (pool_check("max_pool2d", x, k, stride, pad, &OH, &OW) < 0) return NULL;
    const lab_backend *be = lab_op_backend("max_pool2d", x, LAB_SLOT(maxpool2d));
    if (!be || !lab_op_backend("max_pool2d", x, LAB_SLOT(maxpool2d_backward))) return NULL;
    int64_t shape[4] = {x->shape[0], x->shape[1], OH, OW};
    lab_tensor *y = lab_tensor_empty(LAB_F32, 4, shape, x->device);
    lab_scope_begin();
    lab_tensor *idx = y ? lab_tensor_empty(LAB_I64, 4, shape, x->device) : NULL;
    if (idx) {
        be->maxpool2d(x->shape[0] * x->shape[1], x->shape[2], x->shape[3], k, stride, pad, OH, OW,
                      lab_op_f32(y), lab_op_i64(idx), lab_op_f32(x));
        lab_node *n = lab_autograd_record(y, "max_pool2d", maxpool_backward, 1, &x);
        if (n) lab_node_save(n, 0, idx);
    }
    lab_scope_end();
    if (y && !idx) {
        lab_tensor_own(y);
        lab_tensor_release(y);
        return NULL;
    }
    return y;
}

static void avgpool_backward(lab_node *node, lab_tensor *gy)
{
    lab_tensor *x = node->inputs[0];
    const lab_backend *be = lab_tensor_backend(gy);
    lab_tensor *gx = lab_tensor_zeros(LAB_F32, 4, x->shape, x->device);
    if (!gx) return;
    be->avgpool2d_backward(x->shape[0] * x->shape[1], x->shape[2], x->shape[3], (int)node->iparam[0],
                           (int)node->iparam[1], (int)node->iparam[2], gy->shape[2], gy->shape[3],
                           lab_op_f32(gx), lab_op_f32(gy));
    lab_node_accumulate(node, 0, gx);
}

lab_tensor *lab_avg_pool2d(lab_tensor *x, int k, int stride, int pad)
{
    if (!x) return NULL;
    int64_t OH, OW;
    if (pool_check("avg_pool2d", x, k, stride, pad, &OH, &OW) < 0) return NULL;
    const lab_backend *be = lab_op_backend("avg_pool2d", x, LAB_SLOT(avgpool2d));
    if (!be || !lab_op_backend("avg_pool2d", x, LAB_SLOT(avgpool2d_backward))) return NULL;
    int64_t shape[4] = {x->shape[0], x->shape[1], OH, OW};
    lab_tensor *y = lab_tensor_empty(LAB_F32, 4, shape, x->device);
    if (!y) return NULL;
    be->avgpool2d(x->shape[0] * x->shape[1], x->shape[2], x->shape[3], k, stride, pad, OH, OW, lab_op_f32(y),
                  lab_op_f32(x));
    lab_node *n = lab_autograd_record(y, "avg_pool2d", avgpool_backward, 1, &x);
    if (n) {
        n->iparam[0] = k;
        n->iparam[1] = stride;
        n->iparam[2] = pad;
    }
    return y;
}

static void gap_backward(lab_node *node, lab_tensor *gy)
{
    lab_tensor *x = node->inputs[0];
    const lab_backend *be = lab_tensor_backend(gy);
    int64_t NC = x->shape[0] * x->shape[1], HW = x->shape[2] * x->shape[3];
    lab_tensor *gx = lab_tensor_empty(LAB_F32, 4, x->shape, x->device);
    lab_tensor *ones = lab_tensor_full(LAB_F32, 1, &HW, 1.0, x->device);
    if (!gx || !ones) return;
    /* gx [NC, HW] = gy [NC, 1] 1ᵀ / HW */
    be->gemm(0, 0, NC, HW, 1, 1.0f / (float)HW, lab_op_f32(gy), 1, lab_op_f32(ones), HW, 0.0f, lab_op_f32(gx), HW);
    lab_node_accumulate(node, 0, gx);
}

lab_tensor *lab_global_avg_pool2d(lab_tensor *x)
{
    if (!x) return NULL;
    const char *op = "global_avg_pool2d";
    if (lab_op_check_f32(op, "x", x) < 0) return NULL;
    char sx[96];
    if (x->ndim != 4) {
        lab_error_set("%s: x must be [N, C, H, W], got %s", op, lab_tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    int64_t NC = x->shape[0] * x->shape[1], HW = x->shape[2] * x->shape[3];
    if (HW == 0) {
        lab_error_set("%s: x %s has no pixels to average", op, lab_tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    const lab_backend *be = lab_op_backend(op, x, LAB_SLOT(gemm));
    if (!be) return NULL;
    int64_t shape[2] = {x->shape[0], x->shape[1]};
    lab_tensor *y = lab_tensor_empty(LAB_F32, 2, shape, x->device);
    if (!y) return NULL;
    lab_scope_begin();
    lab_tensor *ones = lab_tensor_full(LAB_F32, 1, &HW, 1.0, x->device);
    /* y [NC, 1] = x [NC, HW] 1 / HW */
    if (ones)
        be->gemm(0, 0, NC, 1, HW, 1.0f / (float)HW, lab_op_f32(x), HW, lab_op_f32(ones), 1, 0.0f, lab_op_f32(y), 1);
    lab_scope_end();
    if (!ones) {
        lab_tensor_own(y);
        lab_tensor_release(y);
        return NULL;
    }
    lab_autograd_record(y, op, gap_backward, 1, &x);
    return y;
}
