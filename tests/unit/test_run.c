/* The run layer through lab_run_experiment with the fixture plugins: the
 * outputs of a run, aggregation over seeds, the paper column, sweeps,
 * failures, the use check, and checkpoint/resume giving exactly the numbers
 * of an uninterrupted run (the stop is raised in-process by the good
 * fixture's train.stop_at, as SIGINT would; test_cli.c sends real signals). */
#include "labtest.h"
#include "runtest.h"

static lab_plugin_handle *load(const char *name)
{
    char path[PATH_MAX];
    lab_plugin_handle *h = lab_plugin_load(rt_fixture(name, path, sizeof path));
    cr_assert_not_null(h, "%s", lab_error());
    return h;
}

/* Run `text` (an experiment file) plus overrides; the run dir goes to dir. */
static lab_run_status run_exp(lab_plugin_handle *h, const char *text, const char *const *over, char *dir, size_t len)
{
    lab_cfg *c = lab_cfg_parse("exp.ini", text, strlen(text));
    cr_assert_not_null(c, "%s", lab_error());
    for (int i = 0; over && over[i]; i++) cr_assert_eq(lab_cfg_override(c, over[i]), 0, "%s", lab_error());
    cr_assert_eq(lab_cfg_validate(c, h->desc->params, h->desc->n_params), 0, "%s", lab_error());
    lab_run_options o = {.experiment = "exp.ini", .quiet = 1};
    dir[0] = '\0';
    lab_run_status st = lab_run_experiment(h, c, &o, dir, len);
    lab_cfg_free(c);
    return st;
}

static char *file_in(const char *dir, const char *name)
{
    char p[PATH_MAX + 100];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return rt_read(p);
}

static int has_file(const char *dir, const char *name)
{
    char p[PATH_MAX + 100];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return rt_exists(p);
}

/* metrics.jsonl without the wall-clock "time" fields. */
static char *metrics_without_time(const char *dir)
{
    char *t = file_in(dir, "metrics.jsonl");
    cr_assert_not_null(t, "no metrics.jsonl in %s", dir);
    char *w = t;
    for (char *r = t; *r;) {
        if (strncmp(r, ", \"time\": ", 10) == 0) {
            r += 10;
            while (*r && *r != ',' && *r != '}') r++;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
    return t;
}

Test(run, outputs_of_one_trial)
{
    char *tmp = rt_tmpdir(), text[512], dir[PATH_MAX];
    snprintf(text, sizeof text, "[run]\nout = %s\n[train]\nepochs = 2\nsteps = 3\n", tmp);
    lab_plugin_handle *h = load("good");
    cr_assert_eq(run_exp(h, text, NULL, dir, sizeof dir), LAB_RUN_OK, "%s", lab_error());
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof prefix, "%s/good/exp/", tmp);
    cr_assert(strncmp(dir, prefix, strlen(prefix)) == 0, "run dir %s", dir);
    const char *files[] = {"config.ini",    "run.json",    "log.txt",
                           "metrics.jsonl", "results.csv", "results.md",
                           "trials.csv",    "result.json", "checkpoints/last.safetensors"};
    for (int i = 0; i < 9; i++) cr_assert(has_file(dir, files[i]), "%s missing", files[i]);
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    cr_assert_eq(rt_count_lines(path), 2 * 3 + 2, "2 epochs x 3 train lines + 2 val lines");
    char *m = file_in(dir, "metrics.jsonl");
    cr_assert(strncmp(m, "{\"split\": \"train\", \"epoch\": 0.333333, \"step\": 1, \"time\": ", 56) == 0, "%s", m);
    free(m);
    char *csv = file_in(dir, "results.csv");
    cr_assert(strncmp(csv, "point,metric,n,mean,std,sem,min,max,paper\n0,final_loss,1,", 57) == 0, "%s", csv);
    cr_assert(strstr(csv, "\n0,hidden_sum,1,7,,,7,7,\n"), "%s", csv);
    free(csv);
    char *json = file_in(dir, "run.json");
    cr_assert(strstr(json, "\"plugin\": \"good\"") && strstr(json, "\"status\": \"done\""), "%s", json);
    free(json);
    char *md = file_in(dir, "results.md");
    cr_assert(strstr(md, "| metric | ours |\n|---|---|\n| final_loss | "), "%s", md);
    cr_assert(strstr(md, "| hidden_sum | 7 |\n"), "%s", md);
    free(md);
    /* The resolved config runs as is and matches what ran. */
    snprintf(path, sizeof path, "%s/config.ini", dir);
    lab_cfg *rec = lab_cfg_load(path), *orig = lab_cfg_parse("exp.ini", text, strlen(text));
    cr_assert_not_null(rec, "%s", lab_error());
    cr_assert_eq(lab_cfg_validate(rec, h->desc->params, h->desc->n_params), 0, "%s", lab_error());
    cr_assert_eq(lab_cfg_validate(orig, h->desc->params, h->desc->n_params), 0);
    cr_assert_str_eq(lab_cfg_get_str(rec, "run.name"), "exp");
    const char *skip[] = {"run.name", NULL};
    char diff[256];
    cr_assert_eq(lab_cfg_diff(rec, orig, skip, diff, sizeof diff), 0, "%s", diff);
    lab_cfg_free(rec);
    lab_cfg_free(orig);
    lab_plugin_unload(h);
    rt_rmtree(tmp);
}

Test(run, seeds_aggregate_mean_and_std)
{
    char *tmp = rt_tmpdir(), text[512], dir[PATH_MAX];
    snprintf(text, sizeof text, "[run]\nout = %s\nseed = 0\nseeds = 3\n[train]\nepochs = 1\nsteps = 2\n", tmp);
    lab_plugin_handle *h = load("good");
    cr_assert_eq(run_exp(h, text, NULL, dir, sizeof dir), LAB_RUN_OK, "%s", lab_error());
    for (int s = 0; s < 3; s++) {
        char sub[32];
        snprintf(sub, sizeof sub, "seed%d/result.json", s);
        cr_assert(has_file(dir, sub), "%s missing", sub);
    }
    char *csv = file_in(dir, "results.csv");
    /* seeds 0, 1, 2: mean 1, sample std 1, sem 1/sqrt(3). */
    cr_assert(strstr(csv, "\n0,seed_echo,3,1,1,0.5773502691896258,0,2,\n"), "%s", csv);
    free(csv);
    char *md = file_in(dir, "results.md");
    cr_assert(strstr(md, "| seed_echo | 1.000 ± 1.000 |\n"), "%s", md);
    cr_assert(strstr(md, "ours = mean ± sample std over seeds"), "%s", md);
    free(md);
    char *tc = file_in(dir, "trials.csv");
    cr_assert(strstr(tc, "point,seed,status,final_loss,w0,seed_echo,hidden_sum,scale0,name_len\n0,0,done,"), "%s", tc);
    free(tc);
    lab_plugin_unload(h);
    rt_rmtree(tmp);
}

Test(run, paper_numbers_beside_ours)
{
    char *tmp = rt_tmpdir(), text[512], dir[PATH_MAX];
    snprintf(text, sizeof text,
             "[run]\nout = %s\n[train]\nepochs = 1\nsteps = 1\n[paper]\nhidden_sum = 7.5\ntest_top1 = 90\n", tmp);
    lab_plugin_handle *h = load("good");
    cr_assert_eq(run_exp(h, text, NULL, dir, sizeof dir), LAB_RUN_OK, "%s", lab_error());
    char *md = file_in(dir, "results.md");
    cr_assert(strstr(md, "| metric | ours | paper |\n|---|---|---|\n"), "%s", md);
    cr_assert(strstr(md, "| hidden_sum | 7 | 7.5 |\n"), "%s", md);
    cr_assert(strstr(md, "| w0 | "), "%s", md);
    cr_assert(strstr(md, "| test_top1 | — | 90 |\n"), "%s", md);
    free(md);
    char *csv = file_in(dir, "results.csv");
    cr_assert(strstr(csv, "\n0,hidden_sum,1,7,,,7,7,7.5\n"), "%s", csv);
    cr_assert(strstr(csv, "\n0,test_top1,0,,,,,,90\n"), "%s", csv);
    free(csv);
    lab_plugin_unload(h);
    rt_rmtree(tmp);
}

Test(run, sweep_grid_times_seeds)
{
    char *tmp = rt_tmpdir(), text[512], dir[PATH_MAX];
    snprintf(text, sizeof text,
             "[run]\nout = %s\nseeds = 2\n[train]\nepochs = 1\nsteps = 2\n[sweep]\ntrain.lr = 0.05, 0.1\n", tmp);
    lab_plugin_handle *h = load("good");
    cr_assert_eq(run_exp(h, text, NULL, dir, sizeof dir), LAB_RUN_OK, "%s", lab_error());
    const char *subs[] = {"p0-seed0", "p0-seed1", "p1-seed0", "p1-seed1"};
    for (int i = 0; i < 4; i++) {
        char f[64];
        snprintf(f, sizeof f, "%s/result.json", subs[i]);
        cr_assert(has_file(dir, f), "%s missing", f);
    }
    char *csv = file_in(dir, "results.csv");
    cr_assert(strncmp(csv, "point,train.lr,metric,n,mean,std,sem,min,max,paper\n0,0.05,final_loss,2,", 71) == 0, "%s",
              csv);
    cr_assert(strstr(csv, "\n1,0.1,seed_echo,2,0.5,0.7071067811865476,0.5,0,1,\n"), "%s", csv);
    /* Different learning rates give different weights. */
    cr_assert(rt_csv_mean(csv, 0, "w0") != rt_csv_mean(csv, 1, "w0"));
    free(csv);
    char *md = file_in(dir, "results.md");
    cr_assert(strstr(md, "| train.lr | metric | ours |\n"), "%s", md);
    free(md);
    lab_plugin_unload(h);
    rt_rmtree(tmp);
}

Test(run, resume_after_stop_gives_the_same_numbers)
{
    char *tmp = rt_tmpdir(), text[512], full[PATH_MAX], cut[PATH_MAX], again[PATH_MAX];
    snprintf(text, sizeof text,
             "[run]\nout = %s\nseeds = 2\n[train]\nepochs = 3\nsteps = 4\noptimizer = adam\nlr = 0.05\n", tmp);
    lab_plugin_handle *h = load("good");
    cr_assert_eq(run_exp(h, text, NULL, full, sizeof full), LAB_RUN_OK, "%s", lab_error());

    /* Stop before global step 6 (epoch 1, step 2) of every trial. */
    const char *stop[] = {"train.stop_at=6", NULL};
    cr_assert_eq(run_exp(h, text, stop, cut, sizeof cut), LAB_RUN_INTERRUPTED);
    cr_assert(has_file(cut, "seed0/checkpoints/last.safetensors"));
    cr_assert(!has_file(cut, "seed0/result.json"));
    cr_assert(!has_file(cut, "seed1"), "the second seed must not start after the stop");
    char *json = file_in(cut, "run.json");
    cr_assert(strstr(json, "\"status\": \"interrupted\""), "%s", json);
    free(json);
    char expect[2 * PATH_MAX];
    snprintf(expect, sizeof expect, "interrupted; continue with: labrun good %s/config.ini run.resume=%s", cut, cut);
    cr_assert_str_eq(lab_error(), expect);

    /* Resume from the recorded config: seed0 continues from step 6, seed1
     * starts and stops at its own step 6; a second resume finishes it. */
    char cfgpath[PATH_MAX + 20], res[PATH_MAX + 20];
    snprintf(cfgpath, sizeof cfgpath, "%s/config.ini", cut);
    snprintf(res, sizeof res, "run.resume=%s", cut);
    for (int round = 0; round < 2; round++) {
        lab_run_clear_stop();
        lab_cfg *c = lab_cfg_load(cfgpath);
        cr_assert_not_null(c, "%s", lab_error());
        cr_assert_eq(lab_cfg_override(c, res), 0);
        cr_assert_eq(lab_cfg_validate(c, h->desc->params, h->desc->n_params), 0, "%s", lab_error());
        lab_run_options o = {.quiet = 1};
        lab_run_status st = lab_run_experiment(h, c, &o, again, sizeof again);
        lab_cfg_free(c);
        cr_assert_str_eq(again, cut);
        cr_assert_eq(st, round == 0 ? LAB_RUN_INTERRUPTED : LAB_RUN_OK, "round %d: %s", round, lab_error());
    }
    char *a = file_in(full, "results.csv"), *b = file_in(cut, "results.csv");
    cr_assert_str_eq(a, b, "uninterrupted:\n%s\nresumed:\n%s", a, b);
    free(a);
    free(b);
    for (int s = 0; s < 2; s++) {
        char d1[PATH_MAX + 16], d2[PATH_MAX + 16];
        snprintf(d1, sizeof d1, "%s/seed%d", full, s);
        snprintf(d2, sizeof d2, "%s/seed%d", cut, s);
        char *m1 = metrics_without_time(d1), *m2 = metrics_without_time(d2);
        cr_assert_str_eq(m1, m2, "metrics of seed %d differ", s);
        free(m1);
        free(m2);
    }
    char *log = file_in(cut, "log.txt");
    cr_assert(strstr(log, "[seed0] resumed from ") && strstr(log, "at epoch 2, step 2"), "%s", log);
    cr_assert(strstr(log, "[seed0] trial 1/2 finished earlier"), "%s", log);
    free(log);
    lab_plugin_unload(h);
    rt_rmtree(tmp);
}

Test(run, resume_checks_what_it_resumes)
{
    char *tmp = rt_tmpdir(), text[512], dir[PATH_MAX], other[PATH_MAX];
    snprintf(text, sizeof text, "[run]\nout = %s\n[train]\nepochs = 1\nsteps = 1\nlr = 0.1\n", tmp);
    lab_plugin_handle *h = load("good");
    cr_assert_eq(run_exp(h, text, NULL, dir, sizeof dir), LAB_RUN_OK, "%s", lab_error());
    char res[PATH_MAX + 20], msg[3 * PATH_MAX];
    snprintf(res, sizeof res, "run.resume=%s", dir);
    const char *over[] = {res, "train.lr=0.2", NULL};
    cr_assert_eq(run_exp(h, text, over, other, sizeof other), LAB_RUN_CONFIG_ERROR);
    snprintf(msg, sizeof msg,
             "run.resume = %s: the configuration differs from the recorded one (train.lr: 0.1 vs 0.2, recorded vs "
             "now); resume with %s/config.ini",
             dir, dir);
    cr_assert_str_eq(lab_error(), msg);
    const char *notrun[] = {"run.resume=/tmp", NULL};
    cr_assert_eq(run_exp(h, text, notrun, other, sizeof other), LAB_RUN_CONFIG_ERROR);
    cr_assert_str_eq(lab_error(), "run.resume = /tmp: not a run directory (no run.json)");
    /* Resuming a finished run redoes nothing and reports the same table. */
    const char *same[] = {res, NULL};
    char *before = file_in(dir, "results.csv");
    cr_assert_eq(run_exp(h, text, same, other, sizeof other), LAB_RUN_OK, "%s", lab_error());
    char *after = file_in(dir, "results.csv");
    cr_assert_str_eq(before, after);
    free(before);
    free(after);
    lab_plugin_unload(h);
    rt_rmtree(tmp);
}

Test(run, failing_plugin)
{
    char *tmp = rt_tmpdir(), text[512], dir[PATH_MAX];
    snprintf(text, sizeof text, "[run]\nout = %s\n", tmp);
    lab_plugin_handle *h = load("fails");
    cr_assert_eq(run_exp(h, text, NULL, dir, sizeof dir), LAB_RUN_FAILED);
    cr_assert_str_eq(lab_error(), "plugin fails failed: fails: data/missing.idx: no such file (fixture)");
    char *log = file_in(dir, "log.txt");
    cr_assert(strstr(log, "] fails: about to fail\n"), "%s", log);
    cr_assert(strstr(log, "] error: plugin fails failed: fails: data/missing.idx: no such file (fixture)\n"), "%s",
              log);
    free(log);
    char *tc = file_in(dir, "trials.csv");
    cr_assert_str_eq(tc, "point,seed,status\n0,0,failed\n");
    free(tc);
    char *json = file_in(dir, "run.json");
    cr_assert(strstr(json, "\"status\": \"failed\""), "%s", json);
    free(json);
    lab_plugin_unload(h);
    rt_rmtree(tmp);
}

Test(run, unread_and_undeclared_keys_fail_the_run)
{
    char *tmp = rt_tmpdir(), text[512], dir[PATH_MAX];
    snprintf(text, sizeof text, "[run]\nout = %s\n[train]\nepochs = 1\nsteps = 1\noptimizer = adam\nmomentum = 0.5\n",
             tmp);
    lab_plugin_handle *h = load("good");
    cr_assert_eq(run_exp(h, text, NULL, dir, sizeof dir), LAB_RUN_CONFIG_ERROR);
    cr_assert_str_eq(lab_error(), "exp.ini:7: train.momentum = 0.5 was never read by the plugin, so it had no effect; "
                                  "remove it (or, if it should matter, fix the plugin)");
    snprintf(text, sizeof text, "[run]\nout = %s\n[train]\nepochs = 1\nsteps = 1\nread_undeclared = yes\n", tmp);
    cr_assert_eq(run_exp(h, text, NULL, dir, sizeof dir), LAB_RUN_CONFIG_ERROR);
    cr_assert_str_eq(lab_error(), "plugin bug: the plugin read train.undeclared, which its schema does not declare");
    lab_plugin_unload(h);
    rt_rmtree(tmp);
}

Test(run, check_summary_and_devices)
{
    lab_plugin_handle *h = load("good");
    const char *text = "[run]\nseeds = 3\ndevice = cpu\n[sweep]\ntrain.epochs = 1, 2\n";
    lab_cfg *c = lab_cfg_parse("exp.ini", text, strlen(text));
    cr_assert_eq(lab_cfg_validate(c, h->desc->params, h->desc->n_params), 0, "%s", lab_error());
    char sum[256];
    cr_assert_eq(lab_run_check(h, c, sum, sizeof sum), 0, "%s", lab_error());
    cr_assert_str_eq(sum, "6 trials: 2 grid points x 3 seeds on cpu");
    lab_cfg_free(c);
    if (lab_cuda_device_count() == 0) {
        text = "[run]\ndevice = cuda\n";
        c = lab_cfg_parse("exp.ini", text, strlen(text));
        cr_assert_eq(lab_cfg_validate(c, h->desc->params, h->desc->n_params), 0);
        cr_assert_eq(lab_run_check(h, c, sum, sizeof sum), -1);
        lt_assert_error_contains("run.device = cuda: ");
        lt_assert_error_contains("; hint: use run.device=cpu or auto");
        lab_cfg_free(c);
        text = "[run]\ndevice = auto\n";
        c = lab_cfg_parse("exp.ini", text, strlen(text));
        cr_assert_eq(lab_cfg_validate(c, h->desc->params, h->desc->n_params), 0);
        cr_assert_eq(lab_run_check(h, c, sum, sizeof sum), 0, "auto falls back to cpu: %s", lab_error());
        cr_assert_str_eq(sum, "1 trial: 1 grid point x 1 seed on cpu");
        lab_cfg_free(c);
    }
    lab_plugin_unload(h);
}
