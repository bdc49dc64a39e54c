/* DEFLATE/gzip decoder: streams made by the system gzip at several levels
 * (stored, fixed and dynamic blocks) must decode byte-for-byte; hand-made
 * streams pin each error a corrupt stream can cause. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "labtest.h"
#include "../../framework/data/data_int.h"

static char tmpdir[64];

static void mk_tmp(void)
{
    strcpy(tmpdir, "/tmp/labtest_inflate_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, len, f), len);
    fclose(f);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    uint8_t *b;
    cr_assert_eq(lab_data_read_file("test", path, 1u << 30, &b, len), 0, "%s", lab_error());
    return b;
}

/* gzip -<level> -n of data; returns the .gz bytes. */
static uint8_t *system_gzip(const uint8_t *data, size_t len, int level, size_t *gz_len)
{
    char in[128], cmd[512], out[140];
    snprintf(in, sizeof in, "%s/in", tmpdir);
    snprintf(out, sizeof out, "%s/in.gz", tmpdir);
    write_file(in, data, len);
    snprintf(cmd, sizeof cmd, "gzip -n -f -%d %s", level, in);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
    return read_file(out, gz_len);
}

static uint64_t lcg(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* Contents that push the encoder into every block type: text-like data with
 * long repeats (dynamic), random bytes (stored), a few bytes (fixed), a long
 * run (maximal lengths), and matches at every distance up to 32 KiB. */
static uint8_t *make_content(int kind, size_t *len)
{
    uint64_t s = 12345 + (uint64_t)kind;
    size_t n = kind == 0 ? 300000 : kind == 1 ? 200000 : kind == 2 ? 5 : kind == 3 ? 1000000 : 400000;
    uint8_t *b = malloc(n);
    static const char *words[] = {"tensor ", "gradient ", "scope ", "kernel ", "labrun ", "\n", "0123456789 "};
    size_t i = 0;
    while (i < n) {
        if (kind == 0) {
            const char *w = words[lcg(&s) % 7];
            for (size_t k = 0; w[k] && i < n; k++) b[i++] = (uint8_t)w[k];
        } else if (kind == 1) {
            b[i++] = (uint8_t)lcg(&s);
        } else if (kind == 2) {
            b[i] = (uint8_t)("hello"[i]);
            i++;
        } else if (kind == 3) {
            b[i] = i < 700000 ? 'z' : (uint8_t)(lcg(&s) % 4);
            i++;
        } else {
            /* copy a random earlier span from up to 32768 bytes back, or a random byte */
            if (i > 40000 && lcg(&s) % 2) {
                size_t d = 1 + lcg(&s) % 32768, l = 3 + lcg(&s) % 256;
                for (size_t k = 0; k < l && i < n; k++, i++) b[i] = b[i - d];
            } else {
                b[i++] = (uint8_t)lcg(&s);
            }
        }
    }
    *len = n;
    return b;
}

/* Block type of the first block of a gzip -n stream (10-byte header). */
static int first_block_type(const uint8_t *gz) { return (gz[10] >> 1) & 3; }

Test(inflate, system_gzip_levels_roundtrip)
{
    mk_tmp();
    int seen[3] = {0};
    int levels[] = {1, 6, 9};
    for (int kind = 0; kind < 5; kind++) {
        size_t n;
        uint8_t *data = make_content(kind, &n);
        for (int l = 0; l < 3; l++) {
            size_t gz_len, out_len;
            uint8_t *gz = system_gzip(data, n, levels[l], &gz_len), *out;
            seen[first_block_type(gz)] = 1;
            cr_assert_eq(lab_gunzip(gz, gz_len, "in.gz", LAB_DATA_MAX_BYTES, &out, &out_len), 0,
                         "kind %d level %d: %s", kind, levels[l], lab_error());
            cr_assert_eq(out_len, n, "kind %d level %d: %zu bytes, want %zu", kind, levels[l], out_len, n);
            cr_assert(memcmp(out, data, n) == 0, "kind %d level %d: content differs", kind, levels[l]);
            /* the same data as a raw DEFLATE stream after the 10-byte header */
            uint8_t *raw;
            size_t raw_len, used;
            cr_assert_eq(lab_inflate_raw(gz + 10, gz_len - 10, "raw", LAB_DATA_MAX_BYTES, &raw, &raw_len, &used), 0);
            cr_assert_eq(raw_len, n);
            cr_assert_eq(used, gz_len - 18, "consumed %zu of %zu", used, gz_len - 18);
            free(raw);
            free(out);
            free(gz);
        }
        free(data);
    }
    cr_assert(seen[0] && seen[1] && seen[2], "block types seen: stored %d fixed %d dynamic %d", seen[0], seen[1],
              seen[2]);
    rm_tmp();
}

Test(inflate, empty_and_multi_member)
{
    mk_tmp();
    size_t a_len, b_len, out_len;
    uint8_t *a = system_gzip((const uint8_t *)"", 0, 6, &a_len), *out;
    cr_assert_eq(lab_gunzip(a, a_len, "empty.gz", 100, &out, &out_len), 0, "%s", lab_error());
    cr_assert_eq(out_len, 0);
    free(out);
    uint8_t *b = system_gzip((const uint8_t *)"second member", 13, 9, &b_len);
    /* like `cat a.gz b.gz b.gz`, plus zero padding as tape archives leave */
    size_t n = a_len + 2 * b_len + 7;
    uint8_t *cat = calloc(1, n);
    memcpy(cat, a, a_len);
    memcpy(cat + a_len, b, b_len);
    memcpy(cat + a_len + b_len, b, b_len);
    cr_assert_eq(lab_gunzip(cat, n, "cat.gz", 100, &out, &out_len), 0, "%s", lab_error());
    cr_assert_eq(out_len, 26);
    cr_assert(memcmp(out, "second membersecond member", 26) == 0);
    free(out);
    /* trailing garbage is an error */
    cat[n - 1] = 'x';
    cr_assert_eq(lab_gunzip(cat, n, "cat.gz", 100, &out, &out_len), -1);
    lt_assert_error_contains("cat.gz");
    free(cat);
    free(a);
    free(b);
    rm_tmp();
}

/* Stored blocks written by hand: lengths 0, 5 and 65535 (the maximum). */
Test(inflate, stored_blocks)
{
    size_t n = 3 * 5 + 5 + 65535;
    uint8_t *s = malloc(n), *p = s;
    *p++ = 0; *p++ = 0; *p++ = 0; *p++ = 0xff; *p++ = 0xff;
    *p++ = 0; *p++ = 5; *p++ = 0; *p++ = 0xfa; *p++ = 0xff;
    memcpy(p, "abcde", 5);
    p += 5;
    *p++ = 1; *p++ = 0xff; *p++ = 0xff; *p++ = 0; *p++ = 0;
    for (int i = 0; i < 65535; i++) *p++ = (uint8_t)(i * 7);
    uint8_t *out;
    size_t out_len, used;
    cr_assert_eq(lab_inflate_raw(s, n, "stored", 1 << 20, &out, &out_len, &used), 0, "%s", lab_error());
    cr_assert_eq(out_len, 65540);
    cr_assert_eq(used, n);
    cr_assert(memcmp(out, "abcde", 5) == 0);
    cr_assert_eq(out[5 + 1000], (uint8_t)7000);
    free(out);
    /* a wrong complement */
    s[8] ^= 1;
    cr_assert_eq(lab_inflate_raw(s, n, "stored", 1 << 20, &out, &out_len, &used), -1);
    lt_assert_error_contains("does not match its complement");
    s[8] ^= 1;
    /* every truncation fails cleanly */
    for (size_t k = 0; k < n; k += 1 + k / 2) {
        cr_assert_eq(lab_inflate_raw(s, k, "stored", 1 << 20, &out, &out_len, &used), -1, "cut %zu accepted", k);
        lt_assert_error_contains("truncated");
    }
    /* the output limit */
    cr_assert_eq(lab_inflate_raw(s, n, "stored", 1000, &out, &out_len, &used), -1);
    lt_assert_error_contains("exceeds the limit of 1000 bytes");
    free(s);
}

/* A little bit writer for hand-made fixed-Huffman blocks. */
typedef struct {
    uint8_t b[64];
    int n;
} bits;

static void put(bits *w, unsigned v, int n) /* n bits, least significant first (header fields) */
{
    for (int i = 0; i < n; i++, w->n++)
        if ((v >> i) & 1) w->b[w->n / 8] |= (uint8_t)(1u << (w->n % 8));
}

static void put_code(bits *w, unsigned code, int n) /* a Huffman code, most significant first */
{
    for (int i = n - 1; i >= 0; i--) put(w, (code >> i) & 1, 1);
}

static void fixed_sym(bits *w, int sym)
{
    if (sym < 144) put_code(w, 0x30 + (unsigned)sym, 8);
    else if (sym < 256) put_code(w, 0x190 + (unsigned)(sym - 144), 9);
    else if (sym < 280) put_code(w, (unsigned)(sym - 256), 7);
    else put_code(w, 0xc0 + (unsigned)(sym - 280), 8);
}

static int run_bits(bits *w, uint8_t **out, size_t *out_len)
{
    size_t used;
    return lab_inflate_raw(w->b, (size_t)(w->n + 7) / 8, "hand", 1 << 20, out, out_len, &used);
}

Test(inflate, fixed_blocks_by_hand)
{
    uint8_t *out;
    size_t len;
    /* 'a', then length 3 at distance 1 (an overlapping copy), end of block */
    bits w = {{0}, 0};
    put(&w, 1, 1), put(&w, 1, 2);
    fixed_sym(&w, 'a'), fixed_sym(&w, 257), put_code(&w, 0, 5), fixed_sym(&w, 256);
    cr_assert_eq(run_bits(&w, &out, &len), 0, "%s", lab_error());
    cr_assert_eq(len, 4);
    cr_assert(memcmp(out, "aaaa", 4) == 0);
    free(out);

    /* a copy with nothing before it */
    bits d = {{0}, 0};
    put(&d, 1, 1), put(&d, 1, 2);
    fixed_sym(&d, 257), put_code(&d, 0, 5), fixed_sym(&d, 256);
    cr_assert_eq(run_bits(&d, &out, &len), -1);
    lt_assert_error_contains("distance 1 reaches before the start");

    /* length symbol 286 and distance symbol 30 exist in the fixed code but are invalid */
    bits l = {{0}, 0};
    put(&l, 1, 1), put(&l, 1, 2);
    fixed_sym(&l, 'a'), fixed_sym(&l, 286), fixed_sym(&l, 256);
    cr_assert_eq(run_bits(&l, &out, &len), -1);
    lt_assert_error_contains("invalid length symbol 286");
    bits ds = {{0}, 0};
    put(&ds, 1, 1), put(&ds, 1, 2);
    fixed_sym(&ds, 'a'), fixed_sym(&ds, 257), put_code(&ds, 30, 5), fixed_sym(&ds, 256);
    cr_assert_eq(run_bits(&ds, &out, &len), -1);
    lt_assert_error_contains("invalid distance symbol 30");

    /* block type 3 */
    bits t = {{0}, 0};
    put(&t, 1, 1), put(&t, 3, 2);
    cr_assert_eq(run_bits(&t, &out, &len), -1);
    lt_assert_error_contains("invalid block type 3");

    /* no end-of-block code before the input ends */
    bits e = {{0}, 0};
    put(&e, 1, 1), put(&e, 1, 2);
    fixed_sym(&e, 'a');
    cr_assert_eq(run_bits(&e, &out, &len), -1);
    lt_assert_error_contains("truncated");
}

Test(inflate, dynamic_header_errors)
{
    uint8_t *out;
    size_t len;
    /* HLIT 30 -> 287 length codes */
    bits a = {{0}, 0};
    put(&a, 1, 1), put(&a, 2, 2), put(&a, 30, 5), put(&a, 0, 5), put(&a, 0, 4);
    cr_assert_eq(run_bits(&a, &out, &len), -1);
    lt_assert_error_contains("too many length (287)");
    /* a code-length code with 19 codes of length 1 */
    bits o = {{0}, 0};
    put(&o, 1, 1), put(&o, 2, 2), put(&o, 0, 5), put(&o, 0, 5), put(&o, 15, 4);
    for (int i = 0; i < 19; i++) put(&o, 1, 3);
    cr_assert_eq(run_bits(&o, &out, &len), -1);
    lt_assert_error_contains("over-subscribed code-length code");
    /* an incomplete code-length code: one symbol of length 2 */
    bits in = {{0}, 0};
    put(&in, 1, 1), put(&in, 2, 2), put(&in, 0, 5), put(&in, 0, 5), put(&in, 0, 4);
    put(&in, 2, 3), put(&in, 0, 3), put(&in, 0, 3), put(&in, 0, 3);
    cr_assert_eq(run_bits(&in, &out, &len), -1);
    lt_assert_error_contains("incomplete code-length code");
    /* repeat (16) as the first code length: code-length code 16 and 0, both length 1 */
    bits r = {{0}, 0};
    put(&r, 1, 1), put(&r, 2, 2), put(&r, 0, 5), put(&r, 0, 5), put(&r, 0, 4);
    put(&r, 1, 3), put(&r, 0, 3), put(&r, 0, 3), put(&r, 1, 3); /* order: 16, 17, 18, 0 */
    put_code(&r, 1, 1); /* symbol 16 is the second code (0 -> '0', 16 -> '1') */
    put(&r, 0, 2);
    cr_assert_eq(run_bits(&r, &out, &len), -1);
    lt_assert_error_contains("repeat of a code length with none before it");
}

Test(inflate, gzip_header_fields)
{
    mk_tmp();
    size_t gz_len, out_len;
    uint8_t *gz = system_gzip((const uint8_t *)"payload", 7, 6, &gz_len), *out;
    /* rebuild the member with FEXTRA, FNAME, FCOMMENT and FHCRC */
    uint8_t h[64] = {0x1f, 0x8b, 8, 4 | 8 | 16 | 2, 0, 0, 0, 0, 0, 3, 3, 0, 'a', 'b', 'c', 'n', 'm', 0, 'c', 0};
    size_t hl = 20;
    uint32_t c = lab_crc32(0, h, hl);
    h[hl++] = (uint8_t)c;
    h[hl++] = (uint8_t)(c >> 8);
    size_t n = hl + gz_len - 10;
    uint8_t *m = malloc(n);
    memcpy(m, h, hl);
    memcpy(m + hl, gz + 10, gz_len - 10);
    cr_assert_eq(lab_gunzip(m, n, "hdr.gz", 100, &out, &out_len), 0, "%s", lab_error());
    cr_assert_eq(out_len, 7);
    cr_assert(memcmp(out, "payload", 7) == 0);
    free(out);
    m[20] ^= 1;
    cr_assert_eq(lab_gunzip(m, n, "hdr.gz", 100, &out, &out_len), -1);
    lt_assert_error_contains("header CRC mismatch");
    m[20] ^= 1;
    m[3] |= 0x80;
    cr_assert_eq(lab_gunzip(m, n, "hdr.gz", 100, &out, &out_len), -1);
    lt_assert_error_contains("reserved header flags");
    m[3] &= 0x7f;
    m[2] = 7;
    cr_assert_eq(lab_gunzip(m, n, "hdr.gz", 100, &out, &out_len), -1);
    lt_assert_error_contains("compression method 7");
    /* every prefix of a valid member fails cleanly */
    m[2] = 8;
    for (size_t k = 0; k < n; k++) {
        cr_assert_eq(lab_gunzip(m, k, "hdr.gz", 100, &out, &out_len), -1, "prefix %zu accepted", k);
        cr_assert(strstr(lab_error(), "truncated") || strstr(lab_error(), "empty input"), "prefix %zu: %s", k,
                  lab_error());
    }
    /* a wrong ISIZE */
    memcpy(m, h, hl);
    m[n - 1] ^= 1;
    cr_assert_eq(lab_gunzip(m, n, "hdr.gz", 100, &out, &out_len), -1);
    lt_assert_error_contains("size mismatch");
    free(m);
    free(gz);
    rm_tmp();
}

/* 16 MB of zeros compress to ~16 KB: the limit stops the output, not memory. */
Test(inflate, bomb_hits_the_limit)
{
    mk_tmp();
    size_t n = 16u << 20, gz_len, out_len;
    uint8_t *zeros = calloc(1, n), *out;
    uint8_t *gz = system_gzip(zeros, n, 9, &gz_len);
    cr_assert_lt(gz_len, 40000);
    cr_assert_eq(lab_gunzip(gz, gz_len, "bomb.gz", 1 << 20, &out, &out_len), -1);
    lt_assert_error_contains("exceeds the limit");
    cr_assert_eq(lab_gunzip(gz, gz_len, "bomb.gz", n, &out, &out_len), 0, "%s", lab_error());
    cr_assert_eq(out_len, n);
    free(out);
    free(gz);
    free(zeros);
    rm_tmp();
}

Test(inflate, crc32_known_answer)
{
    cr_assert_eq(lab_crc32(0, "123456789", 9), 0xCBF43926u);
    cr_assert_eq(lab_crc32(lab_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
    cr_assert_eq(lab_crc32(0, "", 0), 0u);
}
