/* labrun plot: the curves of metrics.jsonl (every trial of a run) drawn by
 * gnuplot, one figure per metric with a line per (trial, split), x = epoch,
 * to plots/<metric>.png and plots/<metric>.svg. gnuplot runs as a child
 * process on a generated script (plots/plot.gp, kept for tweaking); its
 * messages go to plots/gnuplot.log.
 *
 * Tested in tests/unit/test_cli.c (labrun plot writes both files; a clear
 * error without gnuplot in PATH). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run_int.h"

extern char **environ;

typedef struct series {
    char trial[96], split[64], metric[112];
    double *x, *y;
    int n, cap;
} series;

typedef struct plot_data {
    series *s;
    int n, cap;
    int oom;
    /* the line being parsed */
    const char *trial;
    char split[64];
    double epoch;
} plot_data;

static series *find_series(plot_data *d, const char *trial, const char *split, const char *metric)
{
    for (int i = 0; i < d->n; i++)
        if (!strcmp(d->s[i].trial, trial) && !strcmp(d->s[i].split, split) && !strcmp(d->s[i].metric, metric))
            return &d->s[i];
    if (d->n == d->cap) {
        int cap = d->cap ? d->cap * 2 : 16;
        series *ns = realloc(d->s, (size_t)cap * sizeof *ns);
        if (!ns) return NULL;
        d->s = ns;
        d->cap = cap;
    }
    series *s = &d->s[d->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->trial, sizeof s->trial, "%s", trial);
    snprintf(s->split, sizeof s->split, "%s", split);
    snprintf(s->metric, sizeof s->metric, "%s", metric);
    return s;
}

/* First pass over a line: split and epoch. */
static void on_head(const char *key, int is_num, double v, const char *str, void *user)
{
    plot_data *d = user;
    if (!strcmp(key, "split") && str) snprintf(d->split, sizeof d->split, "%s", str);
    if (!strcmp(key, "epoch") && is_num) d->epoch = v;
}

static void on_value(const char *key, int is_num, double v, const char *str, void *user)
{
    plot_data *d = user;
    (void)str;
    if (!is_num || !isfinite(v) || !strcmp(key, "epoch") || !strcmp(key, "step") || !strcmp(key, "time")) return;
    series *s = find_series(d, d->trial, d->split, key);
    if (!s) {
        d->oom = 1;
        return;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        double *nx = realloc(s->x, (size_t)cap * sizeof *nx);
        if (nx) s->x = nx;
        double *ny = realloc(s->y, (size_t)cap * sizeof *ny);
        if (ny) s->y = ny;
        if (!nx || !ny) {
            d->oom = 1;
            return;
        }
        s->cap = cap;
    }
    s->x[s->n] = d->epoch;
    s->y[s->n++] = v;
}

static int read_metrics(plot_data *d, const char *path, const char *trial)
{
    char *text = lab_run_read_file(path, NULL);
    if (!text) return 0; /* a trial that never wrote metrics */
    d->trial = trial;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        d->split[0] = '\0';
        d->epoch = NAN;
        if (lab_run_json_parse_flat(line, on_head, d) < 0 || !isfinite(d->epoch)) continue;
        if (!d->split[0]) snprintf(d->split, sizeof d->split, "all");
        lab_run_json_parse_flat(line, on_value, d);
    }
    free(text);
    return d->oom ? lab_error_set("plot: out of host memory") : 0;
}

static int have_gnuplot(void)
{
    const char *path = getenv("PATH");
    if (!path) return 0;
    char *copy = strdup(path), *save = NULL;
    int found = 0;
    for (char *t = copy ? strtok_r(copy, ":", &save) : NULL; t && !found; t = strtok_r(NULL, ":", &save)) {
        char p[4200];
        snprintf(p, sizeof p, "%s/gnuplot", *t ? t : ".");
        found = access(p, X_OK) == 0;
    }
    free(copy);
    return found;
}

/* A gnuplot single-quoted string ('' stands for '). */
static void gp_str(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputc('\'', f);
        fputc(*s, f);
    }
    fputc('\'', f);
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int lab_run_plot(const char *run_dir, int *written)
{
    if (written) *written = 0;
    if (!run_dir) return lab_error_set("plot: no run directory");
    struct stat st;
    if (stat(run_dir, &st) < 0 || !S_ISDIR(st.st_mode)) return lab_error_set("plot: %s is not a directory", run_dir);
    if (!have_gnuplot())
        return lab_error_set("plot: gnuplot not found in PATH; install it (Debian/Ubuntu: apt-get install "
                             "gnuplot-nox) and run `labrun plot %s` again",
                             run_dir);
    plot_data d = {0};
    char path[4400];
    int rc = 0;
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    rc = read_metrics(&d, path, "");
    /* Trials of a multi-trial run, in name order. */
    DIR *dp = opendir(run_dir);
    char **subs = NULL;
    int nsubs = 0;
    if (dp) {
        struct dirent *de;
        while (rc == 0 && (de = readdir(dp))) {
            if (de->d_name[0] == '.' || strlen(de->d_name) >= 96) continue;
            snprintf(path, sizeof path, "%s/%s/metrics.jsonl", run_dir, de->d_name);
            if (!lab_run_exists(path)) continue;
            char **ns = realloc(subs, (size_t)(nsubs + 1) * sizeof *ns);
            if (!ns || !(ns[nsubs] = strdup(de->d_name))) {
                if (ns) subs = ns;
                rc = lab_error_set("plot: out of host memory");
                break;
            }
            subs = ns;
            nsubs++;
        }
        closedir(dp);
    }
    if (nsubs > 1) qsort(subs, (size_t)nsubs, sizeof *subs, cmp_name);
    for (int i = 0; i < nsubs && rc == 0; i++) {
        snprintf(path, sizeof path, "%s/%s/metrics.jsonl", run_dir, subs[i]);
        rc = read_metrics(&d, path, subs[i]);
    }
    for (int i = 0; i < nsubs; i++) free(subs[i]);
    free(subs);
    if (rc == 0 && d.n == 0) rc = lab_error_set("plot: no metrics to plot in %s (no metrics.jsonl lines)", run_dir);

    char pdir[4200], script[4300], glog[4300];
    snprintf(pdir, sizeof pdir, "%s/plots", run_dir);
    snprintf(script, sizeof script, "%s/plot.gp", pdir);
    snprintf(glog, sizeof glog, "%s/gnuplot.log", pdir);
    FILE *f = NULL;
    if (rc == 0 && lab_run_mkdirs(pdir) < 0) rc = -1;
    if (rc == 0 && !(f = fopen(script, "w"))) rc = lab_error_set("plot: cannot write %s: %s", script, strerror(errno));
    int figures = 0;
    if (rc == 0) {
        fputs("# Generated by labrun plot; run `gnuplot plot.gp` to redraw.\n", f);
        for (int i = 0; i < d.n; i++) {
            fprintf(f, "$d%d << EOD\n", i);
            for (int k = 0; k < d.s[i].n; k++) fprintf(f, "%.10g %.10g\n", d.s[i].x[k], d.s[i].y[k]);
            fputs("EOD\n", f);
        }
        fputs("set grid\nset key outside right top\nset xlabel 'epoch'\n", f);
        for (int i = 0; i < d.n; i++) {
            int first = 1;
            for (int j = 0; j < i && first; j++) first = strcmp(d.s[j].metric, d.s[i].metric) != 0;
            if (!first) continue;
            figures++;
            for (int fmt = 0; fmt < 2; fmt++) {
                if (fmt == 0)
                    fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 960,560 } "
                          "else { set terminal png size 960,560 }\n",
                          f);
                else
                    fputs("set terminal svg size 960,560 dynamic\n", f);
                fputs("set termoption noenhanced\nset ylabel ", f);
                gp_str(f, d.s[i].metric);
                fputs("\nset title ", f);
                gp_str(f, d.s[i].metric);
                fputs("\nset output ", f);
                char out[4400];
                snprintf(out, sizeof out, "%s/%s.%s", pdir, d.s[i].metric, fmt ? "svg" : "png");
                gp_str(f, out);
                fputs("\nplot ", f);
                int k = 0;
                for (int j = i; j < d.n; j++) {
                    if (strcmp(d.s[j].metric, d.s[i].metric) != 0) continue;
                    char title[200];
                    snprintf(title, sizeof title, "%s%s%s", d.s[j].trial, d.s[j].trial[0] ? " " : "", d.s[j].split);
                    fprintf(f, "%s$d%d with linespoints pointsize 0.5 title ", k++ ? ", " : "", j);
                    gp_str(f, title);
                }
                fputs("\nset output\n", f);
            }
        }
        if (fclose(f) != 0) rc = lab_error_set("plot: cannot write %s", script);
    }
    if (rc == 0) {
        /* posix_spawn rather than fork: the process may have OpenMP threads. */
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, glog, O_WRONLY | O_CREAT | O_TRUNC, 0666);
        posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
        char *argv[] = {"gnuplot", script, NULL};
        pid_t pid;
        fflush(NULL);
        int e = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ);
        posix_spawn_file_actions_destroy(&fa);
        if (e != 0) {
            rc = lab_error_set("plot: cannot start gnuplot: %s", strerror(e));
        } else {
            int ws = 0;
            while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
            }
            if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
                char *msg = lab_run_read_file(glog, NULL);
                if (msg) {
                    size_t l = strlen(msg);
                    while (l && msg[l - 1] == '\n') msg[--l] = '\0';
                }
                rc = lab_error_set("plot: gnuplot failed on %s: %s", script, msg && *msg ? msg : "(no message)");
                free(msg);
            }
        }
    }
    for (int i = 0; i < d.n; i++) {
        free(d.s[i].x);
        free(d.s[i].y);
    }
    free(d.s);
    if (rc == 0 && written) *written = figures;
    return rc;
}
