/* lab/run.h — what a plugin's run() gets, and how labrun runs experiments.
 *
 * labrun calls a plugin's run(ctx) once per trial (a grid point of [sweep]
 * times a seed of run.seeds). The context gives everything a trial needs:
 *
 *     static int run(lab_ctx *ctx)
 *     {
 *         const lab_cfg *cfg = lab_ctx_cfg(ctx);            // validated config
 *         int64_t epochs = lab_cfg_get_int(cfg, "train.epochs");
 *         lab_device dev = lab_ctx_device(ctx);             // from run.device
 *         lab_rng *rng = lab_ctx_rng(ctx);                  // seeded with this trial's seed
 *         ... build params (lab_params) and an optimizer (lab_optim) ...
 *         lab_ctx_checkpoint_track(ctx, params);            // what a checkpoint holds
 *         lab_ctx_checkpoint_track_optim(ctx, opt);
 *         int64_t epoch0 = 0, step0 = 0;
 *         if (lab_ctx_checkpoint_load(ctx, &epoch0, &step0) < 0) return -1;  // run.resume
 *         for (int64_t e = epoch0; e < epochs; e++) {
 *             for (int64_t s = (e == epoch0 ? step0 : 0); s < steps; s++) {
 *                 if (lab_ctx_should_stop(ctx))                // Ctrl-C, SIGTERM
 *                     return lab_ctx_checkpoint_save(ctx, e, s);
 *                 ... one step ...
 *                 lab_ctx_progress(ctx, e, epochs, s + 1, steps);
 *             }
 *             lab_ctx_metrics(ctx, "val", LAB_KV({"loss", l}, {"acc", a}));
 *             lab_ctx_checkpoint_save(ctx, e + 1, 0);
 *         }
 *         lab_ctx_result(ctx, "test_acc", acc);              // -> results.csv / results.md
 *         return 0;
 *     }
 *
 * Outputs of a run, in runs/<plugin>/<experiment>/<timestamp>/ (under
 * run.out): config.ini (the resolved configuration, runnable as is),
 * run.json, log.txt, results.csv, results.md (mean ± std over seeds, the
 * paper's numbers beside ours), trials.csv, plots/; and per trial (the run
 * directory itself for a single trial, else a subdirectory p<i>-seed<s>):
 * metrics.jsonl, result.json, checkpoints/last.safetensors.
 *
 * Ownership: strings returned by lab_ctx_* belong to the context and live
 * as long as the trial. Tracked params and optimizers are borrowed: keep
 * them alive until run() returns.
 */
#ifndef LAB_RUN_H
#define LAB_RUN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "nn.h"
#include "optim.h"
#include "plugin.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- the context of one trial ----------------------------------------------- */

/* This trial's configuration: its grid point's values, validated. */
const lab_cfg *lab_ctx_cfg(const lab_ctx *ctx);
/* The device from run.device (auto resolved: cuda:0 when usable, else cpu). */
lab_device lab_ctx_device(const lab_ctx *ctx);
/* This trial's output directory (exists). */
const char *lab_ctx_dir(const lab_ctx *ctx);
/* This trial's seed (run.seed + seed index) and its generator, stream 0 of
 * that seed. Saved in and restored from checkpoints. */
uint64_t lab_ctx_seed(const lab_ctx *ctx);
lab_rng *lab_ctx_rng(lab_ctx *ctx);
/* The run directory: lab_ctx_dir itself for a single trial, else the
 * directory holding every trial's subdirectory (where tables gather from). */
const char *lab_ctx_run_dir(const lab_ctx *ctx);
/* Trial index (0-based) and count, grid point index, seed index. */
int lab_ctx_trial(const lab_ctx *ctx, int *ntrials, int *point, int *seed_index);
/* 1 once SIGINT or SIGTERM arrived: save a checkpoint and return soon. A
 * trial whose plugin was told 1 counts as interrupted (run.resume continues
 * it); one that finished without asking again counts as complete. */
int lab_ctx_should_stop(const lab_ctx *ctx);

/* Log a line to stderr and the run's log.txt (a newline is added). */
void lab_ctx_log(lab_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lab_ctx_warn(lab_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where training is: `step` of `steps` done in epoch `epoch` (0-based) of
 * `epochs`. On a terminal it redraws a bar (epoch, step, rate, ETA, the last
 * metrics), otherwise prints a plain line every 10 s and at each epoch's
 * end. Cheap: call it every step. */
void lab_ctx_progress(lab_ctx *ctx, int64_t epoch, int64_t epochs, int64_t step, int64_t steps);

/* A named value. */
typedef struct lab_kv {
    const char *name;
    double value;
} lab_kv;
/* LAB_KV({"loss", l}, {"acc", a}) expands to the array and its count. */
#define LAB_KV(...) (const lab_kv[]){__VA_ARGS__}, (int)(sizeof((const lab_kv[]){__VA_ARGS__}) / sizeof(lab_kv))

/* One line of metrics.jsonl: {"split", "epoch" (fractional, from the last
 * progress call), "step" (global), "time" (s), name: value...}. NaN and
 * infinities are written as null. Names must not be split, epoch, step or
 * time. */
int lab_ctx_metrics(lab_ctx *ctx, const char *split, const lab_kv *kv, int n);
/* A final number of this trial (one per name; a repeated name replaces the
 * value). results.csv/md aggregate them over seeds; [paper] keys with the
 * same name are shown beside them. */
int lab_ctx_result(lab_ctx *ctx, const char *name, double value);

/* Checkpoints hold the tracked params (borrowed), the tracked optimizers'
 * state, this trial's rng and the (epoch, step) position, in
 * checkpoints/last.safetensors (written atomically, with format metadata).
 * Position convention: "the next step to run", so saving (e + 1, 0) at the
 * end of epoch e and (e, s) when stopping before step s both resume exactly. */
int lab_ctx_checkpoint_track(lab_ctx *ctx, lab_params *params);
int lab_ctx_checkpoint_track_optim(lab_ctx *ctx, lab_optim *opt);
int lab_ctx_checkpoint_save(lab_ctx *ctx, int64_t epoch, int64_t step);
/* With run.resume and a checkpoint for this trial: restore everything
 * tracked, set *epoch and *step, return 1. Without: leave them alone and
 * return 0. -1 on error (a checkpoint of another plugin or model). */
int lab_ctx_checkpoint_load(lab_ctx *ctx, int64_t *epoch, int64_t *step);

/* --- hosting plugins (labrun; tests) ----------------------------------------- */

/* What lab_run_experiment returns; labrun exits with it. */
typedef enum {
    LAB_RUN_OK = 0,
    LAB_RUN_FAILED = 1,        /* a trial failed (its error is logged) */
    LAB_RUN_CONFIG_ERROR = 2,  /* the configuration cannot run as given */
    LAB_RUN_INTERRUPTED = 130, /* stopped by SIGINT/SIGTERM; resumable */
} lab_run_status;

typedef struct lab_run_options {
    const char *experiment; /* the INI file's path: names the experiment; may be NULL */
    const char *command;    /* the command line, for run.json and log.txt; may be NULL */
    FILE *table;            /* the results table goes here (stdout); NULL: nowhere */
    int quiet;              /* log only to log.txt, not stderr */
} lab_run_options;

/* Checks what lab_run_experiment would check before starting (device,
 * resume directory); writes a one-line summary ("6 trials: 2 grid points x
 * 3 seeds on cpu") into summary. 0 or -1 with the error. */
int lab_run_check(const lab_plugin_handle *h, const lab_cfg *cfg, char *summary, size_t len);

/* Run every trial of a validated configuration (lab_cfg_validate with the
 * plugin's schema), write the outputs, print the results table. The run
 * directory goes into run_dir when not NULL. Errors are reported on stderr
 * (unless quiet) and in log.txt, and the first one is left in lab_error(). */
lab_run_status lab_run_experiment(const lab_plugin_handle *h, const lab_cfg *cfg, const lab_run_options *opt,
                                  char *run_dir, size_t len);

/* SIGINT/SIGTERM set the stop flag (the first time) and restore the
 * default action, so a second Ctrl-C ends the process at once. */
void lab_run_handle_signals(void);
void lab_run_request_stop(void);
int lab_run_stop_requested(void);
void lab_run_clear_stop(void);

/* Plot every metric of the metrics.jsonl files under run_dir (all trials)
 * against epochs with gnuplot: run_dir/plots/<metric>.png and .svg, one line
 * per trial and split. -1 with a plain error when gnuplot is missing or
 * there is nothing to plot. *written receives the number of figures. */
int lab_run_plot(const char *run_dir, int *written);

/* --- trial records: what a table is made from --------------------------------
 *
 * A plugin that prints a paper table writes one record per trial (a flat
 * JSON object of strings and numbers) into lab_ctx_dir(ctx), and the last
 * trial gathers them all back -- also those written by an earlier process of
 * a resumed run:
 *
 *     lab_record r;
 *     lab_record_init(&r);
 *     lab_record_add_str(&r, "method", "dt");
 *     lab_record_add_num(&r, "test_acc", acc);        // NAN is written as null
 *     snprintf(path, sizeof path, "%s/mine.json", lab_ctx_dir(ctx));
 *     lab_record_write(path, &r);                     // atomic: all or nothing
 *     lab_record_clear(&r);
 *     ...
 *     lab_record *all; int n;
 *     lab_record_gather(run_dir, "mine.json", &all, &n);
 *     ... lab_record_str(&all[i], "method"), lab_record_num(&all[i], "test_acc") ...
 *     lab_record_free_all(all, n);
 */
typedef struct {
    int n;        /* members, in the order added or read */
    char **key;   /* member names */
    char **str;   /* the string value, or NULL for a number */
    double *num;  /* the number (NAN for null) where str[i] is NULL */
    int cap_;
} lab_record;

void lab_record_init(lab_record *r);
void lab_record_clear(lab_record *r);
/* -1 on a repeated or empty key, or out of memory. */
int lab_record_add_str(lab_record *r, const char *key, const char *value);
int lab_record_add_num(lab_record *r, const char *key, double value);
/* The string member key, or NULL when absent or a number. */
const char *lab_record_str(const lab_record *r, const char *key);
/* The number member key, or NAN when absent, null or a string. */
double lab_record_num(const lab_record *r, const char *key);
/* Write r to path via path.tmp + rename; numbers round-trip exactly. */
int lab_record_write(const char *path, const lab_record *r);
/* Read one record; -1 naming the file when missing or not a flat object. */
int lab_record_read(const char *path, lab_record *r);
/* Every record named file in run_dir itself and in each of its immediate
 * subdirectories (sorted by name); subdirectories without one are skipped
 * (unfinished trials), a malformed one is an error naming it. *out is
 * freed with lab_record_free_all (also when *n is 0). */
int lab_record_gather(const char *run_dir, const char *file, lab_record **out, int *n);
void lab_record_free_all(lab_record *rs, int n);

#ifdef __cplusplus
}
#endif
#endif
