/* [sweep]: keys with several values. Each [sweep] key names a declared
 * key ("train.lr") and lists its alternatives: comma-separated, or
 * '|'-separated for list-valued keys (whose values contain commas). The
 * grid is the product of all alternatives in file order, the last key
 * varying fastest; labrun runs every point run.seeds times.
 *
 * Tested in tests/unit/test_config.c (grid order, errors) and
 * tests/unit/test_cli.c (a swept run's aggregated table). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"
#include "lab/error.h"

#define SWEEP_MAX_POINTS 100000

void lab_cfg_sweep_clear(lab_cfg *c)
{
    for (int i = 0; i < c->nsweep; i++) {
        free(c->sweep[i].target);
        lab_cfg_free_items(c->sweep[i].values, c->sweep[i].nvalues);
    }
    free(c->sweep);
    c->sweep = NULL;
    c->nsweep = 0;
}

static int prepare_one(lab_cfg *c, int idx, cfg_sweep *s)
{
    cfg_entry *e = &c->e[idx];
    char w[300], why[1024];
    lab_cfg_where(c, e, w, sizeof w);
    const char *dot = strchr(e->key, '.');
    char sec[128];
    size_t n = (size_t)(dot - e->key);
    if (n >= sizeof sec) return lab_error_set("%s: [sweep] %s: section name too long", w, e->key);
    memcpy(sec, e->key, n);
    sec[n] = '\0';
    const char *key = dot + 1;
    if (strcmp(sec, "run") == 0 || strcmp(sec, "paper") == 0 || strcmp(sec, "sweep") == 0)
        return lab_error_set("%s: [sweep] %s: [%s] keys cannot be swept%s", w, e->key, sec,
                             strcmp(sec, "run") == 0 ? " (run.seeds repeats the grid over seeds)" : "");
    const lab_param *p = lab_cfg_lookup(c, sec, key);
    if (!p) {
        const char *cands[512];
        char names[512][128];
        int k = 0;
        for (int i = 0; i < c->nplugin && k < 512; i++) {
            snprintf(names[k], sizeof names[k], "%s.%s", c->plugin[i].section, c->plugin[i].key);
            cands[k] = names[k];
            k++;
        }
        const char *best = lab_cfg_suggest(e->key, cands, k);
        if (best) return lab_error_set("%s: [sweep] %s: unknown key (did you mean %s?)", w, e->key, best);
        return lab_error_set("%s: [sweep] %s: unknown key", w, e->key);
    }
    int list = p->type == LAB_CFG_INTS || p->type == LAB_CFG_FLOATS;
    char **items;
    int nv = lab_cfg_split(e->value, list ? '|' : ',', &items);
    if (nv < 0) return -1;
    if (nv == 0) return lab_error_set("%s: [sweep] %s: no values", w, e->key);
    s->target = strdup(e->key);
    s->values = items;
    s->nvalues = nv;
    s->entry = idx;
    if (!s->target) return lab_error_set("config: out of host memory");
    for (int k = 0; k < nv; k++) {
        cfg_entry tmp;
        memset(&tmp, 0, sizeof tmp);
        if (!items[k][0]) return lab_error_set("%s: [sweep] %s: value %d is empty", w, e->key, k + 1);
        int r = lab_cfg_parse_value(p, items[k], &tmp, why, sizeof why);
        lab_cfg_entry_clear_parsed(&tmp);
        if (r < 0) return lab_error_set("%s: [sweep] %s: value %d \"%s\": %s", w, e->key, k + 1, items[k], why);
    }
    return 0;
}

int lab_cfg_sweep_prepare(lab_cfg *c)
{
    lab_cfg_sweep_clear(c);
    int n = 0;
    for (int i = 0; i < c->n; i++) n += strcmp(c->e[i].section, "sweep") == 0;
    if (n == 0) return 0;
    c->sweep = calloc((size_t)n, sizeof *c->sweep);
    if (!c->sweep) return lab_error_set("config: out of host memory");
    long long points = 1;
    for (int i = 0; i < c->n; i++) {
        if (strcmp(c->e[i].section, "sweep") != 0) continue;
        cfg_sweep *s = &c->sweep[c->nsweep++];
        if (prepare_one(c, i, s) < 0) {
            lab_cfg_sweep_clear(c);
            return -1;
        }
        points *= s->nvalues;
        if (points > SWEEP_MAX_POINTS) {
            char w[300];
            lab_cfg_where(c, &c->e[i], w, sizeof w);
            lab_cfg_sweep_clear(c);
            return lab_error_set("%s: [sweep] has more than %d grid points", w, SWEEP_MAX_POINTS);
        }
    }
    return 0;
}

int lab_cfg_sweep_size(const lab_cfg *c)
{
    if (!c || c->point >= 0) return 1;
    int points = 1;
    for (int i = 0; i < c->nsweep; i++) points *= c->sweep[i].nvalues;
    return points;
}

int lab_cfg_sweep_nkeys(const lab_cfg *c) { return c ? c->nsweep : 0; }

const char *lab_cfg_sweep_key(const lab_cfg *c, int k)
{
    return c && k >= 0 && k < c->nsweep ? c->sweep[k].target : NULL;
}

lab_cfg *lab_cfg_sweep_point(const lab_cfg *c, int i)
{
    if (!c || !c->validated) {
        lab_error_set("sweep: the configuration is not validated");
        return NULL;
    }
    int size = lab_cfg_sweep_size(c);
    if (i < 0 || i >= size) {
        lab_error_set("sweep: point %d of %d", i, size);
        return NULL;
    }
    lab_cfg *d = lab_cfg_copy(c);
    if (!d) return NULL;
    int rest = i;
    for (int k = c->nsweep - 1; k >= 0; k--) {
        const cfg_sweep *s = &c->sweep[k];
        int pick = rest % s->nvalues;
        rest /= s->nvalues;
        cfg_entry *t = lab_cfg_find_dotted(d, s->target);
        if (!t || !t->param) {
            lab_cfg_free(d);
            lab_error_set("sweep: %s is not in the configuration", s->target);
            return NULL;
        }
        char why[1024];
        char *v = strdup(s->values[pick]);
        if (!v) {
            lab_cfg_free(d);
            lab_error_set("config: out of host memory");
            return NULL;
        }
        free(t->value);
        t->value = v;
        t->origin = CFG_FROM_SWEEP;
        t->line = c->e[s->entry].origin == CFG_FROM_FILE ? c->e[s->entry].line : 0;
        if (lab_cfg_parse_value(t->param, v, t, why, sizeof why) < 0) {
            lab_cfg_free(d);
            lab_error_set("sweep: %s = \"%s\": %s", s->target, v, why);
            return NULL;
        }
    }
    d->point = i;
    return d;
}
