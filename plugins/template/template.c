/* template — the smallest complete labrun plugin: an MLP classifier
 * (784-hidden-10, ReLU) trained with backprop and Adam on Fashion-MNIST.
 * It shows everything a plugin does: declare its keys, read the data, build
 * a model, train on the run's device and rng, report progress, metrics and
 * results, checkpoint every epoch and resume (also mid-epoch after Ctrl-C).
 * Copy the folder to start a new plugin; docs/writing-a-plugin.md explains
 * each part. */
#include <lab/lab.h>

static const lab_param params[] = {
    LAB_PARAM_STRING("data", "root", "/usr/share/datasets/fashion-mnist", "directory with the four IDX .gz files"),
    LAB_PARAM_INT("data", "subset", "0", 0, 60000, NULL),
    LAB_PARAM_INT("data", "batch_size", "128", 1, 60000, NULL),
    LAB_PARAM_INT("model", "hidden", "256", 1, 65536, "hidden units"),
    LAB_PARAM_INT("train", "epochs", "3", 1, 1000, NULL),
    LAB_PARAM_FLOAT("train", "lr", "1e-3", 0, 1, "Adam learning rate"),
    LAB_PARAM_FLOAT("train", "weight_decay", "0", 0, 1, NULL),
};

/* Images become f32 [n, 784] in [0, 1]; labels stay i64 [n]. */
static lab_tensor *load(const char *root, const char *file, int images, int64_t limit)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, file);
    lab_tensor *t = lab_idx_read(path);
    if (t && limit > 0 && limit < t->shape[0]) t = lab_slice(t, 0, 0, limit);
    if (t && images) t = lab_mul_scalar(lab_reshape(t, 2, (int64_t[]){t->shape[0], 784}), 1.0f / 255);
    return t;
}

static lab_tensor *forward(const lab_linear_layer *fc, lab_tensor *x)
{
    return lab_linear_layer_forward(&fc[1], lab_relu(lab_linear_layer_forward(&fc[0], x)));
}

/* Mean loss and accuracy (%) over a data set, in batches, without a tape. */
static int evaluate(const lab_linear_layer *fc, lab_tensor *x, lab_tensor *y, int64_t bs, double *loss, double *acc)
{
    int64_t n = x->shape[0];
    int grad = lab_grad_set_enabled(0);
    *loss = *acc = 0;
    for (int64_t i = 0; i < n; i += bs) {
        int64_t j = i + bs < n ? i + bs : n;
        lab_scope_begin();
        lab_tensor *logits = forward(fc, lab_slice(x, 0, i, j)), *yb = lab_slice(y, 0, i, j);
        lab_tensor *l = lab_cross_entropy(logits, yb);
        double a = l ? lab_metric_accuracy_t(logits, yb) : NAN;
        if (l) *loss += lab_tensor_item(l) * (double)(j - i);
        *acc += a * (double)(j - i);
        lab_scope_end();
        if (!l || isnan(a)) return lab_grad_set_enabled(grad), -1;
    }
    lab_grad_set_enabled(grad);
    *loss /= (double)n;
    *acc *= 100.0 / (double)n;
    return 0;
}

static int run(lab_ctx *ctx)
{
    const lab_cfg *cfg = lab_ctx_cfg(ctx);
    const char *root = lab_cfg_get_str(cfg, "data.root");
    int64_t subset = lab_cfg_get_int(cfg, "data.subset"), bs = lab_cfg_get_int(cfg, "data.batch_size");
    int64_t hidden = lab_cfg_get_int(cfg, "model.hidden"), epochs = lab_cfg_get_int(cfg, "train.epochs");
    lab_optim_config oc = lab_optim_defaults(LAB_OPTIM_ADAM);
    oc.lr = (float)lab_cfg_get_float(cfg, "train.lr");
    oc.weight_decay = (float)lab_cfg_get_float(cfg, "train.weight_decay");
    lab_device dev = lab_ctx_device(ctx);

    lab_params *p = lab_params_new();
    lab_optim *opt = NULL;
    int rc = -1, depth = lab_scope_depth();
    lab_scope_begin(); /* the data sets live until the end of the run */
    lab_tensor *xtr = load(root, "train-images-idx3-ubyte.gz", 1, subset);
    lab_tensor *ytr = load(root, "train-labels-idx1-ubyte.gz", 0, subset);
    lab_tensor *xte = load(root, "t10k-images-idx3-ubyte.gz", 1, 0);
    lab_tensor *yte = load(root, "t10k-labels-idx1-ubyte.gz", 0, 0);
    if (!xtr || !ytr || !xte || !yte) goto out;
    if (dev.type != LAB_DEV_CPU) {
        xtr = lab_tensor_to(xtr, dev), ytr = lab_tensor_to(ytr, dev);
        xte = lab_tensor_to(xte, dev), yte = lab_tensor_to(yte, dev);
    }
    lab_linear_layer fc[2];
    if (!p || lab_linear_layer_init(&fc[0], p, "fc1", 784, hidden, 1, lab_ctx_rng(ctx)) < 0 ||
        lab_linear_layer_init(&fc[1], p, "fc2", hidden, 10, 1, lab_ctx_rng(ctx)) < 0 || lab_params_to(p, dev) < 0 ||
        !(opt = lab_optim_new(&oc, p)))
        goto out;
    lab_ctx_log(ctx, "%lld training images, MLP 784-%lld-10 (%lld parameters) on %s", (long long)xtr->shape[0],
                (long long)hidden, (long long)lab_params_count(p), dev.type == LAB_DEV_CPU ? "cpu" : "cuda");

    /* What a checkpoint holds; on run.resume, continue where it stopped. */
    lab_ctx_checkpoint_track(ctx, p);
    lab_ctx_checkpoint_track_optim(ctx, opt);
    int64_t e0 = 0, s0 = 0, n = xtr->shape[0], steps = (n + bs - 1) / bs;
    if (lab_ctx_checkpoint_load(ctx, &e0, &s0) < 0) goto out;

    for (int64_t e = e0; e < epochs; e++) {
        /* The epoch's shuffle depends on (seed, epoch) only, so a resumed
         * run draws the same batches. */
        lab_scope_begin();
        lab_rng shuffle = lab_rng_fork(lab_ctx_rng(ctx), (uint64_t)e);
        lab_tensor *perm = lab_rng_randperm(&shuffle, n);
        if (perm && dev.type != LAB_DEV_CPU) perm = lab_tensor_to(perm, dev);
        for (int64_t s = e == e0 ? s0 : 0; s < steps; s++) {
            if (lab_ctx_should_stop(ctx)) {
                rc = lab_ctx_checkpoint_save(ctx, e, s);
                goto out;
            }
            lab_scope_begin();
            lab_tensor *idx = lab_slice(perm, 0, s * bs, (s + 1) * bs < n ? (s + 1) * bs : n);
            lab_tensor *loss = lab_cross_entropy(forward(fc, lab_index_select(xtr, 0, idx)),
                                                 lab_index_select(ytr, 0, idx));
            int ok = loss && lab_backward(loss) == 0 && lab_optim_step(opt) == 0;
            lab_optim_zero_grad(opt);
            float l = ok ? lab_tensor_item(loss) : 0;
            lab_scope_end();
            if (!ok) goto out;
            lab_ctx_progress(ctx, e, epochs, s + 1, steps);
            if ((s + 1) % 50 == 0 || s + 1 == steps) lab_ctx_metrics(ctx, "train", LAB_KV({"loss", l}));
        }
        double loss, acc;
        if (evaluate(fc, xte, yte, 1000, &loss, &acc) < 0) goto out;
        lab_ctx_metrics(ctx, "test", LAB_KV({"loss", loss}, {"acc", acc}));
        lab_ctx_log(ctx, "epoch %lld: test loss %.4f, accuracy %.2f%%", (long long)e + 1, loss, acc);
        lab_scope_end();
        if (lab_ctx_checkpoint_save(ctx, e + 1, 0) < 0) goto out;
        if (e + 1 == epochs) {
            lab_ctx_result(ctx, "test_acc", acc);
            lab_ctx_result(ctx, "test_loss", loss);
        }
    }
    rc = 0;
out:
    while (lab_scope_depth() > depth) lab_scope_end();
    lab_optim_free(opt);
    lab_params_free(p);
    return rc;
}

static const lab_plugin plugin = {
    LAB_PLUGIN_HEADER,
    .name = "template",
    .version = "1.0",
    .summary = "MLP on Fashion-MNIST with Adam: the plugin to copy",
    .params = params,
    .n_params = LAB_COUNT(params),
    .run = run,
};
LAB_PLUGIN(plugin)
