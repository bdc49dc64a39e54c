/* CIFAR-10/100 binary reader. The real archives are not available here, so
 * the tests write small files in the real record layout (label byte(s) then
 * 1024 R, 1024 G, 1024 B bytes) and check every field comes back in place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "labtest.h"
#include "lab/data.h"

static char tmpdir[64];

static void mk_tmp(void)
{
    strcpy(tmpdir, "/tmp/labtest_cifar_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

/* The pixel byte of global record r, channel c, row y, column x. */
static uint8_t pixel(int r, int c, int y, int x) { return (uint8_t)(r * 31 + c * 101 + y * 7 + x * 3); }

/* Writes records r0 .. r0+n-1 (labels derived from r) to dir/name; returns the path. */
static const char *write_records(const char *name, int r0, int n, int hundred, size_t cut)
{
    static char path[4][256];
    static int k;
    char *p = path[k++ & 3];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    size_t written = 0, rs = hundred ? 3074 : 3073, total = rs * (size_t)n - cut;
    for (int r = r0; r < r0 + n; r++) {
        uint8_t rec[3074];
        size_t o = 0;
        if (hundred) rec[o++] = (uint8_t)(r % 20);
        rec[o++] = (uint8_t)(hundred ? (r * 7) % 100 : r % 10);
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++) rec[o++] = pixel(r, c, y, x);
        size_t w = written + rs > total ? total - written : rs;
        cr_assert_eq(fwrite(rec, 1, w, f), w);
        written += w;
    }
    fclose(f);
    return p;
}

static void check(const lab_cifar *c, int n, int hundred)
{
    cr_assert_eq(c->n, n);
    cr_assert_eq(c->images->dtype, LAB_F32);
    cr_assert_eq(c->images->ndim, 4);
    int64_t want[4] = {n, 3, 32, 32};
    for (int i = 0; i < 4; i++) cr_assert_eq(c->images->shape[i], want[i]);
    cr_assert_eq(c->labels->shape[0], n);
    const float *img = lab_tensor_f32(c->images);
    const int64_t *lab = lab_tensor_i64(c->labels);
    for (int r = 0; r < n; r++) {
        cr_assert_eq(lab[r], hundred ? (r * 7) % 100 : r % 10, "record %d label", r);
        if (hundred) cr_assert_eq(lab_tensor_i64(c->coarse)[r], r % 20);
        for (int ch = 0; ch < 3; ch++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    cr_assert_eq(img[((r * 3 + ch) * 32 + y) * 32 + x], (float)pixel(r, ch, y, x),
                                 "record %d c %d y %d x %d", r, ch, y, x);
    }
    if (!hundred) cr_assert_null(c->coarse);
}

Test(cifar, cifar10_train_dir_concatenates_batches)
{
    mk_tmp();
    int sizes[5] = {3, 2, 1, 4, 2}, r = 0;
    for (int b = 0; b < 5; b++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", b + 1);
        write_records(name, r, sizes[b], 0, 0);
        r += sizes[b];
    }
    write_records("test_batch.bin", 0, 5, 0, 0);
    lab_cifar *c = lab_cifar_read_dir(tmpdir, LAB_CIFAR10, 1);
    cr_assert_not_null(c, "%s", lab_error());
    check(c, 12, 0);
    lab_cifar_free(c);
    c = lab_cifar_read_dir(tmpdir, LAB_CIFAR10, 0);
    cr_assert_not_null(c, "%s", lab_error());
    check(c, 5, 0);
    lab_cifar_free(c);
    rm_tmp();
}

Test(cifar, cifar100_fine_and_coarse)
{
    mk_tmp();
    write_records("train.bin", 0, 7, 1, 0);
    write_records("test.bin", 0, 3, 1, 0);
    lab_cifar *c = lab_cifar_read_dir(tmpdir, LAB_CIFAR100, 1);
    cr_assert_not_null(c, "%s", lab_error());
    check(c, 7, 1);
    lab_cifar_free(c);
    c = lab_cifar_read_dir(tmpdir, LAB_CIFAR100, 0);
    cr_assert_not_null(c, "%s", lab_error());
    check(c, 3, 1);
    lab_cifar_free(c);
    rm_tmp();
}

Test(cifar, errors_name_the_file)
{
    mk_tmp();
    const char *p = write_records("cut.bin", 0, 3, 0, 1);
    cr_assert_null(lab_cifar_read(&p, 1, LAB_CIFAR10));
    lt_assert_error_contains("cut.bin");
    lt_assert_error_contains("not a whole number of 3073-byte CIFAR-10 records (2 records and 3072 bytes over)");

    /* a CIFAR-100 file read as CIFAR-10 has the wrong record size */
    p = write_records("c100.bin", 0, 2, 1, 0);
    cr_assert_null(lab_cifar_read(&p, 1, LAB_CIFAR10));
    lt_assert_error_contains("truncated or not a CIFAR-10 file");

    /* a label out of range */
    p = write_records("label.bin", 0, 2, 0, 0);
    FILE *f = fopen(p, "r+b");
    fseek(f, 3073, SEEK_SET);
    fputc(12, f);
    fclose(f);
    cr_assert_null(lab_cifar_read(&p, 1, LAB_CIFAR10));
    lt_assert_error_contains("record 1 (byte 3073) has label 12");

    p = write_records("fine.bin", 0, 1, 1, 0);
    f = fopen(p, "r+b");
    fseek(f, 1, SEEK_SET);
    fputc(100, f);
    fclose(f);
    cr_assert_null(lab_cifar_read(&p, 1, LAB_CIFAR100));
    lt_assert_error_contains("fine label 100");

    p = write_records("empty.bin", 0, 0, 0, 0);
    cr_assert_null(lab_cifar_read(&p, 1, LAB_CIFAR10));
    lt_assert_error_contains("empty.bin is empty");

    /* a missing batch in a directory */
    write_records("data_batch_1.bin", 0, 1, 0, 0);
    cr_assert_null(lab_cifar_read_dir(tmpdir, LAB_CIFAR10, 1));
    lt_assert_error_contains("data_batch_2.bin");

    cr_assert_null(lab_cifar_read(&p, 1, (lab_cifar_kind)11));
    lt_assert_error_contains("unknown kind 11");
    cr_assert_null(lab_cifar_read(NULL, 0, LAB_CIFAR10));
    lt_assert_error_contains("no files");
    rm_tmp();
}
