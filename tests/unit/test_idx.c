/* IDX reader: real MNIST and Fashion-MNIST files (gzip), every element type,
 * and truncated / corrupt copies written to a temporary directory. The
 * checksums were computed once with Python (gzip + numpy) from the same files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "labtest.h"
#include "lab/data.h"

#define MNIST "../shared/data/mnist/" /* tests run from the repository root */
#define FASHION "/usr/share/datasets/fashion-mnist/"

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* sum(v) and sum(v * (i % 251 + 1)) over the values, exact for byte data. */
static void checksums(const lab_tensor *t, long long *sum, long long *wsum)
{
    long long s = 0, w = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        long long v = t->dtype == LAB_I64 ? (long long)lab_tensor_i64(t)[i] : (long long)lab_tensor_f32(t)[i];
        s += v;
        w += v * (i % 251 + 1);
    }
    *sum = s;
    *wsum = w;
}

static char tmpdir[64];

static void mk_tmp(void)
{
    strcpy(tmpdir, "/tmp/labtest_idx_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static const char *tmp_write(const char *name, const void *data, size_t len)
{
    static char path[4][256];
    static int k;
    char *p = path[k++ & 3];
    snprintf(p, 256, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return p;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n);
    cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void check_file(const char *path, int ndim, const int64_t *shape, lab_dtype dt, long long sum,
                       long long wsum, const int64_t *first3, const int64_t *last3)
{
    lab_tensor *t = lab_idx_read(path);
    cr_assert_not_null(t, "%s: %s", path, lab_error());
    cr_assert_eq(t->dtype, dt);
    cr_assert_eq(t->ndim, ndim);
    for (int i = 0; i < ndim; i++) cr_assert_eq(t->shape[i], shape[i], "%s dim %d", path, i);
    long long s, w;
    checksums(t, &s, &w);
    cr_assert_eq(s, sum, "%s: sum %lld != %lld", path, s, sum);
    cr_assert_eq(w, wsum, "%s: weighted sum %lld != %lld", path, w, wsum);
    if (first3) {
        const int64_t *v = lab_tensor_i64(t);
        for (int i = 0; i < 3; i++) {
            cr_assert_eq(v[i], first3[i]);
            cr_assert_eq(v[t->numel - 3 + i], last3[i]);
        }
    }
    lab_tensor_release(t);
}

Test(idx, mnist_test_set)
{
    int64_t img[3] = {10000, 28, 28}, lab[1] = {10000};
    check_file(MNIST "t10k-images-idx3-ubyte.gz", 3, img, LAB_F32, 264923200LL, 33359696709LL, NULL, NULL);
    check_file(MNIST "t10k-labels-idx1-ubyte.gz", 1, lab, LAB_I64, 44434, 5605328, (int64_t[]){7, 2, 1},
               (int64_t[]){4, 5, 6});
}

/* The one full decode of the 47 MB training images in the test suite. */
Test(idx, mnist_train_set)
{
    int64_t img[3] = {60000, 28, 28}, lab[1] = {60000};
    check_file(MNIST "train-images-idx3-ubyte.gz", 3, img, LAB_F32, 1567298545LL, 197463617836LL, NULL, NULL);
    check_file(MNIST "train-labels-idx1-ubyte.gz", 1, lab, LAB_I64, 267236, 33668167, (int64_t[]){5, 0, 4},
               (int64_t[]){5, 6, 8});
}

Test(idx, fashion_mnist)
{
    if (!exists(FASHION "t10k-images-idx3-ubyte.gz")) cr_skip_test("Fashion-MNIST not installed (make deps)");
    int64_t img[3] = {10000, 28, 28}, lab[1] = {10000}, trl[1] = {60000};
    check_file(FASHION "t10k-images-idx3-ubyte.gz", 3, img, LAB_F32, 573469082LL, 72253401797LL, NULL, NULL);
    check_file(FASHION "t10k-labels-idx1-ubyte.gz", 1, lab, LAB_I64, 45000, 5637289, (int64_t[]){9, 2, 1},
               (int64_t[]){8, 1, 5});
    check_file(FASHION "train-labels-idx1-ubyte.gz", 1, trl, LAB_I64, 270000, 33967695, (int64_t[]){9, 0, 0},
               (int64_t[]){3, 0, 5});
}

Test(idx, f32_variant_keeps_labels_as_f32)
{
    lab_tensor *t = lab_idx_read_f32(MNIST "t10k-labels-idx1-ubyte.gz");
    cr_assert_not_null(t, "%s", lab_error());
    cr_assert_eq(t->dtype, LAB_F32);
    cr_assert_eq(t->ndim, 1);
    cr_assert_eq(t->shape[0], 10000);
    cr_assert_eq(lab_tensor_f32(t)[0], 7.0f);
    lab_tensor_release(t);
}

/* One file per element type with values that exercise sign and byte order. */
Test(idx, every_element_type)
{
    mk_tmp();
    struct {
        unsigned char type;
        int size;
        unsigned char bytes[3][8];
        float want[3];
    } cases[] = {
        {0x08, 1, {{0}, {200}, {255}}, {0, 200, 255}},
        {0x09, 1, {{0x7f}, {0x80}, {0xff}}, {127, -128, -1}},
        {0x0B, 2, {{0x01, 0x02}, {0xff, 0xfe}, {0x80, 0x00}}, {258, -2, -32768}},
        {0x0C, 4, {{0, 1, 0, 0}, {0xff, 0xff, 0xff, 0xfd}, {0, 0, 0, 7}}, {65536, -3, 7}},
        {0x0D, 4, {{0x3f, 0xc0, 0, 0}, {0xc0, 0x20, 0, 0}, {0, 0, 0, 0}}, {1.5f, -2.5f, 0}},
        {0x0E, 8, {{0x3f, 0xf8, 0, 0, 0, 0, 0, 0}, {0xc0, 0x59, 0, 0, 0, 0, 0, 0}, {0}}, {1.5f, -100, 0}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        /* shape [3, 1]: exercises the multi-dimensional path of both readers */
        unsigned char buf[4 + 8 + 24] = {0, 0, cases[c].type, 2, 0, 0, 0, 3, 0, 0, 0, 1};
        for (int i = 0; i < 3; i++) memcpy(buf + 12 + i * cases[c].size, cases[c].bytes[i], (size_t)cases[c].size);
        const char *p = tmp_write("t.idx", buf, 12 + 3 * (size_t)cases[c].size);
        lab_tensor *t = lab_idx_read_f32(p);
        cr_assert_not_null(t, "type %02x: %s", cases[c].type, lab_error());
        cr_assert_eq(t->ndim, 2);
        cr_assert_eq(t->shape[0], 3);
        for (int i = 0; i < 3; i++)
            cr_assert_eq(lab_tensor_f32(t)[i], cases[c].want[i], "type %02x elem %d: %g", cases[c].type, i,
                         lab_tensor_f32(t)[i]);
        lab_tensor_release(t);
        lab_tensor *u = lab_idx_read(p);
        if (cases[c].type == 0x08) {
            cr_assert_not_null(u);
            lab_tensor_release(u);
        } else {
            cr_assert_null(u, "type %02x accepted by lab_idx_read", cases[c].type);
            lt_assert_error_contains("lab_idx_read_f32");
        }
    }
    rm_tmp();
}

Test(idx, corrupt_and_truncated_files)
{
    mk_tmp();
    unsigned char good[] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3};
    lab_tensor *t = lab_idx_read(tmp_write("ok.idx", good, sizeof good));
    cr_assert_not_null(t, "%s", lab_error());
    cr_assert_eq(t->dtype, LAB_I64);
    cr_assert_eq(lab_tensor_i64(t)[2], 3);
    lab_tensor_release(t);

    const char *p = tmp_write("short.idx", good, sizeof good - 1);
    cr_assert_null(lab_idx_read(p));
    lt_assert_error_contains("short.idx");
    lt_assert_error_contains("truncated");

    unsigned char extra[] = {0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3, 4};
    cr_assert_null(lab_idx_read(tmp_write("long.idx", extra, sizeof extra)));
    lt_assert_error_contains("1 trailing bytes");

    unsigned char magic[] = {1, 0, 8, 1, 0, 0, 0, 1, 1};
    cr_assert_null(lab_idx_read(tmp_write("magic.idx", magic, sizeof magic)));
    lt_assert_error_contains("bad magic");

    unsigned char type[] = {0, 0, 7, 1, 0, 0, 0, 1, 1};
    cr_assert_null(lab_idx_read(tmp_write("type.idx", type, sizeof type)));
    lt_assert_error_contains("unknown element type 0x07");

    unsigned char nodim[] = {0, 0, 8, 0};
    cr_assert_null(lab_idx_read(tmp_write("nodim.idx", nodim, sizeof nodim)));
    lt_assert_error_contains("0 dimensions");

    unsigned char hdr[] = {0, 0, 8, 3, 0, 0, 0, 1};
    cr_assert_null(lab_idx_read(tmp_write("hdr.idx", hdr, sizeof hdr)));
    lt_assert_error_contains("truncated header");

    /* dims whose product overflows 64 bits */
    unsigned char huge[] = {0, 0, 8, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1};
    cr_assert_null(lab_idx_read(tmp_write("huge.idx", huge, sizeof huge)));
    lt_assert_error_contains("truncated");

    cr_assert_null(lab_idx_read("/nonexistent/labrun/none.idx"));
    lt_assert_error_contains("cannot open /nonexistent/labrun/none.idx");
    rm_tmp();
}

Test(idx, truncated_and_corrupt_gzip)
{
    mk_tmp();
    size_t n;
    unsigned char *gz = slurp(MNIST "t10k-labels-idx1-ubyte.gz", &n);
    /* cut in the header, in the deflate data and in the trailer */
    size_t cuts[] = {5, 100, n / 2, n - 3};
    for (size_t i = 0; i < 4; i++) {
        const char *p = tmp_write("cut.gz", gz, cuts[i]);
        lab_error_clear();
        cr_assert_null(lab_idx_read(p), "cut at %zu accepted", cuts[i]);
        lt_assert_error_contains("cut.gz");
        lt_assert_error_contains("truncated");
    }
    /* one flipped bit in the compressed data: a CRC or code error, never garbage */
    unsigned char *bad = malloc(n);
    for (size_t at = 40; at < n - 8; at += 997) {
        memcpy(bad, gz, n);
        bad[at] ^= 0x10;
        lab_error_clear();
        lab_tensor *t = lab_idx_read(tmp_write("flip.gz", bad, n));
        cr_assert_null(t, "bit flip at %zu accepted", at);
        lt_assert_error_contains("flip.gz");
    }
    /* a flipped CRC byte in the trailer */
    memcpy(bad, gz, n);
    bad[n - 6] ^= 1;
    cr_assert_null(lab_idx_read(tmp_write("crc.gz", bad, n)));
    lt_assert_error_contains("CRC-32 mismatch");
    free(bad);
    free(gz);
    rm_tmp();
}

/* Inside a scope the result belongs to the scope like any op's. */
Test(idx, result_follows_scopes)
{
    lab_scope_begin();
    lab_tensor *t = lab_idx_read(MNIST "t10k-labels-idx1-ubyte.gz");
    cr_assert_not_null(t);
    lab_scope_end();
    lab_tensor *u = lab_keep(lab_idx_read(MNIST "t10k-labels-idx1-ubyte.gz"));
    lab_tensor_release(u);
}
