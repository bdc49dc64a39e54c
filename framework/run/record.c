/* Trial records: one flat JSON object per trial, written by a plugin into
 * its trial directory and gathered back by the last trial to write a table.
 *
 * Plugins that print a paper table need every trial's numbers in one place,
 * including trials that ran in an earlier process of a resumed run, so the
 * numbers live in files rather than memory. Writing is atomic (temporary
 * file + rename) so a run killed mid-write leaves either the old record or
 * none, never half of one; gathering skips trials without a record (not
 * finished) and fails, naming the file, on one it cannot parse.
 *
 * Tested in tests/unit/test_record.c. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "run_int.h"

static int grow(void **p, int *cap, int n, size_t elem)
{
    if (n < *cap) return 0;
    int nc = *cap ? 2 * *cap : 8;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return lab_error_set("record: out of host memory");
    *p = q, *cap = nc;
    return 0;
}

void lab_record_init(lab_record *r) { memset(r, 0, sizeof *r); }

void lab_record_clear(lab_record *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        free(r->key[i]);
        free(r->str[i]);
    }
    free(r->key);
    free(r->str);
    free(r->num);
    memset(r, 0, sizeof *r);
}

static int add(lab_record *r, const char *key, const char *str, double num)
{
    if (!key || !*key) return lab_error_set("record: empty key");
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->key[i], key)) return lab_error_set("record: key \"%s\" given twice", key);
    int cap = r->cap_;
    if (grow((void **)&r->key, &cap, r->n, sizeof *r->key) < 0) return -1;
    cap = r->cap_;
    if (grow((void **)&r->str, &cap, r->n, sizeof *r->str) < 0) return -1;
    cap = r->cap_;
    if (grow((void **)&r->num, &cap, r->n, sizeof *r->num) < 0) return -1;
    r->cap_ = cap;
    char *k = strdup(key), *s = str ? strdup(str) : NULL;
    if (!k || (str && !s)) {
        free(k);
        free(s);
        return lab_error_set("record: out of host memory");
    }
    r->key[r->n] = k;
    r->str[r->n] = s;
    r->num[r->n] = str ? NAN : num;
    r->n++;
    return 0;
}

int lab_record_add_str(lab_record *r, const char *key, const char *value)
{
    return add(r, key, value ? value : "", NAN);
}

int lab_record_add_num(lab_record *r, const char *key, double value) { return add(r, key, NULL, value); }

static int find(const lab_record *r, const char *key)
{
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->key[i], key)) return i;
    return -1;
}

const char *lab_record_str(const lab_record *r, const char *key)
{
    int i = find(r, key);
    return i >= 0 ? r->str[i] : NULL;
}

double lab_record_num(const lab_record *r, const char *key)
{
    int i = find(r, key);
    return i >= 0 && !r->str[i] ? r->num[i] : NAN;
}

int lab_record_write(const char *path, const lab_record *r)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return lab_error_set("record: path too long: %s", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return lab_error_set("record: cannot write %s", tmp);
    fputc('{', f);
    for (int i = 0; i < r->n; i++) {
        fputs(i ? ", " : "", f);
        lab_run_json_str(f, r->key[i]);
        fputs(": ", f);
        if (r->str[i])
            lab_run_json_str(f, r->str[i]);
        else
            lab_run_json_num(f, r->num[i], 1);
    }
    fputs("}\n", f);
    if (ferror(f) | (fclose(f) != 0) || rename(tmp, path) != 0) {
        remove(tmp);
        return lab_error_set("record: cannot write %s", path);
    }
    return 0;
}

typedef struct {
    lab_record *r;
    int rc;
} parse_state;

static void on_member(const char *key, int is_num, double value, const char *str, void *user)
{
    parse_state *st = user;
    if (st->rc == 0) st->rc = is_num ? lab_record_add_num(st->r, key, value) : lab_record_add_str(st->r, key, str);
}

/* 0 and *found = 0 when the file does not exist. */
static int read_one(const char *path, lab_record *r, int *found)
{
    *found = 0;
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb, cap *= 2;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf) return lab_error_set("record: out of host memory reading %s", path);
    if (err) {
        free(buf);
        return lab_error_set("record: cannot read %s", path);
    }
    buf[n] = '\0';
    lab_record_init(r);
    parse_state st = {r, 0};
    int rc = lab_run_json_parse_flat(buf, on_member, &st);
    free(buf);
    if (st.rc < 0 || rc < 0) {
        lab_record_clear(r);
        if (st.rc < 0) {
            char why[512];
            snprintf(why, sizeof why, "%s", lab_error());
            return lab_error_set("%s: %s", path, why);
        }
        return lab_error_set("record: %s is not a flat JSON object (truncated or edited?)", path);
    }
    *found = 1;
    return 0;
}

int lab_record_read(const char *path, lab_record *r)
{
    int found;
    if (read_one(path, r, &found) < 0) return -1;
    if (!found) return lab_error_set("record: cannot open %s", path);
    return 0;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int lab_record_gather(const char *run_dir, const char *file, lab_record **out, int *n)
{
    *out = NULL, *n = 0;
    lab_record *rs = NULL;
    int nr = 0, cap = 0, rc = 0;
    char **names = NULL;
    int nn = 0, ncap = 0;
    DIR *d = opendir(run_dir);
    if (!d) return lab_error_set("record: cannot list %s", run_dir);
    struct dirent *de;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (grow((void **)&names, &ncap, nn, sizeof *names) < 0 || !(names[nn] = strdup(de->d_name)))
            rc = lab_error_set("record: out of host memory");
        else
            nn++;
    }
    closedir(d);
    /* Directory order is arbitrary; sorted names give a stable table. */
    if (nn) qsort(names, (size_t)nn, sizeof *names, cmp_name);
    char path[4400];
    for (int i = -1; rc == 0 && i < nn; i++) {
        if (i < 0)
            snprintf(path, sizeof path, "%s/%s", run_dir, file); /* a single-trial run */
        else
            snprintf(path, sizeof path, "%s/%s/%s", run_dir, names[i], file);
        if (grow((void **)&rs, &cap, nr, sizeof *rs) < 0) {
            rc = -1;
            break;
        }
        int found;
        rc = read_one(path, &rs[nr], &found);
        if (rc == 0 && found) nr++;
    }
    for (int i = 0; i < nn; i++) free(names[i]);
    free(names);
    if (rc < 0) {
        lab_record_free_all(rs, nr);
        return -1;
    }
    *out = rs, *n = nr;
    return 0;
}

void lab_record_free_all(lab_record *rs, int n)
{
    for (int i = 0; i < n; i++) lab_record_clear(&rs[i]);
    free(rs);
}
