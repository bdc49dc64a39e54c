/* Named tensors on disk in the safetensors format, and atomic file writes.
 *
 * Layout (as the reference implementation writes and checks it): 8 bytes of
 * little-endian header length N, N bytes of UTF-8 JSON starting with '{'
 * and padded with spaces so that N is a multiple of 8, then the data
 * section. The header maps each tensor name to {"dtype", "shape",
 * "data_offsets": [begin, end]} (offsets relative to the data section) and
 * may hold "__metadata__": a string-to-string map (or null).
 *
 * The loader is strict, like the reference: header length within the file,
 * valid UTF-8 JSON, known fields only, each field once, offsets consistent
 * with dtype x shape, and tensors tiling the data section exactly (no
 * overlap, no gap, no trailing bytes). Every violation is an error naming
 * the file and, where there is one, the tensor. Only F32, I32 and I64 are
 * loaded (labrun's dtypes); others are refused by name.
 *
 * Writes go to a temp file in the target's directory, are fsync'ed, renamed
 * over the target, and the directory is fsync'ed, so a crash leaves either
 * the old file or the new one. Tested in tests/unit/test_safetensors.c
 * (round trips, truncated and corrupted files, interop with Python's
 * safetensors package when present). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab/lab.h"

/* The reference implementation refuses larger headers (MAX_HEADER_SIZE). */
#define ST_MAX_HEADER 100000000ull

/* --- atomic writes -------------------------------------------------------- */

typedef struct {
    const char *path;
    char *tmp;
    int fd;
} atomic_file;

static int atomic_open(atomic_file *af, const char *path)
{
    static int counter;
    af->path = path;
    af->fd = -1;
    size_t len = strlen(path);
    af->tmp = malloc(len + 64);
    if (!af->tmp) return lab_error_set("write '%s': out of host memory", path);
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) + 1 : 0;
    for (int attempt = 0; attempt < 100; attempt++) {
        int c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
        /* A hidden name beside the target: same file system, so rename is atomic. */
        snprintf(af->tmp, len + 64, "%.*s.%s.tmp-%ld-%d", (int)dirlen, path, path + dirlen, (long)getpid(), c);
        af->fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (af->fd >= 0) return 0;
        if (errno != EEXIST) break;
    }
    int e = errno;
    free(af->tmp);
    af->tmp = NULL;
    return lab_error_set("write '%s': cannot create a temporary file beside it: %s", path, strerror(e));
}

static int atomic_write(atomic_file *af, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(af->fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return lab_error_set("write '%s': %s", af->path, strerror(errno));
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void atomic_abort(atomic_file *af)
{
    if (af->fd >= 0) close(af->fd);
    if (af->tmp) unlink(af->tmp);
    free(af->tmp);
    af->tmp = NULL;
    af->fd = -1;
}

static int atomic_commit(atomic_file *af)
{
    if (fsync(af->fd) < 0) {
        int e = errno;
        atomic_abort(af);
        return lab_error_set("write '%s': fsync: %s", af->path, strerror(e));
    }
    int rc = close(af->fd);
    af->fd = -1;
    if (rc < 0) {
        int e = errno;
        atomic_abort(af);
        return lab_error_set("write '%s': close: %s", af->path, strerror(e));
    }
    if (rename(af->tmp, af->path) < 0) {
        int e = errno;
        atomic_abort(af);
        return lab_error_set("write '%s': rename from the temporary file: %s", af->path, strerror(e));
    }
    free(af->tmp);
    af->tmp = NULL;
    /* Make the rename itself durable. Some file systems cannot fsync a
     * directory (EINVAL); the data is then as safe as they allow. */
    const char *slash = strrchr(af->path, '/');
    char *dir = slash ? strndup(af->path, slash == af->path ? 1 : (size_t)(slash - af->path)) : strdup(".");
    if (!dir) return 0;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (dfd >= 0) {
        if (fsync(dfd) < 0 && errno != EINVAL && errno != EROFS) {
            int e = errno;
            close(dfd);
            return lab_error_set("write '%s': fsync of its directory: %s", af->path, strerror(e));
        }
        close(dfd);
    }
    return 0;
}

int lab_file_write_atomic(const char *path, const void *data, size_t len)
{
    if (!path || (!data && len)) return lab_error_set("write: missing path or data");
    atomic_file af;
    if (atomic_open(&af, path) < 0) return -1;
    if (atomic_write(&af, data, len) < 0) {
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af);
}

/* --- small helpers ------------------------------------------------------------ */

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_fmt_u64(sbuf *b, uint64_t v)
{
    char t[32];
    int n = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    sb_put(b, t, (size_t)n);
}

/* A JSON string literal, escaped as serde_json does. */
static void sb_json_str(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[8];
        if (*p == '"')
            sb_put(b, "\\\"", 2);
        else if (*p == '\\')
            sb_put(b, "\\\\", 2);
        else if (*p == '\n')
            sb_put(b, "\\n", 2);
        else if (*p == '\t')
            sb_put(b, "\\t", 2);
        else if (*p == '\r')
            sb_put(b, "\\r", 2);
        else if (*p < 0x20) {
            snprintf(e, sizeof e, "\\u%04x", *p);
            sb_put(b, e, 6);
        } else
            sb_put(b, (const char *)p, 1);
    }
    sb_put(b, "\"", 1);
}

/* Well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
static int utf8_valid(const unsigned char *s, size_t n, size_t *bad)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        int k;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3, min = 0x10000, c &= 0x07;
        } else
            goto fail;
        for (int j = 1; j <= k; j++) {
            if (i + (size_t)j >= n || (s[i + j] & 0xc0) != 0x80) goto fail;
            c = (c << 6) | (s[i + j] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) goto fail;
        i += (size_t)k + 1;
    }
    return 1;
fail:
    if (bad) *bad = i;
    return 0;
}

static const char *st_dtype_name(lab_dtype dt)
{
    switch (dt) {
    case LAB_F32: return "F32";
    case LAB_I32: return "I32";
    case LAB_I64: return "I64";
    }
    return NULL;
}

static int host_is_big_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 0;
}

/* Data on disk is little-endian; swap elements in place on big-endian hosts. */
static void to_from_le(void *data, size_t elem, size_t count)
{
    if (!host_is_big_endian() || elem == 1) return;
    unsigned char *p = data;
    for (size_t i = 0; i < count; i++, p += elem)
        for (size_t a = 0, z = elem - 1; a < z; a++, z--) {
            unsigned char t = p[a];
            p[a] = p[z];
            p[z] = t;
        }
}

/* --- save ------------------------------------------------------------------------ */

int lab_safetensors_save(const char *path, const lab_params *p, const char *const *meta)
{
    if (!path || !p) return lab_error_set("safetensors: save: missing path or parameter list");
    sbuf h = {0};
    int rc = -1;
    void *host = NULL;
    atomic_file af = {.fd = -1};

    sb_str(&h, "{");
    int first = 1;
    if (meta && meta[0]) {
        sb_str(&h, "\"__metadata__\":{");
        for (int i = 0; meta[i]; i += 2) {
            if (!meta[i + 1]) {
                lab_error_set("safetensors: save '%s': metadata key '%s' has no value", path, meta[i]);
                goto out;
            }
            for (int j = 0; j < i; j += 2)
                if (strcmp(meta[j], meta[i]) == 0) {
                    lab_error_set("safetensors: save '%s': metadata key '%s' appears twice", path, meta[i]);
                    goto out;
                }
            if (!utf8_valid((const unsigned char *)meta[i], strlen(meta[i]), NULL) ||
                !utf8_valid((const unsigned char *)meta[i + 1], strlen(meta[i + 1]), NULL)) {
                lab_error_set("safetensors: save '%s': metadata '%s' is not valid UTF-8", path, meta[i]);
                goto out;
            }
            if (i) sb_str(&h, ",");
            sb_json_str(&h, meta[i]);
            sb_str(&h, ":");
            sb_json_str(&h, meta[i + 1]);
        }
        sb_str(&h, "}");
        first = 0;
    }
    uint64_t off = 0;
    for (int i = 0; i < p->n; i++) {
        const lab_tensor *t = p->tensors[i];
        const char *name = p->names[i];
        const char *dt = st_dtype_name(t->dtype);
        if (!dt) {
            lab_error_set("safetensors: save '%s': tensor '%s' has an unsupported dtype", path, name);
            goto out;
        }
        if (strcmp(name, "__metadata__") == 0) {
            lab_error_set("safetensors: save '%s': '__metadata__' is reserved and cannot name a tensor", path);
            goto out;
        }
        if (!utf8_valid((const unsigned char *)name, strlen(name), NULL)) {
            lab_error_set("safetensors: save '%s': tensor name '%s' is not valid UTF-8", path, name);
            goto out;
        }
        uint64_t bytes = (uint64_t)t->numel * lab_dtype_size(t->dtype);
        if (!first) sb_str(&h, ",");
        first = 0;
        sb_json_str(&h, name);
        sb_str(&h, ":{\"dtype\":\"");
        sb_str(&h, dt);
        sb_str(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_str(&h, ",");
            sb_fmt_u64(&h, (uint64_t)t->shape[d]);
        }
        sb_str(&h, "],\"data_offsets\":[");
        sb_fmt_u64(&h, off);
        sb_str(&h, ",");
        sb_fmt_u64(&h, off + bytes);
        sb_str(&h, "]}");
        off += bytes;
    }
    sb_str(&h, "}");
    while (h.n % 8) sb_str(&h, " ");
    if (h.oom) {
        lab_error_set("safetensors: save '%s': out of host memory", path);
        goto out;
    }

    if (atomic_open(&af, path) < 0) goto out;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    if (atomic_write(&af, len8, 8) < 0 || atomic_write(&af, h.s, h.n) < 0) goto out;
    for (int i = 0; i < p->n; i++) {
        const lab_tensor *t = p->tensors[i];
        size_t es = lab_dtype_size(t->dtype), bytes = (size_t)t->numel * es;
        if (bytes == 0) continue;
        const void *src;
        if (t->device.type == LAB_DEV_CPU && !host_is_big_endian()) {
            src = lab_tensor_raw(t);
        } else {
            void *nh = realloc(host, bytes);
            if (!nh) {
                lab_error_set("safetensors: save '%s': out of host memory for tensor '%s'", path, p->names[i]);
                goto out;
            }
            host = nh;
            if (lab_tensor_copy_to_host(t, host) < 0) {
                lab_error_prefix("safetensors: save '%s': tensor '%s': ", path, p->names[i]);
                goto out;
            }
            to_from_le(host, es, (size_t)t->numel);
            src = host;
        }
        if (atomic_write(&af, src, bytes) < 0) goto out;
    }
    rc = atomic_commit(&af);
    af.fd = -1;
out:
    if (rc < 0 && af.fd >= 0) atomic_abort(&af);
    free(host);
    free(h.s);
    return rc;
}

/* --- header parsing ----------------------------------------------------------- */

typedef struct {
    char *name;
    lab_dtype dtype;
    int ndim;
    int64_t shape[LAB_MAX_DIMS];
    uint64_t begin, end;
} st_entry;

typedef struct {
    const char *path;
    const char *s;
    size_t n, i;
    st_entry *e;
    int ne, cap;
    char **meta; /* key, value, ..., NULL */
    int nmeta;
} st_parser;

static int perr(st_parser *P, const char *what)
{
    return lab_error_set("safetensors: '%s': invalid header JSON: %s at byte %zu of the header", P->path, what, P->i);
}

static void ws(st_parser *P)
{
    while (P->i < P->n && (P->s[P->i] == ' ' || P->s[P->i] == '\t' || P->s[P->i] == '\n' || P->s[P->i] == '\r'))
        P->i++;
}

static int peek(st_parser *P)
{
    ws(P);
    return P->i < P->n ? (unsigned char)P->s[P->i] : -1;
}

static int expect(st_parser *P, char c)
{
    if (peek(P) != c) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", c);
        return perr(P, what);
    }
    P->i++;
    return 0;
}

static int hex4(st_parser *P, unsigned *v)
{
    if (P->i + 4 > P->n) return perr(P, "truncated \\u escape");
    *v = 0;
    for (int k = 0; k < 4; k++) {
        char c = P->s[P->i++];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return perr(P, "bad \\u escape");
        *v = *v * 16 + d;
    }
    return 0;
}

/* A JSON string, unescaped into a malloc'd UTF-8 C string. Embedded NUL
 * (\u0000) cannot be a C string and is refused. */
static int parse_string(st_parser *P, char **out)
{
    *out = NULL;
    if (expect(P, '"') < 0) return -1;
    sbuf b = {0};
    for (;;) {
        if (P->i >= P->n) {
            free(b.s);
            return perr(P, "unterminated string");
        }
        unsigned char c = (unsigned char)P->s[P->i++];
        if (c == '"') break;
        if (c < 0x20) {
            free(b.s);
            return perr(P, "control character in a string");
        }
        if (c != '\\') {
            sb_put(&b, (const char *)&c, 1);
            continue;
        }
        if (P->i >= P->n) {
            free(b.s);
            return perr(P, "unterminated escape");
        }
        char e = P->s[P->i++];
        const char *lit = NULL;
        switch (e) {
        case '"': lit = "\""; break;
        case '\\': lit = "\\"; break;
        case '/': lit = "/"; break;
        case 'b': lit = "\b"; break;
        case 'f': lit = "\f"; break;
        case 'n': lit = "\n"; break;
        case 'r': lit = "\r"; break;
        case 't': lit = "\t"; break;
        case 'u': {
            unsigned cp;
            if (hex4(P, &cp) < 0) {
                free(b.s);
                return -1;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (P->i + 2 > P->n || P->s[P->i] != '\\' || P->s[P->i + 1] != 'u') {
                    free(b.s);
                    return perr(P, "unpaired surrogate");
                }
                P->i += 2;
                if (hex4(P, &lo) < 0) {
                    free(b.s);
                    return -1;
                }
                if (lo < 0xdc00 || lo > 0xdfff) {
                    free(b.s);
                    return perr(P, "unpaired surrogate");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                free(b.s);
                return perr(P, "unpaired surrogate");
            }
            if (cp == 0) {
                free(b.s);
                return perr(P, "\\u0000 in a string");
            }
            char u[4];
            size_t k;
            if (cp < 0x80) {
                u[0] = (char)cp, k = 1;
            } else if (cp < 0x800) {
                u[0] = (char)(0xc0 | (cp >> 6)), u[1] = (char)(0x80 | (cp & 0x3f)), k = 2;
            } else if (cp < 0x10000) {
                u[0] = (char)(0xe0 | (cp >> 12)), u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                u[2] = (char)(0x80 | (cp & 0x3f)), k = 3;
            } else {
                u[0] = (char)(0xf0 | (cp >> 18)), u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
                u[2] = (char)(0x80 | ((cp >> 6) & 0x3f)), u[3] = (char)(0x80 | (cp & 0x3f)), k = 4;
            }
            sb_put(&b, u, k);
            break;
        }
        default: free(b.s); return perr(P, "bad escape");
        }
        if (lit) sb_put(&b, lit, 1);
    }
    if (b.oom) {
        free(b.s);
        return lab_error_set("safetensors: '%s': out of host memory", P->path);
    }
    *out = b.s ? b.s : strdup("");
    if (!*out) return lab_error_set("safetensors: '%s': out of host memory", P->path);
    return 0;
}

/* A non-negative integer without sign, fraction or exponent. */
static int parse_uint(st_parser *P, const char *tensor, const char *field, uint64_t *v)
{
    ws(P);
    size_t start = P->i;
    uint64_t x = 0;
    while (P->i < P->n && P->s[P->i] >= '0' && P->s[P->i] <= '9') {
        unsigned d = (unsigned)(P->s[P->i] - '0');
        if (x > (UINT64_MAX - d) / 10)
            return lab_error_set("safetensors: '%s': tensor '%s': %s value overflows", P->path, tensor, field);
        x = x * 10 + d;
        P->i++;
    }
    if (P->i == start || (P->i < P->n && (P->s[P->i] == '.' || P->s[P->i] == 'e' || P->s[P->i] == 'E')) ||
        (P->i - start > 1 && P->s[start] == '0'))
        return lab_error_set("safetensors: '%s': tensor '%s': %s must hold non-negative integers (at byte %zu "
                             "of the header)", P->path, tensor, field, start);
    *v = x;
    return 0;
}

static int parse_uint_array(st_parser *P, const char *tensor, const char *field, uint64_t *v, int max, int *count)
{
    if (expect(P, '[') < 0) return -1;
    int n = 0;
    if (peek(P) == ']') {
        P->i++;
        *count = 0;
        return 0;
    }
    for (;;) {
        uint64_t x = 0;
        if (parse_uint(P, tensor, field, &x) < 0) return -1;
        if (n == max)
            return lab_error_set("safetensors: '%s': tensor '%s': %s has more than %d entries", P->path, tensor,
                                 field, max);
        v[n++] = x;
        int c = peek(P);
        if (c == ',') {
            P->i++;
            continue;
        }
        if (c == ']') {
            P->i++;
            break;
        }
        return perr(P, "expected ',' or ']'");
    }
    *count = n;
    return 0;
}

static int parse_tensor(st_parser *P, st_entry *e)
{
    if (expect(P, '{') < 0) return -1;
    int have_dtype = 0, have_shape = 0, have_off = 0;
    if (peek(P) == '}') {
        P->i++;
        goto check;
    }
    for (;;) {
        char *key;
        if (parse_string(P, &key) < 0) return -1;
        if (expect(P, ':') < 0) {
            free(key);
            return -1;
        }
        int rc = 0;
        if (strcmp(key, "dtype") == 0 && !have_dtype) {
            char *dt;
            rc = parse_string(P, &dt);
            if (rc == 0) {
                if (strcmp(dt, "F32") == 0)
                    e->dtype = LAB_F32;
                else if (strcmp(dt, "I32") == 0)
                    e->dtype = LAB_I32;
                else if (strcmp(dt, "I64") == 0)
                    e->dtype = LAB_I64;
                else
                    rc = lab_error_set("safetensors: '%s': tensor '%s' has dtype %s, which labrun does not load "
                                       "(supported: F32, I32, I64)", P->path, e->name, dt);
                free(dt);
            }
            have_dtype = 1;
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            uint64_t v[LAB_MAX_DIMS + 1];
            int nd;
            rc = parse_uint_array(P, e->name, "shape", v, LAB_MAX_DIMS + 1, &nd);
            if (rc == 0 && nd > LAB_MAX_DIMS)
                rc = lab_error_set("safetensors: '%s': tensor '%s' has more than %d dims", P->path, e->name,
                                   LAB_MAX_DIMS);
            for (int d = 0; rc == 0 && d < nd; d++) {
                if (v[d] > (uint64_t)INT64_MAX)
                    rc = lab_error_set("safetensors: '%s': tensor '%s': dim %d is too large", P->path, e->name, d);
                e->shape[d] = (int64_t)v[d];
            }
            e->ndim = nd;
            have_shape = 1;
        } else if (strcmp(key, "data_offsets") == 0 && !have_off) {
            uint64_t v[3];
            int k;
            rc = parse_uint_array(P, e->name, "data_offsets", v, 3, &k);
            if (rc == 0 && k != 2)
                rc = lab_error_set("safetensors: '%s': tensor '%s': data_offsets must be [begin, end]", P->path,
                                   e->name);
            if (rc == 0) {
                e->begin = v[0];
                e->end = v[1];
            }
            have_off = 1;
        } else if (!strcmp(key, "dtype") || !strcmp(key, "shape") || !strcmp(key, "data_offsets")) {
            rc = lab_error_set("safetensors: '%s': tensor '%s': field '%s' appears twice", P->path, e->name, key);
        } else {
            rc = lab_error_set("safetensors: '%s': tensor '%s': unknown field '%s'", P->path, e->name, key);
        }
        free(key);
        if (rc < 0) return -1;
        int c = peek(P);
        if (c == ',') {
            P->i++;
            continue;
        }
        if (c == '}') {
            P->i++;
            break;
        }
        return perr(P, "expected ',' or '}'");
    }
check:
    if (!have_dtype || !have_shape || !have_off)
        return lab_error_set("safetensors: '%s': tensor '%s' lacks '%s'", P->path, e->name,
                             !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return 0;
}

static int parse_metadata(st_parser *P)
{
    if (peek(P) == 'n') {
        if (P->i + 4 <= P->n && memcmp(P->s + P->i, "null", 4) == 0) {
            P->i += 4;
            return 0;
        }
        return perr(P, "expected an object or null for __metadata__");
    }
    if (expect(P, '{') < 0) return -1;
    if (peek(P) == '}') {
        P->i++;
        return 0;
    }
    for (;;) {
        char *k = NULL, *v = NULL;
        if (parse_string(P, &k) < 0) return -1;
        if (expect(P, ':') < 0) {
            free(k);
            return -1;
        }
        if (peek(P) != '"') {
            lab_error_set("safetensors: '%s': __metadata__ value of '%s' is not a string", P->path, k);
            free(k);
            return -1;
        }
        if (parse_string(P, &v) < 0) {
            free(k);
            return -1;
        }
        for (int j = 0; j < P->nmeta; j++)
            if (strcmp(P->meta[2 * j], k) == 0) {
                lab_error_set("safetensors: '%s': __metadata__ key '%s' appears twice", P->path, k);
                free(k);
                free(v);
                return -1;
            }
        char **nm = realloc(P->meta, (size_t)(2 * P->nmeta + 3) * sizeof *nm);
        if (!nm) {
            free(k);
            free(v);
            return lab_error_set("safetensors: '%s': out of host memory", P->path);
        }
        P->meta = nm;
        P->meta[2 * P->nmeta] = k;
        P->meta[2 * P->nmeta + 1] = v;
        P->nmeta++;
        P->meta[2 * P->nmeta] = NULL;
        int c = peek(P);
        if (c == ',') {
            P->i++;
            continue;
        }
        if (c == '}') {
            P->i++;
            return 0;
        }
        return perr(P, "expected ',' or '}'");
    }
}

static int parse_header(st_parser *P)
{
    if (P->n == 0 || P->s[0] != '{') return perr(P, "the header must start with '{'");
    P->i = 1;
    int have_meta = 0;
    if (peek(P) == '}') {
        P->i++;
        goto tail;
    }
    for (;;) {
        char *key;
        if (parse_string(P, &key) < 0) return -1;
        if (expect(P, ':') < 0) {
            free(key);
            return -1;
        }
        if (strcmp(key, "__metadata__") == 0) {
            free(key);
            if (have_meta) return lab_error_set("safetensors: '%s': __metadata__ appears twice", P->path);
            have_meta = 1;
            if (parse_metadata(P) < 0) return -1;
        } else {
            for (int j = 0; j < P->ne; j++)
                if (strcmp(P->e[j].name, key) == 0) {
                    lab_error_set("safetensors: '%s': tensor '%s' appears twice", P->path, key);
                    free(key);
                    return -1;
                }
            if (!key[0]) {
                free(key);
                return lab_error_set("safetensors: '%s': a tensor has an empty name", P->path);
            }
            if (P->ne == P->cap) {
                int cap = P->cap ? P->cap * 2 : 16;
                st_entry *ne = realloc(P->e, (size_t)cap * sizeof *ne);
                if (!ne) {
                    free(key);
                    return lab_error_set("safetensors: '%s': out of host memory", P->path);
                }
                P->e = ne;
                P->cap = cap;
            }
            st_entry *e = &P->e[P->ne++];
            memset(e, 0, sizeof *e);
            e->name = key;
            if (parse_tensor(P, e) < 0) return -1;
        }
        int c = peek(P);
        if (c == ',') {
            P->i++;
            continue;
        }
        if (c == '}') {
            P->i++;
            break;
        }
        return perr(P, "expected ',' or '}'");
    }
tail:
    ws(P);
    if (P->i != P->n) return perr(P, "unexpected data after the header object");
    return 0;
}

/* Tensors must tile [0, data_len) exactly, in offset order. */
static int cmp_entry(const void *a, const void *b)
{
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int validate_layout(st_parser *P, uint64_t data_len)
{
    for (int j = 0; j < P->ne; j++) {
        st_entry *e = &P->e[j];
        uint64_t numel = 1;
        for (int d = 0; d < e->ndim; d++) {
            uint64_t s = (uint64_t)e->shape[d];
            if (s && numel > UINT64_MAX / 8 / s)
                return lab_error_set("safetensors: '%s': tensor '%s': shape is too large", P->path, e->name);
            numel *= s;
        }
        uint64_t want = numel * lab_dtype_size(e->dtype);
        if (e->end < e->begin)
            return lab_error_set("safetensors: '%s': tensor '%s': data_offsets [%llu, %llu] end before they begin",
                                 P->path, e->name, (unsigned long long)e->begin, (unsigned long long)e->end);
        if (e->end - e->begin != want)
            return lab_error_set("safetensors: '%s': tensor '%s': data_offsets [%llu, %llu] span %llu bytes, but "
                                 "%s with %llu elements needs %llu", P->path, e->name,
                                 (unsigned long long)e->begin, (unsigned long long)e->end,
                                 (unsigned long long)(e->end - e->begin), st_dtype_name(e->dtype),
                                 (unsigned long long)numel, (unsigned long long)want);
        if (e->end > data_len)
            return lab_error_set("safetensors: '%s': tensor '%s': data_offsets [%llu, %llu] run past the data "
                                 "section (%llu bytes; the file may be truncated)", P->path, e->name,
                                 (unsigned long long)e->begin, (unsigned long long)e->end,
                                 (unsigned long long)data_len);
    }
    st_entry **order = malloc((size_t)(P->ne ? P->ne : 1) * sizeof *order);
    if (!order) return lab_error_set("safetensors: '%s': out of host memory", P->path);
    for (int j = 0; j < P->ne; j++) order[j] = &P->e[j];
    qsort(order, (size_t)P->ne, sizeof *order, cmp_entry);
    uint64_t at = 0;
    int rc = 0;
    for (int j = 0; j < P->ne && rc == 0; j++) {
        st_entry *e = order[j];
        if (e->begin < at)
            rc = lab_error_set("safetensors: '%s': tensor '%s' (bytes %llu..%llu) overlaps tensor '%s'", P->path,
                               e->name, (unsigned long long)e->begin, (unsigned long long)e->end, order[j - 1]->name);
        else if (e->begin > at)
            rc = lab_error_set("safetensors: '%s': gap of %llu bytes in the data section before tensor '%s'", P->path,
                               (unsigned long long)(e->begin - at), e->name);
        at = e->end;
    }
    if (rc == 0 && at != data_len)
        rc = lab_error_set("safetensors: '%s': %llu bytes after the last tensor in the data section", P->path,
                           (unsigned long long)(data_len - at));
    free(order);
    return rc;
}

static void parser_free(st_parser *P)
{
    for (int j = 0; j < P->ne; j++) free(P->e[j].name);
    free(P->e);
    lab_safetensors_meta_free(P->meta);
}

void lab_safetensors_meta_free(char **meta)
{
    if (!meta) return;
    for (char **m = meta; *m; m++) free(*m);
    free(meta);
}

static int read_exact(FILE *f, void *dst, size_t n)
{
    return fread(dst, 1, n, f) == n ? 0 : -1;
}

lab_params *lab_safetensors_load(const char *path, lab_device dev, char ***meta_out)
{
    if (meta_out) *meta_out = NULL;
    if (!path) {
        lab_error_set("safetensors: load: missing path");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        lab_error_set("safetensors: cannot open '%s': %s", path, strerror(errno));
        return NULL;
    }
    st_parser P = {.path = path};
    char *header = NULL;
    lab_params *out = NULL;
    struct stat sb;
    if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode)) {
        lab_error_set("safetensors: '%s' is not a regular file", path);
        goto fail;
    }
    uint64_t fsize = (uint64_t)sb.st_size;
    unsigned char len8[8];
    if (fsize < 8 || read_exact(f, len8, 8) < 0) {
        lab_error_set("safetensors: '%s' is %llu bytes, too short for the 8-byte header length", path,
                      (unsigned long long)fsize);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | len8[i];
    if (hlen > fsize - 8) {
        lab_error_set("safetensors: '%s': header length %llu exceeds the %llu bytes after it (truncated or not a "
                      "safetensors file)", path, (unsigned long long)hlen, (unsigned long long)(fsize - 8));
        goto fail;
    }
    if (hlen > ST_MAX_HEADER) {
        lab_error_set("safetensors: '%s': header length %llu exceeds the format's limit of %llu", path,
                      (unsigned long long)hlen, ST_MAX_HEADER);
        goto fail;
    }
    header = malloc((size_t)hlen + 1);
    if (!header) {
        lab_error_set("safetensors: '%s': out of host memory for a %llu-byte header", path, (unsigned long long)hlen);
        goto fail;
    }
    if (read_exact(f, header, (size_t)hlen) < 0) {
        lab_error_set("safetensors: '%s': could not read the %llu-byte header", path, (unsigned long long)hlen);
        goto fail;
    }
    header[hlen] = '\0';
    size_t bad;
    if (!utf8_valid((const unsigned char *)header, (size_t)hlen, &bad)) {
        lab_error_set("safetensors: '%s': header is not valid UTF-8 (byte %zu)", path, bad);
        goto fail;
    }
    P.s = header;
    P.n = (size_t)hlen;
    if (parse_header(&P) < 0 || validate_layout(&P, fsize - 8 - hlen) < 0) goto fail;

    out = lab_params_new();
    if (!out) goto fail;
    for (int j = 0; j < P.ne; j++) {
        st_entry *e = &P.e[j];
        lab_tensor *t = lab_tensor_own(lab_tensor_empty(e->dtype, e->ndim, e->shape, LAB_CPU));
        if (!t) {
            lab_error_prefix("safetensors: '%s': tensor '%s': ", path, e->name);
            goto fail;
        }
        size_t bytes = (size_t)(e->end - e->begin);
        if (bytes && (fseeko(f, (off_t)(8 + hlen + e->begin), SEEK_SET) != 0 ||
                      read_exact(f, lab_tensor_raw(t), bytes) < 0)) {
            lab_tensor_release(t);
            lab_error_set("safetensors: '%s': could not read tensor '%s' (the file changed or is unreadable)",
                          path, e->name);
            goto fail;
        }
        to_from_le(lab_tensor_raw(t), lab_dtype_size(e->dtype), (size_t)t->numel);
        if (dev.type != LAB_DEV_CPU) {
            lab_tensor *d = lab_tensor_own(lab_tensor_empty(e->dtype, e->ndim, e->shape, dev));
            if (!d || lab_tensor_copy_(d, t) < 0) {
                lab_tensor_release(d);
                lab_tensor_release(t);
                lab_error_prefix("safetensors: '%s': tensor '%s': ", path, e->name);
                goto fail;
            }
            lab_tensor_release(t);
            t = d;
        }
        if (!lab_params_add(out, e->name, t)) {
            lab_error_prefix("safetensors: '%s': ", path);
            goto fail;
        }
    }
    if (meta_out) {
        if (!P.meta) P.meta = calloc(1, sizeof *P.meta);
        if (!P.meta) {
            lab_error_set("safetensors: '%s': out of host memory", path);
            goto fail;
        }
        *meta_out = P.meta;
        P.meta = NULL;
    }
    parser_free(&P);
    free(header);
    fclose(f);
    return out;
fail:
    lab_params_free(out);
    parser_free(&P);
    free(header);
    fclose(f);
    return NULL;
}
