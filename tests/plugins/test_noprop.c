/* The noprop plugin: its internals (the plugin's sources are compiled into
 * this test, so the schedule, the nets and a training step can be checked
 * directly) and end-to-end runs through lab_run_experiment with the built
 * lab_noprop.so (outputs, checkpoint/resume, errors, the CIFAR path on files
 * in the real CIFAR binary format written here).
 *
 * Sizes are tiny: whole suite in well under a minute on 2 cores. The
 * training-quality tests use 2,000 MNIST images (../shared/data/mnist) and
 * are skipped with a reason when it is absent. */
#include "labtest.h"
#include "../unit/runtest.h"

#include "../../plugins/noprop/common.c"
#include "../../plugins/noprop/embed.c"
#include "../../plugins/noprop/eval.c"
#include "../../plugins/noprop/model.c"
#include "../../plugins/noprop/noprop.c"
#include "../../plugins/noprop/schedule.c"
#include "../../plugins/noprop/table.c"
#include "../../plugins/noprop/train_bp.c"
#include "../../plugins/noprop/train_ct.c"
#include "../../plugins/noprop/train_dt.c"
#include "../../plugins/noprop/train_fm.c"

/* --- helpers ------------------------------------------------------------------------ */

static np_opts t_opts(np_method m, np_embedding e, int T)
{
    np_opts o;
    memset(&o, 0, sizeof o);
    o.method = m, o.embedding = e, o.embed_dim = 20, o.T = T;
    o.eta = m == NP_CT ? 1 : 0.1, o.cos_s = 0.008, o.ab_min = 1e-5, o.ab_max = 0.9999;
    o.gamma_hidden = 64, o.gamma0 = -5, o.gamma1 = 5, o.time_scale = 1000, o.time_dim = 64;
    o.bp_alpha_init = 0.5, o.dropout = 0.2f;
    o.epochs = 1, o.batch = 32, o.lr = 1e-3, o.weight_decay = 1e-3;
    o.optim = m == NP_DT || m == NP_BP ? LAB_OPTIM_ADAMW : LAB_OPTIM_ADAM;
    o.data_name = "mnist", o.data_root = "";
    o.eval_runs = 1, o.infer_steps = 20, o.eval_batch = 500, o.table = "none";
    return o;
}

/* A state over synthetic 28x28 images (n train, n test) with 10 classes. */
static void t_state_synth(np_state *s, const np_opts *o, int64_t n, uint64_t seed)
{
    memset(s, 0, sizeof *s);
    s->dev = LAB_CPU;
    cr_assert_eq(np_shape_for("mnist", &s->sh), 0);
    int64_t shape[4] = {n, 1, 28, 28};
    s->xtr = lab_tensor_own(lt_randn(seed, 4, shape));
    s->xte = lab_tensor_own(lt_randn(seed + 1, 4, shape));
    s->ytr = lab_tensor_own(lt_randint(seed + 2, 1, &n, 10));
    s->yte = lab_tensor_own(lt_randint(seed + 3, 1, &n, 10));
    lab_rng rng = lab_rng_make(seed, 0);
    cr_assert_eq(np_state_build(s, o, &rng), 0, "%s", lab_error());
}

static int have_mnist(void)
{
    char buf[4096];
    return lab_dataset_locate("mnist", NULL, buf, sizeof buf) == 0;
}

/* Host copy of every tensor of p, concatenated. */
static float *t_snapshot(const lab_params *p, int64_t *n)
{
    int64_t tot = 0;
    for (int i = 0; i < p->n; i++)
        if (p->tensors[i]->dtype == LAB_F32) tot += p->tensors[i]->numel;
    float *v = malloc((size_t)tot * sizeof *v), *w = v;
    cr_assert(v);
    for (int i = 0; i < p->n; i++)
        if (p->tensors[i]->dtype == LAB_F32) {
            cr_assert_eq(lab_tensor_copy_to_host(p->tensors[i], w), 0);
            w += p->tensors[i]->numel;
        }
    *n = tot;
    return v;
}

/* --- schedule ----------------------------------------------------------------------- */

Test(noprop, dt_schedule_matches_the_brief_table)
{
    /* Brief §3: ᾱ_t, SNR, loss weight, a_t, b_t, √c_t for T = 10, η = 0.1. */
    static const double tab[11][6] = {
        {0.00001, 0.00001, 0, 0, 0, 0},
        {0.02409, 0.0247, 0.0123, 0.1552, 0.0199, 0.9877},
        {0.09405, 0.1038, 0.0396, 0.2337, 0.4699, 0.8310},
        {0.20312, 0.2549, 0.0755, 0.2671, 0.5985, 0.6873},
        {0.34081, 0.5170, 0.1311, 0.2960, 0.6386, 0.5781},
        {0.49384, 0.9757, 0.2293, 0.3304, 0.6379, 0.4878},
        {0.64748, 1.8367, 0.4305, 0.3772, 0.6083, 0.4065},
        {0.78691, 3.6929, 0.9281, 0.4459, 0.5483, 0.3273},
        {0.89871, 8.8722, 2.590, 0.5534, 0.4448, 0.2432},
        {0.97209, 34.833, 12.98, 0.7348, 0.2649, 0.1442},
        {0.99990, 9999.0, 4982, 0.9965, 0.0035, 0.0100},
    };
    np_dt_sched s;
    cr_assert_eq(np_dt_sched_make(&s, 10, 0.1, 0.008, 1e-5, 0.9999), 0, "%s", lab_error());
    for (int t = 0; t <= 10; t++) {
        /* The table rounds to 4-5 significant digits: compare relatively. */
        cr_assert(fabs(s.ab[t] - tab[t][0]) <= 1e-4 * fmax(1, tab[t][0]) + 5e-6, "ᾱ_%d = %.6f", t, s.ab[t]);
        cr_assert(fabs(s.snr[t] - tab[t][1]) <= 1e-4 * fmax(1, tab[t][1]) + 5e-5 * tab[t][1], "SNR_%d = %.6f", t, s.snr[t]);
        if (t == 0) continue;
        cr_assert(fabs(s.w[t] - tab[t][2]) <= 1e-4 * fmax(1, tab[t][2]) + 5e-4 * tab[t][2], "w_%d = %.6f", t, s.w[t]);
        cr_assert(fabs(s.a[t] - tab[t][3]) <= 1e-4, "a_%d = %.6f", t, s.a[t]);
        cr_assert(fabs(s.b[t] - tab[t][4]) <= 1e-4, "b_%d = %.6f", t, s.b[t]);
        cr_assert(fabs(sqrt(s.c[t]) - tab[t][5]) <= 1e-4, "√c_%d = %.6f", t, sqrt(s.c[t]));
        /* The identities of §3. */
        cr_assert(fabs(s.a[t] + s.b[t] * sqrt(s.ab[t - 1]) - sqrt(s.ab[t])) < 1e-12);
        cr_assert(fabs(s.b[t] * s.b[t] * (1 - s.ab[t - 1]) + s.c[t] - (1 - s.ab[t])) < 1e-12);
    }
    cr_assert_eq(np_dt_sched_make(&s, 0, 0.1, 0.008, 1e-5, 0.9999), -1);
    lt_assert_error_contains("noprop.blocks = 0");
}

/* The oracle chain: Eq. 3 with û = u_y from z_0 ~ q(z_0|y) keeps mean √ᾱ_t·u_y
 * and variance 1−ᾱ_t at every t (in closed form and by sampling). */
Test(noprop, oracle_chain_follows_the_marginals)
{
    np_dt_sched s;
    cr_assert_eq(np_dt_sched_make(&s, 10, 0.1, 0.008, 1e-5, 0.9999), 0);
    double mean = sqrt(s.ab[0]), var = 1 - s.ab[0];
    const int64_t n = 20000;
    lab_scope_begin();
    lab_rng rng = lab_rng_make(7, 0);
    lab_tensor *z = lab_affine(lab_rng_normal(&rng, 1, &n, 0, 1, LAB_CPU), (float)sqrt(var), (float)mean);
    for (int t = 1; t <= 10; t++) {
        mean = s.a[t] + s.b[t] * mean;
        var = s.b[t] * s.b[t] * var + s.c[t];
        cr_assert(fabs(mean - sqrt(s.ab[t])) < 1e-12 && fabs(var - (1 - s.ab[t])) < 1e-12, "t = %d", t);
        lab_tensor *eps = lab_rng_normal(&rng, 1, &n, 0, 1, LAB_CPU);
        z = lab_add(lab_affine(z, (float)s.b[t], (float)s.a[t]), lab_mul_scalar(eps, (float)sqrt(s.c[t])));
        double m = lab_tensor_item(lab_mean_all(z)), v = lab_tensor_item(lab_var(z, 0, 1, 0));
        cr_assert(fabs(m - sqrt(s.ab[t])) < 4 * sqrt((1 - s.ab[t]) / n) + 1e-4, "t = %d: sampled mean %g", t, m);
        cr_assert(fabs(v - (1 - s.ab[t])) < 0.05 * (1 - s.ab[t]) + 1e-6, "t = %d: sampled variance %g", t, v);
    }
    lab_scope_end();
}

Test(noprop, ct_schedule_is_monotone_with_positive_snr_derivative)
{
    lab_params *p = lab_params_new();
    lab_rng rng = lab_rng_make(3, 0);
    np_ct_sched s;
    cr_assert_eq(np_ct_sched_init(&s, p, 64, -5, 5, &rng), 0, "%s", lab_error());
    enum { N = 201 };
    double t[N], ab[N], sd[N];
    for (int i = 0; i < N; i++) t[i] = (double)i / (N - 1);
    cr_assert_eq(np_ct_eval(&s, t, N, ab, sd), 0);
    cr_assert(fabs(ab[0] - 1 / (1 + exp(5))) < 1e-9 && fabs(ab[N - 1] - 1 / (1 + exp(-5))) < 1e-9,
              "ᾱ(0) = %g, ᾱ(1) = %g", ab[0], ab[N - 1]);
    for (int i = 0; i < N; i++) {
        cr_assert(sd[i] > 0, "SNR'(%g) = %g", t[i], sd[i]);
        if (i) cr_assert(ab[i] > ab[i - 1], "ᾱ not increasing at t = %g", t[i]);
        /* SNR' against a central difference of SNR = ᾱ/(1−ᾱ). */
        if (i > 0 && i < N - 1) {
            double snr1 = ab[i + 1] / (1 - ab[i + 1]), snr0 = ab[i - 1] / (1 - ab[i - 1]);
            double fd = (snr1 - snr0) / (t[i + 1] - t[i - 1]);
            cr_assert(fabs(fd - sd[i]) < 2e-3 * fabs(sd[i]) + 1e-3, "SNR'(%g) %g vs difference %g", t[i], sd[i], fd);
        }
    }
    /* The differentiable path agrees with the host one and trains γ0, γ1. */
    lab_scope_begin();
    float tf[5] = {0, 0.1f, 0.5f, 0.9f, 1};
    double td[5] = {0, 0.1f, 0.5f, 0.9f, 1}, abd[5], sdd[5];
    cr_assert_eq(np_ct_eval(&s, td, 5, abd, sdd), 0);
    lab_tensor *snr_d = NULL, *abt = np_ct_alpha_bar(&s, lab_tensor_from_f32(tf, 1, (int64_t[]){5}), &snr_d);
    cr_assert_not_null(abt, "%s", lab_error());
    float got[5], gotd[5];
    lab_tensor_copy_to_host(abt, got);
    lab_tensor_copy_to_host(snr_d, gotd);
    for (int i = 0; i < 5; i++) {
        cr_assert(fabs(got[i] - abd[i]) < 1e-5, "ᾱ(%g): %g vs %g", td[i], got[i], abd[i]);
        cr_assert(fabs(gotd[i] - sdd[i]) < 1e-4 * fabs(sdd[i]) + 1e-6);
    }
    cr_assert_eq(lab_backward(lab_add(lab_sum_all(abt), lab_sum_all(snr_d))), 0);
    cr_assert_not_null(s.g0->grad);
    cr_assert_not_null(s.w1->grad);
    lab_scope_end();
    lab_params_free(p);
}

/* --- architecture ------------------------------------------------------------------------ */

Test(noprop, parameter_counts_match_the_paper)
{
    static const char *const data[] = {"mnist", "cifar10", "cifar100"};
    static const np_embedding emb[] = {NP_EMB_ONEHOT, NP_EMB_LEARNED, NP_EMB_PROTOTYPE};
    static const int64_t want[2][3][3] = {
        {{919946, 922506, 1401738}, {1215434, 1217994, 1992714}, {1250084, 1229604, 2004324}},
        {{867722, 870282, 1482122}, {1163210, 1165770, 2073098}, {1197860, 1177380, 2084708}},
    };
    for (int dt = 0; dt < 2; dt++)
        for (int d = 0; d < 3; d++)
            for (int e = 0; e < 3; e++) {
                int64_t c = np_count_params(dt == 0, emb[e], data[d], 20);
                cr_assert_eq(c, want[dt][d][e], "%s %s %s: %lld, paper %lld", dt == 0 ? "DT" : "CT", data[d],
                             np_embedding_names[emb[e]], (long long)c, (long long)want[dt][d][e]);
            }
}

/* The cached CT/FM inference step equals the plain forward of the network. */
Test(noprop, ct_cached_step_equals_the_forward)
{
    np_opts o = t_opts(NP_CT, NP_EMB_LEARNED, 0);
    np_state s;
    t_state_synth(&s, &o, 8, 11);
    lab_scope_begin();
    int prev = lab_grad_set_enabled(0);
    np_net *n = &s.nets[0];
    lab_tensor *feat = np_net_image(n, lab_slice(s.xte, 0, 0, 8), 0, 0, NULL);
    np_ct_cache c;
    cr_assert_eq(np_ct_cache_make(&c, n, feat, 10), 0, "%s", lab_error());
    lab_tensor *z = lt_randn(5, 2, (int64_t[]){8, 20});
    for (int row = 0; row < 10; row += 3) {
        lab_tensor *tt = lab_tensor_full(LAB_F32, 1, (int64_t[]){8}, row / 10.0, LAB_CPU);
        lab_tensor *ref = np_net_logits(n, feat, z, tt, 0, 0, NULL);
        lab_tensor *got = np_ct_cache_logits(n, &c, z, row);
        float r[80], g[80];
        lab_tensor_copy_to_host(ref, r);
        lab_tensor_copy_to_host(got, g);
        lt_assert_close(g, r, 80, 1e-5, 1e-4);
    }
    np_ct_cache_free(&c);
    lab_grad_set_enabled(prev);
    lab_scope_end();
    np_state_free(&s);
}

/* Prototypes: the row of each class is its medoid under the median distance. */
Test(noprop, class_medoid_is_the_smallest_median_distance)
{
    /* Class 0: points 0, 1, 2, 10 on a line -> medians 2 (of 1, 2, 10), 1, 2
     * (of 2, 1, 8), 9 -> index 1. Class 1: 5, 6 -> the first (tie). */
    float xs[6] = {0, 1, 2, 10, 5, 6};
    int64_t ys[6] = {0, 0, 0, 0, 1, 1}, idx[2];
    lab_scope_begin();
    lab_tensor *x = lab_tensor_from_data(LAB_F32, 4, (int64_t[]){6, 1, 1, 1}, xs, LAB_CPU);
    lab_tensor *y = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){6}, ys, LAB_CPU);
    cr_assert_eq(np_class_medoids(x, y, 2, 0, LAB_CPU, idx), 0, "%s", lab_error());
    cr_assert_eq(idx[0], 1);
    cr_assert_eq(idx[1], 4);
    cr_assert_eq(np_class_medoids(x, y, 3, 0, LAB_CPU, idx), -1);
    lt_assert_error_contains("class 2 has none");
    lab_scope_end();
}

/* --- training steps --------------------------------------------------------------------- */

static void one_step_changes_only(np_embedding emb)
{
    np_opts o = t_opts(NP_DT, emb, 3);
    np_state s;
    t_state_synth(&s, &o, 16, 21);
    int64_t n[3], ns;
    float *before[3], *shared0 = t_snapshot(s.shared, &ns);
    for (int i = 0; i < 3; i++) before[i] = t_snapshot(s.nets[i].p, &n[i]);
    lab_scope_begin();
    lab_rng noise = lab_rng_make(5, 9);
    double ce, local;
    cr_assert_eq(np_dt_step(&s, 2, lab_slice(s.xtr, 0, 0, 16), lab_slice(s.ytr, 0, 0, 16), &noise, &ce, &local), 0,
                 "%s", lab_error());
    lab_scope_end();
    for (int i = 0; i < 3; i++) {
        int64_t m;
        float *after = t_snapshot(s.nets[i].p, &m);
        int same = memcmp(before[i], after, (size_t)m * sizeof(float)) == 0;
        cr_assert(i == 1 ? !same : same, "block %d %s", i + 1, same ? "unchanged" : "changed");
        free(after);
        free(before[i]);
    }
    /* The head always trains; W_Embed only when learned. */
    int64_t m;
    float *shared1 = t_snapshot(s.shared, &m);
    int ih = lab_params_index(s.shared, "head.weight"), ie = lab_params_index(s.shared, "embed.weight");
    cr_assert(ih >= 0 && ie >= 0);
    int64_t off = 0, offh = -1, offe = -1;
    for (int i = 0; i < s.shared->n; i++) {
        if (i == ih) offh = off;
        if (i == ie) offe = off;
        off += s.shared->tensors[i]->numel;
    }
    cr_assert_neq(memcmp(shared0 + offh, shared1 + offh, (size_t)s.head.w->numel * sizeof(float)), 0, "head unchanged");
    int emb_same = memcmp(shared0 + offe, shared1 + offe, (size_t)s.emb.W->numel * sizeof(float)) == 0;
    cr_assert(emb == NP_EMB_ONEHOT ? emb_same : !emb_same, "embedding %s", emb_same ? "unchanged" : "changed");
    free(shared0);
    free(shared1);
    np_state_free(&s);
}

Test(noprop, dt_step_changes_only_its_block_the_head_and_the_embedding)
{
    one_step_changes_only(NP_EMB_LEARNED);
    one_step_changes_only(NP_EMB_ONEHOT);
}

/* Inference never reads a label: predictions with the true labels and with
 * garbage in every label tensor are identical, for every method. */
Test(noprop, inference_never_reads_the_label)
{
    const np_method ms[] = {NP_DT, NP_CT, NP_FM, NP_BP};
    for (int k = 0; k < 4; k++) {
        np_opts o = t_opts(ms[k], NP_EMB_LEARNED, 2);
        np_state s;
        t_state_synth(&s, &o, 24, 31 + k);
        int64_t p1[24], p2[24], q1[24], q2[24];
        cr_assert_eq(np_predict(&s, s.xte, 0, p1, q1, NULL, NULL), 0, "%s", lab_error());
        lab_tensor_fill_(s.yte, 3);
        lab_tensor_fill_(s.ytr, 7);
        cr_assert_eq(np_predict(&s, s.xte, 0, p2, q2, NULL, NULL), 0);
        cr_assert_eq(memcmp(p1, p2, sizeof p1), 0, "%s: predictions changed with the labels", np_method_names[ms[k]]);
        cr_assert_eq(memcmp(q1, q2, sizeof q1), 0);
        /* Another inference run draws other noise. */
        np_eval a, b;
        cr_assert_eq(np_evaluate(&s, s.xte, s.yte, 0, &a), 0);
        cr_assert_eq(np_evaluate(&s, s.xte, s.yte, 0, &b), 0);
        cr_assert_eq(a.acc, b.acc, "the same run must repeat exactly");
        np_state_free(&s);
    }
}

/* --- short real runs (MNIST, 2,000 images) ---------------------------------------------- */

static double t_train_eval(np_opts *o, int epochs, double *b1, double *near)
{
    np_state s;
    memset(&s, 0, sizeof s);
    s.dev = LAB_CPU;
    o->train_subset = 2000, o->test_subset = 500, o->epochs = epochs;
    cr_assert_eq(np_state_load_data(&s, o, LAB_CPU), 0, "%s", lab_error());
    lab_rng rng = lab_rng_make(0, 0);
    cr_assert_eq(np_state_build(&s, o, &rng), 0, "%s", lab_error());
    np_epoch_stats st;
    for (int e = 0; e < epochs; e++) {
        int rc = o->method == NP_DT ? np_dt_epoch(&s, NULL, e, 0, &st) : o->method == NP_CT ? np_ct_epoch(&s, NULL, e, 0, &st)
               : o->method == NP_FM ? np_fm_epoch(&s, NULL, e, 0, &st) : np_bp_epoch(&s, NULL, e, 0, &st);
        cr_assert_eq(rc, 0, "%s", lab_error());
    }
    np_eval ev;
    cr_assert_eq(np_evaluate(&s, s.xte, s.yte, 0, &ev), 0, "%s", lab_error());
    if (b1) *b1 = ev.acc_block1;
    if (near) *near = ev.acc_near;
    np_state_free(&s);
    return ev.acc;
}

Test(noprop, dt_learns_mnist_from_2000_images, .timeout = 300)
{
    if (!have_mnist()) cr_skip_test("no MNIST under the data roots (make data)");
    np_opts o = t_opts(NP_DT, NP_EMB_ONEHOT, 2);
    o.batch = 16;
    double b1, acc = t_train_eval(&o, 1, &b1, NULL);
    cr_log_info("DT: test %.2f%%, block 1 alone %.2f%%", acc, b1);
    cr_assert(acc > 35, "DT test accuracy %.2f%% (block 1 alone %.2f%%)", acc, b1);
}

Test(noprop, ct_learns_mnist_from_2000_images, .timeout = 300)
{
    if (!have_mnist()) cr_skip_test("no MNIST under the data roots (make data)");
    np_opts o = t_opts(NP_CT, NP_EMB_ONEHOT, 0);
    o.batch = 16, o.infer_steps = 50;
    double near, acc = t_train_eval(&o, 3, NULL, &near);
    cr_log_info("CT: test %.2f%% (nearest embedding to z_1: %.2f%%)", acc, near);
    cr_assert(acc > 30, "CT test accuracy %.2f%% (nearest embedding to z_1: %.2f%%)", acc, near);
}

Test(noprop, fm_learns_mnist_from_2000_images, .timeout = 300)
{
    if (!have_mnist()) cr_skip_test("no MNIST under the data roots (make data)");
    np_opts o = t_opts(NP_FM, NP_EMB_ONEHOT, 0);
    o.batch = 16, o.infer_steps = 50;
    double acc = t_train_eval(&o, 2, NULL, NULL);
    cr_log_info("FM: test %.2f%%", acc);
    cr_assert(acc > 50, "FM test accuracy %.2f%%", acc);
}

/* Concurrent blocks draw the sequential order's streams: with single-threaded
 * kernels in both (as inside the parallel region) every parameter is
 * bit-identical after an epoch. */
Test(noprop, parallel_blocks_match_the_sequential_order)
{
    np_opts o = t_opts(NP_DT, NP_EMB_ONEHOT, 3);
    o.batch = 16;
    np_state a, b;
    t_state_synth(&a, &o, 64, 41);
    np_opts op = o;
    op.parallel_blocks = 1;
    t_state_synth(&b, &op, 64, 41);
    int nth = lab_get_num_threads();
    np_epoch_stats st;
    lab_set_num_threads(1);
    cr_assert_eq(np_dt_epoch(&a, NULL, 0, 0, &st), 0, "%s", lab_error());
    lab_set_num_threads(2);
    cr_assert_eq(np_dt_epoch(&b, NULL, 0, 0, &st), 0, "%s", lab_error());
    cr_assert_eq(st.nsteps, 3 * 4);
    lab_set_num_threads(nth);
    for (int i = 0; i <= 3; i++) {
        const lab_params *pa = i < 3 ? a.nets[i].p : a.shared, *pb = i < 3 ? b.nets[i].p : b.shared;
        int64_t na, nb;
        float *va = t_snapshot(pa, &na), *vb = t_snapshot(pb, &nb);
        cr_assert_eq(na, nb);
        lt_assert_close(vb, va, na, 0, 0);
        free(va);
        free(vb);
    }
    np_state_free(&a);
    np_state_free(&b);
}

/* --- configuration errors ---------------------------------------------------------------- */

/* Validate `text` with the plugin's schema and read the options: 0 or -1. */
static int t_read(const char *text)
{
    lab_cfg *c = lab_cfg_parse("bad.ini", text, strlen(text));
    cr_assert_not_null(c, "%s", lab_error());
    np_opts o;
    int rc = lab_cfg_validate(c, params, LAB_COUNT(params));
    if (rc == 0) rc = read_opts(c, &o);
    lab_cfg_free(c);
    return rc;
}

Test(noprop, bad_configurations_are_clear_errors)
{
    cr_assert_eq(t_read("[noprop]\nmethod = dt\n"), 0, "%s", lab_error());
    cr_assert_eq(t_read("[noprop]\nmethod = adjoint\n"), -1);
    lt_assert_error_contains("noprop.method");
    lt_assert_error_contains("adjoint");
    cr_assert_eq(t_read("[noprop]\nblocks = 0\n"), -1);
    lt_assert_error_contains("noprop.blocks");
    cr_assert_eq(t_read("[noprop]\nembedding = prototype\nembed_dim = 20\n"), -1);
    lt_assert_error_contains("incompatible with embedding = prototype");
    cr_assert_eq(t_read("[noprop]\nembedding = prototype\nembed_dim = 784\n"), 0, "%s", lab_error());
    cr_assert_eq(t_read("[noprop]\nembedding = onehot\nembed_dim = 20\n"), -1);
    lt_assert_error_contains("incompatible with embedding = onehot");
    cr_assert_eq(t_read("[data]\nname = cora\n"), -1);
    lt_assert_error_contains("needs images with class labels");
    cr_assert_eq(t_read("[noprop]\nembedding = learned\nparallel_blocks = true\n"), -1);
    lt_assert_error_contains("needs embedding = onehot");
    cr_assert_eq(t_read("[noprop]\nmethod = ct\nparallel_blocks = true\n"), -1);
    lt_assert_error_contains("applies to method = dt only");
    cr_assert_eq(t_read("[table]\nname = accuracy\n"), -1);
    lt_assert_error_contains("needs table.out");
}

/* --- end to end through lab_noprop.so ------------------------------------------------------ */

/* n records of the CIFAR binary format: (coarse byte,) label byte, 3072 pixel
 * bytes; the pixels depend on the label so the data are learnable. */
static void t_write_cifar(const char *path, int n, int classes, uint64_t seed)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot write %s", path);
    lab_rng r = lab_rng_make(seed, 0);
    unsigned char rec[3074];
    for (int i = 0; i < n; i++) {
        int y = (int)lab_rng_next_below(&r, (uint64_t)classes), k = 0;
        if (classes == 100) rec[k++] = (unsigned char)(y / 5);
        rec[k++] = (unsigned char)y;
        for (int j = 0; j < 3072; j++)
            rec[k + j] = (unsigned char)(((j / 32 + j % 32) % 10 == y % 10 ? 200 : 40) + lab_rng_next_below(&r, 50));
        cr_assert_eq(fwrite(rec, 1, (size_t)(k + 3072), f), (size_t)(k + 3072));
    }
    fclose(f);
}

/* root/cifar10/cifar-10-batches-bin/ and root/cifar100/cifar-100-binary/. */
static void t_write_cifar_root(const char *root, int per_batch)
{
    char d[PATH_MAX], p[PATH_MAX + 64];
    snprintf(d, sizeof d, "%s/cifar10", root);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/cifar10/cifar-10-batches-bin", root);
    mkdir(d, 0755);
    for (int b = 1; b <= 5; b++) {
        snprintf(p, sizeof p, "%s/data_batch_%d.bin", d, b);
        t_write_cifar(p, per_batch, 10, (uint64_t)b);
    }
    snprintf(p, sizeof p, "%s/test_batch.bin", d);
    t_write_cifar(p, 40, 10, 9);
    snprintf(d, sizeof d, "%s/cifar100", root);
    mkdir(d, 0755);
    snprintf(d, sizeof d, "%s/cifar100/cifar-100-binary", root);
    mkdir(d, 0755);
    snprintf(p, sizeof p, "%s/train.bin", d);
    t_write_cifar(p, 5 * per_batch, 100, 11);
    snprintf(p, sizeof p, "%s/test.bin", d);
    t_write_cifar(p, 40, 100, 12);
}

static lab_plugin_handle *t_plugin(void)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/plugins/lab_noprop.so", rt_build());
    lab_plugin_handle *h = lab_plugin_load(path);
    cr_assert_not_null(h, "%s (build it with make plugins)", lab_error());
    return h;
}

static lab_run_status t_run(lab_plugin_handle *h, const char *text, const char *const *over, char *dir, size_t len)
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

static double t_json_num(const char *text, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\": ", key);
    const char *p = strstr(text, k);
    cr_assert(p, "no %s in %s", key, text);
    return strtod(p + strlen(k), NULL);
}

Test(noprop, cifar_files_run_end_to_end_and_make_a_table)
{
    char *tmp = rt_tmpdir(), text[1024], dir[PATH_MAX], p[PATH_MAX + 64];
    t_write_cifar_root(tmp, 12);
    snprintf(text, sizeof text,
             "[run]\nout = %s/runs\n[data]\nroot = %s\nbatch_size = 16\n[noprop]\nblocks = 1\n[train]\nepochs = 1\n"
             "[eval]\nruns = 2\n[table]\nname = accuracy\nout = %s/acc.md\n[sweep]\ndata.name = cifar10, cifar100\n",
             tmp, tmp, tmp);
    lab_plugin_handle *h = t_plugin();
    cr_assert_eq(t_run(h, text, NULL, dir, sizeof dir), LAB_RUN_OK, "%s", lab_error());
    const int64_t want[2] = {1215434, 1250084};
    for (int k = 0; k < 2; k++) {
        snprintf(p, sizeof p, "%s/p%d/noprop.json", dir, k);
        char *rec = rt_read(p);
        cr_assert_not_null(rec, "no %s", p);
        cr_assert_eq((int64_t)t_json_num(rec, "params_block"), want[k]);
        cr_assert_eq((int64_t)t_json_num(rec, "train_images"), 60);
        cr_assert_eq((int64_t)t_json_num(rec, "test_images"), 40);
        double acc = t_json_num(rec, "test_r1");
        cr_assert(acc >= 0 && acc <= 100);
        free(rec);
    }
    snprintf(p, sizeof p, "%s/acc.md", tmp);
    char *md = rt_read(p);
    cr_assert_not_null(md, "no table written");
    cr_assert(strstr(md, "| NoProp-DT | one-hot | cifar10 |") && strstr(md, "79.25 ± 0.28"), "%s", md);
    cr_assert(strstr(md, "| NoProp-DT | one-hot | cifar100 |") && strstr(md, "45.93 ± 0.46"), "%s", md);
    free(md);
    lab_plugin_unload(h);
    rt_rmtree(tmp);
}

/* Tensors of two checkpoints, compared byte for byte. */
static void t_same_checkpoints(const char *da, const char *db)
{
    char pa[PATH_MAX + 64], pb[PATH_MAX + 64];
    snprintf(pa, sizeof pa, "%s/checkpoints/last.safetensors", da);
    snprintf(pb, sizeof pb, "%s/checkpoints/last.safetensors", db);
    lab_params *a = lab_safetensors_load(pa, LAB_CPU, NULL), *b = lab_safetensors_load(pb, LAB_CPU, NULL);
    cr_assert(a && b, "%s", lab_error());
    cr_assert_eq(a->n, b->n);
    for (int i = 0; i < a->n; i++) {
        lab_tensor *tb = lab_params_get(b, a->names[i]);
        cr_assert_not_null(tb, "%s missing", a->names[i]);
        cr_assert_eq(a->tensors[i]->numel, tb->numel);
        size_t bytes = (size_t)tb->numel * lab_dtype_size(tb->dtype);
        cr_assert_eq(memcmp(lab_tensor_data(a->tensors[i]), lab_tensor_data(tb), bytes), 0, "%s differs", a->names[i]);
    }
    lab_params_free(a);
    lab_params_free(b);
}

static void resume_case(const char *method, int parallel)
{
    char *tmp = rt_tmpdir(), text[1024], full[PATH_MAX], cut[PATH_MAX], over[PATH_MAX + 32];
    t_write_cifar_root(tmp, 20);
    snprintf(text, sizeof text,
             "[run]\nout = %s/runs\n[data]\nname = cifar10\nroot = %s\nbatch_size = 16\n[noprop]\nmethod = %s\n%s"
             "parallel_blocks = %s\n[train]\nepochs = 2\n[eval]\nruns = 2\nevery = 1\nsteps = 20\n",
             tmp, tmp, method, strcmp(method, "ct") ? "blocks = 2\n" : "", parallel ? "true" : "false");
    lab_plugin_handle *h = t_plugin();
    cr_assert_eq(t_run(h, text, NULL, full, sizeof full), LAB_RUN_OK, "%s", lab_error());
    /* 100 images, batch 16: 7 steps per phase; DT 14 per epoch, 28 in all
     * (twice as many with the head's own steps when concurrent), CT 7 per
     * epoch; stop every few steps (mid-phase, mid-epoch) and resume until done. */
    const char *ms = parallel ? "train.max_steps=9" : "train.max_steps=5";
    const char *o1[] = {ms, NULL};
    cr_assert_eq(t_run(h, text, o1, cut, sizeof cut), LAB_RUN_INTERRUPTED);
    lab_run_clear_stop();
    lab_run_status st = LAB_RUN_INTERRUPTED;
    int rounds = 0;
    while (st == LAB_RUN_INTERRUPTED && rounds++ < 20) {
        char d2[PATH_MAX];
        snprintf(over, sizeof over, "run.resume=%s", cut);
        const char *o2[] = {ms, over, NULL};
        st = t_run(h, text, o2, d2, sizeof d2);
        lab_run_clear_stop();
    }
    cr_assert_eq(st, LAB_RUN_OK, "%s", lab_error());
    cr_assert(rounds >= 2, "only %d resumes", rounds);
    t_same_checkpoints(full, cut);
    char pa[PATH_MAX + 64], pb[PATH_MAX + 64];
    snprintf(pa, sizeof pa, "%s/noprop.json", full);
    snprintf(pb, sizeof pb, "%s/noprop.json", cut);
    char *ra = rt_read(pa), *rb = rt_read(pb);
    cr_assert(ra && rb);
    const char *keys[] = {"test_r0", "test_r1", "train_r0", "train_r1", "test_near_r0"};
    for (int i = 0; i < 5; i++) cr_assert_eq(t_json_num(ra, keys[i]), t_json_num(rb, keys[i]), "%s", keys[i]);
    free(ra);
    free(rb);
    lab_plugin_unload(h);
    rt_rmtree(tmp);
}

Test(noprop, resume_mid_epoch_gives_identical_results)
{
    resume_case("dt", 0);
    resume_case("ct", 0);
}
Test(noprop, resume_of_concurrent_blocks_gives_identical_results) { resume_case("dt", 1); }

/* train.epochs = 0 takes the paper's epochs per cell (brief §8). */
Test(noprop, paper_epochs_per_cell)
{
    cr_assert_eq(np_paper_epochs(NP_DT, "mnist"), 100);
    cr_assert_eq(np_paper_epochs(NP_FM, "mnist"), 100);
    cr_assert_eq(np_paper_epochs(NP_BP, "cifar10"), 150);
    cr_assert_eq(np_paper_epochs(NP_DT, "cifar100"), 150);
    cr_assert_eq(np_paper_epochs(NP_CT, "cifar10"), 500);
    cr_assert_eq(np_paper_epochs(NP_FM, "cifar100"), 1000);
    const char *text = "[noprop]\nmethod = ct\n[data]\nname = cifar100\n[train]\nepochs = 0\n";
    lab_cfg *c = lab_cfg_parse("e.ini", text, strlen(text));
    cr_assert_not_null(c);
    cr_assert_eq(lab_cfg_validate(c, params, LAB_COUNT(params)), 0, "%s", lab_error());
    np_opts o;
    cr_assert_eq(read_opts(c, &o), 0, "%s", lab_error());
    cr_assert_eq(o.epochs, 1000);
    lab_cfg_free(c);
}
