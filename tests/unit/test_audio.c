/* Tests of lab/audio.h: FFT against a direct DFT, STFT/mel/log-mel against
 * reference numbers.
 *
 * The reference numbers below were computed ONCE with /usr/bin/python3
 * (torch 1.13, numpy 1.24; torchaudio and librosa are not installed) and
 * pasted here. Input: 800 samples at 8 kHz, x = 0.5 sin(2 pi 440 t) +
 * 0.3 sin(2 pi (200 t + (3000 - 200) / (2 * 0.1) t^2)) (a 440 Hz tone plus a
 * 200 -> 3000 Hz chirp), rounded to float32. The script:
 *
 *   X = torch.stft(x64, 256, hop_length=64, win_length=200,
 *                  window=torch.hann_window(200, periodic=True), center=True,
 *                  pad_mode='reflect', return_complex=True)        # float64
 *   P = |X|^2                                                       # [129, 13]
 *   melfb(sr, n_fft, n_mels, fmin, fmax, htk, slaney_norm): librosa.filters.mel's
 *     formula: fft = linspace(0, sr/2, 1 + n_fft//2); mel_f = mel2hz(linspace(
 *     hz2mel(fmin), hz2mel(fmax), n_mels + 2)); W[i] = max(0, min(-ramps[i] /
 *     fdiff[i], ramps[i+2] / fdiff[i+1])) with ramps = mel_f[:, None] - fft;
 *     slaney norm: W *= 2 / (mel_f[2:] - mel_f[:-2]); hz2mel/mel2hz as in
 *     librosa (htk: 2595 log10(1 + f/700); slaney: f/(200/3) below 1 kHz,
 *     15 + log(f/1000) / (log(6.4)/27) above).
 *   mel_htk = melfb(8000, 256, 40, 20, 4000, htk=True, norm=False) @ P
 *   mel_slaney = melfb(..., htk=False, norm=True) @ P
 *   db = 10 log10(max(1e-10, mel_slaney)); db = max(db, db.max() - 40)
 *   ln = log(mel_htk + 1e-6)
 * Each ref_* array lists frames {0, 4, 8, 12} (outer) x the rows named next
 * to it (inner).
 *
 * Tolerance: the library computes in double and rounds to f32 at the end, so
 * values agree to f32 rounding: |got - ref| <= 1e-8 * max|ref| + 1e-5 |ref|
 * (they pass at 1e-9 and 1e-6 today; the margin covers libm differences in
 * the input signal).
 */
#include <string.h>

#include "labtest.h"
#include "lab/audio.h"

#define SR 8000.0
#define NS 800

static void make_signal(float *x)
{
    double T = NS / SR;
    for (int i = 0; i < NS; i++) {
        double t = i / SR;
        double v = 0.5 * sin(2 * M_PI * 440.0 * t) + 0.3 * sin(2 * M_PI * (200.0 * t + (3000.0 - 200.0) / (2 * T) * t * t));
        x[i] = (float)v;
    }
}

static lab_tensor *signal_tensor(void)
{
    float x[NS];
    make_signal(x);
    int64_t n = NS;
    return lab_tensor_from_f32(x, 1, &n);
}

static double max_abs(const float *v, int n)
{
    double m = 0;
    for (int i = 0; i < n; i++) m = fmax(m, fabs(v[i]));
    return m;
}

/* got[k * frames + t] for the listed frames (outer) and rows (inner). */
static void pick(const float *full, int64_t frames, const int *fr, int nfr, int row0, int row_step, int nrows, float *out)
{
    for (int a = 0; a < nfr; a++)
        for (int r = 0; r < nrows; r++) out[a * nrows + r] = full[(int64_t)(row0 + r * row_step) * frames + fr[a]];
}

static void assert_ref(const float *got, const float *ref, int n)
{
    lt_assert_close(got, ref, n, 1e-8 * max_abs(ref, n), 1e-5);
}

/* bins 0, 8, ..., 128 */
static const float ref_power[68] = {
    43.8374948, 41.0455803, 257.253924, 3.54720464, 0.808646036, 0.303206091, 0.145756123,
    0.0820759794, 0.0517640035, 0.0356248514, 0.0263139784, 0.0206292028, 0.0170343743,
    0.0147388492, 0.0133176223, 0.0125405083, 0.0122930823, 5.26419798e-08, 0.00296970319,
    18.0779671, 0.123189893, 34.7868818, 18.0251256, 0.0176899186, 2.95355665e-05, 9.24975849e-07,
    9.08570438e-08, 2.45883689e-08, 9.57322866e-09, 2.65454043e-09, 8.37099467e-10, 7.56556016e-10,
    4.39431252e-10, 1.67013169e-10, 4.13526799e-09, 0.00296446186, 18.0148128, 0.000149866848,
    3.18947322e-07, 1.02494201e-05, 0.00123140555, 2.79109599, 50.8658718, 1.80014757,
    0.000754951939, 4.36350415e-06, 2.69308667e-07, 5.04652609e-08, 6.43903728e-09, 6.74488281e-11,
    7.94125662e-10, 4.18601776, 9.70819073, 102.207953, 1.5128445, 0.383447209, 0.174302669,
    0.10978295, 0.0883661221, 0.0889972693, 0.113591114, 0.0945621499, 17.9264554, 30.3730218,
    0.83653966, 0.228456845, 0.13237694, 0.112815516
};
/* mel rows 0, 3, ..., 39 */
static const float ref_mel_htk[56] = {
    51.6250224, 96.0803796, 11.7492118, 238.450918, 32.5308937, 5.51401772, 1.82858987, 0.813538791,
    0.421606414, 0.236307375, 0.151054984, 0.106416596, 0.0862736442, 0.0819114277, 0.000122317675,
    0.000378872822, 0.0131240314, 840.243555, 0.0198574262, 1.64702336, 96.0072192, 39.908255,
    0.0198117097, 1.47148838e-05, 4.39792408e-07, 4.57178977e-08, 8.13465744e-09, 2.33561124e-09,
    6.16684184e-05, 0.000333803765, 0.0129895162, 840.337732, 0.00955410075, 0.000232825644,
    6.49083814e-06, 3.38937646e-05, 0.0629479685, 126.042108, 9.51680493, 7.69459425e-05,
    3.08481356e-07, 8.89069552e-09, 4.66818564, 7.10114125, 21.3422103, 483.31043, 14.1281743,
    2.40363416, 0.880250576, 0.477294436, 0.343478233, 0.330040861, 0.542697974, 91.931736,
    10.215161, 0.845203888
};
static const float ref_mel_slaney[56] = {
    1.64631115, 1.39827847, 5.68886743, 0.666246588, 0.108225068, 0.0365041424, 0.0164000692,
    0.00788999298, 0.00394100996, 0.00210283529, 0.00117435718, 0.000722460798, 0.000493408138,
    0.000399663132, 4.09568546e-06, 7.16556411e-05, 10.886007, 0.000393501931, 0.00564387198,
    0.475819096, 1.58004007, 0.183122901, 0.000117679805, 1.66044492e-07, 4.42413151e-09,
    3.76248117e-10, 5.350778e-11, 1.17317288e-11, 2.38222897e-06, 7.07808576e-05, 10.8860426,
    0.000284347291, 4.08625344e-06, 5.21859699e-07, 1.28484767e-07, 7.51167377e-07, 0.000691743356,
    0.905323202, 0.170980091, 1.50132283e-06, 2.46650038e-09, 4.62705934e-11, 0.14230631,
    0.31465643, 9.20229151, 0.3102725, 0.0466414724, 0.0167026542, 0.00836833943, 0.00484478088,
    0.00325400949, 0.00281495485, 0.00368217303, 0.24355756, 0.120483754, 0.00420777635
};
static const float ref_db_slaney_top40[56] = {
    2.16511918, 1.45593671, 7.55025814, -1.76365002, -9.65672132, -14.3765785, -17.8515432,
    -21.0292338, -24.0439247, -26.7719474, -27.3094479, -27.3094479, -27.3094479, -27.3094479,
    -27.3094479, -27.3094479, 10.3686861, -27.3094479, -22.4842285, -3.22558132, 1.98668101,
    -7.3725734, -27.3094479, -27.3094479, -27.3094479, -27.3094479, -27.3094479, -27.3094479,
    -27.3094479, -27.3094479, 10.3687003, -27.3094479, -27.3094479, -27.3094479, -27.3094479,
    -27.3094479, -27.3094479, -0.43196349, -7.67054456, -27.3094479, -27.3094479, -27.3094479,
    -8.46775842, -5.02163389, 9.63895987, -5.08256715, -13.3122775, -17.7721451, -20.7736071,
    -23.1472586, -24.8758119, -25.5052857, -24.3389581, -6.13398385, -9.19071509, -23.7594735
};
static const float ref_ln_htk[56] = {
    3.9440065, 4.56518514, 2.46378624, 5.4741635, 3.48219024, 1.70729371, 0.603545652, -0.20636044,
    -0.863680697, -1.44261765, -1.89010476, -2.24038434, -2.45021953, -2.50210456, -9.00074681,
    -7.87567404, -4.33323408, 6.7336918, -3.91912687, 0.498970239, 4.5644234, 3.68658322,
    -3.92143164, -11.0609023, -13.4510116, -13.7708069, -13.8074088, -13.8131777, -9.67765293,
    -8.00196597, -4.34353571, 6.73380387, -4.65068016, -8.36093483, -11.8018299, -10.2632024,
    -2.7654309, 4.83661605, 2.25305928, -9.45949502, -13.5466434, -13.8066592, 1.5407707,
    1.96025565, 3.06068686, 6.18065916, 2.64817105, 0.876982241, -0.12754753, -0.739619618,
    -1.06862863, -1.10853578, -0.611200489, 4.52104631, 2.32387309, -0.16817621
};
static const float ref_fb_htk_row10[129] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.581487413, 0.839412804, 0.279031677, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
};
static const float ref_fb_slaney_row30[129] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0.00135225795, 0.00324530901, 0.00513836008, 0.00703141115, 0.00648404873,
    0.00469849646, 0.00291294419, 0.00112739192, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0
};
/* n_fft = win = 256, hop 64, zero padding; frames 0 and 12, bins 0, 8, ..., 128 */
static const float ref_power_const[34] = {
    10.9423875, 38.3161217, 61.5504498, 0.819641965, 0.200387812, 0.0754611271, 0.0363888752,
    0.0205312337, 0.0129589327, 0.00891745365, 0.00658286608, 0.00515746336, 0.00425717139,
    0.00368344656, 0.00332907693, 0.00313569831, 0.00307420313, 1.63689779, 3.57401531, 32.2124601,
    0.370141366, 0.060660038, 0.0135282566, 0.00218375845, 1.90707574e-05, 0.00254064182,
    0.0104919036, 0.550753167, 30.8349199, 12.2232178, 0.593198428, 0.208875061, 0.135881217,
    0.120044171
};

/* --- FFT ------------------------------------------------------------------ */

static void dft(const double *xr, const double *xi, int64_t n, double *yr, double *yi)
{
    for (int64_t k = 0; k < n; k++) {
        double sr = 0, si = 0;
        for (int64_t j = 0; j < n; j++) {
            double a = -2 * M_PI * (double)((j * k) % n) / (double)n;
            sr += xr[j] * cos(a) - xi[j] * sin(a);
            si += xr[j] * sin(a) + xi[j] * cos(a);
        }
        yr[k] = sr;
        yi[k] = si;
    }
}

Test(audio, fft_matches_direct_dft)
{
    /* powers of two; mixed radix (factors <= 7: 6, 12, 100, 210, 400, 1000,
     * 343 = 7^3, 2025 = 3^4 5^2); Bluestein (a prime factor > 7: 11, 22, 97). */
    const int64_t sizes[] = {1, 2, 4, 8, 64, 512, 3, 5, 6, 7, 12, 100, 210, 343, 400, 1000, 2025, 11, 22, 97};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s];
        lab_rng rng = lab_rng_make(11, (uint64_t)n);
        float *re = malloc(n * sizeof *re), *im = malloc(n * sizeof *im);
        double *xr = malloc(n * sizeof *xr), *xi = malloc(n * sizeof *xi);
        double *yr = malloc(n * sizeof *yr), *yi = malloc(n * sizeof *yi);
        for (int64_t j = 0; j < n; j++) {
            re[j] = (float)(2 * lab_rng_next_uniform(&rng) - 1);
            im[j] = (float)(2 * lab_rng_next_uniform(&rng) - 1);
            xr[j] = re[j];
            xi[j] = im[j];
        }
        dft(xr, xi, n, yr, yi);
        cr_assert_eq(lab_audio_fft(re, im, n, 0), 0, "n=%lld: %s", (long long)n, lab_error());
        for (int64_t k = 0; k < n; k++) {
            cr_assert(fabs(re[k] - yr[k]) < 1e-5 * (1 + fabs(yr[k])), "n=%lld re[%lld] %g vs %g", (long long)n,
                      (long long)k, re[k], yr[k]);
            cr_assert(fabs(im[k] - yi[k]) < 1e-5 * (1 + fabs(yi[k])), "n=%lld im[%lld] %g vs %g", (long long)n,
                      (long long)k, im[k], yi[k]);
        }
        /* The inverse (scaled by 1/n) gives the input back. */
        cr_assert_eq(lab_audio_fft(re, im, n, 1), 0);
        for (int64_t j = 0; j < n; j++) {
            cr_assert(fabs(re[j] - xr[j]) < 1e-5 && fabs(im[j] - xi[j]) < 1e-5, "n=%lld inverse at %lld",
                      (long long)n, (long long)j);
        }
        free(re), free(im), free(xr), free(xi), free(yr), free(yi);
    }
}

Test(audio, rfft_matches_direct_dft)
{
    const int64_t sizes[] = {1, 2, 16, 256, 3, 10, 200, 400, 401, 22, 26};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int64_t n = sizes[s], nb = n / 2 + 1;
        lab_rng rng = lab_rng_make(12, (uint64_t)n);
        float *x = malloc(n * sizeof *x), *re = malloc(nb * sizeof *re), *im = malloc(nb * sizeof *im);
        double *xr = malloc(n * sizeof *xr), *xi = calloc(n, sizeof *xi);
        double *yr = malloc(n * sizeof *yr), *yi = malloc(n * sizeof *yi);
        for (int64_t j = 0; j < n; j++) xr[j] = x[j] = (float)(2 * lab_rng_next_uniform(&rng) - 1);
        dft(xr, xi, n, yr, yi);
        lab_audio_fft_plan *p = lab_audio_fft_plan_new(n);
        cr_assert_not_null(p);
        cr_assert_eq(lab_audio_fft_plan_len(p), n);
        cr_assert_eq(lab_audio_fft_rfft(p, x, re, im), 0);
        for (int64_t k = 0; k < nb; k++)
            cr_assert(fabs(re[k] - yr[k]) < 1e-5 * (1 + fabs(yr[k])) && fabs(im[k] - yi[k]) < 1e-5 * (1 + fabs(yi[k])),
                      "n=%lld bin %lld: (%g, %g) vs (%g, %g)", (long long)n, (long long)k, re[k], im[k], yr[k], yi[k]);
        lab_audio_fft_plan_free(p);
        free(x), free(re), free(im), free(xr), free(xi), free(yr), free(yi);
    }
}

Test(audio, fft_rejects_bad_length)
{
    lab_error_clear();
    cr_assert_null(lab_audio_fft_plan_new(0));
    lt_assert_error_contains("fft: length must be >= 1");
}

/* --- STFT ----------------------------------------------------------------- */

static lab_audio_stft_cfg test_stft(void)
{
    lab_audio_stft_cfg c = {.n_fft = 256, .win_length = 200, .hop_length = 64, .center = 1,
                            .pad = LAB_AUDIO_PAD_REFLECT, .power = 2.0};
    return c;
}

static const int FRAMES[4] = {0, 4, 8, 12};

Test(audio, power_spectrogram_matches_torch_stft)
{
    lab_scope_begin();
    lab_audio_stft_cfg c = test_stft();
    cr_assert_eq(lab_audio_stft_frames(&c, NS), 13);
    lab_tensor *p = lab_audio_spectrogram(signal_tensor(), &c);
    cr_assert_not_null(p, "%s", lab_error());
    cr_assert_eq(p->ndim, 2);
    cr_assert_eq(p->shape[0], 129);
    cr_assert_eq(p->shape[1], 13);
    float got[68];
    pick(lab_tensor_f32(p), 13, FRAMES, 4, 0, 8, 17, got);
    assert_ref(got, ref_power, 68);
    /* Full sum as computed by the reference: 22125.94338745012. */
    double s = 0;
    for (int64_t i = 0; i < p->numel; i++) s += lab_tensor_f32(p)[i];
    cr_assert(fabs(s - 22125.94338745012) < 1e-3, "sum %.9g", s);

    /* The complex STFT agrees with the power spectrogram. */
    lab_tensor *re, *im;
    cr_assert_eq(lab_audio_stft(signal_tensor(), &c, &re, &im), 0);
    for (int64_t i = 0; i < p->numel; i++) {
        float r = lab_tensor_f32(re)[i], q = lab_tensor_f32(im)[i];
        cr_assert(fabs(r * r + q * q - lab_tensor_f32(p)[i]) < 1e-4 * (1 + lab_tensor_f32(p)[i]));
    }
    /* Magnitude (power 1) is the square root. */
    c.power = 1.0;
    lab_tensor *mag = lab_audio_spectrogram(signal_tensor(), &c);
    for (int64_t i = 0; i < p->numel; i++)
        cr_assert(fabs(lab_tensor_f32(mag)[i] - sqrtf(lab_tensor_f32(p)[i])) < 1e-4);
    lab_scope_end();
}

Test(audio, constant_padding_matches_torch_stft)
{
    lab_scope_begin();
    lab_audio_stft_cfg c = {.n_fft = 256, .hop_length = 64, .center = 1, .pad = LAB_AUDIO_PAD_CONSTANT, .power = 2};
    lab_tensor *p = lab_audio_spectrogram(signal_tensor(), &c);
    cr_assert_not_null(p, "%s", lab_error());
    cr_assert_eq(p->shape[1], 13);
    float got[34];
    const int fr[2] = {0, 12};
    pick(lab_tensor_f32(p), 13, fr, 2, 0, 8, 17, got);
    assert_ref(got, ref_power_const, 34);
    lab_scope_end();
}

Test(audio, batched_spectrogram_equals_per_clip)
{
    lab_scope_begin();
    float x[2 * NS];
    make_signal(x);
    for (int i = 0; i < NS; i++) x[NS + i] = 0.25f * x[NS - 1 - i];
    int64_t bs[2] = {2, NS}, one = NS;
    lab_audio_stft_cfg c = test_stft();
    lab_tensor *pb = lab_audio_spectrogram(lab_tensor_from_f32(x, 2, bs), &c);
    cr_assert_not_null(pb);
    cr_assert_eq(pb->ndim, 3);
    for (int b = 0; b < 2; b++) {
        lab_tensor *p1 = lab_audio_spectrogram(lab_tensor_from_f32(x + b * NS, 1, &one), &c);
        cr_assert_eq(memcmp(lab_tensor_f32(pb) + b * p1->numel, lab_tensor_f32(p1), p1->numel * sizeof(float)), 0);
    }
    lab_scope_end();
}

Test(audio, stft_errors_name_the_problem)
{
    lab_scope_begin();
    int64_t n = 100;
    lab_tensor *shortw = lab_tensor_zeros(LAB_F32, 1, &n, LAB_CPU);
    lab_audio_stft_cfg c = test_stft();
    cr_assert_null(lab_audio_spectrogram(shortw, &c));
    lt_assert_error_contains("reflect padding of 128 needs more than 128 samples, got 100");
    c.win_length = 300;
    cr_assert_null(lab_audio_spectrogram(signal_tensor(), &c));
    lt_assert_error_contains("win_length 300 must be in [1, n_fft = 256]");
    c = test_stft();
    c.center = 0;
    cr_assert_null(lab_audio_spectrogram(shortw, &c));
    lt_assert_error_contains("100 samples are shorter than n_fft = 256");
    lab_tensor *ints = lab_tensor_zeros(LAB_I64, 1, &n, LAB_CPU);
    cr_assert_null(lab_audio_spectrogram(ints, &c));
    lt_assert_error_contains("spectrogram: wave must be f32 on the cpu, got i64[100]");
    cr_assert_null(lab_audio_spectrogram(NULL, &c));
    lab_scope_end();
}

Test(audio, hann_window_periodic_and_symmetric)
{
    lab_scope_begin();
    lab_tensor *w = lab_audio_hann_window(8, 1);
    const float want[8] = {0, 0.14644661f, 0.5f, 0.85355339f, 1, 0.85355339f, 0.5f, 0.14644661f};
    lt_assert_tensor_close(w, want, 1e-7, 0);
    lab_tensor *s = lab_audio_hann_window(5, 0);
    const float want_s[5] = {0, 0.5f, 1, 0.5f, 0};
    lt_assert_tensor_close(s, want_s, 1e-7, 0);
    lab_scope_end();
}

/* --- mel ------------------------------------------------------------------ */

Test(audio, mel_scales_known_points)
{
    /* From the reference script (librosa's formulas). */
    cr_assert(fabs(lab_audio_hz_to_mel(1000, LAB_MEL_HTK) - 999.9855371396246) < 1e-9);
    cr_assert(fabs(lab_audio_hz_to_mel(1000, LAB_MEL_SLANEY) - 15.0) < 1e-12);
    cr_assert(fabs(lab_audio_hz_to_mel(500, LAB_MEL_SLANEY) - 7.5) < 1e-12);
    cr_assert(fabs(lab_audio_hz_to_mel(3000, LAB_MEL_SLANEY) - 30.9794019860984) < 1e-9);
    for (double f = 10; f < 8000; f *= 1.7) {
        cr_assert(fabs(lab_audio_mel_to_hz(lab_audio_hz_to_mel(f, LAB_MEL_HTK), LAB_MEL_HTK) - f) < 1e-6 * f);
        cr_assert(fabs(lab_audio_mel_to_hz(lab_audio_hz_to_mel(f, LAB_MEL_SLANEY), LAB_MEL_SLANEY) - f) < 1e-6 * f);
    }
}

Test(audio, mel_filterbank_rows_match_librosa_formula)
{
    lab_scope_begin();
    lab_tensor *h = lab_audio_mel_filterbank(129, SR, 40, 20, 4000, LAB_MEL_HTK, LAB_MEL_NORM_NONE);
    lab_tensor *s = lab_audio_mel_filterbank(129, SR, 40, 20, 4000, LAB_MEL_SLANEY, LAB_MEL_NORM_SLANEY);
    cr_assert_not_null(h);
    cr_assert_eq(h->shape[0], 40);
    cr_assert_eq(h->shape[1], 129);
    lt_assert_close(lab_tensor_f32(h) + 10 * 129, ref_fb_htk_row10, 129, 1e-7, 1e-6);
    lt_assert_close(lab_tensor_f32(s) + 30 * 129, ref_fb_slaney_row30, 129, 1e-10, 1e-6);
    cr_assert_null(lab_audio_mel_filterbank(129, SR, 40, 20, 5000, LAB_MEL_HTK, LAB_MEL_NORM_NONE));
    lt_assert_error_contains("f_max <= sample_rate/2 = 4000");
    lab_scope_end();
}

static lab_audio_mel_cfg test_mel(lab_mel_scale scale, lab_mel_norm norm, lab_audio_log log)
{
    lab_audio_mel_cfg c = lab_audio_mel_defaults_torchaudio(SR);
    c.stft = test_stft();
    c.n_mels = 40;
    c.f_min = 20;
    c.f_max = 0; /* sr / 2 */
    c.scale = scale;
    c.norm = norm;
    c.log = log;
    return c;
}

static void check_mel(lab_audio_mel_cfg c, const float *ref)
{
    lab_scope_begin();
    lab_tensor *m = lab_audio_melspectrogram(signal_tensor(), &c);
    cr_assert_not_null(m, "%s", lab_error());
    cr_assert_eq(m->shape[0], 40);
    cr_assert_eq(m->shape[1], 13);
    float got[56];
    pick(lab_tensor_f32(m), 13, FRAMES, 4, 0, 3, 14, got);
    assert_ref(got, ref, 56);
    lab_scope_end();
}

Test(audio, mel_htk_power_matches_reference) { check_mel(test_mel(LAB_MEL_HTK, LAB_MEL_NORM_NONE, LAB_AUDIO_LOG_NONE), ref_mel_htk); }

Test(audio, mel_slaney_normalised_matches_reference)
{
    check_mel(test_mel(LAB_MEL_SLANEY, LAB_MEL_NORM_SLANEY, LAB_AUDIO_LOG_NONE), ref_mel_slaney);
}

Test(audio, log_mel_natural_matches_reference)
{
    lab_audio_mel_cfg c = test_mel(LAB_MEL_HTK, LAB_MEL_NORM_NONE, LAB_AUDIO_LOG_NATURAL);
    c.eps = 1e-6;
    check_mel(c, ref_ln_htk);
}

Test(audio, log_mel_db_with_top_db_matches_reference)
{
    lab_audio_mel_cfg c = test_mel(LAB_MEL_SLANEY, LAB_MEL_NORM_SLANEY, LAB_AUDIO_LOG_DB);
    c.top_db = 40;
    check_mel(c, ref_db_slaney_top40);
    /* The floor is max - top_db: 12.690552129535941 - 40. */
    lab_scope_begin();
    lab_tensor *m = lab_audio_melspectrogram(signal_tensor(), &c);
    const float *v = lab_tensor_f32(m);
    float lo = INFINITY, hi = -INFINITY;
    int at_floor = 0;
    for (int64_t i = 0; i < m->numel; i++) lo = fminf(lo, v[i]), hi = fmaxf(hi, v[i]);
    for (int64_t i = 0; i < m->numel; i++) at_floor += v[i] == lo;
    cr_assert(fabs(hi - 12.690552129535941) < 1e-4, "max %g", hi);
    cr_assert(fabs(lo - (12.690552129535941 - 40)) < 1e-4, "min %g", lo);
    cr_assert_eq(at_floor, 302, "clipped %d", at_floor); /* count from the reference */
    lab_scope_end();
}

Test(audio, mel_prepared_transform_and_batches)
{
    lab_scope_begin();
    lab_audio_mel_cfg c = test_mel(LAB_MEL_HTK, LAB_MEL_NORM_NONE, LAB_AUDIO_LOG_DB);
    lab_audio_mel *m = lab_audio_mel_new(&c);
    cr_assert_not_null(m);
    cr_assert_eq(lab_audio_mel_config(m)->f_max, 4000.0);
    cr_assert_eq(lab_audio_mel_frames(m, NS), 13);
    float x[2 * NS], out[40 * 13];
    make_signal(x);
    for (int i = 0; i < NS; i++) x[NS + i] = -0.5f * x[i];
    int64_t bs[2] = {2, NS};
    lab_tensor *mb = lab_audio_mel_apply(m, lab_tensor_from_f32(x, 2, bs));
    cr_assert_not_null(mb);
    cr_assert_eq(mb->ndim, 3);
    for (int b = 0; b < 2; b++) {
        cr_assert_eq(lab_audio_mel_compute(m, x + b * NS, NS, out), 0);
        cr_assert_eq(memcmp(out, lab_tensor_f32(mb) + b * 40 * 13, sizeof out), 0);
    }
    /* Halving the amplitude lowers power by 20 log10(2) dB except where
     * top_db clipping binds. */
    cr_assert(fabs(lab_tensor_f32(mb)[40 * 13 + 5] - (lab_tensor_f32(mb)[5] - 20 * log10(2.0))) < 1e-3);
    lab_audio_mel_free(m);
    lab_scope_end();
}

Test(audio, defaults_match_documented_libraries)
{
    lab_audio_mel_cfg t = lab_audio_mel_defaults_torchaudio(16000);
    cr_assert_eq(t.stft.n_fft, 400);
    cr_assert_eq(t.stft.hop_length, 200);
    cr_assert_eq(t.stft.pad, LAB_AUDIO_PAD_REFLECT);
    cr_assert_eq(t.scale, LAB_MEL_HTK);
    cr_assert_eq(t.norm, LAB_MEL_NORM_NONE);
    cr_assert_eq(t.n_mels, 128);
    lab_audio_mel_cfg l = lab_audio_mel_defaults_librosa(22050);
    cr_assert_eq(l.stft.n_fft, 2048);
    cr_assert_eq(l.stft.hop_length, 512);
    cr_assert_eq(l.stft.pad, LAB_AUDIO_PAD_CONSTANT);
    cr_assert_eq(l.scale, LAB_MEL_SLANEY);
    cr_assert_eq(l.norm, LAB_MEL_NORM_SLANEY);
    /* Both build: a one-second clip gives 1 + 16000/200 and 1 + 22050/512 frames. */
    lab_audio_mel *a = lab_audio_mel_new(&t), *b = lab_audio_mel_new(&l);
    cr_assert_not_null(a);
    cr_assert_not_null(b);
    cr_assert_eq(lab_audio_mel_frames(a, 16000), 81);
    cr_assert_eq(lab_audio_mel_frames(b, 22050), 44);
    lab_audio_mel_free(a);
    lab_audio_mel_free(b);
    t.n_mels = 0;
    cr_assert_null(lab_audio_mel_new(&t));
    lt_assert_error_contains("mel: n_mels must be in [1, 4096], got 0");
}
