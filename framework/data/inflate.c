/* inflate.c — DEFLATE (RFC 1951) and gzip (RFC 1952) decoding, and whole-file
 * loading for the readers.
 *
 * A one-shot decoder: the whole input is in memory and the whole output goes
 * to one growing buffer, so the 32 KiB window is simply the output so far.
 * Huffman codes are decoded with one lookup table per code, indexed by the
 * next `maxlen` bits (bit-reversed canonical codes), so each symbol costs one
 * lookup. Everything a corrupt stream can do is checked: over-subscribed or
 * incomplete codes (only the single-code case RFC 1951 and zlib allow is
 * accepted), invalid symbols, distances before the start of the output,
 * stored-block length complements, truncation anywhere, gzip header flags,
 * CRC-32 and ISIZE, and an output limit against decompression bombs.
 *
 * Tested by tests/unit/test_inflate.c (system gzip at levels 1, 6, 9, stored
 * blocks, fixed and dynamic blocks, corrupt and truncated streams) and fuzzed
 * by tests/fuzz/fuzz_inflate.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_int.h"
#include "lab/error.h"

/* --- CRC-32 ------------------------------------------------------------------ */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t lab_crc32(uint32_t crc, const void *p, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* --- the decoder ------------------------------------------------------------- */

#define MAXBITS 15
#define NLEN 288 /* literal/length symbols including the two invalid ones */
#define NDIST 32

/* A table entry: symbol << 4 | code length; length 0 marks an index that no
 * code of this table starts with. */
typedef struct {
    uint32_t *tab;
    int maxlen;
} huff;

typedef struct {
    const uint8_t *in;
    size_t n, pos;
    uint64_t bits;
    int nbits;
    uint8_t *out;
    size_t len, cap, max, base; /* base: first byte of the current gzip member */
    const char *name;
    uint32_t lit_tab[1 << MAXBITS], dist_tab[1 << MAXBITS];
    huff lit, dist;
} inflater;

static void refill(inflater *s)
{
    while (s->nbits <= 56 && s->pos < s->n) {
        s->bits |= (uint64_t)s->in[s->pos++] << s->nbits;
        s->nbits += 8;
    }
}

static int truncated(inflater *s)
{
    return lab_error_set("inflate: %s: truncated deflate stream (input ends at byte %zu)", s->name, s->n);
}

/* n <= 32 bits, or -1 when the input runs out. */
static int64_t getbits(inflater *s, int n)
{
    if (s->nbits < n) refill(s);
    if (s->nbits < n) return truncated(s);
    uint64_t v = s->bits & ((1ull << n) - 1);
    s->bits >>= n;
    s->nbits -= n;
    return (int64_t)v;
}

/* Back to a byte boundary, returning whole buffered bytes to the input so
 * that s->pos is the next unread byte. */
static void align_input(inflater *s)
{
    int drop = s->nbits & 7;
    s->bits >>= drop;
    s->nbits -= drop;
    s->pos -= (size_t)(s->nbits / 8);
    s->bits = 0;
    s->nbits = 0;
}

static int decode(inflater *s, const huff *h, const char *what)
{
    if (s->nbits < h->maxlen) refill(s);
    uint32_t e = h->tab[s->bits & ((1u << h->maxlen) - 1)];
    int len = (int)(e & 15);
    if (len == 0) {
        if (s->nbits < h->maxlen) return truncated(s);
        return lab_error_set("inflate: %s: invalid %s code near input byte %zu", s->name, what, s->pos);
    }
    if (len > s->nbits) return truncated(s);
    s->bits >>= len;
    s->nbits -= len;
    return (int)(e >> 4);
}

/* Canonical Huffman table from code lengths. allow_incomplete: a code with a
 * single symbol of length 1 (what zlib accepts for lit/len and distances);
 * an empty code is allowed for distances only. */
static int build(inflater *s, huff *h, uint32_t *tab, const uint8_t *lens, int n, const char *what,
                 int is_codelen)
{
    int count[MAXBITS + 1] = {0};
    for (int i = 0; i < n; i++) count[lens[i]]++;
    int maxlen = 0;
    for (int l = 1; l <= MAXBITS; l++)
        if (count[l]) maxlen = l;
    int left = 1;
    for (int l = 1; l <= MAXBITS; l++) {
        left <<= 1;
        left -= count[l];
        if (left < 0)
            return lab_error_set("inflate: %s: over-subscribed %s code near input byte %zu", s->name, what, s->pos);
    }
    int nsym = n - count[0];
    if (left > 0 && !(nsym == 1 && maxlen == 1 && !is_codelen) && !(nsym == 0 && !is_codelen))
        return lab_error_set("inflate: %s: incomplete %s code near input byte %zu", s->name, what, s->pos);
    if (maxlen == 0) maxlen = 1; /* empty code: one all-invalid entry pair */
    h->tab = tab;
    h->maxlen = maxlen;
    size_t size = (size_t)1 << maxlen;
    memset(tab, 0, size * sizeof *tab);
    int next[MAXBITS + 2];
    int code = 0;
    count[0] = 0;
    for (int l = 1; l <= MAXBITS; l++) {
        code = (code + count[l - 1]) << 1;
        next[l] = code;
    }
    for (int sym = 0; sym < n; sym++) {
        int l = lens[sym];
        if (!l) continue;
        int c = next[l]++;
        int r = 0;
        for (int k = 0; k < l; k++) r |= ((c >> k) & 1) << (l - 1 - k);
        for (size_t i = (size_t)r; i < size; i += (size_t)1 << l) tab[i] = (uint32_t)sym << 4 | (uint32_t)l;
    }
    return 0;
}

static int reserve(inflater *s, size_t more)
{
    if (more > s->max - s->len)
        return lab_error_set("inflate: %s: output exceeds the limit of %zu bytes", s->name, s->max);
    if (s->len + more <= s->cap) return 0;
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + more) cap = cap > s->max / 2 ? s->max : cap * 2;
    if (cap > s->max) cap = s->max;
    uint8_t *p = realloc(s->out, cap);
    if (!p) return lab_error_set("inflate: %s: out of memory for %zu bytes", s->name, cap);
    s->out = p;
    s->cap = cap;
    return 0;
}

static const uint16_t len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                      31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                      2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dist_base[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,   33,   49,   65,    97,    129,
                                       193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6,
                                       6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static int codes(inflater *s)
{
    for (;;) {
        int sym = decode(s, &s->lit, "literal/length");
        if (sym < 0) return -1;
        if (sym < 256) {
            if (s->len == s->cap && reserve(s, 1) < 0) return -1;
            s->out[s->len++] = (uint8_t)sym;
            continue;
        }
        if (sym == 256) return 0;
        sym -= 257;
        if (sym >= 29)
            return lab_error_set("inflate: %s: invalid length symbol %d near input byte %zu", s->name, sym + 257, s->pos);
        int64_t e = getbits(s, len_extra[sym]);
        if (e < 0) return -1;
        size_t len = len_base[sym] + (size_t)e;
        int dsym = decode(s, &s->dist, "distance");
        if (dsym < 0) return -1;
        if (dsym >= 30)
            return lab_error_set("inflate: %s: invalid distance symbol %d near input byte %zu", s->name, dsym, s->pos);
        e = getbits(s, dist_extra[dsym]);
        if (e < 0) return -1;
        size_t dist = dist_base[dsym] + (size_t)e;
        if (dist > s->len - s->base)
            return lab_error_set("inflate: %s: distance %zu reaches before the start of the output (%zu bytes) near input byte %zu",
                                 s->name, dist, s->len - s->base, s->pos);
        if (reserve(s, len) < 0) return -1;
        uint8_t *d = s->out + s->len;
        const uint8_t *src = d - dist;
        for (size_t i = 0; i < len; i++) d[i] = src[i];
        s->len += len;
    }
}

static int stored(inflater *s)
{
    align_input(s);
    if (s->n - s->pos < 4) return truncated(s);
    const uint8_t *p = s->in + s->pos;
    unsigned len = p[0] | (unsigned)p[1] << 8, nlen = p[2] | (unsigned)p[3] << 8;
    if (len != (~nlen & 0xffff))
        return lab_error_set("inflate: %s: stored block length %u does not match its complement at input byte %zu",
                             s->name, len, s->pos);
    s->pos += 4;
    if (s->n - s->pos < len) return truncated(s);
    if (reserve(s, len) < 0) return -1;
    if (len) memcpy(s->out + s->len, s->in + s->pos, len);
    s->len += len;
    s->pos += len;
    return 0;
}

static int fixed(inflater *s)
{
    uint8_t lens[NLEN + NDIST];
    int i = 0;
    for (; i < 144; i++) lens[i] = 8;
    for (; i < 256; i++) lens[i] = 9;
    for (; i < 280; i++) lens[i] = 7;
    for (; i < NLEN; i++) lens[i] = 8;
    for (; i < NLEN + NDIST; i++) lens[i] = 5;
    if (build(s, &s->lit, s->lit_tab, lens, NLEN, "literal/length", 0) < 0) return -1;
    if (build(s, &s->dist, s->dist_tab, lens + NLEN, NDIST, "distance", 0) < 0) return -1;
    return codes(s);
}

static int dynamic(inflater *s)
{
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    int64_t hlit = getbits(s, 5), hdist = getbits(s, 5), hclen = getbits(s, 4);
    if (hlit < 0 || hdist < 0 || hclen < 0) return -1;
    int nlen = (int)hlit + 257, ndist = (int)hdist + 1, ncode = (int)hclen + 4;
    if (nlen > 286 || ndist > 30)
        return lab_error_set("inflate: %s: too many length (%d) or distance (%d) symbols near input byte %zu", s->name,
                             nlen, ndist, s->pos);
    uint8_t lens[NLEN + NDIST] = {0};
    for (int i = 0; i < ncode; i++) {
        int64_t v = getbits(s, 3);
        if (v < 0) return -1;
        lens[order[i]] = (uint8_t)v;
    }
    /* The code-length code shares lit_tab: it is rebuilt right after. */
    huff cl;
    if (build(s, &cl, s->lit_tab, lens, 19, "code-length", 1) < 0) return -1;
    uint8_t all[NLEN + NDIST] = {0};
    int i = 0;
    while (i < nlen + ndist) {
        int sym = decode(s, &cl, "code-length");
        if (sym < 0) return -1;
        if (sym < 16) {
            all[i++] = (uint8_t)sym;
            continue;
        }
        int rep, val = 0;
        int64_t e;
        if (sym == 16) {
            if (i == 0)
                return lab_error_set("inflate: %s: repeat of a code length with none before it near input byte %zu",
                                     s->name, s->pos);
            val = all[i - 1];
            if ((e = getbits(s, 2)) < 0) return -1;
            rep = 3 + (int)e;
        } else if (sym == 17) {
            if ((e = getbits(s, 3)) < 0) return -1;
            rep = 3 + (int)e;
        } else {
            if ((e = getbits(s, 7)) < 0) return -1;
            rep = 11 + (int)e;
        }
        if (i + rep > nlen + ndist)
            return lab_error_set("inflate: %s: code lengths overrun %d symbols near input byte %zu", s->name,
                                 nlen + ndist, s->pos);
        while (rep--) all[i++] = (uint8_t)val;
    }
    if (all[256] == 0)
        return lab_error_set("inflate: %s: dynamic block has no end-of-block code near input byte %zu", s->name, s->pos);
    if (build(s, &s->lit, s->lit_tab, all, nlen, "literal/length", 0) < 0) return -1;
    if (build(s, &s->dist, s->dist_tab, all + nlen, ndist, "distance", 0) < 0) return -1;
    return codes(s);
}

/* One DEFLATE stream from s->pos; leaves s->pos after its last byte. */
static int inflate_stream(inflater *s)
{
    int last;
    do {
        int64_t hdr = getbits(s, 3);
        if (hdr < 0) return -1;
        last = (int)(hdr & 1);
        int type = (int)(hdr >> 1);
        int rc;
        if (type == 0) rc = stored(s);
        else if (type == 1) rc = fixed(s);
        else if (type == 2) rc = dynamic(s);
        else rc = lab_error_set("inflate: %s: invalid block type 3 near input byte %zu", s->name, s->pos);
        if (rc < 0) return -1;
    } while (!last);
    align_input(s);
    return 0;
}

static inflater *inflater_new(const uint8_t *in, size_t n, const char *name, size_t max_out)
{
    inflater *s = malloc(sizeof *s);
    if (!s) {
        lab_error_set("inflate: %s: out of memory", name);
        return NULL;
    }
    s->in = in;
    s->n = n;
    s->pos = 0;
    s->bits = 0;
    s->nbits = 0;
    s->out = NULL;
    s->len = s->cap = s->base = 0;
    s->max = max_out;
    s->name = name ? name : "<buffer>";
    return s;
}

/* Shrinks the buffer to its length and hands it out (a 0-byte output still
 * yields a non-NULL pointer). */
static int inflater_finish(inflater *s, uint8_t **out, size_t *out_len)
{
    uint8_t *p = realloc(s->out, s->len ? s->len : 1);
    if (!p) p = s->out;
    if (!p) {
        p = malloc(1);
        if (!p) {
            lab_error_set("inflate: %s: out of memory", s->name);
            free(s);
            return -1;
        }
    }
    *out = p;
    *out_len = s->len;
    free(s);
    return 0;
}

int lab_inflate_raw(const uint8_t *in, size_t n, const char *name, size_t max_out, uint8_t **out,
                    size_t *out_len, size_t *consumed)
{
    *out = NULL;
    *out_len = 0;
    inflater *s = inflater_new(in, n, name, max_out);
    if (!s) return -1;
    if (inflate_stream(s) < 0) {
        free(s->out);
        free(s);
        return -1;
    }
    if (consumed) *consumed = s->pos;
    return inflater_finish(s, out, out_len);
}

int lab_is_gzip(const uint8_t *in, size_t n) { return n >= 2 && in[0] == 0x1f && in[1] == 0x8b; }

static uint32_t le32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

/* Skips a gzip member header at s->pos. */
static int gzip_header(inflater *s)
{
    const uint8_t *in = s->in;
    size_t n = s->n, p = s->pos;
    if (n - p < 10) return lab_error_set("gzip: %s: truncated header at byte %zu", s->name, p);
    if (in[p] != 0x1f || in[p + 1] != 0x8b)
        return lab_error_set("gzip: %s: bad magic %02x %02x at byte %zu (not a gzip member)", s->name, in[p], in[p + 1], p);
    if (in[p + 2] != 8) return lab_error_set("gzip: %s: unknown compression method %u (only 8, deflate)", s->name, in[p + 2]);
    unsigned flg = in[p + 3];
    if (flg & 0xe0) return lab_error_set("gzip: %s: reserved header flags set (0x%02x)", s->name, flg);
    size_t start = p;
    p += 10;
    if (flg & 4) { /* FEXTRA */
        if (n - p < 2) return lab_error_set("gzip: %s: truncated extra field", s->name);
        size_t xlen = in[p] | (size_t)in[p + 1] << 8;
        p += 2;
        if (n - p < xlen) return lab_error_set("gzip: %s: truncated extra field", s->name);
        p += xlen;
    }
    for (unsigned bit = 8; bit <= 16; bit <<= 1) { /* FNAME, FCOMMENT: NUL-terminated */
        if (!(flg & bit)) continue;
        const uint8_t *z = p < n ? memchr(in + p, 0, n - p) : NULL;
        if (!z) return lab_error_set("gzip: %s: truncated %s field", s->name, bit == 8 ? "file name" : "comment");
        p = (size_t)(z - in) + 1;
    }
    if (flg & 2) { /* FHCRC: low 16 bits of the CRC-32 of the header so far */
        if (n - p < 2) return lab_error_set("gzip: %s: truncated header CRC", s->name);
        uint32_t want = in[p] | (uint32_t)in[p + 1] << 8;
        if ((lab_crc32(0, in + start, p - start) & 0xffff) != want)
            return lab_error_set("gzip: %s: header CRC mismatch", s->name);
        p += 2;
    }
    s->pos = p;
    return 0;
}

int lab_gunzip(const uint8_t *in, size_t n, const char *name, size_t max_out, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    inflater *s = inflater_new(in, n, name, max_out);
    if (!s) return -1;
    /* ISIZE of a single-member file is a good first capacity guess. */
    if (n >= 18) {
        size_t guess = le32(in + n - 4);
        if (guess <= max_out && guess / 1032 <= n && reserve(s, guess) < 0) lab_error_clear();
    }
    int members = 0;
    while (s->pos < s->n) {
        if (members > 0) { /* zero padding after the last member is tolerated, as gzip does */
            size_t k = s->pos;
            while (k < s->n && s->in[k] == 0) k++;
            if (k == s->n) break;
        }
        s->base = s->len;
        if (gzip_header(s) < 0 || inflate_stream(s) < 0) goto fail;
        if (s->n - s->pos < 8) {
            lab_error_set("gzip: %s: truncated trailer (CRC-32 and size) at byte %zu", s->name, s->pos);
            goto fail;
        }
        uint32_t crc = le32(s->in + s->pos), isize = le32(s->in + s->pos + 4);
        uint32_t got = s->len > s->base ? lab_crc32(0, s->out + s->base, s->len - s->base) : 0;
        if (crc != got) {
            lab_error_set("gzip: %s: CRC-32 mismatch (stored %08x, computed %08x): corrupt data", s->name, crc, got);
            goto fail;
        }
        if (isize != (uint32_t)(s->len - s->base)) {
            lab_error_set("gzip: %s: size mismatch (trailer says %u bytes mod 2^32, decoded %zu)", s->name, isize,
                          s->len - s->base);
            goto fail;
        }
        s->pos += 8;
        members++;
    }
    if (members == 0) {
        lab_error_set("gzip: %s: empty input", s->name);
        goto fail;
    }
    return inflater_finish(s, out, out_len);
fail:
    free(s->out);
    free(s);
    return -1;
}

/* --- files --------------------------------------------------------------------- */

int lab_data_read_file(const char *what, const char *path, size_t max, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!path) return lab_error_set("%s: no path given", what);
    FILE *f = fopen(path, "rb");
    if (!f) return lab_error_set("%s: cannot open %s: %s", what, path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return lab_error_set("%s: %s is not a regular file", what, path);
    }
    if ((uint64_t)st.st_size > max) {
        fclose(f);
        return lab_error_set("%s: %s is larger than %zu bytes", what, path, max);
    }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) {
        fclose(f);
        return lab_error_set("%s: out of memory reading %s (%zu bytes)", what, path, len);
    }
    size_t got = len ? fread(buf, 1, len, f) : 0;
    int bad = got != len || ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return lab_error_set("%s: error reading %s (got %zu of %zu bytes)", what, path, got, len);
    }
    *out = buf;
    *out_len = len;
    return 0;
}

int lab_data_load(const char *what, const char *path, uint8_t **out, size_t *out_len)
{
    uint8_t *raw;
    size_t n;
    if (lab_data_read_file(what, path, LAB_DATA_MAX_BYTES, &raw, &n) < 0) return -1;
    if (!lab_is_gzip(raw, n)) {
        *out = raw;
        *out_len = n;
        return 0;
    }
    int rc = lab_gunzip(raw, n, path, LAB_DATA_MAX_BYTES, out, out_len);
    free(raw);
    if (rc < 0) return lab_error_prefix("%s: ", what);
    return 0;
}
