/* CUDA CSR spmm: y [rows, f] = A x with A in CSR (int64 row pointers and
 * column ids, f32 values), x [cols, f] row-major (framework/core/backend.h).
 *
 * The product goes through cuSPARSE's generic SpMM (CSR, 64-bit indices,
 * row-major dense operands, the library's default algorithm). cuSPARSE's CSR
 * format assumes ascending, unique column ids in each row: what the
 * project's graph builders and the CSR transpose produce. cuSPARSE needs nnz
 * on the host: the slot carries it (the CSR knows it), so no product waits
 * for the device.
 *
 * LAB_CUDA_SPMM=native selects our own kernel instead: a warp per row, lanes
 * over 32 features at a time, each output summed in CSR order without fused
 * multiply-adds. It needs no nnz, accepts any column order and repeats, and
 * is bit-identical to the CPU backend. It is also the fallback when cuSPARSE
 * rejects a configuration (not supported, invalid value). bench_gpu.c
 * compares the two on a PubMed-sized graph.
 *
 * Tested by tests/parity/test_parity_sparse.c (random graphs with empty
 * rows, f from 1 to 70, the backward through the transpose, both paths, an
 * empty matrix) against the CPU, on a GPU.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_int.h"

/* A warp per row; in each pass over the row, lane l accumulates feature
 * c0 + l. */
__global__ void k_spmm_rows(int64_t rows, int64_t f, const int64_t *rowptr, const int64_t *colind, const float *vals,
                            const float *x, float *y)
{
    const int lane = threadIdx.x & 31;
    const int64_t warp = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const int64_t nwarps = ((int64_t)gridDim.x * blockDim.x) >> 5;
    for (int64_t r = warp; r < rows; r += nwarps) {
        int64_t k0 = rowptr[r], k1 = rowptr[r + 1];
        for (int64_t c0 = 0; c0 < f; c0 += 32) {
            int64_t c = c0 + lane;
            float acc = 0.0f;
            if (c < f)
                for (int64_t k = k0; k < k1; k++) acc = __fadd_rn(acc, __fmul_rn(vals[k], x[colind[k] * f + c]));
            if (c < f) y[r * f + c] = acc;
        }
    }
}

static void spmm_native(lab_cu_dev *d, int64_t rows, int64_t f, const int64_t *rowptr, const int64_t *colind,
                        const float *vals, const float *x, float *y)
{
    k_spmm_rows<<<lab_cu_blocks(d, rows * 32, LAB_CU_THREADS), LAB_CU_THREADS, 0, d->stream>>>(rows, f, rowptr, colind,
                                                                                               vals, x, y);
    LAB_CU_CHECK(d, "spmm (native)");
}

/* Returns the cuSPARSE status; a rejected configuration lets the caller
 * fall back to the native kernel. */
static cusparseStatus_t spmm_cusparse(lab_cu_dev *d, int64_t rows, int64_t cols, int64_t f, int64_t nnz,
                                      const int64_t *rowptr, const int64_t *colind, const float *vals, const float *x,
                                      float *y)
{
    cusparseConstSpMatDescr_t A = NULL;
    cusparseConstDnMatDescr_t X = NULL;
    cusparseDnMatDescr_t Y = NULL;
    const float alpha = 1.0f, beta = 0.0f;
    size_t bytes = 0;
    void *buf = NULL;
    cusparseStatus_t st = cusparseCreateConstCsr(&A, rows, cols, nnz, rowptr, colind, vals, CUSPARSE_INDEX_64I,
                                                 CUSPARSE_INDEX_64I, CUSPARSE_INDEX_BASE_ZERO, CUDA_R_32F);
    if (st == CUSPARSE_STATUS_SUCCESS)
        st = cusparseCreateConstDnMat(&X, cols, f, f, x, CUDA_R_32F, CUSPARSE_ORDER_ROW);
    if (st == CUSPARSE_STATUS_SUCCESS) st = cusparseCreateDnMat(&Y, rows, f, f, y, CUDA_R_32F, CUSPARSE_ORDER_ROW);
    if (st == CUSPARSE_STATUS_SUCCESS)
        st = cusparseSpMM_bufferSize(d->sparse, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE,
                                     &alpha, A, X, &beta, Y, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, &bytes);
    if (st == CUSPARSE_STATUS_SUCCESS && bytes > 0) {
        buf = lab_cu_tmp_alloc(d, bytes);
        if (!buf) st = CUSPARSE_STATUS_ALLOC_FAILED;
    }
    if (st == CUSPARSE_STATUS_SUCCESS)
        st = cusparseSpMM(d->sparse, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &alpha, A, X,
                          &beta, Y, CUDA_R_32F, CUSPARSE_SPMM_ALG_DEFAULT, buf);
    if (buf) lab_cu_tmp_free(d, buf, bytes);
    if (Y) cusparseDestroyDnMat(Y);
    if (X) cusparseDestroyDnMat(X);
    if (A) cusparseDestroySpMat(A);
    return st;
}

static void cu_spmm(int64_t rows, int64_t cols, int64_t f, int64_t nnz, const int64_t *rowptr,
                    const int64_t *colind, const float *vals, const float *x, float *y)
{
    if (rows <= 0 || f <= 0) return;
    lab_cu_dev *d = lab_cu_dev_of(y);
    const char *mode = getenv("LAB_CUDA_SPMM");
    if (mode && strcmp(mode, "native") == 0) {
        spmm_native(d, rows, f, rowptr, colind, vals, x, y);
        return;
    }
    if (nnz <= 0 || cols <= 0) { /* no entries: y = 0 */
        cudaError_t e = cudaMemsetAsync(y, 0, (size_t)(rows * f) * sizeof(float), d->stream);
        if (e != cudaSuccess) lab_cu_fail("cuda: spmm failed: %s", cudaGetErrorString(e));
        return;
    }
    cusparseStatus_t st = spmm_cusparse(d, rows, cols, f, nnz, rowptr, colind, vals, x, y);
    if (st == CUSPARSE_STATUS_NOT_SUPPORTED || st == CUSPARSE_STATUS_INVALID_VALUE) {
        spmm_native(d, rows, f, rowptr, colind, vals, x, y);
        return;
    }
    lab_cu_check_sparse(st, "spmm (cusparseSpMM)", __FILE__, __LINE__);
}

void lab_cu_install_sparse(lab_backend *be) { be->spmm = cu_spmm; }
