/* lab/plugin.h — experiments as dlopen()ed plugins.
 *
 * A plugin is a shared object, lab_<name>.so, exporting exactly one symbol,
 * lab_plugin_entry(), that returns a const descriptor: who it is, the keys
 * it reads (its schema, see config.h) and its run() function. The whole
 * boilerplate of a plugin:
 *
 *     #include <lab/lab.h>
 *
 *     static const lab_param params[] = {
 *         LAB_PARAM_INT("train", "epochs", "10", 1, 1000, "passes over the training set"),
 *     };
 *
 *     static int run(lab_ctx *ctx)
 *     {
 *         int64_t epochs = lab_cfg_get_int(lab_ctx_cfg(ctx), "train.epochs");
 *         ...                               // see run.h for what ctx offers
 *         lab_ctx_result(ctx, "test_acc", acc);
 *         return 0;                         // -1 with lab_error_set(...) on failure
 *     }
 *
 *     static const lab_plugin plugin = {
 *         LAB_PLUGIN_HEADER,
 *         .name = "mine", .version = "1.0", .summary = "what it reproduces, in one line",
 *         .params = params, .n_params = LAB_COUNT(params),
 *         .run = run,
 *     };
 *     LAB_PLUGIN(plugin)
 *
 * Build it with -fvisibility=hidden (the Makefile and `pkg-config lab` do)
 * so lab_plugin_entry is its only export:
 *
 *     cc $(pkg-config --cflags --libs lab) -fvisibility=hidden -shared -fPIC mine.c -o lab_mine.so
 *
 * ABI rules (as SQLite's and Redis modules'): the descriptor begins with
 * abi_version and struct_size and only ever gains fields at its end. The
 * loader refuses another abi_version and a struct_size smaller than the
 * fields it needs, with a message naming the file, never a crash. A new
 * field the plugin's struct_size does not cover reads as zero.
 */
#ifndef LAB_PLUGIN_H
#define LAB_PLUGIN_H

#include <stdint.h>

#include "config.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when a descriptor field changes meaning or the library's API
 * breaks for compiled plugins (2: lab_loader_cfg grew a device field); never
 * for fields appended at the end of lab_plugin. */
#define LAB_PLUGIN_ABI 2

typedef struct lab_ctx lab_ctx; /* see run.h */

typedef struct lab_plugin {
    uint32_t abi_version;   /* LAB_PLUGIN_ABI the plugin was compiled with */
    uint32_t struct_size;   /* sizeof(lab_plugin) the plugin was compiled with */
    const char *name;       /* "template": lab_template.so, runs/template/... */
    const char *version;    /* the plugin's own version, "1.0" */
    const char *summary;    /* one line for `labrun list` */
    const lab_param *params; /* schema: every key run() reads outside [run] */
    int n_params;
    /* One trial (one grid point, one seed). 0 on success; -1 with
     * lab_error_set() on failure. When lab_ctx_should_stop() turns true it
     * saves a checkpoint and returns (0 or -1: labrun reports the stop). */
    int (*run)(lab_ctx *ctx);
    /* ABI 1 ends here; later fields are appended below. */
} lab_plugin;

#define LAB_PLUGIN_HEADER .abi_version = LAB_PLUGIN_ABI, .struct_size = (uint32_t)sizeof(lab_plugin)

#ifdef __cplusplus
#define LAB_PLUGIN_EXTERN_C extern "C"
#else
#define LAB_PLUGIN_EXTERN_C
#endif

/* Export `desc` (a static const lab_plugin) as the plugin's entry point. */
#define LAB_PLUGIN(desc)                                                                           \
    LAB_PLUGIN_EXTERN_C __attribute__((visibility("default"))) const lab_plugin *lab_plugin_entry(void); \
    LAB_PLUGIN_EXTERN_C __attribute__((visibility("default"))) const lab_plugin *lab_plugin_entry(void) \
    {                                                                                              \
        return &(desc);                                                                            \
    }

/* The one symbol the loader looks up. */
#define LAB_PLUGIN_ENTRY_SYMBOL "lab_plugin_entry"

/* --- loading (labrun does this; tests and other hosts may too) ---------- */

/* A loaded plugin. */
typedef struct lab_plugin_handle {
    const lab_plugin *desc; /* the loader's copy of the descriptor (fields past the plugin's
                               struct_size read 0); its strings and schema point into the
                               library: valid until unload */
    char *path;             /* the file loaded (owned) */
    void *dl;               /* dlopen handle */
} lab_plugin_handle;

/* `name_or_path` is a path when it contains '/' or ends in ".so"; otherwise
 * lab_<name>.so is searched in, in order: each directory of
 * $LAB_PLUGIN_PATH (colon-separated), <labrun's dir>/../plugins (the build
 * tree), <labrun's dir>/../lib/labrun/plugins and
 * LAB_INSTALL_PREFIX/lib/labrun/plugins (an installed tree). The library is
 * opened with dlopen(RTLD_NOW | RTLD_LOCAL) and its descriptor checked: ABI
 * version, struct size, name (it must match the file name when found by
 * name), run(), and the schema (lab_cfg_schema_check). On any failure:
 * NULL, lab_error() naming the path, dlerror() text when there is one, and
 * the reason; the library is closed again. */
lab_plugin_handle *lab_plugin_load(const char *name_or_path);
void lab_plugin_unload(lab_plugin_handle *h);

/* The directories searched, in order, as a malloc'd NULL-terminated array of
 * malloc'd strings (free with lab_plugin_dirs_free). */
char **lab_plugin_dirs(void);
void lab_plugin_dirs_free(char **dirs);

/* Every lab_*.so in the search directories (first occurrence of a name
 * wins), sorted by name: malloc'd NULL-terminated array of paths (free with
 * lab_plugin_dirs_free). */
char **lab_plugin_find_all(void);

#ifdef __cplusplus
}
#endif
#endif
