/* Tensors: creation, host copies, views, item, cast, scopes and keep,
 * memory accounting over a scoped training-like loop, and errors. */
#include <stdlib.h>
#include <string.h>

#include "labtest.h"

static size_t mem_now(void)
{
    size_t cur;
    lab_memory_stats(LAB_CPU, &cur, NULL);
    return cur;
}

Test(tensor, creation)
{
    lab_scope_begin();
    int64_t s[3] = {2, 3, 4};
    lab_tensor *e = lab_tensor_empty(LAB_F32, 3, s, LAB_CPU);
    cr_assert_not_null(e);
    cr_assert(e->dtype == LAB_F32 && e->ndim == 3 && e->numel == 24);
    cr_assert(e->device.type == LAB_DEV_CPU && e->requires_grad == 0 && e->grad == NULL && e->node == NULL);
    lab_tensor *z = lab_tensor_zeros(LAB_F32, 3, s, LAB_CPU);
    for (int i = 0; i < 24; i++) cr_assert_eq(lab_tensor_f32(z)[i], 0.0f);
    lab_tensor *f = lab_tensor_full(LAB_I64, 2, s, -7, LAB_CPU);
    for (int i = 0; i < 6; i++) cr_assert_eq(lab_tensor_i64(f)[i], -7);
    lab_tensor *f32 = lab_tensor_full(LAB_I32, 1, s, 9, LAB_CPU);
    cr_assert_eq(lab_tensor_i32(f32)[1], 9);
    lab_tensor *h = lab_tensor_full(LAB_F32, 1, s, 0.5, LAB_CPU);
    cr_assert_eq(lab_tensor_f32(h)[1], 0.5f);
    /* scalars and empty tensors */
    lab_tensor *sc = lab_tensor_scalar(4.5f, LAB_CPU);
    cr_assert(sc->ndim == 0 && sc->numel == 1);
    cr_assert_float_eq(lab_tensor_item(sc), 4.5f, 0);
    lab_tensor *em = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){0, 5}, LAB_CPU);
    cr_assert(em->numel == 0 && em->shape[1] == 5);
    lab_tensor *ar = lab_tensor_arange(5, LAB_CPU);
    cr_assert_eq(ar->dtype, LAB_I64);
    for (int i = 0; i < 5; i++) cr_assert_eq(lab_tensor_i64(ar)[i], i);
    cr_assert_eq(lab_tensor_arange(0, LAB_CPU)->numel, 0);
    /* _like */
    lab_tensor *zl = lab_tensor_zeros_like(f);
    cr_assert(zl->dtype == LAB_I64 && lab_tensor_same_shape(zl, f) && lab_tensor_i64(zl)[5] == 0);
    cr_assert(lab_tensor_same_shape(lab_tensor_empty_like(e), e));
    lab_scope_end();
}

Test(tensor, from_data_copies_and_round_trips)
{
    lab_scope_begin();
    float src[6] = {1, 2, 3, 4, 5, 6};
    lab_tensor *t = lab_tensor_from_f32(src, 2, (int64_t[]){2, 3});
    src[0] = 100; /* the tensor owns a copy */
    cr_assert_eq(lab_tensor_f32(t)[0], 1.0f);
    float back[6];
    cr_assert_eq(lab_tensor_copy_to_host(t, back), 0);
    cr_assert_eq(back[5], 6.0f);
    float fresh[6] = {6, 5, 4, 3, 2, 1};
    cr_assert_eq(lab_tensor_copy_from_host(t, fresh), 0);
    lt_assert_tensor_close(t, fresh, 0, 0);
    int64_t iv[3] = {-1, 0, 1LL << 40};
    lab_tensor *i = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){3}, iv, LAB_CPU);
    cr_assert_eq(lab_tensor_i64(i)[2], 1LL << 40);
    /* copy_ and fill_ between tensors */
    lab_tensor *u = lab_tensor_zeros(LAB_F32, 2, (int64_t[]){2, 3}, LAB_CPU);
    cr_assert_eq(lab_tensor_copy_(u, t), 0);
    lt_assert_tensor_close(u, fresh, 0, 0);
    cr_assert_eq(lab_tensor_fill_(u, -2), 0);
    cr_assert_eq(lab_tensor_f32(u)[3], -2.0f);
    /* clone is a deep copy that gradients flow through */
    lab_tensor *w = lab_tensor_from_f32(src, 1, (int64_t[]){6});
    lab_tensor_set_requires_grad(w, 1);
    lab_tensor *c = lab_tensor_clone(w);
    cr_assert_neq(lab_tensor_raw(c), lab_tensor_raw(w));
    lab_backward(lab_sum_all(lab_mul_scalar(c, 3)));
    lt_assert_tensor_close(w->grad, (float[]){3, 3, 3, 3, 3, 3}, 0, 0);
    lab_scope_end();
}

Test(tensor, views_share_storage)
{
    size_t start = mem_now();
    lab_tensor *a = lt_randn(1, 2, (int64_t[]){4, 6});
    size_t with_a = mem_now();
    lab_tensor *r = lab_reshape(a, 1, (int64_t[]){24});
    lab_tensor *s = lab_slice(a, 0, 2, 4);
    lab_tensor *d = lab_tensor_detach(a);
    cr_assert_eq(mem_now(), with_a, "views allocated storage");
    cr_assert(r->storage == a->storage && s->storage == a->storage && d->storage == a->storage);
    cr_assert_eq(lab_tensor_f32(s), lab_tensor_f32(a) + 12);
    /* writes through one are visible through the others */
    lab_tensor_f32(r)[13] = 42.0f;
    cr_assert_eq(lab_tensor_f32(s)[1], 42.0f);
    cr_assert_eq(lab_tensor_f32(d)[13], 42.0f);
    /* the storage lives while any view does */
    lab_tensor_release(a);
    lab_tensor_release(r);
    lab_tensor_release(d);
    cr_assert_eq(mem_now(), with_a);
    cr_assert_eq(lab_tensor_f32(s)[1], 42.0f);
    lab_tensor_release(s);
    cr_assert_eq(mem_now(), start);
}

Test(tensor, item_and_cast)
{
    lab_scope_begin();
    cr_assert_float_eq(lab_tensor_item(lab_tensor_from_f32((float[]){2.5f}, 1, (int64_t[]){1})), 2.5f, 0);
    cr_assert_float_eq(lab_tensor_item(lab_tensor_full(LAB_I64, 0, NULL, 7, LAB_CPU)), 7.0f, 0);
    cr_assert_float_eq(lab_tensor_item(lab_tensor_full(LAB_I32, 2, (int64_t[]){1, 1}, -3, LAB_CPU)), -3.0f, 0);
    lab_tensor *two = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){2}, LAB_CPU);
    cr_assert(isnan(lab_tensor_item(two)));
    lt_assert_error_contains("item: tensor f32[2] has 2 elements, not 1");
    cr_assert(isnan(lab_tensor_item(NULL)));

    lab_tensor *f = lab_tensor_from_f32((float[]){-1.7f, -0.2f, 0.9f, 2.5f}, 1, (int64_t[]){4});
    lab_tensor *i = lab_tensor_cast(f, LAB_I64);
    int64_t want[4] = {-1, 0, 0, 2}; /* toward zero */
    for (int k = 0; k < 4; k++) cr_assert_eq(lab_tensor_i64(i)[k], want[k]);
    lab_tensor *i32 = lab_tensor_cast(i, LAB_I32);
    cr_assert_eq(lab_tensor_i32(i32)[3], 2);
    lab_tensor *back = lab_tensor_cast(i32, LAB_F32);
    lt_assert_tensor_close(back, (float[]){-1, 0, 0, 2}, 0, 0);
    lab_tensor *same = lab_tensor_cast(f, LAB_F32);
    cr_assert_neq(lab_tensor_raw(same), lab_tensor_raw(f));
    lt_assert_tensor_close(same, lab_tensor_f32(f), 0, 0);
    lab_scope_end();
}

Test(tensor, descriptions)
{
    lab_scope_begin();
    char buf[96];
    lab_tensor *t = lab_tensor_zeros(LAB_I64, 3, (int64_t[]){128, 1, 784}, LAB_CPU);
    cr_assert_str_eq(lab_tensor_shape_str(t, buf, sizeof buf), "[128, 1, 784]");
    cr_assert_str_eq(lab_tensor_desc(t, buf, sizeof buf), "i64[128, 1, 784]");
    cr_assert_str_eq(lab_tensor_desc(lab_tensor_scalar(1, LAB_CPU), buf, sizeof buf), "f32[]");
    cr_assert_str_eq(lab_tensor_desc(NULL, buf, sizeof buf), "NULL");
    cr_assert_eq(lab_tensor_dim(t, -1), 2);
    cr_assert_eq(lab_tensor_dim(t, 3), -1);
    lab_device d;
    cr_assert_eq(lab_device_parse("cuda:1", &d), 0);
    cr_assert_str_eq(lab_device_str(d, buf, sizeof buf), "cuda:1");
    cr_assert_eq(lab_device_parse("gpu", &d), -1);
    lt_assert_error_contains("device: 'gpu' is not a device (expected cpu, cuda or cuda:N)");
    lab_scope_end();
}

/* --- scopes ----------------------------------------------------------------- */

Test(tensor, scopes_free_temporaries)
{
    size_t start = mem_now();
    cr_assert_eq(lab_scope_depth(), 0);
    lab_scope_begin();
    cr_assert_eq(lab_scope_depth(), 1);
    lab_tensor *a = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){1000}, LAB_CPU);
    lab_tensor *b = lab_exp(lab_add_scalar(a, 1)); /* and every intermediate */
    cr_assert_not_null(b);
    cr_assert(mem_now() >= start + 3 * 4000);
    lab_scope_end();
    cr_assert_eq(lab_scope_depth(), 0);
    cr_assert_eq(mem_now(), start);
}

Test(tensor, keep_moves_one_level_out)
{
    size_t start = mem_now();
    lab_scope_begin(); /* outer */
    lab_tensor *kept;
    lab_scope_begin(); /* inner */
    lab_tensor *tmp = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){500}, LAB_CPU);
    kept = lab_keep(lab_add_scalar(tmp, 2));
    cr_assert_eq(lab_keep(NULL), NULL);
    lab_scope_end();
    /* tmp is gone, kept survives into the outer scope */
    cr_assert_eq(mem_now(), start + 2000);
    cr_assert_eq(lab_tensor_f32(kept)[499], 2.0f);
    lab_scope_end();
    cr_assert_eq(mem_now(), start);

    /* keep at depth 1 hands the reference to the caller */
    lab_scope_begin();
    lab_tensor *mine = lab_keep(lab_tensor_zeros(LAB_F32, 1, (int64_t[]){100}, LAB_CPU));
    lab_scope_end();
    cr_assert_eq(mem_now(), start + 400);
    lab_tensor_release(mine);
    cr_assert_eq(mem_now(), start);

    /* own escapes every level at once */
    lab_scope_begin();
    lab_scope_begin();
    lab_scope_begin();
    lab_tensor *param = lab_tensor_own(lab_tensor_zeros(LAB_F32, 1, (int64_t[]){100}, LAB_CPU));
    cr_assert_eq(lab_scope_depth(), 3);
    lab_scope_end();
    lab_scope_end();
    lab_scope_end();
    cr_assert_eq(mem_now(), start + 400);
    lab_tensor_release(param);
    cr_assert_eq(mem_now(), start);
}

Test(tensor, retain_keeps_a_scoped_tensor_alive)
{
    size_t start = mem_now();
    lab_scope_begin();
    lab_tensor *t = lab_tensor_retain(lab_tensor_zeros(LAB_F32, 1, (int64_t[]){10}, LAB_CPU));
    lab_scope_end();
    cr_assert_eq(t->refcount, 1);
    cr_assert_eq(mem_now(), start + 40);
    lab_tensor_release(t);
    cr_assert_eq(mem_now(), start);
}

/* A training-like loop: forward, backward, an update, zero_grad, all in one
 * scope per step. Memory returns to its level after the first step. */
Test(tensor, scoped_training_loop_does_not_leak)
{
    size_t start = mem_now();
    lab_tensor *w = lab_tensor_own(lt_randn(1, 2, (int64_t[]){16, 8}));
    lab_tensor *b = lab_tensor_own(lab_tensor_zeros(LAB_F32, 1, (int64_t[]){8}, LAB_CPU));
    lab_tensor_set_requires_grad(w, 1);
    lab_tensor_set_requires_grad(b, 1);
    size_t params = mem_now();
    float first = 0, last = 0;
    for (int step = 0; step < 60; step++) {
        lab_scope_begin();
        lab_tensor *x = lt_randn(100 + (uint64_t)step, 3, (int64_t[]){4, 16, 1});
        lab_tensor *y = lt_rand(200 + (uint64_t)step, 2, (int64_t[]){4, 8}, 0, 1);
        /* [4, 16, 1] * [16, 8] summed over dim 1 = x @ w */
        lab_tensor *h = lab_add(lab_sum(lab_mul(x, w), 1, 0), b);
        lab_tensor *loss = lab_mean_all(lab_square(lab_sub(lab_sigmoid(h), y)));
        cr_assert_eq(lab_backward(loss), 0, "%s", lab_error());
        float l = lab_tensor_item(loss);
        if (step == 0) first = l;
        last = l;
        int prev = lab_grad_set_enabled(0);
        lab_tensor_copy_(w, lab_sub(w, lab_mul_scalar(w->grad, 0.5f)));
        lab_tensor_copy_(b, lab_sub(b, lab_mul_scalar(b->grad, 0.5f)));
        lab_grad_set_enabled(prev);
        lab_tensor_zero_grad(w);
        lab_tensor_zero_grad(b);
        lab_scope_end();
        cr_assert_eq(mem_now(), params, "step %d: %zu bytes now, %zu before", step, mem_now(), params);
    }
    cr_assert(last < first, "loss went from %g to %g", first, last);
    lab_tensor_release(w);
    lab_tensor_release(b);
    cr_assert_eq(mem_now(), start);
}

/* --- errors -------------------------------------------------------------------- */

Test(tensor, errors_for_bad_shapes_and_access)
{
    size_t start = mem_now();
    cr_assert_null(lab_tensor_empty(LAB_F32, 2, (int64_t[]){3, -1}, LAB_CPU));
    lt_assert_error_contains("tensor: negative size -1 in dim 1");
    cr_assert_null(lab_tensor_zeros(LAB_F32, 7, (int64_t[]){1, 1, 1, 1, 1, 1, 1}, LAB_CPU));
    lt_assert_error_contains("tensor: 7 dims (at most 6 are supported)");
    cr_assert_null(lab_tensor_empty(LAB_F32, 2, (int64_t[]){1LL << 40, 1LL << 40}, LAB_CPU));
    lt_assert_error_contains("tensor: size overflows");
    cr_assert_null(lab_tensor_arange(-1, LAB_CPU));
    lt_assert_error_contains("arange: negative length -1");
    cr_assert_null(lab_tensor_from_f32((float[]){1}, -1, NULL));
    lt_assert_error_contains("tensor: -1 dims");
    cr_assert_eq(mem_now(), start);

    lab_scope_begin();
    lab_tensor *i = lab_tensor_arange(3, LAB_CPU);
    cr_assert_null(lab_tensor_f32(i));
    lt_assert_error_contains("tensor: asked for f32 data of a i64 tensor");
    lab_tensor *a = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){3}, LAB_CPU);
    lab_tensor *b = lab_tensor_zeros(LAB_F32, 1, (int64_t[]){4}, LAB_CPU);
    cr_assert_eq(lab_tensor_copy_(a, b), -1);
    lt_assert_error_contains("copy: f32[4] into f32[3]");
    cr_assert_eq(lab_tensor_copy_(a, i), -1);
    lt_assert_error_contains("copy: i64[3] into f32[3]");
    /* requires_grad only sticks to f32 */
    lab_tensor_set_requires_grad(i, 1);
    cr_assert_eq(i->requires_grad, 0);
    lab_scope_end();
}
