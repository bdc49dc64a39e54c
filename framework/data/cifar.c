/* cifar.c — the binary versions of CIFAR-10 and CIFAR-100.
 *
 * A file is a sequence of fixed-size records with no header: CIFAR-10 has a
 * label byte (0..9) then 3072 pixel bytes; CIFAR-100 a coarse label (0..19),
 * a fine label (0..99), then 3072 pixel bytes (1024 R, 1024 G, 1024 B, each a
 * 32x32 row-major plane), which is already the [3, 32, 32] layout. Since
 * there is no magic number, a file is checked by its length (a whole number
 * of records) and by every label byte being in range.
 *
 * Tested by tests/unit/test_cifar.c on small files written in the real
 * record layout (the real archives are not available here) and fuzzed by
 * tests/fuzz/fuzz_cifar.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_int.h"
#include "lab/error.h"

#define PIXELS 3072

static int check_kind(lab_cifar_kind kind)
{
    if (kind != LAB_CIFAR10 && kind != LAB_CIFAR100)
        return lab_error_set("cifar: unknown kind %d (LAB_CIFAR10 or LAB_CIFAR100)", (int)kind);
    return 0;
}

static size_t record_size(lab_cifar_kind kind) { return kind == LAB_CIFAR10 ? PIXELS + 1 : PIXELS + 2; }

static int check_length(size_t len, const char *name, lab_cifar_kind kind)
{
    size_t rs = record_size(kind);
    if (len == 0) return lab_error_set("cifar: %s is empty", name);
    if (len % rs)
        return lab_error_set("cifar: %s: %zu bytes is not a whole number of %zu-byte CIFAR-%d records (%zu records and %zu "
                             "bytes over): truncated or not a CIFAR-%d file",
                             name, len, rs, (int)kind, len / rs, len % rs, (int)kind);
    return 0;
}

int lab_cifar_parse(const uint8_t *buf, size_t len, const char *name, lab_cifar_kind kind, float *images,
                    int64_t *labels, int64_t *coarse, int64_t max_records, int64_t *n_records)
{
    if (!name) name = "<buffer>";
    if (check_kind(kind) < 0 || check_length(len, name, kind) < 0) return -1;
    size_t rs = record_size(kind);
    int64_t n = (int64_t)(len / rs);
    if (n > max_records)
        return lab_error_set("cifar: %s has %lld records, more than the %lld expected (file changed while reading?)",
                             name, (long long)n, (long long)max_records);
    for (int64_t r = 0; r < n; r++) {
        const uint8_t *rec = buf + (size_t)r * rs;
        if (kind == LAB_CIFAR10) {
            if (rec[0] > 9)
                return lab_error_set("cifar: %s: record %lld (byte %zu) has label %u, CIFAR-10 labels are 0..9", name,
                                     (long long)r, (size_t)r * rs, rec[0]);
            labels[r] = rec[0];
        } else {
            if (rec[0] > 19 || rec[1] > 99)
                return lab_error_set("cifar: %s: record %lld (byte %zu) has coarse label %u and fine label %u, CIFAR-100 "
                                     "uses 0..19 and 0..99",
                                     name, (long long)r, (size_t)r * rs, rec[0], rec[1]);
            coarse[r] = rec[0];
            labels[r] = rec[1];
        }
        const uint8_t *px = rec + rs - PIXELS;
        float *img = images + r * PIXELS;
        for (int i = 0; i < PIXELS; i++) img[i] = px[i];
    }
    *n_records = n;
    return 0;
}

void lab_cifar_free(lab_cifar *c)
{
    if (!c) return;
    lab_tensor_release(c->images);
    lab_tensor_release(c->labels);
    lab_tensor_release(c->coarse);
    free(c);
}

lab_cifar *lab_cifar_read(const char *const *paths, int npaths, lab_cifar_kind kind)
{
    if (check_kind(kind) < 0) return NULL;
    if (!paths || npaths < 1) {
        lab_error_set("cifar: no files given");
        return NULL;
    }
    /* Sizes first, so the tensors are allocated once at their final size. */
    int64_t total = 0;
    for (int i = 0; i < npaths; i++) {
        struct stat st;
        if (!paths[i] || stat(paths[i], &st) != 0) {
            lab_error_set("cifar: cannot open %s: %s", paths[i] ? paths[i] : "(null)", strerror(errno));
            return NULL;
        }
        if (check_length((size_t)st.st_size, paths[i], kind) < 0) return NULL;
        total += (int64_t)((size_t)st.st_size / record_size(kind));
    }
    lab_cifar *c = calloc(1, sizeof *c);
    if (!c) {
        lab_error_set("cifar: out of memory");
        return NULL;
    }
    int64_t ishape[4] = {total, 3, 32, 32};
    c->images = lab_tensor_own(lab_tensor_empty(LAB_F32, 4, ishape, LAB_CPU));
    c->labels = lab_tensor_own(lab_tensor_empty(LAB_I64, 1, &total, LAB_CPU));
    if (kind == LAB_CIFAR100) c->coarse = lab_tensor_own(lab_tensor_empty(LAB_I64, 1, &total, LAB_CPU));
    if (!c->images || !c->labels || (kind == LAB_CIFAR100 && !c->coarse)) goto fail;
    int64_t at = 0;
    for (int i = 0; i < npaths; i++) {
        uint8_t *buf;
        size_t len;
        if (lab_data_read_file("cifar", paths[i], LAB_DATA_MAX_BYTES, &buf, &len) < 0) goto fail;
        int64_t got;
        int rc = lab_cifar_parse(buf, len, paths[i], kind, lab_tensor_f32(c->images) + at * PIXELS,
                                 lab_tensor_i64(c->labels) + at, c->coarse ? lab_tensor_i64(c->coarse) + at : NULL,
                                 total - at, &got);
        free(buf);
        if (rc < 0) goto fail;
        at += got;
    }
    if (at != total) {
        lab_error_set("cifar: %s changed size while being read", paths[npaths - 1]);
        goto fail;
    }
    c->n = total;
    return c;
fail:
    lab_cifar_free(c);
    return NULL;
}

lab_cifar *lab_cifar_read_dir(const char *dir, lab_cifar_kind kind, int train)
{
    if (check_kind(kind) < 0) return NULL;
    if (!dir) {
        lab_error_set("cifar: no directory given");
        return NULL;
    }
    char buf[5][4096];
    const char *paths[5];
    int n = 0;
    if (kind == LAB_CIFAR10 && train) {
        for (n = 0; n < 5; n++) snprintf(buf[n], sizeof buf[n], "%s/data_batch_%d.bin", dir, n + 1);
    } else {
        snprintf(buf[0], sizeof buf[0], "%s/%s", dir,
                 kind == LAB_CIFAR10 ? "test_batch.bin" : train ? "train.bin" : "test.bin");
        n = 1;
    }
    for (int i = 0; i < n; i++) paths[i] = buf[i];
    return lab_cifar_read(paths, n, kind);
}
