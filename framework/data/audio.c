/* Audio features: FFT (radix-2, mixed radix, Bluestein), STFT, mel
 * filterbanks, log-mel.
 *
 * Computes in double on the host and rounds to f32 at the end. Lengths that
 * are powers of two run the iterative radix-2 transform; lengths whose prime
 * factors are all at most 7 (400 = 2^4 5^2, the usual n_fft, whose real
 * transform runs a complex one of 200) run a recursive mixed-radix
 * decimation in time with one twiddle table; any other length goes through
 * Bluestein's chirp convolution (three power-of-two transforms of at least
 * 2n - 1 points, several times the work).
 * Tested in tests/unit/test_audio.c: the FFT against a direct O(n^2) DFT
 * (powers of two and other lengths), the STFT, mel filterbanks (HTK and
 * Slaney) and log compression against numbers computed once with torch.stft
 * and librosa's filter formula. Benchmarked by tests/bench/bench_data.c
 * (log-mel of 1,000 one-second clips).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lab/audio.h"
#include "lab/error.h"

#define PI 3.14159265358979323846

/* --- FFT --------------------------------------------------------------------- */

/* A radix-2 transform of length m (a power of two). */
typedef struct {
    int64_t m;
    double *cs, *sn;  /* cos/sin(2 pi k / m), k < m/2 */
    int64_t *rev;     /* bit-reversal permutation */
} pow2_plan;

#define MR_MAX_PRIME 7
#define MR_MAX_RADIX 7

struct lab_audio_fft_plan {
    int64_t n;
    int bluestein;
    int mixed;         /* mixed radix: n = fac[0] * fac[1] * ... */
    int nfac;
    int fac[64];
    double *cr, *ci;   /* cos(2 pi k / n), -sin(2 pi k / n), k < n (mixed) */
    pow2_plan p2;      /* length n, or the convolution length for Bluestein */
    double *wre, *wim; /* Bluestein chirp w[k] = exp(-i pi k^2 / n), k < n */
    double *bre, *bim; /* FFT of the conjugate chirp, length p2.m */
    /* Real transforms of even n use a complex plan of n/2 and a split step
     * with twiddles e^{-2 pi i k / n}, k <= n/2. */
    struct lab_audio_fft_plan *half;
    double *tre, *tim;
};

static int is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

static void pow2_free(pow2_plan *p)
{
    free(p->cs);
    free(p->sn);
    free(p->rev);
}

static int pow2_init(pow2_plan *p, int64_t m)
{
    p->m = m;
    int64_t h = m / 2 ? m / 2 : 1;
    p->cs = malloc((size_t)h * sizeof(double));
    p->sn = malloc((size_t)h * sizeof(double));
    p->rev = malloc((size_t)m * sizeof(int64_t));
    if (!p->cs || !p->sn || !p->rev) {
        pow2_free(p);
        return lab_error_set("fft: out of host memory for a plan of length %lld", (long long)m);
    }
    for (int64_t k = 0; k < m / 2; k++) {
        p->cs[k] = cos(2.0 * PI * (double)k / (double)m);
        p->sn[k] = sin(2.0 * PI * (double)k / (double)m);
    }
    int bits = 0;
    while (((int64_t)1 << bits) < m) bits++;
    for (int64_t i = 0; i < m; i++) {
        int64_t r = 0;
        for (int b = 0; b < bits; b++)
            if (i & ((int64_t)1 << b)) r |= (int64_t)1 << (bits - 1 - b);
        p->rev[i] = r;
    }
    return 0;
}

/* Unscaled in-place transform; sign -1 forward, +1 inverse. */
static void pow2_run(const pow2_plan *p, double *re, double *im, int sign)
{
    int64_t m = p->m;
    for (int64_t i = 0; i < m; i++) {
        int64_t r = p->rev[i];
        if (r > i) {
            double t = re[i];
            re[i] = re[r];
            re[r] = t;
            t = im[i];
            im[i] = im[r];
            im[r] = t;
        }
    }
    for (int64_t len = 2; len <= m; len <<= 1) {
        int64_t half = len / 2, step = m / len;
        for (int64_t i = 0; i < m; i += len) {
            for (int64_t j = 0; j < half; j++) {
                double wr = p->cs[j * step], wi = sign * p->sn[j * step];
                int64_t a = i + j, b = a + half;
                double xr = re[b] * wr - im[b] * wi;
                double xi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
            }
        }
    }
}

/* Radices of n: 4s first, then primes up to MR_MAX_PRIME ascending; 0 when
 * another prime divides n. */
static int mr_factor(int64_t n, int *fac)
{
    int k = 0;
    while (n % 4 == 0) {
        fac[k++] = 4;
        n /= 4;
    }
    for (int r = 2; r <= MR_MAX_PRIME && n > 1; r++)
        while (n % r == 0) {
            fac[k++] = r;
            n /= r;
        }
    return n == 1 ? k : 0;
}

/* One level of the mixed-radix transform, out of place: y [n] = DFT of the
 * n inputs x[0], x[is], x[2 is], ... With r = fac[level] and m = n / r,
 * input j = r j1 + q: the r sub-transforms A_q (length m, stride r is) land
 * in y[q m ...], then y[k + u m] = sum_q W_n^(q k) A_q[k] W_r^(q u).
 * Reading slots {q m + k} and writing {k + u m} touch the same r slots per
 * k, so each k goes through a small temporary. */
static void mr_run(const lab_audio_fft_plan *p, const double *xr, const double *xi, int64_t is, double *yr,
                   double *yi, int64_t n, int level, int sign)
{
    if (n == 1) {
        yr[0] = xr[0];
        yi[0] = xi[0];
        return;
    }
    int r = p->fac[level];
    int64_t m = n / r, s = p->n / n, sr = p->n / r;
    for (int q = 0; q < r; q++) mr_run(p, xr + q * is, xi + q * is, is * r, yr + q * m, yi + q * m, m, level + 1, sign);
    double sg = sign < 0 ? 1.0 : -1.0; /* inverse: conjugate twiddles */
    for (int64_t k = 0; k < m; k++) {
        double tr[MR_MAX_RADIX], ti[MR_MAX_RADIX];
        tr[0] = yr[k];
        ti[0] = yi[k];
        for (int q = 1; q < r; q++) {
            int64_t e = (int64_t)q * k * s;
            double wr = p->cr[e], wi = sg * p->ci[e], a = yr[q * m + k], b = yi[q * m + k];
            tr[q] = a * wr - b * wi;
            ti[q] = a * wi + b * wr;
        }
        if (r == 2) {
            yr[k] = tr[0] + tr[1];
            yi[k] = ti[0] + ti[1];
            yr[k + m] = tr[0] - tr[1];
            yi[k + m] = ti[0] - ti[1];
            continue;
        }
        /* Radix 4 and 5 written out. "j" is -i forward and +i inverse, so
         * j (x + iy) = (sg y, -sg x). */
        if (r == 4) {
            double ar = tr[0] + tr[2], ai = ti[0] + ti[2], br = tr[0] - tr[2], bi = ti[0] - ti[2];
            double cr = tr[1] + tr[3], ci = ti[1] + ti[3], dr = tr[1] - tr[3], di = ti[1] - ti[3];
            /* j d = sg * (di, -dr): forward -i d = (di, -dr) */
            double jr = sg * di, ji = -sg * dr;
            yr[k] = ar + cr;
            yi[k] = ai + ci;
            yr[k + 2 * m] = ar - cr;
            yi[k + 2 * m] = ai - ci;
            yr[k + m] = br + jr;
            yi[k + m] = bi + ji;
            yr[k + 3 * m] = br - jr;
            yi[k + 3 * m] = bi - ji;
            continue;
        }
        if (r == 5) {
            const double c1 = 0.30901699437494742410, c2 = -0.80901699437494742410; /* cos 2pi/5, cos 4pi/5 */
            const double s1 = 0.95105651629515357212, s2 = 0.58778525229247312917; /* sin 2pi/5, sin 4pi/5 */
            double a1r = tr[1] + tr[4], a1i = ti[1] + ti[4], a2r = tr[2] + tr[3], a2i = ti[2] + ti[3];
            double b1r = tr[1] - tr[4], b1i = ti[1] - ti[4], b2r = tr[2] - tr[3], b2i = ti[2] - ti[3];
            double p1r = tr[0] + c1 * a1r + c2 * a2r, p1i = ti[0] + c1 * a1i + c2 * a2i;
            double p2r = tr[0] + c2 * a1r + c1 * a2r, p2i = ti[0] + c2 * a1i + c1 * a2i;
            double q1r = s1 * b1r + s2 * b2r, q1i = s1 * b1i + s2 * b2i; /* y1 = p1 + j q1, y4 = p1 - j q1 */
            double q2r = s2 * b1r - s1 * b2r, q2i = s2 * b1i - s1 * b2i; /* y2 = p2 + j q2, y3 = p2 - j q2 */
            double j1r = sg * q1i, j1i = -sg * q1r, j2r = sg * q2i, j2i = -sg * q2r;
            yr[k] = tr[0] + a1r + a2r;
            yi[k] = ti[0] + a1i + a2i;
            yr[k + m] = p1r + j1r;
            yi[k + m] = p1i + j1i;
            yr[k + 4 * m] = p1r - j1r;
            yi[k + 4 * m] = p1i - j1i;
            yr[k + 2 * m] = p2r + j2r;
            yi[k + 2 * m] = p2i + j2i;
            yr[k + 3 * m] = p2r - j2r;
            yi[k + 3 * m] = p2i - j2i;
            continue;
        }
        for (int u = 0; u < r; u++) {
            double ar = tr[0], ai = ti[0];
            for (int q = 1; q < r; q++) {
                int64_t e = (int64_t)((q * u) % r) * sr;
                double wr = p->cr[e], wi = sg * p->ci[e];
                ar += tr[q] * wr - ti[q] * wi;
                ai += tr[q] * wi + ti[q] * wr;
            }
            yr[k + u * m] = ar;
            yi[k + u * m] = ai;
        }
    }
}

void lab_audio_fft_plan_free(lab_audio_fft_plan *p)
{
    if (!p) return;
    pow2_free(&p->p2);
    free(p->cr);
    free(p->ci);
    free(p->wre);
    free(p->wim);
    free(p->bre);
    free(p->bim);
    free(p->tre);
    free(p->tim);
    lab_audio_fft_plan_free(p->half);
    free(p);
}

/* with_half: also prepare the real-input split (not for the half plan
 * itself, which only ever runs complex transforms). */
static lab_audio_fft_plan *fft_new(int64_t n, int with_half)
{
    if (n < 1) {
        lab_error_set("fft: length must be >= 1, got %lld", (long long)n);
        return NULL;
    }
    lab_audio_fft_plan *p = calloc(1, sizeof *p);
    if (!p) {
        lab_error_set("fft: out of host memory");
        return NULL;
    }
    p->n = n;
    if (is_pow2(n)) {
        if (pow2_init(&p->p2, n) < 0) goto fail;
    } else if ((p->nfac = mr_factor(n, p->fac)) > 0) {
        p->mixed = 1;
        p->cr = malloc((size_t)n * sizeof(double));
        p->ci = malloc((size_t)n * sizeof(double));
        if (!p->cr || !p->ci) {
            lab_error_set("fft: out of host memory for a plan of length %lld", (long long)n);
            goto fail;
        }
        for (int64_t k = 0; k < n; k++) {
            p->cr[k] = cos(2.0 * PI * (double)k / (double)n);
            p->ci[k] = -sin(2.0 * PI * (double)k / (double)n);
        }
    } else {
        p->bluestein = 1;
        int64_t m = 1;
        while (m < 2 * n - 1) m <<= 1;
        if (pow2_init(&p->p2, m) < 0) goto fail;
        p->wre = malloc((size_t)n * sizeof(double));
        p->wim = malloc((size_t)n * sizeof(double));
        p->bre = calloc((size_t)m, sizeof(double));
        p->bim = calloc((size_t)m, sizeof(double));
        if (!p->wre || !p->wim || !p->bre || !p->bim) {
            lab_error_set("fft: out of host memory for a plan of length %lld", (long long)n);
            goto fail;
        }
        for (int64_t k = 0; k < n; k++) {
            /* k^2 mod 2n keeps the angle small, so the chirp stays accurate
             * for large n. */
            int64_t k2 = (int64_t)(((unsigned __int128)k * (unsigned __int128)k) % (unsigned __int128)(2 * n));
            double a = PI * (double)k2 / (double)n;
            p->wre[k] = cos(a);
            p->wim[k] = -sin(a);
        }
        /* b[j] = conj(w[|j|]) for -n < j < n, wrapped modulo m. */
        for (int64_t k = 0; k < n; k++) {
            p->bre[k] = p->wre[k];
            p->bim[k] = -p->wim[k];
            if (k > 0) {
                p->bre[m - k] = p->wre[k];
                p->bim[m - k] = -p->wim[k];
            }
        }
        pow2_run(&p->p2, p->bre, p->bim, -1);
    }
    if (with_half && n % 2 == 0 && n >= 2) {
        int64_t h = n / 2;
        p->half = fft_new(h, 0);
        if (!p->half) goto fail;
        p->tre = malloc((size_t)(h + 1) * sizeof(double));
        p->tim = malloc((size_t)(h + 1) * sizeof(double));
        if (!p->tre || !p->tim) {
            lab_error_set("fft: out of host memory for a plan of length %lld", (long long)n);
            goto fail;
        }
        for (int64_t k = 0; k <= h; k++) {
            p->tre[k] = cos(2.0 * PI * (double)k / (double)n);
            p->tim[k] = -sin(2.0 * PI * (double)k / (double)n);
        }
    }
    return p;
fail:
    lab_audio_fft_plan_free(p);
    return NULL;
}

lab_audio_fft_plan *lab_audio_fft_plan_new(int64_t n) { return fft_new(n, 1); }

int64_t lab_audio_fft_plan_len(const lab_audio_fft_plan *p) { return p ? p->n : 0; }

/* Doubles of scratch a complex transform of p needs. */
static int64_t fft_scratch_len(const lab_audio_fft_plan *p)
{
    return p->bluestein ? 2 * p->p2.m : p->mixed ? 2 * p->n : 0;
}

/* Unscaled forward (sign -1) or inverse (+1) transform in place. */
static void fft_exec(const lab_audio_fft_plan *p, double *re, double *im, int sign, double *scratch)
{
    if (p->mixed) {
        memcpy(scratch, re, (size_t)p->n * sizeof(double));
        memcpy(scratch + p->n, im, (size_t)p->n * sizeof(double));
        mr_run(p, scratch, scratch + p->n, 1, re, im, p->n, 0, sign);
        return;
    }
    if (!p->bluestein) {
        pow2_run(&p->p2, re, im, sign);
        return;
    }
    /* The inverse is the conjugate of the forward transform of the
     * conjugate. */
    int64_t n = p->n, m = p->p2.m;
    double *ar = scratch, *ai = scratch + m;
    double cj = sign > 0 ? -1.0 : 1.0;
    for (int64_t k = 0; k < n; k++) {
        double xr = re[k], xi = cj * im[k];
        ar[k] = xr * p->wre[k] - xi * p->wim[k];
        ai[k] = xr * p->wim[k] + xi * p->wre[k];
    }
    memset(ar + n, 0, (size_t)(m - n) * sizeof(double));
    memset(ai + n, 0, (size_t)(m - n) * sizeof(double));
    pow2_run(&p->p2, ar, ai, -1);
    for (int64_t k = 0; k < m; k++) {
        double r = ar[k] * p->bre[k] - ai[k] * p->bim[k];
        double i = ar[k] * p->bim[k] + ai[k] * p->bre[k];
        ar[k] = r;
        ai[k] = i;
    }
    pow2_run(&p->p2, ar, ai, +1);
    double inv_m = 1.0 / (double)m;
    for (int64_t k = 0; k < n; k++) {
        double cr = ar[k] * inv_m, ci = ai[k] * inv_m;
        re[k] = cr * p->wre[k] - ci * p->wim[k];
        im[k] = cj * (cr * p->wim[k] + ci * p->wre[k]);
    }
}

/* Real input x [n] -> bins 0..n/2 in re/im (double). work: 2 * n + scratch. */
static void rfft_exec(const lab_audio_fft_plan *p, const double *x, double *re, double *im, double *work)
{
    int64_t n = p->n;
    if (!p->half) {
        /* Odd n (or n == 1): a full complex transform. */
        double *zr = work, *zi = work + n;
        for (int64_t j = 0; j < n; j++) {
            zr[j] = x[j];
            zi[j] = 0.0;
        }
        fft_exec(p, zr, zi, -1, work + 2 * n);
        for (int64_t k = 0; k <= n / 2; k++) {
            re[k] = zr[k];
            im[k] = zi[k];
        }
        return;
    }
    /* Even n: z[j] = x[2j] + i x[2j+1], Z = FFT_h(z); then
     * X[k] = E[k] + e^{-2 pi i k/n} O[k] with E = (Z[k] + conj Z[h-k]) / 2 and
     * O = (Z[k] - conj Z[h-k]) / 2i. */
    int64_t h = n / 2;
    double *zr = work, *zi = work + h;
    for (int64_t j = 0; j < h; j++) {
        zr[j] = x[2 * j];
        zi[j] = x[2 * j + 1];
    }
    fft_exec(p->half, zr, zi, -1, work + 2 * h);
    for (int64_t k = 0; k <= h; k++) {
        int64_t a = k % h, b = (h - k) % h;
        double ar = zr[a], ai = zi[a], br = zr[b], bi = -zi[b];
        double er = 0.5 * (ar + br), ei = 0.5 * (ai + bi);
        double or_ = 0.5 * (ai - bi), oi = -0.5 * (ar - br);
        re[k] = er + p->tre[k] * or_ - p->tim[k] * oi;
        im[k] = ei + p->tre[k] * oi + p->tim[k] * or_;
    }
}

static int64_t rfft_work_len(const lab_audio_fft_plan *p)
{
    if (!p->half) return 2 * p->n + fft_scratch_len(p);
    return p->n + fft_scratch_len(p->half);
}

int lab_audio_fft_run(const lab_audio_fft_plan *p, float *re, float *im, int inverse)
{
    if (!p || !re || !im) return lab_error_set("fft: NULL plan or buffer");
    int64_t n = p->n;
    double *buf = malloc((size_t)(2 * n + fft_scratch_len(p)) * sizeof(double));
    if (!buf) return lab_error_set("fft: out of host memory (length %lld)", (long long)n);
    double *dr = buf, *di = buf + n;
    for (int64_t k = 0; k < n; k++) {
        dr[k] = re[k];
        di[k] = im[k];
    }
    fft_exec(p, dr, di, inverse ? +1 : -1, buf + 2 * n);
    double s = inverse ? 1.0 / (double)n : 1.0;
    for (int64_t k = 0; k < n; k++) {
        re[k] = (float)(dr[k] * s);
        im[k] = (float)(di[k] * s);
    }
    free(buf);
    return 0;
}

int lab_audio_fft_rfft(const lab_audio_fft_plan *p, const float *x, float *re, float *im)
{
    if (!p || !x || !re || !im) return lab_error_set("rfft: NULL plan or buffer");
    int64_t n = p->n, nb = n / 2 + 1;
    double *buf = malloc((size_t)(n + 2 * nb + rfft_work_len(p)) * sizeof(double));
    if (!buf) return lab_error_set("rfft: out of host memory (length %lld)", (long long)n);
    double *dx = buf, *dr = buf + n, *di = dr + nb;
    for (int64_t j = 0; j < n; j++) dx[j] = x[j];
    rfft_exec(p, dx, dr, di, di + nb);
    for (int64_t k = 0; k < nb; k++) {
        re[k] = (float)dr[k];
        im[k] = (float)di[k];
    }
    free(buf);
    return 0;
}

int lab_audio_fft(float *re, float *im, int64_t n, int inverse)
{
    lab_audio_fft_plan *p = lab_audio_fft_plan_new(n);
    if (!p) return -1;
    int rc = lab_audio_fft_run(p, re, im, inverse);
    lab_audio_fft_plan_free(p);
    return rc;
}

int lab_audio_rfft(const float *x, int64_t n, float *re, float *im)
{
    lab_audio_fft_plan *p = lab_audio_fft_plan_new(n);
    if (!p) return -1;
    int rc = lab_audio_fft_rfft(p, x, re, im);
    lab_audio_fft_plan_free(p);
    return rc;
}

/* --- STFT -------------------------------------------------------------------- */

/* Validated STFT geometry. */
typedef struct {
    int64_t n_fft, win, hop, pad;
    int center;
    lab_audio_pad mode;
    double power;
} stft_geom;

static int stft_geom_make(const char *op, const lab_audio_stft_cfg *cfg, stft_geom *g)
{
    if (!cfg) return lab_error_set("%s: NULL config", op);
    if (cfg->n_fft < 2)
        return lab_error_set("%s: n_fft must be >= 2, got %lld", op, (long long)cfg->n_fft);
    g->n_fft = cfg->n_fft;
    g->win = cfg->win_length ? cfg->win_length : cfg->n_fft;
    if (g->win < 1 || g->win > g->n_fft)
        return lab_error_set("%s: win_length %lld must be in [1, n_fft = %lld]", op, (long long)g->win,
                             (long long)g->n_fft);
    g->hop = cfg->hop_length ? cfg->hop_length : g->win / 2;
    if (g->hop < 1) return lab_error_set("%s: hop_length must be >= 1, got %lld", op, (long long)g->hop);
    if (cfg->pad != LAB_AUDIO_PAD_REFLECT && cfg->pad != LAB_AUDIO_PAD_CONSTANT)
        return lab_error_set("%s: unknown pad mode %d", op, (int)cfg->pad);
    if (!(cfg->power > 0)) return lab_error_set("%s: power must be > 0, got %g", op, cfg->power);
    g->center = cfg->center != 0;
    g->mode = cfg->pad;
    g->pad = g->center ? g->n_fft / 2 : 0;
    g->power = cfg->power;
    return 0;
}

static int64_t geom_frames(const char *op, const stft_geom *g, int64_t n)
{
    if (g->center && g->mode == LAB_AUDIO_PAD_REFLECT && n <= g->pad) {
        lab_error_set("%s: reflect padding of %lld needs more than %lld samples, got %lld", op,
                      (long long)g->pad, (long long)g->pad, (long long)n);
        return -1;
    }
    int64_t len = n + 2 * g->pad;
    if (len < g->n_fft) {
        lab_error_set("%s: %lld samples%s are shorter than n_fft = %lld", op, (long long)n,
                      g->center ? " (after padding)" : "", (long long)g->n_fft);
        return -1;
    }
    return 1 + (len - g->n_fft) / g->hop;
}

int64_t lab_audio_stft_frames(const lab_audio_stft_cfg *cfg, int64_t n)
{
    stft_geom g;
    if (stft_geom_make("stft", cfg, &g) < 0) return -1;
    return geom_frames("stft", &g, n);
}

/* Window of length win zero-padded (centred) to n_fft, in double. */
static double *make_window(const stft_geom *g)
{
    double *w = calloc((size_t)g->n_fft, sizeof(double));
    if (!w) return NULL;
    int64_t left = (g->n_fft - g->win) / 2;
    for (int64_t i = 0; i < g->win; i++) w[left + i] = 0.5 - 0.5 * cos(2.0 * PI * (double)i / (double)g->win);
    return w;
}

lab_tensor *lab_audio_hann_window(int64_t n, int periodic)
{
    if (n < 1) {
        lab_error_set("hann_window: length must be >= 1, got %lld", (long long)n);
        return NULL;
    }
    lab_tensor *t = lab_tensor_empty(LAB_F32, 1, &n, LAB_CPU);
    if (!t) return NULL;
    float *w = lab_tensor_f32(t);
    double d = periodic ? (double)n : (double)(n - 1);
    for (int64_t i = 0; i < n; i++) w[i] = n == 1 ? 1.0f : (float)(0.5 - 0.5 * cos(2.0 * PI * (double)i / d));
    return t;
}

/* Sample i of the padded signal (i in [-pad, n + pad)). */
static inline double padded_at(const float *x, int64_t n, int64_t i, lab_audio_pad mode)
{
    if (i >= 0 && i < n) return x[i];
    if (mode == LAB_AUDIO_PAD_CONSTANT) return 0.0;
    if (i < 0) i = -i;
    if (i >= n) i = 2 * (n - 1) - i;
    return x[i];
}

/* Per-call work buffers for framing + rfft. */
typedef struct {
    double *frame, *re, *im, *work;
    double *mem;
} stft_work;

static int stft_work_new(stft_work *w, const lab_audio_fft_plan *plan, int64_t n_fft)
{
    int64_t nb = n_fft / 2 + 1;
    w->mem = malloc((size_t)(n_fft + 2 * nb + rfft_work_len(plan)) * sizeof(double));
    if (!w->mem) return lab_error_set("stft: out of host memory");
    w->frame = w->mem;
    w->re = w->frame + n_fft;
    w->im = w->re + nb;
    w->work = w->im + nb;
    return 0;
}

/* Transform frame t of x into w->re / w->im. */
static void stft_frame(const stft_geom *g, const lab_audio_fft_plan *plan, const double *win, const float *x,
                       int64_t n, int64_t t, stft_work *w)
{
    int64_t start = t * g->hop - g->pad;
    if (start >= 0 && start + g->n_fft <= n) {
        for (int64_t i = 0; i < g->n_fft; i++) w->frame[i] = win[i] * x[start + i];
    } else {
        for (int64_t i = 0; i < g->n_fft; i++) w->frame[i] = win[i] * padded_at(x, n, start + i, g->mode);
    }
    rfft_exec(plan, w->frame, w->re, w->im, w->work);
}

static inline double spec_value(double re, double im, double power)
{
    double p = re * re + im * im;
    if (power == 2.0) return p;
    if (power == 1.0) return sqrt(p);
    return pow(p, power / 2.0);
}

/* wave must be f32 on the cpu, [T] or (when allow_batch) [B, T]. */
static int check_wave(const char *op, const lab_tensor *wave, int allow_batch)
{
    char buf[96];
    if (wave->dtype != LAB_F32 || wave->device.type != LAB_DEV_CPU)
        return lab_error_set("%s: wave must be f32 on the cpu, got %s", op, lab_tensor_desc(wave, buf, sizeof buf));
    if (wave->ndim != 1 && !(allow_batch && wave->ndim == 2))
        return lab_error_set("%s: wave must be [T]%s, got %s", op, allow_batch ? " or [B, T]" : "",
                             lab_tensor_desc(wave, buf, sizeof buf));
    return 0;
}

int lab_audio_stft(lab_tensor *wave, const lab_audio_stft_cfg *cfg, lab_tensor **re, lab_tensor **im)
{
    if (!re || !im) return lab_error_set("stft: NULL output pointer");
    *re = *im = NULL;
    if (!wave) return -1;
    stft_geom g;
    if (stft_geom_make("stft", cfg, &g) < 0 || check_wave("stft", wave, 0) < 0) return -1;
    int64_t n = wave->shape[0], frames = geom_frames("stft", &g, n);
    if (frames < 0) return -1;
    int64_t nb = g.n_fft / 2 + 1;
    lab_audio_fft_plan *plan = lab_audio_fft_plan_new(g.n_fft);
    double *win = make_window(&g);
    stft_work w = {0};
    int rc = -1;
    if (!plan || !win || stft_work_new(&w, plan, g.n_fft) < 0) {
        if (plan && !win) lab_error_set("stft: out of host memory");
        goto done;
    }
    int64_t shape[2] = {nb, frames};
    lab_tensor *tr = lab_tensor_empty(LAB_F32, 2, shape, LAB_CPU);
    lab_tensor *ti = lab_tensor_empty(LAB_F32, 2, shape, LAB_CPU);
    if (!tr || !ti) {
        lab_tensor_release(lab_tensor_own(tr));
        lab_tensor_release(lab_tensor_own(ti));
        goto done;
    }
    float *pr = lab_tensor_f32(tr), *pi = lab_tensor_f32(ti);
    const float *x = lab_tensor_f32(wave);
    for (int64_t t = 0; t < frames; t++) {
        stft_frame(&g, plan, win, x, n, t, &w);
        for (int64_t k = 0; k < nb; k++) {
            pr[k * frames + t] = (float)w.re[k];
            pi[k * frames + t] = (float)w.im[k];
        }
    }
    *re = tr;
    *im = ti;
    rc = 0;
done:
    free(w.mem);
    free(win);
    lab_audio_fft_plan_free(plan);
    return rc;
}

lab_tensor *lab_audio_spectrogram(lab_tensor *wave, const lab_audio_stft_cfg *cfg)
{
    if (!wave) return NULL;
    stft_geom g;
    if (stft_geom_make("spectrogram", cfg, &g) < 0 || check_wave("spectrogram", wave, 1) < 0) return NULL;
    int64_t batch = wave->ndim == 2 ? wave->shape[0] : 1, n = wave->shape[wave->ndim - 1];
    int64_t frames = geom_frames("spectrogram", &g, n);
    if (frames < 0) return NULL;
    int64_t nb = g.n_fft / 2 + 1;
    lab_audio_fft_plan *plan = lab_audio_fft_plan_new(g.n_fft);
    double *win = make_window(&g);
    stft_work w = {0};
    lab_tensor *out = NULL;
    if (!plan || !win || stft_work_new(&w, plan, g.n_fft) < 0) {
        if (plan && !win) lab_error_set("spectrogram: out of host memory");
        goto done;
    }
    int64_t shape[3] = {batch, nb, frames};
    out = wave->ndim == 2 ? lab_tensor_empty(LAB_F32, 3, shape, LAB_CPU)
                          : lab_tensor_empty(LAB_F32, 2, shape + 1, LAB_CPU);
    if (!out) goto done;
    float *po = lab_tensor_f32(out);
    const float *x = lab_tensor_f32(wave);
    for (int64_t b = 0; b < batch; b++) {
        for (int64_t t = 0; t < frames; t++) {
            stft_frame(&g, plan, win, x + b * n, n, t, &w);
            for (int64_t k = 0; k < nb; k++)
                po[(b * nb + k) * frames + t] = (float)spec_value(w.re[k], w.im[k], g.power);
        }
    }
done:
    free(w.mem);
    free(win);
    lab_audio_fft_plan_free(plan);
    return out;
}

/* --- mel scale ----------------------------------------------------------------- */

/* Slaney's Auditory Toolbox scale, as librosa and torchaudio define it. */
#define SLANEY_F_SP (200.0 / 3.0)
#define SLANEY_MIN_LOG_HZ 1000.0
#define SLANEY_MIN_LOG_MEL (SLANEY_MIN_LOG_HZ / SLANEY_F_SP)
#define SLANEY_LOGSTEP (0.068751777420949123) /* log(6.4) / 27 */

double lab_audio_hz_to_mel(double hz, lab_mel_scale scale)
{
    if (scale == LAB_MEL_HTK) return 2595.0 * log10(1.0 + hz / 700.0);
    if (hz >= SLANEY_MIN_LOG_HZ) return SLANEY_MIN_LOG_MEL + log(hz / SLANEY_MIN_LOG_HZ) / SLANEY_LOGSTEP;
    return hz / SLANEY_F_SP;
}

double lab_audio_mel_to_hz(double mel, lab_mel_scale scale)
{
    if (scale == LAB_MEL_HTK) return 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
    if (mel >= SLANEY_MIN_LOG_MEL) return SLANEY_MIN_LOG_HZ * exp(SLANEY_LOGSTEP * (mel - SLANEY_MIN_LOG_MEL));
    return mel * SLANEY_F_SP;
}

/* librosa.filters.mel in double: fb [n_mels * n_freqs]. */
static int mel_fb_fill(double *fb, int64_t n_freqs, double sr, int64_t n_mels, double f_min, double f_max,
                       lab_mel_scale scale, lab_mel_norm norm)
{
    if (n_freqs < 2) return lab_error_set("mel_filterbank: n_freqs must be >= 2, got %lld", (long long)n_freqs);
    if (n_mels < 1) return lab_error_set("mel_filterbank: n_mels must be >= 1, got %lld", (long long)n_mels);
    if (!(sr > 0)) return lab_error_set("mel_filterbank: sample_rate must be > 0, got %g", sr);
    if (!(f_min >= 0 && f_min < f_max && f_max <= sr / 2 + 1e-9))
        return lab_error_set("mel_filterbank: need 0 <= f_min < f_max <= sample_rate/2 = %g, got f_min %g, f_max %g",
                             sr / 2, f_min, f_max);
    if (scale != LAB_MEL_HTK && scale != LAB_MEL_SLANEY)
        return lab_error_set("mel_filterbank: unknown mel scale %d", (int)scale);
    if (norm != LAB_MEL_NORM_NONE && norm != LAB_MEL_NORM_SLANEY)
        return lab_error_set("mel_filterbank: unknown norm %d", (int)norm);
    double *pts = malloc((size_t)(n_mels + 2) * sizeof(double));
    if (!pts) return lab_error_set("mel_filterbank: out of host memory");
    double m0 = lab_audio_hz_to_mel(f_min, scale), m1 = lab_audio_hz_to_mel(f_max, scale);
    for (int64_t i = 0; i < n_mels + 2; i++)
        pts[i] = lab_audio_mel_to_hz(m0 + (m1 - m0) * (double)i / (double)(n_mels + 1), scale);
    for (int64_t i = 0; i < n_mels; i++) {
        double lo = pts[i], mid = pts[i + 1], hi = pts[i + 2];
        double enorm = norm == LAB_MEL_NORM_SLANEY ? 2.0 / (hi - lo) : 1.0;
        for (int64_t k = 0; k < n_freqs; k++) {
            double f = (sr / 2) * (double)k / (double)(n_freqs - 1);
            double up = (f - lo) / (mid - lo), down = (hi - f) / (hi - mid);
            double v = up < down ? up : down;
            fb[i * n_freqs + k] = v > 0 ? v * enorm : 0.0;
        }
    }
    free(pts);
    return 0;
}

lab_tensor *lab_audio_mel_filterbank(int64_t n_freqs, double sample_rate, int64_t n_mels, double f_min,
                                     double f_max, lab_mel_scale scale, lab_mel_norm norm)
{
    if (n_freqs < 2 || n_mels < 1 || n_freqs > ((int64_t)1 << 24) || n_mels > ((int64_t)1 << 16)) {
        lab_error_set("mel_filterbank: need n_freqs in [2, 2^24] and n_mels in [1, 2^16], got %lld and %lld",
                      (long long)n_freqs, (long long)n_mels);
        return NULL;
    }
    double *fb = malloc((size_t)(n_freqs * n_mels) * sizeof(double));
    if (!fb) {
        lab_error_set("mel_filterbank: out of host memory");
        return NULL;
    }
    lab_tensor *t = NULL;
    if (mel_fb_fill(fb, n_freqs, sample_rate, n_mels, f_min, f_max, scale, norm) == 0) {
        int64_t shape[2] = {n_mels, n_freqs};
        t = lab_tensor_empty(LAB_F32, 2, shape, LAB_CPU);
        if (t) {
            float *p = lab_tensor_f32(t);
            for (int64_t i = 0; i < n_freqs * n_mels; i++) p[i] = (float)fb[i];
        }
    }
    free(fb);
    return t;
}

/* --- mel spectrograms ---------------------------------------------------------- */

struct lab_audio_mel {
    lab_audio_mel_cfg cfg;
    stft_geom g;
    lab_audio_fft_plan *plan;
    double *win;
    int64_t n_freqs;
    double *fb;         /* [n_mels, n_freqs] */
    int64_t *lo, *hi;   /* nonzero bin range of each filter */
};

static lab_audio_mel_cfg mel_common(double sr)
{
    lab_audio_mel_cfg c;
    memset(&c, 0, sizeof c);
    c.sample_rate = sr;
    c.stft.center = 1;
    c.stft.power = 2.0;
    c.n_mels = 128;
    c.f_min = 0.0;
    c.f_max = 0.0;
    c.log = LAB_AUDIO_LOG_NONE;
    c.eps = 1e-6;
    c.amin = 1e-10;
    c.top_db = 80.0;
    return c;
}

lab_audio_mel_cfg lab_audio_mel_defaults_torchaudio(double sample_rate)
{
    lab_audio_mel_cfg c = mel_common(sample_rate);
    c.stft.n_fft = 400;
    c.stft.win_length = 400;
    c.stft.hop_length = 200;
    c.stft.pad = LAB_AUDIO_PAD_REFLECT;
    c.scale = LAB_MEL_HTK;
    c.norm = LAB_MEL_NORM_NONE;
    return c;
}

lab_audio_mel_cfg lab_audio_mel_defaults_librosa(double sample_rate)
{
    lab_audio_mel_cfg c = mel_common(sample_rate);
    c.stft.n_fft = 2048;
    c.stft.win_length = 2048;
    c.stft.hop_length = 512;
    c.stft.pad = LAB_AUDIO_PAD_CONSTANT;
    c.scale = LAB_MEL_SLANEY;
    c.norm = LAB_MEL_NORM_SLANEY;
    return c;
}

void lab_audio_mel_free(lab_audio_mel *m)
{
    if (!m) return;
    lab_audio_fft_plan_free(m->plan);
    free(m->win);
    free(m->fb);
    free(m->lo);
    free(m->hi);
    free(m);
}

lab_audio_mel *lab_audio_mel_new(const lab_audio_mel_cfg *cfg)
{
    if (!cfg) {
        lab_error_set("mel: NULL config");
        return NULL;
    }
    lab_audio_mel *m = calloc(1, sizeof *m);
    if (!m) {
        lab_error_set("mel: out of host memory");
        return NULL;
    }
    m->cfg = *cfg;
    if (m->cfg.f_max <= 0) m->cfg.f_max = cfg->sample_rate / 2;
    if (stft_geom_make("mel", &cfg->stft, &m->g) < 0) goto fail;
    if (cfg->log != LAB_AUDIO_LOG_NONE && cfg->log != LAB_AUDIO_LOG_NATURAL && cfg->log != LAB_AUDIO_LOG_DB) {
        lab_error_set("mel: unknown log mode %d", (int)cfg->log);
        goto fail;
    }
    if (cfg->log == LAB_AUDIO_LOG_NATURAL && !(cfg->eps > 0)) {
        lab_error_set("mel: eps must be > 0 for ln(x + eps), got %g", cfg->eps);
        goto fail;
    }
    if (cfg->log == LAB_AUDIO_LOG_DB && !(cfg->amin > 0)) {
        lab_error_set("mel: amin must be > 0 for dB, got %g", cfg->amin);
        goto fail;
    }
    if (cfg->n_mels < 1 || cfg->n_mels > 4096) {
        lab_error_set("mel: n_mels must be in [1, 4096], got %lld", (long long)cfg->n_mels);
        goto fail;
    }
    m->n_freqs = m->g.n_fft / 2 + 1;
    m->plan = lab_audio_fft_plan_new(m->g.n_fft);
    if (!m->plan) goto fail;
    m->win = make_window(&m->g);
    m->fb = malloc((size_t)(cfg->n_mels * m->n_freqs) * sizeof(double));
    m->lo = malloc((size_t)cfg->n_mels * sizeof(int64_t));
    m->hi = malloc((size_t)cfg->n_mels * sizeof(int64_t));
    if (!m->win || !m->fb || !m->lo || !m->hi) {
        lab_error_set("mel: out of host memory");
        goto fail;
    }
    if (mel_fb_fill(m->fb, m->n_freqs, cfg->sample_rate, cfg->n_mels, m->cfg.f_min, m->cfg.f_max, cfg->scale,
                    cfg->norm) < 0) {
        lab_error_prefix("mel: ");
        goto fail;
    }
    for (int64_t i = 0; i < cfg->n_mels; i++) {
        const double *row = m->fb + i * m->n_freqs;
        int64_t lo = 0, hi = m->n_freqs;
        while (lo < hi && row[lo] == 0.0) lo++;
        while (hi > lo && row[hi - 1] == 0.0) hi--;
        m->lo[i] = lo;
        m->hi[i] = hi;
    }
    return m;
fail:
    lab_audio_mel_free(m);
    return NULL;
}

const lab_audio_mel_cfg *lab_audio_mel_config(const lab_audio_mel *m) { return m ? &m->cfg : NULL; }

int64_t lab_audio_mel_frames(const lab_audio_mel *m, int64_t n)
{
    if (!m) {
        lab_error_set("mel: NULL transform");
        return -1;
    }
    return geom_frames("mel", &m->g, n);
}

int lab_audio_mel_compute(const lab_audio_mel *m, const float *wave, int64_t n, float *out)
{
    if (!m || !wave || !out) return lab_error_set("mel: NULL transform or buffer");
    int64_t frames = geom_frames("mel", &m->g, n);
    if (frames < 0) return -1;
    int64_t nm = m->cfg.n_mels, nf = m->n_freqs;
    stft_work w;
    if (stft_work_new(&w, m->plan, m->g.n_fft) < 0) return -1;
    double *spec = malloc((size_t)nf * sizeof(double));
    if (!spec) {
        free(w.mem);
        return lab_error_set("mel: out of host memory");
    }
    const lab_audio_mel_cfg *c = &m->cfg;
    double ymax = -INFINITY;
    for (int64_t t = 0; t < frames; t++) {
        stft_frame(&m->g, m->plan, m->win, wave, n, t, &w);
        for (int64_t k = 0; k < nf; k++) spec[k] = spec_value(w.re[k], w.im[k], m->g.power);
        for (int64_t i = 0; i < nm; i++) {
            const double *row = m->fb + i * nf;
            double s = 0.0;
            for (int64_t k = m->lo[i]; k < m->hi[i]; k++) s += row[k] * spec[k];
            if (c->log == LAB_AUDIO_LOG_NATURAL)
                s = log(s + c->eps);
            else if (c->log == LAB_AUDIO_LOG_DB)
                s = 10.0 * log10(s > c->amin ? s : c->amin);
            if (s > ymax) ymax = s;
            out[i * frames + t] = (float)s;
        }
    }
    if (c->log == LAB_AUDIO_LOG_DB && c->top_db > 0) {
        float floor_db = (float)(ymax - c->top_db);
        for (int64_t i = 0; i < nm * frames; i++)
            if (out[i] < floor_db) out[i] = floor_db;
    }
    free(spec);
    free(w.mem);
    return 0;
}

lab_tensor *lab_audio_mel_apply(const lab_audio_mel *m, lab_tensor *wave)
{
    if (!wave) return NULL;
    if (!m) {
        lab_error_set("mel: NULL transform");
        return NULL;
    }
    if (check_wave("mel", wave, 1) < 0) return NULL;
    int64_t batch = wave->ndim == 2 ? wave->shape[0] : 1, n = wave->shape[wave->ndim - 1];
    int64_t frames = lab_audio_mel_frames(m, n);
    if (frames < 0) return NULL;
    int64_t nm = m->cfg.n_mels;
    int64_t shape[3] = {batch, nm, frames};
    lab_tensor *out = wave->ndim == 2 ? lab_tensor_empty(LAB_F32, 3, shape, LAB_CPU)
                                      : lab_tensor_empty(LAB_F32, 2, shape + 1, LAB_CPU);
    if (!out) return NULL;
    const float *x = lab_tensor_f32(wave);
    float *po = lab_tensor_f32(out);
    for (int64_t b = 0; b < batch; b++) {
        if (lab_audio_mel_compute(m, x + b * n, n, po + b * nm * frames) < 0) {
            lab_tensor_release(lab_tensor_own(out));
            return NULL;
        }
    }
    return out;
}

lab_tensor *lab_audio_melspectrogram(lab_tensor *wave, const lab_audio_mel_cfg *cfg)
{
    if (!wave) return NULL;
    lab_audio_mel *m = lab_audio_mel_new(cfg);
    if (!m) return NULL;
    lab_tensor *out = lab_audio_mel_apply(m, wave);
    lab_audio_mel_free(m);
    return out;
}
