/* The context of one trial: what a plugin's run() gets (see lab/run.h).
 *
 * Checkpoints: the tracked params under "params." ("params<k>." for the
 * k-th list after the first), optimizer state under "optim." / "optim<k>."
 * (lab_optim_state_export), and metadata: format labrun-ckpt-1, the plugin,
 * position (epoch, step), rng (seed, stream, offset), the size of
 * metrics.jsonl when saved (a resume cuts the file back to it, so lines
 * logged after the checkpoint are not repeated) and the elapsed time.
 *
 * Tested in tests/unit/test_run.c (checkpoint round trip, resume equality,
 * metrics lines, results, misuse) and tests/unit/test_cli.c (SIGINT, resume). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "run_int.h"

#define CKPT_FORMAT "labrun-ckpt-1"

/* --- accessors ------------------------------------------------------------------- */

const lab_cfg *lab_ctx_cfg(const lab_ctx *ctx) { return ctx ? ctx->cfg : NULL; }
lab_device lab_ctx_device(const lab_ctx *ctx) { return ctx ? ctx->device : LAB_CPU; }
const char *lab_ctx_dir(const lab_ctx *ctx) { return ctx ? ctx->dir : NULL; }
const char *lab_ctx_run_dir(const lab_ctx *ctx) { return ctx ? ctx->run_dir : NULL; }
uint64_t lab_ctx_seed(const lab_ctx *ctx) { return ctx ? ctx->seed : 0; }
lab_rng *lab_ctx_rng(lab_ctx *ctx) { return ctx ? &ctx->rng : NULL; }
int lab_ctx_should_stop(const lab_ctx *ctx)
{
    if (!lab_run_stop_requested()) return 0;
    /* The plugin now knows: whatever it returns, the trial is unfinished. */
    if (ctx) ((lab_ctx *)ctx)->stop_seen = 1;
    return 1;
}

int lab_ctx_trial(const lab_ctx *ctx, int *ntrials, int *point, int *seed_index)
{
    if (!ctx) return -1;
    if (ntrials) *ntrials = ctx->ntrials;
    if (point) *point = ctx->point;
    if (seed_index) *seed_index = ctx->seed_index;
    return ctx->trial;
}

void lab_ctx_log(lab_ctx *ctx, const char *fmt, ...)
{
    if (!ctx) return;
    va_list ap;
    va_start(ap, fmt);
    lab_run_log_v(ctx->log, ctx->label, fmt, ap);
    va_end(ap);
}

void lab_ctx_warn(lab_ctx *ctx, const char *fmt, ...)
{
    if (!ctx) return;
    char prefix[200];
    snprintf(prefix, sizeof prefix, "%swarning: ", ctx->label);
    va_list ap;
    va_start(ap, fmt);
    lab_run_log_v(ctx->log, prefix, fmt, ap);
    va_end(ap);
}

/* --- resume bookkeeping ---------------------------------------------------------- */

static const char *meta_get(char **meta, const char *key)
{
    for (int i = 0; meta && meta[i] && meta[i + 1]; i += 2)
        if (strcmp(meta[i], key) == 0) return meta[i + 1];
    return NULL;
}

static int meta_u64(char **meta, const char *key, uint64_t *v, const char *path)
{
    const char *s = meta_get(meta, key);
    char *end;
    if (!s || !*s) return lab_error_set("checkpoint %s: metadata lacks \"%s\"", path, key);
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno) return lab_error_set("checkpoint %s: metadata \"%s\" = \"%s\" is not a count", path, key, s);
    *v = x;
    return 0;
}

static void drop_resume_state(lab_ctx *ctx)
{
    lab_params_free(ctx->resume_state);
    lab_safetensors_meta_free(ctx->resume_meta);
    ctx->resume_state = NULL;
    ctx->resume_meta = NULL;
}

/* The plugin wrote output before calling lab_ctx_checkpoint_load: it does
 * not resume, so the trial starts over and its old metrics go. */
static void resume_not_taken(lab_ctx *ctx)
{
    if (!ctx->resuming) return;
    ctx->resuming = 0;
    drop_resume_state(ctx);
    if (ctx->metrics && ftruncate(fileno(ctx->metrics), 0) == 0) fseek(ctx->metrics, 0, SEEK_SET);
    lab_ctx_warn(ctx, "the plugin did not call lab_ctx_checkpoint_load: this trial restarts from scratch");
}

/* --- progress -------------------------------------------------------------------- */

static int term_width(void)
{
    struct winsize w;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col >= 40) return w.ws_col;
    return 100;
}

void lab_ctx_progress(lab_ctx *ctx, int64_t epoch, int64_t epochs, int64_t step, int64_t steps)
{
    if (!ctx) return;
    ctx->epoch = epoch;
    ctx->epochs = epochs;
    ctx->step = step;
    ctx->steps = steps;
    if (steps <= 0 || epochs <= 0) return;
    double now = lab_run_now();
    int64_t done = epoch * steps + step, total = epochs * steps;
    if (!ctx->prog_started) {
        ctx->prog_started = 1;
        ctx->prog_t0 = now;
        ctx->prog_done0 = done;
        ctx->last_draw = ctx->last_line = now;
        return;
    }
    int epoch_end = step >= steps;
    double dt = now - ctx->prog_t0;
    int64_t dd = done - ctx->prog_done0;
    if (ctx->progress_mode == RUN_PROGRESS_BAR && !epoch_end && now - ctx->last_draw < 0.1) return;
    if (ctx->progress_mode != RUN_PROGRESS_BAR && !epoch_end && now - ctx->last_line < 10.0) return;
    double rate = dt > 0 && dd > 0 ? (double)dd / dt : 0;
    char eta[32] = "?", rt[32] = "";
    if (rate > 0) lab_run_fmt_duration((double)(total - done) / rate, eta, sizeof eta);
    if (rate >= 1 || rate == 0)
        snprintf(rt, sizeof rt, "%.1f it/s", rate);
    else
        snprintf(rt, sizeof rt, "%.2f s/it", 1.0 / rate);
    char line[1024];
    if (ctx->progress_mode == RUN_PROGRESS_BAR) {
        char bar[64];
        int w = 20, fill = (int)(w * step / steps);
        for (int i = 0; i < w; i++) bar[i] = i < fill ? '#' : '.';
        bar[w] = '\0';
        snprintf(line, sizeof line, "%sepoch %" PRId64 "/%" PRId64 " [%s] %" PRId64 "/%" PRId64 "  %s  ETA %s  %s",
                 ctx->label, epoch + 1, epochs, bar, step, steps, rt, eta, ctx->last_metrics);
        int cols = term_width() - 1;
        if ((int)strlen(line) > cols) line[cols] = '\0';
        lab_run_log_bar(ctx->log, line, epoch_end);
        ctx->last_draw = now;
        if (epoch_end && ctx->log->file) {
            fprintf(ctx->log->file, "[%8.1fs] %s\n", now - ctx->log->t0, line);
            fflush(ctx->log->file);
        }
        return;
    }
    snprintf(line, sizeof line, "epoch %" PRId64 "/%" PRId64 "  step %" PRId64 "/%" PRId64 "  %s  ETA %s  %s",
             epoch + 1, epochs, step, steps, rt, eta, ctx->last_metrics);
    ctx->last_line = now;
    if (ctx->progress_mode == RUN_PROGRESS_LINES) {
        lab_ctx_log(ctx, "%s", line);
    } else if (epoch_end && ctx->log->file) {
        fprintf(ctx->log->file, "[%8.1fs] %s%s\n", now - ctx->log->t0, ctx->label, line);
        fflush(ctx->log->file);
    }
}

void lab_run_ctx_finish(lab_ctx *ctx)
{
    if (ctx && ctx->log) lab_run_log_bar_clear(ctx->log);
}

/* --- metrics and results ------------------------------------------------------------ */

static int reserved_metric(const char *s)
{
    return !strcmp(s, "split") || !strcmp(s, "epoch") || !strcmp(s, "step") || !strcmp(s, "time");
}

static int valid_metric_name(const char *s)
{
    if (!s || !*s || strlen(s) > 100) return 0;
    for (; *s; s++)
        if (!(*s == '_' || *s == '-' || *s == '.' || *s == '@' || (*s >= '0' && *s <= '9') ||
              (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
            return 0;
    return 1;
}

int lab_ctx_metrics(lab_ctx *ctx, const char *split, const lab_kv *kv, int n)
{
    if (!ctx) return lab_error_set("metrics: no context");
    if (!split || !valid_metric_name(split))
        return lab_error_set("metrics: bad split name \"%s\"", split ? split : "(null)");
    if (n < 0 || (n > 0 && !kv)) return lab_error_set("metrics: %d values but no array", n);
    for (int i = 0; i < n; i++) {
        if (!valid_metric_name(kv[i].name))
            return lab_error_set("metrics: bad metric name \"%s\" (letters, digits, _ - . @)",
                                 kv[i].name ? kv[i].name : "(null)");
        if (reserved_metric(kv[i].name))
            return lab_error_set("metrics: \"%s\" is a reserved field of metrics.jsonl", kv[i].name);
    }
    resume_not_taken(ctx);
    double epoch = (double)ctx->epoch + (ctx->steps > 0 ? (double)ctx->step / (double)ctx->steps : 0.0);
    int64_t gstep = ctx->epoch * (ctx->steps > 0 ? ctx->steps : 0) + ctx->step;
    FILE *f = ctx->metrics;
    if (f) {
        fputs("{\"split\": ", f);
        lab_run_json_str(f, split);
        fprintf(f, ", \"epoch\": %.6g", epoch); /* for plots: rounding is harmless */
        fprintf(f, ", \"step\": %" PRId64 ", \"time\": %.3f", gstep, lab_run_now() - ctx->t_start + ctx->elapsed0);
        for (int i = 0; i < n; i++) {
            fputs(", ", f);
            lab_run_json_str(f, kv[i].name);
            fputs(": ", f);
            lab_run_json_num(f, kv[i].value, 0);
        }
        fputs("}\n", f);
        fflush(f);
    }
    size_t k = (size_t)snprintf(ctx->last_metrics, sizeof ctx->last_metrics, "%s:", split);
    for (int i = 0; i < n && i < 4 && k < sizeof ctx->last_metrics; i++)
        k += (size_t)snprintf(ctx->last_metrics + k, sizeof ctx->last_metrics - k, " %s %.4g", kv[i].name, kv[i].value);
    return 0;
}

int lab_ctx_result(lab_ctx *ctx, const char *name, double value)
{
    if (!ctx) return lab_error_set("result: no context");
    if (!valid_metric_name(name))
        return lab_error_set("result: bad name \"%s\" (letters, digits, _ - . @)", name ? name : "(null)");
    resume_not_taken(ctx);
    for (int i = 0; i < ctx->nres; i++)
        if (strcmp(ctx->res_names[i], name) == 0) {
            ctx->res_values[i] = value;
            return 0;
        }
    char **nn = realloc(ctx->res_names, (size_t)(ctx->nres + 1) * sizeof *nn);
    if (!nn) return lab_error_set("result: out of host memory");
    ctx->res_names = nn;
    double *nv = realloc(ctx->res_values, (size_t)(ctx->nres + 1) * sizeof *nv);
    if (!nv) return lab_error_set("result: out of host memory");
    ctx->res_values = nv;
    if (!(nn[ctx->nres] = strdup(name))) return lab_error_set("result: out of host memory");
    nv[ctx->nres++] = value;
    return 0;
}

/* --- checkpoints ------------------------------------------------------------------ */

int lab_ctx_checkpoint_track(lab_ctx *ctx, lab_params *params)
{
    if (!ctx || !params) return lab_error_set("checkpoint_track: no context or params");
    lab_params **v = realloc(ctx->tp, (size_t)(ctx->ntp + 1) * sizeof *v);
    if (!v) return lab_error_set("checkpoint_track: out of host memory");
    ctx->tp = v;
    v[ctx->ntp++] = params;
    return 0;
}

int lab_ctx_checkpoint_track_optim(lab_ctx *ctx, lab_optim *opt)
{
    if (!ctx || !opt) return lab_error_set("checkpoint_track_optim: no context or optimizer");
    lab_optim **v = realloc(ctx->to, (size_t)(ctx->nto + 1) * sizeof *v);
    if (!v) return lab_error_set("checkpoint_track_optim: out of host memory");
    ctx->to = v;
    v[ctx->nto++] = opt;
    return 0;
}

static void list_prefix(char *buf, size_t len, const char *base, int k)
{
    if (k == 0)
        snprintf(buf, len, "%s.", base);
    else
        snprintf(buf, len, "%s%d.", base, k);
}

static void ckpt_path(const lab_ctx *ctx, char *buf, size_t len)
{
    snprintf(buf, len, "%s/checkpoints/last.safetensors", ctx->dir);
}

int lab_ctx_checkpoint_save(lab_ctx *ctx, int64_t epoch, int64_t step)
{
    if (!ctx) return lab_error_set("checkpoint_save: no context");
    if (epoch < 0 || step < 0)
        return lab_error_set("checkpoint_save: negative position (epoch %" PRId64 ", step %" PRId64 ")", epoch, step);
    resume_not_taken(ctx);
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/checkpoints", ctx->dir);
    if (lab_run_mkdirs(dir) < 0) return lab_error_prefix("checkpoint_save: ");
    ckpt_path(ctx, path, sizeof path);
    lab_params *all = lab_params_new();
    if (!all) return -1;
    int rc = 0;
    for (int k = 0; k < ctx->ntp && rc == 0; k++) {
        char pre[32], name[512];
        list_prefix(pre, sizeof pre, "params", k);
        const lab_params *p = ctx->tp[k];
        for (int i = 0; i < p->n && rc == 0; i++) {
            snprintf(name, sizeof name, "%s%s", pre, p->names[i]);
            lab_tensor *t = lab_tensor_retain(p->tensors[i]);
            lab_tensor *r = p->trainable[i] ? lab_params_add(all, name, t) : lab_params_add_buffer(all, name, t);
            if (!r) rc = -1;
        }
    }
    for (int k = 0; k < ctx->nto && rc == 0; k++) {
        char pre[32];
        list_prefix(pre, sizeof pre, "optim", k);
        rc = lab_optim_state_export(ctx->to[k], all, pre);
    }
    long mbytes = 0;
    if (ctx->metrics) {
        fflush(ctx->metrics);
        mbytes = ftell(ctx->metrics);
        if (mbytes < 0) mbytes = 0;
    }
    char s_epoch[32], s_step[32], s_seed[32], s_stream[32], s_off[32], s_mb[32], s_el[32];
    snprintf(s_epoch, sizeof s_epoch, "%" PRId64, epoch);
    snprintf(s_step, sizeof s_step, "%" PRId64, step);
    snprintf(s_seed, sizeof s_seed, "%" PRIu64, ctx->rng.seed);
    snprintf(s_stream, sizeof s_stream, "%" PRIu64, ctx->rng.stream);
    snprintf(s_off, sizeof s_off, "%" PRIu64, ctx->rng.offset);
    snprintf(s_mb, sizeof s_mb, "%ld", mbytes);
    snprintf(s_el, sizeof s_el, "%.3f", lab_run_now() - ctx->t_start + ctx->elapsed0);
    const char *meta[] = {"format",
                          CKPT_FORMAT,
                          "labrun",
                          LAB_VERSION,
                          "plugin",
                          ctx->plugin->name,
                          "plugin_version",
                          ctx->plugin->version,
                          "epoch",
                          s_epoch,
                          "step",
                          s_step,
                          "rng_seed",
                          s_seed,
                          "rng_stream",
                          s_stream,
                          "rng_offset",
                          s_off,
                          "metrics_bytes",
                          s_mb,
                          "elapsed",
                          s_el,
                          NULL};
    if (rc == 0) rc = lab_safetensors_save(path, all, meta);
    lab_params_free(all);
    if (rc < 0) return lab_error_prefix("checkpoint_save: ");
    return 0;
}

/* Copy one tracked list from the loaded state, checking everything first. */
static int restore_list(const lab_params *dst, const lab_params *src, const char *pre, const char *path)
{
    size_t pl = strlen(pre);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < dst->n; i++) {
            char name[512];
            snprintf(name, sizeof name, "%s%s", pre, dst->names[i]);
            const lab_tensor *s = lab_params_get(src, name);
            lab_tensor *d = dst->tensors[i];
            if (!s) return lab_error_set("checkpoint %s lacks tensor %s: was it saved by another model?", path, name);
            if (s->dtype != d->dtype || !lab_tensor_same_shape(s, d)) {
                char a[96], b[96];
                return lab_error_set("checkpoint %s: %s is %s there but %s in the model", path, name,
                                     lab_tensor_desc(s, a, sizeof a), lab_tensor_desc(d, b, sizeof b));
            }
            if (pass == 1 && lab_tensor_copy_(d, s) < 0) return lab_error_prefix("checkpoint %s: %s: ", path, name);
        }
        if (pass == 0)
            for (int i = 0; i < src->n; i++) {
                if (strncmp(src->names[i], pre, pl) != 0) continue;
                if (!lab_params_get(dst, src->names[i] + pl))
                    return lab_error_set("checkpoint %s has tensor %s, which the model lacks", path, src->names[i]);
            }
    }
    return 0;
}

int lab_ctx_checkpoint_load(lab_ctx *ctx, int64_t *epoch, int64_t *step)
{
    if (!ctx) return lab_error_set("checkpoint_load: no context");
    if (!ctx->resuming) return 0;
    char path[4300];
    ckpt_path(ctx, path, sizeof path);
    char **meta = ctx->resume_meta;
    const lab_params *in = ctx->resume_state;
    uint64_t e, s, seed, stream, off;
    if (meta_u64(meta, "epoch", &e, path) < 0 || meta_u64(meta, "step", &s, path) < 0 ||
        meta_u64(meta, "rng_seed", &seed, path) < 0 || meta_u64(meta, "rng_stream", &stream, path) < 0 ||
        meta_u64(meta, "rng_offset", &off, path) < 0)
        return -1;
    for (int k = 0; k < ctx->ntp; k++) {
        char pre[32];
        list_prefix(pre, sizeof pre, "params", k);
        if (restore_list(ctx->tp[k], in, pre, path) < 0) return -1;
    }
    for (int k = 0; k < ctx->nto; k++) {
        char pre[32];
        list_prefix(pre, sizeof pre, "optim", k);
        if (lab_optim_state_import(ctx->to[k], in, pre) < 0) return lab_error_prefix("checkpoint %s: ", path);
    }
    ctx->rng.seed = seed;
    ctx->rng.stream = stream;
    ctx->rng.offset = off;
    if (epoch) *epoch = (int64_t)e;
    if (step) *step = (int64_t)s;
    ctx->epoch = (int64_t)e;
    ctx->step = (int64_t)s;
    ctx->resuming = 0;
    drop_resume_state(ctx);
    lab_ctx_log(ctx, "resumed from %s at epoch %" PRIu64 ", step %" PRIu64, path, e + 1, s);
    return 1;
}

/* --- creation -------------------------------------------------------------------- */

/* A resumed trial: load its checkpoint now, check it belongs to this
 * plugin, and cut metrics.jsonl back to what the checkpoint had seen. */
static int prepare_resume(lab_ctx *ctx, const char *path)
{
    ctx->resume_state = lab_safetensors_load(path, LAB_CPU, &ctx->resume_meta);
    if (!ctx->resume_state) return lab_error_prefix("resume: ");
    const char *fmt = meta_get(ctx->resume_meta, "format");
    const char *plugin = meta_get(ctx->resume_meta, "plugin");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0)
        return lab_error_set("resume: %s is not a labrun checkpoint (format \"%s\", expected %s)", path,
                             fmt ? fmt : "(none)", CKPT_FORMAT);
    if (!plugin || strcmp(plugin, ctx->plugin->name) != 0)
        return lab_error_set("resume: %s was written by plugin '%s', not '%s'", path, plugin ? plugin : "(none)",
                             ctx->plugin->name);
    uint64_t mb;
    if (meta_u64(ctx->resume_meta, "metrics_bytes", &mb, path) < 0) return -1;
    const char *el = meta_get(ctx->resume_meta, "elapsed");
    ctx->elapsed0 = el ? atof(el) : 0;
    if (ctx->metrics) {
        fflush(ctx->metrics);
        if (ftruncate(fileno(ctx->metrics), (off_t)mb) < 0)
            return lab_error_set("resume: cannot cut %s/metrics.jsonl back: %s", ctx->dir, strerror(errno));
        fseek(ctx->metrics, 0, SEEK_END);
    }
    ctx->resuming = 1;
    return 0;
}

lab_ctx *lab_run_ctx_new(const run_ctx_args *a)
{
    lab_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx || !(ctx->dir = strdup(a->dir)) || !(ctx->run_dir = strdup(a->run_dir ? a->run_dir : a->dir))) {
        if (ctx) free(ctx->dir);
        free(ctx);
        lab_error_set("run: out of host memory");
        return NULL;
    }
    ctx->plugin = a->plugin;
    ctx->cfg = a->cfg;
    ctx->device = a->device;
    ctx->seed = a->seed;
    ctx->rng = lab_rng_make(a->seed, 0);
    ctx->trial = a->trial;
    ctx->ntrials = a->ntrials;
    ctx->point = a->point;
    ctx->seed_index = a->seed_index;
    snprintf(ctx->label, sizeof ctx->label, "%s", a->label ? a->label : "");
    ctx->log = a->log;
    ctx->progress_mode = a->progress_mode;
    ctx->t_start = lab_run_now();
    char path[4300];
    snprintf(path, sizeof path, "%s/metrics.jsonl", a->dir);
    char ck[4300];
    ckpt_path(ctx, ck, sizeof ck);
    int resume = a->resume && lab_run_exists(ck);
    /* Fresh trials start an empty file; resumed ones keep theirs (cut back
     * to the checkpoint below). "a+" then seek: writes always append. */
    ctx->metrics = fopen(path, resume ? "a" : "w");
    if (!ctx->metrics) {
        lab_error_set("run: cannot write %s: %s", path, strerror(errno));
        lab_run_ctx_free(ctx);
        return NULL;
    }
    if (resume && prepare_resume(ctx, ck) < 0) {
        lab_run_ctx_free(ctx);
        return NULL;
    }
    return ctx;
}

void lab_run_ctx_free(lab_ctx *ctx)
{
    if (!ctx) return;
    if (ctx->metrics) fclose(ctx->metrics);
    drop_resume_state(ctx);
    for (int i = 0; i < ctx->nres; i++) free(ctx->res_names[i]);
    free(ctx->res_names);
    free(ctx->res_values);
    free(ctx->tp);
    free(ctx->to);
    free(ctx->dir);
    free(ctx->run_dir);
    free(ctx);
}
