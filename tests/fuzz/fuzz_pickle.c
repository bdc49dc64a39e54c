/* libFuzzer target: the strict pickle machine and its ndarray / csr_matrix /
 * adjacency accessors (framework/data/pickle.c). */
#include <stdint.h>
#include <stdlib.h>

#include "../../framework/data/data_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lab_pk_arena *arena;
    lab_pk *root = lab_pickle_load(data, size, "fuzz.pkl", &arena);
    if (root) {
        int64_t shape[2], *idx, *ptr, *keys, *nbrs, nk;
        int ndim;
        double *val;
        if (lab_pk_ndarray(root, "fuzz", shape, &ndim, &val) == 0) free(val);
        if (lab_pk_csr(root, "fuzz", shape, &val, &idx, &ptr) == 0) {
            /* the accessor's guarantees, which planetoid.c relies on */
            if (ptr[0] != 0) abort();
            for (int64_t r = 0; r < shape[0]; r++)
                if (ptr[r + 1] < ptr[r]) abort();
            for (int64_t k = 0; k < ptr[shape[0]]; k++)
                if (idx[k] < 0 || idx[k] >= shape[1]) abort();
            free(val), free(idx), free(ptr);
        }
        if (lab_pk_adjacency(root, "fuzz", &nk, &keys, &ptr, &nbrs) == 0) free(keys), free(ptr), free(nbrs);
    }
    lab_pickle_free(arena);
    return 0;
}
