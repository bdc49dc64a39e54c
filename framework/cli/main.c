/* labrun — the command line. Only this file decides exit codes:
 *   0 success, 1 a run failed, 2 usage or configuration error,
 *   130 interrupted by SIGINT/SIGTERM (resumable with run.resume).
 *
 * Tested in tests/unit/test_cli.c, which runs build/bin/labrun as a child
 * process for every subcommand and checks exit codes and messages. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lab/cuda.h"
#include "lab/lab.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

static const char usage_text[] =
    "usage: labrun <plugin> <experiment.ini> [section.key=value ...]  run an experiment\n"
    "       labrun check <plugin> <experiment.ini> [section.key=value ...]\n"
    "                                      validate the experiment without running it\n"
    "       labrun <plugin> --help         the plugin's keys: section, key, type, default, range, help\n"
    "       labrun list                    plugins found, with version and summary\n"
    "       labrun devices                 the cpu and CUDA devices labrun can use\n"
    "       labrun plot <run dir>          metrics.jsonl curves to PNG and SVG (needs gnuplot)\n"
    "       labrun --version | --help\n"
    "\n"
    "A run writes runs/<plugin>/<experiment>/<timestamp>/ (see run.out): config.ini,\n"
    "log.txt, metrics.jsonl, results.csv, results.md, checkpoints/, plots/.\n"
    "section.key=value overrides the file; sweep.train.lr=1e-3,3e-4 sweeps a key.\n"
    "Ctrl-C saves a checkpoint and stops; continue with run.resume=<run dir>.\n"
    "Plugins are lab_<name>.so in $LAB_PLUGIN_PATH, <labrun's dir>/../plugins,\n"
    "<labrun's dir>/../lib/labrun/plugins or " LAB_INSTALL_PREFIX "/lib/labrun/plugins, or a path to a .so.\n"
    "\n"
    "exit status: 0 success, 1 run failed, 2 usage or configuration error,\n"
    "             130 interrupted (resumable)\n";

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "labrun: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(labrun --help shows the usage)\n");
    return EXIT_USAGE;
}

static int error(int code)
{
    fprintf(stderr, "labrun: error: %s\n", lab_error());
    return code;
}

/* --- list, devices, --help ------------------------------------------------------- */

static int cmd_list(void)
{
    char **all = lab_plugin_find_all();
    char **dirs = lab_plugin_dirs();
    if (!all || !dirs) {
        lab_plugin_dirs_free(all);
        lab_plugin_dirs_free(dirs);
        return error(EXIT_FAILED);
    }
    int n = 0;
    for (char **p = all; *p; p++, n++) {
        const char *base = strrchr(*p, '/') + 1 + 4;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(strlen(base) - 3), base);
        lab_plugin_handle *h = lab_plugin_load(name);
        if (h) {
            printf("  %-14s %-8s %s\n", h->desc->name, h->desc->version, h->desc->summary);
            lab_plugin_unload(h);
        } else {
            printf("  %-14s %-8s (cannot be loaded: %s)\n", name, "-", lab_error());
        }
    }
    if (n == 0) printf("no plugins found\n");
    printf("searched:");
    for (char **d = dirs; *d; d++) printf(" %s", *d);
    printf("\n");
    lab_plugin_dirs_free(all);
    lab_plugin_dirs_free(dirs);
    return EXIT_OK;
}

static int cmd_devices(void)
{
    int cores = omp_get_num_procs();
    printf("cpu      %d core%s, %d OpenMP thread%s by default\n", cores, cores == 1 ? "" : "s", lab_get_num_threads(),
           lab_get_num_threads() == 1 ? "" : "s");
    int n = lab_cuda_device_count();
    if (n <= 0) {
        const char *why = lab_cuda_unavailable_reason();
        printf("cuda     none: %s\n", why && *why ? why : "no CUDA device was found");
        return EXIT_OK;
    }
    for (int i = 0; i < n; i++) {
        char info[256];
        if (lab_cuda_device_info(i, info, sizeof info) < 0) snprintf(info, sizeof info, "(%s)", lab_error());
        printf("cuda:%-3d %s\n", i, info);
    }
    return EXIT_OK;
}

static int cmd_plugin_help(const char *name)
{
    lab_plugin_handle *h = lab_plugin_load(name);
    if (!h) return error(EXIT_USAGE);
    const lab_plugin *p = h->desc;
    printf("%s %s — %s\n", p->name, p->version, p->summary);
    printf("loaded from %s\n\n", h->path);
    printf("usage: labrun %s <experiment.ini> [section.key=value ...]\n\n", p->name);
    if (p->n_params > 0) {
        printf("keys of %s:\n", p->name);
        lab_cfg_print_schema(stdout, p->params, p->n_params);
    } else {
        printf("%s declares no keys.\n", p->name);
    }
    int nf;
    const lab_param *fw = lab_cfg_framework_params(&nf);
    printf("\nkeys of every run:\n");
    lab_cfg_print_schema(stdout, fw, nf);
    printf("[paper]  <metric> = <number>: the paper's value, shown beside ours in results.md\n");
    printf("[sweep]  <section>.<key> = v1, v2, ...: run the grid (times run.seeds); '|' separates list values\n");
    lab_plugin_unload(h);
    return EXIT_OK;
}

/* --- check and run ------------------------------------------------------------------ */

/* Load the plugin and the experiment, apply overrides, validate. */
static int prepare(const char *plugin, const char *ini, int nover, char **over, lab_plugin_handle **hp, lab_cfg **cp)
{
    for (int i = 0; i < nover; i++)
        if (!strchr(over[i], '='))
            return usage_error("unexpected argument \"%s\": overrides are section.key=value", over[i]);
    lab_plugin_handle *h = lab_plugin_load(plugin);
    if (!h) return error(EXIT_USAGE);
    lab_cfg *c = lab_cfg_load(ini);
    int rc = c ? 0 : -1;
    for (int i = 0; i < nover && rc == 0; i++) rc = lab_cfg_override(c, over[i]);
    if (rc == 0) rc = lab_cfg_validate(c, h->desc->params, h->desc->n_params);
    if (rc < 0) {
        lab_cfg_free(c);
        lab_plugin_unload(h);
        return error(EXIT_USAGE);
    }
    *hp = h;
    *cp = c;
    return EXIT_OK;
}

static int cmd_check(int argc, char **argv)
{
    if (argc < 4)
        return usage_error("%s", "check needs a plugin and an experiment: labrun check <plugin> <experiment.ini>");
    lab_plugin_handle *h;
    lab_cfg *c;
    int rc = prepare(argv[2], argv[3], argc - 4, argv + 4, &h, &c);
    if (rc != EXIT_OK) return rc;
    char summary[256];
    if (lab_run_check(h, c, summary, sizeof summary) < 0) {
        rc = error(EXIT_USAGE);
    } else {
        printf("ok: %s is valid for %s %s (%s)\n", argv[3], h->desc->name, h->desc->version, summary);
    }
    lab_cfg_free(c);
    lab_plugin_unload(h);
    return rc;
}

static char *join_command(int argc, char **argv)
{
    size_t n = 1;
    for (int i = 0; i < argc; i++) n += strlen(argv[i]) * 2 + 3;
    char *s = malloc(n), *p = s;
    if (!s) return NULL;
    for (int i = 0; i < argc; i++) {
        if (i) *p++ = ' ';
        int quote = argv[i][0] == '\0' || strpbrk(argv[i], " \t'\"\\$`;&|<>()*?");
        if (quote) *p++ = '\'';
        for (const char *a = argv[i]; *a; a++) {
            if (*a == '\'') {
                memcpy(p, "'\\''", 4);
                p += 4;
            } else {
                *p++ = *a;
            }
        }
        if (quote) *p++ = '\'';
    }
    *p = '\0';
    return s;
}

static int cmd_run(int argc, char **argv)
{
    lab_plugin_handle *h;
    lab_cfg *c;
    int rc = prepare(argv[1], argv[2], argc - 3, argv + 3, &h, &c);
    if (rc != EXIT_OK) return rc;
    char *cmd = join_command(argc, argv);
    lab_run_options opt = {.experiment = argv[2], .command = cmd, .table = stdout};
    lab_run_handle_signals();
    lab_run_status st = lab_run_experiment(h, c, &opt, NULL, 0);
    free(cmd);
    lab_cfg_free(c);
    lab_plugin_unload(h);
    /* The runner has reported its errors (stderr and log.txt). */
    return (int)st;
}

static int cmd_plot(int argc, char **argv)
{
    if (argc != 3) return usage_error("%s", "plot needs one run directory: labrun plot <run dir>");
    int n = 0;
    if (lab_run_plot(argv[2], &n) < 0) return error(EXIT_FAILED);
    printf("%d figure%s (png and svg) in %s/plots\n", n, n == 1 ? "" : "s", argv[2]);
    return EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *a = argv[1];
    if (!strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help")) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
        printf("labrun %s (library %s, plugin ABI %d)\n", LAB_VERSION, lab_version(), LAB_PLUGIN_ABI);
        return EXIT_OK;
    }
    if (!strcmp(a, "list")) return argc == 2 ? cmd_list() : usage_error("%s", "list takes no arguments");
    if (!strcmp(a, "devices")) return argc == 2 ? cmd_devices() : usage_error("%s", "devices takes no arguments");
    if (!strcmp(a, "check")) return cmd_check(argc, argv);
    if (!strcmp(a, "plot")) return cmd_plot(argc, argv);
    if (a[0] == '-') return usage_error("unknown option %s", a);
    if (argc >= 3 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) return cmd_plugin_help(a);
    if (argc < 3)
        return usage_error("%s needs an experiment file: labrun <plugin> <experiment.ini> [section.key=value ...]", a);
    return cmd_run(argc, argv);
}
