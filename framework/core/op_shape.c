/* Shape ops: reshape/flatten (views), transpose/permute, concat, slice,
 * expand and sum_to (the adjoint of broadcasting), with backward.
 *
 * Tensors are contiguous, so only what keeps the element order can be a
 * view: reshape, flatten, a slice whose leading dims are all 1 (in
 * particular dim 0), a permutation that only moves size-1 dims, and sum_to
 * when nothing is summed. Everything else copies through the backend's
 * strided_copy. These work for every dtype except sum_to (f32, it adds). */
#include <stdio.h>
#include <string.h>

#include "ops_int.h"

static lab_tensor *discard(lab_tensor *t)
{
    lab_tensor_own(t);
    lab_tensor_release(t);
    return NULL;
}

static int64_t prod(int n, const int64_t *v)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++) p *= v[i];
    return p;
}

static const char *shape_str(int ndim, const int64_t *shape, char *buf, size_t len)
{
    size_t p = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < ndim && p < len; i++)
        p += (size_t)snprintf(buf + p, len - p, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (p < len) snprintf(buf + p, len - p, "]");
    return buf;
}

/* --- reshape, flatten ----------------------------------------------------- */

static void reshape_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0];
    lab_node_accumulate(node, 0, lab_reshape(g, x->ndim, x->shape));
}

/* A view of a with a new shape of the same numel (checked by the caller). */
static lab_tensor *view_as(const char *op, lab_tensor *a, int ndim, const int64_t *shape)
{
    lab_tensor *y = lab_tensor_view_of(a->storage, a->offset, a->dtype, ndim, shape, a->device);
    if (y) lab_autograd_record(y, op, reshape_backward, 1, &a);
    return y;
}

lab_tensor *lab_reshape(lab_tensor *a, int ndim, const int64_t *shape)
{
    if (!a) return NULL;
    char d[96], s[96];
    if (ndim < 0 || ndim > LAB_MAX_DIMS || (ndim > 0 && !shape)) {
        lab_error_set("reshape: %d dims requested for %s (0..%d are supported)", ndim,
                      lab_tensor_desc(a, d, sizeof d), LAB_MAX_DIMS);
        return NULL;
    }
    int64_t out[LAB_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        out[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
        } else if (shape[i] < 0) {
            lab_error_set("reshape: bad shape %s for %s (sizes must be >= 0, one may be -1)",
                          shape_str(ndim, shape, s, sizeof s), lab_tensor_desc(a, d, sizeof d));
            return NULL;
        } else {
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || a->numel % known != 0) {
            lab_error_set("reshape: cannot infer the -1 in %s for %s (%lld elements)",
                          shape_str(ndim, shape, s, sizeof s), lab_tensor_desc(a, d, sizeof d),
                          (long long)a->numel);
            return NULL;
        }
        out[infer] = a->numel / known;
        known = a->numel;
    }
    if (known != a->numel) {
        lab_error_set("reshape: cannot view %s (%lld elements) as %s", lab_tensor_desc(a, d, sizeof d),
                      (long long)a->numel, shape_str(ndim, out, s, sizeof s));
        return NULL;
    }
    return view_as("reshape", a, ndim, out);
}

lab_tensor *lab_flatten(lab_tensor *a, int start, int end)
{
    if (!a) return NULL;
    if (a->ndim == 0) {
        int64_t one = 1;
        if ((start != 0 && start != -1) || (end != 0 && end != -1)) {
            lab_error_set("flatten: dims [%d, %d] are out of range for a scalar", start, end);
            return NULL;
        }
        return lab_reshape(a, 1, &one);
    }
    int s = lab_op_dim("flatten", a, start), e = lab_op_dim("flatten", a, end);
    if (s < 0 || e < 0) return NULL;
    if (s > e) {
        char d[96];
        lab_error_set("flatten: start dim %d comes after end dim %d for %s", start, end,
                      lab_tensor_desc(a, d, sizeof d));
        return NULL;
    }
    int64_t out[LAB_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < s; i++) out[n++] = a->shape[i];
    out[n++] = prod(e - s + 1, a->shape + s);
    for (int i = e + 1; i < a->ndim; i++) out[n++] = a->shape[i];
    return lab_reshape(a, n, out);
}

/* --- permute, transpose ---------------------------------------------------- */

static void permute_backward(lab_node *node, lab_tensor *g)
{
    int inv[LAB_MAX_DIMS];
    for (int i = 0; i < g->ndim; i++) inv[node->iparam[i]] = i;
    lab_node_accumulate(node, 0, lab_permute(g, inv));
}

lab_tensor *lab_permute(lab_tensor *a, const int *perm)
{
    if (!a) return NULL;
    char d[96];
    int nd = a->ndim, p[LAB_MAX_DIMS], seen[LAB_MAX_DIMS] = {0};
    if (nd > 0 && !perm) {
        lab_error_set("permute: no permutation given for %s", lab_tensor_desc(a, d, sizeof d));
        return NULL;
    }
    for (int i = 0; i < nd; i++) {
        int k = perm[i] < 0 ? perm[i] + nd : perm[i];
        if (k < 0 || k >= nd || seen[k]) {
            char s[96];
            size_t q = (size_t)snprintf(s, sizeof s, "(");
            for (int j = 0; j < nd && q < sizeof s; j++)
                q += (size_t)snprintf(s + q, sizeof s - q, "%s%d", j ? ", " : "", perm[j]);
            if (q < sizeof s) snprintf(s + q, sizeof s - q, ")");
            lab_error_set("permute: %s is not a permutation of the dims of %s", s,
                          lab_tensor_desc(a, d, sizeof d));
            return NULL;
        }
        seen[k] = 1;
        p[i] = k;
    }
    int64_t shape[LAB_MAX_DIMS], own[LAB_MAX_DIMS], ss[LAB_MAX_DIMS], ds[LAB_MAX_DIMS];
    for (int i = 0; i < nd; i++) shape[i] = a->shape[p[i]];
    /* When the dims larger than 1 keep their order, the bytes do not move. */
    int last = -1, inorder = 1;
    for (int i = 0; i < nd; i++) {
        if (a->shape[p[i]] == 1) continue;
        if (p[i] < last) inorder = 0;
        last = p[i];
    }
    if (inorder) return view_as("permute", a, nd, shape);
    const lab_backend *be = lab_op_backend("permute", a, LAB_SLOT(strided_copy));
    if (!be) return NULL;
    lab_tensor *y = lab_tensor_empty(a->dtype, nd, shape, a->device);
    if (!y) return NULL;
    lab_op_contig_strides(nd, a->shape, own);
    for (int i = 0; i < nd; i++) ss[i] = own[p[i]];
    lab_op_contig_strides(nd, shape, ds);
    be->strided_copy(nd, shape, lab_dtype_size(a->dtype), lab_tensor_raw(y), ds, lab_tensor_raw(a), ss);
    lab_node *n = lab_autograd_record(y, "permute", permute_backward, 1, &a);
    if (n)
        for (int i = 0; i < nd; i++) n->iparam[i] = p[i];
    return y;
}

lab_tensor *lab_transpose(lab_tensor *a, int d0, int d1)
{
    if (!a) return NULL;
    int x = lab_op_dim("transpose", a, d0), y = lab_op_dim("transpose", a, d1);
    if (x < 0 || y < 0) return NULL;
    int p[LAB_MAX_DIMS];
    for (int i = 0; i < a->ndim; i++) p[i] = i;
    p[x] = y;
    p[y] = x;
    return lab_permute(a, p);
}

/* --- concat ---------------------------------------------------------------- */

static void concat_backward(lab_node *node, lab_tensor *g)
{
    int dim = (int)node->iparam[0];
    int64_t off = 0;
    for (int i = 0; i < node->ninputs; i++) {
        int64_t len = node->inputs[i]->shape[dim];
        if (lab_node_needs_grad(node, i)) lab_node_accumulate(node, i, lab_slice(g, dim, off, off + len));
        off += len;
    }
}

lab_tensor *lab_concat(int n, lab_tensor *const *ts, int dim)
{
    if (n <= 0 || !ts) {
        lab_error_set("concat: no tensors given (n = %d)", n);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!ts[i]) return NULL;
    const lab_tensor *t0 = ts[0];
    int d = lab_op_dim("concat", t0, dim);
    if (d < 0) return NULL;
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const lab_tensor *t = ts[i];
        int ok = t->dtype == t0->dtype && t->ndim == t0->ndim && lab_device_eq(t->device, t0->device);
        for (int k = 0; ok && k < t->ndim; k++)
            if (k != d && t->shape[k] != t0->shape[k]) ok = 0;
        if (!ok) {
            char a[96], b[96], da[32], db[32];
            lab_error_set("concat: tensor %d is %s on %s but tensor 0 is %s on %s (they may differ only "
                          "in dim %d)", i, lab_tensor_desc(t, a, sizeof a), lab_device_str(t->device, da, sizeof da),
                          lab_tensor_desc(t0, b, sizeof b), lab_device_str(t0->device, db, sizeof db), d);
            return NULL;
        }
        total += t->shape[d];
    }
    const lab_backend *be = lab_op_backend("concat", t0, LAB_SLOT(strided_copy));
    if (!be) return NULL;
    int64_t shape[LAB_MAX_DIMS];
    memcpy(shape, t0->shape, sizeof shape);
    shape[d] = total;
    lab_tensor *y = lab_tensor_empty(t0->dtype, t0->ndim, shape, t0->device);
    if (!y) return NULL;
    size_t elem = lab_dtype_size(t0->dtype);
    int64_t outer = prod(d, t0->shape), inner = prod(t0->ndim - d - 1, t0->shape + d + 1), off = 0;
    for (int i = 0; i < n; i++) {
        int64_t len = ts[i]->shape[d];
        int64_t cs[2] = {outer, len * inner}, dst_st[2] = {total * inner, 1}, src_st[2] = {len * inner, 1};
        be->strided_copy(2, cs, elem, (char *)lab_tensor_raw(y) + (size_t)(off * inner) * elem, dst_st,
                         lab_tensor_raw(ts[i]), src_st);
        off += len;
    }
    lab_node *node = lab_autograd_record(y, "concat", concat_backward, n, ts);
    if (node) node->iparam[0] = d;
    return y;
}

/* --- slice ------------------------------------------------------------------- */

static void slice_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0];
    int dim = (int)node->iparam[0];
    int64_t start = node->iparam[1];
    const lab_backend *be = lab_op_backend("slice", g, LAB_SLOT(strided_copy));
    if (!be) return;
    lab_tensor *gx = lab_tensor_zeros_like(x);
    if (!gx) return;
    int64_t outer = prod(dim, x->shape), inner = prod(x->ndim - dim - 1, x->shape + dim + 1);
    int64_t len = g->shape[dim], n = x->shape[dim];
    int64_t cs[2] = {outer, len * inner}, dst_st[2] = {n * inner, 1}, src_st[2] = {len * inner, 1};
    be->strided_copy(2, cs, sizeof(float), lab_op_f32(gx) + start * inner, dst_st, lab_op_f32(g), src_st);
    lab_node_accumulate(node, 0, gx);
}

lab_tensor *lab_slice(lab_tensor *a, int dim, int64_t start, int64_t end)
{
    if (!a) return NULL;
    int d = lab_op_dim("slice", a, dim);
    if (d < 0) return NULL;
    int64_t n = a->shape[d], s = start < 0 ? start + n : start, e = end < 0 ? end + n : end;
    if (s < 0 || e > n || s > e) {
        char b[96];
        lab_error_set("slice: [%lld, %lld) is out of range for dim %d of %s", (long long)start,
                      (long long)end, d, lab_tensor_desc(a, b, sizeof b));
        return NULL;
    }
    int64_t shape[LAB_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[d] = e - s;
    int64_t outer = prod(d, a->shape), inner = prod(a->ndim - d - 1, a->shape + d + 1);
    size_t elem = lab_dtype_size(a->dtype);
    lab_tensor *y;
    if (outer == 1 || (s == 0 && e == n)) {
        /* One contiguous block of the storage: a view. */
        y = lab_tensor_view_of(a->storage, a->offset + (size_t)(s * inner) * elem, a->dtype, a->ndim, shape,
                               a->device);
        if (!y) return NULL;
    } else {
        const lab_backend *be = lab_op_backend("slice", a, LAB_SLOT(strided_copy));
        if (!be) return NULL;
        y = lab_tensor_empty(a->dtype, a->ndim, shape, a->device);
        if (!y) return NULL;
        int64_t cs[2] = {outer, (e - s) * inner}, dst_st[2] = {(e - s) * inner, 1}, src_st[2] = {n * inner, 1};
        be->strided_copy(2, cs, elem, lab_tensor_raw(y), dst_st, (char *)lab_tensor_raw(a) + (size_t)(s * inner) * elem,
                         src_st);
    }
    lab_node *node = lab_autograd_record(y, "slice", slice_backward, 1, &a);
    if (node) {
        node->iparam[0] = d;
        node->iparam[1] = s;
    }
    return y;
}

/* --- expand, sum_to ---------------------------------------------------------- */

static void expand_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0];
    lab_node_accumulate(node, 0, lab_sum_to(g, x->ndim, x->shape));
}

lab_tensor *lab_expand(lab_tensor *a, int ndim, const int64_t *shape)
{
    if (!a) return NULL;
    char d[96], s[96];
    if (ndim < a->ndim || ndim > LAB_MAX_DIMS || (ndim > 0 && !shape)) {
        lab_error_set("expand: cannot broadcast %s to %d dims", lab_tensor_desc(a, d, sizeof d), ndim);
        return NULL;
    }
    int64_t out[LAB_MAX_DIMS];
    for (int i = 0; i < ndim; i++) {
        int j = i - (ndim - a->ndim);
        int64_t have = j >= 0 ? a->shape[j] : 1, want = shape[i];
        if (want == -1 && j >= 0) want = have;
        if (want < 0 || (have != 1 && have != want)) {
            lab_error_set("expand: cannot broadcast %s to %s", lab_tensor_desc(a, d, sizeof d),
                          shape_str(ndim, shape, s, sizeof s));
            return NULL;
        }
        out[i] = want;
    }
    const lab_backend *be = lab_op_backend("expand", a, LAB_SLOT(strided_copy));
    if (!be) return NULL;
    lab_tensor *y = lab_tensor_empty(a->dtype, ndim, out, a->device);
    if (!y) return NULL;
    int64_t ds[LAB_MAX_DIMS], ss[LAB_MAX_DIMS];
    lab_op_contig_strides(ndim, out, ds);
    lab_op_broadcast_strides(a, ndim, out, ss);
    be->strided_copy(ndim, out, lab_dtype_size(a->dtype), lab_tensor_raw(y), ds, lab_tensor_raw(a), ss);
    lab_autograd_record(y, "expand", expand_backward, 1, &a);
    return y;
}

static void sum_to_backward(lab_node *node, lab_tensor *g)
{
    lab_tensor *x = node->inputs[0];
    lab_node_accumulate(node, 0, lab_expand(g, x->ndim, x->shape));
}

lab_tensor *lab_sum_to(lab_tensor *g, int ndim, const int64_t *shape)
{
    if (!g) return NULL;
    char d[96], s[96];
    if (lab_op_check_f32("sum_to", "input", g) < 0) return NULL;
    int ok = ndim >= 0 && ndim <= g->ndim && (ndim == 0 || shape);
    int64_t t[LAB_MAX_DIMS]; /* target aligned to g's dims */
    int lead = g->ndim - ndim;
    for (int i = 0; ok && i < g->ndim; i++) {
        t[i] = i < lead ? 1 : shape[i - lead];
        if (i >= lead && t[i] != g->shape[i] && t[i] != 1) ok = 0;
    }
    if (!ok) {
        lab_error_set("sum_to: cannot sum %s down to %s (not broadcast-compatible)",
                      lab_tensor_desc(g, d, sizeof d), shape_str(ndim > 0 && shape ? ndim : 0, shape, s, sizeof s));
        return NULL;
    }
    if (prod(g->ndim, t) == g->numel) return lab_reshape(g, ndim, shape); /* nothing to add up */
    const lab_backend *be = lab_op_backend("sum_to", g, LAB_SLOT(reduce));
    if (!be) return NULL;
    /* Merge runs of summed (R) and kept (K) dims, skipping size-1 dims, so
     * the work is a few [outer, n, inner] reductions: usually one. */
    int64_t size[LAB_MAX_DIMS];
    int red[LAB_MAX_DIMS], ng = 0;
    for (int i = 0; i < g->ndim; i++) {
        if (g->shape[i] == 1) continue;
        int r = t[i] == 1;
        if (ng > 0 && red[ng - 1] == r) {
            size[ng - 1] *= g->shape[i];
        } else {
            size[ng] = g->shape[i];
            red[ng++] = r;
        }
    }
    lab_tensor *y = lab_tensor_empty(LAB_F32, ndim, shape, g->device);
    if (!y) return NULL;
    int nred = 0;
    for (int k = 0; k < ng; k++) nred += red[k];
    lab_scope_begin();
    const float *src = lab_op_f32(g);
    int done = 0, failed = 0;
    for (int k = ng - 1; k >= 0; k--) {
        if (!red[k]) continue;
        int64_t outer = prod(k, size), inner = prod(ng - k - 1, size + k + 1);
        float *dst;
        if (++done == nred) {
            dst = lab_op_f32(y);
        } else {
            int64_t m = outer * inner;
            lab_tensor *tmp = lab_tensor_empty(LAB_F32, 1, &m, g->device);
            if (!tmp) {
                failed = 1;
                break;
            }
            dst = lab_op_f32(tmp);
        }
        be->reduce(LAB_RED_SUM, outer, size[k], inner, dst, NULL, src);
        src = dst;
        size[k] = 1;
    }
    lab_scope_end();
    if (failed) return discard(y);
    lab_autograd_record(y, "sum_to", sum_to_backward, 1, &g);
    return y;
}
