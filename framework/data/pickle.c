/* pickle.c — a strict reader for the pickles of the Planetoid data sets.
 *
 * The ind.* files were written by Python 2's cPickle with protocol 2. They
 * use 27 opcodes and 6 globals, and this is all the machine runs:
 *
 *   PROTO MARK STOP GLOBAL REDUCE NEWOBJ BUILD  BINPUT LONG_BINPUT BINGET
 *   NONE NEWTRUE NEWFALSE BININT1 BININT2 BININT SHORT_BINSTRING BINSTRING
 *   EMPTY_TUPLE TUPLE TUPLE1 TUPLE2 TUPLE3 EMPTY_LIST APPEND APPENDS
 *   EMPTY_DICT SETITEMS          (LONG_BINGET and SETITEM, their obvious
 *                                 siblings, are accepted too)
 *
 *   numpy.core.multiarray._reconstruct, numpy.ndarray, numpy.dtype,
 *   scipy.sparse.csr.csr_matrix, collections.defaultdict, __builtin__.list
 *
 * Nothing is ever called or imported: a global is a tag, REDUCE and NEWOBJ
 * build tagged records (ndarray, dtype, csr_matrix, defaultdict), and the
 * accessors below check their shape strictly (argument types, dtype and byte
 * order, buffer lengths, CSR invariants). Strings are Python 2 byte strings
 * (latin-1 in Python 3 terms) and point into the input buffer.
 *
 * Tested by tests/unit/test_planetoid.c (the real Cora, CiteSeer and PubMed
 * files, pickles written by the test in the same layout, and corrupt
 * pickles) and fuzzed by tests/fuzz/fuzz_pickle.c.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_int.h"
#include "lab/error.h"

typedef enum {
    PK_NONE,
    PK_BOOL,
    PK_INT,
    PK_STR,
    PK_TUPLE,
    PK_LIST,
    PK_DICT, /* items: key, value, key, value, ...; defaultdict(list) too */
    PK_GLOBAL,
    PK_NDARRAY, /* _reconstruct(ndarray, ...) awaiting/holding its BUILD state */
    PK_DTYPE,   /* dtype(str, 0, 1); s = the type string */
    PK_CSR,     /* csr_matrix() via NEWOBJ; state = the attribute dict */
} pk_kind;

enum { G_RECONSTRUCT, G_NDARRAY, G_DTYPE, G_CSR, G_DEFAULTDICT, G_LIST, G_COUNT };

static const struct {
    const char *module, *name;
} globals[] = {
    {"numpy.core.multiarray", "_reconstruct"}, {"numpy", "ndarray"},
    {"numpy", "dtype"},                        {"scipy.sparse.csr", "csr_matrix"},
    {"collections", "defaultdict"},            {"__builtin__", "list"},
};

struct lab_pk {
    pk_kind kind;
    int64_t i;          /* INT, BOOL; GLOBAL: which global */
    const uint8_t *s;   /* STR, DTYPE: borrowed from the input */
    size_t slen;
    lab_pk **items;     /* TUPLE, LIST, DICT; NDARRAY/DTYPE: the REDUCE args */
    size_t n, cap;
    lab_pk *state;      /* NDARRAY, DTYPE, CSR: the BUILD argument */
    lab_pk *next;       /* arena list */
};

struct lab_pk_arena {
    lab_pk *head;
};

typedef struct {
    const uint8_t *buf;
    size_t len, pos, op_pos;
    const char *name;
    const char *op;
    lab_pk_arena *arena;
    lab_pk **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    lab_pk **memo;
    size_t nmemo;
} vm;

static int verr(vm *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int verr(vm *m, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return lab_error_set("pickle: %s: byte %zu (%s): %s", m->name, m->op_pos, m->op ? m->op : "?", msg);
}

static lab_pk *new_obj(vm *m, pk_kind kind)
{
    lab_pk *o = calloc(1, sizeof *o);
    if (!o) {
        verr(m, "out of memory");
        return NULL;
    }
    o->kind = kind;
    o->next = m->arena->head;
    m->arena->head = o;
    return o;
}

static int add_item(vm *m, lab_pk *o, lab_pk *item)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4;
        lab_pk **p = realloc(o->items, cap * sizeof *p);
        if (!p) return verr(m, "out of memory");
        o->items = p;
        o->cap = cap;
    }
    o->items[o->n++] = item;
    return 0;
}

static int push(vm *m, lab_pk *o)
{
    if (!o) return -1;
    if (m->sp == m->scap) {
        size_t cap = m->scap ? m->scap * 2 : 64;
        lab_pk **p = realloc(m->stack, cap * sizeof *p);
        if (!p) return verr(m, "out of memory");
        m->stack = p;
        m->scap = cap;
    }
    m->stack[m->sp++] = o;
    return 0;
}

static lab_pk *pop(vm *m)
{
    size_t floor = m->nmarks ? m->marks[m->nmarks - 1] : 0;
    if (m->sp <= floor) {
        verr(m, "stack underflow");
        return NULL;
    }
    return m->stack[--m->sp];
}

static lab_pk *top(vm *m)
{
    size_t floor = m->nmarks ? m->marks[m->nmarks - 1] : 0;
    if (m->sp <= floor) {
        verr(m, "stack underflow");
        return NULL;
    }
    return m->stack[m->sp - 1];
}

/* The object just below stack position `from` (the list or dict that
 * APPENDS / SETITEMS extend), within the current mark. */
static lab_pk *below(vm *m, size_t from)
{
    size_t floor = m->nmarks ? m->marks[m->nmarks - 1] : 0;
    if (from <= floor) {
        verr(m, "stack underflow");
        return NULL;
    }
    return m->stack[from - 1];
}

/* Pops the topmost mark; the items above it are stack[*from .. sp). */
static int pop_mark(vm *m, size_t *from)
{
    if (!m->nmarks) return verr(m, "no MARK on the stack");
    *from = m->marks[--m->nmarks];
    return 0;
}

static int need(vm *m, size_t n)
{
    if (m->len - m->pos < n) return verr(m, "truncated: needs %zu bytes, %zu left", n, m->len - m->pos);
    return 0;
}

static uint32_t rd_le(const uint8_t *p, int n)
{
    uint32_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static int do_global(vm *m)
{
    const uint8_t *s = m->buf + m->pos, *end = m->buf + m->len;
    const uint8_t *nl1 = memchr(s, '\n', (size_t)(end - s));
    const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(end - nl1 - 1)) : NULL;
    if (!nl2) return verr(m, "truncated module/name lines");
    size_t ml = (size_t)(nl1 - s), nl = (size_t)(nl2 - nl1 - 1);
    m->pos = (size_t)(nl2 - m->buf) + 1;
    for (int g = 0; g < G_COUNT; g++) {
        if (strlen(globals[g].module) == ml && memcmp(globals[g].module, s, ml) == 0 &&
            strlen(globals[g].name) == nl && memcmp(globals[g].name, nl1 + 1, nl) == 0) {
            lab_pk *o = new_obj(m, PK_GLOBAL);
            if (!o) return -1;
            o->i = g;
            return push(m, o);
        }
    }
    return verr(m, "global %.*s.%.*s is not one the Planetoid files use", (int)(ml > 80 ? 80 : ml), (const char *)s,
                (int)(nl > 80 ? 80 : nl), (const char *)(nl1 + 1));
}

static int is_global(const lab_pk *o, int g) { return o && o->kind == PK_GLOBAL && o->i == g; }

static int do_reduce(vm *m, int newobj)
{
    lab_pk *args = pop(m), *fn = args ? pop(m) : NULL;
    if (!fn) return -1;
    if (args->kind != PK_TUPLE) return verr(m, "arguments are not a tuple");
    lab_pk *o = NULL;
    if (newobj) {
        if (!is_global(fn, G_CSR) || args->n != 0) return verr(m, "NEWOBJ is only used for csr_matrix()");
        o = new_obj(m, PK_CSR);
    } else if (is_global(fn, G_RECONSTRUCT)) {
        /* _reconstruct(ndarray, (0,), 'b') */
        if (args->n != 3 || !is_global(args->items[0], G_NDARRAY) || args->items[2]->kind != PK_STR)
            return verr(m, "_reconstruct arguments are not (ndarray, shape, typecode)");
        o = new_obj(m, PK_NDARRAY);
    } else if (is_global(fn, G_DTYPE)) {
        /* dtype('f4', 0, 1) */
        if (args->n != 3 || args->items[0]->kind != PK_STR || args->items[1]->kind != PK_INT ||
            args->items[2]->kind != PK_INT)
            return verr(m, "dtype arguments are not (str, int, int)");
        o = new_obj(m, PK_DTYPE);
        if (o) {
            o->s = args->items[0]->s;
            o->slen = args->items[0]->slen;
        }
    } else if (is_global(fn, G_DEFAULTDICT)) {
        if (args->n != 1 || !is_global(args->items[0], G_LIST))
            return verr(m, "only defaultdict(list) is supported");
        o = new_obj(m, PK_DICT);
    } else {
        return verr(m, "REDUCE of something other than _reconstruct, dtype or defaultdict");
    }
    return push(m, o);
}

static int do_build(vm *m)
{
    lab_pk *state = pop(m), *o = state ? top(m) : NULL;
    if (!o) return -1;
    if (o->kind != PK_NDARRAY && o->kind != PK_DTYPE && o->kind != PK_CSR)
        return verr(m, "BUILD on an object that is not an ndarray, dtype or csr_matrix");
    if (o->state) return verr(m, "second BUILD on one object");
    o->state = state;
    return 0;
}

/* Collects stack[from..sp) into a new container. */
static int collapse(vm *m, size_t from, lab_pk *into)
{
    for (size_t i = from; i < m->sp; i++)
        if (add_item(m, into, m->stack[i]) < 0) return -1;
    m->sp = from;
    return 0;
}

static int run(vm *m, lab_pk **root)
{
    while (m->pos < m->len) {
        m->op_pos = m->pos;
        uint8_t op = m->buf[m->pos++];
        lab_pk *o;
        size_t from = 0;
        switch (op) {
        case 0x80: /* PROTO */
            m->op = "PROTO";
            if (need(m, 1) < 0) return -1;
            if (m->buf[m->pos] > 2) return verr(m, "protocol %u (the Planetoid files use 2)", m->buf[m->pos]);
            m->pos++;
            break;
        case '(': /* MARK */
            m->op = "MARK";
            if (m->nmarks == m->mcap) {
                size_t cap = m->mcap ? m->mcap * 2 : 16;
                size_t *p = realloc(m->marks, cap * sizeof *p);
                if (!p) return verr(m, "out of memory");
                m->marks = p;
                m->mcap = cap;
            }
            m->marks[m->nmarks++] = m->sp;
            break;
        case '.': /* STOP */
            m->op = "STOP";
            if (m->nmarks) return verr(m, "unclosed MARK");
            if (m->sp != 1) return verr(m, "%zu objects on the stack (want 1)", m->sp);
            if (m->pos != m->len) return verr(m, "%zu bytes after STOP", m->len - m->pos);
            *root = m->stack[0];
            return 0;
        case 'c': /* GLOBAL */
            m->op = "GLOBAL";
            if (do_global(m) < 0) return -1;
            break;
        case 'R': /* REDUCE */
            m->op = "REDUCE";
            if (do_reduce(m, 0) < 0) return -1;
            break;
        case 0x81: /* NEWOBJ */
            m->op = "NEWOBJ";
            if (do_reduce(m, 1) < 0) return -1;
            break;
        case 'b': /* BUILD */
            m->op = "BUILD";
            if (do_build(m) < 0) return -1;
            break;
        case 'q':  /* BINPUT */
        case 'r': { /* LONG_BINPUT */
            m->op = op == 'q' ? "BINPUT" : "LONG_BINPUT";
            int w = op == 'q' ? 1 : 4;
            if (need(m, (size_t)w) < 0) return -1;
            size_t idx = rd_le(m->buf + m->pos, w);
            m->pos += (size_t)w;
            if (!(o = top(m))) return -1;
            /* a memo index is at most the number of opcodes so far in any real pickle */
            if (idx > m->len + 256) return verr(m, "memo index %zu is implausibly large", idx);
            if (idx >= m->nmemo) {
                size_t n = idx + 1 > m->nmemo * 2 ? idx + 1 : m->nmemo * 2;
                lab_pk **p = realloc(m->memo, n * sizeof *p);
                if (!p) return verr(m, "out of memory");
                memset(p + m->nmemo, 0, (n - m->nmemo) * sizeof *p);
                m->memo = p;
                m->nmemo = n;
            }
            m->memo[idx] = o;
            break;
        }
        case 'h':  /* BINGET */
        case 'j': { /* LONG_BINGET */
            m->op = op == 'h' ? "BINGET" : "LONG_BINGET";
            int w = op == 'h' ? 1 : 4;
            if (need(m, (size_t)w) < 0) return -1;
            size_t idx = rd_le(m->buf + m->pos, w);
            m->pos += (size_t)w;
            if (idx >= m->nmemo || !m->memo[idx]) return verr(m, "memo index %zu was never stored", idx);
            if (push(m, m->memo[idx]) < 0) return -1;
            break;
        }
        case 'N': /* NONE */
            m->op = "NONE";
            if (push(m, new_obj(m, PK_NONE)) < 0) return -1;
            break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            m->op = op == 0x88 ? "NEWTRUE" : "NEWFALSE";
            if (!(o = new_obj(m, PK_BOOL))) return -1;
            o->i = op == 0x88;
            if (push(m, o) < 0) return -1;
            break;
        case 'K':  /* BININT1 */
        case 'M':  /* BININT2 */
        case 'J': { /* BININT */
            m->op = op == 'K' ? "BININT1" : op == 'M' ? "BININT2" : "BININT";
            int w = op == 'K' ? 1 : op == 'M' ? 2 : 4;
            if (need(m, (size_t)w) < 0) return -1;
            uint32_t v = rd_le(m->buf + m->pos, w);
            m->pos += (size_t)w;
            if (!(o = new_obj(m, PK_INT))) return -1;
            o->i = w == 4 ? (int64_t)(int32_t)v : (int64_t)v;
            if (push(m, o) < 0) return -1;
            break;
        }
        case 'U':  /* SHORT_BINSTRING */
        case 'T': { /* BINSTRING */
            m->op = op == 'U' ? "SHORT_BINSTRING" : "BINSTRING";
            int w = op == 'U' ? 1 : 4;
            if (need(m, (size_t)w) < 0) return -1;
            uint32_t n = rd_le(m->buf + m->pos, w);
            m->pos += (size_t)w;
            if (w == 4 && (int32_t)n < 0) return verr(m, "negative length");
            if (need(m, n) < 0) return -1;
            if (!(o = new_obj(m, PK_STR))) return -1;
            o->s = m->buf + m->pos;
            o->slen = n;
            m->pos += n;
            if (push(m, o) < 0) return -1;
            break;
        }
        case ')': /* EMPTY_TUPLE */
            m->op = "EMPTY_TUPLE";
            if (push(m, new_obj(m, PK_TUPLE)) < 0) return -1;
            break;
        case ']': /* EMPTY_LIST */
            m->op = "EMPTY_LIST";
            if (push(m, new_obj(m, PK_LIST)) < 0) return -1;
            break;
        case '}': /* EMPTY_DICT */
            m->op = "EMPTY_DICT";
            if (push(m, new_obj(m, PK_DICT)) < 0) return -1;
            break;
        case 't': /* TUPLE */
            m->op = "TUPLE";
            if (pop_mark(m, &from) < 0 || !(o = new_obj(m, PK_TUPLE)) || collapse(m, from, o) < 0 || push(m, o) < 0)
                return -1;
            break;
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: { /* TUPLE3 */
            m->op = op == 0x85 ? "TUPLE1" : op == 0x86 ? "TUPLE2" : "TUPLE3";
            size_t n = (size_t)(op - 0x84), floor = m->nmarks ? m->marks[m->nmarks - 1] : 0;
            if (m->sp - floor < n) return verr(m, "stack underflow");
            if (!(o = new_obj(m, PK_TUPLE)) || collapse(m, m->sp - n, o) < 0 || push(m, o) < 0) return -1;
            break;
        }
        case 'a': { /* APPEND */
            m->op = "APPEND";
            lab_pk *v = pop(m), *list = v ? top(m) : NULL;
            if (!list) return -1;
            if (list->kind != PK_LIST) return verr(m, "APPEND to something that is not a list");
            if (add_item(m, list, v) < 0) return -1;
            break;
        }
        case 'e': /* APPENDS */
            m->op = "APPENDS";
            if (pop_mark(m, &from) < 0) return -1;
            if (!(o = below(m, from))) return -1;
            if (o->kind != PK_LIST) return verr(m, "APPENDS to something that is not a list");
            if (collapse(m, from, o) < 0) return -1;
            break;
        case 's': /* SETITEM */
        case 'u': /* SETITEMS */
            m->op = op == 's' ? "SETITEM" : "SETITEMS";
            if (op == 's') {
                if (m->sp - (m->nmarks ? m->marks[m->nmarks - 1] : 0) < 3) return verr(m, "stack underflow");
                from = m->sp - 2;
            } else if (pop_mark(m, &from) < 0) {
                return -1;
            }
            if ((m->sp - from) % 2) return verr(m, "odd number of keys and values");
            if (!(o = below(m, from))) return -1;
            if (o->kind != PK_DICT) return verr(m, "%s on something that is not a dict", m->op);
            if (collapse(m, from, o) < 0) return -1;
            break;
        default:
            m->op = "?";
            return verr(m, "opcode 0x%02x is not one the Planetoid files use", op);
        }
    }
    m->op_pos = m->pos;
    return verr(m, "truncated: no STOP opcode");
}

void lab_pickle_free(lab_pk_arena *a)
{
    if (!a) return;
    for (lab_pk *o = a->head, *next; o; o = next) {
        next = o->next;
        free(o->items);
        free(o);
    }
    free(a);
}

lab_pk *lab_pickle_load(const uint8_t *buf, size_t len, const char *name, lab_pk_arena **arena)
{
    *arena = calloc(1, sizeof **arena);
    if (!*arena) {
        lab_error_set("pickle: out of memory");
        return NULL;
    }
    vm m = {.buf = buf, .len = len, .name = name ? name : "<buffer>", .arena = *arena};
    lab_pk *root = NULL;
    int rc = run(&m, &root);
    free(m.stack);
    free(m.marks);
    free(m.memo);
    return rc < 0 ? NULL : root;
}

/* --- accessors --------------------------------------------------------------- */

static int str_is(const lab_pk *o, const char *s)
{
    return o && o->kind == PK_STR && o->slen == strlen(s) && memcmp(o->s, s, o->slen) == 0;
}

/* dtype string -> element kind ('f', 'i', 'u', 'b') and size. */
static int dtype_info(const lab_pk *dt, const char *name, char *kind, int *size)
{
    if (!dt || dt->kind != PK_DTYPE || !dt->state || dt->state->kind != PK_TUPLE || dt->state->n < 2)
        return lab_error_set("pickle: %s: ndarray without a complete dtype", name);
    char t[8] = {0};
    if (dt->slen < 2 || dt->slen > 3) return lab_error_set("pickle: %s: unsupported dtype", name);
    memcpy(t, dt->s, dt->slen);
    static const char *ok[] = {"f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"};
    int found = 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) found |= strcmp(t, ok[i]) == 0;
    if (!found) return lab_error_set("pickle: %s: unsupported dtype '%s'", name, t);
    *kind = t[0];
    *size = t[1] - '0';
    const lab_pk *order = dt->state->items[1];
    if (!(str_is(order, "<") || str_is(order, "|") || (*size == 1 && str_is(order, "="))))
        return lab_error_set("pickle: %s: dtype '%s' is not little-endian", name, t);
    return 0;
}

static double element(const uint8_t *p, char kind, int size)
{
    uint64_t u = 0;
    for (int i = size - 1; i >= 0; i--) u = u << 8 | p[i];
    switch (kind) {
    case 'f':
        if (size == 4) {
            uint32_t v = (uint32_t)u;
            float f;
            memcpy(&f, &v, 4);
            return f;
        } else {
            double d;
            memcpy(&d, &u, 8);
            return d;
        }
    case 'i': {
        int sh = 64 - 8 * size;
        return (double)((int64_t)(u << sh) >> sh);
    }
    default: return (double)u; /* 'u', 'b' */
    }
}

int lab_pk_ndarray(const lab_pk *o, const char *name, int64_t shape[2], int *ndim, double **data)
{
    *data = NULL;
    if (!o || o->kind != PK_NDARRAY)
        return lab_error_set("pickle: %s: expected a numpy array", name);
    const lab_pk *st = o->state;
    /* (version 1, shape, dtype, is_fortran, raw bytes) */
    if (!st || st->kind != PK_TUPLE || st->n != 5 || st->items[0]->kind != PK_INT || st->items[0]->i != 1 ||
        st->items[1]->kind != PK_TUPLE || st->items[3]->kind != PK_BOOL || st->items[4]->kind != PK_STR)
        return lab_error_set("pickle: %s: numpy array state is not (1, shape, dtype, fortran, bytes)", name);
    const lab_pk *sh = st->items[1];
    if (sh->n < 1 || sh->n > 2) return lab_error_set("pickle: %s: numpy array of %zu dims (1 or 2 expected)", name, sh->n);
    int64_t s[2] = {1, 1};
    for (size_t i = 0; i < sh->n; i++) {
        if (sh->items[i]->kind != PK_INT || sh->items[i]->i < 0)
            return lab_error_set("pickle: %s: bad numpy array shape", name);
        s[i] = sh->items[i]->i;
    }
    char kind = 0;
    int size = 1;
    if (dtype_info(st->items[2], name, &kind, &size) < 0) return -1;
    const lab_pk *raw = st->items[4];
    if (s[1] && (uint64_t)s[0] > (uint64_t)raw->slen / (uint64_t)s[1] / (uint64_t)size + 1)
        return lab_error_set("pickle: %s: numpy array of shape [%lld, %lld] needs more than the %zu bytes stored", name,
                             (long long)s[0], (long long)s[1], raw->slen);
    uint64_t count = (uint64_t)s[0] * (uint64_t)s[1];
    if (count * (uint64_t)size != raw->slen)
        return lab_error_set("pickle: %s: numpy array of shape [%lld, %lld] %c%d needs %llu bytes, %zu stored", name,
                             (long long)s[0], (long long)s[1], kind, size, (unsigned long long)(count * (uint64_t)size),
                             raw->slen);
    double *d = malloc((count ? count : 1) * sizeof *d);
    if (!d) return lab_error_set("pickle: %s: out of memory", name);
    int fortran = (int)st->items[3]->i;
    for (int64_t r = 0; r < s[0]; r++)
        for (int64_t c = 0; c < s[1]; c++) {
            uint64_t src = fortran ? (uint64_t)(c * s[0] + r) : (uint64_t)(r * s[1] + c);
            d[r * s[1] + c] = element(raw->s + src * (uint64_t)size, kind, size);
        }
    shape[0] = s[0];
    shape[1] = s[1];
    *ndim = (int)sh->n;
    *data = d;
    return 0;
}

static const lab_pk *dict_get(const lab_pk *d, const char *key)
{
    const lab_pk *v = NULL;
    for (size_t i = 0; i + 1 < d->n; i += 2)
        if (str_is(d->items[i], key)) v = d->items[i + 1]; /* the last assignment wins, as in a dict */
    return v;
}

/* A 1-D integer-valued array field of a csr_matrix as int64. */
static int csr_int_field(const lab_pk *state, const char *field, const char *name, int64_t **out, int64_t *n)
{
    const lab_pk *a = dict_get(state, field);
    int64_t shape[2];
    int ndim;
    double *d;
    if (!a) return lab_error_set("pickle: %s: csr_matrix without '%s'", name, field);
    if (lab_pk_ndarray(a, name, shape, &ndim, &d) < 0) return lab_error_prefix("csr_matrix '%s': ", field);
    if (ndim != 1) {
        free(d);
        return lab_error_set("pickle: %s: csr_matrix '%s' is not 1-D", name, field);
    }
    int64_t *v = malloc((size_t)(shape[0] ? shape[0] : 1) * sizeof *v);
    if (!v) {
        free(d);
        return lab_error_set("pickle: %s: out of memory", name);
    }
    for (int64_t i = 0; i < shape[0]; i++) {
        if (!(d[i] >= -9.2e18 && d[i] <= 9.2e18) || d[i] != (double)(int64_t)d[i]) {
            free(d);
            free(v);
            return lab_error_set("pickle: %s: csr_matrix '%s' holds a non-integer", name, field);
        }
        v[i] = (int64_t)d[i];
    }
    free(d);
    *out = v;
    *n = shape[0];
    return 0;
}

int lab_pk_csr(const lab_pk *o, const char *name, int64_t shape[2], double **data, int64_t **indices,
               int64_t **indptr)
{
    *data = NULL;
    *indices = *indptr = NULL;
    if (!o || o->kind != PK_CSR || !o->state || o->state->kind != PK_DICT)
        return lab_error_set("pickle: %s: expected a scipy.sparse.csr_matrix", name);
    const lab_pk *st = o->state, *fmt = dict_get(st, "format"), *sh = dict_get(st, "_shape");
    if (fmt && !str_is(fmt, "csr")) return lab_error_set("pickle: %s: sparse matrix format is not 'csr'", name);
    if (!sh || sh->kind != PK_TUPLE || sh->n != 2 || sh->items[0]->kind != PK_INT || sh->items[1]->kind != PK_INT ||
        sh->items[0]->i < 0 || sh->items[1]->i < 0)
        return lab_error_set("pickle: %s: csr_matrix without a valid '_shape'", name);
    int64_t rows = sh->items[0]->i, cols = sh->items[1]->i, np, ni, nd;
    int64_t *ptr = NULL, *idx = NULL;
    double *val = NULL;
    int dim;
    int64_t dshape[2];
    if (csr_int_field(st, "indptr", name, &ptr, &np) < 0) goto fail;
    if (csr_int_field(st, "indices", name, &idx, &ni) < 0) goto fail;
    const lab_pk *da = dict_get(st, "data");
    if (!da) {
        lab_error_set("pickle: %s: csr_matrix without 'data'", name);
        goto fail;
    }
    if (lab_pk_ndarray(da, name, dshape, &dim, &val) < 0) goto fail;
    nd = dshape[0];
    if (dim != 1 || np != rows + 1 || ni != nd || ptr[0] != 0 || ptr[rows] != nd) {
        lab_error_set("pickle: %s: inconsistent csr_matrix: shape [%lld, %lld], %lld indptr entries (want %lld) from %lld "
                      "to %lld, %lld indices, %lld values",
                      name, (long long)rows, (long long)cols, (long long)np, (long long)rows + 1, (long long)(np ? ptr[0] : 0),
                      (long long)(np ? ptr[np - 1] : 0), (long long)ni, (long long)nd);
        goto fail;
    }
    for (int64_t r = 0; r < rows; r++)
        if (ptr[r + 1] < ptr[r]) {
            lab_error_set("pickle: %s: csr_matrix indptr decreases at row %lld", name, (long long)r);
            goto fail;
        }
    for (int64_t k = 0; k < ni; k++)
        if (idx[k] < 0 || idx[k] >= cols) {
            lab_error_set("pickle: %s: csr_matrix column index %lld at %lld is outside [0, %lld)", name, (long long)idx[k],
                          (long long)k, (long long)cols);
            goto fail;
        }
    shape[0] = rows;
    shape[1] = cols;
    *data = val;
    *indices = idx;
    *indptr = ptr;
    return 0;
fail:
    free(ptr);
    free(idx);
    free(val);
    return -1;
}

int lab_pk_adjacency(const lab_pk *o, const char *name, int64_t *nkeys, int64_t **keys, int64_t **ptr,
                     int64_t **nbrs)
{
    *keys = *ptr = *nbrs = NULL;
    if (!o || o->kind != PK_DICT) return lab_error_set("pickle: %s: expected a dict of adjacency lists", name);
    size_t nk = o->n / 2, total = 0;
    for (size_t i = 0; i < nk; i++) {
        const lab_pk *k = o->items[2 * i], *v = o->items[2 * i + 1];
        if (k->kind != PK_INT || v->kind != PK_LIST)
            return lab_error_set("pickle: %s: adjacency entry %zu is not int -> list", name, i);
        total += v->n;
    }
    int64_t *K = malloc((nk ? nk : 1) * sizeof *K), *P = malloc((nk + 1) * sizeof *P),
            *B = malloc((total ? total : 1) * sizeof *B);
    if (!K || !P || !B) {
        free(K), free(P), free(B);
        return lab_error_set("pickle: %s: out of memory", name);
    }
    size_t at = 0;
    P[0] = 0;
    for (size_t i = 0; i < nk; i++) {
        const lab_pk *v = o->items[2 * i + 1];
        K[i] = o->items[2 * i]->i;
        for (size_t j = 0; j < v->n; j++) {
            if (v->items[j]->kind != PK_INT) {
                lab_error_set("pickle: %s: neighbour %zu of node %lld is not an int", name, j, (long long)K[i]);
                free(K), free(P), free(B);
                return -1;
            }
            B[at++] = v->items[j]->i;
        }
        P[i + 1] = (int64_t)at;
    }
    *nkeys = (int64_t)nk;
    *keys = K;
    *ptr = P;
    *nbrs = B;
    return 0;
}
