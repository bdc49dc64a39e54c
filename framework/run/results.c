/* Final numbers: per trial (result.json) and aggregated over seeds per grid
 * point (results.csv, results.md, trials.csv), with the paper's numbers
 * from [paper] beside ours. mean/std/sem come from lab/metrics.h.
 *
 * Tested in tests/unit/test_run.c (aggregation over seeds, paper column)
 * and tests/unit/test_cli.c (a sweep's table). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../config/config_int.h"
#include "run_int.h"

void lab_run_trial_clear(run_trial *t)
{
    for (int i = 0; i < t->n; i++) free(t->names[i]);
    free(t->names);
    free(t->values);
    t->names = NULL;
    t->values = NULL;
    t->n = 0;
}

int lab_run_trial_add(run_trial *t, const char *name, double v)
{
    for (int i = 0; i < t->n; i++)
        if (strcmp(t->names[i], name) == 0) {
            t->values[i] = v;
            return 0;
        }
    char **nn = realloc(t->names, (size_t)(t->n + 1) * sizeof *nn);
    if (!nn) return lab_error_set("results: out of host memory");
    t->names = nn;
    double *nv = realloc(t->values, (size_t)(t->n + 1) * sizeof *nv);
    if (!nv) return lab_error_set("results: out of host memory");
    t->values = nv;
    if (!(nn[t->n] = strdup(name))) return lab_error_set("results: out of host memory");
    nv[t->n++] = v;
    return 0;
}

int lab_run_write_trial_result(const char *dir, const run_trial *t)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/result.json", dir);
    lab_record r; /* the same flat, exact, atomic JSON as a plugin's trial record */
    lab_record_init(&r);
    int rc = 0;
    for (int i = 0; i < t->n && rc == 0; i++) rc = lab_record_add_num(&r, t->names[i], t->values[i]);
    if (rc == 0) rc = lab_record_write(path, &r);
    lab_record_clear(&r);
    return rc;
}

typedef struct {
    run_trial *t;
    int rc;
} read_ctx;

static void on_member(const char *key, int is_num, double v, const char *str, void *user)
{
    read_ctx *r = user;
    (void)str;
    if (r->rc == 0 && is_num) r->rc = lab_run_trial_add(r->t, key, v);
}

int lab_run_read_trial_result(const char *dir, run_trial *t)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/result.json", dir);
    char *text = lab_run_read_file(path, NULL);
    if (!text) return -1;
    read_ctx r = {t, 0};
    int rc = lab_run_json_parse_flat(text, on_member, &r);
    free(text);
    if (rc < 0) return lab_error_set("%s: not a flat JSON object", path);
    return r.rc;
}

/* --- formatting -------------------------------------------------------------------- */

/* Decimals that give about four significant digits for x. */
static int decimals_for(double x)
{
    double a = fabs(x);
    if (!(a > 0) || !isfinite(a)) return 4;
    int d = 3 - (int)floor(log10(a));
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

static const char *fmt_val(double x, int dec, char *buf, size_t len)
{
    if (isnan(x))
        snprintf(buf, len, "nan");
    else if (!isfinite(x))
        snprintf(buf, len, "%s", x > 0 ? "inf" : "-inf");
    else
        snprintf(buf, len, "%.*f", dec, x);
    return buf;
}

static void csv_num(FILE *f, double v)
{
    char b[40];
    if (isfinite(v)) fputs(lab_run_fmt_double(v, b, sizeof b, 0), f);
}

/* A CSV field, quoted when it needs to be. */
static void csv_str(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Metric names over all trials (first-seen order), then [paper]-only ones. */
static int metric_names(const run_summary *s, const char ***out)
{
    int n = 0, cap = 16;
    const char **v = malloc((size_t)cap * sizeof *v);
    if (!v) return lab_error_set("results: out of host memory");
    const char **pn = NULL;
    double *pv = NULL;
    int np = lab_cfg_paper(s->cfg, &pn, &pv);
    int total = s->npoints * s->nseeds;
    for (int pass = 0; pass < 2; pass++) {
        int count = pass ? (np > 0 ? np : 0) : total;
        for (int i = 0; i < count; i++) {
            int m = pass ? 1 : s->trials[i].n;
            for (int j = 0; j < m; j++) {
                const char *name = pass ? pn[i] : s->trials[i].names[j];
                int seen = 0;
                for (int k = 0; k < n && !seen; k++) seen = strcmp(v[k], name) == 0;
                if (seen) continue;
                if (n == cap) {
                    const char **nv = realloc(v, (size_t)(cap *= 2) * sizeof *nv);
                    if (!nv) {
                        free(v);
                        free(pn);
                        free(pv);
                        return lab_error_set("results: out of host memory");
                    }
                    v = nv;
                }
                v[n++] = name;
            }
        }
    }
    free(pn);
    free(pv);
    *out = v;
    return n;
}

static int paper_value(const lab_cfg *c, const char *metric, double *v)
{
    const char **pn;
    double *pv;
    int np = lab_cfg_paper(c, &pn, &pv), found = 0;
    for (int i = 0; i < np && !found; i++)
        if (strcmp(pn[i], metric) == 0) {
            *v = pv[i];
            found = 1;
        }
    free(pn);
    free(pv);
    return found;
}

/* The values of `metric` over the finished seeds of grid point p. */
static int gather(const run_summary *s, int p, const char *metric, double *vals)
{
    int k = 0;
    for (int j = 0; j < s->nseeds; j++) {
        const run_trial *t = &s->trials[p * s->nseeds + j];
        if (t->status != TRIAL_DONE) continue;
        for (int i = 0; i < t->n; i++)
            if (strcmp(t->names[i], metric) == 0) vals[k++] = t->values[i];
    }
    return k;
}

int lab_run_write_results(const run_summary *s, FILE *table)
{
    const char **metrics = NULL;
    int nm = metric_names(s, &metrics);
    if (nm < 0) return -1;
    int nk = lab_cfg_sweep_nkeys(s->cfg);
    double *vals = malloc((size_t)(s->nseeds + 1) * sizeof *vals);
    char path[4200];
    snprintf(path, sizeof path, "%s/results.csv", s->dir);
    FILE *csv = fopen(path, "w");
    snprintf(path, sizeof path, "%s/results.md", s->dir);
    FILE *md = fopen(path, "w");
    snprintf(path, sizeof path, "%s/trials.csv", s->dir);
    FILE *tc = fopen(path, "w");
    int rc = 0;
    if (!vals || !csv || !md || !tc) {
        rc = lab_error_set("results: cannot write the result files in %s", s->dir);
        goto done;
    }
    int has_paper = 0;
    double pv;
    for (int m = 0; m < nm; m++) has_paper |= paper_value(s->cfg, metrics[m], &pv);

    /* results.csv: one row per grid point and metric. */
    fputs("point", csv);
    for (int k = 0; k < nk; k++) {
        fputc(',', csv);
        csv_str(csv, lab_cfg_sweep_key(s->cfg, k));
    }
    fputs(",metric,n,mean,std,sem,min,max,paper\n", csv);

    /* results.md: the same as a table, ours next to the paper's. */
    int done = 0, total = s->npoints * s->nseeds;
    for (int i = 0; i < total; i++) done += s->trials[i].status == TRIAL_DONE;
    for (FILE *f = md; f; f = (f == md ? table : NULL)) {
        fprintf(f, "# %s: %s\n\n", s->plugin, s->experiment);
        fprintf(f, "labrun %s, plugin %s %s, %s, %d grid point%s x %d seed%s (%d of %d trials finished)", LAB_VERSION,
                s->plugin, s->plugin_version, s->device, s->npoints, s->npoints == 1 ? "" : "s", s->nseeds,
                s->nseeds == 1 ? "" : "s", done, total);
        fprintf(f, "%s\n\n", s->nseeds > 1 ? "; ours = mean ± sample std over seeds" : "");
        fputc('|', f);
        for (int k = 0; k < nk; k++) fprintf(f, " %s |", lab_cfg_sweep_key(s->cfg, k));
        fprintf(f, " metric | ours |%s\n|", has_paper ? " paper |" : "");
        for (int k = 0; k < nk + 2 + has_paper; k++) fputs("---|", f);
        fputc('\n', f);
    }
    for (int p = 0; p < s->npoints; p++) {
        for (int m = 0; m < nm; m++) {
            int n = gather(s, p, metrics[m], vals);
            int hp = paper_value(s->cfg, metrics[m], &pv);
            lab_metric_summary sum;
            memset(&sum, 0, sizeof sum);
            int ok = n > 0 && lab_metric_summarize(vals, n, &sum) == 0;
            if (n > 0 && !ok) { /* a NaN among the values: still report them */
                sum.n = n;
                sum.mean = sum.std = sum.sem = sum.min = sum.max = NAN;
                ok = 1;
            }
            fprintf(csv, "%d", p);
            for (int k = 0; k < nk; k++) {
                fputc(',', csv);
                const char *v = lab_cfg_value(s->points[p], lab_cfg_sweep_key(s->cfg, k));
                csv_str(csv, v ? v : "");
            }
            fputc(',', csv);
            csv_str(csv, metrics[m]);
            fprintf(csv, ",%d,", n);
            if (ok) {
                csv_num(csv, sum.mean);
                fputc(',', csv);
                csv_num(csv, sum.std);
                fputc(',', csv);
                csv_num(csv, sum.sem);
                fputc(',', csv);
                csv_num(csv, sum.min);
                fputc(',', csv);
                csv_num(csv, sum.max);
            } else {
                fputs(",,,,", csv);
            }
            fputc(',', csv);
            if (hp) csv_num(csv, pv);
            fputc('\n', csv);

            char ours[128] = "—", a[48], b[48];
            if (ok) {
                int dec = decimals_for(sum.mean), integral = 1;
                for (int k = 0; k < n; k++) integral &= vals[k] == floor(vals[k]) && fabs(vals[k]) < 1e15;
                if (integral && (n == 1 || sum.std == 0)) dec = 0;
                if (n > 1 && isfinite(sum.std))
                    snprintf(ours, sizeof ours, "%s ± %s", fmt_val(sum.mean, dec, a, sizeof a),
                             fmt_val(sum.std, dec, b, sizeof b));
                else
                    snprintf(ours, sizeof ours, "%s", fmt_val(sum.mean, dec, a, sizeof a));
                if (n < s->nseeds) {
                    size_t l = strlen(ours);
                    snprintf(ours + l, sizeof ours - l, " (%d/%d seeds)", n, s->nseeds);
                }
            }
            for (FILE *f = md; f; f = (f == md ? table : NULL)) {
                fputc('|', f);
                for (int k = 0; k < nk; k++) {
                    const char *v = lab_cfg_value(s->points[p], lab_cfg_sweep_key(s->cfg, k));
                    fprintf(f, " %s |", v ? v : "");
                }
                fprintf(f, " %s | %s |", metrics[m], ours);
                if (has_paper) {
                    if (hp)
                        fprintf(f, " %g |", pv);
                    else
                        fputs(" — |", f);
                }
                fputc('\n', f);
            }
        }
    }

    /* trials.csv: every trial's raw numbers. */
    fputs("point,seed", tc);
    for (int k = 0; k < nk; k++) {
        fputc(',', tc);
        csv_str(tc, lab_cfg_sweep_key(s->cfg, k));
    }
    fputs(",status", tc);
    for (int m = 0; m < nm; m++) {
        fputc(',', tc);
        csv_str(tc, metrics[m]);
    }
    fputc('\n', tc);
    static const char *const st[] = {"not run", "done", "failed", "interrupted"};
    for (int i = 0; i < total; i++) {
        const run_trial *t = &s->trials[i];
        fprintf(tc, "%d,%llu", t->point, (unsigned long long)t->seed);
        for (int k = 0; k < nk; k++) {
            fputc(',', tc);
            const char *v = lab_cfg_value(s->points[t->point], lab_cfg_sweep_key(s->cfg, k));
            csv_str(tc, v ? v : "");
        }
        fprintf(tc, ",%s", st[t->status]);
        for (int m = 0; m < nm; m++) {
            fputc(',', tc);
            for (int j = 0; j < t->n; j++)
                if (strcmp(t->names[j], metrics[m]) == 0) csv_num(tc, t->values[j]);
        }
        fputc('\n', tc);
    }
    if (ferror(csv) || ferror(md) || ferror(tc)) rc = lab_error_set("results: write error in %s", s->dir);
done:
    if (csv) fclose(csv);
    if (md) fclose(md);
    if (tc) fclose(tc);
    if (table) fflush(table);
    free(vals);
    free(metrics);
    return rc;
}
