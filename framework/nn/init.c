/* Initializers, following torch.nn.init (PyTorch 1.13) formula for formula:
 * calculate_gain, _calculate_fan_in_and_fan_out, xavier_*, kaiming_*,
 * orthogonal_. Random numbers come from the Philox stream (rng.h), so the
 * distribution matches PyTorch's and the values match labrun's other
 * devices, not PyTorch's generator. Tested in tests/unit/test_nn.c (gains
 * and bounds against torch's numbers, moments, orthogonality). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab.h"

double lab_init_gain(lab_nonlin nl, double param)
{
    switch (nl) {
    case LAB_NONLIN_LINEAR: return 1.0;
    case LAB_NONLIN_SIGMOID: return 1.0;
    case LAB_NONLIN_TANH: return 5.0 / 3.0;
    case LAB_NONLIN_RELU: return sqrt(2.0);
    case LAB_NONLIN_LEAKY_RELU: return sqrt(2.0 / (1.0 + param * param));
    case LAB_NONLIN_SELU: return 3.0 / 4.0;
    }
    return 1.0;
}

static int check(const char *op, const lab_tensor *t)
{
    if (!t) return -1;
    if (t->dtype != LAB_F32) {
        char d[96];
        return lab_error_set("%s: tensor must be f32, got %s", op, lab_tensor_desc(t, d, sizeof d));
    }
    return 0;
}

int lab_init_fans(const lab_tensor *t, int64_t *fan_in, int64_t *fan_out)
{
    if (!t) return -1;
    if (t->ndim < 1) return lab_error_set("init: fans of a scalar tensor are undefined");
    int64_t in, out;
    if (t->ndim == 1) {
        in = out = t->shape[0];
    } else {
        int64_t field = 1;
        for (int i = 2; i < t->ndim; i++) field *= t->shape[i];
        in = t->shape[1] * field;
        out = t->shape[0] * field;
    }
    if (fan_in) *fan_in = in;
    if (fan_out) *fan_out = out;
    return 0;
}

int lab_init_zeros_(lab_tensor *t) { return lab_init_constant_(t, 0.0f); }

int lab_init_constant_(lab_tensor *t, float v)
{
    if (!t) return -1;
    return lab_tensor_fill_(t, v);
}

int lab_init_uniform_(lab_tensor *t, lab_rng *rng, float lo, float hi)
{
    if (check("init_uniform", t) < 0) return -1;
    if (!(lo <= hi)) return lab_error_set("init_uniform: empty range [%g, %g]", lo, hi);
    return lab_rng_fill_uniform_(rng, t, lo, hi);
}

int lab_init_normal_(lab_tensor *t, lab_rng *rng, float mean, float std)
{
    if (check("init_normal", t) < 0) return -1;
    if (!(std >= 0)) return lab_error_set("init_normal: std %g is negative", std);
    return lab_rng_fill_normal_(rng, t, mean, std);
}

/* Fans for an initializer that divides by them: a zero fan (an empty dim) is
 * what PyTorch reports as a division by zero; here it is an error. */
static int fans_for(const char *op, const lab_tensor *t, int64_t *in, int64_t *out)
{
    if (t->ndim < 2) {
        char d[96];
        return lab_error_set("%s: needs a tensor of 2 or more dims (fan in and fan out), got %s", op,
                             lab_tensor_desc(t, d, sizeof d));
    }
    lab_init_fans(t, in, out);
    return 0;
}

int lab_init_xavier_uniform_(lab_tensor *t, lab_rng *rng, double gain)
{
    int64_t in, out;
    if (check("init_xavier_uniform", t) < 0 || fans_for("init_xavier_uniform", t, &in, &out) < 0) return -1;
    if (t->numel == 0) return 0;
    double std = gain * sqrt(2.0 / (double)(in + out));
    double a = sqrt(3.0) * std;
    return lab_rng_fill_uniform_(rng, t, (float)-a, (float)a);
}

int lab_init_xavier_normal_(lab_tensor *t, lab_rng *rng, double gain)
{
    int64_t in, out;
    if (check("init_xavier_normal", t) < 0 || fans_for("init_xavier_normal", t, &in, &out) < 0) return -1;
    if (t->numel == 0) return 0;
    double std = gain * sqrt(2.0 / (double)(in + out));
    return lab_rng_fill_normal_(rng, t, 0.0f, (float)std);
}

static int kaiming_std(const char *op, const lab_tensor *t, lab_fan_mode mode, lab_nonlin nl, double param,
                       double *std)
{
    int64_t in, out;
    if (check(op, t) < 0 || fans_for(op, t, &in, &out) < 0) return -1;
    int64_t fan = mode == LAB_FAN_OUT ? out : in;
    if (fan == 0) {
        *std = 0;
        return 0;
    }
    *std = lab_init_gain(nl, param) / sqrt((double)fan);
    return 0;
}

int lab_init_kaiming_uniform_(lab_tensor *t, lab_rng *rng, lab_fan_mode mode, lab_nonlin nl, double param)
{
    double std;
    if (kaiming_std("init_kaiming_uniform", t, mode, nl, param, &std) < 0) return -1;
    if (t->numel == 0) return 0;
    double bound = sqrt(3.0) * std;
    return lab_rng_fill_uniform_(rng, t, (float)-bound, (float)bound);
}

int lab_init_kaiming_normal_(lab_tensor *t, lab_rng *rng, lab_fan_mode mode, lab_nonlin nl, double param)
{
    double std;
    if (kaiming_std("init_kaiming_normal", t, mode, nl, param, &std) < 0) return -1;
    if (t->numel == 0) return 0;
    return lab_rng_fill_normal_(rng, t, 0.0f, (float)std);
}

int lab_init_uniform_std_(lab_tensor *t, lab_rng *rng, double std)
{
    if (check("init_uniform_std", t) < 0) return -1;
    if (!(std >= 0)) return lab_error_set("init_uniform_std: std %g is negative", std);
    double a = sqrt(3.0) * std;
    return lab_rng_fill_uniform_(rng, t, (float)-a, (float)a);
}

/* Orthonormalise the columns of a [rows, cols] (rows >= cols, row-major,
 * double) in place by modified Gram–Schmidt, run twice for accuracy. The
 * result equals Q of a QR factorisation whose R has a positive diagonal,
 * which is exactly PyTorch's q * sign(diag(r)). Returns -1 when the columns
 * are (numerically) dependent. */
static int gram_schmidt(double *a, int64_t rows, int64_t cols)
{
    for (int64_t j = 0; j < cols; j++) {
        for (int pass = 0; pass < 2; pass++) {
            for (int64_t k = 0; k < j; k++) {
                double d = 0;
                for (int64_t i = 0; i < rows; i++) d += a[i * cols + k] * a[i * cols + j];
                for (int64_t i = 0; i < rows; i++) a[i * cols + j] -= d * a[i * cols + k];
            }
        }
        double nrm = 0;
        for (int64_t i = 0; i < rows; i++) nrm += a[i * cols + j] * a[i * cols + j];
        nrm = sqrt(nrm);
        if (!(nrm > 1e-12)) return -1;
        for (int64_t i = 0; i < rows; i++) a[i * cols + j] /= nrm;
    }
    return 0;
}

int lab_init_orthogonal_(lab_tensor *t, lab_rng *rng, double gain)
{
    if (check("init_orthogonal", t) < 0) return -1;
    if (t->ndim < 2) {
        char d[96];
        return lab_error_set("init_orthogonal: needs a tensor of 2 or more dims, got %s",
                             lab_tensor_desc(t, d, sizeof d));
    }
    if (t->numel == 0) return 0;
    int64_t rows = t->shape[0], cols = t->numel / rows;
    /* PyTorch factors the transpose when rows < cols, so the result has
     * orthonormal rows; here: work on a tall [big, small] matrix. */
    int wide = rows < cols;
    int64_t big = wide ? cols : rows, small = wide ? rows : cols;
    double *a = malloc((size_t)(big * small) * sizeof *a);
    float *out = malloc((size_t)t->numel * sizeof *out);
    int rc = 0;
    if (!a || !out) {
        rc = lab_error_set("init_orthogonal: out of host memory");
        goto done;
    }
    for (int attempt = 0;; attempt++) {
        /* flattened = normal(0, 1) of [rows, cols], then transposed if wide. */
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                double v = lab_rng_next_normal(rng);
                if (wide)
                    a[c * small + r] = v;
                else
                    a[r * small + c] = v;
            }
        if (gram_schmidt(a, big, small) == 0) break;
        if (attempt == 8) {
            rc = lab_error_set("init_orthogonal: could not draw a full-rank matrix");
            goto done;
        }
    }
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++)
            out[r * cols + c] = (float)(gain * (wide ? a[c * small + r] : a[r * small + c]));
    rc = lab_tensor_copy_from_host(t, out);
done:
    free(a);
    free(out);
    return rc;
}
