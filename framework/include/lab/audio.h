/* lab/audio.h — FFT, STFT, mel filterbanks and log-mel features.
 *
 * Everything here runs on the cpu, on host float arrays or cpu f32 tensors.
 * The conventions follow PyTorch/torchaudio and librosa so that features
 * match what those libraries give for the same settings:
 *
 *     lab_audio_mel_cfg cfg = lab_audio_mel_defaults_torchaudio(16000);
 *     cfg.log = LAB_AUDIO_LOG_DB;           // 10*log10(max(x, 1e-10))
 *     cfg.top_db = 80;
 *     lab_audio_mel *mel = lab_audio_mel_new(&cfg);
 *     lab_tensor *feats = lab_audio_mel_apply(mel, wave);   // [T] -> [n_mels, frames]
 *     ...
 *     lab_audio_mel_free(mel);
 *
 * Which defaults match which library:
 *   - torchaudio.transforms.MelSpectrogram(sample_rate): n_fft 400, win 400,
 *     hop 200, periodic Hann window, center with reflect padding, power 2,
 *     n_mels 128, f_min 0, f_max sr/2, HTK mel scale, no filter norm
 *     (mel_scale="htk", norm=None). -> lab_audio_mel_defaults_torchaudio().
 *   - librosa.feature.melspectrogram(sr=sr): n_fft 2048, hop 512, periodic
 *     Hann, center with *constant* (zero) padding (librosa >= 0.10; reflect in
 *     0.9 and older), power 2, n_mels 128, Slaney mel scale (htk=False) with
 *     Slaney area normalisation (norm="slaney"). -> lab_audio_mel_defaults_librosa().
 * Both build the triangles the same way (librosa.filters.mel's formula:
 * n_mels + 2 points equally spaced on the mel scale, triangles evaluated at
 * the FFT bin frequencies linspace(0, sr/2, n_fft/2 + 1)); Slaney
 * normalisation scales triangle i by 2 / (f[i+2] - f[i]).
 *
 * Log compression (cfg.log):
 *   LAB_AUDIO_LOG_NATURAL  ln(x + eps)                  (eps = cfg.eps)
 *   LAB_AUDIO_LOG_DB       10*log10(max(x, amin)), then, when top_db > 0,
 *                          max(y, max(y) - top_db) with the max taken over
 *                          one clip's whole [n_mels, frames] spectrogram.
 *                          This is librosa.power_to_db(S, ref=1.0,
 *                          amin=1e-10, top_db) and torchaudio's
 *                          AmplitudeToDB("power", top_db) for one clip.
 *                          (torchaudio given a [B, n_mels, frames] batch
 *                          takes the max over the whole batch; we always
 *                          take it per clip.)
 *
 * Numerics: transforms run in double precision internally and round to f32
 * at the end. Tests compare with torch.stft and librosa's published filter
 * formula (tests/unit/test_audio.c states the tolerances).
 */
#ifndef LAB_AUDIO_H
#define LAB_AUDIO_H

#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- FFT ------------------------------------------------------------------- */

/* A plan for DFTs of one length n >= 1: iterative radix-2 when n is a power
 * of two, Bluestein's chirp-z (through a radix-2 FFT of a power of two >=
 * 2n - 1) otherwise. A plan is read-only after creation, so threads may share
 * one. */
typedef struct lab_audio_fft_plan lab_audio_fft_plan;

lab_audio_fft_plan *lab_audio_fft_plan_new(int64_t n);
void lab_audio_fft_plan_free(lab_audio_fft_plan *p);
int64_t lab_audio_fft_plan_len(const lab_audio_fft_plan *p);

/* In place, re/im [n]: forward X[k] = sum_j x[j] e^{-2 pi i jk/n};
 * inverse (inverse != 0) uses e^{+2 pi i jk/n} and divides by n, so
 * inverse(forward(x)) == x. Returns 0, or -1 with an error. */
int lab_audio_fft_run(const lab_audio_fft_plan *p, float *re, float *im, int inverse);
/* Real input x [n] -> the non-negative frequency bins k = 0 .. n/2 of its
 * forward DFT (n/2 + 1 values in re and im). For even n this is one complex
 * FFT of length n/2 plus a split step. */
int lab_audio_fft_rfft(const lab_audio_fft_plan *p, const float *x, float *re, float *im);

/* One-shot forms (build and free a plan). */
int lab_audio_fft(float *re, float *im, int64_t n, int inverse);
int lab_audio_rfft(const float *x, int64_t n, float *re, float *im);

/* --- STFT ------------------------------------------------------------------ */

typedef enum {
    LAB_AUDIO_PAD_REFLECT = 0,  /* torch.stft / torchaudio default */
    LAB_AUDIO_PAD_CONSTANT = 1, /* zeros: librosa >= 0.10 default */
} lab_audio_pad;

typedef struct lab_audio_stft_cfg {
    int64_t n_fft;      /* FFT size; any n >= 2 (powers of two are fastest) */
    int64_t win_length; /* Hann window length <= n_fft, zero-padded to n_fft
                           centred as torch.stft does; 0 = n_fft */
    int64_t hop_length; /* samples between frames; 0 = win_length / 2 */
    int center;         /* pad n_fft/2 samples each side so frame t is centred
                           on sample t*hop (torch center=True) */
    lab_audio_pad pad;  /* padding used when center is set */
    double power;       /* 2 = power |X|^2, 1 = magnitude |X| */
} lab_audio_stft_cfg;

/* Periodic (torch.hann_window default, periodic = 1) or symmetric Hann
 * window, f32 [n] on the cpu. */
lab_tensor *lab_audio_hann_window(int64_t n, int periodic);

/* Frames produced for a clip of n samples, or -1 with an error (too short
 * for the window, or for reflect padding, which needs n > n_fft/2). */
int64_t lab_audio_stft_frames(const lab_audio_stft_cfg *cfg, int64_t n);

/* wave f32 [T] -> complex STFT as two f32 tensors [n_fft/2 + 1, frames]
 * (torch.stft(..., onesided=True) layout: frequency, then time). */
int lab_audio_stft(lab_tensor *wave, const lab_audio_stft_cfg *cfg, lab_tensor **re, lab_tensor **im);

/* |STFT|^power: wave [T] -> [n_fft/2 + 1, frames]; [B, T] -> [B, n_fft/2 + 1, frames]. */
lab_tensor *lab_audio_spectrogram(lab_tensor *wave, const lab_audio_stft_cfg *cfg);

/* --- mel scale ------------------------------------------------------------- */

typedef enum {
    LAB_MEL_HTK = 0,    /* 2595 log10(1 + f/700) */
    LAB_MEL_SLANEY = 1, /* linear below 1 kHz (f / (200/3)), log above (Auditory Toolbox) */
} lab_mel_scale;

typedef enum {
    LAB_MEL_NORM_NONE = 0,   /* triangles peak at 1 */
    LAB_MEL_NORM_SLANEY = 1, /* each triangle scaled to constant energy per band */
} lab_mel_norm;

double lab_audio_hz_to_mel(double hz, lab_mel_scale scale);
double lab_audio_mel_to_hz(double mel, lab_mel_scale scale);

/* f32 [n_mels, n_freqs] filterbank (librosa.filters.mel's layout; it is the
 * transpose of torchaudio.functional.melscale_fbanks): mel = fb @ spec.
 * n_freqs is n_fft/2 + 1; 0 <= f_min < f_max <= sample_rate/2. */
lab_tensor *lab_audio_mel_filterbank(int64_t n_freqs, double sample_rate, int64_t n_mels, double f_min,
                                     double f_max, lab_mel_scale scale, lab_mel_norm norm);

/* --- mel spectrograms ------------------------------------------------------ */

typedef enum {
    LAB_AUDIO_LOG_NONE = 0,    /* the mel power (or magnitude) itself */
    LAB_AUDIO_LOG_NATURAL = 1, /* ln(x + eps) */
    LAB_AUDIO_LOG_DB = 2,      /* 10 log10(max(x, amin)), top_db clipping per clip */
} lab_audio_log;

typedef struct lab_audio_mel_cfg {
    double sample_rate; /* Hz */
    lab_audio_stft_cfg stft;
    int64_t n_mels;
    double f_min, f_max; /* Hz; f_max <= 0 means sample_rate / 2 */
    lab_mel_scale scale;
    lab_mel_norm norm;
    lab_audio_log log;
    double eps;    /* LAB_AUDIO_LOG_NATURAL: added before ln (default 1e-6) */
    double amin;   /* LAB_AUDIO_LOG_DB: floor before log10 (default 1e-10) */
    double top_db; /* LAB_AUDIO_LOG_DB: dynamic range kept; <= 0 keeps all */
} lab_audio_mel_cfg;

/* The settings of torchaudio.transforms.MelSpectrogram(sample_rate) and of
 * librosa.feature.melspectrogram(sr=sample_rate) (see the top of this file);
 * log is LAB_AUDIO_LOG_NONE in both, eps 1e-6, amin 1e-10, top_db 80. */
lab_audio_mel_cfg lab_audio_mel_defaults_torchaudio(double sample_rate);
lab_audio_mel_cfg lab_audio_mel_defaults_librosa(double sample_rate);

/* A prepared transform (window, FFT plan, filterbank). Read-only after
 * creation: threads may share one. NULL with an error naming the bad field. */
typedef struct lab_audio_mel lab_audio_mel;

lab_audio_mel *lab_audio_mel_new(const lab_audio_mel_cfg *cfg);
void lab_audio_mel_free(lab_audio_mel *m);
const lab_audio_mel_cfg *lab_audio_mel_config(const lab_audio_mel *m);
/* Frames for a clip of n samples (-1 with an error when it is too short). */
int64_t lab_audio_mel_frames(const lab_audio_mel *m, int64_t n);
/* Host arrays: wave [n] -> out [n_mels, frames] (row-major). 0 or -1. */
int lab_audio_mel_compute(const lab_audio_mel *m, const float *wave, int64_t n, float *out);
/* wave f32 [T] -> [n_mels, frames]; [B, T] -> [B, n_mels, frames]. */
lab_tensor *lab_audio_mel_apply(const lab_audio_mel *m, lab_tensor *wave);
/* One-shot: builds the transform, applies it, frees it. */
lab_tensor *lab_audio_melspectrogram(lab_tensor *wave, const lab_audio_mel_cfg *cfg);

#ifdef __cplusplus
}
#endif
#endif
