/* The autograd engine through the elementwise, shape and reduction ops:
 * accumulation, independent graphs (one after another and on two threads),
 * no-grad mode, detach, zero_grad, reuse of a consumed graph, very deep
 * graphs, a composite pinned against PyTorch, and the gradchecker itself. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "labtest.h"

static float grad_at(const lab_tensor *t, int64_t i)
{
    cr_assert_not_null(t->grad, "no grad");
    return lab_tensor_f32(t->grad)[i];
}

Test(autograd, grads_accumulate_when_a_tensor_is_used_twice)
{
    lab_scope_begin();
    lab_tensor *x = lab_tensor_from_f32((float[]){1, -2, 3}, 1, (int64_t[]){3});
    lab_tensor_set_requires_grad(x, 1);
    /* y = x*x + x: three uses of x, dy/dx = 2x + 1 */
    lab_tensor *y = lab_add(lab_mul(x, x), x);
    cr_assert_eq(lab_backward(lab_sum_all(y)), 0, "%s", lab_error());
    lt_assert_tensor_close(x->grad, (float[]){3, -3, 7}, 0, 0);
    /* add(x, x): both slots of one node */
    lab_tensor_zero_grad(x);
    lab_backward(lab_sum_all(lab_add(x, x)));
    lt_assert_tensor_close(x->grad, (float[]){2, 2, 2}, 0, 0);
    /* a shared intermediate: h used by two branches */
    lab_tensor_zero_grad(x);
    lab_tensor *h = lab_exp(x);
    lab_backward(lab_sum_all(lab_add(lab_mul_scalar(h, 2), lab_square(h))));
    const float xv[3] = {1, -2, 3};
    float want[3];
    for (int i = 0; i < 3; i++) want[i] = (2 + 2 * expf(xv[i])) * expf(xv[i]);
    lt_assert_tensor_close(x->grad, want, 0, 1e-6);
    /* without zero_grad, a second backward adds to the first */
    lab_backward(lab_sum_all(lab_add(lab_mul_scalar(lab_exp(x), 2), lab_square(lab_exp(x)))));
    for (int i = 0; i < 3; i++) want[i] *= 2;
    lt_assert_tensor_close(x->grad, want, 0, 1e-6);
    lab_scope_end();
}

/* --- independent graphs ------------------------------------------------------ */

/* A small "block": loss = mean((tanh(x * w + b) - t)^2) + softmax-CE-ish term. */
static lab_tensor *block_loss(lab_tensor *x, lab_tensor *w, lab_tensor *b, lab_tensor *t)
{
    lab_tensor *h = lab_tanh(lab_add(lab_mul(x, w), b));
    lab_tensor *mse = lab_mean_all(lab_square(lab_sub(h, t)));
    lab_tensor *ce = lab_neg(lab_mean_all(lab_mul(lab_log_softmax(h, 1), t)));
    return lab_add(mse, ce);
}

typedef struct {
    lab_tensor *x, *w, *b, *t;
} block;

static block make_block(uint64_t seed, lab_tensor *x)
{
    block k;
    k.x = x;
    k.w = lab_tensor_own(lt_randn(seed, 1, (int64_t[]){16}));
    k.b = lab_tensor_own(lt_randn(seed + 1, 2, (int64_t[]){8, 1}));
    k.t = lab_tensor_own(lt_rand(seed + 2, 2, (int64_t[]){8, 16}, 0, 1));
    lab_tensor_set_requires_grad(k.w, 1);
    lab_tensor_set_requires_grad(k.b, 1);
    return k;
}

static void free_block(block *k)
{
    lab_tensor_release(k->w);
    lab_tensor_release(k->b);
    lab_tensor_release(k->t);
}

static float *copy_grad(const lab_tensor *t)
{
    cr_assert_not_null(t->grad);
    float *v = malloc((size_t)t->numel * sizeof *v);
    lab_tensor_copy_to_host(t->grad, v);
    return v;
}

Test(autograd, two_losses_over_disjoint_parameters_are_independent)
{
    lab_tensor *x = lab_tensor_own(lt_randn(1, 2, (int64_t[]){8, 16}));
    block k1 = make_block(10, x), k2 = make_block(20, x);

    /* separately */
    lab_scope_begin();
    lab_backward(block_loss(x, k1.w, k1.b, k1.t));
    lab_scope_end();
    float *w1 = copy_grad(k1.w), *b1 = copy_grad(k1.b);
    cr_assert_null(k2.w->grad);
    lab_tensor_zero_grad(k1.w);
    lab_tensor_zero_grad(k1.b);
    lab_scope_begin();
    lab_backward(block_loss(x, k2.w, k2.b, k2.t));
    lab_scope_end();
    float *w2 = copy_grad(k2.w), *b2 = copy_grad(k2.b);
    cr_assert_null(k1.w->grad);
    lab_tensor_zero_grad(k2.w);
    lab_tensor_zero_grad(k2.b);

    /* both graphs built first, then differentiated one after the other */
    lab_scope_begin();
    lab_tensor *l1 = block_loss(x, k1.w, k1.b, k1.t), *l2 = block_loss(x, k2.w, k2.b, k2.t);
    cr_assert_eq(lab_backward(l2), 0, "%s", lab_error());
    cr_assert_null(k1.w->grad);
    cr_assert_eq(lab_backward(l1), 0, "%s", lab_error());
    lab_scope_end();
    lt_assert_tensor_close(k1.w->grad, w1, 0, 0);
    lt_assert_tensor_close(k1.b->grad, b1, 0, 0);
    lt_assert_tensor_close(k2.w->grad, w2, 0, 0);
    lt_assert_tensor_close(k2.b->grad, b2, 0, 0);
    free(w1), free(b1), free(w2), free(b2);
    free_block(&k1);
    free_block(&k2);
    lab_tensor_release(x);
}

typedef struct {
    block *k;
    int reps;
    float *w, *b; /* expected grads */
    int bad;
} thread_job;

static void *run_block(void *arg)
{
    thread_job *j = arg;
    for (int r = 0; r < j->reps && !j->bad; r++) {
        lab_scope_begin();
        if (lab_backward(block_loss(j->k->x, j->k->w, j->k->b, j->k->t)) < 0) j->bad = 1;
        lab_scope_end();
        float w[16], b[8];
        lab_tensor_copy_to_host(j->k->w->grad, w);
        lab_tensor_copy_to_host(j->k->b->grad, b);
        if (memcmp(w, j->w, sizeof w) || memcmp(b, j->b, sizeof b)) j->bad = 2;
        lab_tensor_zero_grad(j->k->w);
        lab_tensor_zero_grad(j->k->b);
    }
    return NULL;
}

Test(autograd, two_losses_on_two_threads)
{
    lab_tensor *x = lab_tensor_own(lt_randn(1, 2, (int64_t[]){8, 16}));
    block k[2] = {make_block(10, x), make_block(20, x)};
    thread_job jobs[2];
    for (int i = 0; i < 2; i++) {
        lab_scope_begin();
        lab_backward(block_loss(x, k[i].w, k[i].b, k[i].t));
        lab_scope_end();
        jobs[i] = (thread_job){&k[i], 200, copy_grad(k[i].w), copy_grad(k[i].b), 0};
        lab_tensor_zero_grad(k[i].w);
        lab_tensor_zero_grad(k[i].b);
    }
    pthread_t th[2];
    for (int i = 0; i < 2; i++) cr_assert_eq(pthread_create(&th[i], NULL, run_block, &jobs[i]), 0);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(jobs[i].bad, 0, "thread %d: %s", i, jobs[i].bad == 1 ? "backward failed" : "grads differ");
        free(jobs[i].w);
        free(jobs[i].b);
        free_block(&k[i]);
    }
    lab_tensor_release(x);
}

/* --- modes and cut points ------------------------------------------------------ */

Test(autograd, no_grad_regions_record_nothing)
{
    lab_scope_begin();
    lab_tensor *w = lt_randn(1, 2, (int64_t[]){3, 4});
    lab_tensor_set_requires_grad(w, 1);
    cr_assert(lab_grad_enabled());
    int prev = lab_grad_set_enabled(0);
    cr_assert_eq(prev, 1);
    lab_tensor *ys[] = {lab_exp(w), lab_add(w, w), lab_sum(w, 0, 0), lab_softmax(w, 1), lab_reshape(w, 1, (int64_t[]){12}),
                        lab_transpose(w, 0, 1), lab_concat(2, (lab_tensor *[]){w, w}, 0), lab_slice(w, 1, 0, 2),
                        lab_sum_to(w, 1, (int64_t[]){4}), lab_where(w, w, w), lab_max(w, 1, 0)};
    for (size_t i = 0; i < sizeof ys / sizeof ys[0]; i++) {
        cr_assert_not_null(ys[i], "%zu: %s", i, lab_error());
        cr_assert_null(ys[i]->node, "op %zu recorded a node", i);
        cr_assert_eq(ys[i]->requires_grad, 0, "op %zu requires grad", i);
    }
    cr_assert_eq(lab_backward(lab_sum_all(ys[0])), -1);
    lt_assert_error_contains("backward: the tensor does not require grad");
    lab_grad_set_enabled(prev);
    cr_assert(lab_grad_enabled());
    lab_tensor *y = lab_exp(w);
    cr_assert_not_null(y->node);
    cr_assert_str_eq(y->node->op, "exp");
    /* grad mode is per thread: a region elsewhere does not leak here */
    lab_scope_end();
}

Test(autograd, detach_stops_gradients)
{
    lab_scope_begin();
    lab_tensor *w = lab_tensor_from_f32((float[]){1, 2, 3}, 1, (int64_t[]){3});
    lab_tensor_set_requires_grad(w, 1);
    lab_tensor *d = lab_tensor_detach(w);
    cr_assert_eq(d->requires_grad, 0);
    cr_assert_null(d->node);
    cr_assert_eq(lab_tensor_raw(d), lab_tensor_raw(w)); /* same storage */
    /* y = detach(w) * w: only the second factor carries a gradient */
    lab_backward(lab_sum_all(lab_mul(d, w)));
    lt_assert_tensor_close(w->grad, (float[]){1, 2, 3}, 0, 0);
    /* a detached intermediate cuts the whole branch above it */
    lab_tensor_zero_grad(w);
    lab_tensor *h = lab_exp(w);
    lab_tensor *y = lab_add(lab_tensor_detach(h), w);
    lab_backward(lab_sum_all(y));
    lt_assert_tensor_close(w->grad, (float[]){1, 1, 1}, 0, 0);
    lab_scope_end();
}

Test(autograd, zero_grad_drops_the_gradient)
{
    lab_scope_begin();
    lab_tensor *w = lt_randn(2, 1, (int64_t[]){5});
    lab_tensor_set_requires_grad(w, 1);
    lab_backward(lab_sum_all(lab_mul_scalar(w, 3)));
    cr_assert_float_eq(grad_at(w, 4), 3.0f, 0);
    lab_tensor_zero_grad(w);
    cr_assert_null(w->grad);
    lab_backward(lab_sum_all(lab_mul_scalar(w, 2)));
    cr_assert_float_eq(grad_at(w, 0), 2.0f, 0); /* fresh, not 3 + 2 */
    lab_scope_end();
}

Test(autograd, reusing_a_consumed_graph_is_an_error)
{
    lab_scope_begin();
    lab_tensor *w = lt_randn(3, 1, (int64_t[]){4});
    lab_tensor_set_requires_grad(w, 1);
    lab_tensor *h = lab_tanh(w);
    lab_tensor *loss = lab_sum_all(lab_square(h));
    cr_assert_eq(lab_backward(loss), 0, "%s", lab_error());
    cr_assert_eq(lab_backward(loss), -1);
    lt_assert_error_contains("backward: this graph was already used by an earlier lab_backward");
    /* a new loss on top of the consumed part of the graph */
    lab_tensor *loss2 = lab_mean_all(h);
    cr_assert_eq(lab_backward(loss2), -1);
    lt_assert_error_contains("already used by an earlier lab_backward");
    /* rebuilding from the leaves works again */
    lab_tensor_zero_grad(w);
    cr_assert_eq(lab_backward(lab_mean_all(lab_tanh(w))), 0, "%s", lab_error());
    /* other misuse */
    cr_assert_eq(lab_backward(lab_tanh(w)), -1);
    lt_assert_error_contains("backward: loss f32[4] has 4 elements");
    cr_assert_eq(lab_backward_with(lab_tanh(w), lt_randn(1, 1, (int64_t[]){3})), -1);
    lt_assert_error_contains("backward: grad f32[3] does not match output f32[4]");
    lab_scope_end();
}

Test(autograd, deep_chain_backpropagates_without_stack_overflow)
{
    lab_scope_begin();
    lab_tensor *x = lab_tensor_from_f32((float[]){0.5f, -1.0f}, 1, (int64_t[]){2});
    lab_tensor_set_requires_grad(x, 1);
    lab_tensor *y = x;
    for (int i = 0; i < 20000; i++) y = (i & 1) ? lab_add_scalar(y, 0.001f) : lab_mul_scalar(y, 1.0f);
    cr_assert_not_null(y);
    cr_assert_eq(lab_backward(lab_sum_all(y)), 0, "%s", lab_error());
    lt_assert_tensor_close(x->grad, (float[]){1, 1}, 0, 0);
    lab_scope_end();
}

/* A deep graph that is never differentiated is freed when its last
 * reference goes, however long it is. */
Test(autograd, deep_chain_without_backward_is_freed)
{
    size_t before, after;
    lab_tensor *x = lab_tensor_own(lab_tensor_from_f32((float[]){1, 2}, 1, (int64_t[]){2}));
    lab_tensor_set_requires_grad(x, 1);
    lab_memory_stats(LAB_CPU, &before, NULL);
    lab_scope_begin();
    lab_tensor *y = x;
    for (int i = 0; i < 20000; i++) y = lab_sin(y);
    lab_scope_end();
    lab_memory_stats(LAB_CPU, &after, NULL);
    cr_assert_eq(before, after);
    lab_tensor_release(x);
}

/* --- a composite against PyTorch ------------------------------------------------ */

/* PyTorch 1.13:
 *   h = tanh(x * w + b); p = log_softmax(3h, 1)
 *   loss = -(p * t).sum() / 2 + sigmoid(h).var(0, unbiased=True).sum() + h.max(1)[0].mean() */
Test(autograd, composite_matches_pytorch)
{
    lab_scope_begin();
    lab_tensor *x = lab_tensor_from_f32((float[]){0.5f, -1, 2, 1.5f, 0.25f, -0.75f}, 2, (int64_t[]){2, 3});
    lab_tensor *w = lab_tensor_from_f32((float[]){0.3f, -0.2f, 0.1f}, 1, (int64_t[]){3});
    lab_tensor *b = lab_tensor_from_f32((float[]){0.05f}, 1, (int64_t[]){1});
    lab_tensor *t = lab_tensor_from_f32((float[]){1, 0, 0, 0, 0, 1}, 2, (int64_t[]){2, 3});
    lab_tensor_set_requires_grad(w, 1);
    lab_tensor_set_requires_grad(b, 1);
    lab_tensor *h = lab_tanh(lab_add(lab_mul(x, w), b));
    lab_tensor *p = lab_log_softmax(lab_mul_scalar(h, 3), 1);
    lab_tensor *l1 = lab_mul_scalar(lab_sum_all(lab_mul(p, t)), -0.5f);
    lab_tensor *l2 = lab_sum_all(lab_var(lab_sigmoid(h), 0, 1, 0));
    lab_tensor *l3 = lab_mean_all(lab_max(h, 1, 0));
    lab_tensor *loss = lab_add(lab_add(l1, l2), l3);
    cr_assert_float_eq(lab_tensor_item(loss), 1.8849949836730957f, 2e-6);
    cr_assert_eq(lab_backward(loss), 0, "%s", lab_error());
    lt_assert_tensor_close(w->grad, (float[]){1.2914478778839111f, -0.9164592623710632f, 1.9756243228912354f}, 1e-6, 1e-5);
    lt_assert_tensor_close(b->grad, (float[]){0.6201941967010498f}, 1e-6, 1e-5);
    lab_scope_end();
}

/* --- the gradchecker catches a wrong backward ------------------------------------ */

static void wrong_backward(lab_node *node, lab_tensor *g)
{
    lab_node_accumulate(node, 0, lab_mul_scalar(g, 2.0f)); /* d(x^2)/dx is 2x, not 2 */
}

static lab_tensor *bad_square(lab_tensor *const *in, void *user)
{
    (void)user;
    int prev = lab_grad_set_enabled(0);
    lab_tensor *y = lab_square(in[0]);
    lab_grad_set_enabled(prev);
    lab_autograd_record(y, "bad_square", wrong_backward, 1, in);
    return y;
}

static lab_tensor *good_square(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_square(in[0]);
}

Test(autograd, gradcheck_catches_a_wrong_backward)
{
    lab_scope_begin();
    lab_tensor *x = lab_tensor_from_f32((float[]){0.3f, 1.5f, -2}, 1, (int64_t[]){3});
    lab_tensor_set_requires_grad(x, 1);
    cr_assert_eq(lab_gradcheck(good_square, 1, &x, NULL, 1e-2, 1e-3, 1e-3), 0, "%s", lab_error());
    cr_assert_eq(lab_gradcheck(bad_square, 1, &x, NULL, 1e-2, 1e-3, 1e-3), -1);
    lt_assert_error_contains("gradcheck: input 0 element");
    lab_scope_end();
}
