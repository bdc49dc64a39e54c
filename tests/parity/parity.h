/* parity.h — helpers of the CPU-vs-CUDA parity tests (tests/parity).
 *
 * Every test starts with PT_REQUIRE_GPU(): without a usable cuda:0 it is
 * skipped with the loader's reason ("no CUDA device: ..."), so the suite
 * compiles, links and skips on CPU-only machines. On a GPU, pt_check() runs
 * an op on cpu copies and on cuda:0 copies of the same inputs, compares the
 * outputs, then backpropagates sum(out * r) (r fixed and random) on both
 * devices and compares the gradients of the inputs that were asked for.
 *
 * Tolerances are stated per call as |gpu - cpu| <= atol + rtol*|cpu|, with
 * the reason next to each call. 0, 0 means bit-identical, used where the
 * CUDA kernel performs the CPU's exact operation sequence.
 */
#ifndef LAB_PARITY_H
#define LAB_PARITY_H

#include <stdlib.h>
#include <string.h>

#include "lab/cuda.h"
#include "labtest.h"

static const lab_device PT_GPU = {LAB_DEV_CUDA, 0};

#define PT_REQUIRE_GPU()                                                                           \
    do {                                                                                           \
        if (lab_cuda_device_count() <= 0)                                                          \
            cr_skip_test("no CUDA device: %s", lab_cuda_unavailable_reason());                     \
    } while (0)

/* Host copy of any tensor as floats (i64 converted), numel entries; free(). */
static inline float *pt_host(const lab_tensor *t)
{
    cr_assert_not_null(t, "tensor is NULL: %s", lab_error());
    size_t n = (size_t)(t->numel ? t->numel : 1);
    float *out = malloc(n * sizeof *out);
    cr_assert_not_null(out);
    if (t->dtype == LAB_F32) {
        cr_assert_eq(lab_tensor_copy_to_host(t, out), 0, "copy to host: %s", lab_error());
    } else if (t->dtype == LAB_I64) {
        int64_t *tmp = malloc(n * sizeof *tmp);
        cr_assert_eq(lab_tensor_copy_to_host(t, tmp), 0, "copy to host: %s", lab_error());
        for (int64_t i = 0; i < t->numel; i++) out[i] = (float)tmp[i];
        free(tmp);
    } else {
        int32_t *tmp = malloc(n * sizeof *tmp);
        cr_assert_eq(lab_tensor_copy_to_host(t, tmp), 0, "copy to host: %s", lab_error());
        for (int64_t i = 0; i < t->numel; i++) out[i] = (float)tmp[i];
        free(tmp);
    }
    return out;
}

/* Assert gpu (any device) matches cpu within atol + rtol*|cpu|; same shape
 * and dtype. atol = rtol = 0 demands identical bits (NaN matches NaN). */
static inline void pt_assert_match(const char *what, const lab_tensor *gpu, const lab_tensor *cpu, double atol,
                                   double rtol)
{
    cr_assert_not_null(cpu, "%s: cpu result is NULL: %s", what, lab_error());
    cr_assert_not_null(gpu, "%s: cuda result is NULL: %s", what, lab_error());
    cr_assert(lab_device_eq(gpu->device, PT_GPU), "%s: result is not on cuda:0", what);
    cr_assert(lab_tensor_same_shape(gpu, cpu) && gpu->dtype == cpu->dtype, "%s: shape or dtype differ", what);
    float *g = pt_host(gpu), *c = pt_host(cpu);
    int64_t w = -1;
    if (atol == 0 && rtol == 0) {
        for (int64_t i = 0; i < cpu->numel; i++) {
            if (memcmp(&g[i], &c[i], sizeof *g) != 0 && !(g[i] != g[i] && c[i] != c[i])) {
                w = i;
                break;
            }
        }
        cr_assert(w < 0, "%s: element %lld differs: cuda %.9g, cpu %.9g (bit-identical expected)", what,
                  (long long)w, w >= 0 ? g[w] : 0.0, w >= 0 ? c[w] : 0.0);
    } else {
        double e = lt_excess(g, c, cpu->numel, atol, rtol, &w);
        cr_assert(e <= 0, "%s: element %lld: cuda %.9g, cpu %.9g (atol %g, rtol %g)", what, (long long)w,
                  w >= 0 ? g[w] : 0.0, w >= 0 ? c[w] : 0.0, atol, rtol);
    }
    free(g);
    free(c);
}

/* An op under test: builds its output from inputs (all on one device). */
typedef lab_tensor *(*pt_fn)(lab_tensor *const *in, void *user);

typedef struct {
    double atol, rtol;   /* forward */
    double gatol, grtol; /* gradients */
} pt_tol;

/* Runs f on cpu and cuda copies of cpu_in (cpu tensors). grad_mask bit i:
 * differentiate with respect to input i (must be f32). */
static inline void pt_check(const char *what, pt_fn f, int nin, lab_tensor *const *cpu_in, unsigned grad_mask,
                            void *user, pt_tol tol)
{
    enum { MAXIN = 8 };
    cr_assert(nin <= MAXIN);
    lab_scope_begin();
    lab_tensor *ci[MAXIN], *gi[MAXIN];
    for (int i = 0; i < nin; i++) {
        ci[i] = lab_tensor_detach(cpu_in[i]);
        gi[i] = lab_tensor_to(cpu_in[i], PT_GPU);
        cr_assert_not_null(gi[i], "%s: input %d to cuda: %s", what, i, lab_error());
        if (grad_mask >> i & 1u) {
            lab_tensor_set_requires_grad(ci[i], 1);
            lab_tensor_set_requires_grad(gi[i], 1);
        }
    }
    lab_tensor *yc = f(ci, user);
    cr_assert_not_null(yc, "%s on cpu: %s", what, lab_error());
    lab_tensor *yg = f(gi, user);
    cr_assert_not_null(yg, "%s on cuda: %s", what, lab_error());
    pt_assert_match(what, yg, yc, tol.atol, tol.rtol);
    if (grad_mask) {
        lab_tensor *r = lt_randn(99, yc->ndim, yc->shape);
        lab_tensor *rg = lab_tensor_to(r, PT_GPU);
        lab_tensor *lc = lab_sum_all(lab_mul(yc, r)), *lg = lab_sum_all(lab_mul(yg, rg));
        cr_assert_eq(lab_backward(lc), 0, "%s: cpu backward: %s", what, lab_error());
        cr_assert_eq(lab_backward(lg), 0, "%s: cuda backward: %s", what, lab_error());
        for (int i = 0; i < nin; i++) {
            if (!(grad_mask >> i & 1u)) continue;
            char name[160];
            snprintf(name, sizeof name, "%s: gradient of input %d", what, i);
            cr_assert_not_null(ci[i]->grad, "%s: no cpu gradient", name);
            pt_assert_match(name, gi[i]->grad, ci[i]->grad, tol.gatol, tol.grtol);
        }
    }
    lab_scope_end();
}

/* sum |x| of a cpu tensor: scales the tolerance of sums. */
static inline double pt_l1(const lab_tensor *t)
{
    float *v = pt_host(t);
    double s = 0;
    for (int64_t i = 0; i < t->numel; i++) s += v[i] < 0 ? -v[i] : v[i];
    free(v);
    return s;
}

#endif
