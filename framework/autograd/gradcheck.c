/* Finite-difference gradient check (see lab/autograd.h). The projection r
 * makes every output element matter with a different weight, so a backward
 * that mixes up elements cannot pass by symmetry. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab.h"

static int projected(lab_gradcheck_fn f, lab_tensor *const *inputs, void *user, const float *r,
                     int64_t n, double *out)
{
    lab_scope_begin();
    lab_tensor *y = f(inputs, user);
    int rc = -1;
    if (y && y->numel == n) {
        float *v = malloc((size_t)(n ? n : 1) * sizeof *v);
        if (v && lab_tensor_copy_to_host(y, v) == 0) {
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += (double)v[i] * r[i];
            *out = s;
            rc = 0;
        }
        free(v);
    } else if (y) {
        lab_error_set("gradcheck: output size changed between calls");
    }
    lab_scope_end();
    return rc;
}

int lab_gradcheck(lab_gradcheck_fn f, int ninputs, lab_tensor *const *inputs, void *user, double eps,
                  double atol, double rtol)
{
    int prev = lab_grad_set_enabled(1);
    int rc = -1;
    float *r = NULL, *analytic = NULL;
    for (int i = 0; i < ninputs; i++) {
        if (!inputs[i]) {
            lab_error_set("gradcheck: input %d is NULL", i);
            goto out;
        }
        if (inputs[i]->requires_grad && inputs[i]->device.type != LAB_DEV_CPU) {
            lab_error_set("gradcheck: input %d is not on the cpu", i);
            goto out;
        }
        lab_tensor_zero_grad(inputs[i]);
    }
    lab_scope_begin();
    lab_tensor *y = f(inputs, user);
    if (!y) {
        lab_error_prefix("gradcheck: forward failed: ");
        lab_scope_end();
        goto out;
    }
    int64_t n = y->numel;
    r = malloc((size_t)(n ? n : 1) * sizeof *r);
    lab_rng g = lab_rng_make(1234, 99);
    for (int64_t i = 0; i < n; i++) r[i] = (float)lab_rng_next_normal(&g);
    lab_tensor *rt = lab_tensor_from_data(LAB_F32, y->ndim, y->shape, r, y->device);
    int brc = lab_backward_with(y, rt);
    lab_scope_end();
    if (brc < 0) goto out;
    lab_grad_set_enabled(0);
    for (int i = 0; i < ninputs; i++) {
        lab_tensor *x = inputs[i];
        if (!x->requires_grad) continue;
        float *xv = lab_tensor_f32(x);
        int64_t m = x->numel;
        free(analytic);
        analytic = calloc((size_t)(m ? m : 1), sizeof *analytic);
        if (x->grad) lab_tensor_copy_to_host(x->grad, analytic);
        for (int64_t j = 0; j < m; j++) {
            float orig = xv[j];
            double sp, sm;
            xv[j] = (float)(orig + eps);
            double hp = (double)xv[j] - orig;
            if (projected(f, inputs, user, r, n, &sp) < 0) goto out_restore;
            xv[j] = (float)(orig - eps);
            double hm = orig - (double)xv[j];
            if (projected(f, inputs, user, r, n, &sm) < 0) goto out_restore;
            xv[j] = orig;
            double num = (sp - sm) / (hp + hm);
            if (!(fabs(analytic[j] - num) <= atol + rtol * fabs(num))) {
                lab_error_set("gradcheck: input %d element %lld: analytic %.6g, numeric %.6g", i,
                              (long long)j, analytic[j], num);
                goto out;
            }
            continue;
        out_restore:
            xv[j] = orig;
            goto out;
        }
    }
    rc = 0;
out:
    for (int i = 0; i < ninputs; i++)
        if (inputs[i]) lab_tensor_zero_grad(inputs[i]);
    free(r);
    free(analytic);
    lab_grad_set_enabled(prev);
    return rc;
}
