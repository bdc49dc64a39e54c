/* Label embeddings W_Embed [m, d] (brief §6):
 *
 *   onehot            fixed identity (a buffer: never trained, d = m)
 *   learned           d = noprop.embed_dim; orthogonal rows when m ≤ d, else N(0, 1)
 *   prototype         d = image size; row c = the class-c training image with the
 *                     smallest median Euclidean distance to the other images of its
 *                     class (its medoid under the median), in the normalised input space
 *   image-orthogonal  d = image size, orthogonal rows (the init ablation)
 *   image-normal      d = image size, N(0, 1) (the init ablation)
 *
 * The medoid search is a Gram matrix per class (gemm on the run's device, in
 * row chunks) and a selection of the median on the host; the median of an
 * even count is the lower middle value, as torch.median. Tested on a small
 * set with a known medoid in tests/plugins/test_noprop.c.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "noprop_int.h"

/* The k-th smallest of v[0..n) (v is reordered): Hoare's selection. */
static float select_kth(float *v, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot) i++;
            while (v[j] > pivot) j--;
            if (i <= j) {
                float tmp = v[i];
                v[i] = v[j];
                v[j] = tmp;
                i++, j--;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            break;
    }
    return v[k];
}

/* The medoid (position in rows) of X [n, D] on any device. */
static int medoid_of(lab_tensor *X, int64_t *best)
{
    int64_t n = X->shape[0];
    if (n == 1) return *best = 0, 0;
    const int64_t chunk = 256;
    float *g = malloc((size_t)(chunk * n) * sizeof *g), *nrm = malloc((size_t)n * sizeof *nrm),
          *d = malloc((size_t)(n - 1) * sizeof *d);
    int rc = 0;
    double best_med = INFINITY;
    lab_scope_begin();
    lab_tensor *sq = lab_sum(lab_square(X), 1, 0);
    if (!g || !nrm || !d || !sq || lab_tensor_copy_to_host(sq, nrm) < 0) rc = g && nrm && d ? -1 : lab_error_set("noprop: out of host memory");
    for (int64_t i0 = 0; rc == 0 && i0 < n; i0 += chunk) {
        int64_t i1 = i0 + chunk < n ? i0 + chunk : n;
        lab_scope_begin();
        lab_tensor *G = lab_matmul_t(lab_slice(X, 0, i0, i1), X, 0, 1); /* [i1 − i0, n] */
        if (!G || lab_tensor_copy_to_host(G, g) < 0) rc = -1;
        lab_scope_end();
        for (int64_t i = i0; rc == 0 && i < i1; i++) {
            int64_t k = 0;
            for (int64_t j = 0; j < n; j++) {
                if (j == i) continue;
                double q = (double)nrm[i] + nrm[j] - 2.0 * g[(i - i0) * n + j];
                d[k++] = (float)sqrt(q > 0 ? q : 0);
            }
            double med = select_kth(d, n - 1, (n - 2) / 2);
            if (med < best_med) best_med = med, *best = i;
        }
    }
    lab_scope_end();
    free(g);
    free(nrm);
    free(d);
    return rc;
}

int np_class_medoids(lab_tensor *x, lab_tensor *y, int64_t m, int64_t per_class, lab_device dev, int64_t *idx)
{
    int64_t n = x->shape[0], D = x->numel / (n > 0 ? n : 1);
    int64_t *lab = malloc((size_t)n * sizeof *lab), *rows = malloc((size_t)n * sizeof *rows);
    if (!lab || !rows) {
        free(lab);
        free(rows);
        return lab_error_set("noprop: out of host memory");
    }
    int rc = lab_tensor_copy_to_host(y, lab);
    for (int64_t c = 0; rc == 0 && c < m; c++) {
        int64_t k = 0;
        for (int64_t i = 0; i < n && (per_class <= 0 || k < per_class); i++)
            if (lab[i] == c) rows[k++] = i;
        if (k == 0) {
            rc = lab_error_set("noprop: embedding = prototype needs a training image of every class; class %lld has "
                               "none in the %lld training images (data.train_subset too small?)",
                               (long long)c, (long long)n);
            break;
        }
        lab_scope_begin();
        lab_tensor *ri = lab_tensor_from_data(LAB_I64, 1, &k, rows, LAB_CPU);
        if (ri && !lab_device_eq(x->device, LAB_CPU)) ri = lab_tensor_to(ri, x->device);
        lab_tensor *X = lab_index_select(lab_reshape(x, 2, (int64_t[]){n, D}), 0, ri);
        if (X && !lab_device_eq(X->device, dev)) X = lab_tensor_to(X, dev);
        int64_t best = 0;
        if (!X || medoid_of(X, &best) < 0) rc = -1;
        else idx[c] = rows[best];
        lab_scope_end();
    }
    free(lab);
    free(rows);
    return rc;
}

int np_embed_init(np_embed *e, lab_params *p, const np_opts *o, const np_shape *sh, lab_tensor *x, lab_tensor *y,
                  lab_rng *rng)
{
    int64_t m = sh->m, d = sh->d;
    memset(e, 0, sizeof *e);
    if (o->embedding == NP_EMB_ONEHOT) {
        float *eye = calloc((size_t)(m * m), sizeof *eye);
        if (!eye) return lab_error_set("noprop: out of host memory");
        for (int64_t i = 0; i < m; i++) eye[i * m + i] = 1;
        e->W = lab_params_add_buffer(p, "embed.weight", lab_tensor_from_data(LAB_F32, 2, (int64_t[]){m, m}, eye, LAB_CPU));
        free(eye);
        return e->W ? 0 : -1;
    }
    e->learned = 1;
    lab_tensor *W = lab_tensor_own(lab_tensor_empty(LAB_F32, 2, (int64_t[]){m, d}, LAB_CPU));
    int rc = W ? 0 : -1;
    int ortho = o->embedding == NP_EMB_IMAGE_ORTHO || (o->embedding == NP_EMB_LEARNED && m <= d);
    if (rc == 0 && o->embedding == NP_EMB_PROTOTYPE) {
        int64_t *idx = malloc((size_t)m * sizeof *idx);
        rc = idx ? np_class_medoids(x, y, m, o->proto_samples, x->device, idx) : lab_error_set("noprop: out of host memory");
        for (int64_t c = 0; rc == 0 && c < m; c++) {
            lab_scope_begin();
            lab_tensor *row = lab_reshape(lab_slice(x, 0, idx[c], idx[c] + 1), 1, (int64_t[]){d});
            float *dst = lab_tensor_f32(W);
            rc = row ? lab_tensor_copy_to_host(row, dst + c * d) : -1;
            lab_scope_end();
        }
        free(idx);
    } else if (rc == 0 && ortho) {
        rc = lab_init_orthogonal_(W, rng, 1.0);
    } else if (rc == 0) {
        rc = lab_init_normal_(W, rng, 0, 1);
    }
    if (rc < 0) {
        lab_tensor_release(W);
        return -1;
    }
    e->W = lab_params_add(p, "embed.weight", W);
    return e->W ? 0 : -1;
}
