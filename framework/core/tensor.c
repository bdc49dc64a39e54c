/* Tensors, storage, scopes and memory accounting. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab.h"
#include "tensor_int.h"

size_t lab_dtype_size(lab_dtype dt)
{
    switch (dt) {
    case LAB_F32: return 4;
    case LAB_I32: return 4;
    case LAB_I64: return 8;
    }
    return 0;
}

const char *lab_dtype_name(lab_dtype dt)
{
    switch (dt) {
    case LAB_F32: return "f32";
    case LAB_I32: return "i32";
    case LAB_I64: return "i64";
    }
    return "?";
}

const char *lab_device_str(lab_device d, char *buf, size_t len)
{
    if (d.type == LAB_DEV_CPU)
        snprintf(buf, len, "cpu");
    else
        snprintf(buf, len, "cuda:%d", d.index);
    return buf;
}

int lab_device_parse(const char *s, lab_device *out)
{
    if (!s) return lab_error_set("device: missing value");
    if (strcmp(s, "cpu") == 0) {
        *out = LAB_CPU;
        return 0;
    }
    if (strcmp(s, "cuda") == 0) {
        out->type = LAB_DEV_CUDA;
        out->index = 0;
        return 0;
    }
    if (strncmp(s, "cuda:", 5) == 0) {
        char *end;
        long i = strtol(s + 5, &end, 10);
        if (*end == '\0' && end != s + 5 && i >= 0 && i < 64) {
            out->type = LAB_DEV_CUDA;
            out->index = (int)i;
            return 0;
        }
    }
    return lab_error_set("device: '%s' is not a device (expected cpu, cuda or cuda:N)", s);
}

int lab_device_eq(lab_device a, lab_device b) { return a.type == b.type && a.index == b.index; }

/* --- memory accounting ---------------------------------------------------- */

#define LAB_MAX_CUDA 16
static long long mem_cur[1 + LAB_MAX_CUDA], mem_peak[1 + LAB_MAX_CUDA];

static int mem_slot(lab_device d)
{
    if (d.type == LAB_DEV_CPU) return 0;
    return 1 + (d.index < LAB_MAX_CUDA ? d.index : LAB_MAX_CUDA - 1);
}

void lab_mem_account(lab_device dev, long long delta)
{
    int s = mem_slot(dev);
    long long now = __atomic_add_fetch(&mem_cur[s], delta, __ATOMIC_RELAXED);
    long long peak = __atomic_load_n(&mem_peak[s], __ATOMIC_RELAXED);
    while (now > peak &&
           !__atomic_compare_exchange_n(&mem_peak[s], &peak, now, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

void lab_memory_stats(lab_device dev, size_t *current, size_t *peak)
{
    int s = mem_slot(dev);
    if (current) *current = (size_t)__atomic_load_n(&mem_cur[s], __ATOMIC_RELAXED);
    if (peak) *peak = (size_t)__atomic_load_n(&mem_peak[s], __ATOMIC_RELAXED);
}

void lab_memory_reset_peak(lab_device dev)
{
    int s = mem_slot(dev);
    __atomic_store_n(&mem_peak[s], __atomic_load_n(&mem_cur[s], __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

/* --- scopes ---------------------------------------------------------------- */

typedef struct {
    lab_tensor **items;
    int n, cap;
} scope_frame;

#define LAB_MAX_SCOPES 64
static _Thread_local scope_frame scopes[LAB_MAX_SCOPES];
static _Thread_local int scope_depth;

void lab_scope_begin(void)
{
    if (scope_depth >= LAB_MAX_SCOPES) {
        /* A runaway nesting is a bug in the caller's loop structure. */
        fprintf(stderr, "lab: scopes nested deeper than %d\n", LAB_MAX_SCOPES);
        abort();
    }
    scopes[scope_depth].n = 0;
    scope_depth++;
}

static void scope_push(scope_frame *f, lab_tensor *t)
{
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 64;
        lab_tensor **items = realloc(f->items, (size_t)cap * sizeof *items);
        if (!items) {
            fprintf(stderr, "lab: out of memory growing a scope\n");
            abort();
        }
        f->items = items;
        f->cap = cap;
    }
    f->items[f->n++] = t;
}

void lab_scope_end(void)
{
    if (scope_depth == 0) return;
    scope_frame *f = &scopes[scope_depth - 1];
    /* Release newest first: outputs before the inputs they were built from. */
    for (int i = f->n - 1; i >= 0; i--) lab_tensor_release(f->items[i]);
    f->n = 0;
    scope_depth--;
    if (scope_depth == 0) {
        /* Every frame is empty now: give the arrays back, so that a big
         * step's array does not linger and a thread that ends leaks nothing
         * (its thread-local frames would be unreachable). */
        for (int i = 0; i < LAB_MAX_SCOPES && scopes[i].cap; i++) {
            free(scopes[i].items);
            scopes[i].items = NULL;
            scopes[i].cap = 0;
        }
    }
}

int lab_scope_depth(void) { return scope_depth; }

static int scope_remove(scope_frame *f, lab_tensor *t)
{
    for (int i = f->n - 1; i >= 0; i--) {
        if (f->items[i] == t) {
            memmove(&f->items[i], &f->items[i + 1], (size_t)(f->n - i - 1) * sizeof *f->items);
            f->n--;
            return 1;
        }
    }
    return 0;
}

lab_tensor *lab_keep(lab_tensor *t)
{
    if (!t || scope_depth == 0) return t;
    if (scope_remove(&scopes[scope_depth - 1], t) && scope_depth >= 2)
        scope_push(&scopes[scope_depth - 2], t);
    return t;
}

lab_tensor *lab_tensor_own(lab_tensor *t)
{
    if (!t) return t;
    for (int d = scope_depth - 1; d >= 0; d--)
        if (scope_remove(&scopes[d], t)) break;
    return t;
}

/* --- storage and tensor objects ------------------------------------------- */

static lab_storage *storage_new(lab_device dev, size_t bytes)
{
    const lab_backend *be = lab_backend_get(dev);
    if (!be) return NULL;
    lab_storage *st = calloc(1, sizeof *st);
    if (!st) {
        lab_error_set("out of host memory");
        return NULL;
    }
    st->ptr = be->alloc(dev.index, bytes ? bytes : 1);
    if (!st->ptr) {
        free(st);
        return NULL;
    }
    st->refcount = 1;
    st->device = dev;
    st->bytes = bytes;
    st->be = be;
    lab_mem_account(dev, (long long)bytes);
    return st;
}

static void storage_release(lab_storage *st)
{
    if (!st) return;
    if (__atomic_sub_fetch(&st->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
        st->be->free(st->device.index, st->ptr, st->bytes ? st->bytes : 1);
        lab_mem_account(st->device, -(long long)st->bytes);
        free(st);
    }
}

static int check_shape(int ndim, const int64_t *shape, int64_t *numel)
{
    if (ndim < 0 || ndim > LAB_MAX_DIMS)
        return lab_error_set("tensor: %d dims (at most %d are supported)", ndim, LAB_MAX_DIMS);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return lab_error_set("tensor: negative size %lld in dim %d", (long long)shape[i], i);
        if (shape[i] && n > INT64_MAX / shape[i]) return lab_error_set("tensor: size overflows");
        n *= shape[i];
    }
    *numel = n;
    return 0;
}

lab_tensor *lab_tensor_view_of(lab_storage *st, size_t offset, lab_dtype dt, int ndim,
                               const int64_t *shape, lab_device dev)
{
    int64_t numel;
    if (check_shape(ndim, shape, &numel) < 0) return NULL;
    lab_tensor *t = calloc(1, sizeof *t);
    if (!t) {
        lab_error_set("out of host memory");
        return NULL;
    }
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->device = dev;
    t->storage = st;
    __atomic_add_fetch(&st->refcount, 1, __ATOMIC_ACQ_REL);
    t->offset = offset;
    t->refcount = 1;
    if (scope_depth > 0) scope_push(&scopes[scope_depth - 1], t);
    return t;
}

lab_tensor *lab_tensor_empty(lab_dtype dt, int ndim, const int64_t *shape, lab_device dev)
{
    int64_t numel;
    if (check_shape(ndim, shape, &numel) < 0) return NULL;
    lab_storage *st = storage_new(dev, (size_t)numel * lab_dtype_size(dt));
    if (!st) return NULL;
    lab_tensor *t = lab_tensor_view_of(st, 0, dt, ndim, shape, dev);
    storage_release(st); /* the view holds it now */
    return t;
}

lab_tensor *lab_tensor_full(lab_dtype dt, int ndim, const int64_t *shape, double value, lab_device dev)
{
    lab_tensor *t = lab_tensor_empty(dt, ndim, shape, dev);
    if (!t) return NULL;
    lab_tensor_backend(t)->fill(lab_tensor_raw(t), dt, t->numel, value);
    return t;
}

lab_tensor *lab_tensor_zeros(lab_dtype dt, int ndim, const int64_t *shape, lab_device dev)
{
    return lab_tensor_full(dt, ndim, shape, 0.0, dev);
}

lab_tensor *lab_tensor_from_data(lab_dtype dt, int ndim, const int64_t *shape, const void *data, lab_device dev)
{
    lab_tensor *t = lab_tensor_empty(dt, ndim, shape, dev);
    if (!t) return NULL;
    if (lab_tensor_copy_from_host(t, data) < 0) {
        lab_tensor_own(t);
        lab_tensor_release(t);
        return NULL;
    }
    return t;
}

lab_tensor *lab_tensor_from_f32(const float *data, int ndim, const int64_t *shape)
{
    return lab_tensor_from_data(LAB_F32, ndim, shape, data, LAB_CPU);
}

lab_tensor *lab_tensor_scalar(float v, lab_device dev) { return lab_tensor_full(LAB_F32, 0, NULL, v, dev); }

lab_tensor *lab_tensor_arange(int64_t n, lab_device dev)
{
    if (n < 0) {
        lab_error_set("arange: negative length %lld", (long long)n);
        return NULL;
    }
    int64_t *v = malloc((size_t)(n ? n : 1) * sizeof *v);
    if (!v) {
        lab_error_set("out of host memory");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) v[i] = i;
    lab_tensor *t = lab_tensor_from_data(LAB_I64, 1, &n, v, dev);
    free(v);
    return t;
}

lab_tensor *lab_tensor_empty_like(const lab_tensor *t)
{
    if (!t) return NULL;
    return lab_tensor_empty(t->dtype, t->ndim, t->shape, t->device);
}

lab_tensor *lab_tensor_zeros_like(const lab_tensor *t)
{
    if (!t) return NULL;
    return lab_tensor_zeros(t->dtype, t->ndim, t->shape, t->device);
}

lab_tensor *lab_tensor_retain(lab_tensor *t)
{
    if (t) __atomic_add_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL);
    return t;
}

void lab_tensor_release(lab_tensor *t)
{
    if (!t) return;
    if (__atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (t->node) lab_node_free(t->node);
    lab_tensor_release(t->grad);
    storage_release(t->storage);
    free(t);
}

const lab_backend *lab_tensor_backend(const lab_tensor *t) { return t->storage->be; }

void *lab_tensor_raw(const lab_tensor *t)
{
    if (!t) return NULL;
    return (char *)t->storage->ptr + t->offset;
}

void *lab_tensor_data(const lab_tensor *t)
{
    if (!t) return NULL;
    if (t->device.type != LAB_DEV_CPU) {
        char d[32];
        lab_error_set("tensor: data is on %s, not the cpu (copy it with lab_tensor_to)",
                      lab_device_str(t->device, d, sizeof d));
        return NULL;
    }
    return lab_tensor_raw(t);
}

static void *typed_data(const lab_tensor *t, lab_dtype dt)
{
    if (!t) return NULL;
    if (t->dtype != dt) {
        lab_error_set("tensor: asked for %s data of a %s tensor", lab_dtype_name(dt), lab_dtype_name(t->dtype));
        return NULL;
    }
    return lab_tensor_data(t);
}

float *lab_tensor_f32(const lab_tensor *t) { return typed_data(t, LAB_F32); }
int64_t *lab_tensor_i64(const lab_tensor *t) { return typed_data(t, LAB_I64); }
int32_t *lab_tensor_i32(const lab_tensor *t) { return typed_data(t, LAB_I32); }

int lab_tensor_copy_to_host(const lab_tensor *t, void *dst)
{
    if (!t) return -1;
    size_t bytes = (size_t)t->numel * lab_dtype_size(t->dtype);
    return lab_tensor_backend(t)->copy_d2h(t->device.index, dst, lab_tensor_raw(t), bytes);
}

int lab_tensor_copy_from_host(lab_tensor *t, const void *src)
{
    if (!t) return -1;
    size_t bytes = (size_t)t->numel * lab_dtype_size(t->dtype);
    return lab_tensor_backend(t)->copy_h2d(t->device.index, lab_tensor_raw(t), src, bytes);
}

int lab_tensor_copy_(lab_tensor *dst, const lab_tensor *src)
{
    if (!dst || !src) return -1;
    if (dst->dtype != src->dtype || !lab_tensor_same_shape(dst, src)) {
        char a[96], b[96];
        return lab_error_set("copy: %s into %s", lab_tensor_desc(src, a, sizeof a), lab_tensor_desc(dst, b, sizeof b));
    }
    size_t bytes = (size_t)src->numel * lab_dtype_size(src->dtype);
    if (bytes == 0) return 0;
    if (lab_device_eq(dst->device, src->device))
        return lab_tensor_backend(dst)->copy_d2d(dst->device.index, lab_tensor_raw(dst), lab_tensor_raw(src), bytes);
    if (src->device.type == LAB_DEV_CPU)
        return lab_tensor_copy_from_host(dst, lab_tensor_raw(src));
    if (dst->device.type == LAB_DEV_CPU)
        return lab_tensor_copy_to_host(src, lab_tensor_raw(dst));
    /* cuda:a -> cuda:b through the host. */
    void *tmp = malloc(bytes);
    if (!tmp) return lab_error_set("copy: out of host memory");
    int rc = lab_tensor_copy_to_host(src, tmp);
    if (rc == 0) rc = lab_tensor_copy_from_host(dst, tmp);
    free(tmp);
    return rc;
}

int lab_tensor_fill_(lab_tensor *t, double value)
{
    if (!t) return -1;
    lab_tensor_backend(t)->fill(lab_tensor_raw(t), t->dtype, t->numel, value);
    return 0;
}

float lab_tensor_item(const lab_tensor *t)
{
    if (!t) return NAN;
    if (t->numel != 1) {
        char d[96];
        lab_error_set("item: tensor %s has %lld elements, not 1", lab_tensor_desc(t, d, sizeof d), (long long)t->numel);
        return NAN;
    }
    union {
        float f;
        int32_t i;
        int64_t l;
    } v;
    if (lab_tensor_copy_to_host(t, &v) < 0) return NAN;
    switch (t->dtype) {
    case LAB_F32: return v.f;
    case LAB_I32: return (float)v.i;
    case LAB_I64: return (float)v.l;
    }
    return NAN;
}

int lab_tensor_dim(const lab_tensor *t, int dim)
{
    int nd = t->ndim;
    if (dim < 0) dim += nd;
    if (dim < 0 || dim >= nd) return -1;
    return dim;
}

int lab_tensor_same_shape(const lab_tensor *a, const lab_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *lab_tensor_shape_str(const lab_tensor *t, char *buf, size_t len)
{
    size_t p = 0;
    if (!t) {
        snprintf(buf, len, "NULL");
        return buf;
    }
    p += (size_t)snprintf(buf + p, len - p, "[");
    for (int i = 0; i < t->ndim && p < len; i++)
        p += (size_t)snprintf(buf + p, len - p, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (p < len) snprintf(buf + p, len - p, "]");
    return buf;
}

const char *lab_tensor_desc(const lab_tensor *t, char *buf, size_t len)
{
    char s[80];
    if (!t) {
        snprintf(buf, len, "NULL");
        return buf;
    }
    snprintf(buf, len, "%s%s", lab_dtype_name(t->dtype), lab_tensor_shape_str(t, s, sizeof s));
    return buf;
}

void lab_tensor_set_requires_grad(lab_tensor *t, int on)
{
    if (t) t->requires_grad = on && t->dtype == LAB_F32;
}

void lab_tensor_zero_grad(lab_tensor *t)
{
    if (!t) return;
    lab_tensor_release(t->grad);
    t->grad = NULL;
}

lab_tensor *lab_tensor_detach(lab_tensor *t)
{
    if (!t) return NULL;
    return lab_tensor_view_of(t->storage, t->offset, t->dtype, t->ndim, t->shape, t->device);
}

lab_tensor *lab_tensor_cast(lab_tensor *t, lab_dtype dt)
{
    if (!t) return NULL;
    lab_tensor *y = lab_tensor_empty(dt, t->ndim, t->shape, t->device);
    if (!y) return NULL;
    lab_tensor_backend(t)->cast(lab_tensor_raw(y), dt, lab_tensor_raw(t), t->dtype, t->numel);
    return y;
}
