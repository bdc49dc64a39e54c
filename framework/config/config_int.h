/* Internals of the config layer shared by config.c, schema.c, sweep.c and
 * the run layer (framework/run). Not part of the public API. */
#ifndef LAB_CONFIG_INT_H
#define LAB_CONFIG_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lab/config.h"

/* Where a value came from; messages name it. */
typedef enum {
    CFG_FROM_FILE = 0,  /* the INI file, at `line` */
    CFG_FROM_CMDLINE,   /* a section.key=value argument */
    CFG_FROM_DEFAULT,   /* the schema's default */
    CFG_FROM_SWEEP,     /* a [sweep] value; `line` is the sweep key's line */
} cfg_origin;

typedef struct cfg_entry {
    char *section, *key; /* lowercase identifiers ([sweep] keys are "sec.key") */
    char *value;         /* trimmed text as given */
    cfg_origin origin;
    int line;            /* 1-based line in the file, 0 when not from the file */
    int read;            /* a getter has read it */
    const lab_param *param; /* the declaration, after validation (NULL for [paper], [sweep]) */
    /* parsed by validation */
    int64_t i;           /* INT, BOOL, ENUM index */
    double f;            /* FLOAT, and [paper] values */
    int64_t *ints;       /* INTS (owned) */
    double *floats;      /* FLOATS (owned) */
    int nlist;
} cfg_entry;

typedef struct cfg_sweep {
    char *target;        /* "train.lr" */
    int entry;           /* index of its [sweep] entry */
    char **values;       /* owned, trimmed alternatives */
    int nvalues;
} cfg_sweep;

/* A [section] header of the file (also empty ones, which must be known too). */
typedef struct cfg_section {
    char *name;
    int line;
} cfg_section;

struct lab_cfg {
    char *path;          /* file name as given ("<memory>" for parse without name) */
    cfg_entry *e;
    int n, cap;
    cfg_section *secs;
    int nsecs;
    const lab_param *plugin; /* borrowed schema */
    int nplugin;
    int validated;
    int point;           /* >= 0 for a copy made by lab_cfg_sweep_point */
    cfg_sweep *sweep;
    int nsweep;
    char *misuse;        /* the first wrong use by the plugin (owned) */
};

/* config.c */
cfg_entry *lab_cfg_find(const lab_cfg *c, const char *section, const char *key);
/* Find "section.key" (split at the first dot). */
cfg_entry *lab_cfg_find_dotted(const lab_cfg *c, const char *dotted);
/* Add or replace an entry; takes copies. Returns the entry or NULL. */
cfg_entry *lab_cfg_put(lab_cfg *c, const char *section, const char *key, const char *value, cfg_origin o, int line);
/* "file.ini:12", "command line", "default", "file.ini:20 ([sweep])" into buf. */
const char *lab_cfg_where(const lab_cfg *c, const cfg_entry *e, char *buf, size_t len);
void lab_cfg_entry_clear_parsed(cfg_entry *e);
/* The raw value of "section.key" without marking it read; NULL if absent. */
const char *lab_cfg_value(const lab_cfg *c, const char *dotted);

/* schema.c */
/* The help of a declaration, falling back to the conventional key's. */
const char *lab_cfg_help(const lab_param *p);
int lab_cfg_is_ident(const char *s);
const lab_param *lab_cfg_lookup(const lab_cfg *c, const char *section, const char *key);
/* Parse `text` as p's type into e's parsed fields (checking range and
 * choices). On failure writes the problem ("expected an integer") into why. */
int lab_cfg_parse_value(const lab_param *p, const char *text, cfg_entry *e, char *why, size_t len);
/* Damerau-Levenshtein nearest candidate within a typo's distance, or NULL. */
const char *lab_cfg_suggest(const char *word, const char *const *cands, int n);
/* Whether e's parsed value equals its declaration's default. */
int lab_cfg_is_default(const cfg_entry *e);
/* Trim and split `text` at `sep` into malloc'd items. Returns the count or -1. */
int lab_cfg_split(const char *text, char sep, char ***items);
void lab_cfg_free_items(char **items, int n);

/* sweep.c */
int lab_cfg_sweep_prepare(lab_cfg *c);
void lab_cfg_sweep_clear(lab_cfg *c);

/* [paper] entries in file order: metric name and value; returns the count. */
int lab_cfg_paper(const lab_cfg *c, const char ***names, double **values);

#endif
