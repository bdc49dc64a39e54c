/* CUDA gemm and batched gemm through cuBLAS: row-major
 * C = alpha op(A) op(B) + beta C (framework/core/backend.h).
 *
 * cuBLAS is column-major. A row-major M x N matrix with leading dimension ld
 * is, read column-major, its N x M transpose with the same ld, so
 *     C^T = op(B)^T op(A)^T
 * is one column-major call with the operands swapped: m = N, n = M, B first
 * (transposed iff tb), A second (transposed iff ta). The 64-bit-index entry
 * points (cublasSgemm_64) take int64 sizes as they come.
 *
 * Precision: handles run in CUBLAS_DEFAULT_MATH, which never uses TF32 for
 * f32 products, so results match the CPU's sgemm to f32 rounding (the sum
 * order differs). lab_cuda_set_tf32(1) switches every handle to
 * CUBLAS_TF32_TENSOR_OP_MATH.
 *
 * K == 0 or alpha == 0 only scales C (beta == 0 writes zeros without reading
 * C), as the CPU backend does; strideC == 0 accumulates the batch into one C
 * in order, beta applied once.
 *
 * Tested by tests/parity/test_parity_blas.c (matmul and matmul_t with every
 * transpose, batched and broadcast operands, empty dims, backward, TF32
 * toggle) against the CPU; benchmarked against direct cuBLAS calls by
 * tests/bench/bench_gpu.c.
 */
#include <stdint.h>

#include "cuda_int.h"

__global__ void k_scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    LAB_CU_LOOP(k, M * N)
    {
        int64_t i = k / N, j = k % N;
        float *c = C + i * ldc + j;
        *c = beta == 0.0f ? 0.0f : *c * beta;
    }
}

static void scale_c(lab_cu_dev *d, int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    if (beta == 1.0f) return;
    k_scale_c<<<lab_cu_blocks(d, M * N, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(M, N, beta, C, ldc);
    LAB_CU_CHECK(d, "gemm (scale C)");
}

static inline int64_t ld_of(int64_t ld) { return ld > 0 ? ld : 1; }

static void cu_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                    const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(C);
    if (K <= 0 || alpha == 0.0f) {
        scale_c(d, M, N, beta, C, ldc);
        return;
    }
    cublasStatus_t st = cublasSgemm_64(d->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M,
                                       K, &alpha, B, ld_of(ldb), A, ld_of(lda), &beta, C, ld_of(ldc));
    lab_cu_check_blas(st, "gemm (cublasSgemm)", __FILE__, __LINE__);
}

static void cu_gemm_batched(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                            int64_t lda, int64_t strideA, const float *B, int64_t ldb, int64_t strideB, float beta,
                            float *C, int64_t ldc, int64_t strideC, int64_t batch)
{
    if (batch <= 0 || M <= 0 || N <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(C);
    if (strideC == 0) {
        /* Every product lands in one C: in order, beta once (as the CPU). */
        for (int64_t i = 0; i < batch; i++) {
            float bi = i ? 1.0f : beta;
            if (K <= 0 || alpha == 0.0f) {
                if (i == 0) scale_c(d, M, N, bi, C, ldc);
                continue;
            }
            cublasStatus_t st =
                cublasSgemm_64(d->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K,
                               &alpha, B + i * strideB, ld_of(ldb), A + i * strideA, ld_of(lda), &bi, C, ld_of(ldc));
            lab_cu_check_blas(st, "gemm_batched (cublasSgemm)", __FILE__, __LINE__);
        }
        return;
    }
    if (K <= 0 || alpha == 0.0f) {
        for (int64_t i = 0; i < batch; i++) scale_c(d, M, N, beta, C + i * strideC, ldc);
        return;
    }
    cublasStatus_t st = cublasSgemmStridedBatched_64(d->blas, tb ? CUBLAS_OP_T : CUBLAS_OP_N,
                                                     ta ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, ld_of(ldb),
                                                     strideB, A, ld_of(lda), strideA, &beta, C, ld_of(ldc), strideC,
                                                     batch);
    lab_cu_check_blas(st, "gemm_batched (cublasSgemmStridedBatched)", __FILE__, __LINE__);
}

void lab_cu_install_blas(lab_backend *be)
{
    be->gemm = cu_gemm;
    be->gemm_batched = cu_gemm_batched;
}
