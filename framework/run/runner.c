/* Running an experiment: the run directory, the trials (grid points x
 * seeds), signals, resume, and the outputs at the end.
 *
 * Contracts: every failure a user can cause before the first trial is
 * LAB_RUN_CONFIG_ERROR with lab_error() set; a trial's failure stops the
 * run (LAB_RUN_FAILED) after writing what exists; SIGINT/SIGTERM let the
 * current trial checkpoint and return, then LAB_RUN_INTERRUPTED. A resumed
 * run (run.resume = <run dir>) continues in that directory: finished trials
 * are read back from their result.json, the others resume from their
 * checkpoints, and the configuration must match the one recorded there.
 *
 * Tested in tests/unit/test_run.c (library level) and tests/unit/test_cli.c
 * (through labrun, including SIGINT and resume). */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../config/config_int.h"
#include "run_int.h"

/* --- signals ------------------------------------------------------------------------ */

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    static const char msg[] = "\nlabrun: stopping: finishing the current step and saving a checkpoint "
                              "(interrupt again to quit at once)\n";
    stop_signal = sig;
    ssize_t r = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)r;
}

void lab_run_handle_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sa.sa_flags = SA_RESETHAND; /* the second signal takes the default action */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void lab_run_request_stop(void) { stop_signal = SIGINT; }
int lab_run_stop_requested(void) { return stop_signal != 0; }
void lab_run_clear_stop(void) { stop_signal = 0; }

/* --- checks ------------------------------------------------------------------------ */

static int resolve_device(const char *spec, lab_device *dev, char *note, size_t len)
{
    note[0] = '\0';
    if (strcmp(spec, "cpu") == 0) {
        *dev = LAB_CPU;
        return 0;
    }
    int n = lab_cuda_device_count();
    const char *why = lab_cuda_unavailable_reason();
    if (!why || !*why) why = "no CUDA device was found";
    if (strcmp(spec, "auto") == 0) {
        if (n > 0) {
            *dev = (lab_device){LAB_DEV_CUDA, 0};
            return 0;
        }
        *dev = LAB_CPU;
        snprintf(note, len, "run.device = auto: using cpu (%s)", why);
        return 0;
    }
    if (lab_device_parse(spec, dev) < 0) return lab_error_set("run.device = %s: %s", spec, lab_error());
    if (dev->type == LAB_DEV_CUDA) {
        if (n <= 0) return lab_error_set("run.device = %s: %s; hint: use run.device=cpu or auto", spec, why);
        if (dev->index >= n)
            return lab_error_set("run.device = %s: there %s %d CUDA device%s (cuda:0 .. cuda:%d)", spec,
                                 n == 1 ? "is" : "are", n, n == 1 ? "" : "s", n - 1);
    }
    return 0;
}

/* The configuration recorded in a run directory, validated. */
static lab_cfg *load_recorded(const lab_plugin *p, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.ini", dir);
    if (!lab_run_exists(path)) {
        lab_error_set("run.resume = %s: not a run directory (no config.ini)", dir);
        return NULL;
    }
    lab_cfg *c = lab_cfg_load(path);
    if (!c || lab_cfg_validate(c, p->params, p->n_params) < 0) {
        lab_error_prefix("run.resume: ");
        lab_cfg_free(c);
        return NULL;
    }
    return c;
}

static int recorded_plugin(const char *dir, char *name, size_t len)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/run.json", dir);
    char *text = lab_run_read_file(path, NULL);
    if (!text) return lab_error_set("run.resume = %s: not a run directory (no run.json)", dir);
    const char *k = strstr(text, "\"plugin\": \"");
    int rc = -1;
    if (k) {
        k += strlen("\"plugin\": \"");
        const char *e = strchr(k, '"');
        if (e && (size_t)(e - k) < len) {
            memcpy(name, k, (size_t)(e - k));
            name[e - k] = '\0';
            rc = 0;
        }
    }
    free(text);
    if (rc < 0) lab_error_set("run.resume = %s: run.json names no plugin", dir);
    return rc;
}

static int check_resume(const lab_plugin *p, const lab_cfg *cfg, const char *dir)
{
    char name[128];
    if (recorded_plugin(dir, name, sizeof name) < 0) return -1;
    if (strcmp(name, p->name) != 0)
        return lab_error_set("run.resume = %s: that run is of plugin '%s', not '%s'", dir, name, p->name);
    lab_cfg *rec = load_recorded(p, dir);
    if (!rec) return -1;
    static const char *const skip[] = {"run.resume",   "run.out",  "run.threads", "run.device",
                                       "run.progress", "run.name", NULL};
    char diff[1024];
    int differ = lab_cfg_diff(rec, cfg, skip, diff, sizeof diff);
    lab_cfg_free(rec);
    if (differ)
        return lab_error_set("run.resume = %s: the configuration differs from the recorded one (%s, recorded vs "
                             "now); resume with %s/config.ini",
                             dir, diff, dir);
    return 0;
}

int lab_run_check(const lab_plugin_handle *h, const lab_cfg *cfg, char *summary, size_t len)
{
    if (!h || !h->desc || !cfg) return lab_error_set("run: no plugin or configuration");
    if (!cfg->validated) return lab_error_set("run: the configuration is not validated");
    const char *spec = lab_cfg_value(cfg, "run.device");
    lab_device dev;
    char note[512], ds[32];
    if (resolve_device(spec ? spec : "auto", &dev, note, sizeof note) < 0) return -1;
    const char *resume = lab_cfg_value(cfg, "run.resume");
    if (resume && *resume && check_resume(h->desc, cfg, resume) < 0) return -1;
    int points = lab_cfg_sweep_size(cfg);
    const cfg_entry *se = lab_cfg_find(cfg, "run", "seeds");
    int seeds = se ? (int)se->i : 1;
    if (summary)
        snprintf(summary, len, "%d trial%s: %d grid point%s x %d seed%s on %s", points * seeds,
                 points * seeds == 1 ? "" : "s", points, points == 1 ? "" : "s", seeds, seeds == 1 ? "" : "s",
                 lab_device_str(dev, ds, sizeof ds));
    return 0;
}

/* --- the run directory --------------------------------------------------------------- */

static void experiment_name(const lab_cfg *cfg, const char *experiment, char *buf, size_t len)
{
    const char *name = lab_cfg_value(cfg, "run.name");
    char tmp[256];
    if (!name || !*name) {
        const char *b = experiment ? strrchr(experiment, '/') : NULL;
        b = b ? b + 1 : experiment ? experiment : "experiment";
        snprintf(tmp, sizeof tmp, "%s", b);
        size_t l = strlen(tmp);
        if (l > 4 && strcmp(tmp + l - 4, ".ini") == 0) tmp[l - 4] = '\0';
        name = tmp;
    }
    size_t k = 0;
    for (const char *s = name; *s && k + 1 < len; s++) {
        char c = *s;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                 c == '.';
        buf[k++] = ok ? c : '_';
    }
    buf[k] = '\0';
    if (!k || strcmp(buf, ".") == 0 || strcmp(buf, "..") == 0) snprintf(buf, len, "experiment");
}

static int make_run_dir(const char *out, const char *plugin, const char *exp, char *dir, size_t len)
{
    char parent[4096];
    snprintf(parent, sizeof parent, "%s/%s/%s", out, plugin, exp);
    if (lab_run_mkdirs(parent) < 0) return lab_error_prefix("run.out: ");
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    for (int i = 1; i < 1000; i++) {
        if (i == 1)
            snprintf(dir, len, "%s/%s", parent, stamp);
        else
            snprintf(dir, len, "%s/%s-%d", parent, stamp, i);
        if (mkdir(dir, 0777) == 0) return 0;
        if (errno != EEXIST) return lab_error_set("cannot create run directory %s: %s", dir, strerror(errno));
    }
    return lab_error_set("cannot create a run directory in %s", parent);
}

static int write_run_json(const char *dir, const lab_plugin_handle *h, const char *experiment, const char *device,
                          const char *command, const char *started, int ntrials, const char *status)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof path, "%s/run.json", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return lab_error_set("cannot write %s: %s", tmp, strerror(errno));
    fputs("{\"plugin\": ", f);
    lab_run_json_str(f, h->desc->name);
    fputs(", \"plugin_version\": ", f);
    lab_run_json_str(f, h->desc->version);
    fputs(", \"plugin_path\": ", f);
    lab_run_json_str(f, h->path);
    fputs(", \"labrun\": ", f);
    lab_run_json_str(f, LAB_VERSION);
    fputs(", \"experiment\": ", f);
    lab_run_json_str(f, experiment ? experiment : "");
    fputs(", \"device\": ", f);
    lab_run_json_str(f, device);
    fputs(", \"command\": ", f);
    lab_run_json_str(f, command ? command : "");
    fputs(", \"started\": ", f);
    lab_run_json_str(f, started);
    fprintf(f, ", \"trials\": %d, \"status\": ", ntrials);
    lab_run_json_str(f, status);
    fputs("}\n", f);
    int err = ferror(f);
    if (fclose(f) != 0 || err || rename(tmp, path) != 0) {
        remove(tmp);
        return lab_error_set("cannot write %s", path);
    }
    return 0;
}

static int progress_mode(const lab_cfg *cfg)
{
    const char *m = lab_cfg_value(cfg, "run.progress");
    if (m && strcmp(m, "off") == 0) return RUN_PROGRESS_OFF;
    if (m && strcmp(m, "lines") == 0) return RUN_PROGRESS_LINES;
    if (m && strcmp(m, "bar") == 0) return RUN_PROGRESS_BAR;
    return isatty(STDERR_FILENO) ? RUN_PROGRESS_BAR : RUN_PROGRESS_LINES;
}

/* --- running --------------------------------------------------------------------------- */

/* A failure before the log exists: say it on stderr too. */
static lab_run_status early(const lab_run_options *opt, lab_run_status s)
{
    if (!opt->quiet) fprintf(stderr, "labrun: error: %s\n", lab_error());
    return s;
}

/* Log "error: ..." and keep the first such message for lab_error(). */
static void log_error(run_log *log, char *keep, size_t len, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void log_error(run_log *log, char *keep, size_t len, const char *label, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!keep[0]) snprintf(keep, len, "%s", msg);
    lab_run_logf(log, "%serror: %s", label, msg);
}

/* Marks the framework's own keys read (labrun uses them itself). */
static int64_t run_int(const lab_cfg *c, const char *key) { return lab_cfg_get_int(c, key); }

lab_run_status lab_run_experiment(const lab_plugin_handle *h, const lab_cfg *cfg, const lab_run_options *opt,
                                  char *run_dir, size_t len)
{
    lab_run_options none = {0};
    if (!opt) opt = &none;
    if (lab_run_check(h, cfg, NULL, 0) < 0) return early(opt, LAB_RUN_CONFIG_ERROR);
    const lab_plugin *p = h->desc;
    lab_device dev;
    char note[512], devs[32];
    resolve_device(lab_cfg_get_str(cfg, "run.device"), &dev, note, sizeof note);
    lab_device_str(dev, devs, sizeof devs);
    int threads = (int)run_int(cfg, "run.threads");
    lab_set_num_threads(threads);
    const char *resume = lab_cfg_get_str(cfg, "run.resume");
    int resuming = resume && *resume;
    uint64_t seed0 = (uint64_t)run_int(cfg, "run.seed");
    int nseeds = (int)run_int(cfg, "run.seeds");
    int npoints = lab_cfg_sweep_size(cfg), ntrials = npoints * nseeds;
    char exp[256], dir[4096];
    experiment_name(cfg, opt->experiment, exp, sizeof exp);
    if (resuming) {
        snprintf(dir, sizeof dir, "%s", resume);
        size_t l = strlen(dir);
        while (l > 1 && dir[l - 1] == '/') dir[--l] = '\0';
    } else if (make_run_dir(lab_cfg_get_str(cfg, "run.out"), p->name, exp, dir, sizeof dir) < 0) {
        return early(opt, LAB_RUN_CONFIG_ERROR);
    }
    if (run_dir) snprintf(run_dir, len, "%s", dir);

    char started[64];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(started, sizeof started, "%Y-%m-%d %H:%M:%S", &tm);
    char path[4300];
    if (!resuming) {
        char header[1024];
        snprintf(header, sizeof header,
                 "Resolved configuration of a labrun run (labrun %s, plugin %s %s, %s).\n"
                 "Every key has its value; defaults are commented out. Run it again with:\n"
                 "  labrun %s %s/config.ini",
                 LAB_VERSION, p->name, p->version, started, p->name, dir);
        snprintf(path, sizeof path, "%s/config.ini", dir);
        /* Record the experiment's name, so the file re-runs under the same one. */
        lab_cfg *rec = lab_cfg_copy(cfg);
        cfg_entry *ne = rec ? lab_cfg_find(rec, "run", "name") : NULL;
        char *nv = ne ? strdup(exp) : NULL;
        if (nv) {
            free(ne->value);
            ne->value = nv;
            ne->origin = CFG_FROM_FILE; /* written out, not as a commented default */
        }
        int wrc = nv ? lab_cfg_write(rec, path, header) : lab_error_set("run: out of host memory");
        lab_cfg_free(rec);
        if (wrc < 0) return early(opt, LAB_RUN_CONFIG_ERROR);
    }
    if (write_run_json(dir, h, opt->experiment, devs, opt->command, started, ntrials, "running") < 0)
        return early(opt, LAB_RUN_CONFIG_ERROR);

    run_log log = {0};
    log.to_stderr = !opt->quiet;
    log.t0 = lab_run_now();
    snprintf(path, sizeof path, "%s/log.txt", dir);
    log.file = fopen(path, "a");
    if (!log.file) {
        lab_error_set("cannot write %s: %s", path, strerror(errno));
        return early(opt, LAB_RUN_CONFIG_ERROR);
    }
    if (opt->command) lab_run_logf(&log, "%s", opt->command);
    lab_run_logf(&log, "labrun %s, plugin %s %s (%s)", LAB_VERSION, p->name, p->version, h->path);
    lab_run_logf(&log, "%s run directory %s", resuming ? "resuming" : "new", dir);
    if (note[0]) lab_run_logf(&log, "%s", note);
    lab_run_logf(&log, "device %s, %d CPU thread%s; %d trial%s (%d grid point%s x %d seed%s)", devs,
                 lab_get_num_threads(), lab_get_num_threads() == 1 ? "" : "s", ntrials, ntrials == 1 ? "" : "s",
                 npoints, npoints == 1 ? "" : "s", nseeds, nseeds == 1 ? "" : "s");

    lab_run_status status = LAB_RUN_OK;
    char first_err[2048] = "";
    run_summary sum = {.plugin = p->name,
                       .plugin_version = p->version,
                       .experiment = exp,
                       .device = devs,
                       .dir = dir,
                       .cfg = cfg,
                       .npoints = npoints,
                       .nseeds = nseeds};
    sum.points = calloc((size_t)npoints, sizeof *sum.points);
    sum.trials = calloc((size_t)ntrials, sizeof *sum.trials);
    if (!sum.points || !sum.trials) {
        log_error(&log, first_err, sizeof first_err, "", "out of host memory");
        status = LAB_RUN_FAILED;
        goto out;
    }
    for (int i = 0; i < ntrials; i++) {
        sum.trials[i].point = i / nseeds;
        sum.trials[i].seed_index = i % nseeds;
        sum.trials[i].seed = seed0 + (uint64_t)(i % nseeds);
    }
    for (int i = 0; i < npoints; i++)
        if (!(sum.points[i] = lab_cfg_sweep_point(cfg, i))) {
            log_error(&log, first_err, sizeof first_err, "", "%s", lab_error());
            status = LAB_RUN_CONFIG_ERROR;
            goto out;
        }

    double t_run = lab_run_now();
    int pmode = progress_mode(cfg);
    for (int i = 0; i < ntrials && status == LAB_RUN_OK; i++) {
        run_trial *t = &sum.trials[i];
        char name[96] = "", label[128] = "", tdir[4200];
        if (npoints > 1) snprintf(name, sizeof name, "p%d", t->point);
        if (nseeds > 1) {
            size_t l = strlen(name);
            snprintf(name + l, sizeof name - l, "%sseed%" PRIu64, l ? "-" : "", t->seed);
        }
        if (ntrials > 1) {
            snprintf(label, sizeof label, "[%s] ", name);
            snprintf(tdir, sizeof tdir, "%s/%s", dir, name);
        } else {
            snprintf(tdir, sizeof tdir, "%s", dir);
        }
        if (resuming && lab_run_read_trial_result(tdir, t) == 0) {
            t->status = TRIAL_DONE;
            lab_run_logf(&log, "%strial %d/%d finished earlier", label, i + 1, ntrials);
            continue;
        }
        lab_run_trial_clear(t);
        if (lab_run_mkdirs(tdir) < 0) {
            log_error(&log, first_err, sizeof first_err, label, "%s", lab_error());
            t->status = TRIAL_FAILED;
            status = LAB_RUN_FAILED;
            break;
        }
        lab_cfg *pc = sum.points[t->point];
        char desc[1024] = "";
        for (int k = 0; k < lab_cfg_sweep_nkeys(cfg); k++) {
            const char *key = lab_cfg_sweep_key(cfg, k);
            size_t l = strlen(desc);
            snprintf(desc + l, sizeof desc - l, "%s=%s ", key, lab_cfg_value(pc, key));
        }
        if (ntrials > 1) lab_run_logf(&log, "%strial %d/%d: %sseed %" PRIu64, label, i + 1, ntrials, desc, t->seed);
        run_ctx_args a = {.plugin = p,
                          .cfg = pc,
                          .device = dev,
                          .dir = tdir,
                          .run_dir = dir,
                          .seed = t->seed,
                          .trial = i,
                          .ntrials = ntrials,
                          .point = t->point,
                          .seed_index = t->seed_index,
                          .label = label,
                          .log = &log,
                          .progress_mode = pmode,
                          .resume = resuming};
        lab_ctx *ctx = lab_run_ctx_new(&a);
        if (!ctx) {
            log_error(&log, first_err, sizeof first_err, label, "%s", lab_error());
            t->status = TRIAL_FAILED;
            status = LAB_RUN_FAILED;
            break;
        }
        /* A plugin that returns from inside a scope or a no-grad region must
         * not leak either into the next trial. */
        int depth = lab_scope_depth(), grad = lab_grad_enabled();
        lab_error_clear();
        double t0 = lab_run_now();
        int rc = p->run(ctx);
        lab_run_ctx_finish(ctx);
        char err[2048];
        snprintf(err, sizeof err, "%s", lab_error());
        while (lab_scope_depth() > depth) lab_scope_end();
        lab_grad_set_enabled(grad);
        char took[32];
        lab_run_fmt_duration(lab_run_now() - t0, took, sizeof took);
        if (ctx->stop_seen) {
            t->status = TRIAL_INTERRUPTED;
            status = LAB_RUN_INTERRUPTED;
            if (rc != 0) lab_run_logf(&log, "%serror while stopping: %s", label, err[0] ? err : "(no message)");
        } else if (rc != 0) {
            t->status = TRIAL_FAILED;
            status = LAB_RUN_FAILED;
            log_error(&log, first_err, sizeof first_err, label, "plugin %s failed: %s", p->name,
                      err[0] ? err : "run() returned non-zero without an error message");
        } else if (lab_cfg_check_use(pc) < 0) {
            t->status = TRIAL_FAILED;
            status = LAB_RUN_CONFIG_ERROR;
            log_error(&log, first_err, sizeof first_err, label, "%s", lab_error());
        } else {
            for (int k = 0; k < ctx->nres; k++)
                if (lab_run_trial_add(t, ctx->res_names[k], ctx->res_values[k]) < 0) status = LAB_RUN_FAILED;
            if (status == LAB_RUN_OK && lab_run_write_trial_result(tdir, t) < 0) {
                log_error(&log, first_err, sizeof first_err, label, "%s", lab_error());
                status = LAB_RUN_FAILED;
            }
            t->status = status == LAB_RUN_OK ? TRIAL_DONE : TRIAL_FAILED;
            if (t->status == TRIAL_DONE) {
                char res[512] = "";
                for (int k = 0; k < t->n && strlen(res) < 400; k++) {
                    size_t l = strlen(res);
                    snprintf(res + l, sizeof res - l, "%s%s %.6g", k ? ", " : "", t->names[k], t->values[k]);
                }
                lab_run_logf(&log, "%sdone in %s%s%s", label, took, res[0] ? ": " : "", res);
            }
        }
        lab_run_ctx_free(ctx);
        /* A stop that came after the plugin's last look: this trial is
         * complete, the next ones wait for the resume. */
        if (status == LAB_RUN_OK && lab_run_stop_requested()) status = LAB_RUN_INTERRUPTED;
    }

    if (lab_run_write_results(&sum, NULL) < 0) lab_run_logf(&log, "error: %s", lab_error());
    char took[32];
    lab_run_fmt_duration(lab_run_now() - t_run, took, sizeof took);
    if (status == LAB_RUN_OK) {
        int figs = 0;
        if (lab_run_plot(dir, &figs) == 0)
            lab_run_logf(&log, "plots: %d figure%s in %s/plots", figs, figs == 1 ? "" : "s", dir);
        else
            lab_run_logf(&log, "plots skipped: %s", lab_error());
        lab_run_logf(&log, "finished in %s; results in %s/results.md", took, dir);
        /* The table last, after the log, so it ends what a terminal shows. */
        snprintf(path, sizeof path, "%s/results.md", dir);
        char *md = opt->table ? lab_run_read_file(path, NULL) : NULL;
        if (md) {
            fflush(stderr);
            fprintf(opt->table, "\n%s", md);
            fflush(opt->table);
            free(md);
        }
    } else if (status == LAB_RUN_INTERRUPTED) {
        lab_run_logf(&log, "interrupted after %s; continue with: labrun %s %s/config.ini run.resume=%s", took, p->name,
                     dir, dir);
    } else {
        lab_run_logf(&log, "run failed after %s; partial results in %s", took, dir);
    }
out:
    write_run_json(dir, h, opt->experiment, devs, opt->command, started, ntrials,
                   status == LAB_RUN_OK            ? "done"
                   : status == LAB_RUN_INTERRUPTED ? "interrupted"
                                                   : "failed");
    for (int i = 0; i < ntrials && sum.trials; i++) lab_run_trial_clear(&sum.trials[i]);
    for (int i = 0; i < npoints && sum.points; i++) lab_cfg_free(sum.points[i]);
    free(sum.points);
    free(sum.trials);
    fclose(log.file);
    if (status == LAB_RUN_INTERRUPTED)
        lab_error_set("interrupted; continue with: labrun %s %s/config.ini run.resume=%s", p->name, dir, dir);
    else if (status != LAB_RUN_OK)
        lab_error_set("%s", first_err[0] ? first_err : "the run failed (see log.txt)");
    return status;
}
