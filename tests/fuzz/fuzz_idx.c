/* libFuzzer target: the IDX parser (framework/data/idx.c), both modes, with
 * gzip-compressed input going through the decoder first as lab_idx_read does. */
#include <stdint.h>
#include <stdlib.h>

#include "../../framework/data/data_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *buf = data;
    uint8_t *plain = NULL;
    size_t len = size;
    if (lab_is_gzip(data, size)) {
        if (lab_gunzip(data, size, "fuzz.gz", (size_t)1 << 22, &plain, &len) != 0) return 0;
        buf = plain;
    }
    for (int mode = LAB_IDX_UBYTE; mode <= LAB_IDX_ANY; mode++) {
        lab_tensor *t = lab_idx_parse(buf, len, "fuzz.idx", mode);
        if (t) {
            /* the element count is exactly what the bytes after the header hold */
            if (t->numel > (int64_t)len) abort();
            lab_tensor_release(t);
        }
    }
    free(plain);
    return 0;
}
