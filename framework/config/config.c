/* Loading experiment files: iniparser reads the values; our own line scanner
 * finds where each key is (iniparser keeps no line numbers) and rejects what
 * iniparser would silently accept: keys outside a section, duplicate keys
 * (iniparser keeps the last), malformed names and headers. Also overrides,
 * getters and writing the resolved file.
 *
 * Tested in tests/unit/test_config.c (every error class, exact messages)
 * and fuzzed by tests/fuzz/fuzz_config.c. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if __has_include(<iniparser.h>)
#include <iniparser.h>
#else
#include <iniparser/iniparser.h>
#endif

#include "config_int.h"
#include "lab/error.h"
#include "lab/io.h"

/* iniparser reads lines into a 1024-byte buffer and fails on longer ones;
 * we stop a little earlier with a message that says so. */
#define LINE_MAX_CHARS 1000

/* --- entries ---------------------------------------------------------------- */

static char *lower_dup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d) return NULL;
    for (size_t i = 0; i < n; i++) d[i] = (char)tolower((unsigned char)s[i]);
    d[n] = '\0';
    return d;
}

void lab_cfg_entry_clear_parsed(cfg_entry *e)
{
    free(e->ints);
    free(e->floats);
    e->ints = NULL;
    e->floats = NULL;
    e->nlist = 0;
    e->i = 0;
    e->f = 0;
}

static void entry_free(cfg_entry *e)
{
    free(e->section);
    free(e->key);
    free(e->value);
    lab_cfg_entry_clear_parsed(e);
}

cfg_entry *lab_cfg_find(const lab_cfg *c, const char *section, const char *key)
{
    if (!c) return NULL;
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->e[i].section, section) == 0 && strcmp(c->e[i].key, key) == 0) return &c->e[i];
    return NULL;
}

cfg_entry *lab_cfg_find_dotted(const lab_cfg *c, const char *dotted)
{
    if (!c || !dotted) return NULL;
    const char *dot = strchr(dotted, '.');
    if (!dot || dot - dotted >= 64) return NULL;
    char sec[64];
    memcpy(sec, dotted, (size_t)(dot - dotted));
    sec[dot - dotted] = '\0';
    return lab_cfg_find(c, sec, dot + 1);
}

const char *lab_cfg_value(const lab_cfg *c, const char *dotted)
{
    cfg_entry *e = lab_cfg_find_dotted(c, dotted);
    return e ? e->value : NULL;
}

cfg_entry *lab_cfg_put(lab_cfg *c, const char *section, const char *key, const char *value, cfg_origin o, int line)
{
    cfg_entry *e = lab_cfg_find(c, section, key);
    char *v = strdup(value);
    if (!v) {
        lab_error_set("config: out of host memory");
        return NULL;
    }
    if (e) {
        free(e->value);
        e->value = v;
    } else {
        if (c->n == c->cap) {
            int cap = c->cap ? c->cap * 2 : 32;
            cfg_entry *ne = realloc(c->e, (size_t)cap * sizeof *ne);
            if (!ne) {
                free(v);
                lab_error_set("config: out of host memory");
                return NULL;
            }
            c->e = ne;
            c->cap = cap;
        }
        e = &c->e[c->n];
        memset(e, 0, sizeof *e);
        e->section = strdup(section);
        e->key = strdup(key);
        e->value = v;
        if (!e->section || !e->key) {
            entry_free(e);
            lab_error_set("config: out of host memory");
            return NULL;
        }
        c->n++;
    }
    e->origin = o;
    e->line = line;
    return e;
}

const char *lab_cfg_where(const lab_cfg *c, const cfg_entry *e, char *buf, size_t len)
{
    switch (e->origin) {
    case CFG_FROM_FILE: snprintf(buf, len, "%s:%d", c->path, e->line); break;
    case CFG_FROM_CMDLINE: snprintf(buf, len, "command line"); break;
    case CFG_FROM_DEFAULT: snprintf(buf, len, "default"); break;
    case CFG_FROM_SWEEP:
        if (e->line > 0)
            snprintf(buf, len, "%s:%d ([sweep])", c->path, e->line);
        else
            snprintf(buf, len, "[sweep]");
        break;
    }
    return buf;
}

static int add_section(lab_cfg *c, const char *name, int line)
{
    for (int i = 0; i < c->nsecs; i++)
        if (strcmp(c->secs[i].name, name) == 0) return 0;
    cfg_section *s = realloc(c->secs, (size_t)(c->nsecs + 1) * sizeof *s);
    if (!s) return lab_error_set("config: out of host memory");
    c->secs = s;
    if (!(s[c->nsecs].name = strdup(name))) return lab_error_set("config: out of host memory");
    s[c->nsecs++].line = line;
    return 0;
}

static lab_cfg *cfg_new(const char *path)
{
    lab_cfg *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path ? path : "<memory>"))) {
        free(c);
        lab_error_set("config: out of host memory");
        return NULL;
    }
    c->point = -1;
    return c;
}

void lab_cfg_free(lab_cfg *c)
{
    if (!c) return;
    for (int i = 0; i < c->n; i++) entry_free(&c->e[i]);
    free(c->e);
    for (int i = 0; i < c->nsecs; i++) free(c->secs[i].name);
    free(c->secs);
    lab_cfg_sweep_clear(c);
    free(c->misuse);
    free(c->path);
    free(c);
}

lab_cfg *lab_cfg_copy(const lab_cfg *c)
{
    if (!c) return NULL;
    lab_cfg *d = cfg_new(c->path);
    if (!d) return NULL;
    for (int i = 0; i < c->nsecs; i++)
        if (add_section(d, c->secs[i].name, c->secs[i].line) < 0) {
            lab_cfg_free(d);
            return NULL;
        }
    for (int i = 0; i < c->n; i++) {
        const cfg_entry *s = &c->e[i];
        cfg_entry *e = lab_cfg_put(d, s->section, s->key, s->value, s->origin, s->line);
        if (!e) {
            lab_cfg_free(d);
            return NULL;
        }
        e->param = s->param;
        e->i = s->i;
        e->f = s->f;
        e->nlist = s->nlist;
        if (s->ints && !(e->ints = malloc((size_t)s->nlist * sizeof *e->ints))) goto oom;
        if (s->floats && !(e->floats = malloc((size_t)s->nlist * sizeof *e->floats))) goto oom;
        if (s->ints) memcpy(e->ints, s->ints, (size_t)s->nlist * sizeof *e->ints);
        if (s->floats) memcpy(e->floats, s->floats, (size_t)s->nlist * sizeof *e->floats);
    }
    d->plugin = c->plugin;
    d->nplugin = c->nplugin;
    d->validated = c->validated;
    d->point = c->point;
    if (c->validated && lab_cfg_sweep_prepare(d) < 0) {
        lab_cfg_free(d);
        return NULL;
    }
    return d;
oom:
    lab_cfg_free(d);
    lab_error_set("config: out of host memory");
    return NULL;
}

const char *lab_cfg_path(const lab_cfg *c) { return c ? c->path : ""; }

/* --- scanning ---------------------------------------------------------------- */

/* iniparser reports its own syntax errors through a printf-like callback;
 * keep the last one instead of letting it print to stderr. */
static char ini_msg[512];
static int ini_error_cb(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(ini_msg, sizeof ini_msg, fmt, ap);
    va_end(ap);
    size_t n = strlen(ini_msg);
    while (n && (ini_msg[n - 1] == '\n' || ini_msg[n - 1] == ' ')) ini_msg[--n] = '\0';
    for (char *p = ini_msg; *p; p++)
        if (*p == '\n') *p = ' ';
    return r;
}

static void trim_span(const char **s, const char **end)
{
    while (*s < *end && isspace((unsigned char)**s)) (*s)++;
    while (*end > *s && isspace((unsigned char)(*end)[-1])) (*end)--;
}

static int is_dotted_ident(const char *s)
{
    const char *dot = strchr(s, '.');
    if (!dot || dot == s) return 0;
    char sec[128];
    size_t n = (size_t)(dot - s);
    if (n >= sizeof sec) return 0;
    memcpy(sec, s, n);
    sec[n] = '\0';
    return lab_cfg_is_ident(sec) && lab_cfg_is_ident(dot + 1);
}

/* Shorten text for quoting in a message. */
static const char *excerpt(const char *s, size_t n, char *buf, size_t len)
{
    size_t m = n < len - 4 ? n : len - 4;
    if (m > 60) m = 60;
    memcpy(buf, s, m);
    buf[m] = '\0';
    if (m < n) strcat(buf, "...");
    return buf;
}

/* One pass over the text: every key with its section and line, in the
 * order iniparser reads them. Values are left empty for the dictionary. */
static int scan(lab_cfg *c, const char *text, size_t len)
{
    const char *name = c->path;
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        int line = 1;
        for (const char *p = text; p < nul; p++) line += *p == '\n';
        return lab_error_set("%s:%d: contains a NUL byte: not a text file", name, line);
    }
    char section[128] = "";
    char logical[LINE_MAX_CHARS + 2];
    size_t pos = 0;
    int lineno = 0;
    while (pos < len) {
        size_t ll = 0;
        int first = lineno + 1;
        for (;;) {
            const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
            const char *end = nl ? nl : text + len;
            pos = nl ? (size_t)(nl - text) + 1 : len;
            lineno++;
            if (ll + (size_t)(end - s) > LINE_MAX_CHARS)
                return lab_error_set("%s:%d: line is longer than %d characters", name, first, LINE_MAX_CHARS);
            const char *ts = s, *te = end;
            while (te > ts && isspace((unsigned char)te[-1])) te--;
            memcpy(logical + ll, ts, (size_t)(te - ts));
            ll += (size_t)(te - ts);
            if (ll > 0 && logical[ll - 1] == '\\') {
                ll--;
                if (pos >= len)
                    return lab_error_set("%s:%d: the last line ends with '\\' (a continuation with nothing after it)",
                                         name, lineno);
                continue;
            }
            break;
        }
        logical[ll] = '\0';
        const char *s = logical, *e = logical + ll;
        trim_span(&s, &e);
        if (s == e || *s == ';' || *s == '#') continue;
        char q[80];
        if (*s == '[') {
            if (e[-1] != ']' || e - s < 2)
                return lab_error_set("%s:%d: malformed section header \"%s\": expected [name]", name, first,
                                     excerpt(s, (size_t)(e - s), q, sizeof q));
            const char *ns = s + 1, *ne = e - 1;
            trim_span(&ns, &ne);
            char *sec = lower_dup(ns, (size_t)(ne - ns));
            if (!sec) return lab_error_set("config: out of host memory");
            if (!lab_cfg_is_ident(sec) || strlen(sec) >= sizeof section) {
                lab_error_set("%s:%d: bad section name \"%s\": use letters, digits and '_'", name, first,
                              excerpt(ns, (size_t)(ne - ns), q, sizeof q));
                free(sec);
                return -1;
            }
            strcpy(section, sec);
            free(sec);
            if (add_section(c, section, first) < 0) return -1;
            continue;
        }
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (!eq)
            return lab_error_set("%s:%d: expected \"key = value\" or \"[section]\", got \"%s\"", name, first,
                                 excerpt(s, (size_t)(e - s), q, sizeof q));
        const char *ks = s, *ke = eq;
        trim_span(&ks, &ke);
        if (ks == ke) return lab_error_set("%s:%d: missing key before '='", name, first);
        char *key = lower_dup(ks, (size_t)(ke - ks));
        if (!key) return lab_error_set("config: out of host memory");
        int ok = strcmp(section, "sweep") == 0 ? is_dotted_ident(key) : lab_cfg_is_ident(key);
        if (!ok || !section[0]) {
            if (!section[0])
                lab_error_set("%s:%d: key \"%s\" is outside any [section]", name, first,
                              excerpt(ks, (size_t)(ke - ks), q, sizeof q));
            else if (strcmp(section, "sweep") == 0)
                lab_error_set("%s:%d: bad sweep key \"%s\": expected section.key", name, first,
                              excerpt(ks, (size_t)(ke - ks), q, sizeof q));
            else
                lab_error_set("%s:%d: bad key name \"%s\": use letters, digits and '_'", name, first,
                              excerpt(ks, (size_t)(ke - ks), q, sizeof q));
            free(key);
            return -1;
        }
        cfg_entry *dup = lab_cfg_find(c, section, key);
        if (dup) {
            lab_error_set("%s:%d: %s.%s given twice (first on line %d)", name, first, section, key, dup->line);
            free(key);
            return -1;
        }
        cfg_entry *ne = lab_cfg_put(c, section, key, "", CFG_FROM_FILE, first);
        free(key);
        if (!ne) return -1;
    }
    return 0;
}

/* Values from iniparser, matched to the scanned keys. */
static int read_values(lab_cfg *c, const char *ini_path)
{
    ini_msg[0] = '\0';
    iniparser_set_error_callback(ini_error_cb);
    dictionary *d = iniparser_load(ini_path);
    iniparser_set_error_callback(NULL);
    if (!d) {
        if (ini_msg[0]) return lab_error_set("%s: %s", c->path, ini_msg);
        return lab_error_set("%s: cannot read: %s", c->path, strerror(errno));
    }
    int rc = 0;
    for (int i = 0; i < c->n && rc == 0; i++) {
        cfg_entry *e = &c->e[i];
        size_t n = strlen(e->section) + strlen(e->key) + 2;
        char *k = malloc(n);
        if (!k) {
            rc = lab_error_set("config: out of host memory");
            break;
        }
        snprintf(k, n, "%s:%s", e->section, e->key);
        const char *v = iniparser_getstring(d, k, NULL);
        free(k);
        if (!v) {
            rc = lab_error_set("%s:%d: iniparser did not read %s.%s (unusual quoting or continuation?)", c->path,
                               e->line, e->section, e->key);
            break;
        }
        char *dup = strdup(v);
        if (!dup) {
            rc = lab_error_set("config: out of host memory");
            break;
        }
        free(e->value);
        e->value = dup;
    }
    iniparser_freedict(d);
    return rc;
}

static lab_cfg *load_common(const char *name, const char *text, size_t len, const char *ini_path)
{
    lab_cfg *c = cfg_new(name);
    if (!c) return NULL;
    if (scan(c, text, len) < 0 || read_values(c, ini_path) < 0) {
        lab_cfg_free(c);
        return NULL;
    }
    return c;
}

lab_cfg *lab_cfg_load(const char *path)
{
    if (!path) {
        lab_error_set("config: no file name");
        return NULL;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        lab_error_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *text = malloc(cap);
    size_t got;
    while (text && (got = fread(text + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) {
            if (cap > (64u << 20)) {
                free(text);
                fclose(f);
                lab_error_set("%s: larger than 64 MiB: not an experiment file", path);
                return NULL;
            }
            char *t = realloc(text, cap * 2);
            if (!t) free(text);
            text = t;
            cap *= 2;
        }
    }
    int err = ferror(f);
    fclose(f);
    if (!text) {
        lab_error_set("config: out of host memory");
        return NULL;
    }
    if (err) {
        free(text);
        lab_error_set("%s: read error", path);
        return NULL;
    }
    lab_cfg *c = load_common(path, text, len, path);
    free(text);
    return c;
}

lab_cfg *lab_cfg_parse(const char *name, const char *text, size_t len)
{
    if (!text) len = 0;
    /* iniparser only opens files by name: hand it an anonymous in-memory one. */
    int fd = memfd_create("labcfg", MFD_CLOEXEC);
    if (fd < 0) {
        lab_error_set("config: memfd_create failed: %s", strerror(errno));
        return NULL;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            close(fd);
            lab_error_set("config: cannot buffer the text: %s", strerror(errno));
            return NULL;
        }
        off += (size_t)w;
    }
    char ini_path[64];
    snprintf(ini_path, sizeof ini_path, "/proc/self/fd/%d", fd);
    lab_cfg *c = load_common(name ? name : "<memory>", text ? text : "", len, ini_path);
    close(fd);
    return c;
}

/* --- overrides ----------------------------------------------------------------- */

int lab_cfg_override(lab_cfg *c, const char *a)
{
    if (!c || !a) return lab_error_set("command line: no assignment");
    const char *eq = strchr(a, '=');
    const char *dot = strchr(a, '.');
    if (!eq || !dot || dot > eq) return lab_error_set("command line: \"%s\": expected section.key=value", a);
    const char *ks = a, *ke = eq;
    trim_span(&ks, &ke);
    char *dotted = lower_dup(ks, (size_t)(ke - ks));
    if (!dotted) return lab_error_set("config: out of host memory");
    char *d = strchr(dotted, '.');
    *d = '\0';
    const char *section = dotted, *key = d + 1;
    int ok =
        lab_cfg_is_ident(section) && (strcmp(section, "sweep") == 0 ? is_dotted_ident(key) : lab_cfg_is_ident(key));
    if (!ok) {
        lab_error_set("command line: \"%s\": expected section.key=value with names of letters, digits and '_'", a);
        free(dotted);
        return -1;
    }
    const char *vs = eq + 1, *ve = eq + strlen(eq);
    trim_span(&vs, &ve);
    if (ve - vs >= 2 && ((*vs == '"' && ve[-1] == '"') || (*vs == '\'' && ve[-1] == '\''))) vs++, ve--;
    char *value = strndup(vs, (size_t)(ve - vs));
    int rc = 0;
    if (!value)
        rc = lab_error_set("config: out of host memory");
    else if (strpbrk(value, "\n\r"))
        rc = lab_error_set("command line: %s.%s: the value contains a line break", section, key);
    else if (!lab_cfg_put(c, section, key, value, CFG_FROM_CMDLINE, 0))
        rc = -1;
    free(value);
    free(dotted);
    if (rc == 0) c->validated = 0;
    return rc;
}

/* --- getters ------------------------------------------------------------------- */

static void misuse(const lab_cfg *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void misuse(const lab_cfg *c, const char *fmt, ...)
{
    lab_cfg *m = (lab_cfg *)c; /* recording a bug is not a change of configuration */
    if (m->misuse) return;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    m->misuse = strdup(buf);
}

static const char *type_name(lab_cfg_type t)
{
    switch (t) {
    case LAB_CFG_INT: return "an integer";
    case LAB_CFG_FLOAT: return "a number";
    case LAB_CFG_BOOL: return "a boolean";
    case LAB_CFG_STRING: return "a string";
    case LAB_CFG_ENUM: return "a choice";
    case LAB_CFG_INTS: return "a list of integers";
    case LAB_CFG_FLOATS: return "a list of numbers";
    }
    return "?";
}

/* The entry for a getter, or NULL after recording why (a plugin bug). */
static cfg_entry *get(const lab_cfg *c, const char *key, lab_cfg_type want, const char *getter, int alt)
{
    if (!c || !key) return NULL;
    if (!c->validated) {
        misuse(c, "%s(\"%s\") before lab_cfg_validate", getter, key);
        return NULL;
    }
    cfg_entry *e = lab_cfg_find_dotted(c, key);
    if (!e || !e->param) {
        misuse(c, "the plugin read %s, which its schema does not declare", key);
        return NULL;
    }
    if (e->param->type != want && (alt < 0 || e->param->type != (lab_cfg_type)alt)) {
        misuse(c, "the plugin read %s (%s) with %s", key, type_name(e->param->type), getter);
        return NULL;
    }
    e->read = 1;
    return e;
}

int64_t lab_cfg_get_int(const lab_cfg *c, const char *key)
{
    cfg_entry *e = get(c, key, LAB_CFG_INT, "lab_cfg_get_int", -1);
    return e ? e->i : 0;
}

double lab_cfg_get_float(const lab_cfg *c, const char *key)
{
    cfg_entry *e = get(c, key, LAB_CFG_FLOAT, "lab_cfg_get_float", -1);
    return e ? e->f : 0.0;
}

int lab_cfg_get_bool(const lab_cfg *c, const char *key)
{
    cfg_entry *e = get(c, key, LAB_CFG_BOOL, "lab_cfg_get_bool", -1);
    return e ? (int)e->i : 0;
}

const char *lab_cfg_get_str(const lab_cfg *c, const char *key)
{
    cfg_entry *e = get(c, key, LAB_CFG_STRING, "lab_cfg_get_str", LAB_CFG_ENUM);
    return e ? e->value : NULL;
}

int lab_cfg_get_enum(const lab_cfg *c, const char *key)
{
    cfg_entry *e = get(c, key, LAB_CFG_ENUM, "lab_cfg_get_enum", -1);
    return e ? (int)e->i : 0;
}

int lab_cfg_get_ints(const lab_cfg *c, const char *key, const int64_t **v)
{
    cfg_entry *e = get(c, key, LAB_CFG_INTS, "lab_cfg_get_ints", -1);
    if (v) *v = e ? e->ints : NULL;
    return e ? e->nlist : 0;
}

int lab_cfg_get_floats(const lab_cfg *c, const char *key, const double **v)
{
    cfg_entry *e = get(c, key, LAB_CFG_FLOATS, "lab_cfg_get_floats", -1);
    if (v) *v = e ? e->floats : NULL;
    return e ? e->nlist : 0;
}

int lab_cfg_is_set(const lab_cfg *c, const char *key)
{
    cfg_entry *e = lab_cfg_find_dotted(c, key);
    return e && e->origin != CFG_FROM_DEFAULT;
}

static int framework_section(const char *s)
{
    return strcmp(s, "run") == 0 || strcmp(s, "paper") == 0 || strcmp(s, "sweep") == 0;
}

int lab_cfg_check_use(const lab_cfg *c)
{
    if (!c) return lab_error_set("config: none");
    if (c->misuse) return lab_error_set("plugin bug: %s", c->misuse);
    for (int i = 0; i < c->n; i++) {
        const cfg_entry *e = &c->e[i];
        if (framework_section(e->section) || !e->param || e->read || e->origin == CFG_FROM_DEFAULT) continue;
        if (lab_cfg_is_default(e)) continue;
        char w[300];
        return lab_error_set("%s: %s.%s = %s was never read by the plugin, so it had no effect; remove it "
                             "(or, if it should matter, fix the plugin)",
                             lab_cfg_where(c, e, w, sizeof w), e->section, e->key, e->value);
    }
    return 0;
}

int lab_cfg_paper(const lab_cfg *c, const char ***names, double **values)
{
    int n = 0;
    *names = NULL;
    *values = NULL;
    for (int i = 0; i < c->n; i++) n += strcmp(c->e[i].section, "paper") == 0;
    if (n == 0) return 0;
    *names = malloc((size_t)n * sizeof **names);
    *values = malloc((size_t)n * sizeof **values);
    if (!*names || !*values) {
        free(*names);
        free(*values);
        *names = NULL;
        *values = NULL;
        return lab_error_set("config: out of host memory");
    }
    int k = 0;
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->e[i].section, "paper") == 0) {
            (*names)[k] = c->e[i].key;
            (*values)[k++] = c->e[i].f;
        }
    return n;
}

int lab_cfg_diff(const lab_cfg *a, const lab_cfg *b, const char *const *skip, char *buf, size_t len)
{
    for (int pass = 0; pass < 2; pass++) {
        const lab_cfg *x = pass ? b : a, *y = pass ? a : b;
        for (int i = 0; i < x->n; i++) {
            const cfg_entry *e = &x->e[i];
            char dotted[300];
            snprintf(dotted, sizeof dotted, "%s.%s", e->section, e->key);
            int skipped = 0;
            for (int k = 0; skip && skip[k]; k++) skipped |= strcmp(skip[k], dotted) == 0;
            if (skipped) continue;
            const cfg_entry *f = lab_cfg_find(y, e->section, e->key);
            const char *va = pass ? (f ? f->value : NULL) : e->value;
            const char *vb = pass ? e->value : (f ? f->value : NULL);
            if (f && strcmp(e->value, f->value) == 0) continue;
            /* Same parsed value written differently (1e-3 vs 0.001) is the same. */
            if (f && e->param && f->param && e->param->type == f->param->type) {
                int same = 0;
                switch (e->param->type) {
                case LAB_CFG_INT:
                case LAB_CFG_BOOL:
                case LAB_CFG_ENUM: same = e->i == f->i; break;
                case LAB_CFG_FLOAT: same = e->f == f->f; break;
                case LAB_CFG_INTS:
                    same = e->nlist == f->nlist &&
                           (!e->nlist || !memcmp(e->ints, f->ints, (size_t)e->nlist * sizeof *e->ints));
                    break;
                case LAB_CFG_FLOATS:
                    same = e->nlist == f->nlist;
                    for (int k = 0; same && k < e->nlist; k++) same = e->floats[k] == f->floats[k];
                    break;
                case LAB_CFG_STRING: break;
                }
                if (same) continue;
            }
            snprintf(buf, len, "%s: %s vs %s", dotted, va ? va : "(absent)", vb ? vb : "(absent)");
            return 1;
        }
    }
    return 0;
}

/* --- writing ----------------------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int oom;
    const cfg_entry *bad; /* the first entry whose value cannot be written */
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...)
{
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->oom = 1;
        return;
    }
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap : 1024);
        while (cap < b->n + (size_t)k + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
        va_start(ap, fmt);
        vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
    }
    b->n += (size_t)k;
}

/* A value as iniparser will read it back: quoted when it has comment
 * characters, surrounding spaces, or is empty. */
/* A value as iniparser will read it back: quoted when it is empty, has
 * comment characters, surrounding spaces, a trailing backslash (a
 * continuation) or a leading quote. iniparser has no escapes, so a value
 * that needs quotes and holds both kinds cannot be written. */
static void sb_value(sbuf *b, const cfg_entry *e, const char *v)
{
    size_t n = strlen(v);
    int quote = n == 0 || strpbrk(v, ";#") || isspace((unsigned char)v[0]) || isspace((unsigned char)v[n - 1]) ||
                v[n - 1] == '\\' || v[0] == '"' || v[0] == '\'';
    if (!quote)
        sb_printf(b, "%s", v);
    else if (!strchr(v, '"'))
        sb_printf(b, "\"%s\"", v);
    else if (!strchr(v, '\''))
        sb_printf(b, "'%s'", v);
    else if (!b->bad)
        b->bad = e;
}

static void sb_entry(sbuf *b, const cfg_entry *e)
{
    if (e->param) {
        char d[256];
        const char *help = lab_cfg_help(e->param);
        sb_printf(b, "; %s%s(%s; default %s)\n", help, help[0] ? " " : "", lab_cfg_describe(e->param, d, sizeof d),
                  e->param->def ? (e->param->def[0] ? e->param->def : "\"\"") : "required");
    }
    /* A default is written as a comment: re-running the file gives the
     * same value and lab_cfg_is_set still says "not set" (plugins use it to
     * tell an explicit choice from a default, e.g. noprop.embed_dim). */
    sb_printf(b, "%s%s = ", e->origin == CFG_FROM_DEFAULT ? "; " : "", e->key);
    sb_value(b, e, e->value);
    sb_printf(b, "\n");
}

int lab_cfg_write(const lab_cfg *c, const char *path, const char *header)
{
    if (!c || !path) return lab_error_set("config: nothing to write");
    sbuf b = {0};
    if (header) {
        const char *s = header;
        while (*s) {
            const char *nl = strchr(s, '\n');
            size_t n = nl ? (size_t)(nl - s) : strlen(s);
            sb_printf(&b, "; %.*s\n", (int)n, s);
            s += n + (nl != NULL);
        }
    }
    /* Sections in the order of first appearance: [run] first, then the
     * plugin's in schema order (entries are in that order after validation),
     * [paper] and [sweep] last. */
    const char *order[64];
    int nsec = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < c->n; i++) {
            const char *s = c->e[i].section;
            int special = strcmp(s, "paper") == 0 || strcmp(s, "sweep") == 0;
            if (special != pass) continue;
            int seen = 0;
            for (int k = 0; k < nsec; k++) seen |= strcmp(order[k], s) == 0;
            if (!seen && nsec < 64) order[nsec++] = s;
        }
    for (int k = 0; k < nsec; k++) {
        sb_printf(&b, "%s[%s]\n", b.n ? "\n" : "", order[k]);
        for (int i = 0; i < c->n; i++) {
            const cfg_entry *e = &c->e[i];
            if (strcmp(e->section, order[k]) != 0) continue;
            if (strcmp(e->section, "run") == 0 && strcmp(e->key, "resume") == 0) {
                cfg_entry r = *e;
                r.value = "";
                sb_entry(&b, &r);
                continue;
            }
            sb_entry(&b, e);
        }
    }
    if (b.oom || b.bad) {
        free(b.p);
        if (b.bad)
            return lab_error_set("config: cannot write %s: the value of %s.%s holds both kinds of quotes and "
                                 "characters that need quoting",
                                 path, b.bad->section, b.bad->key);
        return lab_error_set("config: out of host memory");
    }
    int rc = lab_file_write_atomic(path, b.p ? b.p : "", b.n);
    free(b.p);
    return rc;
}
