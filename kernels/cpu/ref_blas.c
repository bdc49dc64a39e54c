/* Reference gemm (see ref_nn.h): the definition C = alpha op(A) op(B) +
 * beta C as three loops with a double accumulator. The yardstick for
 * cpu_blas.c in tests/unit/test_matmul.c (and for CUDA parity tests). */
#include "ref_nn.h"

void lab_ref_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                  int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++) {
                float a = ta ? A[k * lda + i] : A[i * lda + k];
                float b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += (double)a * b;
            }
            float *c = &C[i * ldc + j];
            /* beta == 0 overwrites (C may hold garbage), as BLAS does. */
            *c = (float)(alpha * s + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
    }
}

void lab_ref_gemm_batched(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                          const float *A, int64_t lda, int64_t strideA, const float *B, int64_t ldb,
                          int64_t strideB, float beta, float *C, int64_t ldc, int64_t strideC,
                          int64_t batch)
{
    /* strideC == 0 sums every product into one C (beta applied once). */
    for (int64_t i = 0; i < batch; i++)
        lab_ref_gemm(ta, tb, M, N, K, alpha, A + i * strideA, lda, B + i * strideB, ldb,
                     strideC == 0 && i ? 1.0f : beta, C + i * strideC, ldc);
}
