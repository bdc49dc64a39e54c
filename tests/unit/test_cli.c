/* labrun as a user runs it: build/bin/labrun started as a child process for
 * every subcommand, checking exit codes (0 ok, 1 failed, 2 usage/config,
 * 130 interrupted), stdout and stderr; SIGINT and SIGTERM in the middle of a
 * run followed by run.resume; and `make install` + an out-of-tree plugin
 * built with pkg-config. */
#include "labtest.h"
#include "runtest.h"

static const char *labrun(void)
{
    static char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/bin/labrun", rt_build());
    return p;
}

static void use_fixtures(void)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/fixtures", rt_build());
    setenv("LAB_PLUGIN_PATH", dir, 1);
}

/* labrun with up to 10 arguments. */
#define LABRUN(...) rt_run((const char *[]){labrun(), __VA_ARGS__, NULL})

static char *write_exp(const char *tmp, const char *name, const char *body)
{
    char *path = malloc(PATH_MAX);
    snprintf(path, PATH_MAX, "%s/%s", tmp, name);
    char text[4096];
    snprintf(text, sizeof text, "[run]\nout = %s/runs\nprogress = lines\n%s", tmp, body);
    rt_write(path, text);
    return path;
}

Test(cli, version_and_help)
{
    rt_proc r = LABRUN("--version");
    cr_assert_eq(r.code, 0);
    char want[128];
    snprintf(want, sizeof want, "labrun %s (library %s, plugin ABI %d)\n", LAB_VERSION, LAB_VERSION, LAB_PLUGIN_ABI);
    cr_assert_str_eq(r.out, want);
    rt_proc_free(&r);
    r = LABRUN("--help");
    cr_assert_eq(r.code, 0);
    cr_assert(strstr(r.out, "usage: labrun <plugin> <experiment.ini> [section.key=value ...]"), "%s", r.out);
    cr_assert(strstr(r.out, "exit status: 0 success, 1 run failed, 2 usage or configuration error"), "%s", r.out);
    rt_proc_free(&r);
    const char *noargs[] = {labrun(), NULL};
    r = rt_run(noargs);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "usage: labrun"), "%s", r.err);
    rt_proc_free(&r);
    r = LABRUN("--frobnicate");
    cr_assert_eq(r.code, 2);
    cr_assert_str_eq(r.err, "labrun: unknown option --frobnicate\n(labrun --help shows the usage)\n");
    rt_proc_free(&r);
}

Test(cli, list)
{
    use_fixtures();
    rt_proc r = LABRUN("list");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "  good           1.2      fixture: linear regression exercising the whole context\n"),
              "%s", r.out);
    cr_assert(strstr(r.out, "  wrong_abi      -        (cannot be loaded: plugin: "), "%s", r.out);
    cr_assert(strstr(r.out, "built for plugin ABI 3, but this labrun speaks ABI 2"), "%s", r.out);
    cr_assert(strstr(r.out, "\nsearched: "), "%s", r.out);
    rt_proc_free(&r);
    r = LABRUN("list", "extra");
    cr_assert_eq(r.code, 2);
    rt_proc_free(&r);
}

Test(cli, plugin_help_prints_the_schema)
{
    use_fixtures();
    rt_proc r = LABRUN("good", "--help");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "good 1.2 — fixture: linear regression exercising the whole context\n", 66) == 0, "%s",
              r.out);
    cr_assert(strstr(r.out, "  KEY                    TYPE       DEFAULT      RANGE / CHOICES          HELP\n[train]\n"
                            "  epochs                 int        3            [1, 1000]                passes over the "
                            "training set\n"),
              "%s", r.out);
    cr_assert(strstr(r.out, "  optimizer              enum       sgd          sgd|adam                 optimizer\n"),
              "%s", r.out);
    cr_assert(strstr(r.out, "  hidden                 int list   4, 3         [1, 1000]                reported as "
                            "hidden_sum\n"),
              "%s", r.out);
    cr_assert(strstr(r.out, "keys of every run:\n"), "%s", r.out);
    cr_assert(strstr(r.out, "  seeds                  int        1            [1, 1000]"), "%s", r.out);
    rt_proc_free(&r);
    r = LABRUN("nonesuch", "--help");
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "labrun: error: plugin 'nonesuch' not found"), "%s", r.err);
    rt_proc_free(&r);
}

Test(cli, devices)
{
    rt_proc r = LABRUN("devices");
    cr_assert_eq(r.code, 0);
    cr_assert(strncmp(r.out, "cpu      ", 9) == 0, "%s", r.out);
    if (lab_cuda_device_count() == 0) {
        /* One line with a reason after "none: ". */
        const char *c = strstr(r.out, "\ncuda     none: ");
        cr_assert(c && strlen(c) > 20 && strchr(c + 1, '\n') == c + strlen(c) - 1, "%s", r.out);
    } else {
        cr_assert(strstr(r.out, "\ncuda:0   "), "%s", r.out);
    }
    rt_proc_free(&r);
}

Test(cli, check_validates_without_running)
{
    use_fixtures();
    char *tmp = rt_tmpdir();
    char *ok = write_exp(tmp, "ok.ini", "seeds = 2\ndevice = cpu\n[train]\nepochs = 2\n");
    rt_proc r = LABRUN("check", "good", ok);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char want[PATH_MAX + 128];
    snprintf(want, sizeof want, "ok: %s is valid for good 1.2 (2 trials: 1 grid point x 2 seeds on cpu)\n", ok);
    cr_assert_str_eq(r.out, want);
    rt_proc_free(&r);
    char runs[PATH_MAX + 8];
    snprintf(runs, sizeof runs, "%s/runs", tmp);
    cr_assert(!rt_exists(runs), "check must not run anything");

    char *bad = write_exp(tmp, "bad.ini", "[train]\nlrr = 0.1\n");
    r = LABRUN("check", "good", bad);
    cr_assert_eq(r.code, 2);
    snprintf(want, sizeof want, "labrun: error: %s:5: unknown key train.lrr (did you mean train.lr?)\n", bad);
    cr_assert_str_eq(r.err, want);
    rt_proc_free(&r);
    r = LABRUN("check", "good", ok, "train.epochs=0");
    cr_assert_eq(r.code, 2);
    cr_assert_str_eq(
        r.err, "labrun: error: command line: train.epochs = \"0\": out of range, expected an integer in [1, 1000]\n");
    rt_proc_free(&r);
    r = LABRUN("check", "good", ok, "stray");
    cr_assert_eq(r.code, 2);
    cr_assert_str_eq(r.err, "labrun: unexpected argument \"stray\": overrides are section.key=value\n"
                            "(labrun --help shows the usage)\n");
    rt_proc_free(&r);
    r = LABRUN("check", "good", "/nonexistent.ini");
    cr_assert_eq(r.code, 2);
    cr_assert_str_eq(r.err, "labrun: error: /nonexistent.ini: cannot open: No such file or directory\n");
    rt_proc_free(&r);
    r = LABRUN("check", "good");
    cr_assert_eq(r.code, 2);
    rt_proc_free(&r);
    free(ok);
    free(bad);
    rt_rmtree(tmp);
}

Test(cli, run_with_overrides_and_sweep)
{
    use_fixtures();
    char *tmp = rt_tmpdir();
    char *exp = write_exp(tmp, "toy.ini", "[train]\nepochs = 3\nsteps = 2\n");
    rt_proc r = LABRUN("good", exp, "train.epochs=1", "data.name=abcde", "sweep.model.hidden=1,2 | 5");
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "# good: toy\n"), "%s", r.out);
    cr_assert(strstr(r.out, "| model.hidden | metric | ours |\n"), "%s", r.out);
    cr_assert(strstr(r.out, "| 1,2 | hidden_sum | 3 |\n"), "%s", r.out);
    cr_assert(strstr(r.out, "| 5 | hidden_sum | 5 |\n"), "%s", r.out);
    cr_assert(strstr(r.out, "| 5 | name_len | 5 |\n"), "%s", r.out);
    cr_assert(strstr(r.err, "[p1] trial 2/2: model.hidden=5 seed 0\n"), "%s", r.err);
    cr_assert(strstr(r.err, "finished in "), "%s", r.err);
    rt_proc_free(&r);
    char parent[PATH_MAX + 32], m[PATH_MAX + 64];
    snprintf(parent, sizeof parent, "%s/runs/good/toy", tmp);
    char *dir = rt_only_subdir(parent);
    snprintf(m, sizeof m, "%s/p0/metrics.jsonl", dir);
    cr_assert_eq(rt_count_lines(m), 1 * 2 + 1, "train.epochs=1 overrides the file's 3");
    /* The recorded config re-runs as is: same command, same numbers. */
    char cfg[PATH_MAX + 32];
    snprintf(cfg, sizeof cfg, "%s/config.ini", dir);
    r = LABRUN("good", cfg);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "# good: toy\n") && strstr(r.out, "| 5 | name_len | 5 |\n"), "%s", r.out);
    rt_proc_free(&r);
    free(dir);
    free(exp);
    rt_rmtree(tmp);
}

Test(cli, failed_run_exits_1)
{
    use_fixtures();
    char *tmp = rt_tmpdir();
    char *exp = write_exp(tmp, "f.ini", "");
    rt_proc r = LABRUN("fails", exp);
    cr_assert_eq(r.code, 1);
    cr_assert(strstr(r.err, "error: plugin fails failed: fails: data/missing.idx: no such file (fixture)\n"), "%s",
              r.err);
    cr_assert(strstr(r.err, "run failed after "), "%s", r.err);
    cr_assert_str_eq(r.out, "");
    rt_proc_free(&r);
    r = LABRUN("wrong_abi", exp);
    cr_assert_eq(r.code, 2);
    cr_assert(strstr(r.err, "labrun: error: plugin: ") && strstr(r.err, "built for plugin ABI 3"), "%s", r.err);
    rt_proc_free(&r);
    free(exp);
    rt_rmtree(tmp);
}

Test(cli, config_error_after_run_exits_2)
{
    use_fixtures();
    char *tmp = rt_tmpdir();
    char *exp = write_exp(tmp, "u.ini", "[train]\nepochs = 1\nsteps = 1\noptimizer = adam\nmomentum = 0.9\n");
    rt_proc r = LABRUN("good", exp);
    cr_assert_eq(r.code, 2);
    char want[PATH_MAX + 200];
    snprintf(want, sizeof want, "error: %s:8: train.momentum = 0.9 was never read by the plugin", exp);
    cr_assert(strstr(r.err, want), "%s", r.err);
    rt_proc_free(&r);
    free(exp);
    rt_rmtree(tmp);
}

Test(cli, plot)
{
    use_fixtures();
    char *tmp = rt_tmpdir();
    char *exp = write_exp(tmp, "p.ini", "seeds = 2\n[train]\nepochs = 2\nsteps = 2\n");
    rt_proc r = LABRUN("good", exp);
    cr_assert_eq(r.code, 0, "%s", r.err);
    rt_proc_free(&r);
    char parent[PATH_MAX + 32], f[PATH_MAX + 64];
    snprintf(parent, sizeof parent, "%s/runs/good/p", tmp);
    char *dir = rt_only_subdir(parent);
    snprintf(f, sizeof f, "%s/plots", dir);
    rt_rmtree(strdup(f)); /* the run drew them already; draw again */
    r = LABRUN("plot", dir);
    cr_assert_eq(r.code, 0, "%s", r.err);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "2 figures (png and svg) in %s/plots\n", dir);
    cr_assert_str_eq(r.out, want);
    rt_proc_free(&r);
    const char *files[] = {"loss.png", "loss.svg", "w0.png", "w0.svg"};
    for (int i = 0; i < 4; i++) {
        snprintf(f, sizeof f, "%s/plots/%s", dir, files[i]);
        char *t = rt_read(f);
        cr_assert_not_null(t, "%s missing", f);
        if (i % 2 == 0)
            cr_assert(memcmp(t, "\x89PNG", 4) == 0, "%s is not a PNG", f);
        else
            cr_assert(strstr(t, "<svg"), "%s is not an SVG", f);
        free(t);
    }
    /* Without gnuplot: a plain error, exit 1. */
    setenv("PATH", "/nonexistent", 1);
    r = LABRUN("plot", dir);
    cr_assert_eq(r.code, 1);
    snprintf(want, sizeof want,
             "labrun: error: plot: gnuplot not found in PATH; install it (Debian/Ubuntu: apt-get install "
             "gnuplot-nox) and run `labrun plot %s` again\n",
             dir);
    cr_assert_str_eq(r.err, want);
    rt_proc_free(&r);
    r = LABRUN("plot", "/nonexistent");
    cr_assert_eq(r.code, 1);
    cr_assert_str_eq(r.err, "labrun: error: plot: /nonexistent is not a directory\n");
    rt_proc_free(&r);
    free(dir);
    free(exp);
    rt_rmtree(tmp);
}

/* Start a slow run, signal it once it has trained a few steps, check it
 * stops with 130 and a checkpoint, resume it, and compare the final numbers
 * with an uninterrupted run. */
static void interrupt_and_resume(int sig)
{
    use_fixtures();
    char *tmp = rt_tmpdir();
    char *exp = write_exp(tmp, "s.ini", "[train]\nepochs = 3\nsteps = 10\noptimizer = adam\nlr = 0.05\n");
    rt_proc r = LABRUN("good", exp, "run.name=full");
    cr_assert_eq(r.code, 0, "%s", r.err);
    rt_proc_free(&r);

    char out[PATH_MAX + 16], err[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/out.txt", tmp);
    snprintf(err, sizeof err, "%s/err.txt", tmp);
    pid_t pid = rt_spawn((const char *[]){labrun(), "good", exp, "run.name=cut", "train.step_ms=30", NULL}, out, err);
    char parent[PATH_MAX + 32], metrics[PATH_MAX + 64];
    snprintf(parent, sizeof parent, "%s/runs/good/cut", tmp);
    /* Wait for the run directory and a few metrics lines (up to 10 s). */
    char *dir = NULL;
    for (int i = 0; i < 1000 && !dir; i++) {
        usleep(10000);
        if (!rt_exists(parent)) continue;
        char *d = rt_only_subdir(parent);
        snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", d);
        if (rt_count_lines(metrics) >= 4)
            dir = d;
        else
            free(d);
    }
    cr_assert_not_null(dir, "the run did not start");
    kill(pid, sig);
    int code = rt_wait(pid);
    char *e = rt_read(err);
    cr_assert_eq(code, 130, "exit %d, stderr:\n%s", code, e);
    cr_assert(strstr(e, "labrun: stopping: finishing the current step and saving a checkpoint"), "%s", e);
    char want[3 * PATH_MAX];
    snprintf(want, sizeof want, "continue with: labrun good %s/config.ini run.resume=%s\n", dir, dir);
    cr_assert(strstr(e, want), "%s", e);
    free(e);
    int lines = rt_count_lines(metrics);
    cr_assert(lines < 3 * 10 + 3, "the run was not interrupted (%d metrics lines)", lines);

    char cfg[PATH_MAX + 32], res[PATH_MAX + 32];
    snprintf(cfg, sizeof cfg, "%s/config.ini", dir);
    snprintf(res, sizeof res, "run.resume=%s", dir);
    r = LABRUN("good", cfg, res);
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.err, "resumed from "), "%s", r.err);
    rt_proc_free(&r);
    cr_assert_eq(rt_count_lines(metrics), 3 * 10 + 3, "resumed metrics.jsonl repeats or misses lines");

    snprintf(parent, sizeof parent, "%s/runs/good/full", tmp);
    char *full = rt_only_subdir(parent), p1[PATH_MAX + 32], p2[PATH_MAX + 32];
    snprintf(p1, sizeof p1, "%s/results.csv", full);
    snprintf(p2, sizeof p2, "%s/results.csv", dir);
    char *a = rt_read(p1), *b = rt_read(p2);
    cr_assert_str_eq(a, b, "uninterrupted:\n%s\nresumed:\n%s", a, b);
    free(a);
    free(b);
    free(full);
    free(dir);
    free(exp);
    rt_rmtree(tmp);
}

Test(cli, sigint_then_resume_gives_the_same_numbers, .timeout = 60) { interrupt_and_resume(SIGINT); }
Test(cli, sigterm_then_resume_gives_the_same_numbers, .timeout = 60) { interrupt_and_resume(SIGTERM); }

/* make install's script, then a plugin built out of tree with pkg-config
 * and run by the installed labrun. */
Test(cli, install_and_out_of_tree_plugin, .timeout = 120)
{
    char *tmp = rt_tmpdir();
    char cmd[8 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "cd '%s' && ./tools/install.sh '%s/prefix' '%s' > '%s/install.log' 2>&1", rt_root(), tmp,
             rt_build(), tmp);
    int rc = system(cmd);
    snprintf(cmd, sizeof cmd, "%s/install.log", tmp);
    char *log = rt_read(cmd);
    cr_assert_eq(rc, 0, "install.sh failed:\n%s", log ? log : "");
    free(log);
    /* The template, copied out of the tree and renamed, as a newcomer would. */
    snprintf(
        cmd, sizeof cmd,
        "set -e; cd '%s'; sed 's/\\.name = \"template\"/.name = \"mine\"/' '%s/plugins/template/template.c' > mine.c; "
        "PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' cc mine.c $(PKG_CONFIG_PATH='%s/prefix/lib/pkgconfig' "
        "pkg-config --cflags --libs lab) -shared -fPIC -o lab_mine.so > build.log 2>&1",
        tmp, rt_root(), tmp, tmp);
    rc = system(cmd);
    snprintf(cmd, sizeof cmd, "%s/build.log", tmp);
    log = rt_read(cmd);
    cr_assert_eq(rc, 0, "out-of-tree build failed:\n%s", log ? log : "");
    free(log);
    unsetenv("LAB_PLUGIN_PATH");
    char bin[PATH_MAX + 32], so[PATH_MAX + 32];
    snprintf(bin, sizeof bin, "%s/prefix/bin/labrun", tmp);
    snprintf(so, sizeof so, "%s/lab_mine.so", tmp);
    rt_proc r = rt_run((const char *[]){bin, "list", NULL});
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strstr(r.out, "  template       1.0      "), "the installed labrun finds the installed plugins:\n%s",
              r.out);
    rt_proc_free(&r);
    r = rt_run((const char *[]){bin, so, "--help", NULL});
    cr_assert_eq(r.code, 0, "%s", r.err);
    cr_assert(strncmp(r.out, "mine 1.0 — ", 11) == 0, "%s", r.out);
    cr_assert(strstr(r.out, "  hidden                 int        256"), "%s", r.out);
    rt_proc_free(&r);
    /* Its exported symbols: the entry point only. */
    snprintf(cmd, sizeof cmd, "nm -D --defined-only '%s' | grep -c ' T ' | grep -qx 1", so);
    cr_assert_eq(system(cmd), 0, "the plugin exports more than lab_plugin_entry");
    rt_rmtree(tmp);
}
