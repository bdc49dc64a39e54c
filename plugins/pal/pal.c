/* pal — "PAL: Probing Audio Encoders via LLMs" (arXiv 2506.10423), scaled
 * down: how audio tokens should enter a decoder LM. One plugin, three tasks:
 *   task.name = data        generate data/pal/<name> (FSDD + tones + noise, espeak-ng word clips
 *                           when espeak-ng is installed, manifest)
 *   task.name = train       one variant (model.variant or the model.* switches), stages 0-3,
 *                           evaluation; with table.name = ablation|encoders the last trial
 *                           writes the table from every trial of the sweep
 *   task.name = efficiency  Table C: analytic FLOPs, measured samples/s and peak memory
 * See plugins/pal/README.md and ../shared/papers/pal.md; tested by
 * tests/plugins/test_pal.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pal_int.h"

#define VARIANTS "custom|V0|V1a|V1b|V1c|V2|V3|V4|V5|V6|V7|C0-V0|C0-V3|B-ssl|B-asr|B-clap|B-ssl+asr|B-ssl+clap|B-asr+clap|B-all"

static const lab_param params[] = {
    LAB_PARAM_ENUM("task", "name", "train", "train|data|efficiency|table", "what this run does (table: rewrite table.name from table.from)"),
    LAB_PARAM_STRING("data", "dir", "data/pal/cpu", "generated data set folder (task=data writes it)"),
    LAB_PARAM_STRING("data", "fsdd", "", "FSDD folder holding recordings/ (empty: $LAB_DATA_DIR/fsdd, data/fsdd, ../shared/data/fsdd)"),
    LAB_PARAM_INTS("data", "sizes", "2000, 300, 300", 1, 1000000, "task=data: train, val, test clips"),
    LAB_PARAM_INT("data", "corpus", "20000", 1, 10000000, "task=data: stage-0 text items"),
    LAB_PARAM_INT("data", "gen_seed", "0", 0, 1000000000, "task=data: seed of the clip synthesis"),
    LAB_PARAM_FLOAT("data", "word_clips", "0.25", 0, 1,
                    "task=data: fraction of clips whose speech is an espeak-ng word or 2-3-word phrase (phrase "
                    "question); none, with a message, when espeak-ng is absent"),
    LAB_PARAM_STRING("data", "espeak", "espeak-ng", "task=data: the espeak-ng program (name in PATH or path)"),
    LAB_PARAM_STRING("data", "cache", "", "stage-0 LM and encoder checkpoints shared by variants (empty: <data.dir>/cache)"),
    LAB_PARAM_INT("data", "batch_size", "32", 1, 512, NULL),
    LAB_PARAM_ENUM("model", "variant", "custom", VARIANTS, "a row of Table A/B (custom: the model.* switches)"),
    LAB_PARAM_INT("model", "layers", "6", 1, PAL_MAX_L, "LM layers L"),
    LAB_PARAM_INT("model", "d", "128", 8, 4096, "LM width"),
    LAB_PARAM_INT("model", "heads", "4", 1, 64, "LM heads"),
    LAB_PARAM_INT("model", "d_c", "128", 8, 4096, "connector width"),
    LAB_PARAM_INT("model", "latents", "8", 1, 256, "connector latents M per encoder"),
    LAB_PARAM_INT("model", "enc_dim", "96", 8, 1024, "encoder width"),
    LAB_PARAM_ENUM("model", "mode", "plits", "plits|lal", "integration mode (custom variant)"),
    LAB_PARAM_INT("model", "start_layer", "0", 0, 1000, "s: first layer that sees audio (custom variant)"),
    LAB_PARAM_INT("model", "s_star", "0", 0, 1000,
                  "s* used by V3, V4, V6, V7 and Table B; 0 = auto: the best start layer on val of the V1a-V1c "
                  "trials that ran earlier in the same run (brief §8)"),
    LAB_PARAM_STRING("model", "encoders", "ssl", "comma-separated: ssl, asr, clap (custom variant)"),
    LAB_PARAM_STRING("model", "route", "", "per-encoder route, e.g. asr:plits, ssl:lal (custom variant)"),
    LAB_PARAM_BOOL("model", "freeze_ffn", "false", "keep W1, W2 and the FFN norms fixed in the audio stages"),
    LAB_PARAM_ENUM("model", "lal_audio_rope", "slot", "slot|none", "RoPE of LAL audio keys: reserved slot positions or none"),
    LAB_PARAM_INT("model", "summary_tokens", "0", 0, 256, "k > 0: k pooled tokens via PLITS, the full sequence via LAL"),
    LAB_PARAM_ENUM("model", "lm_init", "pretrained", "pretrained|random", "random skips stage 0 (control C0)"),
    LAB_PARAM_INTS("train", "stage_steps", "3000, 1500, 2000, 2000", 0, 10000000, "steps of stages 0, 1, 2, 3"),
    LAB_PARAM_FLOATS("train", "stage_lr", "1e-3, 1e-3, 3e-4, 3e-4", 0, 1, "peak AdamW lr of stages 0, 1, 2, 3"),
    LAB_PARAM_INT("train", "warmup", "100", 0, 1000000, "linear warm-up steps of each stage"),
    LAB_PARAM_FLOAT("train", "weight_decay", "0.01", 0, 1, NULL),
    LAB_PARAM_INT("train", "enc_steps", "1500", 0, 10000000, "pre-training steps of each encoder"),
    LAB_PARAM_FLOAT("train", "enc_lr", "1e-3", 0, 1, "encoder pre-training lr"),
    LAB_PARAM_INT("eval", "clips", "300", 1, 1000000, "val/test clips evaluated"),
    LAB_PARAM_ENUM("table", "name", "none", "none|ablation|encoders|efficiency", "the table this run writes"),
    LAB_PARAM_STRING("table", "out", "", "where the table goes (empty: docs/results/pal-<table>.md)"),
    LAB_PARAM_STRING("table", "command", "", "the command named in the table's header"),
    LAB_PARAM_STRING("table", "from", "", "task=table: the run directory whose trials make the table"),
    LAB_PARAM_INTS("efficiency", "na", "8, 24, 96, 384, 1024", 1, 1000000, "audio token counts of Table C"),
    LAB_PARAM_INT("efficiency", "text_tokens", "32", 1, 100000, "Nt of Table C"),
    LAB_PARAM_INT("efficiency", "reps", "3", 1, 1000, "timed steps per point (best taken)"),
};

/* The named variants whose start layer is s*. */
static int uses_s_star(const char *v)
{
    return !strcmp(v, "V3") || !strcmp(v, "C0-V3") || !strcmp(v, "V4") || !strcmp(v, "V6") || !strcmp(v, "V7") ||
           !strncmp(v, "B-", 2);
}

/* Switches of a named variant (brief §8), or the model.* keys for custom. */
static int resolve_variant(const lab_cfg *c, pal_opts *o)
{
    const char *v = lab_cfg_get_str(c, "model.variant");
    int s_star = (int)lab_cfg_get_int(c, "model.s_star");
    const char *encs = lab_cfg_get_str(c, "model.encoders"), *route = lab_cfg_get_str(c, "model.route");
    pal_route mode = lab_cfg_get_enum(c, "model.mode") ? PAL_LAL : PAL_PLITS;
    int s = (int)lab_cfg_get_int(c, "model.start_layer");
    int freeze = lab_cfg_get_bool(c, "model.freeze_ffn");
    o->lm_random = lab_cfg_get_enum(c, "model.lm_init") == 1;
    if (strcmp(v, "custom") != 0) {
        route = "";
        freeze = 0;
        if (!strcmp(v, "V0") || !strcmp(v, "C0-V0")) mode = PAL_PLITS, s = 0, encs = "ssl";
        else if (!strcmp(v, "V1a")) mode = PAL_PLITS, s = 1, encs = "ssl";
        else if (!strcmp(v, "V1b")) mode = PAL_PLITS, s = 2, encs = "ssl";
        else if (!strcmp(v, "V1c")) mode = PAL_PLITS, s = 4, encs = "ssl";
        else if (!strcmp(v, "V2")) mode = PAL_LAL, s = 0, encs = "ssl";
        else if (!strcmp(v, "V3") || !strcmp(v, "C0-V3")) mode = PAL_LAL, s = s_star, encs = "ssl";
        else if (!strcmp(v, "V4")) mode = PAL_LAL, s = s_star, encs = "ssl,asr,clap";
        else if (!strcmp(v, "V5")) mode = PAL_PLITS, s = 0, encs = "ssl,asr,clap";
        else if (!strcmp(v, "V6")) mode = PAL_LAL, s = s_star, encs = "ssl", freeze = 1;
        else if (!strcmp(v, "V7")) mode = PAL_LAL, s = s_star, encs = "ssl,asr,clap", route = "asr:plits";
        else { /* Table B: B-<enc>+<enc> */
            static char buf[64];
            snprintf(buf, sizeof buf, "%s", strcmp(v, "B-all") == 0 ? "ssl,asr,clap" : v + 2);
            for (char *p = buf; *p; p++)
                if (*p == '+') *p = ',';
            mode = PAL_LAL, s = s_star, encs = buf;
        }
        if (!strncmp(v, "C0-", 3)) o->lm_random = 1;
    }
    memset(&o->sw, 0, sizeof o->sw);
    if (pal_parse_encoders(encs, &o->sw) < 0 || pal_parse_route(route, mode, &o->sw) < 0) return -1;
    o->sw.start_layer = s;
    o->sw.freeze_ffn = freeze;
    o->sw.audio_rope = lab_cfg_get_enum(c, "model.lal_audio_rope") == 0;
    o->sw.summary_tokens = (int)lab_cfg_get_int(c, "model.summary_tokens");
    o->variant = v;
    return pal_switches_check(&o->sw, o->L, o->M);
}

static const char *find_fsdd(const char *given, char *buf, size_t len)
{
    if (given && given[0]) return given;
    const char *env = getenv("LAB_DATA_DIR");
    const char *cands[3] = {NULL, "data/fsdd", "../shared/data/fsdd"};
    char e[1024];
    if (env) {
        snprintf(e, sizeof e, "%s/fsdd", env);
        cands[0] = e;
    }
    for (int i = 0; i < 3; i++) {
        if (!cands[i]) continue;
        char r[1100];
        snprintf(r, sizeof r, "%s/recordings", cands[i]);
        if (access(r, R_OK) == 0) {
            snprintf(buf, len, "%s", cands[i]);
            return buf;
        }
    }
    snprintf(buf, len, "../shared/data/fsdd");
    return buf;
}

static void default_out(const lab_cfg *c, const char *table, char *buf, size_t len)
{
    const char *out = lab_cfg_get_str(c, "table.out");
    if (out && out[0])
        snprintf(buf, len, "%s", out);
    else
        snprintf(buf, len, "docs/results/pal-%s.md", table);
}

static int run(lab_ctx *ctx)
{
    const lab_cfg *c = lab_ctx_cfg(ctx);
    int task = lab_cfg_get_enum(c, "task.name");
    const char *table = lab_cfg_get_str(c, "table.name");
    const char *command = lab_cfg_get_str(c, "table.command");
    char out[1024];
    if (task == 1) {
        pal_gen_cfg g;
        char fb[1024];
        const int64_t *sz;
        if (lab_cfg_get_ints(c, "data.sizes", &sz) != 3) return lab_error_set("pal: data.sizes needs train, val, test");
        g.fsdd = find_fsdd(lab_cfg_get_str(c, "data.fsdd"), fb, sizeof fb);
        g.out = lab_cfg_get_str(c, "data.dir");
        g.n[0] = sz[0], g.n[1] = sz[1], g.n[2] = sz[2];
        g.seed = (uint64_t)lab_cfg_get_int(c, "data.gen_seed");
        g.corpus = lab_cfg_get_int(c, "data.corpus");
        g.word_frac = lab_cfg_get_float(c, "data.word_clips");
        g.espeak = lab_cfg_get_str(c, "data.espeak");
        lab_ctx_log(ctx, "pal data: FSDD from %s", g.fsdd);
        return pal_data_generate(&g, ctx);
    }
    if (task == 2) {
        pal_eff_cfg e;
        e.L = lab_cfg_get_int(c, "model.layers"), e.d = lab_cfg_get_int(c, "model.d");
        e.heads = lab_cfg_get_int(c, "model.heads"), e.dc = lab_cfg_get_int(c, "model.d_c");
        e.nt = lab_cfg_get_int(c, "efficiency.text_tokens"), e.batch = lab_cfg_get_int(c, "data.batch_size");
        e.reps = lab_cfg_get_int(c, "efficiency.reps");
        e.n_na = lab_cfg_get_ints(c, "efficiency.na", &e.na);
        default_out(c, "efficiency", out, sizeof out);
        e.out = out;
        e.command = command[0] ? command : "labrun pal experiments/pal/tables/efficiency.ini";
        e.dev = lab_ctx_device(ctx);
        return pal_efficiency(ctx, &e);
    }
    if (task == 3) {
        const char *from = lab_cfg_get_str(c, "table.from");
        if (!from[0] || (strcmp(table, "ablation") != 0 && strcmp(table, "encoders") != 0))
            return lab_error_set("pal: task.name = table needs table.name = ablation|encoders and table.from = <run dir>");
        default_out(c, table, out, sizeof out);
        return pal_table_write(ctx, table, out, command[0] ? command : "labrun pal (task.name = table)",
                               (int)lab_cfg_get_int(c, "model.s_star"), lab_cfg_get_int(c, "model.layers"), from);
    }
    pal_opts o;
    memset(&o, 0, sizeof o);
    o.L = lab_cfg_get_int(c, "model.layers"), o.d = lab_cfg_get_int(c, "model.d");
    o.heads = lab_cfg_get_int(c, "model.heads"), o.dc = lab_cfg_get_int(c, "model.d_c");
    o.M = lab_cfg_get_int(c, "model.latents"), o.de = lab_cfg_get_int(c, "model.enc_dim");
    if (resolve_variant(c, &o) < 0) return -1;
    if (uses_s_star(o.variant) && lab_cfg_get_int(c, "model.s_star") == 0) {
        int s;
        double v;
        if (pal_best_start_layer(lab_ctx_run_dir(ctx), &s, &v) < 0)
            return lab_error_set("pal: variant %s needs s*, and model.s_star = 0 (auto) takes it from the V1a-V1c "
                                 "trials of the same run, which has none finished before this one; put V1a, V1b, V1c "
                                 "before %s in [sweep] model.variant, or set model.s_star (the ablation table names "
                                 "the best s)", o.variant, o.variant);
        lab_ctx_log(ctx, "pal: s* = %d (auto: best V1 start layer on val, %.2f%% closed accuracy)", s, v);
        o.sw.start_layer = s;
        if (pal_switches_check(&o.sw, o.L, o.M) < 0) return -1;
    }
    o.data_dir = lab_cfg_get_str(c, "data.dir");
    char cache[1200];
    const char *cd = lab_cfg_get_str(c, "data.cache");
    snprintf(cache, sizeof cache, "%s", cd[0] ? cd : o.data_dir);
    if (!cd[0]) strncat(cache, "/cache", sizeof cache - strlen(cache) - 1);
    mkdir(cache, 0755);
    o.cache_dir = cache;
    const int64_t *st;
    const double *lr;
    if (lab_cfg_get_ints(c, "train.stage_steps", &st) != 4 || lab_cfg_get_floats(c, "train.stage_lr", &lr) != 4)
        return lab_error_set("pal: train.stage_steps and train.stage_lr need 4 values (stages 0-3)");
    for (int i = 0; i < 4; i++) o.steps[i] = st[i], o.lr[i] = lr[i];
    o.batch = lab_cfg_get_int(c, "data.batch_size");
    o.warmup = lab_cfg_get_int(c, "train.warmup");
    o.wd = lab_cfg_get_float(c, "train.weight_decay");
    o.enc_steps = lab_cfg_get_int(c, "train.enc_steps");
    o.enc_lr = lab_cfg_get_float(c, "train.enc_lr");
    o.n_eval = lab_cfg_get_int(c, "eval.clips");
    o.seed = lab_ctx_seed(ctx);
    o.dev = lab_ctx_device(ctx);
    lab_ctx_log(ctx, "pal: variant %s: s=%d, %d encoder(s), freeze_ffn=%d, lm_init=%s", o.variant, o.sw.start_layer,
                o.sw.n_enc, o.sw.freeze_ffn, o.lm_random ? "random" : "pretrained");
    pal_eval val, test;
    memset(&val, 0, sizeof val);
    memset(&test, 0, sizeof test);
    if (pal_run_variant(ctx, &o, &val, &test) < 0) return -1;
    if (pal_record(ctx, o.variant, &val, &test) < 0) return -1;
    if (strcmp(table, "ablation") == 0 || strcmp(table, "encoders") == 0) {
        default_out(c, table, out, sizeof out);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "labrun pal experiments/pal/tables/%s.ini", table);
        return pal_table_write(ctx, table, out, command[0] ? command : cmd, (int)lab_cfg_get_int(c, "model.s_star"), o.L,
                               "");
    }
    return 0;
}

static const lab_plugin plugin = {
    LAB_PLUGIN_HEADER,
    .name = "pal",
    .version = "1.0",
    .summary = "PAL (arXiv 2506.10423): delayed / attention-only audio integration into an LM, scaled down",
    .params = params,
    .n_params = LAB_COUNT(params),
    .run = run,
};
LAB_PLUGIN(plugin)
