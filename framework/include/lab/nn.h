/* lab/nn.h — parameters, initializers and common layers.
 *
 * A model is a named parameter list (lab_params) plus small layer structs
 * that point into it. The list owns the tensors; layers borrow them.
 *
 *     lab_params *p = lab_params_new();
 *     lab_linear_layer fc1, fc2;
 *     lab_linear_layer_init(&fc1, p, "fc1", 784, 256, 1, &rng);
 *     lab_linear_layer_init(&fc2, p, "fc2", 256, 10, 1, &rng);
 *     ...  logits = lab_linear_layer_forward(&fc2, lab_relu(lab_linear_layer_forward(&fc1, x)));
 *     lab_params_free(p);
 */
#ifndef LAB_NN_H
#define LAB_NN_H

#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- parameter lists ----------------------------------------------------- */
typedef struct lab_params {
    int n, cap;
    char **names;         /* owned copies */
    lab_tensor **tensors; /* one reference each */
    int *trainable;       /* 0 for buffers such as BN running stats */
} lab_params;

lab_params *lab_params_new(void);
/* Releases every tensor. NULL is fine. */
void lab_params_free(lab_params *p);
/* Takes over the caller's reference to t (lab_tensor_own()s it out of every
 * scope), marks it requires_grad, and returns it. A duplicate or empty name
 * is an error (NULL); the reference is then dropped, so nothing leaks. */
lab_tensor *lab_params_add(lab_params *p, const char *name, lab_tensor *t);
/* Same, but not trained (never requires grad, not counted as a parameter). */
lab_tensor *lab_params_add_buffer(lab_params *p, const char *name, lab_tensor *t);
lab_tensor *lab_params_get(const lab_params *p, const char *name);
/* Position of name in the list, or -1. */
int lab_params_index(const lab_params *p, const char *name);
/* Number of trainable scalars. */
int64_t lab_params_count(const lab_params *p);
void lab_params_zero_grad(lab_params *p);
/* Move every tensor to dev in place (layers keep working: the tensor
 * objects stay the same, their storage moves). */
int lab_params_to(lab_params *p, lab_device dev);
/* Copy values from src into the same-named tensors of dst (shapes must
 * match; names missing in src are an error unless allow_missing). */
int lab_params_load(lab_params *dst, const lab_params *src, int allow_missing);
/* Same, reading src's "<prefix><name>" for each dst name (checkpoints that
 * hold "model." and "optim." entries). Nothing is copied unless all match. */
int lab_params_load_prefix(lab_params *dst, const lab_params *src, const char *prefix, int allow_missing);
/* Add every tensor of src to dst as "<prefix><name>", sharing it (retained),
 * with src's trainable flag and without touching requires_grad: how to
 * gather a model (and lab_optim_state_export) into one list to save. A
 * name clash is an error and adds nothing. */
int lab_params_extend(lab_params *dst, const lab_params *src, const char *prefix);

/* --- initializers (in place, not recorded) ------------------------------- */
typedef enum {
    LAB_NONLIN_LINEAR = 0,
    LAB_NONLIN_RELU,
    LAB_NONLIN_LEAKY_RELU,
    LAB_NONLIN_TANH,
    LAB_NONLIN_SIGMOID,
    LAB_NONLIN_SELU, /* gain 3/4, as PyTorch */
} lab_nonlin;

typedef enum { LAB_FAN_IN = 0, LAB_FAN_OUT = 1 } lab_fan_mode;

/* PyTorch's calculate_gain. param is the leaky_relu slope. */
double lab_init_gain(lab_nonlin nl, double param);
/* PyTorch convention: weight [out, in, k...]: fan_in = in * prod(k),
 * fan_out = out * prod(k). 1-D tensors: fan_in = fan_out = shape[0]. */
int lab_init_fans(const lab_tensor *t, int64_t *fan_in, int64_t *fan_out);

int lab_init_zeros_(lab_tensor *t);
int lab_init_constant_(lab_tensor *t, float v);
int lab_init_uniform_(lab_tensor *t, lab_rng *rng, float lo, float hi);
int lab_init_normal_(lab_tensor *t, lab_rng *rng, float mean, float std);
int lab_init_xavier_uniform_(lab_tensor *t, lab_rng *rng, double gain);
int lab_init_xavier_normal_(lab_tensor *t, lab_rng *rng, double gain);
int lab_init_kaiming_uniform_(lab_tensor *t, lab_rng *rng, lab_fan_mode mode, lab_nonlin nl, double param);
int lab_init_kaiming_normal_(lab_tensor *t, lab_rng *rng, lab_fan_mode mode, lab_nonlin nl, double param);
/* U(-a, a) with a = sqrt(3) * std: a given variance per layer (Virgo). */
int lab_init_uniform_std_(lab_tensor *t, lab_rng *rng, double std);
/* Rows orthonormal (or columns, whichever is fewer), as torch.nn.init.orthogonal_. */
int lab_init_orthogonal_(lab_tensor *t, lab_rng *rng, double gain);

/* --- layers (PyTorch default initialisation) ------------------------------
 * Tensors are named as in a PyTorch state_dict: "<name>.weight", ".bias",
 * and for BatchNorm ".running_mean", ".running_var" (buffers). They are
 * created on the cpu (lab_params_to moves them). A failing init (bad size,
 * duplicate name) returns -1 and adds nothing to the list. */
typedef struct lab_linear_layer {
    lab_tensor *w; /* [out, in] */
    lab_tensor *b; /* [out] or NULL */
} lab_linear_layer;
int lab_linear_layer_init(lab_linear_layer *l, lab_params *p, const char *name, int64_t in,
                          int64_t out, int bias, lab_rng *rng);
lab_tensor *lab_linear_layer_forward(const lab_linear_layer *l, lab_tensor *x);

typedef struct lab_conv2d_layer {
    lab_tensor *w; /* [out, in, k, k] */
    lab_tensor *b; /* [out] or NULL */
    int stride, pad;
} lab_conv2d_layer;
int lab_conv2d_layer_init(lab_conv2d_layer *l, lab_params *p, const char *name, int64_t in,
                          int64_t out, int k, int stride, int pad, int bias, lab_rng *rng);
lab_tensor *lab_conv2d_layer_forward(const lab_conv2d_layer *l, lab_tensor *x);

typedef struct lab_batchnorm_layer {
    lab_tensor *gamma, *beta;              /* [C] trainable */
    lab_tensor *running_mean, *running_var; /* [C] buffers */
    float momentum, eps;                    /* 0.1, 1e-5 */
} lab_batchnorm_layer;
int lab_batchnorm_layer_init(lab_batchnorm_layer *l, lab_params *p, const char *name, int64_t c);
lab_tensor *lab_batchnorm_layer_forward(const lab_batchnorm_layer *l, lab_tensor *x, int training);

typedef struct lab_layernorm_layer {
    lab_tensor *gamma, *beta; /* [D] */
    float eps;
} lab_layernorm_layer;
int lab_layernorm_layer_init(lab_layernorm_layer *l, lab_params *p, const char *name, int64_t d);
lab_tensor *lab_layernorm_layer_forward(const lab_layernorm_layer *l, lab_tensor *x);

typedef struct lab_embedding_layer {
    lab_tensor *weight; /* [V, D], N(0, 1) init */
} lab_embedding_layer;
int lab_embedding_layer_init(lab_embedding_layer *l, lab_params *p, const char *name, int64_t v,
                             int64_t d, lab_rng *rng);
lab_tensor *lab_embedding_layer_forward(const lab_embedding_layer *l, lab_tensor *idx);

#ifdef __cplusplus
}
#endif
#endif
