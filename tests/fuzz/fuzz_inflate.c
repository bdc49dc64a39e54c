/* libFuzzer target: gzip and raw DEFLATE decoding (framework/data/inflate.c).
 * Any input must decode or fail with an error; a success must have consumed
 * no more than the input and produced at most the limit. */
#include <stdint.h>
#include <stdlib.h>

#include "../../framework/data/data_int.h"

#define LIMIT ((size_t)1 << 22)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *out;
    size_t len, used;
    if (lab_gunzip(data, size, "fuzz.gz", LIMIT, &out, &len) == 0) {
        if (len > LIMIT) abort();
        free(out);
    }
    if (lab_inflate_raw(data, size, "fuzz.deflate", LIMIT, &out, &len, &used) == 0) {
        if (used > size || len > LIMIT) abort();
        /* decoding the consumed prefix alone gives the same output length */
        uint8_t *again;
        size_t len2, used2;
        if (lab_inflate_raw(data, used, "fuzz.deflate", LIMIT, &again, &len2, &used2) != 0 || len2 != len ||
            used2 != used)
            abort();
        free(again);
        free(out);
    }
    return 0;
}
