/* Schemas: the framework's [run] keys, the conventional keys of [data],
 * [train] and [eval], typed parsing with ranges and choices, validation of
 * a configuration against framework + plugin schema, "did you mean", and
 * printing a schema for labrun <plugin> --help.
 *
 * Tested in tests/unit/test_config.c (exact messages of every error class). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
#include "lab/error.h"

static const lab_param run_params[] = {
    LAB_PARAM_STRING("run", "name", "", "experiment name: runs/<plugin>/<name>/ (empty: the file's name)"),
    LAB_PARAM_INT("run", "seed", "0", 0, 4294967295.0, "first random seed"),
    LAB_PARAM_INT("run", "seeds", "1", 1, 1000, "seeds per grid point (seed, seed+1, ...); results are mean ± std"),
    LAB_PARAM_STRING("run", "device", "auto", "auto, cpu, cuda or cuda:N (auto: cuda:0 when usable, else cpu)"),
    LAB_PARAM_INT("run", "threads", "0", 0, 4096, "CPU threads (0: all cores)"),
    LAB_PARAM_STRING("run", "out", "runs", "where runs/<plugin>/<experiment>/<timestamp>/ goes"),
    LAB_PARAM_STRING("run", "resume", "", "a run directory to continue from its checkpoints"),
    LAB_PARAM_ENUM("run", "progress", "auto", "auto|bar|lines|off", "progress: a bar on a terminal, lines otherwise"),
};

const lab_param *lab_cfg_framework_params(int *n)
{
    if (n) *n = LAB_COUNT(run_params);
    return run_params;
}

/* Names plugins share: a plugin may declare them or not, but when it does,
 * the type is this one, so every experiment file reads the same way. */
static const struct {
    const char *section, *key;
    lab_cfg_type type;
    const char *help;
} conventional[] = {
    {"data", "name", LAB_CFG_STRING, "data set name"},
    {"data", "root", LAB_CFG_STRING, "directory with the data set's files"},
    {"data", "subset", LAB_CFG_INT, "use only the first N training examples (0: all)"},
    {"data", "val_fraction", LAB_CFG_FLOAT, "fraction of the training set held out for validation"},
    {"data", "batch_size", LAB_CFG_INT, "examples per training batch"},
    {"data", "shuffle", LAB_CFG_BOOL, "reshuffle the training set every epoch"},
    {"train", "epochs", LAB_CFG_INT, "passes over the training set"},
    {"train", "steps", LAB_CFG_INT, "optimizer steps"},
    {"train", "lr", LAB_CFG_FLOAT, "learning rate"},
    {"train", "optimizer", LAB_CFG_ENUM, "optimizer"},
    {"train", "weight_decay", LAB_CFG_FLOAT, "weight decay"},
    {"train", "momentum", LAB_CFG_FLOAT, "SGD momentum"},
    {"train", "grad_clip", LAB_CFG_FLOAT, "clip the global gradient norm to this (0: off)"},
    {"train", "lr_schedule", LAB_CFG_ENUM, "learning-rate schedule"},
    {"train", "warmup_steps", LAB_CFG_INT, "linear learning-rate warm-up steps"},
    {"train", "checkpoint_every", LAB_CFG_INT, "save a checkpoint every N epochs"},
    {"eval", "batch_size", LAB_CFG_INT, "examples per evaluation batch"},
    {"eval", "every", LAB_CFG_INT, "evaluate every N epochs"},
};

static const char *const framework_sections[] = {"run", "paper", "sweep", "data", "train", "eval"};

int lab_cfg_is_ident(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return 0;
    for (s++; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '_')) return 0;
    return 1;
}

const char *lab_cfg_help(const lab_param *p)
{
    if (p->help) return p->help;
    for (int i = 0; i < LAB_COUNT(conventional); i++)
        if (strcmp(conventional[i].section, p->section) == 0 && strcmp(conventional[i].key, p->key) == 0)
            return conventional[i].help;
    return "";
}

/* --- describing and parsing values ----------------------------------------- */

static const char *num(double x, char *buf, size_t len)
{
    if (x == floor(x) && fabs(x) < 1e15)
        snprintf(buf, len, "%.0f", x);
    else
        snprintf(buf, len, "%g", x);
    return buf;
}

static int has_range(const lab_param *p) { return p->min < p->max; }

static void range_text(const lab_param *p, char *buf, size_t len)
{
    char a[40], b[40];
    if (!has_range(p))
        buf[0] = '\0';
    else if (isinf(p->max) && isinf(p->min))
        buf[0] = '\0';
    else if (isinf(p->max))
        snprintf(buf, len, " >= %s", num(p->min, a, sizeof a));
    else if (isinf(p->min))
        snprintf(buf, len, " <= %s", num(p->max, b, sizeof b));
    else
        snprintf(buf, len, " in [%s, %s]", num(p->min, a, sizeof a), num(p->max, b, sizeof b));
}

static void choices_text(const char *choices, char *buf, size_t len)
{
    size_t k = 0;
    for (const char *s = choices ? choices : ""; *s && k + 3 < len; s++) {
        if (*s == '|') {
            buf[k++] = ',';
            buf[k++] = ' ';
        } else {
            buf[k++] = *s;
        }
    }
    buf[k] = '\0';
}

const char *lab_cfg_describe(const lab_param *p, char *buf, size_t len)
{
    char r[100], ch[400];
    range_text(p, r, sizeof r);
    switch (p->type) {
    case LAB_CFG_INT: snprintf(buf, len, "an integer%s", r); break;
    case LAB_CFG_FLOAT: snprintf(buf, len, "a number%s", r); break;
    case LAB_CFG_BOOL: snprintf(buf, len, "true or false"); break;
    case LAB_CFG_STRING: snprintf(buf, len, "a string"); break;
    case LAB_CFG_ENUM:
        choices_text(p->choices, ch, sizeof ch);
        snprintf(buf, len, "one of %s", ch);
        break;
    case LAB_CFG_INTS: snprintf(buf, len, "a list of integers%s", r); break;
    case LAB_CFG_FLOATS: snprintf(buf, len, "a list of numbers%s", r); break;
    default: snprintf(buf, len, "(unknown type %d)", (int)p->type); break;
    }
    return buf;
}

static int parse_i64(const char *s, int64_t *v)
{
    if (!*s || isspace((unsigned char)*s)) return -1;
    errno = 0;
    char *end;
    long long x = strtoll(s, &end, 10);
    if (*end || end == s) return -1;
    if (errno == ERANGE) return -2;
    *v = x;
    return 0;
}

static int parse_f64(const char *s, double *v)
{
    if (!*s || isspace((unsigned char)*s)) return -1;
    char *end;
    double x = strtod(s, &end);
    if (*end || end == s) return -1;
    if (!isfinite(x)) return -2;
    *v = x;
    return 0;
}

static int in_range(const lab_param *p, double x) { return !has_range(p) || (x >= p->min && x <= p->max); }

int lab_cfg_split(const char *text, char sep, char ***items)
{
    *items = NULL;
    const char *s = text;
    while (isspace((unsigned char)*s)) s++;
    if (!*s) return 0;
    int n = 1;
    for (const char *t = s; *t; t++) n += *t == sep;
    char **v = calloc((size_t)n, sizeof *v);
    if (!v) return lab_error_set("config: out of host memory");
    int k = 0;
    for (;;) {
        const char *e = strchr(s, sep);
        if (!e) e = s + strlen(s);
        const char *a = s, *b = e;
        while (a < b && isspace((unsigned char)*a)) a++;
        while (b > a && isspace((unsigned char)b[-1])) b--;
        if (!(v[k++] = strndup(a, (size_t)(b - a)))) {
            lab_cfg_free_items(v, k);
            return lab_error_set("config: out of host memory");
        }
        if (!*e) break;
        s = e + 1;
    }
    *items = v;
    return n;
}

void lab_cfg_free_items(char **items, int n)
{
    if (!items) return;
    for (int i = 0; i < n; i++) free(items[i]);
    free(items);
}

static int choice_index(const char *choices, const char *v)
{
    int idx = 0;
    size_t vl = strlen(v);
    for (const char *s = choices; s && *s; idx++) {
        const char *e = strchr(s, '|');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == vl && strncmp(s, v, n) == 0) return idx;
        if (!e) break;
        s = e + 1;
    }
    return -1;
}

/* Up to 64 choices as separate strings, for suggestions. */
static int choice_list(const char *choices, char (*out)[64], const char **ptrs, int max)
{
    int n = 0;
    for (const char *s = choices; s && *s && n < max;) {
        const char *e = strchr(s, '|');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len > 63) len = 63;
        memcpy(out[n], s, len);
        out[n][len] = '\0';
        ptrs[n] = out[n];
        n++;
        if (!e) break;
        s = e + 1;
    }
    return n;
}

int lab_cfg_parse_value(const lab_param *p, const char *text, cfg_entry *e, char *why, size_t len)
{
    char d[512];
    lab_cfg_entry_clear_parsed(e);
    switch (p->type) {
    case LAB_CFG_INT: {
        int64_t v;
        int r = parse_i64(text, &v);
        if (r == -2) return snprintf(why, len, "too large, expected %s", lab_cfg_describe(p, d, sizeof d)), -1;
        if (r < 0) return snprintf(why, len, "expected %s", lab_cfg_describe(p, d, sizeof d)), -1;
        if (!in_range(p, (double)v))
            return snprintf(why, len, "out of range, expected %s", lab_cfg_describe(p, d, sizeof d)), -1;
        e->i = v;
        return 0;
    }
    case LAB_CFG_FLOAT: {
        double v;
        int r = parse_f64(text, &v);
        if (r == -2) return snprintf(why, len, "expected a finite number"), -1;
        if (r < 0) return snprintf(why, len, "expected %s", lab_cfg_describe(p, d, sizeof d)), -1;
        if (!in_range(p, v))
            return snprintf(why, len, "out of range, expected %s", lab_cfg_describe(p, d, sizeof d)), -1;
        e->f = v;
        return 0;
    }
    case LAB_CFG_BOOL: {
        static const char *const t[] = {"true", "yes", "on", "1"}, *const f[] = {"false", "no", "off", "0"};
        for (int i = 0; i < 4; i++) {
            if (strcasecmp(text, t[i]) == 0) return e->i = 1, 0;
            if (strcasecmp(text, f[i]) == 0) return e->i = 0, 0;
        }
        return snprintf(why, len, "expected true or false"), -1;
    }
    case LAB_CFG_STRING: return 0;
    case LAB_CFG_ENUM: {
        int idx = choice_index(p->choices, text);
        if (idx >= 0) return e->i = idx, 0;
        char names[64][64];
        const char *ptrs[64];
        int n = choice_list(p->choices, names, ptrs, 64);
        const char *s = lab_cfg_suggest(text, ptrs, n);
        lab_cfg_describe(p, d, sizeof d);
        if (s)
            snprintf(why, len, "expected %s (did you mean %s?)", d, s);
        else
            snprintf(why, len, "expected %s", d);
        return -1;
    }
    case LAB_CFG_INTS:
    case LAB_CFG_FLOATS: {
        char **items;
        int n = lab_cfg_split(text, ',', &items);
        if (n < 0) return snprintf(why, len, "%s", lab_error()), -1;
        int ints = p->type == LAB_CFG_INTS;
        if (n > 0) {
            if (ints)
                e->ints = malloc((size_t)n * sizeof *e->ints);
            else
                e->floats = malloc((size_t)n * sizeof *e->floats);
            if (!e->ints && !e->floats) {
                lab_cfg_free_items(items, n);
                return snprintf(why, len, "out of host memory"), -1;
            }
        }
        lab_cfg_describe(p, d, sizeof d);
        int rc = 0;
        for (int k = 0; k < n && rc == 0; k++) {
            int64_t iv = 0;
            double fv = 0;
            int r = ints ? parse_i64(items[k], &iv) : parse_f64(items[k], &fv);
            if (!items[k][0])
                rc = -1, snprintf(why, len, "item %d is empty, expected %s", k + 1, d);
            else if (r < 0)
                rc = -1, snprintf(why, len, "item %d (\"%s\"): expected %s", k + 1, items[k], d);
            else if (!in_range(p, ints ? (double)iv : fv))
                rc = -1, snprintf(why, len, "item %d (%s): out of range, expected %s", k + 1, items[k], d);
            else if (ints)
                e->ints[k] = iv;
            else
                e->floats[k] = fv;
        }
        lab_cfg_free_items(items, n);
        if (rc < 0) {
            lab_cfg_entry_clear_parsed(e);
            return -1;
        }
        e->nlist = n;
        return 0;
    }
    }
    return snprintf(why, len, "unknown type %d in the schema", (int)p->type), -1;
}

int lab_cfg_is_default(const cfg_entry *e)
{
    const lab_param *p = e->param;
    if (!p || !p->def) return 0;
    cfg_entry d;
    memset(&d, 0, sizeof d);
    char why[256];
    if (lab_cfg_parse_value(p, p->def, &d, why, sizeof why) < 0) return 0;
    int same = 0;
    switch (p->type) {
    case LAB_CFG_INT:
    case LAB_CFG_BOOL:
    case LAB_CFG_ENUM: same = d.i == e->i; break;
    case LAB_CFG_FLOAT: same = d.f == e->f; break;
    case LAB_CFG_STRING: same = strcmp(p->def, e->value) == 0; break;
    case LAB_CFG_INTS:
        same = d.nlist == e->nlist;
        for (int k = 0; same && k < d.nlist; k++) same = d.ints[k] == e->ints[k];
        break;
    case LAB_CFG_FLOATS:
        same = d.nlist == e->nlist;
        for (int k = 0; same && k < d.nlist; k++) same = d.floats[k] == e->floats[k];
        break;
    }
    lab_cfg_entry_clear_parsed(&d);
    return same;
}

/* --- did you mean ------------------------------------------------------------ */

/* Optimal string alignment distance (Levenshtein plus adjacent swaps). */
static int osa(const char *a, const char *b)
{
    int n = (int)strlen(a), m = (int)strlen(b);
    if (n > 64 || m > 64) return 1000;
    int d[65][65];
    for (int i = 0; i <= n; i++) d[i][0] = i;
    for (int j = 0; j <= m; j++) d[0][j] = j;
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= m; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

const char *lab_cfg_suggest(const char *word, const char *const *cands, int n)
{
    int len = (int)strlen(word);
    int limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
    const char *best = NULL;
    int bd = limit + 1;
    for (int i = 0; i < n; i++) {
        int dist = osa(word, cands[i]);
        if (dist < bd && dist < len) {
            bd = dist;
            best = cands[i];
        }
    }
    return best;
}

static const char *short_type(lab_cfg_type t)
{
    switch (t) {
    case LAB_CFG_INT: return "int";
    case LAB_CFG_FLOAT: return "float";
    case LAB_CFG_BOOL: return "bool";
    case LAB_CFG_STRING: return "string";
    case LAB_CFG_ENUM: return "enum";
    case LAB_CFG_INTS: return "int list";
    case LAB_CFG_FLOATS: return "float list";
    }
    return "?";
}

/* --- schema checks ----------------------------------------------------------- */

static int reserved_section(const char *s)
{
    return strcmp(s, "run") == 0 || strcmp(s, "paper") == 0 || strcmp(s, "sweep") == 0;
}

int lab_cfg_schema_check(const lab_param *params, int n, const char *who)
{
    if (!who) who = "plugin";
    if (n < 0 || n > 100000) return lab_error_set("schema of %s: %d parameters", who, n);
    if (n > 0 && !params) return lab_error_set("schema of %s: %d parameters but no array", who, n);
    for (int i = 0; i < n; i++) {
        const lab_param *p = &params[i];
        if (!p->section || !p->key || !lab_cfg_is_ident(p->section) || !lab_cfg_is_ident(p->key))
            return lab_error_set("schema of %s: entry %d (%s.%s): section and key must be identifiers", who, i,
                                 p->section ? p->section : "(null)", p->key ? p->key : "(null)");
        for (const char *s = p->section; *s; s++)
            if (isupper((unsigned char)*s))
                return lab_error_set("schema of %s: %s.%s: names must be lowercase (INI keys are read lowercased)", who,
                                     p->section, p->key);
        for (const char *s = p->key; *s; s++)
            if (isupper((unsigned char)*s))
                return lab_error_set("schema of %s: %s.%s: names must be lowercase (INI keys are read lowercased)", who,
                                     p->section, p->key);
        if (reserved_section(p->section))
            return lab_error_set("schema of %s: %s.%s: [%s] belongs to the framework", who, p->section, p->key,
                                 p->section);
        if ((int)p->type < LAB_CFG_INT || (int)p->type > LAB_CFG_FLOATS)
            return lab_error_set("schema of %s: %s.%s: unknown type %d", who, p->section, p->key, (int)p->type);
        if (isnan(p->min) || isnan(p->max))
            return lab_error_set("schema of %s: %s.%s: NaN bound", who, p->section, p->key);
        if (p->type == LAB_CFG_ENUM) {
            if (!p->choices || !p->choices[0])
                return lab_error_set("schema of %s: %s.%s: an enum needs choices (\"a|b\")", who, p->section, p->key);
            for (const char *s = p->choices;; s++) {
                if (*s == '|' && (s == p->choices || s[1] == '|' || s[1] == '\0'))
                    return lab_error_set("schema of %s: %s.%s: empty choice in \"%s\"", who, p->section, p->key,
                                         p->choices);
                if (!*s) break;
            }
        }
        for (int j = 0; j < i; j++)
            if (strcmp(params[j].section, p->section) == 0 && strcmp(params[j].key, p->key) == 0)
                return lab_error_set("schema of %s: %s.%s declared twice", who, p->section, p->key);
        for (int k = 0; k < LAB_COUNT(conventional); k++)
            if (strcmp(conventional[k].section, p->section) == 0 && strcmp(conventional[k].key, p->key) == 0 &&
                conventional[k].type != p->type)
                return lab_error_set("schema of %s: %s.%s is a conventional key of type %s, declared as %s", who,
                                     p->section, p->key, short_type(conventional[k].type), short_type(p->type));
        if (p->def) {
            cfg_entry e;
            memset(&e, 0, sizeof e);
            char why[512];
            int r = lab_cfg_parse_value(p, p->def, &e, why, sizeof why);
            lab_cfg_entry_clear_parsed(&e);
            if (r < 0)
                return lab_error_set("schema of %s: %s.%s: default \"%s\": %s", who, p->section, p->key, p->def, why);
        }
    }
    return 0;
}

/* --- validation -------------------------------------------------------------- */

const lab_param *lab_cfg_lookup(const lab_cfg *c, const char *section, const char *key)
{
    for (int i = 0; i < LAB_COUNT(run_params); i++)
        if (strcmp(run_params[i].section, section) == 0 && strcmp(run_params[i].key, key) == 0) return &run_params[i];
    for (int i = 0; i < c->nplugin; i++)
        if (strcmp(c->plugin[i].section, section) == 0 && strcmp(c->plugin[i].key, key) == 0) return &c->plugin[i];
    return NULL;
}

static int known_section(const lab_cfg *c, const char *s)
{
    for (int i = 0; i < LAB_COUNT(framework_sections); i++)
        if (strcmp(framework_sections[i], s) == 0) return 1;
    for (int i = 0; i < c->nplugin; i++)
        if (strcmp(c->plugin[i].section, s) == 0) return 1;
    return 0;
}

static int unknown_section(const lab_cfg *c, const char *where, const char *s)
{
    const char *cands[256];
    int n = 0;
    for (int i = 0; i < LAB_COUNT(framework_sections); i++) cands[n++] = framework_sections[i];
    for (int i = 0; i < c->nplugin && n < 256; i++) {
        int seen = 0;
        for (int k = 0; k < n; k++) seen |= strcmp(cands[k], c->plugin[i].section) == 0;
        if (!seen) cands[n++] = c->plugin[i].section;
    }
    const char *best = lab_cfg_suggest(s, cands, n);
    if (best) return lab_error_set("%s: unknown section [%s] (did you mean [%s]?)", where, s, best);
    char list[1024] = "";
    for (int k = 0; k < n; k++) {
        if (k) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, cands[k], sizeof list - strlen(list) - 1);
    }
    return lab_error_set("%s: unknown section [%s]; sections: %s", where, s, list);
}

static int unknown_key(const lab_cfg *c, const char *where, const char *section, const char *key)
{
    const char *cands[512];
    int n = 0;
    const lab_param *all[2] = {run_params, c->plugin};
    int counts[2] = {LAB_COUNT(run_params), c->nplugin};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < counts[s] && n < 512; i++)
            if (strcmp(all[s][i].section, section) == 0) cands[n++] = all[s][i].key;
    const char *best = lab_cfg_suggest(key, cands, n);
    if (best) return lab_error_set("%s: unknown key %s.%s (did you mean %s.%s?)", where, section, key, section, best);
    /* The right key in the wrong section. */
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < counts[s]; i++)
            if (strcmp(all[s][i].key, key) == 0)
                return lab_error_set("%s: unknown key %s.%s (did you mean %s.%s?)", where, section, key,
                                     all[s][i].section, key);
    if (n == 0)
        return lab_error_set("%s: unknown key %s.%s; the plugin declares no keys in [%s]", where, section, key,
                             section);
    char list[1024] = "";
    for (int k = 0; k < n; k++) {
        if (k) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, cands[k], sizeof list - strlen(list) - 1);
    }
    return lab_error_set("%s: unknown key %s.%s; keys of [%s]: %s", where, section, key, section, list);
}

static int check_device(const lab_cfg *c, cfg_entry *e)
{
    const char *v = e->value;
    if (!strcmp(v, "auto") || !strcmp(v, "cpu") || !strcmp(v, "cuda")) return 0;
    if (!strncmp(v, "cuda:", 5) && v[5]) {
        const char *s = v + 5;
        while (isdigit((unsigned char)*s)) s++;
        if (!*s && s - (v + 5) <= 4) return 0;
    }
    char w[300];
    return lab_error_set("%s: run.device = \"%s\": expected auto, cpu, cuda or cuda:N",
                         lab_cfg_where(c, e, w, sizeof w), v);
}

/* Entries in canonical order: [run], the plugin's keys in schema order,
 * then [paper] and [sweep] as given. */
static int reorder(lab_cfg *c)
{
    cfg_entry *ne = malloc((size_t)(c->n ? c->n : 1) * sizeof *ne);
    char *used = calloc((size_t)(c->n ? c->n : 1), 1);
    if (!ne || !used) {
        free(ne);
        free(used);
        return lab_error_set("config: out of host memory");
    }
    int k = 0;
    const lab_param *all[2] = {run_params, c->plugin};
    int counts[2] = {LAB_COUNT(run_params), c->nplugin};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < counts[s]; i++)
            for (int j = 0; j < c->n; j++)
                if (!used[j] && c->e[j].param == &all[s][i]) {
                    ne[k++] = c->e[j];
                    used[j] = 1;
                }
    for (int pass = 0; pass < 2; pass++)
        for (int j = 0; j < c->n; j++)
            if (!used[j] && strcmp(c->e[j].section, pass ? "sweep" : "paper") == 0) {
                ne[k++] = c->e[j];
                used[j] = 1;
            }
    for (int j = 0; j < c->n; j++)
        if (!used[j]) ne[k++] = c->e[j]; /* cannot happen after validation; kept rather than lost */
    free(c->e);
    free(used);
    c->e = ne;
    c->cap = c->n ? c->n : 1;
    return 0;
}

int lab_cfg_validate(lab_cfg *c, const lab_param *params, int n)
{
    if (!c) return lab_error_set("config: none");
    if (lab_cfg_schema_check(params, n, "the plugin") < 0) return -1;
    c->validated = 0;
    lab_cfg_sweep_clear(c);
    /* Start over: drop defaults filled in by an earlier validation. */
    int k = 0;
    for (int i = 0; i < c->n; i++) {
        cfg_entry *e = &c->e[i];
        lab_cfg_entry_clear_parsed(e);
        e->param = NULL;
        if (e->origin == CFG_FROM_DEFAULT) {
            free(e->section);
            free(e->key);
            free(e->value);
            continue;
        }
        c->e[k++] = *e;
    }
    c->n = k;
    c->plugin = params;
    c->nplugin = n;
    char w[300], why[1024];
    for (int i = 0; i < c->nsecs; i++)
        if (!known_section(c, c->secs[i].name)) {
            snprintf(w, sizeof w, "%s:%d", c->path, c->secs[i].line);
            return unknown_section(c, w, c->secs[i].name);
        }
    for (int i = 0; i < c->n; i++) {
        cfg_entry *e = &c->e[i];
        lab_cfg_where(c, e, w, sizeof w);
        if (!known_section(c, e->section)) return unknown_section(c, w, e->section);
        if (strcmp(e->section, "sweep") == 0) continue;
        if (strcmp(e->section, "paper") == 0) {
            lab_param p = LAB_PARAM_FLOAT("paper", e->key, NULL, 0, 0, NULL);
            if (lab_cfg_parse_value(&p, e->value, e, why, sizeof why) < 0)
                return lab_error_set("%s: paper.%s = \"%s\": expected a number (the paper's %s)", w, e->key, e->value,
                                     e->key);
            continue;
        }
        const lab_param *p = lab_cfg_lookup(c, e->section, e->key);
        if (!p) return unknown_key(c, w, e->section, e->key);
        e->param = p;
        if (lab_cfg_parse_value(p, e->value, e, why, sizeof why) < 0)
            return lab_error_set("%s: %s.%s = \"%s\": %s", w, e->section, e->key, e->value, why);
    }
    const lab_param *all[2] = {run_params, params};
    int counts[2] = {LAB_COUNT(run_params), n};
    for (int s = 0; s < 2; s++)
        for (int i = 0; i < counts[s]; i++) {
            const lab_param *p = &all[s][i];
            if (lab_cfg_find(c, p->section, p->key)) continue;
            if (!p->def)
                return lab_error_set("%s: missing required key %s.%s (%s)", c->path, p->section, p->key,
                                     lab_cfg_help(p));
            cfg_entry *e = lab_cfg_put(c, p->section, p->key, p->def, CFG_FROM_DEFAULT, 0);
            if (!e) return -1;
            e->param = p;
            if (lab_cfg_parse_value(p, p->def, e, why, sizeof why) < 0)
                return lab_error_set("default of %s.%s = \"%s\": %s", p->section, p->key, p->def, why);
        }
    if (check_device(c, lab_cfg_find(c, "run", "device")) < 0) return -1;
    if (reorder(c) < 0) return -1;
    if (lab_cfg_sweep_prepare(c) < 0) return -1;
    c->validated = 1;
    return 0;
}

/* --- printing a schema ---------------------------------------------------------- */

void lab_cfg_print_schema(FILE *f, const lab_param *params, int n)
{
    fprintf(f, "  %-22s %-10s %-12s %-24s %s\n", "KEY", "TYPE", "DEFAULT", "RANGE / CHOICES", "HELP");
    for (int i = 0; i < n; i++) {
        const lab_param *p = &params[i];
        int seen = 0; /* sections in order of first appearance */
        for (int j = 0; j < i; j++) seen |= strcmp(params[j].section, p->section) == 0;
        if (seen) continue;
        fprintf(f, "[%s]\n", p->section);
        for (int j = i; j < n; j++) {
            const lab_param *q = &params[j];
            if (strcmp(q->section, p->section) != 0) continue;
            char r[400] = "";
            if (q->type == LAB_CFG_ENUM) {
                snprintf(r, sizeof r, "%s", q->choices);
            } else if (q->type != LAB_CFG_BOOL && q->type != LAB_CFG_STRING) {
                char t[100];
                range_text(q, t, sizeof t);
                snprintf(r, sizeof r, "%s", strncmp(t, " in ", 4) == 0 ? t + 4 : t[0] ? t + 1 : t);
            }
            char def[64];
            snprintf(def, sizeof def, "%s", q->def ? (q->def[0] ? q->def : "\"\"") : "(required)");
            fprintf(f, "  %-22s %-10s %-12s %-24s %s\n", q->key, short_type(q->type), def, r, lab_cfg_help(q));
        }
    }
}
