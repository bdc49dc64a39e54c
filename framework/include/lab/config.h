/* lab/config.h — experiments as strict, typed INI files.
 *
 * An experiment is an INI file. A plugin declares every key it reads in a
 * schema, with a type, a default and a range or a list of choices; the
 * framework owns [run], [paper] and [sweep]:
 *
 *     static const lab_param params[] = {
 *         LAB_PARAM_INT("train", "epochs", "10", 1, 1000, "passes over the training set"),
 *         LAB_PARAM_FLOAT("train", "lr", "1e-3", 0, 1, "Adam learning rate"),
 *         LAB_PARAM_ENUM("model", "act", "relu", "relu|gelu", "hidden activation"),
 *         LAB_PARAM_INTS("model", "hidden", "256, 128", 1, 65536, "hidden layer widths"),
 *     };
 *
 *     ; experiments/mine/small.ini
 *     [run]
 *     seeds = 3
 *     [train]
 *     epochs = 5
 *     [sweep]
 *     train.lr = 1e-3, 3e-4
 *
 *     lab_cfg *c = lab_cfg_load("experiments/mine/small.ini");
 *     if (!c || lab_cfg_override(c, "train.epochs=2") < 0 ||
 *         lab_cfg_validate(c, params, LAB_COUNT(params)) < 0)
 *         fprintf(stderr, "%s\n", lab_error());   // "small.ini:5: train.epochs = 0: ..."
 *     int64_t epochs = lab_cfg_get_int(c, "train.epochs");
 *
 * Strictness (the contract every plugin relies on):
 *   - Every key is validated against the schema before anything runs: an
 *     unknown section or key (with "did you mean" for near misses), a value of
 *     the wrong type, out of range or not among the choices, a key given twice,
 *     or a required key left out is an error naming the file, the line, the
 *     key, the bad value and what was expected.
 *   - After a run, a key the user set to something other than its default
 *     that the plugin never read is an error too (lab_cfg_check_use): it had no
 *     effect, which is what an experiment file must never silently allow.
 *   - Reading a key the schema does not declare, or with the getter of another
 *     type, is a plugin bug: the getter returns 0/NULL and lab_cfg_check_use
 *     reports it.
 *
 * Value syntax: integers in decimal; numbers as strtod reads them (1e-3);
 * booleans true/false, yes/no, on/off, 1/0; lists comma-separated
 * ("256, 128"). In [sweep], a key's alternatives are comma-separated
 * (train.lr = 1e-3, 3e-4), or '|'-separated for list-valued keys
 * (model.hidden = 256, 128 | 512). Section and key names are identifiers
 * ([A-Za-z_][A-Za-z0-9_]*) and case-insensitive (iniparser lowercases them).
 *
 * Framework keys (see lab_cfg_framework_params):
 *   [run]   name, seed, seeds, device, threads, out, resume, progress
 *   [paper] <metric> = <number>: the paper's value, shown beside ours
 *   [sweep] <section>.<key> = v1, v2, ...: the grid (times run.seeds)
 * [data], [train] and [eval] hold the keys a plugin declares there; the
 * conventional names (data.batch_size, train.lr, ...) have a fixed type so
 * plugins agree on them.
 */
#ifndef LAB_CONFIG_H
#define LAB_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of elements of a static array (schemas, tables). */
#define LAB_COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef enum {
    LAB_CFG_INT = 0,  /* int64 */
    LAB_CFG_FLOAT,    /* double */
    LAB_CFG_BOOL,
    LAB_CFG_STRING,
    LAB_CFG_ENUM,     /* one of `choices`; read as its index or its string */
    LAB_CFG_INTS,     /* comma-separated int64 list */
    LAB_CFG_FLOATS,   /* comma-separated double list */
} lab_cfg_type;

/* One declared key. All strings are static (the schema lives as long as the
 * plugin is loaded). */
typedef struct lab_param {
    const char *section; /* "train" */
    const char *key;     /* "lr" */
    lab_cfg_type type;
    const char *def;     /* default as written in an INI file; NULL: the key is required */
    double min, max;     /* inclusive bounds of numbers and list items; none when min >= max */
    const char *choices; /* LAB_CFG_ENUM: "adam|sgd|adamw" */
    const char *help;    /* one line; NULL for the conventional keys takes the framework's */
} lab_param;

/* Schema entries. For a one-sided bound use HUGE_VAL / -HUGE_VAL (math.h). */
#define LAB_PARAM_INT(sec, key, def, lo, hi, help) {(sec), (key), LAB_CFG_INT, (def), (lo), (hi), NULL, (help)}
#define LAB_PARAM_FLOAT(sec, key, def, lo, hi, help) {(sec), (key), LAB_CFG_FLOAT, (def), (lo), (hi), NULL, (help)}
#define LAB_PARAM_BOOL(sec, key, def, help) {(sec), (key), LAB_CFG_BOOL, (def), 0, 0, NULL, (help)}
#define LAB_PARAM_STRING(sec, key, def, help) {(sec), (key), LAB_CFG_STRING, (def), 0, 0, NULL, (help)}
#define LAB_PARAM_ENUM(sec, key, def, choices, help) {(sec), (key), LAB_CFG_ENUM, (def), 0, 0, (choices), (help)}
#define LAB_PARAM_INTS(sec, key, def, lo, hi, help) {(sec), (key), LAB_CFG_INTS, (def), (lo), (hi), NULL, (help)}
#define LAB_PARAM_FLOATS(sec, key, def, lo, hi, help) {(sec), (key), LAB_CFG_FLOATS, (def), (lo), (hi), NULL, (help)}

typedef struct lab_cfg lab_cfg;

/* --- building a configuration ------------------------------------------- */

/* Read an INI file (with iniparser) and locate every key's line. Syntax
 * errors, keys outside a section, bad names and duplicate keys are errors
 * here; values are checked by lab_cfg_validate. NULL + lab_error() on error. */
lab_cfg *lab_cfg_load(const char *path);
/* The same from memory; `name` stands for the file in messages. */
lab_cfg *lab_cfg_parse(const char *name, const char *text, size_t len);
lab_cfg *lab_cfg_copy(const lab_cfg *c);
void lab_cfg_free(lab_cfg *c);

/* "section.key=value" (as typed on labrun's command line) replaces or adds
 * a key; messages name it as coming from "command line". "sweep.train.lr=1e-3,3e-4"
 * sets a sweep. Call before lab_cfg_validate. */
int lab_cfg_override(lab_cfg *c, const char *assignment);

/* Check every key against the framework's keys plus `params` (the plugin's
 * schema, borrowed: keep it alive as long as c), fill in defaults, parse
 * values. After this the getters work. Returns 0 or -1 with the first error. */
int lab_cfg_validate(lab_cfg *c, const lab_param *params, int n);

/* Check a plugin's schema itself (names, reserved sections, duplicates,
 * types, choices, defaults against their own type and range, conventional
 * keys' types). `who` names the plugin in messages. */
int lab_cfg_schema_check(const lab_param *params, int n, const char *who);

/* The framework's own keys ([run]); *n receives their count. */
const lab_param *lab_cfg_framework_params(int *n);

/* --- reading (after lab_cfg_validate) ------------------------------------ */

/* key is "section.key". Each getter marks the key as read. */
int64_t lab_cfg_get_int(const lab_cfg *c, const char *key);
double lab_cfg_get_float(const lab_cfg *c, const char *key);
int lab_cfg_get_bool(const lab_cfg *c, const char *key);
/* Strings and enums; owned by c. */
const char *lab_cfg_get_str(const lab_cfg *c, const char *key);
/* Index of the value among the choices ("adam|sgd": sgd -> 1). */
int lab_cfg_get_enum(const lab_cfg *c, const char *key);
/* Lists: returns the count; *v points into c (NULL for an empty list). */
int lab_cfg_get_ints(const lab_cfg *c, const char *key, const int64_t **v);
int lab_cfg_get_floats(const lab_cfg *c, const char *key, const double **v);
/* 1 when the file, the command line or the sweep set the key, 0 when it
 * has its default (or is undeclared). Does not count as reading it. */
int lab_cfg_is_set(const lab_cfg *c, const char *key);

/* After a run: -1 (with the error) when the plugin read an undeclared key or
 * used the wrong getter, or when a key set to a non-default value was never
 * read. Framework sections are exempt: labrun reads them itself. */
int lab_cfg_check_use(const lab_cfg *c);

/* --- sweeps --------------------------------------------------------------- */

/* Grid points of [sweep] (1 without one). The last sweep key varies fastest. */
int lab_cfg_sweep_size(const lab_cfg *c);
/* A validated copy of c with point i's values (0 <= i < size); NULL on error. */
lab_cfg *lab_cfg_sweep_point(const lab_cfg *c, int i);
/* Number of swept keys, and the i-th one ("train.lr"). */
int lab_cfg_sweep_nkeys(const lab_cfg *c);
const char *lab_cfg_sweep_key(const lab_cfg *c, int k);

/* --- output ----------------------------------------------------------------- */

/* The resolved configuration: every declared key with its value, a comment
 * with its help, [paper] and [sweep]; keys left at their default are written
 * commented out ("; key = value"), so reloading keeps lab_cfg_is_set; run.resume
 * is left empty. labrun can run the file as is. `header` (may be NULL) becomes
 * comment lines at the top. Written atomically. */
int lab_cfg_write(const lab_cfg *c, const char *path, const char *header);
/* Print a schema as labrun <plugin> --help shows it. */
void lab_cfg_print_schema(FILE *f, const lab_param *params, int n);
/* "integer in [1, 1000]", "one of adam, sgd", ... into buf. */
const char *lab_cfg_describe(const lab_param *p, char *buf, size_t len);
/* The first key whose value differs between a and b (numbers compared as
 * parsed, so 1e-3 equals 0.001), ignoring the "section.key" names in skip
 * (NULL-terminated, may be NULL): writes "train.lr: 1e-3 vs 0.01" into buf
 * and returns 1; returns 0 when they agree. */
int lab_cfg_diff(const lab_cfg *a, const lab_cfg *b, const char *const *skip, char *buf, size_t len);
/* The file name given to lab_cfg_load/parse. */
const char *lab_cfg_path(const lab_cfg *c);

#ifdef __cplusplus
}
#endif
#endif
