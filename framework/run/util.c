/* Small pieces the run layer shares: time, directories, the log (stderr +
 * log.txt, cooperating with the progress bar), and flat JSON (the format of
 * metrics.jsonl lines and result.json).
 *
 * Tested through tests/unit/test_run.c (log.txt, metrics.jsonl contents)
 * and tests/unit/test_cli.c. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "run_int.h"

double lab_run_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int lab_run_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int lab_run_mkdirs(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return lab_error_set("cannot create directory \"%s\": bad path", path);
    memcpy(buf, path, n + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) < 0 && errno != EEXIST)
            return lab_error_set("cannot create directory %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) < 0 && errno != EEXIST)
        return lab_error_set("cannot create directory %s: %s", buf, strerror(errno));
    struct stat st;
    if (stat(buf, &st) < 0 || !S_ISDIR(st.st_mode)) return lab_error_set("%s exists and is not a directory", buf);
    return 0;
}

char *lab_run_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        lab_error_set("cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, cap * 2 + 1);
            if (!b) free(buf);
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        lab_error_set("out of host memory reading %s", path);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

const char *lab_run_fmt_duration(double s, char *buf, size_t len)
{
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, len, "?");
        return buf;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, len, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

/* --- log ------------------------------------------------------------------------ */

void lab_run_log_bar_clear(run_log *l)
{
    if (l->bar_shown) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
        l->bar_shown = 0;
    }
}

void lab_run_log_v(run_log *l, const char *prefix, const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n') msg[--n] = '\0';
    if (l->to_stderr) {
        int redraw = l->bar_shown;
        lab_run_log_bar_clear(l);
        fprintf(stderr, "%s%s\n", prefix ? prefix : "", msg);
        if (redraw) {
            fputs(l->bar, stderr);
            l->bar_shown = 1;
        }
        fflush(stderr);
    }
    if (l->file) {
        double t = lab_run_now() - l->t0;
        fprintf(l->file, "[%8.1fs] %s%s\n", t, prefix ? prefix : "", msg);
        fflush(l->file);
    }
}

void lab_run_logf(run_log *l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lab_run_log_v(l, NULL, fmt, ap);
    va_end(ap);
}

void lab_run_log_bar(run_log *l, const char *text, int final)
{
    if (!l->to_stderr) return;
    snprintf(l->bar, sizeof l->bar, "%s", text);
    fprintf(stderr, "\r\033[K%s", l->bar);
    if (final) {
        fputc('\n', stderr);
        l->bar_shown = 0;
    } else {
        l->bar_shown = 1;
    }
    fflush(stderr);
}

/* --- JSON ------------------------------------------------------------------------ */

void lab_run_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

const char *lab_run_fmt_double(double v, char *buf, size_t len, int exact)
{
    /* Not exact: a value that is a float (metrics usually come from f32
     * tensors) is written as the shortest text that reads back as that
     * float: 0.82665145 rather than 0.82665145397186279. Exact: the
     * shortest text that reads back as the same double (result.json is
     * read back on resume and must not round). */
    if (!exact && isfinite(v) && (double)(float)v == v) {
        for (int prec = 6; prec <= 9; prec++) {
            snprintf(buf, len, "%.*g", prec, v);
            if (strtof(buf, NULL) == (float)v) return buf;
        }
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

void lab_run_json_num(FILE *f, double v, int exact)
{
    char b[40];
    if (!isfinite(v))
        fputs("null", f);
    else
        fputs(lab_run_fmt_double(v, b, sizeof b, exact), f);
}

static const char *skip_ws(const char *s)
{
    while (*s && isspace((unsigned char)*s)) s++;
    return s;
}

/* A JSON string at s (after the opening quote is checked by the caller);
 * decodes simple escapes into out. Returns the position after the closing
 * quote or NULL. */
static const char *parse_str(const char *s, char *out, size_t len)
{
    size_t k = 0;
    if (*s != '"') return NULL;
    for (s++; *s && *s != '"'; s++) {
        char c = *s;
        if (c == '\\') {
            s++;
            switch (*s) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case '/':
            case '\\':
            case '"': c = *s; break;
            case 'u': {
                unsigned v = 0;
                for (int i = 1; i <= 4; i++) {
                    char h = s[i];
                    if (!isxdigit((unsigned char)h)) return NULL;
                    v = v * 16 +
                        (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
                }
                s += 4;
                c = v < 0x80 ? (char)v : '?';
                break;
            }
            default: return NULL;
            }
        }
        if (k + 1 < len) out[k++] = c;
    }
    if (*s != '"') return NULL;
    out[k] = '\0';
    return s + 1;
}

int lab_run_json_parse_flat(const char *text, run_json_fn fn, void *user)
{
    const char *s = skip_ws(text);
    if (*s != '{') return -1;
    s = skip_ws(s + 1);
    if (*s == '}') return *skip_ws(s + 1) ? -1 : 0;
    char key[256], str[1024];
    for (;;) {
        s = parse_str(skip_ws(s), key, sizeof key);
        if (!s) return -1;
        s = skip_ws(s);
        if (*s != ':') return -1;
        s = skip_ws(s + 1);
        if (*s == '"') {
            s = parse_str(s, str, sizeof str);
            if (!s) return -1;
            fn(key, 0, NAN, str, user);
        } else if (strncmp(s, "null", 4) == 0) {
            s += 4;
            fn(key, 1, NAN, NULL, user);
        } else if (strncmp(s, "true", 4) == 0 || strncmp(s, "false", 5) == 0) {
            int t = *s == 't';
            s += t ? 4 : 5;
            fn(key, 0, NAN, t ? "true" : "false", user);
        } else {
            char *end;
            double v = strtod(s, &end);
            if (end == s) return -1;
            s = end;
            fn(key, 1, v, NULL, user);
        }
        s = skip_ws(s);
        if (*s == ',') {
            s++;
            continue;
        }
        if (*s == '}') return *skip_ws(s + 1) ? -1 : 0;
        return -1;
    }
}
