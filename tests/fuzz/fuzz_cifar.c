/* libFuzzer target: the CIFAR record parser (framework/data/cifar.c). The
 * first byte picks CIFAR-10 or CIFAR-100; the rest is the file. */
#include <stdint.h>
#include <stdlib.h>

#include "../../framework/data/data_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    lab_cifar_kind kind = (data[0] & 1) ? LAB_CIFAR100 : LAB_CIFAR10;
    const uint8_t *buf = data + 1;
    size_t len = size - 1, rs = kind == LAB_CIFAR10 ? 3073 : 3074;
    int64_t max = (int64_t)(len / rs), n = -1;
    float *images = malloc((size_t)(max ? max : 1) * 3072 * sizeof *images);
    int64_t *labels = malloc((size_t)(max ? max : 1) * sizeof *labels);
    int64_t *coarse = malloc((size_t)(max ? max : 1) * sizeof *coarse);
    if (lab_cifar_parse(buf, len, "fuzz.bin", kind, images, labels, coarse, max, &n) == 0) {
        if (n != max) abort();
        for (int64_t i = 0; i < n; i++)
            if (labels[i] < 0 || labels[i] > (kind == LAB_CIFAR10 ? 9 : 99)) abort();
    }
    free(images);
    free(labels);
    free(coarse);
    return 0;
}
