/* wav.c — RIFF/WAVE reading and band-limited resampling.
 *
 * Reading: the RIFF size must match the file; chunks are walked with their
 * word padding; "fmt " must come before "data". Accepted encodings are PCM
 * (tag 1) at 8 (unsigned), 16, 24 and 32 bits, IEEE float (tag 3) at 32 and
 * 64 bits, and WAVE_FORMAT_EXTENSIBLE (0xFFFE) whose subformat GUID is PCM or
 * float. PCM is scaled by 2^-(bits-1) into [-1, 1); channels are averaged.
 * Float samples are kept as stored (a non-finite one, or a double beyond
 * the float range, is an error).
 *
 * Resampling: y[j] = sum_i x[i] h(j*from/to - i), where h is a sinc low-pass
 * at 0.9476 of the lower Nyquist frequency with a Kaiser window (beta 14.77)
 * over 64 zero crossings each side: the parameters of resampy's
 * "kaiser_best". The weights for the `to/gcd` distinct output phases are
 * tabulated once when the table is small, otherwise computed per sample.
 * Samples outside the signal count as zero.
 *
 * Tested by tests/unit/test_wav.c (FSDD recordings, every encoding written by
 * the test, corrupt files, resampling accuracy of sines and the attenuation
 * of tones above the new Nyquist frequency) and fuzzed by tests/fuzz/fuzz_wav.c.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_int.h"
#include "lab/error.h"

static uint32_t le32(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* KSDATAFORMAT_SUBTYPE_* GUIDs share these 14 bytes after the 2-byte tag. */
static const uint8_t guid_tail[14] = {0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80,
                                      0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71};

static const char *tag_name(unsigned tag)
{
    switch (tag) {
    case 2: return "Microsoft ADPCM";
    case 6: return "A-law";
    case 7: return "mu-law";
    case 0x11: return "IMA ADPCM";
    case 0x31: return "GSM 6.10";
    case 0x55: return "MPEG layer 3";
    default: return "compressed or unknown";
    }
}

/* Checks the fmt chunk and fills info and the frame size in bytes. */
static int parse_fmt(const uint8_t *c, uint32_t size, const char *name, lab_wav_info *info, int *block)
{
    if (size < 16) return lab_error_set("wav: %s: fmt chunk of %u bytes (at least 16 needed)", name, size);
    unsigned tag = le16(c), channels = le16(c + 2), bits = le16(c + 14), align = le16(c + 12);
    uint32_t rate = le32(c + 4);
    if (tag == 0xFFFE) {
        if (size < 40 || le16(c + 16) < 22)
            return lab_error_set("wav: %s: WAVE_FORMAT_EXTENSIBLE fmt chunk too short (%u bytes)", name, size);
        if (memcmp(c + 26, guid_tail, sizeof guid_tail) != 0)
            return lab_error_set("wav: %s: WAVE_FORMAT_EXTENSIBLE with an unknown subformat GUID", name);
        tag = le16(c + 24); /* valid-bits is ignored: samples are scaled by their container size */
    }
    if (tag != 1 && tag != 3)
        return lab_error_set("wav: %s: unsupported format tag 0x%04x (%s); only PCM (1) and IEEE float (3) are read", name,
                             tag, tag_name(tag));
    if (tag == 1 && bits != 8 && bits != 16 && bits != 24 && bits != 32)
        return lab_error_set("wav: %s: unsupported PCM sample size of %u bits (8, 16, 24 or 32)", name, bits);
    if (tag == 3 && bits != 32 && bits != 64)
        return lab_error_set("wav: %s: unsupported float sample size of %u bits (32 or 64)", name, bits);
    if (channels == 0) return lab_error_set("wav: %s: 0 channels", name);
    if (rate == 0 || rate > 0x7fffffff) return lab_error_set("wav: %s: invalid sample rate %u", name, rate);
    if (align != channels * (bits / 8))
        return lab_error_set("wav: %s: block align %u does not match %u channels of %u bits", name, align, channels, bits);
    info->sample_rate = (int)rate;
    info->channels = (int)channels;
    info->bits = (int)bits;
    info->is_float = tag == 3;
    *block = (int)align;
    return 0;
}

static double sample(const uint8_t *p, int bits, int is_float)
{
    if (is_float) {
        if (bits == 32) {
            uint32_t u = le32(p);
            float f;
            memcpy(&f, &u, 4);
            return f;
        }
        uint64_t u = (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
        double d;
        memcpy(&d, &u, 8);
        return d;
    }
    switch (bits) {
    case 8: return (p[0] - 128) / 128.0;
    case 16: return (int16_t)le16(p) / 32768.0;
    case 24: return (double)((int32_t)((uint32_t)p[0] << 8 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 24) >> 8) / 8388608.0;
    default: return (int32_t)le32(p) / 2147483648.0;
    }
}

lab_tensor *lab_wav_parse(const uint8_t *buf, size_t len, const char *name, lab_wav_info *info_out)
{
    if (!name) name = "<buffer>";
    if (len < 12 || memcmp(buf, "RIFF", 4) != 0 || memcmp(buf + 8, "WAVE", 4) != 0) {
        if (len >= 4 && memcmp(buf, "RIFX", 4) == 0)
            lab_error_set("wav: %s: big-endian RIFX files are not supported", name);
        else
            lab_error_set("wav: %s: not a RIFF/WAVE file (%s)", name, len < 12 ? "shorter than its 12-byte header" : "bad magic");
        return NULL;
    }
    uint32_t riff = le32(buf + 4);
    if ((uint64_t)riff + 8 != len) {
        lab_error_set("wav: %s: RIFF size says %llu bytes but the file has %zu (%s)", name, (unsigned long long)riff + 8,
                      len, (uint64_t)riff + 8 > len ? "truncated" : "trailing bytes");
        return NULL;
    }
    lab_wav_info info = {0};
    int have_fmt = 0, block = 0;
    const uint8_t *data = NULL;
    uint32_t data_size = 0;
    size_t p = 12;
    while (p < len) {
        if (len - p < 8) {
            lab_error_set("wav: %s: truncated chunk header at byte %zu", name, p);
            return NULL;
        }
        const uint8_t *id = buf + p;
        uint32_t size = le32(buf + p + 4);
        if (size > len - p - 8) {
            lab_error_set("wav: %s: chunk '%.4s' at byte %zu claims %u bytes but only %zu remain (truncated)", name,
                          (const char *)id, p, size, len - p - 8);
            return NULL;
        }
        if (memcmp(id, "fmt ", 4) == 0) {
            if (have_fmt) {
                lab_error_set("wav: %s: a second fmt chunk at byte %zu", name, p);
                return NULL;
            }
            if (parse_fmt(buf + p + 8, size, name, &info, &block) < 0) return NULL;
            have_fmt = 1;
        } else if (memcmp(id, "data", 4) == 0) {
            if (!have_fmt) {
                lab_error_set("wav: %s: data chunk before the fmt chunk", name);
                return NULL;
            }
            if (data) {
                lab_error_set("wav: %s: a second data chunk at byte %zu", name, p);
                return NULL;
            }
            data = buf + p + 8;
            data_size = size;
        }
        p += 8 + (size_t)size;
        if (size & 1) {
            if (p == len) {
                lab_error_set("wav: %s: chunk '%.4s' lacks its pad byte (truncated)", name, (const char *)id);
                return NULL;
            }
            p++;
        }
    }
    if (!have_fmt || !data) {
        lab_error_set("wav: %s: no %s chunk", name, have_fmt ? "data" : "fmt");
        return NULL;
    }
    if (data_size % (uint32_t)block) {
        lab_error_set("wav: %s: data chunk of %u bytes is not a whole number of %d-byte frames", name, data_size, block);
        return NULL;
    }
    int64_t frames = data_size / (uint32_t)block;
    info.frames = frames;
    lab_tensor *t = lab_tensor_empty(LAB_F32, 1, &frames, LAB_CPU);
    if (!t) return NULL;
    float *y = lab_tensor_f32(t);
    int bytes = info.bits / 8;
    for (int64_t f = 0; f < frames; f++) {
        const uint8_t *fp = data + (size_t)f * (size_t)block;
        double s = 0;
        for (int c = 0; c < info.channels; c++) s += sample(fp + (size_t)c * (size_t)bytes, info.bits, info.is_float);
        if (!(fabs(s / info.channels) <= FLT_MAX)) { /* NaN, inf, or a double beyond float range */
            lab_error_set("wav: %s: non-finite or out-of-range float sample in frame %lld", name, (long long)f);
            lab_tensor_own(t);
            lab_tensor_release(t);
            return NULL;
        }
        y[f] = (float)(s / info.channels);
    }
    if (info_out) *info_out = info;
    return t;
}

lab_tensor *lab_wav_read(const char *path, lab_wav_info *info)
{
    uint8_t *buf;
    size_t len;
    if (lab_data_read_file("wav", path, LAB_DATA_MAX_BYTES, &buf, &len) < 0) return NULL;
    lab_tensor *t = lab_wav_parse(buf, len, path, info);
    free(buf);
    return t;
}

/* --- resampling ------------------------------------------------------------------ */

#define RS_ZEROS 64
#define RS_ROLLOFF 0.9475937167399596
#define RS_BETA 14.769656459379492
#define RS_TABLE_MAX (4u << 20) /* doubles */

static double bessel_i0(double x)
{
    double sum = 1, term = 1, q = x * x / 4;
    for (int k = 1; k < 500; k++) {
        term *= q / ((double)k * k);
        sum += term;
        if (term < sum * 1e-17) break;
    }
    return sum;
}

typedef struct {
    double fc;    /* cutoff, cycles per input sample */
    double hw;    /* half width in input samples */
    double inv_i0beta;
} kernel;

static double kernel_at(const kernel *k, double x)
{
    double ax = fabs(x);
    if (ax >= k->hw) return 0;
    double u = 2 * k->fc * x;
    double s = u == 0 ? 1 : sin(M_PI * u) / (M_PI * u);
    double r = x / k->hw;
    double w = bessel_i0(RS_BETA * sqrt(1 - r * r)) * k->inv_i0beta;
    return 2 * k->fc * s * w;
}

static int64_t gcd64(int64_t a, int64_t b)
{
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

lab_tensor *lab_wav_resample(lab_tensor *x, int from_rate, int to_rate)
{
    if (!x) return NULL;
    if (x->dtype != LAB_F32 || x->ndim != 1 || x->device.type != LAB_DEV_CPU) {
        char d[96];
        lab_error_set("wav_resample: x must be a 1-D f32 cpu tensor, got %s", lab_tensor_desc(x, d, sizeof d));
        return NULL;
    }
    if (from_rate <= 0 || to_rate <= 0) {
        lab_error_set("wav_resample: rates must be positive, got %d -> %d Hz", from_rate, to_rate);
        return NULL;
    }
    if (from_rate == to_rate) return lab_tensor_clone(x);
    int64_t g = gcd64(from_rate, to_rate), L = to_rate / g, M = from_rate / g;
    int64_t n = x->numel, out_n;
    if (__builtin_mul_overflow(n, L, &out_n)) {
        lab_error_set("wav_resample: %lld samples at %d -> %d Hz overflow", (long long)n, from_rate, to_rate);
        return NULL;
    }
    out_n = (out_n + M - 1) / M;
    lab_tensor *y = lab_tensor_empty(LAB_F32, 1, &out_n, LAB_CPU);
    if (!y) return NULL;
    kernel k;
    k.fc = 0.5 * RS_ROLLOFF * (L < M ? (double)L / (double)M : 1.0);
    k.hw = RS_ZEROS / (2 * k.fc);
    k.inv_i0beta = 1 / bessel_i0(RS_BETA);
    int64_t K = (int64_t)ceil(k.hw), ntaps = 2 * K + 2;
    /* table[p * ntaps + t] = h(p/L + K - t): the weight of input q - K + t for output phase p */
    double *table = NULL, *row = malloc((size_t)ntaps * sizeof *row);
    if (!row) goto oom;
    if ((uint64_t)L * (uint64_t)ntaps <= RS_TABLE_MAX) {
        table = malloc((size_t)(L * ntaps) * sizeof *table);
        if (!table) goto oom;
        for (int64_t p = 0; p < L; p++)
            for (int64_t t = 0; t < ntaps; t++) table[p * ntaps + t] = kernel_at(&k, (double)p / (double)L + (double)(K - t));
    }
    const float *xv = lab_tensor_f32(x);
    float *yv = lab_tensor_f32(y);
    int64_t q = 0, p = 0; /* output j sits at input time q + p/L */
    for (int64_t j = 0; j < out_n; j++) {
        const double *w = table ? table + p * ntaps : row;
        if (!table)
            for (int64_t t = 0; t < ntaps; t++) row[t] = kernel_at(&k, (double)p / (double)L + (double)(K - t));
        int64_t lo = q - K, t0 = lo < 0 ? -lo : 0, t1 = ntaps;
        if (lo + t1 > n) t1 = n - lo;
        double s = 0;
        for (int64_t t = t0; t < t1; t++) s += w[t] * xv[lo + t];
        yv[j] = (float)s;
        p += M;
        q += p / L;
        p %= L;
    }
    free(table);
    free(row);
    return y;
oom:
    free(table);
    free(row);
    lab_tensor_own(y);
    lab_tensor_release(y);
    lab_error_set("wav_resample: out of memory");
    return NULL;
}
