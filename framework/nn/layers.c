/* Layers with PyTorch's default initialisation (torch 1.13 reset_parameters):
 *   Linear, Conv2d  w ~ kaiming_uniform(a = sqrt(5)) = U(±1/sqrt(fan_in)),
 *                   b ~ U(±1/sqrt(fan_in)) with the weight's fan_in;
 *   BatchNorm       gamma 1, beta 0, running mean 0 / var 1, momentum 0.1, eps 1e-5;
 *   LayerNorm       gamma 1, beta 0, eps 1e-5;
 *   Embedding       N(0, 1).
 * Tensors are named as in a PyTorch state_dict ("<name>.weight", ".bias",
 * ".running_mean", ".running_var"), so checkpoints map one to one. A layer's
 * tensors are created and initialised before any is added, so a failing
 * init leaves the list unchanged. Tested in tests/unit/test_nn.c. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lab/lab.h"

#define NAME_MAX_LEN 256

static void join(char *buf, const char *name, const char *field)
{
    if (name && name[0])
        snprintf(buf, NAME_MAX_LEN, "%s.%s", name, field);
    else
        snprintf(buf, NAME_MAX_LEN, "%s", field);
}

/* Up to four tensors of one layer, added together or not at all. */
typedef struct {
    const char *op;
    int n;
    char names[4][NAME_MAX_LEN];
    lab_tensor *t[4];
    int trainable[4];
} pending;

static lab_tensor *pend(pending *pd, const lab_params *p, const char *name, const char *field, int trainable,
                        int ndim, const int64_t *shape)
{
    int i = pd->n;
    join(pd->names[i], name, field);
    if (lab_params_get(p, pd->names[i])) {
        lab_error_set("%s: duplicate name '%s'", pd->op, pd->names[i]);
        return NULL;
    }
    pd->t[i] = lab_tensor_own(lab_tensor_empty(LAB_F32, ndim, shape, LAB_CPU));
    if (!pd->t[i]) return NULL;
    pd->trainable[i] = trainable;
    pd->n++;
    return pd->t[i];
}

static void pend_drop(pending *pd)
{
    for (int i = 0; i < pd->n; i++) lab_tensor_release(pd->t[i]);
    pd->n = 0;
}

static int pend_commit(pending *pd, lab_params *p)
{
    for (int i = 0; i < pd->n; i++) {
        lab_tensor *t = pd->trainable[i] ? lab_params_add(p, pd->names[i], pd->t[i])
                                         : lab_params_add_buffer(p, pd->names[i], pd->t[i]);
        pd->t[i] = NULL;
        /* Names were checked in pend(); only memory can fail here. */
        if (!t) {
            for (int j = i + 1; j < pd->n; j++) lab_tensor_release(pd->t[j]);
            pd->n = 0;
            return -1;
        }
    }
    pd->n = 0;
    return 0;
}

/* Weight U(±1/sqrt(fan_in)) via kaiming_uniform(a = sqrt(5)), bias with the
 * same bound, in PyTorch's order (weight first). */
static int init_affine(lab_tensor *w, lab_tensor *b, lab_rng *rng)
{
    if (lab_init_kaiming_uniform_(w, rng, LAB_FAN_IN, LAB_NONLIN_LEAKY_RELU, sqrt(5.0)) < 0) return -1;
    if (!b) return 0;
    int64_t fan_in;
    lab_init_fans(w, &fan_in, NULL);
    double bound = fan_in > 0 ? 1.0 / sqrt((double)fan_in) : 0.0;
    return lab_init_uniform_(b, rng, (float)-bound, (float)bound);
}

int lab_linear_layer_init(lab_linear_layer *l, lab_params *p, const char *name, int64_t in, int64_t out,
                          int bias, lab_rng *rng)
{
    if (!l || !p || !rng) return lab_error_set("linear_layer: missing layer, parameter list or rng");
    if (in < 0 || out < 0)
        return lab_error_set("linear_layer '%s': negative size (in %lld, out %lld)", name ? name : "",
                             (long long)in, (long long)out);
    pending pd = {.op = "linear_layer"};
    lab_tensor *w = pend(&pd, p, name, "weight", 1, 2, (int64_t[]){out, in});
    lab_tensor *b = (w && bias) ? pend(&pd, p, name, "bias", 1, 1, (int64_t[]){out}) : NULL;
    if (!w || (bias && !b) || init_affine(w, b, rng) < 0 || pend_commit(&pd, p) < 0) {
        pend_drop(&pd);
        return -1;
    }
    l->w = w;
    l->b = b;
    return 0;
}

lab_tensor *lab_linear_layer_forward(const lab_linear_layer *l, lab_tensor *x)
{
    if (!l || !x) return NULL;
    return lab_linear(x, l->w, l->b);
}

int lab_conv2d_layer_init(lab_conv2d_layer *l, lab_params *p, const char *name, int64_t in, int64_t out, int k,
                          int stride, int pad, int bias, lab_rng *rng)
{
    if (!l || !p || !rng) return lab_error_set("conv2d_layer: missing layer, parameter list or rng");
    if (in < 0 || out < 0 || k <= 0 || stride <= 0 || pad < 0)
        return lab_error_set("conv2d_layer '%s': bad geometry (in %lld, out %lld, k %d, stride %d, pad %d)",
                             name ? name : "", (long long)in, (long long)out, k, stride, pad);
    pending pd = {.op = "conv2d_layer"};
    lab_tensor *w = pend(&pd, p, name, "weight", 1, 4, (int64_t[]){out, in, k, k});
    lab_tensor *b = (w && bias) ? pend(&pd, p, name, "bias", 1, 1, (int64_t[]){out}) : NULL;
    if (!w || (bias && !b) || init_affine(w, b, rng) < 0 || pend_commit(&pd, p) < 0) {
        pend_drop(&pd);
        return -1;
    }
    l->w = w;
    l->b = b;
    l->stride = stride;
    l->pad = pad;
    return 0;
}

lab_tensor *lab_conv2d_layer_forward(const lab_conv2d_layer *l, lab_tensor *x)
{
    if (!l || !x) return NULL;
    return lab_conv2d(x, l->w, l->b, l->stride, l->pad);
}

int lab_batchnorm_layer_init(lab_batchnorm_layer *l, lab_params *p, const char *name, int64_t c)
{
    if (!l || !p) return lab_error_set("batchnorm_layer: missing layer or parameter list");
    if (c <= 0) return lab_error_set("batchnorm_layer '%s': %lld channels", name ? name : "", (long long)c);
    pending pd = {.op = "batchnorm_layer"};
    int64_t shape[1] = {c};
    lab_tensor *g = pend(&pd, p, name, "weight", 1, 1, shape);
    lab_tensor *b = g ? pend(&pd, p, name, "bias", 1, 1, shape) : NULL;
    lab_tensor *rm = b ? pend(&pd, p, name, "running_mean", 0, 1, shape) : NULL;
    lab_tensor *rv = rm ? pend(&pd, p, name, "running_var", 0, 1, shape) : NULL;
    if (!rv || lab_tensor_fill_(g, 1.0) < 0 || lab_tensor_fill_(b, 0.0) < 0 || lab_tensor_fill_(rm, 0.0) < 0 ||
        lab_tensor_fill_(rv, 1.0) < 0 || pend_commit(&pd, p) < 0) {
        pend_drop(&pd);
        return -1;
    }
    l->gamma = g;
    l->beta = b;
    l->running_mean = rm;
    l->running_var = rv;
    l->momentum = 0.1f;
    l->eps = 1e-5f;
    return 0;
}

lab_tensor *lab_batchnorm_layer_forward(const lab_batchnorm_layer *l, lab_tensor *x, int training)
{
    if (!l || !x) return NULL;
    return lab_batchnorm(x, l->gamma, l->beta, l->running_mean, l->running_var, training, l->momentum, l->eps);
}

int lab_layernorm_layer_init(lab_layernorm_layer *l, lab_params *p, const char *name, int64_t d)
{
    if (!l || !p) return lab_error_set("layernorm_layer: missing layer or parameter list");
    if (d <= 0) return lab_error_set("layernorm_layer '%s': %lld features", name ? name : "", (long long)d);
    pending pd = {.op = "layernorm_layer"};
    int64_t shape[1] = {d};
    lab_tensor *g = pend(&pd, p, name, "weight", 1, 1, shape);
    lab_tensor *b = g ? pend(&pd, p, name, "bias", 1, 1, shape) : NULL;
    if (!b || lab_tensor_fill_(g, 1.0) < 0 || lab_tensor_fill_(b, 0.0) < 0 || pend_commit(&pd, p) < 0) {
        pend_drop(&pd);
        return -1;
    }
    l->gamma = g;
    l->beta = b;
    l->eps = 1e-5f;
    return 0;
}

lab_tensor *lab_layernorm_layer_forward(const lab_layernorm_layer *l, lab_tensor *x)
{
    if (!l || !x) return NULL;
    return lab_layernorm(x, l->gamma, l->beta, l->eps);
}

int lab_embedding_layer_init(lab_embedding_layer *l, lab_params *p, const char *name, int64_t v, int64_t d,
                             lab_rng *rng)
{
    if (!l || !p || !rng) return lab_error_set("embedding_layer: missing layer, parameter list or rng");
    if (v <= 0 || d <= 0)
        return lab_error_set("embedding_layer '%s': bad size [%lld, %lld]", name ? name : "", (long long)v,
                             (long long)d);
    pending pd = {.op = "embedding_layer"};
    lab_tensor *w = pend(&pd, p, name, "weight", 1, 2, (int64_t[]){v, d});
    if (!w || lab_init_normal_(w, rng, 0.0f, 1.0f) < 0 || pend_commit(&pd, p) < 0) {
        pend_drop(&pd);
        return -1;
    }
    l->weight = w;
    return 0;
}

lab_tensor *lab_embedding_layer_forward(const lab_embedding_layer *l, lab_tensor *idx)
{
    if (!l || !idx) return NULL;
    return lab_embedding(l->weight, idx);
}
