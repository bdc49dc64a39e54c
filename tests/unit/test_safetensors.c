/* safetensors checkpoints: round trips, strict loading of damaged files,
 * atomic writes, and interop with Python's safetensors package (skipped
 * with the reason when no python3 can import it). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "labtest.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/labtest-st-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

TestSuite(safetensors, .init = make_dir, .fini = remove_dir);

static const char *path_in(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static int count_files(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, ".."); /* temp files are hidden: count them too */
    closedir(d);
    return n;
}

/* Plain write for the loops below (thousands of files: no fsync needed). */
static void write_plain(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* A list with every dtype, a scalar, an empty tensor and a 3-D tensor. */
static lab_params *sample_params(void)
{
    lab_params *p = lab_params_new();
    lab_params_add(p, "layer.weight", lab_tensor_from_f32((float[]){1.5f, -2, 3.25f, 0, -0.0f, 1e-30f}, 2,
                                                         (int64_t[]){2, 3}));
    int64_t i64[4] = {-1, 0, 1LL << 40, 7};
    lab_params_add_buffer(p, "idx", lab_tensor_from_data(LAB_I64, 1, (int64_t[]){4}, i64, LAB_CPU));
    int32_t i32 = -123456;
    lab_params_add_buffer(p, "count", lab_tensor_from_data(LAB_I32, 0, NULL, &i32, LAB_CPU));
    lab_params_add(p, "empty", lab_tensor_zeros(LAB_F32, 2, (int64_t[]){0, 5}, LAB_CPU));
    lab_params_add(p, "q\"uote\\d/é", lab_tensor_full(LAB_F32, 3, (int64_t[]){2, 1, 3}, 0.5, LAB_CPU));
    return p;
}

static void assert_same(const lab_params *a, const lab_params *b)
{
    cr_assert_eq(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        const lab_tensor *x = a->tensors[i];
        const lab_tensor *y = lab_params_get(b, a->names[i]);
        cr_assert_not_null(y, "'%s' missing after the round trip", a->names[i]);
        cr_assert_eq(x->dtype, y->dtype, "'%s'", a->names[i]);
        cr_assert(lab_tensor_same_shape(x, y), "'%s'", a->names[i]);
        size_t bytes = (size_t)x->numel * lab_dtype_size(x->dtype);
        cr_assert_eq(memcmp(lab_tensor_raw(x), lab_tensor_raw(y), bytes), 0, "'%s' differs", a->names[i]);
    }
}

Test(safetensors, round_trip_all_dtypes_and_metadata)
{
    lab_params *p = sample_params();
    const char *meta[] = {"format", "labrun-ckpt-1", "epoch", "3", "note", "tab\there \"q\"", NULL};
    const char *f = path_in("ck.safetensors");
    cr_assert_eq(lab_safetensors_save(f, p, meta), 0, "%s", lab_error());
    char **m = NULL;
    lab_params *q = lab_safetensors_load(f, LAB_CPU, &m);
    cr_assert_not_null(q, "%s", lab_error());
    assert_same(p, q);
    /* Header order is kept. */
    for (int i = 0; i < p->n; i++) cr_assert_str_eq(q->names[i], p->names[i]);
    cr_assert(q->tensors[0]->requires_grad);
    cr_assert_not_null(m);
    for (int i = 0; meta[i]; i++) cr_assert_str_eq(m[i], meta[i]);
    cr_assert_null(m[6]);
    lab_safetensors_meta_free(m);
    lab_params_free(q);

    /* The layout itself: 8-byte LE length, a multiple of 8, '{' first,
     * spaces as padding, data right after. */
    FILE *fp = fopen(f, "rb");
    unsigned char len8[8];
    cr_assert_eq(fread(len8, 1, 8, fp), 8);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | len8[i];
    cr_assert_eq(n % 8, 0);
    char *h = calloc(1, n + 1);
    cr_assert_eq(fread(h, 1, n, fp), n);
    cr_assert_eq(h[0], '{');
    cr_assert(strstr(h, "\"__metadata__\":{\"format\":\"labrun-ckpt-1\""));
    cr_assert(strstr(h, "\"layer.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}"), "%s", h);
    cr_assert(strstr(h, "\"count\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[56,60]}"), "%s", h);
    cr_assert(strstr(h, "\"q\\\"uote\\\\d/é\""), "%s", h);
    float first;
    cr_assert_eq(fread(&first, 4, 1, fp), 1);
    cr_assert_eq(first, 1.5f);
    struct stat st;
    stat(f, &st);
    cr_assert_eq((uint64_t)st.st_size, 8 + n + 24 + 32 + 4 + 0 + 24);
    free(h);
    fclose(fp);
    lab_params_free(p);
}

Test(safetensors, no_metadata_and_empty_list)
{
    lab_params *p = lab_params_new();
    const char *f = path_in("empty.safetensors");
    cr_assert_eq(lab_safetensors_save(f, p, NULL), 0, "%s", lab_error());
    char **m = NULL;
    lab_params *q = lab_safetensors_load(f, LAB_CPU, &m);
    cr_assert_not_null(q, "%s", lab_error());
    cr_assert_eq(q->n, 0);
    cr_assert_not_null(m);
    cr_assert_null(m[0]);
    lab_safetensors_meta_free(m);
    lab_params_free(q);
    lab_params_free(p);
}

Test(safetensors, overwrite_is_atomic_and_leaves_no_temp_files)
{
    lab_params *p = sample_params();
    const char *f = path_in("ck.safetensors");
    cr_assert_eq(lab_safetensors_save(f, p, NULL), 0);
    lab_tensor_fill_(lab_params_get(p, "layer.weight"), 9.0);
    cr_assert_eq(lab_safetensors_save(f, p, NULL), 0);
    cr_assert_eq(count_files(), 1);
    lab_params *q = lab_safetensors_load(f, LAB_CPU, NULL);
    cr_assert_not_null(q);
    lt_assert_tensor_close(lab_params_get(q, "layer.weight"), (float[]){9, 9, 9, 9, 9, 9}, 0, 0);
    lab_params_free(q);

    /* A failed save (metadata without a value) keeps the old file and
     * leaves nothing behind. */
    const char *bad[] = {"k", NULL};
    cr_assert_eq(lab_safetensors_save(f, p, bad), -1);
    lt_assert_error_contains("metadata key 'k' has no value");
    cr_assert_eq(count_files(), 1);
    lab_params_free(p);

    cr_assert_eq(lab_file_write_atomic(path_in("raw.bin"), "hello", 5), 0);
    FILE *fp = fopen(path_in("raw.bin"), "rb");
    char buf[8] = {0};
    cr_assert_eq(fread(buf, 1, 8, fp), 5);
    fclose(fp);
    cr_assert_str_eq(buf, "hello");
    cr_assert_eq(count_files(), 2);
}

Test(safetensors, save_errors_name_the_file)
{
    lab_params *p = sample_params();
    cr_assert_eq(lab_safetensors_save("/nonexistent-dir/x.safetensors", p, NULL), -1);
    lt_assert_error_contains("/nonexistent-dir/x.safetensors");
    lab_params *r = lab_params_new();
    lab_params_add(r, "__metadata__", lab_tensor_zeros(LAB_F32, 1, (int64_t[]){1}, LAB_CPU));
    cr_assert_eq(lab_safetensors_save(path_in("r.safetensors"), r, NULL), -1);
    lt_assert_error_contains("'__metadata__' is reserved");
    cr_assert_eq(count_files(), 0);
    lab_params_free(r);
    lab_params_free(p);
}

/* Every truncation of a valid file fails cleanly, naming the file. */
Test(safetensors, every_truncation_is_a_clear_error)
{
    lab_params *p = sample_params();
    const char *f = path_in("ck.safetensors"), *t = path_in("trunc.safetensors");
    cr_assert_eq(lab_safetensors_save(f, p, NULL), 0);
    FILE *fp = fopen(f, "rb");
    static unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    for (size_t len = 0; len < n; len++) {
        write_plain(t, buf, len);
        lab_error_clear();
        lab_params *q = lab_safetensors_load(t, LAB_CPU, NULL);
        cr_assert_null(q, "a %zu-byte prefix of %zu loaded", len, n);
        cr_assert(strstr(lab_error(), t), "length %zu: \"%s\" does not name the file", len, lab_error());
    }
    lab_params_free(p);
}

/* Flipping any header byte either still parses to the same tensors or is a
 * clean error: never a crash, a leak or an out-of-bounds read. */
Test(safetensors, corrupted_header_bytes_never_crash)
{
    lab_params *p = sample_params();
    const char *f = path_in("ck.safetensors"), *t = path_in("bad.safetensors");
    cr_assert_eq(lab_safetensors_save(f, p, NULL), 0);
    FILE *fp = fopen(f, "rb");
    static unsigned char buf[4096], mod[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    int failed = 0;
    const unsigned char flips[] = {0x01, 0x20, 0x80, 0xff};
    for (size_t i = 0; i < n && i < 8 + 260; i++) {
        for (size_t k = 0; k < sizeof flips; k++) {
            memcpy(mod, buf, n);
            mod[i] ^= flips[k];
            write_plain(t, mod, n);
            lab_params *q = lab_safetensors_load(t, LAB_CPU, NULL);
            if (!q) {
                failed++;
                cr_assert(strstr(lab_error(), t), "byte %zu: \"%s\"", i, lab_error());
            }
            lab_params_free(q);
        }
    }
    cr_assert(failed > 500, "only %d of the corruptions were detected", failed);
    lab_params_free(p);
}

/* A file from a hand-written header (no padding needed by the reader) and
 * `dlen` data bytes of value 0. */
static const char *raw_file(const char *header, size_t dlen)
{
    const char *f = path_in("hand.safetensors");
    size_t hl = strlen(header);
    unsigned char *b = calloc(1, 8 + hl + dlen + 1);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(b + 8, header, hl);
    cr_assert_eq(lab_file_write_atomic(f, b, 8 + hl + dlen), 0);
    free(b);
    return f;
}

static void expect_load_error(const char *header, size_t dlen, const char *needle)
{
    const char *f = raw_file(header, dlen);
    lab_error_clear();
    lab_params *q = lab_safetensors_load(f, LAB_CPU, NULL);
    cr_assert_null(q, "header %s loaded", header);
    cr_assert(strstr(lab_error(), f), "\"%s\" does not name the file", lab_error());
    cr_assert(strstr(lab_error(), needle), "\"%s\" lacks \"%s\" (header %s)", lab_error(), needle, header);
}

Test(safetensors, strict_loader_errors_name_file_and_tensor)
{
    /* Sanity: the hand-made good file loads. */
    const char *good = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    lab_params *q = lab_safetensors_load(raw_file(good, 8), LAB_CPU, NULL);
    cr_assert_not_null(q, "%s", lab_error());
    lab_params_free(q);

    expect_load_error("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4,
                      "tensor 'a' has dtype F16, which labrun does not load");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
                      "tensor 'a': data_offsets [0, 8] span 8 bytes, but F32 with 1 elements needs 4");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                      "tensor 'a': data_offsets [0, 8] run past the data section");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                      8, "overlaps tensor");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                      12, "gap of 4 bytes in the data section before tensor 'b'");
    expect_load_error(good, 12, "4 bytes after the last tensor");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "end before they begin");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8,
                      "tensor 'a': unknown field 'x'");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "tensor 'a' lacks 'data_offsets'");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                      "tensor 'a': shape must hold non-negative integers");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8,
                      "tensor 'a': shape must hold non-negative integers");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
                      "tensor 'a' has more than 6 dims");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}",
                      8, "tensor 'a' appears twice");
    expect_load_error("{\"__metadata__\":{\"k\":3},\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "__metadata__ value of 'k' is not a string");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "invalid header JSON");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}x", 8,
                      "unexpected data after the header object");
    expect_load_error(" {}", 0, "must start with '{'");
    expect_load_error("{\"\xff\":{}}", 0, "not valid UTF-8");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8,
                      "overflows");
    expect_load_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                      "\"data_offsets\":[0,8]}}",
                      8, "shape is too large");

    /* Header length beyond the file, and a file too short for the length. */
    const char *f = path_in("short.safetensors");
    unsigned char b[16] = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
    cr_assert_eq(lab_file_write_atomic(f, b, 10), 0);
    cr_assert_null(lab_safetensors_load(f, LAB_CPU, NULL));
    lt_assert_error_contains("header length 65535 exceeds the 2 bytes after it");
    cr_assert_eq(lab_file_write_atomic(f, b, 5), 0);
    cr_assert_null(lab_safetensors_load(f, LAB_CPU, NULL));
    lt_assert_error_contains("too short for the 8-byte header length");
    cr_assert_null(lab_safetensors_load(path_in("missing.safetensors"), LAB_CPU, NULL));
    lt_assert_error_contains("cannot open");
    cr_assert_null(lab_safetensors_load(dir, LAB_CPU, NULL));
}

Test(safetensors, json_escapes_and_null_metadata_load)
{
    const char *h = "{\"__metadata__\":null,\"a\\u00e9\\ud83d\\ude00\\n\":{\"dtype\":\"I64\",\"shape\":[1],"
                    "\"data_offsets\":[0,8]}}    ";
    lab_params *q = lab_safetensors_load(raw_file(h, 8), LAB_CPU, NULL);
    cr_assert_not_null(q, "%s", lab_error());
    cr_assert_str_eq(q->names[0], "a\xc3\xa9\xf0\x9f\x98\x80\n");
    cr_assert_eq(q->tensors[0]->dtype, LAB_I64);
    lab_params_free(q);
}

/* --- interop with Python's safetensors ------------------------------------------- */

static const char *find_python(void)
{
    static const char *candidates[] = {"python3", "/usr/bin/python3"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        char cmd[256];
        snprintf(cmd, sizeof cmd, "%s -c 'import safetensors.numpy, numpy' >/dev/null 2>&1", candidates[i]);
        if (system(cmd) == 0) return candidates[i];
    }
    return NULL;
}

Test(safetensors, interop_with_python_safetensors)
{
    const char *py = find_python();
    if (!py)
        cr_skip_test("no python3 can `import safetensors.numpy, numpy` (install with: python3 -m pip install "
                     "safetensors numpy)");

    /* C writes, Python reads and checks. */
    lab_params *p = sample_params();
    const char *meta[] = {"format", "labrun-ckpt-1", NULL};
    const char *f = path_in("c.safetensors");
    cr_assert_eq(lab_safetensors_save(f, p, meta), 0, "%s", lab_error());
    const char *script_path = path_in("check.py");
    FILE *s = fopen(script_path, "w");
    fprintf(s,
            "import sys, numpy as np\n"
            "from safetensors import safe_open\n"
            "from safetensors.numpy import load_file, save_file\n"
            "t = load_file(sys.argv[1])\n"
            "assert sorted(t) == sorted(['layer.weight', 'idx', 'count', 'empty', 'q\"uote\\\\d/\\u00e9']), sorted(t)\n"
            "w = t['layer.weight']\n"
            "assert w.dtype == np.float32 and w.shape == (2, 3), (w.dtype, w.shape)\n"
            "assert (w == np.array([[1.5, -2, 3.25], [0, -0.0, 1e-30]], np.float32)).all(), w\n"
            "assert t['idx'].dtype == np.int64 and list(t['idx']) == [-1, 0, 1 << 40, 7]\n"
            "assert t['count'].dtype == np.int32 and t['count'].shape == () and t['count'] == -123456\n"
            "assert t['empty'].shape == (0, 5)\n"
            "assert (t['q\"uote\\\\d/\\u00e9'] == 0.5).all() and t['q\"uote\\\\d/\\u00e9'].shape == (2, 1, 3)\n"
            "with safe_open(sys.argv[1], 'np') as g:\n"
            "    assert g.metadata() == {'format': 'labrun-ckpt-1'}, g.metadata()\n"
            "save_file({'z.w': np.arange(12, dtype=np.float32).reshape(3, 4) / 8,\n"
            "           'a.labels': np.array([5, -6, 7], np.int64),\n"
            "           'm.i32': np.array([[1, 2], [3, 4]], np.int32),\n"
            "           'one': np.array(2.5, np.float32)},\n"
            "          sys.argv[2], metadata={'from': 'python', 'n': '4'})\n");
    fclose(s);
    const char *g = path_in("py.safetensors");
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s %s %s", py, script_path, f, g);
    cr_assert_eq(system(cmd), 0, "python could not read the C file or write its own: %s", cmd);

    /* Python wrote, C reads. */
    char **m = NULL;
    lab_params *q = lab_safetensors_load(g, LAB_CPU, &m);
    cr_assert_not_null(q, "%s", lab_error());
    cr_assert_eq(q->n, 4);
    float zw[12];
    for (int i = 0; i < 12; i++) zw[i] = (float)i / 8;
    lab_tensor *z = lab_params_get(q, "z.w");
    cr_assert(z && z->ndim == 2 && z->shape[0] == 3 && z->shape[1] == 4);
    lt_assert_tensor_close(z, zw, 0, 0);
    lab_tensor *lb = lab_params_get(q, "a.labels");
    cr_assert(lb && lb->dtype == LAB_I64 && lb->numel == 3);
    cr_assert(lab_tensor_i64(lb)[0] == 5 && lab_tensor_i64(lb)[1] == -6 && lab_tensor_i64(lb)[2] == 7);
    lab_tensor *mi = lab_params_get(q, "m.i32");
    cr_assert(mi && mi->dtype == LAB_I32 && mi->ndim == 2 && lab_tensor_i32(mi)[3] == 4);
    lab_tensor *one = lab_params_get(q, "one");
    cr_assert(one && one->ndim == 0 && lab_tensor_item(one) == 2.5f);
    int seen = 0;
    for (int i = 0; m[i]; i += 2) {
        if (!strcmp(m[i], "from")) seen += !strcmp(m[i + 1], "python");
        if (!strcmp(m[i], "n")) seen += !strcmp(m[i + 1], "4");
    }
    cr_assert_eq(seen, 2);
    lab_safetensors_meta_free(m);
    lab_params_free(q);
    lab_params_free(p);
}
