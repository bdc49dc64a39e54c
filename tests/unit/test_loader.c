/* Tests of the loader in lab/loader.h: batch order, drop_last, subsets,
 * shuffling, augmentation and normalisation against a direct reimplementation
 * of the documented contract, identical batches with and without
 * prefetching, set_epoch, and clean shutdown (no thread or tensor left). */
#include <dirent.h>
#include <string.h>
#include <unistd.h>

#include "labtest.h"
#include "lab/loader.h"

/* x [n, c] with x[i][k] = 100 i + k; y[i] = i % 7. */
static void make_rows(int64_t n, int64_t c, lab_tensor **x, lab_tensor **y)
{
    float *xv = malloc((size_t)(n * c) * sizeof *xv);
    int64_t *yv = malloc((size_t)n * sizeof *yv);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t k = 0; k < c; k++) xv[i * c + k] = (float)(100 * i + k);
        yv[i] = i % 7;
    }
    int64_t xs[2] = {n, c};
    *x = lab_tensor_from_f32(xv, 2, xs);
    *y = lab_tensor_from_data(LAB_I64, 1, &n, yv, LAB_CPU);
    free(xv);
    free(yv);
}

/* Images [n, C, H, W] with distinct pseudo-random values 0..255. */
static lab_tensor *make_images(int64_t n, int64_t C, int64_t H, int64_t W)
{
    int64_t s[4] = {n, C, H, W};
    lab_tensor *t = lab_tensor_empty(LAB_F32, 4, s, LAB_CPU);
    float *p = lab_tensor_f32(t);
    for (int64_t i = 0; i < t->numel; i++) p[i] = (float)((i * 37 + 11) % 256);
    return t;
}

static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

Test(loader, sequential_batches_and_epochs)
{
    lab_scope_begin();
    lab_tensor *x, *y;
    make_rows(10, 3, &x, &y);
    lab_loader_cfg c = lab_loader_defaults(4);
    c.shuffle = 0;
    c.prefetch = 0;
    lab_rng rng = lab_rng_make(1, 0);
    lab_loader *l = lab_loader_new(x, y, &c, &rng);
    cr_assert_not_null(l, "%s", lab_error());
    cr_assert_eq(lab_loader_size(l), 10);
    cr_assert_eq(lab_loader_num_batches(l), 3);
    for (int epoch = 0; epoch < 2; epoch++) {
        cr_assert_eq(lab_loader_epoch(l), epoch);
        const int64_t sizes[3] = {4, 4, 2};
        for (int b = 0; b < 3; b++) {
            lab_tensor *bx, *by;
            cr_assert_eq(lab_loader_next(l, &bx, &by), 1);
            cr_assert_eq(bx->shape[0], sizes[b]);
            cr_assert_eq(bx->shape[1], 3);
            for (int64_t i = 0; i < sizes[b]; i++) {
                int64_t id = 4 * b + i;
                cr_assert_eq(lab_tensor_f32(bx)[i * 3 + 2], (float)(100 * id + 2));
                cr_assert_eq(lab_tensor_i64(by)[i], id % 7);
            }
        }
        lab_tensor *bx, *by;
        cr_assert_eq(lab_loader_next(l, &bx, &by), 0);
        cr_assert_null(bx);
    }
    lab_loader_free(l);
    lab_scope_end();
}

Test(loader, drop_last_and_subset)
{
    lab_scope_begin();
    lab_tensor *x, *y;
    make_rows(10, 2, &x, &y);
    lab_loader_cfg c = lab_loader_defaults(4);
    c.drop_last = 1;
    lab_rng rng = lab_rng_make(2, 0);
    lab_loader *l = lab_loader_new(x, y, &c, &rng);
    cr_assert_eq(lab_loader_num_batches(l), 2);
    int seen[10] = {0}, n = 0;
    lab_tensor *bx, *by;
    while (lab_loader_next(l, &bx, &by) > 0) {
        cr_assert_eq(bx->shape[0], 4);
        for (int i = 0; i < 4; i++) seen[(int)(lab_tensor_f32(bx)[2 * i] / 100)]++, n++;
    }
    cr_assert_eq(n, 8);
    for (int i = 0; i < 10; i++) cr_assert(seen[i] <= 1);
    lab_loader_free(l);

    const int64_t sub[] = {9, 3, 5};
    c = lab_loader_defaults(2);
    c.subset = sub;
    c.subset_len = 3;
    l = lab_loader_new(x, y, &c, &rng);
    cr_assert_eq(lab_loader_size(l), 3);
    int hit[10] = {0};
    while (lab_loader_next(l, &bx, &by) > 0)
        for (int64_t i = 0; i < bx->shape[0]; i++) hit[(int)(lab_tensor_f32(bx)[2 * i] / 100)]++;
    for (int i = 0; i < 10; i++) cr_assert_eq(hit[i], i == 9 || i == 3 || i == 5);
    lab_loader_free(l);
    lab_scope_end();
}

/* Ids of one epoch in batch order. */
static void epoch_ids(lab_loader *l, int64_t *ids, int64_t n)
{
    lab_tensor *bx, *by;
    int64_t k = 0;
    while (lab_loader_next(l, &bx, &by) > 0)
        for (int64_t i = 0; i < bx->shape[0]; i++) ids[k++] = (int64_t)(lab_tensor_f32(bx)[i] / 100);
    cr_assert_eq(k, n);
}

Test(loader, shuffle_is_a_permutation_per_epoch_and_seeded)
{
    lab_scope_begin();
    lab_tensor *x, *y;
    make_rows(50, 1, &x, &y);
    lab_loader_cfg c = lab_loader_defaults(8);
    lab_rng r1 = lab_rng_make(5, 0), r2 = lab_rng_make(5, 0), r3 = lab_rng_make(6, 0);
    lab_loader *a = lab_loader_new(x, y, &c, &r1), *b = lab_loader_new(x, y, &c, &r2), *d = lab_loader_new(x, y, &c, &r3);
    int64_t e0[50], e1[50], f0[50], g0[50];
    epoch_ids(a, e0, 50);
    epoch_ids(a, e1, 50);
    epoch_ids(b, f0, 50);
    epoch_ids(d, g0, 50);
    int hit[50] = {0};
    for (int i = 0; i < 50; i++) hit[e0[i]]++;
    for (int i = 0; i < 50; i++) cr_assert_eq(hit[i], 1);
    cr_assert_neq(memcmp(e0, e1, sizeof e0), 0, "epochs 0 and 1 have the same order");
    cr_assert_eq(memcmp(e0, f0, sizeof e0), 0, "same seed, different order");
    cr_assert_neq(memcmp(e0, g0, sizeof e0), 0, "different seeds, same order");
    /* The caller's rng is not advanced. */
    cr_assert_eq(r1.offset, 0);
    lab_loader_free(a);
    lab_loader_free(b);
    lab_loader_free(d);
    lab_scope_end();
}

/* The documented contract, written out directly: order from
 * fork(fork(rng,1), e), augmentation from fork(fork(fork(rng,2), e), b),
 * crop offsets then flip per sample, then scale and normalise. */
static void reference_batch(const lab_tensor *x, const lab_rng *rng, int64_t e, int64_t b, int64_t bs, int pad,
                            float scale, const float *mean, const float *std, float *out, int64_t *count)
{
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t perm[64];
    for (int64_t i = 0; i < N; i++) perm[i] = i;
    lab_rng sh = lab_rng_fork(rng, 1), she = lab_rng_fork(&sh, (uint64_t)e);
    lab_rng_shuffle_i64(&she, perm, N);
    lab_rng au = lab_rng_fork(rng, 2), aue = lab_rng_fork(&au, (uint64_t)e), aug = lab_rng_fork(&aue, (uint64_t)b);
    int64_t start = b * bs, cnt = N - start < bs ? N - start : bs;
    const float *src = lab_tensor_f32(x);
    for (int64_t i = 0; i < cnt; i++) {
        const float *s = src + perm[start + i] * C * H * W;
        int64_t dy = (int64_t)lab_rng_next_below(&aug, (uint64_t)(2 * pad + 1));
        int64_t dx = (int64_t)lab_rng_next_below(&aug, (uint64_t)(2 * pad + 1));
        int flip = (int)lab_rng_next_below(&aug, 2);
        for (int64_t ch = 0; ch < C; ch++)
            for (int64_t r = 0; r < H; r++)
                for (int64_t q = 0; q < W; q++) {
                    int64_t sr = r + dy - pad, sq = (flip ? W - 1 - q : q) + dx - pad;
                    float v = (sr >= 0 && sr < H && sq >= 0 && sq < W) ? s[(ch * H + sr) * W + sq] : 0.0f;
                    out[((i * C + ch) * H + r) * W + q] = (v * scale - mean[ch]) / std[ch];
                }
    }
    *count = cnt;
}

Test(loader, augmentation_and_normalisation_match_contract)
{
    lab_scope_begin();
    lab_tensor *x = make_images(13, 3, 5, 6);
    lab_loader_cfg c = lab_loader_defaults(4);
    c.crop_pad = 2;
    c.hflip = 1;
    c.scale = 1.0f / 255;
    const float mean[3] = {0.4f, 0.5f, 0.6f}, std[3] = {0.2f, 0.25f, 0.3f};
    c.mean = mean;
    c.std = std;
    c.channels = 3;
    lab_rng rng = lab_rng_make(77, 4);
    lab_loader *l = lab_loader_new(x, NULL, &c, &rng);
    cr_assert_not_null(l, "%s", lab_error());
    float ref[4 * 3 * 5 * 6];
    int flipped = 0, shifted = 0, total = 0;
    for (int64_t e = 0; e < 2; e++) {
        for (int64_t b = 0; b < 4; b++) {
            lab_tensor *bx, *by;
            cr_assert_eq(lab_loader_next(l, &bx, &by), 1);
            cr_assert_null(by);
            int64_t cnt;
            reference_batch(x, &rng, e, b, 4, 2, 1.0f / 255, mean, std, ref, &cnt);
            cr_assert_eq(bx->shape[0], cnt);
            lt_assert_tensor_close(bx, ref, 1e-6, 1e-6);
            total += (int)cnt;
        }
        lab_tensor *bx, *by;
        cr_assert_eq(lab_loader_next(l, &bx, &by), 0);
    }
    /* The draws really vary: count flips and shifts in the same streams. */
    for (int64_t e = 0; e < 2; e++)
        for (int64_t b = 0; b < 4; b++) {
            lab_rng au = lab_rng_fork(&rng, 2), aue = lab_rng_fork(&au, (uint64_t)e), aug = lab_rng_fork(&aue, (uint64_t)b);
            for (int i = 0; i < 4; i++) {
                int64_t dy = (int64_t)lab_rng_next_below(&aug, 5), dx = (int64_t)lab_rng_next_below(&aug, 5);
                flipped += (int)lab_rng_next_below(&aug, 2);
                shifted += dy != 2 || dx != 2;
            }
        }
    cr_assert_eq(total, 26);
    cr_assert(flipped > 0 && flipped < 32 && shifted > 0);
    lab_loader_free(l);
    lab_scope_end();
}

Test(loader, single_channel_normalisation_on_flat_rows)
{
    lab_scope_begin();
    lab_tensor *x, *y;
    make_rows(6, 4, &x, &y);
    lab_loader_cfg c = lab_loader_defaults(6);
    c.shuffle = 0;
    c.scale = 0.5f;
    const float m = 3.0f, s = 2.0f;
    c.mean = &m;
    c.std = &s;
    c.channels = 1;
    lab_rng rng = lab_rng_make(1, 0);
    lab_loader *l = lab_loader_new(x, y, &c, &rng);
    lab_tensor *bx, *by;
    cr_assert_eq(lab_loader_next(l, &bx, &by), 1);
    float want[24];
    for (int i = 0; i < 24; i++) want[i] = (lab_tensor_f32(x)[i] * 0.5f - 3.0f) / 2.0f;
    lt_assert_tensor_close(bx, want, 1e-6, 1e-6);
    lab_loader_free(l);
    lab_scope_end();
}

/* Every batch of `epochs` epochs, concatenated. */
static float *run_all(lab_tensor *x, lab_tensor *y, int prefetch, int epochs, int64_t *n_out)
{
    lab_loader_cfg c = lab_loader_defaults(5);
    c.prefetch = prefetch;
    c.crop_pad = 1;
    c.hflip = 1;
    const float mean = 100, std = 50;
    c.mean = &mean;
    c.std = &std;
    c.channels = 1;
    lab_rng rng = lab_rng_make(2024, 1);
    lab_loader *l = lab_loader_new(x, y, &c, &rng);
    cr_assert_not_null(l, "%s", lab_error());
    float *all = malloc((size_t)(x->numel * epochs) * sizeof *all);
    int64_t k = 0;
    for (int e = 0; e < epochs; e++) {
        lab_tensor *bx, *by;
        int rc;
        lab_scope_begin();
        while ((rc = lab_loader_next(l, &bx, &by)) > 0) {
            memcpy(all + k, lab_tensor_f32(bx), (size_t)bx->numel * sizeof *all);
            k += bx->numel;
            /* Labels travel with their samples. */
            cr_assert_eq(by->shape[0], bx->shape[0]);
        }
        cr_assert_eq(rc, 0);
        lab_scope_end();
    }
    lab_loader_free(l);
    *n_out = k;
    return all;
}

Test(loader, prefetch_never_changes_batches)
{
    lab_scope_begin();
    lab_tensor *x = make_images(23, 2, 4, 4);
    int64_t n = 23;
    lab_tensor *y = lab_tensor_arange(n, LAB_CPU);
    int64_t n0, n1, n3;
    float *a = run_all(x, y, 0, 3, &n0), *b = run_all(x, y, 1, 3, &n1), *d = run_all(x, y, 3, 3, &n3);
    cr_assert_eq(n0, x->numel * 3);
    cr_assert_eq(n1, n0);
    cr_assert_eq(n3, n0);
    cr_assert_eq(memcmp(a, b, (size_t)n0 * sizeof *a), 0, "prefetch 1 differs from prefetch 0");
    cr_assert_eq(memcmp(a, d, (size_t)n0 * sizeof *a), 0, "prefetch 3 differs from prefetch 0");
    free(a), free(b), free(d);
    lab_scope_end();
}

Test(loader, set_epoch_restarts_deterministically)
{
    lab_scope_begin();
    lab_tensor *x, *y;
    make_rows(30, 2, &x, &y);
    lab_loader_cfg c = lab_loader_defaults(4);
    c.prefetch = 3;
    lab_rng rng = lab_rng_make(8, 0);
    /* Reference: the first batch of epoch 3 after walking epochs 0..2. */
    lab_loader *ref = lab_loader_new(x, y, &c, &rng);
    lab_tensor *bx, *by, *want = NULL;
    for (int e = 0; e < 3; e++)
        while (lab_loader_next(ref, &bx, &by) > 0) {
        }
    cr_assert_eq(lab_loader_epoch(ref), 3);
    cr_assert_eq(lab_loader_next(ref, &want, &by), 1);
    /* Jump there after a partial epoch with batches in flight. */
    lab_loader *l = lab_loader_new(x, y, &c, &rng);
    cr_assert_eq(lab_loader_next(l, &bx, &by), 1);
    cr_assert_eq(lab_loader_next(l, &bx, &by), 1);
    cr_assert_eq(lab_loader_set_epoch(l, 3), 0);
    cr_assert_eq(lab_loader_epoch(l), 3);
    cr_assert_eq(lab_loader_next(l, &bx, &by), 1);
    cr_assert_eq(memcmp(lab_tensor_f32(bx), lab_tensor_f32(want), (size_t)want->numel * 4), 0);
    cr_assert_eq(lab_loader_set_epoch(l, -1), -1);
    lt_assert_error_contains("epoch must be >= 0");
    lab_loader_free(ref);
    lab_loader_free(l);
    lab_scope_end();
}

Test(loader, shutdown_leaves_no_thread_and_batches_outlive_loader)
{
    int before = count_threads();
    lab_tensor *x, *y;
    make_rows(100, 8, &x, &y);
    lab_loader_cfg c = lab_loader_defaults(7);
    c.prefetch = 4;
    lab_rng rng = lab_rng_make(3, 0);
    /* Freed at once, and freed with prefetched batches pending. */
    lab_loader *l = lab_loader_new(x, y, &c, &rng);
    cr_assert_eq(count_threads(), before + 1);
    lab_loader_free(l);
    cr_assert_eq(count_threads(), before);
    l = lab_loader_new(x, y, &c, &rng);
    lab_tensor *bx, *by;
    cr_assert_eq(lab_loader_next(l, &bx, &by), 1);
    usleep(20000);
    lab_loader_free(l);
    cr_assert_eq(count_threads(), before);
    /* A batch handed out (outside any scope) belongs to the caller. */
    cr_assert_eq(bx->shape[0], 7);
    cr_assert_eq(lab_tensor_i64(by)[0], (int64_t)(lab_tensor_f32(bx)[0] / 100) % 7);
    lab_tensor_release(bx);
    lab_tensor_release(by);
    /* The loader held its own references to x and y. */
    lab_tensor_release(x);
    lab_tensor_release(y);
}

Test(loader, wait_statistics)
{
    lab_scope_begin();
    lab_tensor *x, *y;
    make_rows(64, 16, &x, &y);
    lab_loader_cfg c = lab_loader_defaults(8);
    c.prefetch = 0;
    lab_rng rng = lab_rng_make(3, 0);
    lab_loader *l = lab_loader_new(x, y, &c, &rng);
    cr_assert_eq(lab_loader_wait_fraction(l), 0.0);
    lab_tensor *bx, *by;
    while (lab_loader_next(l, &bx, &by) > 0) usleep(1000);
    double w, t;
    lab_loader_stats(l, &w, &t);
    cr_assert(t > 0.007 && w >= 0 && w <= t, "wait %g total %g", w, t);
    double f = lab_loader_wait_fraction(l);
    cr_assert(f >= 0 && f <= 1, "fraction %g", f);
    lab_loader_free(l);
    lab_scope_end();
}

Test(loader, errors_name_the_field)
{
    lab_scope_begin();
    lab_tensor *x, *y;
    make_rows(10, 2, &x, &y);
    lab_rng rng = lab_rng_make(1, 0);
    lab_loader_cfg c = lab_loader_defaults(0);
    cr_assert_null(lab_loader_new(x, y, &c, &rng));
    lt_assert_error_contains("loader: batch_size must be >= 1, got 0");
    c = lab_loader_defaults(4);
    int64_t five = 5;
    cr_assert_null(lab_loader_new(x, lab_tensor_zeros(LAB_I64, 1, &five, LAB_CPU), &c, &rng));
    lt_assert_error_contains("loader: y must be i64 [10] on the cpu to match x f32[10, 2], got i64[5]");
    c.crop_pad = 2;
    cr_assert_null(lab_loader_new(x, y, &c, &rng));
    lt_assert_error_contains("crop and flip need images [N, C, H, W] or [N, H, W], got f32[10, 2]");
    c = lab_loader_defaults(4);
    const int64_t bad[] = {1, 10};
    c.subset = bad;
    c.subset_len = 2;
    cr_assert_null(lab_loader_new(x, y, &c, &rng));
    lt_assert_error_contains("subset index 10 at position 1 is out of range [0, 10)");
    c = lab_loader_defaults(11);
    c.drop_last = 1;
    cr_assert_null(lab_loader_new(x, y, &c, &rng));
    lt_assert_error_contains("drop_last with batch_size 11 leaves no batch of 10 samples");
    c = lab_loader_defaults(4);
    const float m[3] = {0, 0, 0}, s[3] = {1, 1, 1};
    c.mean = m;
    c.std = s;
    c.channels = 3;
    cr_assert_null(lab_loader_new(x, y, &c, &rng));
    lt_assert_error_contains("3 channels of mean/std need x [N, 3, ...], got f32[10, 2]");
    cr_assert_null(lab_loader_new(NULL, y, &c, &rng));
    /* A device that cannot be used is refused at once, with the reason. */
    if (lab_cuda_device_count() <= 0) {
        c = lab_loader_defaults(4);
        c.device = (lab_device){LAB_DEV_CUDA, 0};
        cr_assert_null(lab_loader_new(x, y, &c, &rng));
        lt_assert_error_contains("loader: device cuda:0: ");
        lt_assert_error_contains(lab_cuda_unavailable_reason());
    }
    lab_scope_end();
}
