/* Data set registry: a [data] name and root -> files on disk -> the readers
 * of lab/data.h, with train/val/test splits and subsets.
 *
 * Never downloads: when files are missing the error names every file and
 * folder it tried and says how to get them (`make data`, tools/data.sh).
 * Tested in tests/unit/test_registry.c with small generated files in a temp
 * root (all kinds) and, when present, the real shared data.
 */
#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lab/data.h"
#include "lab/error.h"
#include "lab/loader.h"
#include "tensor_int.h"

static const char *const KNOWN[] = {"mnist", "fashion-mnist", "cifar10", "cifar100", "cora",
                                    "citeseer", "pubmed", "tu:<NAME>", "fsdd", NULL};

const char *const *lab_dataset_names(void) { return KNOWN; }

/* --- what each data set needs ------------------------------------------------ */

#define MAX_FILES 10
#define MAX_SUB 4

typedef struct {
    char name[64];                 /* canonical */
    lab_data_kind kind;
    char sub[MAX_SUB][160];        /* candidate folders under a root */
    int nsub;
    char files[MAX_FILES][160];    /* required; "X|gz" = X or X.gz */
    int nfiles;
    int system_root;               /* also search /usr/share/datasets */
    const char *hint;
} req;

static const char HINT_MAKE[] =
    "run `make data` (copies from $LAB_DATA_MIRROR or ../shared/data, or downloads and checks sha256), or point "
    "[data] root or $LAB_DATA_DIR at a folder with this layout";

static void add_sub(req *r, const char *s) { snprintf(r->sub[r->nsub++], sizeof r->sub[0], "%s", s); }
static void add_file(req *r, const char *f) { snprintf(r->files[r->nfiles++], sizeof r->files[0], "%s", f); }

static int is_planetoid(const char *n) { return !strcmp(n, "cora") || !strcmp(n, "citeseer") || !strcmp(n, "pubmed"); }

/* Fill r for `name`, or fail with the list of known names. */
static int req_for(const char *name, req *r)
{
    memset(r, 0, sizeof *r);
    if (!name || !*name) return lab_error_set("data: no data set name given; known: mnist, fashion-mnist, cifar10, "
                                              "cifar100, cora, citeseer, pubmed, tu:<NAME>, fsdd");
    char low[64];
    size_t n = strlen(name);
    if (n >= sizeof low) goto unknown;
    for (size_t i = 0; i <= n; i++) low[i] = (char)tolower((unsigned char)name[i]);
    r->hint = HINT_MAKE;
    if (!strcmp(low, "mnist") || !strcmp(low, "fashion-mnist")) {
        snprintf(r->name, sizeof r->name, "%s", low);
        r->kind = LAB_DATA_IMAGES;
        add_sub(r, low);
        add_file(r, "train-images-idx3-ubyte|gz");
        add_file(r, "train-labels-idx1-ubyte|gz");
        add_file(r, "t10k-images-idx3-ubyte|gz");
        add_file(r, "t10k-labels-idx1-ubyte|gz");
        if (!strcmp(low, "fashion-mnist")) {
            r->system_root = 1;
            r->hint = "install the Debian package dataset-fashion-mnist (it puts the files in "
                      "/usr/share/datasets/fashion-mnist), or run `make data`, or point [data] root or "
                      "$LAB_DATA_DIR at a folder holding fashion-mnist/";
        }
        return 0;
    }
    if (!strcmp(low, "cifar10") || !strcmp(low, "cifar-10")) {
        snprintf(r->name, sizeof r->name, "cifar10");
        r->kind = LAB_DATA_IMAGES;
        add_sub(r, "cifar10/cifar-10-batches-bin");
        add_sub(r, "cifar10");
        add_sub(r, "cifar-10-batches-bin");
        for (int i = 1; i <= 5; i++) {
            char f[32];
            snprintf(f, sizeof f, "data_batch_%d.bin", i);
            add_file(r, f);
        }
        add_file(r, "test_batch.bin");
        r->hint = "CIFAR-10 is not downloaded for you: get cifar-10-binary.tar.gz (the binary version) from "
                  "https://www.cs.toronto.edu/~kriz/cifar.html and extract it in data/cifar10/ so that "
                  "data/cifar10/cifar-10-batches-bin/data_batch_1.bin exists (or put the folder in "
                  "$LAB_DATA_MIRROR/cifar10/ and run `make data`)";
        return 0;
    }
    if (!strcmp(low, "cifar100") || !strcmp(low, "cifar-100")) {
        snprintf(r->name, sizeof r->name, "cifar100");
        r->kind = LAB_DATA_IMAGES;
        add_sub(r, "cifar100/cifar-100-binary");
        add_sub(r, "cifar100");
        add_sub(r, "cifar-100-binary");
        add_file(r, "train.bin");
        add_file(r, "test.bin");
        r->hint = "CIFAR-100 is not downloaded for you: get cifar-100-binary.tar.gz (the binary version) from "
                  "https://www.cs.toronto.edu/~kriz/cifar.html and extract it in data/cifar100/ so that "
                  "data/cifar100/cifar-100-binary/train.bin exists (or put the folder in "
                  "$LAB_DATA_MIRROR/cifar100/ and run `make data`)";
        return 0;
    }
    if (is_planetoid(low)) {
        snprintf(r->name, sizeof r->name, "%s", low);
        r->kind = LAB_DATA_NODES;
        add_sub(r, "planetoid");
        add_sub(r, low);
        static const char *const ext[] = {"x", "y", "tx", "ty", "allx", "ally", "graph", "test.index"};
        for (int i = 0; i < 8; i++) {
            char f[64];
            snprintf(f, sizeof f, "ind.%s.%s", low, ext[i]);
            add_file(r, f);
        }
        if (!strcmp(low, "pubmed"))
            r->hint = "run `make data`; note that ind.pubmed.allx (over 4 MiB) is not in shared/data: get it from "
                      "https://github.com/kimiyoung/planetoid (data/) or tkipf/gcn (git blob "
                      "3b86bccf08111c37c632a9dd8ab63db25ea76361) and put it next to the other ind.pubmed.* files";
        return 0;
    }
    if (!strncmp(low, "tu:", 3) && name[3]) {
        const char *tu = name + 3; /* TU names keep their case: MUTAG, IMDB-BINARY */
        if (strlen(tu) > 40) goto unknown;
        for (const char *c = tu; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_') goto unknown;
        snprintf(r->name, sizeof r->name, "tu:%s", tu);
        r->kind = LAB_DATA_GRAPHS;
        char s[160];
        snprintf(s, sizeof s, "tu/%s", tu);
        add_sub(r, s);
        add_sub(r, tu);
        static const char *const sfx[] = {"A", "graph_indicator", "graph_labels"};
        for (int i = 0; i < 3; i++) {
            char f[96];
            snprintf(f, sizeof f, "%s_%s.txt", tu, sfx[i]);
            add_file(r, f);
        }
        return 0;
    }
    if (!strcmp(low, "fsdd")) {
        snprintf(r->name, sizeof r->name, "fsdd");
        r->kind = LAB_DATA_AUDIO;
        add_sub(r, "fsdd");
        add_file(r, "recordings/*.wav");
        return 0;
    }
unknown:
    return lab_error_set("data: unknown data set '%s'; known: mnist, fashion-mnist, cifar10, cifar100, cora, "
                         "citeseer, pubmed, tu:<NAME> (e.g. tu:MUTAG, tu:PROTEINS, tu:ENZYMES, tu:NCI1, "
                         "tu:IMDB-BINARY, tu:IMDB-MULTI), fsdd",
                         name);
}

/* --- searching ---------------------------------------------------------------- */

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

static int has_wav(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while (!found && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        found = n > 4 && !strcmp(e->d_name + n - 4, ".wav");
    }
    closedir(d);
    return found;
}

/* Does dir hold required file f? Writes the path found into out. */
static int probe_file(const char *dir, const char *f, char *out, size_t len)
{
    char base[200];
    snprintf(base, sizeof base, "%s", f);
    char *bar = strchr(base, '|');
    if (bar) *bar = '\0';
    if (!strcmp(base, "recordings/*.wav")) {
        snprintf(out, len, "%s/recordings", dir);
        return has_wav(out);
    }
    if (bar) {
        snprintf(out, len, "%s/%s.gz", dir, base);
        if (is_file(out)) return 1;
    }
    snprintf(out, len, "%s/%s", dir, base);
    return is_file(out);
}

#define MAX_ROOTS 8

/* Candidate roots in search order; returns how many. */
static int roots_for(const req *r, const char *root, char roots[MAX_ROOTS][PATH_MAX])
{
    int n = 0;
    if (root && *root) {
        snprintf(roots[n++], PATH_MAX, "%s", root);
        return n;
    }
    const char *env = getenv("LAB_DATA_DIR");
    if (env && *env) snprintf(roots[n++], PATH_MAX, "%s", env);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, ".");
    snprintf(roots[n++], PATH_MAX, "%s/data", cwd);
    snprintf(roots[n++], PATH_MAX, "%s/../shared/data", cwd);
#ifdef LAB_BUILD_PREFIX
    /* The source tree liblab was built in: <repo>/build -> <repo>/../shared/data. */
    {
        char b[PATH_MAX];
        snprintf(b, sizeof b, "%s", LAB_BUILD_PREFIX);
        char *slash = strrchr(b, '/');
        if (slash) {
            *slash = '\0';
            snprintf(roots[n++], PATH_MAX, "%s/data", b);
            snprintf(roots[n++], PATH_MAX, "%s/../shared/data", b);
        }
    }
#endif
    if (r->system_root) snprintf(roots[n++], PATH_MAX, "/usr/share/datasets");
    return n;
}

/* Find the folder; on failure build the full not-found message. */
static int locate(const req *r, const char *root, char *out, size_t len)
{
    char roots[MAX_ROOTS][PATH_MAX];
    int nr = roots_for(r, root, roots);
    char looked[1400] = "";
    size_t used = 0;
    for (int i = 0; i < nr; i++) {
        char real[PATH_MAX];
        const char *rt = realpath(roots[i], real) ? real : roots[i];
        /* The same folder reached twice (./data is <repo>/data) is tried once. */
        int dup = 0;
        for (int j = 0; j < i && !dup; j++) {
            char rj[PATH_MAX];
            dup = !strcmp(roots[j], roots[i]) || (realpath(roots[j], rj) && !strcmp(rj, rt));
        }
        if (dup) continue;
        for (int s = 0; s < r->nsub; s++) {
            char dir[PATH_MAX + 200], path[PATH_MAX + 400];
            snprintf(dir, sizeof dir, "%s/%s", rt, r->sub[s]);
            char missing[400] = "";
            int nmiss = 0;
            if (is_dir(dir)) {
                for (int f = 0; f < r->nfiles; f++) {
                    if (probe_file(dir, r->files[f], path, sizeof path)) continue;
                    char base[160];
                    snprintf(base, sizeof base, "%s", r->files[f]);
                    char *bar = strchr(base, '|');
                    if (bar) snprintf(bar, sizeof base - (size_t)(bar - base), "[.gz]");
                    size_t ml = strlen(missing);
                    snprintf(missing + ml, sizeof missing - ml, "%s%s", nmiss ? ", " : "", base);
                    nmiss++;
                }
                if (nmiss == 0) {
                    snprintf(out, len, "%s", dir);
                    return 0;
                }
            }
            if (used < sizeof looked - 1) {
                int w = snprintf(looked + used, sizeof looked - used, "%s%s (%s%s)", used ? "; " : "", dir,
                                 is_dir(dir) ? "missing " : "no such folder", is_dir(dir) ? missing : "");
                if (w > 0) used += (size_t)w;
            }
        }
    }
    char files[800] = "";
    size_t fl = 0;
    for (int f = 0; f < r->nfiles; f++) {
        char base[160];
        snprintf(base, sizeof base, "%s", r->files[f]);
        char *bar = strchr(base, '|');
        if (bar) snprintf(bar, sizeof base - (size_t)(bar - base), "[.gz]");
        int w = snprintf(files + fl, sizeof files - fl, "%s%s", f ? ", " : "", base);
        if (w > 0 && (size_t)w < sizeof files - fl) fl += (size_t)w;
    }
    const char *env = getenv("LAB_DATA_DIR");
    return lab_error_set("data: %s not found: need %s; looked in %s%s. hint: %s", r->name, files, looked,
                         (root && *root) || (env && *env) ? "" : " ($LAB_DATA_DIR is not set)", r->hint);
}

int lab_dataset_locate(const char *name, const char *root, char *buf, size_t len)
{
    req r;
    if (req_for(name, &r) < 0) return -1;
    return locate(&r, root, buf, len);
}

/* --- loading ---------------------------------------------------------------- */

void lab_dataset_free(lab_dataset *ds)
{
    if (!ds) return;
    lab_tensor_release(ds->train_x);
    lab_tensor_release(ds->train_y);
    lab_tensor_release(ds->val_x);
    lab_tensor_release(ds->val_y);
    lab_tensor_release(ds->test_x);
    lab_tensor_release(ds->test_y);
    if (ds->planetoid) lab_planetoid_free(ds->planetoid);
    if (ds->tu) lab_tu_free(ds->tu);
    for (int64_t i = 0; i < ds->num_clips; i++) {
        if (ds->clips) lab_tensor_release(ds->clips[i]);
        if (ds->clip_names) free(ds->clip_names[i]);
    }
    free(ds->clips);
    free(ds->clip_names);
    lab_tensor_release(ds->clip_labels);
    lab_tensor_release(ds->train_ids);
    lab_tensor_release(ds->val_ids);
    lab_tensor_release(ds->test_ids);
    free(ds);
}

/* Rows [start, start + n) of t as a view owned by the caller (no scope). */
static lab_tensor *rows_view(lab_tensor *t, int64_t start, int64_t n, int ndim, const int64_t *sample_shape)
{
    int64_t shape[LAB_MAX_DIMS];
    int64_t per = 1;
    shape[0] = n;
    for (int d = 1; d < ndim; d++) {
        shape[d] = sample_shape[d - 1];
        per *= shape[d];
    }
    size_t off = t->offset + (size_t)(start * per) * lab_dtype_size(t->dtype);
    return lab_tensor_own(lab_tensor_view_of(t->storage, off, t->dtype, ndim, shape, t->device));
}

/* Split images x [N, ...] / y [N] (owned) into the dataset's train/val
 * parts after applying subset. Takes over x and y. */
static int split_images(lab_dataset *ds, lab_tensor *x, lab_tensor *y, int64_t subset, double val_fraction, int train)
{
    int64_t n = x->shape[0];
    if (subset > 0 && subset < n) n = subset;
    int ndim = x->ndim == 3 ? 4 : x->ndim;
    int64_t ss[LAB_MAX_DIMS];
    if (x->ndim == 3) {
        ss[0] = 1, ss[1] = x->shape[1], ss[2] = x->shape[2]; /* [N, H, W] -> [N, 1, H, W] */
    } else {
        for (int d = 1; d < x->ndim; d++) ss[d - 1] = x->shape[d];
    }
    int rc = 0;
    if (!train) {
        ds->test_x = rows_view(x, 0, n, ndim, ss);
        ds->test_y = rows_view(y, 0, n, 1, NULL);
        if (!ds->test_x || !ds->test_y) rc = -1;
    } else {
        int64_t nv = (int64_t)floor(val_fraction * (double)n), nt = n - nv;
        if (nt < 1) {
            rc = lab_error_set("data: val_fraction %g of %lld samples leaves no training sample", val_fraction,
                               (long long)n);
        } else {
            ds->train_x = rows_view(x, 0, nt, ndim, ss);
            ds->train_y = rows_view(y, 0, nt, 1, NULL);
            if (!ds->train_x || !ds->train_y) rc = -1;
            if (nv > 0 && rc == 0) {
                ds->val_x = rows_view(x, nt, nv, ndim, ss);
                ds->val_y = rows_view(y, nt, nv, 1, NULL);
                if (!ds->val_x || !ds->val_y) rc = -1;
            }
        }
    }
    lab_tensor_release(x);
    lab_tensor_release(y);
    return rc;
}

static int load_idx_pair(const char *dir, int train, lab_tensor **x, lab_tensor **y)
{
    char pi[PATH_MAX + 80], pl[PATH_MAX + 80];
    *x = *y = NULL;
    probe_file(dir, train ? "train-images-idx3-ubyte|gz" : "t10k-images-idx3-ubyte|gz", pi, sizeof pi);
    probe_file(dir, train ? "train-labels-idx1-ubyte|gz" : "t10k-labels-idx1-ubyte|gz", pl, sizeof pl);
    *x = lab_tensor_own(lab_idx_read(pi));
    if (!*x) return -1;
    *y = lab_tensor_own(lab_idx_read(pl));
    if (!*y) {
        lab_tensor_release(*x);
        *x = NULL;
        return -1;
    }
    char b1[96], b2[96];
    if ((*x)->ndim != 3 || (*y)->ndim != 1 || (*x)->shape[0] != (*y)->shape[0] || (*y)->dtype != LAB_I64) {
        lab_error_set("data: %s holds %s but %s holds %s; expected [N, H, W] images and N labels", pi,
                      lab_tensor_desc(*x, b1, sizeof b1), pl, lab_tensor_desc(*y, b2, sizeof b2));
        lab_tensor_release(*x);
        lab_tensor_release(*y);
        *x = *y = NULL;
        return -1;
    }
    return 0;
}

static void set_stats(lab_dataset *ds)
{
    ds->channels = 1;
    ds->std[0] = ds->std[1] = ds->std[2] = 1.0f;
    if (!strcmp(ds->name, "mnist")) {
        ds->mean[0] = 0.1307f, ds->std[0] = 0.3081f;
    } else if (!strcmp(ds->name, "fashion-mnist")) {
        ds->mean[0] = 0.2860f, ds->std[0] = 0.3530f;
    } else if (!strcmp(ds->name, "cifar10")) {
        ds->channels = 3;
        const float m[3] = {0.4914f, 0.4822f, 0.4465f}, s[3] = {0.2470f, 0.2435f, 0.2616f};
        memcpy(ds->mean, m, sizeof m), memcpy(ds->std, s, sizeof s);
    } else if (!strcmp(ds->name, "cifar100")) {
        ds->channels = 3;
        const float m[3] = {0.5071f, 0.4865f, 0.4409f}, s[3] = {0.2673f, 0.2564f, 0.2762f};
        memcpy(ds->mean, m, sizeof m), memcpy(ds->std, s, sizeof s);
    }
}

static int open_images(lab_dataset *ds, const lab_data_spec *spec)
{
    ds->num_classes = !strcmp(ds->name, "cifar100") ? 100 : 10;
    set_stats(ds);
    for (int train = 1; train >= 0; train--) {
        lab_tensor *x, *y;
        if (!strncmp(ds->name, "cifar", 5)) {
            lab_cifar *c = lab_cifar_read_dir(ds->dir, !strcmp(ds->name, "cifar10") ? LAB_CIFAR10 : LAB_CIFAR100, train);
            if (!c) return -1;
            x = lab_tensor_retain(c->images);
            y = lab_tensor_retain(c->labels);
            lab_cifar_free(c);
        } else if (load_idx_pair(ds->dir, train, &x, &y) < 0) {
            return -1;
        }
        if (split_images(ds, x, y, spec->subset, spec->val_fraction, train) < 0) return -1;
    }
    return 0;
}

/* fsdd: <digit>_<speaker>_<index>.wav */
typedef struct {
    char *name;
    int digit, index;
} clip_entry;

static int cmp_clip_name(const void *a, const void *b)
{
    return strcmp(((const clip_entry *)a)->name, ((const clip_entry *)b)->name);
}

static int parse_clip(const char *fname, int *digit, int *index)
{
    /* digit, '_', speaker (no '_'), '_', index, ".wav" */
    size_t n = strlen(fname);
    if (n < 9 || strcmp(fname + n - 4, ".wav")) return -1;
    if (!isdigit((unsigned char)fname[0]) || fname[1] != '_') return -1;
    const char *us = strrchr(fname, '_');
    if (!us || us == fname + 1) return -1;
    char *end;
    long idx = strtol(us + 1, &end, 10);
    if (end == us + 1 || strcmp(end, ".wav") || idx < 0 || idx > 100000) return -1;
    *digit = fname[0] - '0';
    *index = (int)idx;
    return 0;
}

/* Split ids ordered by (recording index, name). */
static lab_tensor *ids_tensor(const clip_entry *c, int64_t n, int lo, int hi, int64_t subset)
{
    int64_t cnt = 0;
    for (int64_t i = 0; i < n; i++) cnt += c[i].index >= lo && c[i].index < hi;
    int64_t *ids = malloc((size_t)(cnt + 1) * sizeof *ids), k = 0;
    if (!ids) return NULL;
    int maxidx = 0;
    for (int64_t i = 0; i < n; i++)
        if (c[i].index > maxidx) maxidx = c[i].index;
    for (int idx = lo; idx < hi && idx <= maxidx; idx++)
        for (int64_t i = 0; i < n; i++)
            if (c[i].index == idx) ids[k++] = i;
    if (subset > 0 && k > subset) k = subset;
    lab_tensor *t = lab_tensor_own(lab_tensor_from_data(LAB_I64, 1, &k, ids, LAB_CPU));
    free(ids);
    return t;
}

static int open_fsdd(lab_dataset *ds, const lab_data_spec *spec)
{
    char rec[PATH_MAX + 40];
    snprintf(rec, sizeof rec, "%s/recordings", ds->dir);
    DIR *d = opendir(rec);
    if (!d) return lab_error_set("data: cannot open %s", rec);
    clip_entry *c = NULL;
    int64_t n = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        int digit, index;
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".wav")) continue;
        if (parse_clip(e->d_name, &digit, &index) < 0) {
            rc = lab_error_set("data: %s/%s is not named <digit>_<speaker>_<index>.wav", rec, e->d_name);
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            clip_entry *nc = realloc(c, (size_t)cap * sizeof *c);
            if (!nc) {
                rc = lab_error_set("data: out of host memory listing %s", rec);
                break;
            }
            c = nc;
        }
        c[n].name = strdup(e->d_name);
        c[n].digit = digit;
        c[n].index = index;
        if (!c[n].name) {
            rc = lab_error_set("data: out of host memory listing %s", rec);
            break;
        }
        n++;
    }
    closedir(d);
    if (rc == 0 && n == 0) rc = lab_error_set("data: no .wav files in %s", rec);
    if (rc == 0) qsort(c, (size_t)n, sizeof *c, cmp_clip_name);
    if (rc == 0) {
        ds->clips = calloc((size_t)n, sizeof *ds->clips);
        ds->clip_names = calloc((size_t)n, sizeof *ds->clip_names);
        if (!ds->clips || !ds->clip_names) rc = lab_error_set("data: out of host memory for %lld clips", (long long)n);
        else ds->num_clips = n;
    }
    int64_t *labels = rc == 0 ? malloc((size_t)n * sizeof *labels) : NULL;
    if (rc == 0 && !labels) rc = lab_error_set("data: out of host memory");
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        char path[PATH_MAX + 300];
        snprintf(path, sizeof path, "%s/%s", rec, c[i].name);
        lab_wav_info info;
        ds->clips[i] = lab_tensor_own(lab_wav_read(path, &info));
        if (!ds->clips[i]) {
            rc = -1;
            break;
        }
        if (i == 0) ds->sample_rate = info.sample_rate;
        if (info.sample_rate != ds->sample_rate) {
            rc = lab_error_set("data: %s is %d Hz but %s is %d Hz", path, info.sample_rate, c[0].name, ds->sample_rate);
            break;
        }
        size_t nl = strlen(c[i].name) - 4;
        ds->clip_names[i] = strndup(c[i].name, nl);
        if (!ds->clip_names[i]) rc = lab_error_set("data: out of host memory");
        labels[i] = c[i].digit;
    }
    if (rc == 0) {
        ds->clip_labels = lab_tensor_own(lab_tensor_from_data(LAB_I64, 1, &n, labels, LAB_CPU));
        int nv = (int)lround(45.0 * spec->val_fraction);
        ds->test_ids = ids_tensor(c, n, 0, 5, spec->subset);
        ds->val_ids = nv > 0 ? ids_tensor(c, n, 5, 5 + nv, spec->subset) : NULL;
        ds->train_ids = ids_tensor(c, n, 5 + nv, INT32_MAX, spec->subset);
        if (!ds->clip_labels || !ds->test_ids || !ds->train_ids || (nv > 0 && !ds->val_ids)) rc = -1;
        else if (ds->train_ids->numel == 0)
            rc = lab_error_set("data: val_fraction %g leaves no fsdd training clip", spec->val_fraction);
    }
    free(labels);
    for (int64_t i = 0; i < n; i++) free(c[i].name);
    free(c);
    ds->num_classes = 10;
    return rc;
}

lab_dataset *lab_dataset_open(const lab_data_spec *spec)
{
    if (!spec) {
        lab_error_set("data: NULL spec");
        return NULL;
    }
    req r;
    if (req_for(spec->name, &r) < 0) return NULL;
    if (!(spec->val_fraction >= 0 && spec->val_fraction < 1)) {
        lab_error_set("data: val_fraction must be in [0, 1), got %g", spec->val_fraction);
        return NULL;
    }
    if (spec->subset < 0) {
        lab_error_set("data: subset must be >= 0, got %lld", (long long)spec->subset);
        return NULL;
    }
    if ((r.kind == LAB_DATA_NODES || r.kind == LAB_DATA_GRAPHS) && (spec->subset > 0 || spec->val_fraction > 0)) {
        lab_error_set("data: subset and val_fraction do not apply to %s (it has its own %s); leave them at 0", r.name,
                      r.kind == LAB_DATA_NODES ? "Planetoid split" : "k-fold splits, see lab_graph_kfold");
        return NULL;
    }
    lab_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) {
        lab_error_set("data: out of host memory");
        return NULL;
    }
    snprintf(ds->name, sizeof ds->name, "%s", r.name);
    ds->kind = r.kind;
    if (locate(&r, spec->root, ds->dir, sizeof ds->dir) < 0) goto fail;
    lab_scope_begin();
    int rc = 0;
    switch (r.kind) {
    case LAB_DATA_IMAGES: rc = open_images(ds, spec); break;
    case LAB_DATA_NODES:
        ds->planetoid = lab_planetoid_read(ds->dir, ds->name);
        if (!ds->planetoid) rc = -1;
        else ds->num_classes = ds->planetoid->num_classes;
        break;
    case LAB_DATA_GRAPHS:
        ds->tu = lab_tu_read(ds->dir, ds->name + 3);
        if (!ds->tu) rc = -1;
        else ds->num_classes = ds->tu->num_classes;
        break;
    case LAB_DATA_AUDIO: rc = open_fsdd(ds, spec); break;
    }
    lab_scope_end();
    if (rc < 0) goto fail;
    return ds;
fail:
    lab_dataset_free(ds);
    return NULL;
}
