/* CPU vs CUDA: CSR spmm through cuSPARSE and the native kernel
 * (kernels/cuda/cuda_sparse.cu). Skipped without a usable cuda:0. */
#include <stdlib.h>

#include "parity.h"

typedef struct {
    lab_csr *cpu, *gpu;
} csr_pair;

/* The CSR of the input's device: one op, two matrices. */
static lab_tensor *spmm_fn(lab_tensor *const *in, void *u)
{
    csr_pair *p = u;
    return lab_spmm(in[0]->device.type == LAB_DEV_CPU ? p->cpu : p->gpu, in[0]);
}

/* A random graph-like CSR: about deg entries per row, some rows empty,
 * values in [-1, 1). sorted: column ids ascending and unique in each row
 * (what the project's graph builders produce and cuSPARSE's CSR format
 * assumes); otherwise random order with repeats (the native kernel and the
 * CPU accept both). */
static csr_pair make_csr(uint64_t seed, int64_t rows, int64_t cols, int deg, int sorted)
{
    lab_rng r = lab_rng_make(seed, 1);
    int64_t cap = rows * (sorted ? cols : (int64_t)(2 * deg + 1)) + 1;
    int64_t *rowptr = calloc((size_t)rows + 1, sizeof *rowptr), *colind = malloc((size_t)cap * sizeof *colind);
    float *vals = malloc((size_t)cap * sizeof *vals);
    int64_t nnz = 0;
    for (int64_t i = 0; i < rows; i++) {
        int empty = lab_rng_next_uniform(&r) < 0.1;
        if (sorted) {
            double p = (double)deg / (double)cols;
            for (int64_t j = 0; j < cols && !empty; j++)
                if (lab_rng_next_uniform(&r) < p) {
                    colind[nnz] = j;
                    vals[nnz++] = (float)(lab_rng_next_uniform(&r) * 2 - 1);
                }
        } else {
            int64_t k = empty ? 0 : (int64_t)lab_rng_next_below(&r, (uint64_t)(2 * deg + 1));
            for (int64_t j = 0; j < k; j++) {
                colind[nnz] = (int64_t)lab_rng_next_below(&r, (uint64_t)cols);
                vals[nnz++] = (float)(lab_rng_next_uniform(&r) * 2 - 1);
            }
        }
        rowptr[i + 1] = nnz;
    }
    csr_pair p;
    p.cpu = lab_csr_new(rows, cols, nnz, rowptr, colind, vals, LAB_CPU);
    p.gpu = lab_csr_new(rows, cols, nnz, rowptr, colind, vals, PT_GPU);
    cr_assert(p.cpu && p.gpu, "csr: %s", lab_error());
    free(rowptr);
    free(colind);
    free(vals);
    return p;
}

static void check_spmm(const char *name, int64_t rows, int64_t cols, int64_t f, int deg, int sorted, pt_tol tol)
{
    lab_scope_begin();
    csr_pair p = make_csr((uint64_t)(rows + f), rows, cols, deg, sorted);
    lab_tensor *x = lt_randn(7, 2, (int64_t[]){cols, f});
    pt_check(name, spmm_fn, 1, &x, 1u, &p, tol);
    lab_csr_release(p.cpu);
    lab_csr_release(p.gpu);
    lab_scope_end();
}

Test(parity_sparse, spmm_cusparse)
{
    PT_REQUIRE_GPU();
    unsetenv("LAB_CUDA_SPMM");
    /* cuSPARSE may sum a row's products in another order (and with FMAs):
     * rows of ~2*deg terms in [-1, 1) times N(0,1), 1e-5. The backward is
     * spmm with the transpose: same bound. */
    pt_tol tol = {1e-5, 1e-5, 1e-5, 1e-5};
    check_spmm("spmm f=64", 300, 250, 64, 5, 1, tol);
    check_spmm("spmm f=1", 100, 120, 1, 3, 1, tol);
    check_spmm("spmm f=33", 64, 64, 33, 8, 1, tol);
    check_spmm("spmm rectangular", 50, 400, 16, 20, 1, tol);
}

Test(parity_sparse, spmm_native_is_bit_identical)
{
    PT_REQUIRE_GPU();
    /* The native kernel sums each output in CSR order without FMAs, as the
     * CPU does: identical bits, forward and backward, whatever the column
     * order. */
    setenv("LAB_CUDA_SPMM", "native", 1);
    pt_tol exact = {0, 0, 0, 0};
    check_spmm("native spmm f=64", 300, 250, 64, 5, 1, exact);
    check_spmm("native spmm f=1, unsorted with repeats", 100, 120, 1, 3, 0, exact);
    check_spmm("native spmm f=70, unsorted with repeats", 64, 64, 70, 8, 0, exact);
    unsetenv("LAB_CUDA_SPMM");
}

Test(parity_sparse, empty_matrix)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    int64_t rowptr[4] = {0, 0, 0, 0}, colind[1] = {0};
    float vals[1] = {0};
    csr_pair p = {lab_csr_new(3, 5, 0, rowptr, colind, vals, LAB_CPU),
                  lab_csr_new(3, 5, 0, rowptr, colind, vals, PT_GPU)};
    cr_assert(p.cpu && p.gpu, "csr: %s", lab_error());
    lab_tensor *x = lt_randn(9, 2, (int64_t[]){5, 4});
    pt_check("spmm with no entries", spmm_fn, 1, &x, 1u, &p, (pt_tol){0, 0, 0, 0});
    lab_csr_release(p.cpu);
    lab_csr_release(p.gpu);
    lab_scope_end();
}
