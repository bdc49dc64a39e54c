/* The networks of brief §7, whose parameter counts match the paper's table
 * exactly (tests/plugins/test_noprop.c checks all 18 cells):
 *
 *   image path  conv3×3 C→32 ReLU maxpool2 drop | conv 32→64 ReLU drop |
 *               conv 64→128 ReLU maxpool2 drop | flatten | FC→256 | BN (DT) or ReLU (CT/FM)
 *   DT label    h = ReLU(BN(FC d→256)); zf = h + BN(FC(ReLU(BN(FC(h)))))    (d ≠ image size)
 *   DT fuse     concat(512) → FC256 BN ReLU → FC128 BN ReLU → FC m
 *   CT label    ReLU(FC d→256); time: sin/cos(64) → FC256 ReLU
 *   CT fuse     concat(768) → FC256 ReLU → FC128 ReLU → FC m
 *
 * With an image-sized embedding (prototype) the label path is a copy of the
 * image path applied to z reshaped to an image; in DT this copy replaces the
 * whole MLP label path (that is what makes the counts match).
 * Layers use PyTorch's default initialisation (lab/nn.h).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noprop_int.h"

static int impath_init(np_impath *ip, lab_params *p, const char *pre, const np_shape *sh, int bn, lab_rng *rng)
{
    char n[5][96];
    snprintf(n[0], sizeof n[0], "%sconv1", pre);
    snprintf(n[1], sizeof n[1], "%sconv2", pre);
    snprintf(n[2], sizeof n[2], "%sconv3", pre);
    snprintf(n[3], sizeof n[3], "%sfc", pre);
    snprintf(n[4], sizeof n[4], "%sbn", pre);
    int64_t h = ((sh->H - 2) / 2 - 4) / 2, w = ((sh->W - 2) / 2 - 4) / 2;
    if (h < 1 || w < 1)
        return lab_error_set("noprop: images of %lldx%lld are too small for the image path (at least 14x14)",
                             (long long)sh->H, (long long)sh->W);
    ip->bn_on = bn;
    if (lab_conv2d_layer_init(&ip->c1, p, n[0], sh->C, 32, 3, 1, 0, 1, rng) < 0 ||
        lab_conv2d_layer_init(&ip->c2, p, n[1], 32, 64, 3, 1, 0, 1, rng) < 0 ||
        lab_conv2d_layer_init(&ip->c3, p, n[2], 64, 128, 3, 1, 0, 1, rng) < 0 ||
        lab_linear_layer_init(&ip->fc, p, n[3], 128 * h * w, 256, 1, rng) < 0)
        return -1;
    return bn ? lab_batchnorm_layer_init(&ip->bn, p, n[4], 256) : 0;
}

static lab_tensor *impath_forward(const np_impath *ip, lab_tensor *x, int training, float drop, lab_rng *rng)
{
    lab_tensor *h = lab_max_pool2d(lab_relu(lab_conv2d_layer_forward(&ip->c1, x)), 2, 2, 0);
    h = lab_dropout(h, drop, training, rng);
    h = lab_dropout(lab_relu(lab_conv2d_layer_forward(&ip->c2, h)), drop, training, rng);
    h = lab_max_pool2d(lab_relu(lab_conv2d_layer_forward(&ip->c3, h)), 2, 2, 0);
    h = lab_dropout(h, drop, training, rng);
    h = lab_linear_layer_forward(&ip->fc, lab_flatten(h, 1, 3));
    return ip->bn_on ? lab_batchnorm_layer_forward(&ip->bn, h, training) : lab_relu(h);
}

int np_net_init(np_net *n, int dt, const np_shape *sh, const char *prefix, int time_dim, float time_scale,
                lab_rng *rng)
{
    memset(n, 0, sizeof *n);
    n->dt = dt;
    n->sh = *sh;
    n->time_dim = time_dim;
    n->time_scale = time_scale;
    if (!(n->p = lab_params_new())) return -1;
    char pre[64], name[96];
#define NAME(s) (snprintf(name, sizeof name, "%s%s", prefix, (s)), name)
    snprintf(pre, sizeof pre, "%simg.", prefix);
    if (impath_init(&n->img, n->p, pre, sh, dt, rng) < 0) goto fail;
    if (sh->label_conv) {
        snprintf(pre, sizeof pre, "%slabel.", prefix);
        if (impath_init(&n->lab, n->p, pre, sh, dt, rng) < 0) goto fail;
    } else if (dt) {
        if (lab_linear_layer_init(&n->l1, n->p, NAME("label.fc1"), sh->d, 256, 1, rng) < 0 ||
            lab_batchnorm_layer_init(&n->lb1, n->p, NAME("label.bn1"), 256) < 0 ||
            lab_linear_layer_init(&n->l2, n->p, NAME("label.fc2"), 256, 256, 1, rng) < 0 ||
            lab_batchnorm_layer_init(&n->lb2, n->p, NAME("label.bn2"), 256) < 0 ||
            lab_linear_layer_init(&n->l3, n->p, NAME("label.fc3"), 256, 256, 1, rng) < 0 ||
            lab_batchnorm_layer_init(&n->lb3, n->p, NAME("label.bn3"), 256) < 0)
            goto fail;
    } else if (lab_linear_layer_init(&n->l1, n->p, NAME("label.fc1"), sh->d, 256, 1, rng) < 0) {
        goto fail;
    }
    if (!dt && lab_linear_layer_init(&n->tfc, n->p, NAME("time.fc"), time_dim, 256, 1, rng) < 0) goto fail;
    if (lab_linear_layer_init(&n->f1, n->p, NAME("fuse.fc1"), dt ? 512 : 768, 256, 1, rng) < 0 ||
        (dt && lab_batchnorm_layer_init(&n->fb1, n->p, NAME("fuse.bn1"), 256) < 0) ||
        lab_linear_layer_init(&n->f2, n->p, NAME("fuse.fc2"), 256, 128, 1, rng) < 0 ||
        (dt && lab_batchnorm_layer_init(&n->fb2, n->p, NAME("fuse.bn2"), 128) < 0) ||
        lab_linear_layer_init(&n->f3, n->p, NAME("fuse.fc3"), 128, sh->m, 1, rng) < 0)
        goto fail;
#undef NAME
    return 0;
fail:
    lab_params_free(n->p);
    n->p = NULL;
    return -1;
}

void np_net_free(np_net *n)
{
    if (!n) return;
    lab_params_free(n->p);
    n->p = NULL;
}

int64_t np_net_count(const np_net *n) { return lab_params_count(n->p); }

lab_tensor *np_net_image(const np_net *n, lab_tensor *x, int training, float drop, lab_rng *rng)
{
    return impath_forward(&n->img, x, training, drop, rng);
}

lab_tensor *np_time_embed(lab_tensor *t, int dim, float scale)
{
    if (!t) return NULL;
    int half = dim / 2;
    float *f = malloc((size_t)half * sizeof *f);
    if (!f) {
        lab_error_set("noprop: out of host memory");
        return NULL;
    }
    /* Transformer frequencies 10000^(−j/half), j = 0..half−1, times the scale. */
    for (int j = 0; j < half; j++) f[j] = scale * expf(-logf(10000.0f) * (float)j / (float)half);
    lab_scope_begin();
    lab_tensor *fr = lab_tensor_from_data(LAB_F32, 2, (int64_t[]){1, half}, f, LAB_CPU);
    free(f);
    if (fr && t->device.type != LAB_DEV_CPU) fr = lab_tensor_to(fr, t->device);
    lab_tensor *arg = lab_mul(lab_reshape(t, 2, (int64_t[]){t->numel, 1}), fr); /* [B, half] */
    lab_tensor *e = lab_concat(2, (lab_tensor *[]){lab_sin(arg), lab_cos(arg)}, 1);
    lab_keep(e);
    lab_scope_end();
    return e;
}

lab_tensor *np_net_label(const np_net *n, lab_tensor *z, int training, float drop, lab_rng *rng)
{
    if (n->sh.label_conv) {
        lab_tensor *zi = lab_reshape(z, 4, (int64_t[]){z ? z->shape[0] : 0, n->sh.C, n->sh.H, n->sh.W});
        return impath_forward(&n->lab, zi, training, drop, rng);
    }
    if (!n->dt) return lab_relu(lab_linear_layer_forward(&n->l1, z));
    lab_tensor *h = lab_relu(lab_batchnorm_layer_forward(&n->lb1, lab_linear_layer_forward(&n->l1, z), training));
    lab_tensor *r = lab_relu(lab_batchnorm_layer_forward(&n->lb2, lab_linear_layer_forward(&n->l2, h), training));
    r = lab_batchnorm_layer_forward(&n->lb3, lab_linear_layer_forward(&n->l3, r), training);
    return lab_add(h, r);
}

lab_tensor *np_net_time(const np_net *n, lab_tensor *t)
{
    return lab_relu(lab_linear_layer_forward(&n->tfc, np_time_embed(t, n->time_dim, n->time_scale)));
}

lab_tensor *np_net_logits(const np_net *n, lab_tensor *feat, lab_tensor *z, lab_tensor *t, int training, float drop,
                          lab_rng *rng)
{
    lab_tensor *zf = np_net_label(n, z, training, drop, rng);
    lab_tensor *h;
    if (n->dt) {
        h = lab_concat(2, (lab_tensor *[]){feat, zf}, 1);
        h = lab_relu(lab_batchnorm_layer_forward(&n->fb1, lab_linear_layer_forward(&n->f1, h), training));
        h = lab_relu(lab_batchnorm_layer_forward(&n->fb2, lab_linear_layer_forward(&n->f2, h), training));
    } else {
        lab_tensor *tf = np_net_time(n, t);
        h = lab_concat(3, (lab_tensor *[]){feat, zf, tf}, 1);
        h = lab_relu(lab_linear_layer_forward(&n->f1, h));
        h = lab_relu(lab_linear_layer_forward(&n->f2, h));
    }
    return lab_linear_layer_forward(&n->f3, h);
}

/* --- the brief's table ---------------------------------------------------------------- */

int np_shape_for(const char *data, np_shape *sh)
{
    memset(sh, 0, sizeof *sh);
    if (!strcmp(data, "mnist") || !strcmp(data, "fashion-mnist"))
        sh->C = 1, sh->H = sh->W = 28, sh->m = 10;
    else if (!strcmp(data, "cifar10"))
        sh->C = 3, sh->H = sh->W = 32, sh->m = 10;
    else if (!strcmp(data, "cifar100"))
        sh->C = 3, sh->H = sh->W = 32, sh->m = 100;
    else
        return lab_error_set("noprop: data.name = \"%s\": noprop needs images with class labels "
                             "(mnist, fashion-mnist, cifar10, cifar100)", data);
    sh->image = sh->C * sh->H * sh->W;
    return 0;
}

int np_shape_resolve(np_shape *sh, np_embedding emb, int64_t embed_dim, int embed_dim_set)
{
    static const char *const names[] = {"onehot", "learned", "prototype", "image-orthogonal", "image-normal"};
    switch (emb) {
    case NP_EMB_ONEHOT: sh->d = sh->m; break;
    case NP_EMB_LEARNED: sh->d = embed_dim == 0 ? sh->image : embed_dim; break;
    default: sh->d = sh->image; break;
    }
    /* An explicit width that disagrees with a fixed-width embedding had no
     * effect: say so instead of ignoring it. */
    if (embed_dim_set && emb != NP_EMB_LEARNED && embed_dim != 0 && embed_dim != sh->d) {
        if (emb == NP_EMB_ONEHOT)
            return lab_error_set("noprop.embed_dim = %lld is incompatible with embedding = onehot (d = the %lld "
                                 "classes); leave embed_dim unset", (long long)embed_dim, (long long)sh->m);
        return lab_error_set("noprop.embed_dim = %lld is incompatible with embedding = %s: an image-sized embedding "
                             "has d = %lld (C*H*W); set embed_dim = 0 or leave it unset",
                             (long long)embed_dim, names[emb], (long long)sh->image);
    }
    sh->label_conv = sh->d == sh->image;
    return 0;
}

int64_t np_count_params(int dt, np_embedding emb, const char *data, int64_t embed_dim)
{
    np_shape sh;
    if (np_shape_for(data, &sh) < 0 || np_shape_resolve(&sh, emb, embed_dim, 0) < 0) return -1;
    lab_rng rng = lab_rng_make(0, 0);
    np_net n;
    if (np_net_init(&n, dt, &sh, "", 64, 1000, &rng) < 0) return -1;
    int64_t c = np_net_count(&n);
    np_net_free(&n);
    return c;
}
