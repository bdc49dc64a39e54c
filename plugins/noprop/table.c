/* docs/results/noprop-<table>.md from every trial of a run.
 *
 * Each trial writes noprop.json (method, embedding, data, setting, and the
 * accuracy of every inference run). On the last trial of a run with
 * table.name set, every noprop.json under the run directory is read back (so
 * a resumed run, whose earlier trials ran in another process, still gives the
 * whole table), grouped into cells and written beside the paper's numbers
 * (brief §9, below): ours as mean ± s.e. over seeds × inference runs, the
 * difference, and whether it lies within the paper's spread, taken as
 * |ours − paper| ≤ 2·√(s.e.ours² + s.e.paper²).
 *
 *   accuracy   train and test accuracy per (method, embedding, data set)
 *   memory     peak memory per (method, data set) and its ratio to backprop
 *   ablations  softmax vs posterior head; image-sized embedding init
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "noprop_int.h"

/* --- records ------------------------------------------------------------------------- */

/* noprop.json: the strings first (method, embedding, data, device), then the numbers. */
int np_record_write(const char *dir, const char *const *keys, const char *const *svals, int ns, const char *const *nkeys,
                    const double *nvals, int nn)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/noprop.json", dir);
    lab_record r;
    lab_record_init(&r);
    int rc = 0;
    for (int i = 0; i < ns && rc == 0; i++) rc = lab_record_add_str(&r, keys[i], svals[i]);
    for (int i = 0; i < nn && rc == 0; i++) rc = lab_record_add_num(&r, nkeys[i], nvals[i]);
    if (rc == 0) rc = lab_record_write(path, &r);
    lab_record_clear(&r);
    return rc;
}

#define REC_MAX 400

typedef struct {
    char method[16], embedding[24], data[24], device[24];
    int nv;
    char names[REC_MAX][24];
    double vals[REC_MAX];
} rec;

typedef struct {
    rec *r;
    int n, cap;
} recs;

static double rec_get(const rec *r, const char *name)
{
    for (int i = 0; i < r->nv; i++)
        if (!strcmp(r->names[i], name)) return r->vals[i];
    return NAN;
}

static int gather(const char *run_dir, recs *rs)
{
    lab_record *all;
    int n;
    if (lab_record_gather(run_dir, "noprop.json", &all, &n) < 0) return -1;
    rs->r = n ? calloc((size_t)n, sizeof *rs->r) : NULL;
    if (n && !rs->r) {
        lab_record_free_all(all, n);
        return lab_error_set("noprop: out of host memory");
    }
    rs->n = rs->cap = n;
    for (int i = 0; i < n; i++) {
        rec *r = &rs->r[i];
        const lab_record *a = &all[i];
        struct {
            const char *key;
            char *dst;
            size_t len;
        } str[] = {{"method", r->method, sizeof r->method},
                   {"embedding", r->embedding, sizeof r->embedding},
                   {"data", r->data, sizeof r->data},
                   {"device", r->device, sizeof r->device}};
        for (int k = 0; k < LAB_COUNT(str); k++) {
            const char *v = lab_record_str(a, str[k].key);
            snprintf(str[k].dst, str[k].len, "%s", v ? v : "");
        }
        for (int k = 0; k < a->n && r->nv < REC_MAX; k++) {
            if (a->str[k]) continue;
            snprintf(r->names[r->nv], sizeof r->names[0], "%s", a->key[k]);
            r->vals[r->nv++] = a->num[k];
        }
    }
    lab_record_free_all(all, n);
    return 0;
}

/* --- the paper (brief §9) ------------------------------------------------------------- */

static const char *const DATA[3] = {"mnist", "cifar10", "cifar100"};
static int data_col(const char *d)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(d, DATA[i])) return i;
    return -1;
}

/* train/test per data set: {mean, s.e.} x {MNIST train, test, C10 train, test, C100 train, test}. */
static const struct {
    const char *method, *emb;
    double v[6], se[6];
} PAPER_ACC[] = {
    {"backprop", "onehot", {100.0, 99.46, 99.98, 79.92, 98.63, 45.85}, {0.0, 0.06, 0.01, 0.14, 1.34, 2.07}},
    {"backprop", "learned", {99.99, 99.43, 99.96, 79.3, 94.28, 46.57}, {0.0, 0.03, 0.02, 0.52, 7.43, 0.87}},
    {"backprop", "prototype", {99.99, 99.44, 99.97, 79.58, 99.19, 47.8}, {0.01, 0.05, 0.01, 0.44, 0.71, 0.19}},
    {"dt", "onehot", {99.92, 99.47, 95.02, 79.25, 84.97, 45.93}, {0.01, 0.05, 0.19, 0.28, 0.67, 0.46}},
    {"dt", "learned", {99.93, 99.49, 94.95, 79.12, 83.25, 45.19}, {0.01, 0.04, 0.09, 0.37, 0.39, 0.22}},
    {"dt", "prototype", {99.97, 99.54, 97.23, 80.54, 90.7, 46.06}, {0.0, 0.04, 0.11, 0.2, 0.14, 0.25}},
    {"ct", "onehot", {97.88, 97.84, 97.31, 73.35, 75.1, 33.66}, {0.61, 0.71, 0.84, 0.55, 3.43, 0.5}},
    {"ct", "learned", {97.7, 97.7, 94.88, 71.77, 74.22, 33.99}, {0.42, 0.51, 3.08, 2.47, 2.33, 1.08}},
    {"ct", "prototype", {97.18, 97.17, 86.2, 66.54, 40.88, 21.31}, {1.02, 0.94, 7.34, 3.63, 10.72, 4.17}},
    {"fm", "onehot", {99.97, 99.21, 98.46, 73.14, 12.69, 6.38}, {0.0, 0.09, 0.4, 0.9, 10.4, 4.9}},
    {"fm", "learned", {99.99, 99.29, 99.49, 73.5, 83.49, 31.14}, {0.0, 0.05, 0.15, 0.28, 4.62, 0.52}},
    {"fm", "prototype", {99.27, 98.52, 99.8, 75.18, 96.37, 37.57}, {0.09, 0.16, 0.03, 0.57, 1.09, 0.32}},
};

static const struct {
    const char *method;
    double gb[3];
} PAPER_MEM[] = {
    {"backprop", {0.87, 1.17, 1.73}},
    {"dt", {0.49, 0.64, 1.23}},
    {"ct", {1.05, 0.45, 0.50}},
    {"fm", {1.06, 0.44, 0.49}},
};

/* Head ablation (DT test %, softmax / posterior) and image-sized init ablation. */
static const struct {
    const char *emb;
    double softmax[3], posterior[3];
} PAPER_HEAD[] = {
    {"onehot", {99.47, 79.25, 45.93}, {99.46, 79.31, 45.96}},
    {"learned", {99.49, 79.12, 45.19}, {99.48, 79.03, 45.47}},
    {"prototype", {99.54, 80.54, 46.06}, {99.49, 81.33, 45.89}},
};
static const struct {
    const char *emb;
    double v[3];
} PAPER_INIT[] = {
    {"image-orthogonal", {99.51, 80.91, 46.17}},
    {"prototype", {99.54, 80.54, 46.06}},
    {"image-normal", {99.54, 80.80, 45.70}},
};

/* --- aggregation ------------------------------------------------------------------------ */

typedef struct {
    int n, seeds;
    double mean, se;
    double epochs, train_images, test_images, train_eval;
} cell;

/* Every inference run "<series>_r<k>" of every matching record. */
static cell aggregate(const recs *rs, const char *method, const char *emb, const char *data, const char *series)
{
    cell c;
    memset(&c, 0, sizeof c);
    double sum = 0, sq = 0;
    int n = 0;
    for (int i = 0; i < rs->n; i++) {
        const rec *r = &rs->r[i];
        if ((method && strcmp(r->method, method)) || (emb && strcmp(r->embedding, emb)) || strcmp(r->data, data))
            continue;
        int used = 0;
        for (int k = 0; k < r->nv; k++) {
            size_t l = strlen(series);
            if (strncmp(r->names[k], series, l) || strncmp(r->names[k] + l, "_r", 2) || !isfinite(r->vals[k])) continue;
            sum += r->vals[k], sq += r->vals[k] * r->vals[k], n++, used = 1;
        }
        if (used) {
            c.seeds++;
            c.epochs = rec_get(r, "epochs");
            c.train_images = rec_get(r, "train_images");
            c.test_images = rec_get(r, "test_images");
            c.train_eval = rec_get(r, "train_eval_images");
        }
    }
    c.n = n;
    c.mean = n ? sum / n : NAN;
    double var = n > 1 ? (sq - sum * sum / n) / (n - 1) : NAN;
    c.se = n > 1 ? sqrt(var > 0 ? var : 0) / sqrt((double)n) : NAN;
    return c;
}

/* A numeric field (mem_mb, ...) averaged over matching records. */
static double field_mean(const recs *rs, const char *method, const char *data, const char *field, int *count)
{
    double s = 0;
    int n = 0;
    for (int i = 0; i < rs->n; i++) {
        const rec *r = &rs->r[i];
        if (strcmp(r->method, method) || strcmp(r->data, data)) continue;
        double v = rec_get(r, field);
        if (isfinite(v)) s += v, n++;
    }
    if (count) *count = n;
    return n ? s / n : NAN;
}

static const char *fmt_cell(const cell *c, char *buf, size_t len)
{
    if (c->n == 0)
        snprintf(buf, len, "—");
    else if (isfinite(c->se))
        snprintf(buf, len, "%.2f ± %.2f", c->mean, c->se);
    else
        snprintf(buf, len, "%.2f", c->mean);
    return buf;
}

static const char *within(double ours, double se_o, double paper, double se_p)
{
    if (!isfinite(ours) || !isfinite(paper)) return "—";
    double s = sqrt((isfinite(se_o) ? se_o * se_o : 0) + se_p * se_p);
    return fabs(ours - paper) <= 2 * s ? "yes" : "no";
}

static void header(FILE *f, const char *title, const char *cmd, const char *run_dir, const recs *rs)
{
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(f, "# NoProp: %s\n\n", title);
    fprintf(f, "Generated by `%s` (labrun %s, noprop plugin, %d trials, device %s) on %s from `%s`. "
               "Do not edit: rerun the command.\n\n",
            cmd, LAB_VERSION, rs->n, rs->n ? rs->r[0].device : "?", when, run_dir);
}

/* The settings actually run, per data set: the paper's are full sets and 100–1000 epochs. */
static void settings(FILE *f, const recs *rs)
{
    fprintf(f, "Settings run (the paper: full training sets, 100–1000 epochs, brief §8):\n\n");
    const char *seen[16];
    int ns = 0;
    for (int i = 0; i < rs->n; i++) {
        int dup = 0;
        for (int j = 0; j < ns; j++) dup |= !strcmp(seen[j], rs->r[i].data);
        if (dup || ns == 16) continue;
        seen[ns++] = rs->r[i].data;
        double emin = INFINITY, emax = 0;
        for (int j = 0; j < rs->n; j++)
            if (!strcmp(rs->r[j].data, rs->r[i].data)) {
                double e = rec_get(&rs->r[j], "epochs");
                if (e < emin) emin = e;
                if (e > emax) emax = e;
            }
        fprintf(f, "- %s: %.0f training images, %.0f test images, train accuracy on the first %.0f, ", rs->r[i].data,
                rec_get(&rs->r[i], "train_images"), rec_get(&rs->r[i], "test_images"),
                rec_get(&rs->r[i], "train_eval_images"));
        if (emin == emax)
            fprintf(f, "%.0f epoch%s, %.0f inference runs per seed\n", emin, emin == 1 ? "" : "s", rec_get(&rs->r[i], "runs"));
        else
            fprintf(f, "%.0f–%.0f epochs, %.0f inference runs per seed\n", emin, emax, rec_get(&rs->r[i], "runs"));
    }
    fputc('\n', f);
}

static const char *pretty_method(const char *m)
{
    return !strcmp(m, "dt") ? "NoProp-DT" : !strcmp(m, "ct") ? "NoProp-CT" : !strcmp(m, "fm") ? "NoProp-FM" : "Backprop";
}
static const char *pretty_emb(const char *e) { return !strcmp(e, "learned") ? "dim=20" : !strcmp(e, "onehot") ? "one-hot" : e; }

static int write_accuracy(FILE *f, const recs *rs, const char *cmd, const char *run_dir)
{
    header(f, "accuracy (%)", cmd, run_dir, rs);
    settings(f, rs);
    fprintf(f, "Ours: mean ± s.e. over seeds × inference runs (the paper: 3 seeds × 5 runs). \"within\": "
               "|ours − paper| ≤ 2·√(s.e.² + s.e.paper²).\n\n");
    fprintf(f, "| method | embedding | data | train (ours) | train (paper) | test (ours) | test (paper) | test diff | within |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|---|\n");
    int reproduced = 0, rows = 0;
    for (int p = 0; p < LAB_COUNT(PAPER_ACC); p++)
        for (int dcol = 0; dcol < 3; dcol++) {
            cell tr = aggregate(rs, PAPER_ACC[p].method, PAPER_ACC[p].emb, DATA[dcol], "train");
            cell te = aggregate(rs, PAPER_ACC[p].method, PAPER_ACC[p].emb, DATA[dcol], "test");
            if (te.n == 0) continue;
            char a[64], b[64];
            double pv = PAPER_ACC[p].v[2 * dcol + 1], ps = PAPER_ACC[p].se[2 * dcol + 1];
            const char *w = within(te.mean, te.se, pv, ps);
            rows++, reproduced += !strcmp(w, "yes");
            fprintf(f, "| %s | %s | %s | %s | %.2f ± %.2f | %s | %.2f ± %.2f | %+.2f | %s |\n",
                    pretty_method(PAPER_ACC[p].method), pretty_emb(PAPER_ACC[p].emb), DATA[dcol], fmt_cell(&tr, a, sizeof a),
                    PAPER_ACC[p].v[2 * dcol], PAPER_ACC[p].se[2 * dcol], fmt_cell(&te, b, sizeof b), pv, ps, te.mean - pv, w);
        }
    /* Cells the paper has no number for (Fashion-MNIST, the init ablation's embeddings). */
    for (int i = 0; i < rs->n; i++) {
        const rec *r = &rs->r[i];
        int dup = 0, paper = data_col(r->data) >= 0 && strncmp(r->embedding, "image-", 6);
        for (int j = 0; j < i; j++)
            dup |= !strcmp(rs->r[j].method, r->method) && !strcmp(rs->r[j].embedding, r->embedding) &&
                   !strcmp(rs->r[j].data, r->data);
        if (dup || paper) continue;
        cell tr = aggregate(rs, r->method, r->embedding, r->data, "train");
        cell te = aggregate(rs, r->method, r->embedding, r->data, "test");
        char a[64], b[64];
        fprintf(f, "| %s | %s | %s | %s | — | %s | — | — | — |\n", pretty_method(r->method), pretty_emb(r->embedding),
                r->data, fmt_cell(&tr, a, sizeof a), fmt_cell(&te, b, sizeof b));
    }
    fprintf(f, "\n%d of %d cells with a paper number are within its spread.\n", reproduced, rows);
    return 0;
}

static int write_memory(FILE *f, const recs *rs, const char *cmd, const char *run_dir)
{
    header(f, "peak memory", cmd, run_dir, rs);
    settings(f, rs);
    fprintf(f, "Ours: peak bytes of tensors allocated during training above the loaded data set (model, optimiser "
               "state, activations; GPU allocator statistics on CUDA, the tensor allocator on CPU) and the process's "
               "peak resident set (CPU runs; it includes the data set). The paper's are whole-process GPU numbers of "
               "a PyTorch run in GB: compare the ratios to Backprop, not the bytes.\n\n");
    fprintf(f, "| method | data | tensors (MiB) | ratio to backprop | resident (MiB) | ratio | paper (GB) | paper ratio |\n");
    fprintf(f, "|---|---|---|---|---|---|---|---|\n");
    static const char *const methods[] = {"backprop", "dt", "ct", "fm"};
    for (int dcol = 0; dcol < 3; dcol++) {
        int nb;
        double bm = field_mean(rs, "backprop", DATA[dcol], "mem_mb", &nb);
        double br = field_mean(rs, "backprop", DATA[dcol], "rss_peak_mb", NULL);
        for (int k = 0; k < 4; k++) {
            int n;
            double m = field_mean(rs, methods[k], DATA[dcol], "mem_mb", &n);
            if (n == 0) continue;
            double r = field_mean(rs, methods[k], DATA[dcol], "rss_peak_mb", NULL);
            char ra[32] = "—", rr[32] = "—", rs2[32] = "—";
            if (nb && bm > 0) snprintf(ra, sizeof ra, "%.2f", m / bm);
            if (nb && br > 0 && isfinite(r)) snprintf(rr, sizeof rr, "%.2f", r / br);
            if (isfinite(r)) snprintf(rs2, sizeof rs2, "%.0f", r);
            fprintf(f, "| %s | %s | %.1f | %s | %s | %s | %.2f | %.2f |\n", pretty_method(methods[k]), DATA[dcol], m, ra,
                    rs2, rr, PAPER_MEM[k].gb[dcol], PAPER_MEM[k].gb[dcol] / PAPER_MEM[0].gb[dcol]);
        }
    }
    fputc('\n', f);
    return 0;
}

static int write_ablations(FILE *f, const recs *rs, const char *cmd, const char *run_dir)
{
    header(f, "ablations (NoProp-DT test accuracy, %)", cmd, run_dir, rs);
    settings(f, rs);
    fprintf(f, "The paper's values are read from bar charts (no spread given).\n\n");
    fprintf(f, "## Softmax head vs posterior head\n\nThe same trained models and inference chains, two read-outs: "
               "argmax(W_out z_T + b_out), and argmin_c ‖softmax(W_out z_T + b_out)·W_Embed − u_c‖².\n\n");
    fprintf(f, "| embedding | data | softmax (ours) | posterior (ours) | softmax (paper) | posterior (paper) |\n");
    fprintf(f, "|---|---|---|---|---|---|\n");
    for (int k = 0; k < LAB_COUNT(PAPER_HEAD); k++)
        for (int dcol = 0; dcol < 3; dcol++) {
            cell s = aggregate(rs, "dt", PAPER_HEAD[k].emb, DATA[dcol], "test");
            cell p = aggregate(rs, "dt", PAPER_HEAD[k].emb, DATA[dcol], "test_post");
            if (s.n == 0) continue;
            char a[64], b[64];
            fprintf(f, "| %s | %s | %s | %s | %.2f | %.2f |\n", pretty_emb(PAPER_HEAD[k].emb), DATA[dcol],
                    fmt_cell(&s, a, sizeof a), fmt_cell(&p, b, sizeof b), PAPER_HEAD[k].softmax[dcol],
                    PAPER_HEAD[k].posterior[dcol]);
        }
    fprintf(f, "\n## Initialisation of an image-sized embedding\n\n");
    fprintf(f, "| init | data | test (ours) | test (paper) | diff |\n|---|---|---|---|---|\n");
    for (int k = 0; k < LAB_COUNT(PAPER_INIT); k++)
        for (int dcol = 0; dcol < 3; dcol++) {
            cell s = aggregate(rs, "dt", PAPER_INIT[k].emb, DATA[dcol], "test");
            if (s.n == 0) continue;
            char a[64];
            const char *name = !strcmp(PAPER_INIT[k].emb, "prototype") ? "prototype" :
                               !strcmp(PAPER_INIT[k].emb, "image-orthogonal") ? "orthogonal" : "random N(0,1)";
            fprintf(f, "| %s | %s | %s | %.2f | %+.2f |\n", name, DATA[dcol], fmt_cell(&s, a, sizeof a),
                    PAPER_INIT[k].v[dcol], s.mean - PAPER_INIT[k].v[dcol]);
        }
    fputc('\n', f);
    return 0;
}

int np_table_maybe_write(lab_ctx *ctx, const np_opts *o)
{
    if (!strcmp(o->table, "none")) return 0;
    int ntrials, t = lab_ctx_trial(ctx, &ntrials, NULL, NULL);
    if (t != ntrials - 1) return 0;
    const char *run_dir = lab_ctx_run_dir(ctx);
    recs rs = {0};
    if (gather(run_dir, &rs) < 0) {
        free(rs.r);
        return -1;
    }
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", o->table_out);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        free(rs.r);
        return lab_error_set("table.out: cannot write %s (does its folder exist?)", tmp);
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "labrun noprop experiments/noprop/tables/%s.ini", o->table);
    if (o->table_cmd && o->table_cmd[0]) snprintf(cmd, sizeof cmd, "%s", o->table_cmd);
    int rc = !strcmp(o->table, "accuracy") ? write_accuracy(f, &rs, cmd, run_dir)
           : !strcmp(o->table, "memory")   ? write_memory(f, &rs, cmd, run_dir)
                                           : write_ablations(f, &rs, cmd, run_dir);
    if (fclose(f) != 0 || rc < 0 || rename(tmp, o->table_out) != 0) {
        remove(tmp);
        free(rs.r);
        return rc < 0 ? -1 : lab_error_set("table.out: cannot write %s", o->table_out);
    }
    lab_ctx_log(ctx, "table %s (%d trials) written to %s", o->table, rs.n, o->table_out);
    free(rs.r);
    return 0;
}
