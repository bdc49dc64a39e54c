/* The plugin loader: search, dlopen(RTLD_NOW | RTLD_LOCAL), one fixed
 * symbol, and a check of everything in the descriptor before any of it is
 * used. Every failure names the path, gives dlerror()'s text when there is
 * one and the reason, and closes the library again (as Redis does for
 * modules), so a bad .so is a message, never a crash.
 *
 * Tested in tests/unit/test_plugin.c with the fixture plugins of
 * tests/fixtures/plugins (good, wrong ABI, missing entry, small struct, bad
 * schema, misnamed) and a text file posing as a .so. */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../config/config_int.h"
#include "lab/error.h"
#include "lab/plugin.h"

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int push(char ***v, int *n, const char *s)
{
    /* Keep each directory once (by its real path when it exists). */
    char real[PATH_MAX];
    const char *key = realpath(s, real) ? real : s;
    for (int i = 0; i < *n; i++) {
        char r2[PATH_MAX];
        const char *k2 = realpath((*v)[i], r2) ? r2 : (*v)[i];
        if (strcmp(k2, key) == 0) return 0;
    }
    char **nv = realloc(*v, (size_t)(*n + 2) * sizeof *nv);
    if (!nv) return -1;
    *v = nv;
    if (!(nv[*n] = strdup(key))) return -1; /* canonical when it exists: clearer in messages */
    nv[++*n] = NULL;
    return 0;
}

void lab_plugin_dirs_free(char **dirs)
{
    if (!dirs) return;
    for (char **d = dirs; *d; d++) free(*d);
    free(dirs);
}

char **lab_plugin_dirs(void)
{
    char **v = calloc(1, sizeof *v);
    int n = 0;
    if (!v) goto oom;
    const char *env = getenv("LAB_PLUGIN_PATH");
    if (env) {
        char *copy = strdup(env), *save = NULL;
        if (!copy) goto oom;
        for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
            if (*t && push(&v, &n, t) < 0) {
                free(copy);
                goto oom;
            }
        free(copy);
    }
    char exe[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len > 0) {
        exe[len] = '\0';
        /* <prefix>/bin/labrun -> <prefix>, spelled without "..". */
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char d[PATH_MAX + 32];
            snprintf(d, sizeof d, "%s/plugins", exe);
            if (push(&v, &n, d) < 0) goto oom;
            snprintf(d, sizeof d, "%s/lib/labrun/plugins", exe);
            if (push(&v, &n, d) < 0) goto oom;
        }
    }
#ifdef LAB_INSTALL_PREFIX
    if (push(&v, &n, LAB_INSTALL_PREFIX "/lib/labrun/plugins") < 0) goto oom;
#endif
    return v;
oom:
    lab_plugin_dirs_free(v);
    lab_error_set("plugin: out of host memory");
    return NULL;
}

static int cmp_base(const void *a, const void *b)
{
    const char *x = strrchr(*(char *const *)a, '/'), *y = strrchr(*(char *const *)b, '/');
    return strcmp(x ? x + 1 : *(char *const *)a, y ? y + 1 : *(char *const *)b);
}

char **lab_plugin_find_all(void)
{
    char **dirs = lab_plugin_dirs();
    if (!dirs) return NULL;
    char **out = calloc(1, sizeof *out);
    int n = 0;
    if (!out) goto oom;
    for (char **d = dirs; *d; d++) {
        DIR *dp = opendir(*d);
        if (!dp) continue;
        struct dirent *de;
        while ((de = readdir(dp))) {
            size_t l = strlen(de->d_name);
            if (l < 8 || strncmp(de->d_name, "lab_", 4) != 0 || strcmp(de->d_name + l - 3, ".so") != 0) continue;
            int seen = 0;
            for (int i = 0; i < n && !seen; i++) seen = strcmp(strrchr(out[i], '/') + 1, de->d_name) == 0;
            if (seen) continue;
            char p[PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", *d, de->d_name);
            if (!is_file(p)) continue;
            char **no = realloc(out, (size_t)(n + 2) * sizeof *no);
            if (!no || !(no[n] = strdup(p))) {
                if (no) out = no;
                closedir(dp);
                goto oom;
            }
            out = no;
            out[++n] = NULL;
        }
        closedir(dp);
    }
    lab_plugin_dirs_free(dirs);
    if (n > 1) qsort(out, (size_t)n, sizeof *out, cmp_base);
    return out;
oom:
    lab_plugin_dirs_free(dirs);
    lab_plugin_dirs_free(out);
    lab_error_set("plugin: out of host memory");
    return NULL;
}

void lab_plugin_unload(lab_plugin_handle *h)
{
    if (!h) return;
    free((void *)h->desc);
    if (h->dl) dlclose(h->dl);
    free(h->path);
    free(h);
}

static int valid_name(const char *s)
{
    if (!s || !*s) return 0;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) return 0;
    return 1;
}

/* The fields ABI 1 needs: everything up to and including run. */
#define ABI1_SIZE (offsetof(lab_plugin, run) + sizeof(((lab_plugin *)0)->run))

static lab_plugin_handle *load_path(const char *path, const char *expect)
{
    dlerror();
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *e = dlerror();
        lab_error_set("plugin: cannot load %s: %s", path, e ? e : "unknown dlopen error");
        return NULL;
    }
    dlerror();
    void *sym = dlsym(dl, LAB_PLUGIN_ENTRY_SYMBOL);
    if (!sym) {
        const char *e = dlerror();
        lab_error_set("plugin: %s does not export %s (%s): not a labrun plugin, or built without "
                      "LAB_PLUGIN(desc)",
                      path, LAB_PLUGIN_ENTRY_SYMBOL, e ? e : "symbol is NULL");
        dlclose(dl);
        return NULL;
    }
    const lab_plugin *(*entry)(void);
    *(void **)&entry = sym; /* POSIX: a data pointer from dlsym holds the function */
    const lab_plugin *d = entry();
    const char *why = NULL;
    char buf[512];
    if (!d) {
        why = "lab_plugin_entry() returned NULL";
    } else if (d->abi_version != LAB_PLUGIN_ABI) {
        snprintf(buf, sizeof buf,
                 "built for plugin ABI %u, but this labrun speaks ABI %d: rebuild the plugin against this "
                 "labrun's headers",
                 (unsigned)d->abi_version, LAB_PLUGIN_ABI);
        why = buf;
    } else if (d->struct_size < ABI1_SIZE) {
        snprintf(buf, sizeof buf,
                 "its descriptor is %u bytes, smaller than the %zu bytes of ABI %d (use LAB_PLUGIN_HEADER and "
                 "rebuild)",
                 (unsigned)d->struct_size, (size_t)ABI1_SIZE, LAB_PLUGIN_ABI);
        why = buf;
    }
    lab_plugin *copy = NULL;
    if (!why) {
        /* Our own copy, zero-filled beyond what the plugin was built with,
         * so fields appended after it was compiled read as 0. */
        copy = calloc(1, sizeof *copy);
        if (!copy) {
            dlclose(dl);
            lab_error_set("plugin: out of host memory");
            return NULL;
        }
        memcpy(copy, d, d->struct_size < sizeof *copy ? d->struct_size : sizeof *copy);
        copy->struct_size = (uint32_t)sizeof *copy;
        if (!copy->version) copy->version = "";
        if (!copy->summary) copy->summary = "";
        if (!valid_name(copy->name)) {
            snprintf(buf, sizeof buf, "its name \"%s\" is not a lowercase identifier ([a-z0-9_]+)",
                     copy->name ? copy->name : "(null)");
            why = buf;
        } else if (expect && strcmp(copy->name, expect) != 0) {
            snprintf(buf, sizeof buf,
                     "it calls itself '%s' but its file is lab_%s.so: set .name = \"%s\" in its descriptor (or "
                     "rename the file)",
                     copy->name, expect, expect);
            why = buf;
        } else if (!copy->run) {
            why = "its descriptor has no run function";
        } else {
            char who[300];
            snprintf(who, sizeof who, "plugin '%s'", copy->name);
            if (lab_cfg_schema_check(copy->params, copy->n_params, who) < 0) {
                snprintf(buf, sizeof buf, "%s", lab_error());
                why = buf;
            }
        }
    }
    if (why) {
        lab_error_set("plugin: %s: %s", path, why);
        free(copy);
        dlclose(dl);
        return NULL;
    }
    lab_plugin_handle *h = calloc(1, sizeof *h);
    if (!h || !(h->path = strdup(path))) {
        free(h);
        free(copy);
        dlclose(dl);
        lab_error_set("plugin: out of host memory");
        return NULL;
    }
    h->desc = copy;
    h->dl = dl;
    return h;
}

lab_plugin_handle *lab_plugin_load(const char *name_or_path)
{
    if (!name_or_path || !*name_or_path) {
        lab_error_set("plugin: no name given");
        return NULL;
    }
    size_t l = strlen(name_or_path);
    if (strchr(name_or_path, '/') || (l > 3 && strcmp(name_or_path + l - 3, ".so") == 0)) {
        if (!is_file(name_or_path)) {
            lab_error_set("plugin: %s: no such file", name_or_path);
            return NULL;
        }
        return load_path(name_or_path, NULL);
    }
    if (!valid_name(name_or_path)) {
        lab_error_set("plugin: \"%s\" is not a plugin name ([a-z0-9_]+) or a path to a .so", name_or_path);
        return NULL;
    }
    char **dirs = lab_plugin_dirs();
    if (!dirs) return NULL;
    lab_plugin_handle *h = NULL;
    int found = 0;
    for (char **d = dirs; *d && !found; d++) {
        char p[PATH_MAX + 300];
        snprintf(p, sizeof p, "%s/lab_%s.so", *d, name_or_path);
        if (!is_file(p)) continue;
        found = 1;
        h = load_path(p, name_or_path);
    }
    if (!found) {
        char list[1500] = "";
        for (char **d = dirs; *d; d++) {
            if (d != dirs) strncat(list, ", ", sizeof list - strlen(list) - 1);
            strncat(list, *d, sizeof list - strlen(list) - 1);
            if (!is_dir(*d)) strncat(list, " (missing)", sizeof list - strlen(list) - 1);
        }
        /* Suggest a near-miss among the plugins that do exist. */
        char **all = lab_plugin_find_all();
        const char *cands[256];
        char names[256][64];
        int n = 0;
        for (char **a = all; a && *a && n < 256; a++) {
            const char *b = strrchr(*a, '/') + 1 + 4;
            snprintf(names[n], sizeof names[n], "%.*s", (int)(strlen(b) - 3), b);
            cands[n] = names[n];
            n++;
        }
        const char *best = lab_cfg_suggest(name_or_path, cands, n);
        char hint[128] = "";
        if (best) snprintf(hint, sizeof hint, " (did you mean %s?)", best);
        lab_error_set("plugin '%s' not found%s: no lab_%s.so in %s; `labrun list` shows the plugins found, "
                      "LAB_PLUGIN_PATH adds directories, or give the path to the .so",
                      name_or_path, hint, name_or_path, list[0] ? list : "(no directories)");
        lab_plugin_dirs_free(all);
    }
    lab_plugin_dirs_free(dirs);
    return h;
}
