/* Named parameter lists: a model's tensors, owned in one place.
 *
 * The list holds one reference per tensor, taken out of every scope with
 * lab_tensor_own(), so parameters outlive the training step that created
 * them. Names are unique; order is insertion order (checkpoints and
 * optimizer state follow it). Tested in tests/unit/test_nn.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab.h"
#include "tensor_int.h"

lab_params *lab_params_new(void)
{
    lab_params *p = calloc(1, sizeof *p);
    if (!p) lab_error_set("params: out of host memory");
    return p;
}

void lab_params_free(lab_params *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        lab_tensor_release(p->tensors[i]);
        free(p->names[i]);
    }
    free(p->names);
    free(p->tensors);
    free(p->trainable);
    free(p);
}

static int find(const lab_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->names[i], name) == 0) return i;
    return -1;
}

static int grow(lab_params *p)
{
    if (p->n < p->cap) return 0;
    int cap = p->cap ? p->cap * 2 : 16;
    char **names = realloc(p->names, (size_t)cap * sizeof *names);
    if (names) p->names = names;
    lab_tensor **ts = realloc(p->tensors, (size_t)cap * sizeof *ts);
    if (ts) p->tensors = ts;
    int *tr = realloc(p->trainable, (size_t)cap * sizeof *tr);
    if (tr) p->trainable = tr;
    if (!names || !ts || !tr) return lab_error_set("params: out of host memory");
    p->cap = cap;
    return 0;
}

/* On any failure the caller's reference is dropped as well, so that
 * `lab_params_add(p, "w", lab_rng_normal(...))` never leaks. */
static lab_tensor *add(lab_params *p, const char *name, lab_tensor *t, int trainable, int set_grad)
{
    if (!t) return NULL;
    lab_tensor_own(t);
    const char *err = NULL;
    if (!p)
        err = "no parameter list";
    else if (!name || !name[0])
        err = "empty name";
    if (err) {
        lab_error_set("params: %s", err);
        lab_tensor_release(t);
        return NULL;
    }
    if (find(p, name) >= 0) {
        lab_error_set("params: duplicate name '%s'", name);
        lab_tensor_release(t);
        return NULL;
    }
    char *copy = strdup(name);
    if (!copy || grow(p) < 0) {
        free(copy);
        lab_error_set("params: out of host memory adding '%s'", name);
        lab_tensor_release(t);
        return NULL;
    }
    p->names[p->n] = copy;
    p->tensors[p->n] = t;
    p->trainable[p->n] = trainable;
    p->n++;
    if (set_grad) lab_tensor_set_requires_grad(t, trainable);
    return t;
}

lab_tensor *lab_params_add(lab_params *p, const char *name, lab_tensor *t) { return add(p, name, t, 1, 1); }

lab_tensor *lab_params_add_buffer(lab_params *p, const char *name, lab_tensor *t) { return add(p, name, t, 0, 1); }

#define PREFIXED_MAX 1024

int lab_params_extend(lab_params *dst, const lab_params *src, const char *prefix)
{
    if (!dst || !src) return lab_error_set("params_extend: missing parameter list");
    if (!prefix) prefix = "";
    char name[PREFIXED_MAX];
    /* All names first, so a clash adds nothing. */
    for (int i = 0; i < src->n; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, src->names[i]);
        if (find(dst, name) >= 0) return lab_error_set("params_extend: duplicate name '%s'", name);
        for (int j = 0; j < i; j++)
            if (strcmp(src->names[j], src->names[i]) == 0)
                return lab_error_set("params_extend: duplicate name '%s'", name);
    }
    for (int i = 0; i < src->n; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, src->names[i]);
        if (!add(dst, name, lab_tensor_retain(src->tensors[i]), src->trainable[i], 0)) return -1;
    }
    return 0;
}

lab_tensor *lab_params_get(const lab_params *p, const char *name)
{
    if (!p || !name) return NULL;
    int i = find(p, name);
    return i < 0 ? NULL : p->tensors[i];
}

int lab_params_index(const lab_params *p, const char *name)
{
    if (!p || !name) return -1;
    return find(p, name);
}

int64_t lab_params_count(const lab_params *p)
{
    if (!p) return 0;
    int64_t n = 0;
    for (int i = 0; i < p->n; i++)
        if (p->trainable[i]) n += p->tensors[i]->numel;
    return n;
}

void lab_params_zero_grad(lab_params *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) lab_tensor_zero_grad(p->tensors[i]);
}

/* Give t the storage of a fresh copy on dev; the tensor object (which
 * layers and optimizers point to) stays the same. */
static int move_in_place(lab_tensor *t, lab_device dev)
{
    if (lab_device_eq(t->device, dev)) return 0;
    lab_tensor *c = lab_tensor_own(lab_tensor_empty(t->dtype, t->ndim, t->shape, dev));
    if (!c) return -1;
    if (lab_tensor_copy_(c, t) < 0) {
        lab_tensor_release(c);
        return -1;
    }
    lab_storage *st = t->storage;
    size_t off = t->offset;
    lab_device d = t->device;
    t->storage = c->storage;
    t->offset = c->offset;
    t->device = c->device;
    c->storage = st; /* c now owns the old storage and frees it */
    c->offset = off;
    c->device = d;
    lab_tensor_release(c);
    return 0;
}

int lab_params_to(lab_params *p, lab_device dev)
{
    if (!p) return lab_error_set("params_to: no parameter list");
    for (int i = 0; i < p->n; i++) {
        lab_tensor *t = p->tensors[i];
        if (t->node) {
            char d[96];
            return lab_error_set("params_to: '%s' (%s) is the output of an op, not a leaf", p->names[i],
                                 lab_tensor_desc(t, d, sizeof d));
        }
        if (move_in_place(t, dev) < 0) return lab_error_prefix("params_to: '%s': ", p->names[i]);
        if (t->grad && move_in_place(t->grad, dev) < 0)
            return lab_error_prefix("params_to: gradient of '%s': ", p->names[i]);
    }
    return 0;
}

int lab_params_load_prefix(lab_params *dst, const lab_params *src, const char *prefix, int allow_missing)
{
    if (!dst || !src) return lab_error_set("params_load: no parameter list");
    if (!prefix) prefix = "";
    char key[PREFIXED_MAX];
    /* Check everything first, so a mismatch leaves dst untouched. */
    for (int i = 0; i < dst->n; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, dst->names[i]);
        const lab_tensor *s = lab_params_get(src, key);
        const lab_tensor *d = dst->tensors[i];
        if (!s) {
            if (allow_missing) continue;
            return lab_error_set("params_load: '%s' is missing from the source", key);
        }
        if (s->dtype != d->dtype || !lab_tensor_same_shape(s, d)) {
            char a[96], b[96];
            return lab_error_set("params_load: '%s' is %s in the source but %s in the model", key,
                                 lab_tensor_desc(s, a, sizeof a), lab_tensor_desc(d, b, sizeof b));
        }
    }
    for (int i = 0; i < dst->n; i++) {
        snprintf(key, sizeof key, "%s%s", prefix, dst->names[i]);
        const lab_tensor *s = lab_params_get(src, key);
        if (s && lab_tensor_copy_(dst->tensors[i], s) < 0) return lab_error_prefix("params_load: '%s': ", key);
    }
    return 0;
}

int lab_params_load(lab_params *dst, const lab_params *src, int allow_missing)
{
    return lab_params_load_prefix(dst, src, "", allow_missing);
}
