/* ref_elementwise.h — plain C references for the elementwise, copy and
 * reduction primitives of backend.h (ref_elementwise.c, ref_reduce.c).
 *
 * Same signatures and semantics as the lab_backend slots, written for
 * obviousness: one element at a time, full index arithmetic, double
 * precision inside. Tests compare the fast CPU kernels (and later the CUDA
 * ones) against them; nothing in the library calls them. */
#ifndef LAB_REF_ELEMENTWISE_H
#define LAB_REF_ELEMENTWISE_H

#include "backend.h"

void lab_ref_unary(lab_unary_op op, int64_t n, float *y, const float *x, float p0, float p1);
void lab_ref_unary_backward(lab_unary_op op, int64_t n, float *gx, const float *gy, const float *x,
                            const float *y, float p0, float p1);
void lab_ref_binary(lab_binary_op op, int ndim, const int64_t *shape, float *y, const float *a,
                    const int64_t *sa, const float *b, const int64_t *sb);
void lab_ref_where(int ndim, const int64_t *shape, float *y, const float *c, const int64_t *sc,
                   const float *a, const int64_t *sa, const float *b, const int64_t *sb);
void lab_ref_strided_copy(int ndim, const int64_t *shape, size_t elem, void *dst, const int64_t *ds,
                          const void *src, const int64_t *ss);
void lab_ref_accumulate(int64_t n, float *y, const float *x);

/* ref_reduce.c */
void lab_ref_reduce(lab_reduce_op op, int64_t outer, int64_t n, int64_t inner, float *y, int64_t *arg,
                    const float *x);
void lab_ref_softmax(int64_t outer, int64_t n, int64_t inner, float *y, const float *x, int log);
void lab_ref_softmax_backward(int64_t outer, int64_t n, int64_t inner, float *gx, const float *gy,
                              const float *y, int log);

#endif
