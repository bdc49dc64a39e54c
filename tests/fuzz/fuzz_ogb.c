/* libFuzzer target: the OGB CSV parser (framework/data/ogb.c). The first
 * byte picks the element type (bit 0) and the expected column count (bits
 * 1-2, 0 = the first line's); the rest is the file. */
#include <stdint.h>
#include <stdlib.h>

#include "../../framework/data/data_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    lab_dtype dt = (data[0] & 1) ? LAB_I64 : LAB_F32;
    int64_t cols = (data[0] >> 1) & 3;
    lab_tensor *t = lab_ogb_parse_csv(data + 1, size - 1, "fuzz.csv", dt, cols);
    if (t) {
        if (t->ndim != 2 || t->shape[0] < 1 || t->shape[1] < 1 || (cols && t->shape[1] != cols)) abort();
        lab_tensor_release(t);
    }
    return 0;
}
