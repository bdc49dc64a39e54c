/* lab/autograd.h — optional reverse-mode autodiff.
 *
 * Ops are recorded only while grad mode is on (the default) and one of their
 * inputs requires grad. Each recorded output holds a node: the op name, its
 * inputs and a backward function (micrograd in spirit). lab_backward(loss)
 * sorts the graph once, runs the backward functions with grad mode off,
 * accumulates into the .grad of every leaf that requires grad, and frees the
 * graph. Graphs are independent: two losses built from disjoint parameters
 * (NoProp's blocks) can be differentiated one after the other, or on two
 * threads, without interfering.
 *
 *     lab_tensor_set_requires_grad(w, 1);
 *     lab_tensor *loss = lab_mse_loss(lab_linear(x, w, NULL), y);
 *     lab_backward(loss);               // w->grad now holds dloss/dw
 *
 *     int prev = lab_grad_set_enabled(0);   // inference: nothing recorded
 *     ...
 *     lab_grad_set_enabled(prev);
 */
#ifndef LAB_AUTOGRAD_H
#define LAB_AUTOGRAD_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Per thread; returns the previous setting. */
int lab_grad_set_enabled(int on);
int lab_grad_enabled(void);

/* Backpropagate from a one-element tensor (seed 1). Returns 0 or -1. */
int lab_backward(lab_tensor *loss);
/* Backpropagate from any tensor with a given output gradient (same shape). */
int lab_backward_with(lab_tensor *out, lab_tensor *grad);

/* --- writing a differentiable op ----------------------------------------
 * An op computes its output, then calls lab_autograd_record(). When that
 * returns a node, the op stores what its backward needs (saved tensors are
 * retained by the node, scalars in fparam/iparam). The backward function gets
 * the output gradient and calls lab_node_accumulate() for each input. */
typedef void (*lab_backward_fn)(lab_node *node, lab_tensor *grad_out);

#define LAB_NODE_SAVED 6
struct lab_node {
    const char *op;
    int ninputs;
    lab_tensor **inputs;           /* retained */
    lab_tensor *saved[LAB_NODE_SAVED]; /* retained when set via lab_node_save */
    double fparam[8];
    int64_t iparam[8];
    void *ctx;                     /* op-private, freed with ctx_free */
    void (*ctx_free)(void *);
    lab_backward_fn backward;
    lab_tensor *out;               /* weak: the tensor this node produced */
    int consumed;                  /* backward ran and released the inputs */
};

/* Returns NULL (record nothing) when grad mode is off or no input requires
 * grad; otherwise attaches a node to `out`, marks it requires_grad, and
 * retains the inputs. NULL inputs are allowed and skipped. */
lab_node *lab_autograd_record(lab_tensor *out, const char *op, lab_backward_fn fn,
                              int ninputs, lab_tensor *const *inputs);
/* Retain t in node->saved[slot]. */
void lab_node_save(lab_node *node, int slot, lab_tensor *t);
/* Add g (same shape as input i) to input i's gradient, if it needs one. */
void lab_node_accumulate(lab_node *node, int i, lab_tensor *g);
/* Does input i need a gradient? */
int lab_node_needs_grad(const lab_node *node, int i);

/* --- checking ------------------------------------------------------------
 * Finite-difference gradient check of f at the given inputs (f32, cpu):
 * compares d(sum(f(x) * r))/dx from lab_backward with central differences
 * (r a fixed random projection). Returns 0 when every element agrees within
 * atol + rtol*|numeric|, else -1 with a message naming the input and index. */
typedef lab_tensor *(*lab_gradcheck_fn)(lab_tensor *const *inputs, void *user);
int lab_gradcheck(lab_gradcheck_fn f, int ninputs, lab_tensor *const *inputs, void *user,
                  double eps, double atol, double rtol);

#ifdef __cplusplus
}
#endif
#endif
