/* End to end through the core runtime: read real Fashion-MNIST (gzip IDX),
 * train a 784-128-10 MLP with Adam on 2,000 training images, and reach at
 * least 80% accuracy on 1,000 held-out test images; then checkpoint the
 * model and optimizer with safetensors, reload them into a fresh model and
 * get the same predictions. Uses data readers, ops, autograd, scopes, nn,
 * optim, metrics and io together. Skipped when the data set is absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "labtest.h"
#include "lab/data.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"
#define NTRAIN 2000
#define NTEST 1000
#define BATCH 50
#define EPOCHS 12

typedef struct {
    lab_params *p;
    lab_linear_layer fc1, fc2;
} mlp;

static void mlp_init(mlp *m, uint64_t seed)
{
    lab_rng rng = lab_rng_make(seed, 0);
    m->p = lab_params_new();
    cr_assert_eq(lab_linear_layer_init(&m->fc1, m->p, "fc1", 784, 128, 1, &rng), 0, "%s", lab_error());
    cr_assert_eq(lab_linear_layer_init(&m->fc2, m->p, "fc2", 128, 10, 1, &rng), 0, "%s", lab_error());
}

static lab_tensor *mlp_forward(const mlp *m, lab_tensor *x)
{
    return lab_linear_layer_forward(&m->fc2, lab_relu(lab_linear_layer_forward(&m->fc1, x)));
}

/* The first n images of an IDX file as f32 [n, 784] scaled to [0, 1], and
 * their labels; the full files are released before returning. */
static void load_split(const char *images, const char *labels, int64_t n, lab_tensor **x, lab_tensor **y)
{
    lab_scope_begin();
    lab_tensor *xi = lab_idx_read(images);
    cr_assert_not_null(xi, "%s", lab_error());
    lab_tensor *yi = lab_idx_read(labels);
    cr_assert_not_null(yi, "%s", lab_error());
    cr_assert(xi->ndim == 3 && xi->shape[1] == 28 && xi->shape[2] == 28 && xi->shape[0] >= n);
    cr_assert(yi->ndim == 1 && yi->dtype == LAB_I64 && yi->shape[0] == xi->shape[0]);
    lab_tensor *flat = lab_reshape(lab_slice(xi, 0, 0, n), 2, (int64_t[]){n, 784});
    *x = lab_tensor_own(lab_affine(flat, 1.0f / 255.0f, 0.0f));
    *y = lab_tensor_own(lab_tensor_clone(lab_slice(yi, 0, 0, n)));
    cr_assert_not_null(*x, "%s", lab_error());
    cr_assert_not_null(*y, "%s", lab_error());
    lab_scope_end();
}

static double evaluate(const mlp *m, lab_tensor *x, lab_tensor *y, int64_t *pred_out)
{
    int prev = lab_grad_set_enabled(0);
    lab_scope_begin();
    lab_tensor *logits = mlp_forward(m, x);
    cr_assert_not_null(logits, "%s", lab_error());
    double acc = lab_metric_accuracy_t(logits, y);
    if (pred_out) {
        lab_tensor *pred = lab_argmax(logits, 1, 0);
        cr_assert_not_null(pred, "%s", lab_error());
        memcpy(pred_out, lab_tensor_i64(pred), (size_t)pred->numel * sizeof *pred_out);
    }
    lab_scope_end();
    lab_grad_set_enabled(prev);
    return acc;
}

Test(e2e, mlp_adam_fashion_mnist)
{
    const char *files[4] = {FMNIST "train-images-idx3-ubyte.gz", FMNIST "train-labels-idx1-ubyte.gz",
                            FMNIST "t10k-images-idx3-ubyte.gz", FMNIST "t10k-labels-idx1-ubyte.gz"};
    for (int i = 0; i < 4; i++)
        if (access(files[i], R_OK) != 0) cr_skip_test("Fashion-MNIST not found: %s is missing", files[i]);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    lab_tensor *xtr, *ytr, *xte, *yte;
    load_split(files[0], files[1], NTRAIN, &xtr, &ytr);
    load_split(files[2], files[3], NTEST, &xte, &yte);

    mlp m;
    mlp_init(&m, 1234);
    lab_optim_config oc = lab_optim_defaults(LAB_OPTIM_ADAM);
    oc.lr = 2e-3f;
    lab_optim *opt = lab_optim_new(&oc, m.p);
    cr_assert_not_null(opt, "%s", lab_error());
    double before = evaluate(&m, xte, yte, NULL);

    lab_rng shuffle = lab_rng_make(99, 1);
    const int64_t *ylab = lab_tensor_i64(ytr);
    double first_epoch_loss = 0, last_epoch_loss = 0;
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        lab_tensor *perm = lab_rng_randperm(&shuffle, NTRAIN);
        double loss_sum = 0;
        for (int64_t b = 0; b < NTRAIN; b += BATCH) {
            lab_scope_begin();
            lab_tensor *idx = lab_slice(perm, 0, b, b + BATCH);
            int64_t yb_host[BATCH];
            for (int i = 0; i < BATCH; i++) yb_host[i] = ylab[lab_tensor_i64(idx)[i]];
            lab_tensor *xb = lab_index_select(xtr, 0, idx);
            lab_tensor *yb = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){BATCH}, yb_host, LAB_CPU);
            lab_tensor *loss = lab_cross_entropy(mlp_forward(&m, xb), yb);
            cr_assert_eq(lab_backward(loss), 0, "step %lld of epoch %d: %s", (long long)b, epoch, lab_error());
            cr_assert_eq(lab_optim_step(opt), 0, "%s", lab_error());
            lab_optim_zero_grad(opt);
            loss_sum += lab_tensor_item(loss);
            lab_scope_end();
        }
        lab_tensor_release(perm);
        double mean_loss = loss_sum / (NTRAIN / BATCH);
        if (epoch == 0) first_epoch_loss = mean_loss;
        last_epoch_loss = mean_loss;
    }
    int64_t pred[NTEST];
    double acc = evaluate(&m, xte, yte, pred);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    cr_log_info("fashion-mnist mlp: test accuracy %.3f (untrained %.3f), loss %.3f -> %.3f, %lld steps, %.2f s",
                acc, before, first_epoch_loss, last_epoch_loss, (long long)lab_optim_steps(opt), secs);
    fprintf(stderr, "e2e: fashion-mnist mlp: test accuracy %.3f (untrained %.3f), train loss %.3f -> %.3f, %.2f s\n",
            acc, before, first_epoch_loss, last_epoch_loss, secs);
    cr_assert(acc >= 0.80, "test accuracy %.3f is below 0.80", acc);
    cr_assert(last_epoch_loss < 0.6 * first_epoch_loss, "loss %.3f -> %.3f", first_epoch_loss, last_epoch_loss);
    cr_assert_eq(lab_optim_steps(opt), EPOCHS * (NTRAIN / BATCH));

    /* Checkpoint model + optimizer state, reload into a fresh model. */
    char path[] = "/tmp/labtest-e2e-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    close(fd);
    lab_params *ck = lab_params_new();
    cr_assert_eq(lab_params_extend(ck, m.p, "model."), 0, "%s", lab_error());
    cr_assert_eq(lab_optim_state_export(opt, ck, "optim."), 0, "%s", lab_error());
    cr_assert(m.fc1.w->requires_grad); /* gathering for a save leaves the model trainable */
    const char *meta[] = {"format", "labrun-ckpt-1", "test", "e2e_mlp", NULL};
    cr_assert_eq(lab_safetensors_save(path, ck, meta), 0, "%s", lab_error());
    lab_params_free(ck);

    lab_params *loaded = lab_safetensors_load(path, LAB_CPU, NULL);
    cr_assert_not_null(loaded, "%s", lab_error());
    unlink(path);
    mlp m2;
    mlp_init(&m2, 777); /* different init: the load must overwrite it */
    cr_assert_eq(lab_params_load_prefix(m2.p, loaded, "model.", 0), 0, "%s", lab_error());
    lab_optim *opt2 = lab_optim_new(&oc, m2.p);
    cr_assert_eq(lab_optim_state_import(opt2, loaded, "optim."), 0, "%s", lab_error());
    cr_assert_eq(lab_optim_steps(opt2), lab_optim_steps(opt));
    int64_t pred2[NTEST];
    double acc2 = evaluate(&m2, xte, yte, pred2);
    cr_assert_eq(acc2, acc);
    cr_assert_eq(memcmp(pred, pred2, sizeof pred), 0);

    lab_optim_free(opt2);
    lab_params_free(m2.p);
    lab_params_free(loaded);
    lab_optim_free(opt);
    lab_params_free(m.p);
    lab_tensor_release(xtr);
    lab_tensor_release(ytr);
    lab_tensor_release(xte);
    lab_tensor_release(yte);
}
