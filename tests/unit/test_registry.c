/* Tests of the data set registry (lab_dataset_* in lab/loader.h): finding
 * files under a root, $LAB_DATA_DIR, the not-found and unknown-name messages,
 * splits and subsets, on small files generated in a temp folder in the real
 * formats; and, when shared/data is reachable, the real MNIST, Cora, MUTAG
 * and FSDD. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "labtest.h"
#include "lab/loader.h"

static char tmproot[256];

static void mk(const char *rel)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmproot, rel);
    mkdir(p, 0755);
}

static void write_file(const char *rel, const void *data, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", tmproot, rel);
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f, "cannot write %s", p);
    fwrite(data, 1, len, f);
    fclose(f);
}

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

/* IDX ubyte images n x 4 x 4 with pixel (i, k) = (i * 16 + k) % 256, and labels i % 10. */
static void write_mnist(const char *dir, const char *stem, int n)
{
    size_t li = 16 + (size_t)n * 16, ll = 8 + (size_t)n;
    unsigned char *img = malloc(li), *lab = malloc(ll);
    be32(img, 0x803), be32(img + 4, (uint32_t)n), be32(img + 8, 4), be32(img + 12, 4);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 16; k++) img[16 + i * 16 + k] = (unsigned char)((i * 16 + k) % 256);
    be32(lab, 0x801), be32(lab + 4, (uint32_t)n);
    for (int i = 0; i < n; i++) lab[8 + i] = (unsigned char)(i % 10);
    char p[256];
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, stem);
    write_file(p, img, li);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, stem);
    write_file(p, lab, ll);
    free(img);
    free(lab);
}

static void setup_root(void)
{
    snprintf(tmproot, sizeof tmproot, "/tmp/lab_registry_XXXXXX");
    cr_assert_not_null(mkdtemp(tmproot));
    unsetenv("LAB_DATA_DIR");
}

static void teardown_root(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmproot);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(registry, .init = setup_root, .fini = teardown_root);

Test(registry, unknown_name_lists_known_ones)
{
    lab_data_spec s = {.name = "imagenet"};
    cr_assert_null(lab_dataset_open(&s));
    lt_assert_error_contains("data: unknown data set 'imagenet'; known: mnist, fashion-mnist, cifar10, cifar100, cora, "
                             "citeseer, pubmed, tu:<NAME>");
    lt_assert_error_contains("fsdd");
    const char *const *names = lab_dataset_names();
    int n = 0;
    while (names[n]) n++;
    cr_assert_eq(n, 9);
    s.name = "tu:../etc";
    cr_assert_null(lab_dataset_open(&s));
    lt_assert_error_contains("unknown data set 'tu:../etc'");
}

Test(registry, missing_data_set_says_where_and_how)
{
    lab_data_spec s = {.name = "mnist", .root = tmproot};
    cr_assert_null(lab_dataset_open(&s));
    lt_assert_error_contains("data: mnist not found: need train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
                             "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]");
    char want[400];
    snprintf(want, sizeof want, "looked in %s/mnist (no such folder)", tmproot);
    lt_assert_error_contains(want);
    lt_assert_error_contains("hint: run `make data`");
    /* A partial folder names the missing files. */
    mk("mnist");
    write_mnist("mnist", "train", 3);
    cr_assert_null(lab_dataset_open(&s));
    snprintf(want, sizeof want, "%s/mnist (missing t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])", tmproot);
    lt_assert_error_contains(want);
    /* CIFAR says where to put the original binary files. */
    s.name = "cifar10";
    cr_assert_null(lab_dataset_open(&s));
    lt_assert_error_contains("need data_batch_1.bin, data_batch_2.bin");
    lt_assert_error_contains("https://www.cs.toronto.edu/~kriz/cifar.html");
    lt_assert_error_contains("data/cifar10/cifar-10-batches-bin/data_batch_1.bin");
    s.name = "cifar100";
    cr_assert_null(lab_dataset_open(&s));
    lt_assert_error_contains("need train.bin, test.bin");
    lt_assert_error_contains("data/cifar100/cifar-100-binary/train.bin");
}

Test(registry, images_splits_and_subset)
{
    mk("mnist");
    write_mnist("mnist", "train", 20);
    write_mnist("mnist", "t10k", 5);
    lab_data_spec s = {.name = "MNIST", .root = tmproot, .val_fraction = 0.2};
    lab_dataset *ds = lab_dataset_open(&s);
    cr_assert_not_null(ds, "%s", lab_error());
    cr_assert_str_eq(ds->name, "mnist");
    cr_assert_eq(ds->kind, LAB_DATA_IMAGES);
    cr_assert_eq(ds->num_classes, 10);
    cr_assert_eq(ds->channels, 1);
    cr_assert_float_eq(ds->mean[0], 0.1307f, 1e-6);
    cr_assert_eq(ds->train_x->ndim, 4);
    cr_assert_eq(ds->train_x->shape[0], 16);
    cr_assert_eq(ds->train_x->shape[1], 1);
    cr_assert_eq(ds->train_x->shape[2], 4);
    cr_assert_eq(ds->val_x->shape[0], 4);
    cr_assert_eq(ds->test_x->shape[0], 5);
    /* The validation set is the last 20% of the training file. */
    cr_assert_eq(lab_tensor_f32(ds->val_x)[1], (float)((16 * 16 + 1) % 256));
    cr_assert_eq(lab_tensor_i64(ds->val_y)[0], 6);
    cr_assert_eq(lab_tensor_i64(ds->train_y)[15], 5);
    lab_dataset_free(ds);

    s.subset = 10;
    ds = lab_dataset_open(&s);
    cr_assert_not_null(ds, "%s", lab_error());
    cr_assert_eq(ds->train_x->shape[0], 8);
    cr_assert_eq(ds->val_x->shape[0], 2);
    cr_assert_eq(ds->test_x->shape[0], 5);
    cr_assert_eq(lab_tensor_i64(ds->val_y)[0], 8);
    /* The splits work with the loader. */
    lab_loader_cfg c = lab_loader_defaults(4);
    c.scale = 1.0f / 255;
    c.mean = ds->mean;
    c.std = ds->std;
    c.channels = ds->channels;
    lab_rng rng = lab_rng_make(1, 0);
    lab_loader *l = lab_loader_new(ds->train_x, ds->train_y, &c, &rng);
    cr_assert_not_null(l, "%s", lab_error());
    lab_tensor *bx, *by;
    cr_assert_eq(lab_loader_next(l, &bx, &by), 1);
    cr_assert_eq(bx->shape[1], 1);
    lab_tensor_release(bx);
    lab_tensor_release(by);
    lab_loader_free(l);
    lab_dataset_free(ds);

    s.subset = 0;
    s.val_fraction = 1.0;
    cr_assert_null(lab_dataset_open(&s));
    lt_assert_error_contains("val_fraction must be in [0, 1), got 1");
}

Test(registry, data_dir_environment_variable)
{
    mk("mnist");
    write_mnist("mnist", "train", 4);
    write_mnist("mnist", "t10k", 2);
    setenv("LAB_DATA_DIR", tmproot, 1);
    char dir[4096], want[400];
    cr_assert_eq(lab_dataset_locate("mnist", NULL, dir, sizeof dir), 0, "%s", lab_error());
    snprintf(want, sizeof want, "%s/mnist", tmproot);
    char real[4096];
    cr_assert_not_null(realpath(want, real));
    cr_assert_str_eq(dir, real);
    unsetenv("LAB_DATA_DIR");
}

Test(registry, cifar10_from_extracted_folder)
{
    mk("cifar10");
    mk("cifar10/cifar-10-batches-bin");
    unsigned char rec[2 * 3073];
    for (int f = 0; f <= 5; f++) {
        for (int r = 0; r < 2; r++) {
            rec[r * 3073] = (unsigned char)((f * 2 + r) % 10);
            for (int k = 0; k < 3072; k++) rec[r * 3073 + 1 + k] = (unsigned char)((k + f) % 256);
        }
        char name[96];
        if (f < 5)
            snprintf(name, sizeof name, "cifar10/cifar-10-batches-bin/data_batch_%d.bin", f + 1);
        else
            snprintf(name, sizeof name, "cifar10/cifar-10-batches-bin/test_batch.bin");
        write_file(name, rec, sizeof rec);
    }
    lab_data_spec s = {.name = "cifar10", .root = tmproot, .val_fraction = 0.1};
    lab_dataset *ds = lab_dataset_open(&s);
    cr_assert_not_null(ds, "%s", lab_error());
    cr_assert_eq(ds->channels, 3);
    cr_assert_eq(ds->train_x->shape[0], 9);
    cr_assert_eq(ds->train_x->shape[1], 3);
    cr_assert_eq(ds->train_x->shape[3], 32);
    cr_assert_eq(ds->val_x->shape[0], 1);
    cr_assert_eq(ds->test_x->shape[0], 2);
    cr_assert_eq(lab_tensor_i64(ds->val_y)[0], 9);
    cr_assert_eq(lab_tensor_f32(ds->test_x)[0], 5.0f);
    lab_dataset_free(ds);
}

/* 16-bit mono PCM WAV of n samples at 8 kHz. */
static void write_wav(const char *rel, int n)
{
    unsigned char h[44];
    int data = n * 2;
    memcpy(h, "RIFF", 4);
    uint32_t v = (uint32_t)(36 + data);
    memcpy(h + 4, &v, 4);
    memcpy(h + 8, "WAVEfmt ", 8);
    v = 16, memcpy(h + 16, &v, 4);
    uint16_t s16 = 1;
    memcpy(h + 20, &s16, 2); /* PCM */
    memcpy(h + 22, &s16, 2); /* mono */
    v = 8000, memcpy(h + 24, &v, 4);
    v = 16000, memcpy(h + 28, &v, 4);
    s16 = 2, memcpy(h + 32, &s16, 2);
    s16 = 16, memcpy(h + 34, &s16, 2);
    memcpy(h + 36, "data", 4);
    v = (uint32_t)data, memcpy(h + 40, &v, 4);
    unsigned char *buf = malloc(44 + (size_t)data);
    memcpy(buf, h, 44);
    for (int i = 0; i < n; i++) {
        int16_t x = (int16_t)(i * 100);
        memcpy(buf + 44 + 2 * i, &x, 2);
    }
    write_file(rel, buf, 44 + (size_t)data);
    free(buf);
}

Test(registry, fsdd_splits_by_recording_index)
{
    mk("fsdd");
    mk("fsdd/recordings");
    write_wav("fsdd/recordings/1_b_7.wav", 300);
    write_wav("fsdd/recordings/0_a_0.wav", 100);
    write_wav("fsdd/recordings/1_a_5.wav", 200);
    write_wav("fsdd/recordings/2_a_6.wav", 250);
    lab_data_spec s = {.name = "fsdd", .root = tmproot, .val_fraction = 0.05}; /* round(2.25) = 2: indices 5, 6 */
    lab_dataset *ds = lab_dataset_open(&s);
    cr_assert_not_null(ds, "%s", lab_error());
    cr_assert_eq(ds->kind, LAB_DATA_AUDIO);
    cr_assert_eq(ds->num_clips, 4);
    cr_assert_eq(ds->sample_rate, 8000);
    /* Sorted by name: 0_a_0, 1_a_5, 1_b_7, 2_a_6. */
    cr_assert_str_eq(ds->clip_names[2], "1_b_7");
    cr_assert_eq(ds->clips[2]->shape[0], 300);
    const int64_t labels[4] = {0, 1, 1, 2};
    for (int i = 0; i < 4; i++) cr_assert_eq(lab_tensor_i64(ds->clip_labels)[i], labels[i]);
    cr_assert_eq(ds->test_ids->numel, 1);
    cr_assert_eq(lab_tensor_i64(ds->test_ids)[0], 0);
    cr_assert_eq(ds->val_ids->numel, 2);
    cr_assert_eq(lab_tensor_i64(ds->val_ids)[0], 1); /* index 5 before index 6 */
    cr_assert_eq(lab_tensor_i64(ds->val_ids)[1], 3);
    cr_assert_eq(ds->train_ids->numel, 1);
    cr_assert_eq(lab_tensor_i64(ds->train_ids)[0], 2);
    lab_dataset_free(ds);
    /* Graph data sets refuse subset / val_fraction. */
    lab_data_spec g = {.name = "tu:MUTAG", .root = tmproot, .subset = 5};
    cr_assert_null(lab_dataset_open(&g));
    lt_assert_error_contains("subset and val_fraction do not apply to tu:MUTAG");
}

/* --- the real data, when this checkout can see shared/data ------------------ */

static int have(const char *name, char *dir, size_t len)
{
    return lab_dataset_locate(name, NULL, dir, len) == 0;
}

Test(registry, real_cora_and_mutag)
{
    char dir[4096];
    if (!have("cora", dir, sizeof dir) || !have("tu:MUTAG", dir, sizeof dir))
        cr_skip_test("shared data not found: %s", lab_error());
    lab_data_spec s = {.name = "cora"};
    lab_dataset *ds = lab_dataset_open(&s);
    cr_assert_not_null(ds, "%s", lab_error());
    cr_assert_eq(ds->kind, LAB_DATA_NODES);
    cr_assert_eq(ds->planetoid->num_nodes, 2708);
    cr_assert_eq(ds->num_classes, 7);
    lab_dataset_free(ds);
    s.name = "tu:MUTAG";
    ds = lab_dataset_open(&s);
    cr_assert_not_null(ds, "%s", lab_error());
    cr_assert_eq(ds->tu->num_graphs, 188);
    cr_assert_eq(ds->num_classes, 2);
    lab_dataset_free(ds);
}

Test(registry, real_fsdd_official_split)
{
    char dir[4096];
    if (!have("fsdd", dir, sizeof dir)) cr_skip_test("shared data not found: %s", lab_error());
    lab_data_spec s = {.name = "fsdd", .subset = 60};
    lab_dataset *ds = lab_dataset_open(&s);
    cr_assert_not_null(ds, "%s", lab_error());
    cr_assert_eq(ds->num_clips, 3000);
    cr_assert_eq(ds->sample_rate, 8000);
    /* Recording index 0 of every digit and speaker comes first: 60 clips. */
    cr_assert_eq(ds->test_ids->numel, 60);
    int digits[10] = {0};
    for (int i = 0; i < 60; i++) digits[lab_tensor_i64(ds->clip_labels)[lab_tensor_i64(ds->test_ids)[i]]]++;
    for (int d = 0; d < 10; d++) cr_assert_eq(digits[d], 6);
    lab_dataset_free(ds);
}

Test(registry, fashion_mnist_from_the_debian_package)
{
    char dir[4096];
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0)
        cr_skip_test("dataset-fashion-mnist is not installed");
    cr_assert_eq(lab_dataset_locate("fashion-mnist", NULL, dir, sizeof dir), 0, "%s", lab_error());
    cr_assert(strstr(dir, "fashion-mnist") != NULL, "%s", dir);
}

Test(registry, real_mnist_with_validation_split)
{
    char dir[4096];
    if (!have("mnist", dir, sizeof dir)) cr_skip_test("shared data not found: %s", lab_error());
    lab_data_spec s = {.name = "mnist", .val_fraction = 5000.0 / 60000};
    lab_dataset *ds = lab_dataset_open(&s);
    cr_assert_not_null(ds, "%s", lab_error());
    cr_assert_eq(ds->train_x->shape[0], 55000);
    cr_assert_eq(ds->val_x->shape[0], 5000);
    cr_assert_eq(ds->test_x->shape[0], 10000);
    cr_assert_eq(ds->train_x->shape[1], 1);
    cr_assert_eq(ds->train_x->shape[3], 28);
    /* The first training labels of MNIST: 5 0 4 1 9. */
    const int64_t first[5] = {5, 0, 4, 1, 9};
    for (int i = 0; i < 5; i++) cr_assert_eq(lab_tensor_i64(ds->train_y)[i], first[i]);
    lab_dataset_free(ds);
}

Test(registry, real_pubmed_names_the_missing_file)
{
    char dir[4096];
    if (!have("cora", dir, sizeof dir)) cr_skip_test("shared data not found: %s", lab_error());
    if (have("pubmed", dir, sizeof dir)) cr_skip_test("this checkout has a complete PubMed in %s", dir);
    lab_data_spec s = {.name = "pubmed"};
    cr_assert_null(lab_dataset_open(&s));
    lt_assert_error_contains("data: pubmed not found: need ind.pubmed.x, ind.pubmed.y");
    lt_assert_error_contains("planetoid (missing ind.pubmed.allx)");
    lt_assert_error_contains("git blob");
}
