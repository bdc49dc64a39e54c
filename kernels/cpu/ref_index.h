/* ref_index.h — plain C references for the index, segment and sparse
 * primitives (backend.h), with the same signatures as the backend slots.
 *
 * They are written straight from the definitions, one loop nest each, no
 * threads and no blocking, so that tests (tests/unit/test_index.c,
 * test_sparse.c, and the CUDA parity tests) can compare every fast kernel
 * with them. They are exported from liblab only for those tests; ops never
 * call them.
 */
#ifndef LAB_REF_INDEX_H
#define LAB_REF_INDEX_H

#include <stdint.h>

#include "backend.h"

void lab_ref_index_select(int64_t outer, int64_t n, int64_t inner, float *y, const float *x,
                          const int64_t *idx, int64_t nidx);
void lab_ref_index_add(int64_t outer, int64_t n, int64_t inner, float *y, const float *src,
                       const int64_t *idx, int64_t nidx);
void lab_ref_gather(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y, const float *x,
                    const int64_t *idx);
void lab_ref_scatter_add(int64_t outer, int64_t n, int64_t inner, int64_t m, float *y,
                         const float *src, const int64_t *idx);
void lab_ref_one_hot(int64_t nidx, int64_t classes, float *y, const int64_t *idx);
void lab_ref_segment_reduce(lab_reduce_op op, int64_t n, int64_t f, float *y, int64_t *arg,
                            const float *x, const int64_t *seg, int64_t nseg);
void lab_ref_spmm(int64_t rows, int64_t cols, int64_t f, const int64_t *rowptr,
                  const int64_t *colind, const float *vals, const float *x, float *y);

#endif
