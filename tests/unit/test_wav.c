/* WAV reader and resampler: the FSDD recordings (reference sums computed once
 * with Python's wave module), every supported encoding written by the test,
 * corrupt files, and the accuracy of band-limited resampling. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "labtest.h"
#include "lab/data.h"

#define FSDD "../shared/data/fsdd/recordings/" /* tests run from the repository root */

static char tmpdir[64];

static void mk_tmp(void)
{
    strcpy(tmpdir, "/tmp/labtest_wav_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static void put16(uint8_t *p, unsigned v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffff), put16(p + 2, v >> 16); }

/* A WAV file with one fmt chunk (extensible when ext), an optional odd-sized
 * LIST chunk before the data, and `data` as the data chunk. */
static const char *write_wav(const char *name, unsigned tag, unsigned ch, uint32_t rate, unsigned bits, const void *data,
                             uint32_t n, int ext, int list)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    uint8_t h[128];
    size_t o = 12;
    uint32_t fmt_size = ext ? 40 : 16;
    memcpy(h + o, "fmt ", 4), put32(h + o + 4, fmt_size), o += 8;
    put16(h + o, ext ? 0xFFFE : tag), put16(h + o + 2, ch), put32(h + o + 4, rate);
    put32(h + o + 8, rate * ch * bits / 8), put16(h + o + 12, ch * bits / 8), put16(h + o + 14, bits);
    if (ext) {
        static const uint8_t tail[14] = {0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71};
        put16(h + o + 16, 22), put16(h + o + 18, bits), put32(h + o + 20, 0), put16(h + o + 24, tag);
        memcpy(h + o + 26, tail, 14);
    }
    o += fmt_size;
    if (list) {
        memcpy(h + o, "LIST", 4), put32(h + o + 4, 3), memcpy(h + o + 8, "abc\0", 4), o += 12;
    }
    memcpy(h + o, "data", 4), put32(h + o + 4, n), o += 8;
    memcpy(h, "RIFF", 4), put32(h + 4, (uint32_t)(o - 8 + n + (n & 1))), memcpy(h + 8, "WAVE", 4);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(h, 1, o, f), o);
    cr_assert_eq(fwrite(data, 1, n, f), n);
    if (n & 1) fputc(0, f);
    fclose(f);
    return path;
}

Test(wav, fsdd_recordings)
{
    struct {
        const char *file;
        int64_t frames;
        long long sum, wsum;
        int first[3], last[2];
    } ref[] = {
        {"0_jackson_0.wav", 5148, -1222, 17164550, {-369, -431, -475}, {324, 304}},
        {"9_theo_49.wav", 3204, 32, -1873352, {-22, -13, -8}, {15, 9}},
        {"7_jackson_32.wav", 4301, 1302, -11136141, {307, -238, 265}, {-330, -358}},
    };
    for (size_t r = 0; r < 3; r++) {
        char path[256];
        snprintf(path, sizeof path, FSDD "%s", ref[r].file);
        lab_wav_info info;
        lab_tensor *t = lab_wav_read(path, &info);
        cr_assert_not_null(t, "%s", lab_error());
        cr_assert_eq(info.sample_rate, 8000);
        cr_assert_eq(info.channels, 1);
        cr_assert_eq(info.bits, 16);
        cr_assert_eq(info.is_float, 0);
        cr_assert_eq(info.frames, ref[r].frames);
        cr_assert_eq(t->ndim, 1);
        cr_assert_eq(t->shape[0], ref[r].frames);
        const float *v = lab_tensor_f32(t);
        long long s = 0, w = 0;
        for (int64_t i = 0; i < t->numel; i++) {
            float x = v[i] * 32768.0f;
            cr_assert_eq(x, roundf(x), "%s sample %lld is not k/32768", ref[r].file, (long long)i);
            s += (long long)x;
            w += (long long)x * (i % 251 + 1);
        }
        cr_assert_eq(s, ref[r].sum, "%s sum", ref[r].file);
        cr_assert_eq(w, ref[r].wsum, "%s weighted sum", ref[r].file);
        for (int i = 0; i < 3; i++) cr_assert_eq(v[i] * 32768.0f, (float)ref[r].first[i]);
        for (int i = 0; i < 2; i++) cr_assert_eq(v[t->numel - 2 + i] * 32768.0f, (float)ref[r].last[i]);
        lab_tensor_release(t);
    }
}

/* Every one of the 3,000 recordings reads; their frames add up to Python's count. */
Test(wav, fsdd_all_files)
{
    DIR *d = opendir(FSDD);
    cr_assert_not_null(d);
    struct dirent *e;
    int64_t frames = 0;
    int files = 0;
    while ((e = readdir(d))) {
        if (!strstr(e->d_name, ".wav")) continue;
        char path[512];
        snprintf(path, sizeof path, FSDD "%s", e->d_name);
        lab_wav_info info;
        lab_tensor *t = lab_wav_read(path, &info);
        cr_assert_not_null(t, "%s", lab_error());
        frames += t->numel;
        files++;
        lab_tensor_release(t);
    }
    closedir(d);
    cr_assert_eq(files, 3000);
    cr_assert_eq(frames, 10498424);
}

Test(wav, every_encoding)
{
    mk_tmp();
    /* the same three frames in each encoding: 0.5, -0.25, -1 */
    uint8_t u8[] = {192, 96, 0};
    int16_t s16[] = {16384, -8192, -32768};
    uint8_t s24[] = {0, 0, 0x40, 0, 0, 0xE0, 0, 0, 0x80};
    int32_t s32[] = {1 << 30, -(1 << 29), INT32_MIN};
    float f32[] = {0.5f, -0.25f, -1.0f};
    double f64[] = {0.5, -0.25, -1.0};
    struct {
        unsigned tag, bits;
        const void *data;
        uint32_t n;
    } cases[] = {{1, 8, u8, 3}, {1, 16, s16, 6}, {1, 24, s24, 9}, {1, 32, s32, 12}, {3, 32, f32, 12}, {3, 64, f64, 24}};
    const float want[3] = {0.5f, -0.25f, -1.0f};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (int ext = 0; ext < 2; ext++) {
            lab_wav_info info;
            const char *p = write_wav("e.wav", cases[c].tag, 1, 22050, cases[c].bits, cases[c].data, cases[c].n, ext, ext);
            lab_tensor *t = lab_wav_read(p, &info);
            cr_assert_not_null(t, "tag %u bits %u ext %d: %s", cases[c].tag, cases[c].bits, ext, lab_error());
            cr_assert_eq(info.bits, (int)cases[c].bits);
            cr_assert_eq(info.is_float, cases[c].tag == 3);
            cr_assert_eq(info.sample_rate, 22050);
            cr_assert_eq(t->numel, 3);
            for (int i = 0; i < 3; i++)
                cr_assert_eq(lab_tensor_f32(t)[i], want[i], "tag %u bits %u frame %d: %g", cases[c].tag, cases[c].bits,
                             i, lab_tensor_f32(t)[i]);
            lab_tensor_release(t);
        }
    /* stereo and 3 channels are averaged */
    int16_t st[] = {16384, -16384, 8192, 8192, -32768, 0};
    lab_wav_info info;
    lab_tensor *t = lab_wav_read(write_wav("st.wav", 1, 2, 8000, 16, st, sizeof st, 0, 0), &info);
    cr_assert_not_null(t, "%s", lab_error());
    cr_assert_eq(info.channels, 2);
    cr_assert_eq(t->numel, 3);
    cr_assert_eq(lab_tensor_f32(t)[0], 0.0f);
    cr_assert_eq(lab_tensor_f32(t)[1], 0.25f);
    cr_assert_eq(lab_tensor_f32(t)[2], -0.5f);
    lab_tensor_release(t);
    int16_t tri[] = {3, 6, 9};
    t = lab_wav_read(write_wav("tri.wav", 1, 3, 8000, 16, tri, sizeof tri, 0, 0), NULL);
    cr_assert_not_null(t);
    cr_assert_eq(t->numel, 1);
    cr_assert_eq(lab_tensor_f32(t)[0], 6.0f / 32768.0f);
    lab_tensor_release(t);
    /* an odd-sized 8-bit data chunk with its pad byte */
    uint8_t odd[] = {128, 255, 0};
    t = lab_wav_read(write_wav("odd.wav", 1, 1, 8000, 8, odd, 3, 0, 1), NULL);
    cr_assert_not_null(t, "%s", lab_error());
    cr_assert_eq(lab_tensor_f32(t)[1], 127.0f / 128.0f);
    lab_tensor_release(t);
    rm_tmp();
}

static const char *write_bytes(const char *name, const void *b, size_t n)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
    return path;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n);
    cr_assert_eq(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

Test(wav, corrupt_files)
{
    mk_tmp();
    int16_t s[4] = {1, 2, 3, 4};
    size_t n;
    uint8_t *good = slurp(write_wav("g.wav", 1, 1, 8000, 16, s, 8, 0, 0), &n);
    uint8_t *b = malloc(n + 4);

    /* every truncation */
    for (size_t k = 0; k < n; k++) {
        cr_assert_null(lab_wav_read(write_bytes("cut.wav", good, k), NULL), "cut %zu accepted", k);
        lt_assert_error_contains("cut.wav");
    }
    cr_assert_null(lab_wav_read(write_bytes("cut.wav", good, n - 2), NULL));
    lt_assert_error_contains("truncated");
    /* a data chunk that claims more than the file holds (RIFF size patched to match) */
    memcpy(b, good, n);
    put32(b + 40, 10);
    put32(b + 4, (uint32_t)n - 8);
    cr_assert_null(lab_wav_read(write_bytes("claim.wav", b, n), NULL));
    lt_assert_error_contains("chunk 'data' at byte 36 claims 10 bytes but only 8 remain");
    /* trailing bytes after the RIFF chunk */
    memcpy(b, good, n);
    memset(b + n, 0, 4);
    cr_assert_null(lab_wav_read(write_bytes("trail.wav", b, n + 4), NULL));
    lt_assert_error_contains("trailing bytes");

    /* compressed and unsupported formats */
    cr_assert_null(lab_wav_read(write_wav("adpcm.wav", 2, 1, 8000, 16, s, 8, 0, 0), NULL));
    lt_assert_error_contains("unsupported format tag 0x0002 (Microsoft ADPCM)");
    cr_assert_null(lab_wav_read(write_wav("ulaw.wav", 7, 1, 8000, 8, s, 8, 0, 0), NULL));
    lt_assert_error_contains("mu-law");
    cr_assert_null(lab_wav_read(write_wav("b12.wav", 1, 1, 8000, 12, s, 8, 0, 0), NULL));
    lt_assert_error_contains("PCM sample size of 12 bits");
    cr_assert_null(lab_wav_read(write_wav("f16.wav", 3, 1, 8000, 16, s, 8, 0, 0), NULL));
    lt_assert_error_contains("float sample size of 16 bits");

    /* header fields */
    memcpy(b, good, n);
    memcpy(b, "RIFX", 4);
    cr_assert_null(lab_wav_read(write_bytes("rifx.wav", b, n), NULL));
    lt_assert_error_contains("big-endian RIFX");
    memcpy(b, good, n);
    memcpy(b + 8, "AVI ", 4);
    cr_assert_null(lab_wav_read(write_bytes("avi.wav", b, n), NULL));
    lt_assert_error_contains("not a RIFF/WAVE file");
    memcpy(b, good, n);
    put16(b + 32, 4); /* block align */
    cr_assert_null(lab_wav_read(write_bytes("align.wav", b, n), NULL));
    lt_assert_error_contains("block align 4 does not match 1 channels of 16 bits");
    memcpy(b, good, n);
    put16(b + 22, 0);
    cr_assert_null(lab_wav_read(write_bytes("ch0.wav", b, n), NULL));
    lt_assert_error_contains("0 channels");
    memcpy(b, good, n);
    put32(b + 24, 0);
    cr_assert_null(lab_wav_read(write_bytes("rate.wav", b, n), NULL));
    lt_assert_error_contains("invalid sample rate 0");
    /* data before fmt: swap the chunk ids */
    memcpy(b, good, n);
    memcpy(b + 12, "data", 4);
    memcpy(b + 36, "fmt ", 4);
    cr_assert_null(lab_wav_read(write_bytes("order.wav", b, n), NULL));
    lt_assert_error_contains("data chunk before the fmt chunk");
    /* no data chunk */
    memcpy(b, good, n);
    memcpy(b + 36, "junk", 4);
    cr_assert_null(lab_wav_read(write_bytes("nodata.wav", b, n), NULL));
    lt_assert_error_contains("no data chunk");
    /* 7 bytes of 16-bit data */
    cr_assert_null(lab_wav_read(write_wav("frac.wav", 1, 1, 8000, 16, s, 7, 0, 0), NULL));
    lt_assert_error_contains("not a whole number of 2-byte frames");
    /* non-finite float */
    float nanv[2] = {0, NAN};
    cr_assert_null(lab_wav_read(write_wav("nan.wav", 3, 1, 8000, 32, nanv, 8, 0, 0), NULL));
    lt_assert_error_contains("non-finite or out-of-range float sample in frame 1");
    double big[2] = {1e300, 0};
    cr_assert_null(lab_wav_read(write_wav("big.wav", 3, 1, 8000, 64, big, 16, 0, 0), NULL));
    lt_assert_error_contains("out-of-range float sample in frame 0");
    cr_assert_null(lab_wav_read("/nonexistent/x.wav", NULL));
    lt_assert_error_contains("cannot open /nonexistent/x.wav");
    free(b);
    free(good);
    rm_tmp();
}

static lab_tensor *sine(int64_t n, double freq, double rate, double amp)
{
    lab_tensor *t = lab_tensor_empty(LAB_F32, 1, &n, LAB_CPU);
    float *v = lab_tensor_f32(t);
    for (int64_t i = 0; i < n; i++) v[i] = (float)(amp * sin(2 * M_PI * freq * (double)i / rate));
    return t;
}

/* Max |y - sin| over the interior (away from the zero-padded edges). */
static double sine_error(const lab_tensor *y, double freq, double rate, double amp, int64_t margin)
{
    const float *v = lab_tensor_f32(y);
    double e = 0;
    for (int64_t i = margin; i < y->numel - margin; i++)
        e = fmax(e, fabs(v[i] - amp * sin(2 * M_PI * freq * (double)i / rate)));
    return e;
}

static double rms(const lab_tensor *y, int64_t margin)
{
    const float *v = lab_tensor_f32(y);
    double s = 0;
    for (int64_t i = margin; i < y->numel - margin; i++) s += (double)v[i] * v[i];
    return sqrt(s / (double)(y->numel - 2 * margin));
}

Test(wav, resample_passband_accuracy)
{
    struct {
        int from, to;
        double freq;
        double tol;
    } cases[] = {
        {8000, 16000, 1000, 1e-4},  {8000, 16000, 3000, 1e-4}, {16000, 8000, 1000, 1e-4},
        {44100, 16000, 5000, 1e-4}, {16000, 22050, 440, 1e-4}, {8000, 16000, 3500, 1e-4},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lab_tensor *x = sine(cases[c].from, cases[c].freq, cases[c].from, 0.8);
        lab_tensor *y = lab_wav_resample(x, cases[c].from, cases[c].to);
        cr_assert_not_null(y, "%s", lab_error());
        cr_assert_eq(y->numel, cases[c].to, "%d -> %d: %lld samples", cases[c].from, cases[c].to, (long long)y->numel);
        double e = sine_error(y, cases[c].freq, cases[c].to, 0.8, cases[c].to / 20);
        cr_assert(e < cases[c].tol, "%d -> %d Hz, %g Hz tone: max error %g", cases[c].from, cases[c].to, cases[c].freq, e);
        lab_tensor_release(x);
        lab_tensor_release(y);
    }
}

Test(wav, resample_stopband_rejects_aliases)
{
    /* 16 kHz -> 8 kHz: tones above the new 4 kHz Nyquist must vanish, not alias */
    double freqs[] = {4000, 4100, 5000, 7000};
    for (int f = 0; f < 4; f++) {
        lab_tensor *x = sine(16000, freqs[f], 16000, 1.0);
        lab_tensor *y = lab_wav_resample(x, 16000, 8000);
        cr_assert_not_null(y);
        double db = 20 * log10(rms(y, 400) / sqrt(0.5) + 1e-30);
        cr_assert(db < -120, "%g Hz tone leaks at %.1f dB", freqs[f], db);
        lab_tensor_release(x);
        lab_tensor_release(y);
    }
}

Test(wav, resample_lengths_and_errors)
{
    int64_t n = 1001;
    lab_tensor *x = lab_tensor_full(LAB_F32, 1, &n, 0.5, LAB_CPU);
    lab_tensor *y = lab_wav_resample(x, 8000, 16000);
    cr_assert_eq(y->numel, 2002);
    /* DC passes with unit gain away from the edges */
    for (int64_t i = 200; i < 1800; i++) cr_assert(fabsf(lab_tensor_f32(y)[i] - 0.5f) < 1e-5f, "at %lld", (long long)i);
    lab_tensor_release(y);
    y = lab_wav_resample(x, 44100, 16000);
    cr_assert_eq(y->numel, (1001 * 160 + 440) / 441);
    lab_tensor_release(y);
    /* an awkward ratio takes the per-sample path (no table) and agrees in the interior */
    y = lab_wav_resample(x, 44099, 44101);
    cr_assert_eq(y->numel, (1001LL * 44101 + 44098) / 44099);
    for (int64_t i = 300; i < 700; i++) cr_assert(fabsf(lab_tensor_f32(y)[i] - 0.5f) < 1e-5f, "at %lld", (long long)i);
    lab_tensor_release(y);
    y = lab_wav_resample(x, 8000, 8000);
    cr_assert_eq(y->numel, 1001);
    cr_assert(lab_tensor_f32(y) != lab_tensor_f32(x));
    lab_tensor_release(y);
    cr_assert_null(lab_wav_resample(x, 0, 8000));
    lt_assert_error_contains("rates must be positive");
    lab_tensor *i64 = lab_tensor_arange(4, LAB_CPU);
    cr_assert_null(lab_wav_resample(i64, 8000, 16000));
    lt_assert_error_contains("1-D f32 cpu tensor, got i64[4]");
    cr_assert_null(lab_wav_resample(NULL, 8000, 16000));
    lab_tensor_release(i64);
    lab_tensor_release(x);
}
