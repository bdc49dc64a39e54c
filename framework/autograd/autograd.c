/* Reverse-mode autodiff: nodes hang off the tensors they produced; backward
 * sorts them once (iterative DFS), runs each backward function with grad mode
 * off inside its own scope, and frees the graph as it goes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab.h"
#include "tensor_int.h"

static _Thread_local int grad_disabled; /* 0 = enabled (the default) */

int lab_grad_set_enabled(int on)
{
    int prev = !grad_disabled;
    grad_disabled = !on;
    return prev;
}

int lab_grad_enabled(void) { return !grad_disabled; }

lab_node *lab_autograd_record(lab_tensor *out, const char *op, lab_backward_fn fn, int ninputs,
                              lab_tensor *const *inputs)
{
    if (!out || grad_disabled) return NULL;
    int any = 0;
    for (int i = 0; i < ninputs; i++)
        if (inputs[i] && inputs[i]->requires_grad) any = 1;
    if (!any) return NULL;
    lab_node *n = calloc(1, sizeof *n);
    lab_tensor **in = calloc((size_t)(ninputs ? ninputs : 1), sizeof *in);
    if (!n || !in) {
        free(n);
        free(in);
        return NULL; /* out of memory: the op result simply is not differentiable */
    }
    n->op = op;
    n->ninputs = ninputs;
    n->inputs = in;
    for (int i = 0; i < ninputs; i++) in[i] = lab_tensor_retain(inputs[i]);
    n->backward = fn;
    n->out = out;
    if (out->node) lab_node_free(out->node);
    out->node = n;
    out->requires_grad = 1;
    return n;
}

void lab_node_save(lab_node *node, int slot, lab_tensor *t)
{
    if (!node || slot < 0 || slot >= LAB_NODE_SAVED) return;
    lab_tensor_release(node->saved[slot]);
    node->saved[slot] = lab_tensor_retain(t);
}

static void node_release_inputs(lab_node *n)
{
    for (int i = 0; i < n->ninputs; i++) lab_tensor_release(n->inputs[i]);
    free(n->inputs);
    n->inputs = NULL;
    n->ninputs = 0;
    for (int i = 0; i < LAB_NODE_SAVED; i++) {
        lab_tensor_release(n->saved[i]);
        n->saved[i] = NULL;
    }
    if (n->ctx_free) n->ctx_free(n->ctx);
    n->ctx = NULL;
    n->ctx_free = NULL;
}

void lab_node_free(lab_node *node)
{
    if (!node) return;
    node_release_inputs(node);
    free(node);
}

int lab_node_needs_grad(const lab_node *node, int i)
{
    return node && i >= 0 && i < node->ninputs && node->inputs[i] && node->inputs[i]->requires_grad;
}

/* A grad tensor may be mutated in place only when nobody else can see it. */
static int exclusively_owned(const lab_tensor *g)
{
    return __atomic_load_n(&g->refcount, __ATOMIC_ACQUIRE) == 1 &&
           __atomic_load_n(&g->storage->refcount, __ATOMIC_ACQUIRE) == 1;
}

static void accumulate_into(lab_tensor *t, lab_tensor *g)
{
    if (!t->grad) {
        /* Leaves keep their gradient after this scope: give them a private
         * copy so a later in-place accumulation cannot touch anyone else. */
        t->grad = t->node ? lab_tensor_retain(g) : lab_tensor_own(lab_tensor_clone(lab_tensor_detach(g)));
        return;
    }
    if (exclusively_owned(t->grad) && lab_device_eq(t->grad->device, g->device)) {
        lab_tensor_backend(g)->accumulate(g->numel, lab_tensor_raw(t->grad), lab_tensor_raw(g));
        return;
    }
    lab_tensor *sum = lab_tensor_own(lab_add(t->grad, g));
    if (!sum) return;
    lab_tensor_release(t->grad);
    t->grad = sum;
}

void lab_node_accumulate(lab_node *node, int i, lab_tensor *g)
{
    if (!g || !lab_node_needs_grad(node, i)) return;
    lab_tensor *t = node->inputs[i];
    if (!lab_tensor_same_shape(t, g)) {
        char a[96], b[96];
        fprintf(stderr, "lab: bug: backward of %s gave grad %s for input %d of %s\n", node->op,
                lab_tensor_desc(g, a, sizeof a), i, lab_tensor_desc(t, b, sizeof b));
        abort();
    }
    accumulate_into(t, g);
}

/* --- graph traversal -------------------------------------------------------- */

typedef struct {
    lab_node **v;
    int n, cap;
} node_vec;

static int vec_push(node_vec *vec, lab_node *n)
{
    if (vec->n == vec->cap) {
        int cap = vec->cap ? vec->cap * 2 : 256;
        lab_node **v = realloc(vec->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = n;
    return 0;
}

/* Post-order of the nodes reachable from root, without recursion (graphs of
 * thousands of ops must not overflow the stack). `consumed` doubles as the
 * visited mark during the walk (-1 = visited, 1 = already differentiated). */
static int topo_sort(lab_node *root, node_vec *order)
{
    typedef struct {
        lab_node *n;
        int next;
    } frame;
    frame *fr = NULL;
    int nfr = 0, capfr = 0;
    int rc = 0;
    root->consumed = -1;
#define PUSH(node_)                                                                                \
    do {                                                                                           \
        if (nfr == capfr) {                                                                        \
            capfr = capfr ? capfr * 2 : 256;                                                       \
            frame *nf = realloc(fr, (size_t)capfr * sizeof *fr);                                   \
            if (!nf) {                                                                             \
                rc = -1;                                                                           \
                goto done;                                                                         \
            }                                                                                      \
            fr = nf;                                                                               \
        }                                                                                          \
        fr[nfr].n = (node_);                                                                       \
        fr[nfr].next = 0;                                                                          \
        nfr++;                                                                                     \
    } while (0)
    PUSH(root);
    while (nfr > 0) {
        frame *f = &fr[nfr - 1];
        if (f->next < f->n->ninputs) {
            lab_tensor *in = f->n->inputs[f->next++];
            if (in && in->requires_grad && in->node) {
                if (in->node->consumed == 1) {
                    rc = lab_error_set("backward: the graph through '%s' was already used by an "
                                       "earlier lab_backward (build the loss again)", in->node->op);
                    goto done;
                }
                if (in->node->consumed == 0) {
                    in->node->consumed = -1;
                    PUSH(in->node);
                }
            }
        } else {
            if (vec_push(order, f->n) < 0) {
                rc = -1;
                goto done;
            }
            nfr--;
        }
    }
#undef PUSH
done:
    if (rc < 0) {
        for (int i = 0; i < order->n; i++)
            if (order->v[i]->consumed == -1) order->v[i]->consumed = 0;
        for (int i = 0; i < nfr; i++)
            if (fr && fr[i].n->consumed == -1) fr[i].n->consumed = 0;
        if (!lab_error()[0]) lab_error_set("backward: out of memory");
    }
    free(fr); /* after the loop above, which reads the frames */
    return rc;
}

int lab_backward_with(lab_tensor *out, lab_tensor *grad)
{
    if (!out || !grad) return -1;
    if (!out->requires_grad || !out->node) {
        if (out->requires_grad) { /* a leaf: its gradient is grad itself */
            accumulate_into(out, grad);
            return 0;
        }
        return lab_error_set("backward: the tensor does not require grad (no parameter took part "
                             "in computing it, or grad mode was off)");
    }
    if (out->node->consumed == 1)
        return lab_error_set("backward: this graph was already used by an earlier lab_backward");
    if (!lab_tensor_same_shape(out, grad)) {
        char a[96], b[96];
        return lab_error_set("backward: grad %s does not match output %s", lab_tensor_desc(grad, a, sizeof a),
                             lab_tensor_desc(out, b, sizeof b));
    }
    node_vec order = {0};
    if (topo_sort(out->node, &order) < 0) {
        free(order.v);
        return -1;
    }
    /* Nodes hold their outputs weakly; keep every output alive until the
     * walk ends, whatever the caller's scopes release meanwhile. */
    for (int i = 0; i < order.n; i++) lab_tensor_retain(order.v[i]->out);
    int prev = lab_grad_set_enabled(0);
    lab_tensor_release(out->grad);
    out->grad = lab_tensor_retain(grad);
    for (int i = order.n - 1; i >= 0; i--) {
        lab_node *n = order.v[i];
        lab_tensor *t = n->out;
        lab_tensor *g = t->grad;
        t->grad = NULL;
        if (g) {
            lab_scope_begin();
            n->backward(n, g);
            lab_scope_end();
            lab_tensor_release(g);
        }
        /* Done with this node: drop what it holds so memory falls as we go. */
        node_release_inputs(n);
        n->consumed = 1;
    }
    lab_grad_set_enabled(prev);
    for (int i = 0; i < order.n; i++) lab_tensor_release(order.v[i]->out);
    free(order.v);
    return 0;
}

int lab_backward(lab_tensor *loss)
{
    if (!loss) return -1;
    if (loss->numel != 1) {
        char d[96];
        return lab_error_set("backward: loss %s has %lld elements; use lab_backward_with for a "
                             "non-scalar output", lab_tensor_desc(loss, d, sizeof d), (long long)loss->numel);
    }
    lab_scope_begin();
    lab_tensor *seed = lab_tensor_full(LAB_F32, loss->ndim, loss->shape, 1.0, loss->device);
    int rc = seed ? lab_backward_with(loss, seed) : -1;
    lab_scope_end();
    return rc;
}
