/* SGD, Adam and AdamW with PyTorch 1.13's update rules, state export for
 * checkpoints, and global-norm gradient clipping.
 *
 * State follows torch.optim: per parameter a step count and moments
 * (exp_avg, exp_avg_sq) or a momentum buffer, created on the first step
 * that parameter has a gradient; parameters without a gradient are
 * skipped and their step count does not advance. The arithmetic is the
 * backend's adam/sgd/sumsq primitives (kernels/cpu/cpu_optim.c).
 * Tested in tests/unit/test_optim.c against values from torch.optim. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops_int.h"

struct lab_optim {
    lab_optim_config cfg;
    lab_params *params; /* borrowed */
    int n;              /* trainable tensors when the optimizer was made */
    int *index;         /* their positions in params */
    lab_tensor **s1;    /* exp_avg (Adam) or momentum_buffer (SGD); owned, NULL until used */
    lab_tensor **s2;    /* exp_avg_sq (Adam); owned */
    int64_t *pstep;     /* per-parameter step count, as torch's state["step"] */
    int64_t steps;      /* calls to lab_optim_step */
};

lab_optim_config lab_optim_defaults(lab_optim_kind kind)
{
    lab_optim_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.beta1 = 0.9f;
    c.beta2 = 0.999f;
    c.eps = 1e-8f;
    switch (kind) {
    case LAB_OPTIM_SGD: c.lr = 0.01f; break; /* torch has no default: 0.01 is ours */
    case LAB_OPTIM_ADAM: c.lr = 1e-3f; break;
    case LAB_OPTIM_ADAMW:
        c.lr = 1e-3f;
        c.weight_decay = 1e-2f;
        break;
    }
    return c;
}

static const char *kind_name(lab_optim_kind k)
{
    switch (k) {
    case LAB_OPTIM_SGD: return "sgd";
    case LAB_OPTIM_ADAM: return "adam";
    case LAB_OPTIM_ADAMW: return "adamw";
    }
    return "?";
}

static int check_config(const lab_optim_config *c)
{
    if (c->kind != LAB_OPTIM_SGD && c->kind != LAB_OPTIM_ADAM && c->kind != LAB_OPTIM_ADAMW)
        return lab_error_set("optim: unknown kind %d", (int)c->kind);
    const char *k = kind_name(c->kind);
    if (!(c->lr >= 0) || isinf(c->lr)) return lab_error_set("optim %s: invalid lr %g", k, c->lr);
    if (!(c->weight_decay >= 0)) return lab_error_set("optim %s: invalid weight_decay %g", k, c->weight_decay);
    if (c->kind == LAB_OPTIM_SGD) {
        if (!(c->momentum >= 0)) return lab_error_set("optim sgd: invalid momentum %g", c->momentum);
        if (c->nesterov && (c->momentum <= 0 || c->dampening != 0))
            return lab_error_set("optim sgd: nesterov needs momentum > 0 and dampening 0 (got momentum %g, "
                                 "dampening %g)", c->momentum, c->dampening);
    } else {
        if (!(c->beta1 >= 0 && c->beta1 < 1)) return lab_error_set("optim %s: invalid beta1 %g", k, c->beta1);
        if (!(c->beta2 >= 0 && c->beta2 < 1)) return lab_error_set("optim %s: invalid beta2 %g", k, c->beta2);
        if (!(c->eps >= 0)) return lab_error_set("optim %s: invalid eps %g", k, c->eps);
    }
    return 0;
}

lab_optim *lab_optim_new(const lab_optim_config *cfg, lab_params *params)
{
    if (!cfg || !params) {
        lab_error_set("optim: missing config or parameter list");
        return NULL;
    }
    if (check_config(cfg) < 0) return NULL;
    lab_optim *o = calloc(1, sizeof *o);
    int cap = params->n ? params->n : 1;
    if (o) {
        o->index = calloc((size_t)cap, sizeof *o->index);
        o->s1 = calloc((size_t)cap, sizeof *o->s1);
        o->s2 = calloc((size_t)cap, sizeof *o->s2);
        o->pstep = calloc((size_t)cap, sizeof *o->pstep);
    }
    if (!o || !o->index || !o->s1 || !o->s2 || !o->pstep) {
        lab_optim_free(o);
        lab_error_set("optim: out of host memory");
        return NULL;
    }
    o->cfg = *cfg;
    o->params = params;
    for (int i = 0; i < params->n; i++)
        if (params->trainable[i]) o->index[o->n++] = i;
    return o;
}

void lab_optim_free(lab_optim *o)
{
    if (!o) return;
    for (int k = 0; k < o->n; k++) {
        if (o->s1) lab_tensor_release(o->s1[k]);
        if (o->s2) lab_tensor_release(o->s2[k]);
    }
    free(o->index);
    free(o->s1);
    free(o->s2);
    free(o->pstep);
    free(o);
}

/* A zero state tensor like p, or the existing one moved to p's device (after
 * lab_params_to). */
static int ensure_state(lab_tensor **slot, const lab_tensor *p)
{
    if (*slot && lab_device_eq((*slot)->device, p->device)) return 0;
    lab_tensor *z = lab_tensor_own(lab_tensor_zeros(LAB_F32, p->ndim, p->shape, p->device));
    if (!z) return -1;
    if (*slot && lab_tensor_copy_(z, *slot) < 0) {
        lab_tensor_release(z);
        return -1;
    }
    lab_tensor_release(*slot);
    *slot = z;
    return 0;
}

int lab_optim_step(lab_optim *o)
{
    if (!o) return lab_error_set("optim_step: no optimizer");
    const lab_optim_config *c = &o->cfg;
    for (int k = 0; k < o->n; k++) {
        lab_tensor *p = o->params->tensors[o->index[k]];
        lab_tensor *g = p->grad;
        const char *name = o->params->names[o->index[k]];
        if (!g) continue;
        if (p->dtype != LAB_F32 || g->dtype != LAB_F32 || !lab_tensor_same_shape(p, g) ||
            !lab_device_eq(p->device, g->device)) {
            char a[96], b[96];
            return lab_error_set("optim_step: '%s' is %s but its gradient is %s", name,
                                 lab_tensor_desc(p, a, sizeof a), lab_tensor_desc(g, b, sizeof b));
        }
        if (c->kind == LAB_OPTIM_SGD) {
            const lab_backend *be = lab_op_backend("optim_step", p, LAB_SLOT(sgd));
            if (!be) return -1;
            int first = 0;
            float *buf = NULL;
            if (c->momentum != 0) {
                first = o->s1[k] == NULL;
                if (ensure_state(&o->s1[k], p) < 0) return lab_error_prefix("optim_step: '%s': ", name);
                buf = lab_op_f32(o->s1[k]);
            }
            be->sgd(p->numel, lab_op_f32(p), lab_op_f32(g), buf, c->lr, c->momentum, c->dampening,
                    c->weight_decay, c->nesterov, first);
        } else {
            const lab_backend *be = lab_op_backend("optim_step", p, LAB_SLOT(adam));
            if (!be) return -1;
            if (ensure_state(&o->s1[k], p) < 0 || ensure_state(&o->s2[k], p) < 0)
                return lab_error_prefix("optim_step: '%s': ", name);
            be->adam(p->numel, lab_op_f32(p), lab_op_f32(g), lab_op_f32(o->s1[k]), lab_op_f32(o->s2[k]), c->lr,
                     c->beta1, c->beta2, c->eps, c->weight_decay, c->kind == LAB_OPTIM_ADAMW, o->pstep[k] + 1);
        }
        o->pstep[k]++;
    }
    o->steps++;
    return 0;
}

void lab_optim_zero_grad(lab_optim *o)
{
    if (!o) return;
    for (int k = 0; k < o->n; k++) lab_tensor_zero_grad(o->params->tensors[o->index[k]]);
}

void lab_optim_set_lr(lab_optim *o, float lr)
{
    if (o) o->cfg.lr = lr;
}

float lab_optim_get_lr(const lab_optim *o) { return o ? o->cfg.lr : NAN; }

int64_t lab_optim_steps(const lab_optim *o) { return o ? o->steps : 0; }

/* --- state export / import ---------------------------------------------------
 * Names: <prefix>kind, <prefix>step (i64 scalars), and per parameter with
 * state <prefix><name>.step plus .exp_avg/.exp_avg_sq (Adam, AdamW) or
 * .momentum_buffer (SGD with momentum), as in torch's state_dict. */

#define KEY_LEN 512

static lab_tensor *i64_scalar(int64_t v)
{
    return lab_tensor_own(lab_tensor_from_data(LAB_I64, 0, NULL, &v, LAB_CPU));
}

static int export_one(lab_params *out, const char *prefix, const char *name, const char *field, lab_tensor *t)
{
    char key[KEY_LEN];
    if (name)
        snprintf(key, sizeof key, "%s%s.%s", prefix, name, field);
    else
        snprintf(key, sizeof key, "%s%s", prefix, field);
    return lab_params_add_buffer(out, key, t) ? 0 : -1;
}

int lab_optim_state_export(const lab_optim *o, lab_params *out, const char *prefix)
{
    if (!o || !out) return lab_error_set("optim_state_export: missing optimizer or output list");
    if (!prefix) prefix = "";
    if (export_one(out, prefix, NULL, "kind", i64_scalar(o->cfg.kind)) < 0) return -1;
    if (export_one(out, prefix, NULL, "step", i64_scalar(o->steps)) < 0) return -1;
    for (int k = 0; k < o->n; k++) {
        const char *name = o->params->names[o->index[k]];
        if (o->pstep[k] == 0 && !o->s1[k]) continue;
        if (export_one(out, prefix, name, "step", i64_scalar(o->pstep[k])) < 0) return -1;
        if (o->cfg.kind == LAB_OPTIM_SGD) {
            if (o->s1[k] && export_one(out, prefix, name, "momentum_buffer", lab_tensor_retain(o->s1[k])) < 0)
                return -1;
        } else {
            if (export_one(out, prefix, name, "exp_avg", lab_tensor_retain(o->s1[k])) < 0 ||
                export_one(out, prefix, name, "exp_avg_sq", lab_tensor_retain(o->s2[k])) < 0)
                return -1;
        }
    }
    return 0;
}

static const lab_tensor *find_entry(const lab_params *in, const char *prefix, const char *name, const char *field,
                                    char *key)
{
    if (name)
        snprintf(key, KEY_LEN, "%s%s.%s", prefix, name, field);
    else
        snprintf(key, KEY_LEN, "%s%s", prefix, field);
    return lab_params_get(in, key);
}

static int read_count(const lab_tensor *t, const char *key, int64_t *v)
{
    if (t->dtype != LAB_I64 || t->numel != 1) {
        char d[96];
        return lab_error_set("optim_state_import: '%s' must be one i64, got %s", key, lab_tensor_desc(t, d, sizeof d));
    }
    if (lab_tensor_copy_to_host(t, v) < 0) return -1;
    if (*v < 0) return lab_error_set("optim_state_import: '%s' is negative (%lld)", key, (long long)*v);
    return 0;
}

static int check_moment(const lab_tensor *m, const lab_tensor *p, const char *key)
{
    if (!m) return lab_error_set("optim_state_import: '%s' is missing", key);
    if (m->dtype != LAB_F32 || !lab_tensor_same_shape(m, p)) {
        char a[96], b[96];
        return lab_error_set("optim_state_import: '%s' is %s but the parameter is %s", key,
                             lab_tensor_desc(m, a, sizeof a), lab_tensor_desc(p, b, sizeof b));
    }
    return 0;
}

/* Checks every entry (pass 0) before changing anything (pass 1), so a bad
 * checkpoint leaves the optimizer as it was. */
int lab_optim_state_import(lab_optim *o, const lab_params *in, const char *prefix)
{
    if (!o || !in) return lab_error_set("optim_state_import: missing optimizer or input list");
    if (!prefix) prefix = "";
    char key[KEY_LEN];
    int sgd = o->cfg.kind == LAB_OPTIM_SGD;
    const char *f1 = sgd ? "momentum_buffer" : "exp_avg", *f2 = "exp_avg_sq";
    for (int pass = 0; pass < 2; pass++) {
        int64_t kind, steps;
        const lab_tensor *t = find_entry(in, prefix, NULL, "kind", key);
        if (!t) return lab_error_set("optim_state_import: '%s' is missing", key);
        if (read_count(t, key, &kind) < 0) return -1;
        if (kind != o->cfg.kind)
            return lab_error_set("optim_state_import: the state is for %s, the optimizer is %s",
                                 kind_name((lab_optim_kind)kind), kind_name(o->cfg.kind));
        t = find_entry(in, prefix, NULL, "step", key);
        if (!t) return lab_error_set("optim_state_import: '%s' is missing", key);
        if (read_count(t, key, &steps) < 0) return -1;
        int recognised = 2;
        for (int k = 0; k < o->n; k++) {
            const char *name = o->params->names[o->index[k]];
            const lab_tensor *p = o->params->tensors[o->index[k]];
            int64_t ps = 0;
            const lab_tensor *st = find_entry(in, prefix, name, "step", key);
            if (st && read_count(st, key, &ps) < 0) return -1;
            char k1[KEY_LEN], k2[KEY_LEN];
            const lab_tensor *m1 = find_entry(in, prefix, name, f1, k1);
            const lab_tensor *m2 = sgd ? NULL : find_entry(in, prefix, name, f2, k2);
            recognised += (st != NULL) + (m1 != NULL) + (m2 != NULL);
            if (!st) {
                if (m1 || m2)
                    return lab_error_set("optim_state_import: '%s' has moments but no step count", name);
                if (pass == 1) {
                    lab_tensor_release(o->s1[k]);
                    lab_tensor_release(o->s2[k]);
                    o->s1[k] = o->s2[k] = NULL;
                    o->pstep[k] = 0;
                }
                continue;
            }
            if (!sgd && (check_moment(m1, p, k1) < 0 || check_moment(m2, p, k2) < 0)) return -1;
            if (sgd && m1 && check_moment(m1, p, k1) < 0) return -1;
            if (pass == 0) continue;
            o->pstep[k] = ps;
            if (m1) {
                if (ensure_state(&o->s1[k], p) < 0 || lab_tensor_copy_(o->s1[k], m1) < 0) return -1;
            } else {
                lab_tensor_release(o->s1[k]);
                o->s1[k] = NULL;
            }
            if (m2 && (ensure_state(&o->s2[k], p) < 0 || lab_tensor_copy_(o->s2[k], m2) < 0)) return -1;
        }
        if (pass == 0 && prefix[0]) {
            /* Entries under the prefix that belong to no parameter: a
             * checkpoint of another model. */
            size_t pl = strlen(prefix);
            int under = 0;
            for (int i = 0; i < in->n; i++) under += strncmp(in->names[i], prefix, pl) == 0;
            if (under != recognised) {
                for (int i = 0; i < in->n; i++) {
                    if (strncmp(in->names[i], prefix, pl) != 0) continue;
                    const char *rest = in->names[i] + pl;
                    int known = !strcmp(rest, "kind") || !strcmp(rest, "step");
                    for (int k = 0; k < o->n && !known; k++) {
                        const char *name = o->params->names[o->index[k]];
                        size_t nl = strlen(name);
                        known = strncmp(rest, name, nl) == 0 && rest[nl] == '.' &&
                                (!strcmp(rest + nl + 1, "step") || !strcmp(rest + nl + 1, f1) ||
                                 (!sgd && !strcmp(rest + nl + 1, f2)));
                    }
                    if (!known)
                        return lab_error_set("optim_state_import: '%s' matches no parameter of this optimizer",
                                             in->names[i]);
                }
            }
        }
        if (pass == 1) o->steps = steps;
    }
    return 0;
}

/* --- clipping ------------------------------------------------------------------ */

float lab_clip_grad_norm(lab_params *p, float max_norm)
{
    if (!p) {
        lab_error_set("clip_grad_norm: no parameter list");
        return -1.0f;
    }
    if (!(max_norm >= 0)) {
        lab_error_set("clip_grad_norm: max_norm %g is not >= 0", max_norm);
        return -1.0f;
    }
    /* One sum over every gradient: a device waits once, not once per tensor.
     * Gradients on several devices (rare) are summed per device. */
    double total = 0;
    int failed = 0;
    int64_t *ns = malloc((size_t)(p->n ? p->n : 1) * sizeof *ns);
    const float **xs = malloc((size_t)(p->n ? p->n : 1) * sizeof *xs);
    char *done = calloc((size_t)(p->n ? p->n : 1), 1);
    if (!ns || !xs || !done) {
        free(ns);
        free(xs);
        free(done);
        lab_error_set("clip_grad_norm: out of host memory");
        return -1.0f;
    }
    for (int i = 0; i < p->n; i++) {
        lab_tensor *gi = p->tensors[i]->grad;
        if (done[i] || !p->trainable[i] || !gi) continue;
        const lab_backend *be = lab_op_backend("clip_grad_norm", gi, LAB_SLOT(sumsq));
        if (!be) {
            failed = 1;
            break;
        }
        int count = 0;
        for (int j = i; j < p->n; j++) {
            lab_tensor *g = p->tensors[j]->grad;
            if (done[j] || !p->trainable[j] || !g || !lab_device_eq(g->device, gi->device)) continue;
            ns[count] = g->numel;
            xs[count++] = lab_op_f32(g);
            done[j] = 1;
        }
        double s = 0;
        if (be->sumsq(count, ns, xs, &s) < 0) {
            failed = 1;
            break;
        }
        total += s;
    }
    free(ns);
    free(xs);
    free(done);
    if (failed) return -1.0f;
    double norm = sqrt(total);
    /* torch.nn.utils.clip_grad_norm_: coef = max/(norm + 1e-6), clamped to 1;
     * a NaN norm propagates into the gradients, as in PyTorch. */
    double coef = (double)max_norm / (norm + 1e-6);
    if (!(coef >= 1.0)) {
        for (int i = 0; i < p->n; i++) {
            lab_tensor *g = p->tensors[i]->grad;
            if (!p->trainable[i] || !g) continue;
            const lab_backend *be = lab_op_backend("clip_grad_norm", g, LAB_SLOT(unary));
            if (!be) return -1.0f;
            be->unary(LAB_UN_AFFINE, g->numel, lab_op_f32(g), lab_op_f32(g), (float)coef, 0.0f);
        }
    }
    return (float)norm;
}
