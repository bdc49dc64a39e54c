/* Data-layer benchmarks (never a test): MNIST loading and one epoch of
 * batching through lab_loader, and log-mel features of 1,000 one-second
 * clips. tests/bench/bench_data.py runs the same work with PyTorch
 * (TensorDataset + DataLoader, torch.stft + the same mel matrix) for a ratio.
 *
 *   build/bench/bench_data OUT.json
 *
 * MNIST comes from the registry's search (data/, ../shared/data, ...): the
 * load time includes gunzip and IDX decoding. The epoch is 60,000 samples,
 * batch 128, shuffled, scaled by 1/255 and normalised, with the consumer
 * touching every value; it is timed with prefetch 0 and prefetch 2, and the
 * consumer's wait fraction is reported. The clips are 16 kHz noise + tone,
 * torchaudio's MelSpectrogram defaults (n_fft 400, hop 200, 128 HTK mels),
 * then dB with top_db 80. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lab/audio.h"
#include "lab/lab.h"
#include "lab/loader.h"
#include "bench_common.h"

/* One epoch; returns seconds, *wait the loader's wait fraction, *check a
 * checksum so the work cannot be optimised away. */
static double epoch(lab_dataset *ds, int prefetch, double *wait, double *check)
{
    lab_loader_cfg c = lab_loader_defaults(128);
    c.prefetch = prefetch;
    c.scale = 1.0f / 255;
    c.mean = ds->mean;
    c.std = ds->std;
    c.channels = ds->channels;
    lab_rng rng = lab_rng_make(1, 0);
    lab_loader *l = lab_loader_new(ds->train_x, ds->train_y, &c, &rng);
    if (!l) {
        fprintf(stderr, "bench_data: %s\n", lab_error());
        exit(1);
    }
    double t0 = bench_wall_s(), s = 0;
    lab_tensor *x, *y;
    while (lab_loader_next(l, &x, &y) > 0) {
        const float *p = lab_tensor_f32(x);
        for (int64_t i = 0; i < x->numel; i++) s += p[i];
        lab_tensor_release(x);
        lab_tensor_release(y);
    }
    double t = bench_wall_s() - t0;
    *wait = lab_loader_wait_fraction(l);
    *check += s;
    lab_loader_free(l);
    return t;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT.json\n", argv[0]);
        return 2;
    }
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        perror(argv[1]);
        return 1;
    }
    fprintf(out, "{\"bench\": \"data\"");
    double check = 0;

    /* --- MNIST ---------------------------------------------------------- */
    double t0 = bench_wall_s();
    lab_dataset *ds = lab_dataset_open(&(lab_data_spec){.name = "mnist"});
    double t_load = bench_wall_s() - t0;
    if (ds) {
        double w0 = 0, w2 = 0, e0 = 1e30, e2 = 1e30;
        for (int r = 0; r < 3; r++) {
            double w, t = epoch(ds, 0, &w, &check);
            if (t < e0) e0 = t, w0 = w;
            t = epoch(ds, 2, &w, &check);
            if (t < e2) e2 = t, w2 = w;
        }
        int64_t n = ds->train_x->shape[0];
        fprintf(out,
                ", \"mnist_samples\": %lld, \"mnist_load_s\": %.4f, \"mnist_epoch_s_prefetch0\": %.4f, "
                "\"mnist_epoch_s_prefetch2\": %.4f, \"mnist_samples_per_s\": %.0f, \"mnist_wait_fraction_prefetch0\": "
                "%.3f, \"mnist_wait_fraction_prefetch2\": %.3f",
                (long long)n, t_load, e0, e2, (double)n / e2, w0, w2);
        printf("mnist: load %.3f s, epoch %.3f s (prefetch 0, wait %.0f%%), %.3f s (prefetch 2, wait %.0f%%)\n", t_load,
               e0, 100 * w0, e2, 100 * w2);
        lab_dataset_free(ds);
    } else {
        fprintf(stderr, "bench_data: skipping MNIST: %s\n", lab_error());
        fprintf(out, ", \"mnist_skipped\": true");
    }

    /* --- log-mel of 1,000 one-second clips -------------------------------- */
    enum { CLIPS = 1000, SR = 16000 };
    float *wave = malloc(sizeof(float) * SR);
    lab_rng rng = lab_rng_make(7, 0);
    lab_audio_mel_cfg cfg = lab_audio_mel_defaults_torchaudio(SR);
    cfg.log = LAB_AUDIO_LOG_DB;
    cfg.top_db = 80;
    lab_audio_mel *mel = lab_audio_mel_new(&cfg);
    int64_t frames = lab_audio_mel_frames(mel, SR);
    float *feat = malloc(sizeof(float) * (size_t)(cfg.n_mels * frames));
    double t_mel = 0;
    for (int c = 0; c < CLIPS; c++) {
        for (int i = 0; i < SR; i++)
            wave[i] = (float)(0.1 * (2 * lab_rng_next_uniform(&rng) - 1) + 0.5 * sin(2 * M_PI * (200 + c) * i / SR));
        double a = bench_wall_s();
        if (lab_audio_mel_compute(mel, wave, SR, feat) < 0) {
            fprintf(stderr, "bench_data: %s\n", lab_error());
            return 1;
        }
        t_mel += bench_wall_s() - a;
        check += feat[c % (cfg.n_mels * frames)];
    }
    fprintf(out, ", \"logmel_clips\": %d, \"logmel_s\": %.4f, \"logmel_clips_per_s\": %.1f", CLIPS, t_mel,
            CLIPS / t_mel);
    printf("log-mel: %d one-second clips in %.3f s (%.0f clips/s)\n", CLIPS, t_mel, CLIPS / t_mel);
    fprintf(out, ", \"checksum\": %.6g}\n", check);
    lab_audio_mel_free(mel);
    free(wave);
    free(feat);
    fclose(out);
    return 0;
}
