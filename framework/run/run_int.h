/* Internals of the run layer (context, logger, outputs), shared by ctx.c,
 * runner.c, results.c, plot.c and json.c. Not part of the public API. */
#ifndef LAB_RUN_INT_H
#define LAB_RUN_INT_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#include "lab/lab.h"

/* --- time, files ------------------------------------------------------------ */
double lab_run_now(void); /* monotonic seconds */
/* mkdir -p; 0 or -1 with an error naming the path. */
int lab_run_mkdirs(const char *path);
int lab_run_exists(const char *path);
/* Read a whole file (NUL-terminated); NULL with an error. */
char *lab_run_read_file(const char *path, size_t *len);
/* "1m23s", "0:42", ... */
const char *lab_run_fmt_duration(double s, char *buf, size_t len);

/* --- the run's log ---------------------------------------------------------- */
typedef struct run_log {
    FILE *file;       /* log.txt (append), or NULL */
    int to_stderr;
    int bar_shown;    /* a progress bar occupies the terminal's last line */
    char bar[1024];   /* its text, to redraw after a log line */
    double t0;
} run_log;

/* One line to stderr (above the bar) and log.txt (with elapsed time). */
void lab_run_log_v(run_log *l, const char *prefix, const char *fmt, va_list ap);
void lab_run_logf(run_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Draw (or replace) the bar; end it with a newline when `final`. */
void lab_run_log_bar(run_log *l, const char *text, int final);
void lab_run_log_bar_clear(run_log *l);

/* --- JSON (flat objects: what metrics.jsonl and result.json hold) ---------- */
/* Append "name" as a JSON string (escaped) to f. */
void lab_run_json_str(FILE *f, const char *s);
/* The shortest decimal that reads back as exactly v (exact), or as the
 * float v when v is one (!exact: for files only people and plots read). */
const char *lab_run_fmt_double(double v, char *buf, size_t len, int exact);
/* A number (see run_fmt_double), or null when not finite. */
void lab_run_json_num(FILE *f, double v, int exact);
/* Parse a flat JSON object; calls fn for each member. value is the number
 * (NAN for null) when is_num, else str is the string (or "true"/"false").
 * Returns 0, or -1 when the text is not a flat object. */
typedef void (*run_json_fn)(const char *key, int is_num, double value, const char *str, void *user);
int lab_run_json_parse_flat(const char *text, run_json_fn fn, void *user);

/* --- the context of one trial ----------------------------------------------- */
enum { RUN_PROGRESS_OFF = 0, RUN_PROGRESS_LINES, RUN_PROGRESS_BAR };

struct lab_ctx {
    const lab_plugin *plugin;
    const lab_cfg *cfg;
    lab_device device;
    char *dir;
    char *run_dir;           /* dir, or its parent when the run has several trials */
    uint64_t seed;
    lab_rng rng;
    int trial, ntrials, point, seed_index;
    char label[160];         /* "p1-seed2: " for several trials, else "" */
    run_log *log;
    FILE *metrics;           /* metrics.jsonl */
    double t_start;          /* trial start (monotonic) */
    double elapsed0;         /* seconds spent before a resume */
    /* progress */
    int progress_mode;
    int64_t epoch, epochs, step, steps;
    int prog_started;
    double prog_t0, last_draw, last_line;
    int64_t prog_done0;
    char last_metrics[256];
    /* results */
    char **res_names;
    double *res_values;
    int nres;
    /* checkpoints */
    lab_params **tp;
    int ntp;
    lab_optim **to;
    int nto;
    int stop_seen;           /* lab_ctx_should_stop returned 1: the plugin stopped early */
    int resuming;            /* a checkpoint to resume from was found */
    lab_params *resume_state; /* loaded at creation, consumed by checkpoint_load */
    char **resume_meta;
};

typedef struct run_ctx_args {
    const lab_plugin *plugin;
    const lab_cfg *cfg;
    lab_device device;
    const char *dir;
    const char *run_dir;     /* NULL: dir */
    uint64_t seed;
    int trial, ntrials, point, seed_index;
    const char *label;
    run_log *log;
    int progress_mode;
    int resume;              /* run.resume was given: look for a checkpoint */
} run_ctx_args;

lab_ctx *lab_run_ctx_new(const run_ctx_args *a);
/* End the progress display of a finished trial. */
void lab_run_ctx_finish(lab_ctx *ctx);
void lab_run_ctx_free(lab_ctx *ctx);

/* --- outputs ------------------------------------------------------------------- */
typedef enum { TRIAL_PENDING = 0, TRIAL_DONE, TRIAL_FAILED, TRIAL_INTERRUPTED } trial_status;

typedef struct run_trial {
    int point, seed_index;
    uint64_t seed;
    trial_status status;
    char **names;
    double *values;
    int n;
} run_trial;

typedef struct run_summary {
    const char *plugin, *plugin_version, *experiment, *device, *dir;
    const lab_cfg *cfg;       /* the base configuration (sweep keys, [paper]) */
    lab_cfg **points;         /* each grid point's configuration */
    int npoints, nseeds;
    run_trial *trials;        /* npoints * nseeds, point-major */
} run_summary;

/* results.csv, results.md, trials.csv in s->dir; the markdown table also
 * goes to `table` when not NULL. */
int lab_run_write_results(const run_summary *s, FILE *table);
/* result.json of a trial. */
int lab_run_write_trial_result(const char *dir, const run_trial *t);
int lab_run_read_trial_result(const char *dir, run_trial *t);
void lab_run_trial_clear(run_trial *t);
/* Add or replace a named value. */
int lab_run_trial_add(run_trial *t, const char *name, double v);

#endif
