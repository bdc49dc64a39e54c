/* runtest.h — helpers shared by the tests of the plugin loader, the run
 * layer and labrun (test_plugin.c, test_run.c, test_cli.c): where the build
 * is, temporary directories, files, and child processes. */
#ifndef LAB_RUNTEST_H
#define LAB_RUNTEST_H

#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The build directory: this test binary is <build>/tests/unit/test_x. */
static inline const char *rt_build(void)
{
    static char dir[PATH_MAX];
    if (dir[0]) return dir;
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    cr_assert(n > 0, "readlink /proc/self/exe");
    dir[n] = '\0';
    for (int i = 0; i < 3; i++) {
        char *s = strrchr(dir, '/');
        cr_assert(s, "unexpected test binary path");
        *s = '\0';
    }
    return dir;
}

/* The source tree: the parent of the build directory. */
static inline const char *rt_root(void)
{
    static char dir[PATH_MAX];
    if (dir[0]) return dir;
    snprintf(dir, sizeof dir, "%s", rt_build());
    char *s = strrchr(dir, '/');
    cr_assert(s);
    *s = '\0';
    return dir;
}

static inline const char *rt_fixture(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/fixtures/lab_%s.so", rt_build(), name);
    return buf;
}

static inline char *rt_tmpdir(void)
{
    char *d = strdup("/tmp/labtest-XXXXXX");
    cr_assert(d && mkdtemp(d), "mkdtemp: %s", strerror(errno));
    return d;
}

static inline int rt_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static inline void rt_rmtree(char *dir)
{
    if (!dir) return;
    nftw(dir, rt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* The whole file (malloc'd, NUL-terminated) or NULL. */
static inline char *rt_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    cr_assert(b);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = '\0';
    fclose(f);
    return b;
}

static inline void rt_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static inline int rt_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static inline int rt_count_lines(const char *path)
{
    char *t = rt_read(path);
    if (!t) return -1;
    int n = 0;
    for (char *p = t; *p; p++) n += *p == '\n';
    free(t);
    return n;
}

/* The only subdirectory of dir (a run's timestamp directory), malloc'd. */
static inline char *rt_only_subdir(const char *dir)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "ls -1 '%s'", dir);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    char line[PATH_MAX], *found = NULL;
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        n++;
        free(found);
        found = malloc(strlen(dir) + strlen(line) + 2);
        sprintf(found, "%s/%s", dir, line);
    }
    pclose(p);
    cr_assert_eq(n, 1, "%s holds %d entries, expected one run", dir, n);
    return found;
}

/* A child process with stdout and stderr captured. */
typedef struct rt_proc {
    int code; /* exit status, or 128 + signal */
    char *out, *err;
} rt_proc;

static inline pid_t rt_spawn(const char *const *argv, const char *out_path, const char *err_path)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid;
    int e = posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    cr_assert_eq(e, 0, "cannot start %s: %s", argv[0], strerror(e));
    return pid;
}

static inline int rt_wait(pid_t pid)
{
    int ws;
    while (waitpid(pid, &ws, 0) < 0) cr_assert_eq(errno, EINTR);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

/* Run argv[0] (a path) to completion. */
static inline rt_proc rt_run(const char *const *argv)
{
    char out[64], err[64];
    snprintf(out, sizeof out, "/tmp/labtest-out-%d", (int)getpid());
    snprintf(err, sizeof err, "/tmp/labtest-err-%d", (int)getpid());
    rt_proc r;
    r.code = rt_wait(rt_spawn(argv, out, err));
    r.out = rt_read(out);
    r.err = rt_read(err);
    remove(out);
    remove(err);
    return r;
}

static inline void rt_proc_free(rt_proc *r)
{
    free(r->out);
    free(r->err);
}

/* The mean column of results.csv for `metric` at grid point `point`. */
static inline double rt_csv_mean(const char *csv, int point, const char *metric)
{
    char key[256];
    snprintf(key, sizeof key, ",%s,", metric);
    for (const char *line = csv; line && *line;) {
        const char *nl = strchr(line, '\n');
        if (atoi(line) == point && isdigit((unsigned char)line[0])) {
            const char *k = strstr(line, key);
            if (k && (!nl || k < nl)) {
                const char *p = k + strlen(key);
                p = strchr(p, ',') + 1; /* skip n */
                return strtod(p, NULL);
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    cr_assert_fail("no row for point %d metric %s in:\n%s", point, metric, csv);
    return 0;
}

#endif
