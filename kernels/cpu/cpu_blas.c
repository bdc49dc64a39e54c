/* CPU gemm and batched gemm: row-major C = alpha op(A) op(B) + beta C through
 * OpenBLAS cblas_sgemm (OpenMP build).
 *
 * Batched products of small matrices run one matrix per OpenMP thread:
 * OpenBLAS sees omp_in_parallel() and stays single-threaded inside, which on
 * small matrices beats splitting each product across threads. Large products
 * go one after the other, each threaded by OpenBLAS.
 *
 * Tested in tests/unit/test_matmul.c against lab_ref_gemm (ref_blas.c) on
 * random shapes, transposes, leading dimensions larger than the row length,
 * zero strides (broadcast operands) and empty dims.
 */
#include <cblas.h>
#include <omp.h>
#include <string.h>

#include "cpu_int.h"

/* BLAS rejects ld < 1 even when a dim is empty. */
static inline blasint ld_of(int64_t ld) { return (blasint)(ld > 0 ? ld : 1); }

/* K == 0 (or alpha == 0) makes the product vanish; BLAS is not asked since
 * some builds complain about the degenerate leading dimensions. */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f)
            memset(c, 0, (size_t)N * sizeof *c);
        else if (beta != 1.0f)
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
}

static void cpu_gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
                     int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (blasint)M, (blasint)N, (blasint)K, alpha, A, ld_of(lda), B, ld_of(ldb), beta, C,
                ld_of(ldc));
}

/* Below this many multiply-adds per product a batch is spread over threads
 * (one product each) rather than threading every product. */
#define BATCH_PAR_FLOPS (1 << 21)

static void cpu_gemm_batched(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                             const float *A, int64_t lda, int64_t strideA, const float *B,
                             int64_t ldb, int64_t strideB, float beta, float *C, int64_t ldc,
                             int64_t strideC, int64_t batch)
{
    if (batch <= 0 || M <= 0 || N <= 0) return;
    int nt = omp_get_max_threads();
    int64_t work = M * N * (K > 0 ? K : 1);
    /* strideC == 0 accumulates every product into one C: that must be
     * sequential (and with beta applied once). */
    int par = strideC != 0 && nt > 1 && batch > 1 && !omp_in_parallel() &&
              (work < BATCH_PAR_FLOPS || batch >= 4 * nt);
    if (strideC == 0) {
        for (int64_t i = 0; i < batch; i++)
            cpu_gemm(ta, tb, M, N, K, alpha, A + i * strideA, lda, B + i * strideB, ldb,
                     i ? 1.0f : beta, C, ldc);
        return;
    }
#pragma omp parallel for schedule(static) if (par)
    for (int64_t i = 0; i < batch; i++)
        cpu_gemm(ta, tb, M, N, K, alpha, A + i * strideA, lda, B + i * strideB, ldb, beta,
                 C + i * strideC, ldc);
}

void lab_cpu_install_blas(lab_backend *be)
{
    be->gemm = cpu_gemm;
    be->gemm_batched = cpu_gemm_batched;
}
