/* idx.c — the IDX format of MNIST and Fashion-MNIST (raw or gzip).
 *
 * Layout (big-endian): two zero bytes, an element type byte (0x08 ubyte,
 * 0x09 sbyte, 0x0B short, 0x0C int, 0x0D float, 0x0E double), a dimension
 * count, one uint32 per dimension, then the elements row-major. The file
 * length must equal header + product(dims) * element size exactly.
 *
 * Tested by tests/unit/test_idx.c (MNIST, Fashion-MNIST, every element type,
 * truncated and corrupt files) and fuzzed by tests/fuzz/fuzz_idx.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_int.h"
#include "lab/error.h"

static const char *type_name(int code, int *size)
{
    switch (code) {
    case 0x08: *size = 1; return "ubyte";
    case 0x09: *size = 1; return "sbyte";
    case 0x0B: *size = 2; return "short";
    case 0x0C: *size = 4; return "int";
    case 0x0D: *size = 4; return "float";
    case 0x0E: *size = 8; return "double";
    default: *size = 0; return NULL;
    }
}

static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

static float element(const uint8_t *p, int code)
{
    switch (code) {
    case 0x08: return (float)p[0];
    case 0x09: return (float)(int8_t)p[0];
    case 0x0B: return (float)(int16_t)(uint16_t)(p[0] << 8 | p[1]);
    case 0x0C: return (float)(int32_t)be32(p);
    case 0x0D: {
        uint32_t u = be32(p);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    default: {
        uint64_t u = (uint64_t)be32(p) << 32 | be32(p + 4);
        double d;
        memcpy(&d, &u, 8);
        return (float)d;
    }
    }
}

lab_tensor *lab_idx_parse(const uint8_t *buf, size_t len, const char *name, int mode)
{
    if (!name) name = "<buffer>";
    if (len < 4) {
        lab_error_set("idx: %s: truncated header (%zu bytes, need at least 4)", name, len);
        return NULL;
    }
    if (buf[0] != 0 || buf[1] != 0) {
        lab_error_set("idx: %s: bad magic %02x %02x %02x %02x (an IDX file starts with 00 00 <type> <ndim>)", name,
                      buf[0], buf[1], buf[2], buf[3]);
        return NULL;
    }
    int esize;
    const char *tname = type_name(buf[2], &esize);
    if (!tname) {
        lab_error_set("idx: %s: unknown element type 0x%02x in the magic number", name, buf[2]);
        return NULL;
    }
    if (mode == LAB_IDX_UBYTE && buf[2] != 0x08) {
        lab_error_set("idx: %s: element type is %s, lab_idx_read reads ubyte files only (hint: lab_idx_read_f32 reads "
                      "every type)",
                      name, tname);
        return NULL;
    }
    int ndim = buf[3];
    if (ndim < 1 || ndim > LAB_MAX_DIMS) {
        lab_error_set("idx: %s: %d dimensions in the header (1 to %d are supported)", name, ndim, LAB_MAX_DIMS);
        return NULL;
    }
    size_t hdr = 4 + 4 * (size_t)ndim;
    if (len < hdr) {
        lab_error_set("idx: %s: truncated header (%zu bytes, %d dimensions need %zu)", name, len, ndim, hdr);
        return NULL;
    }
    int64_t shape[LAB_MAX_DIMS];
    uint64_t count = 1;
    int overflow = 0;
    for (int i = 0; i < ndim; i++) {
        shape[i] = be32(buf + 4 + 4 * i);
        if (shape[i] && count > (UINT64_MAX / 8) / (uint64_t)shape[i]) overflow = 1;
        else count *= (uint64_t)shape[i];
    }
    char dims[160];
    size_t off = 0;
    for (int i = 0; i < ndim; i++)
        off += (size_t)snprintf(dims + off, sizeof dims - off, "%s%lld", i ? "x" : "", (long long)shape[i]);
    if (overflow || count * (uint64_t)esize != len - hdr) {
        if (overflow || count * (uint64_t)esize > len - hdr)
            lab_error_set("idx: %s: truncated: header says %s %s elements (%s%llu bytes of data) but the file has %zu",
                          name, dims, tname, overflow ? "over " : "",
                          overflow ? (unsigned long long)(UINT64_MAX / 8) : (unsigned long long)(count * esize), len - hdr);
        else
            lab_error_set("idx: %s: %zu trailing bytes after %s %s elements", name,
                          (size_t)(len - hdr - count * esize), dims, tname);
        return NULL;
    }
    const uint8_t *p = buf + hdr;
    if (mode == LAB_IDX_UBYTE && ndim == 1) {
        lab_tensor *t = lab_tensor_empty(LAB_I64, 1, shape, LAB_CPU);
        if (!t) return NULL;
        int64_t *v = lab_tensor_i64(t);
        for (uint64_t i = 0; i < count; i++) v[i] = p[i];
        return t;
    }
    lab_tensor *t = lab_tensor_empty(LAB_F32, ndim, shape, LAB_CPU);
    if (!t) return NULL;
    float *v = lab_tensor_f32(t);
    if (buf[2] == 0x08) {
        for (uint64_t i = 0; i < count; i++) v[i] = p[i];
    } else {
        for (uint64_t i = 0; i < count; i++) v[i] = element(p + i * (uint64_t)esize, buf[2]);
    }
    return t;
}

static lab_tensor *idx_read(const char *path, int mode)
{
    uint8_t *buf;
    size_t len;
    if (lab_data_load("idx", path, &buf, &len) < 0) return NULL;
    lab_tensor *t = lab_idx_parse(buf, len, path, mode);
    free(buf);
    return t;
}

lab_tensor *lab_idx_read(const char *path) { return idx_read(path, LAB_IDX_UBYTE); }

lab_tensor *lab_idx_read_f32(const char *path) { return idx_read(path, LAB_IDX_ANY); }
