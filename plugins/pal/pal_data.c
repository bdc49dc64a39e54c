/* pal_data.c — the scaled-down PAL data (brief §6): 1.5 s clips that mix a
 * speech segment and a beep train synthesised from the run's rng, plus
 * white/pink/brown noise at a given SNR; 40-bin log-mel features
 * (lab/audio.h); question/answer/caption text from templates; a text-only
 * corpus for stage 0; a manifest with sizes, seeds, the espeak-ng setup and
 * sha256. The speech is a Free Spoken Digit recording (read with
 * lab_wav_read) or, for a fraction of the clips when espeak-ng runs, a word
 * or 2-3-word phrase synthesised by espeak-ng with a fixed voice and speed
 * list (deterministic output), read back through lab_wav_read and resampled
 * to 8 kHz; those clips carry the phrase-transcription question. Without
 * espeak-ng the data is exactly what it was before word clips existed, and
 * the manifest and log say why. Held-out (waveform, pitch, digit)
 * combinations appear only in the test split. Tested by
 * tests/plugins/test_pal.c (bad WAV, generation at tiny size, text
 * templates) and tests/plugins/test_pal_words.c (word clips, determinism,
 * the word-error metric, espeak-ng absent). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pal_int.h"

const char *const pal_q_names[PAL_NQ] = {"digit", "speaker", "waveform", "pitch", "noise", "count",
                                         "order", "know_odd", "know_high", "compose", "caption", "phrase"};

static const char *const DIGITS[10] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
static const char *const SPEAKERS[6] = {"george", "jackson", "lucas", "nicolas", "theo", "yweweler"};
static const char *const WAVES[4] = {"sine", "square", "saw", "triangle"};
static const char *const ADJ[4] = {"pure", "harsh", "buzzy", "soft"};
static const int PITCH_HZ[4] = {220, 440, 880, 1760};
static const char *const PITCHES[4] = {"220", "440", "880", "1760"};
static const char *const NOISES[4] = {"none", "white", "pink", "brown"};
static const int SNRS[3] = {20, 10, 5};
static const char *const TIMES[3] = {"once", "twice", "three times"};
/* Word clips: noun | adj noun | adj noun verb, words disjoint from the rest
 * of the vocabulary so a transcription never reads as an attribute. */
static const char *const ADJW[PAL_N_ADJ] = {"red", "green", "blue", "big", "small", "old"};
static const char *const NOUNW[PAL_N_NOUN] = {"cat", "dog", "bird", "fish", "horse", "boat", "car", "tree"};
static const char *const VERBW[PAL_N_VERB] = {"runs", "sleeps", "sings", "jumps"};
/* espeak-ng settings, fixed so the audio is a function of (text, voice,
 * speed) only: two male and two female voices of four accents; speeds fast
 * enough that three words (trimmed) fit next to a three-beep train. */
#define N_VOICES 4
#define N_RATES 2
static const char *const VOICES[N_VOICES] = {"en-us", "en-gb+f2", "en-gb-scotland", "en-029+f4"};
static const int RATES[N_RATES] = {260, 300};
#define ESPEAK_PITCH 50
#define ESPEAK_AMPLITUDE 100

static const char *const VOCAB[] = {
    "<pad>", "<bos>", "<ans>", "<eos>", "zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
    "nine", "george", "jackson", "lucas", "nicolas", "theo", "yweweler", "sine", "square", "saw", "triangle",
    "pure", "harsh", "buzzy", "soft", "220", "440", "880", "1760", "hz", "high", "low", "none", "white", "pink",
    "brown", "noise", "silence", "over", "in", "once", "twice", "times", "yes", "no", "what", "digit", "is",
    "spoken", "?", ".", "who", "speaking", "the", "tone", "waveform", "pitch", "of", "kind", "there", "how",
    "many", "beeps", "are", "before", "speech", "odd", "even", "describe", "sound", "does", "speaker", "say",
    "and", "a", "then", "says", "number", "comes", "first", "beep", "an", "with", "this", "clip", "pitched",
    /* appended for the espeak-ng word clips (earlier ids unchanged) */
    "red", "green", "blue", "big", "small", "old", "cat", "dog", "bird", "fish", "horse", "boat", "car", "tree",
    "runs", "sleeps", "sings", "jumps", "words", "voice"};
#define NVOCAB ((int)(sizeof VOCAB / sizeof VOCAB[0]))

int pal_vocab_size(void) { return NVOCAB; }
const char *pal_vocab_word(int id) { return id >= 0 && id < NVOCAB ? VOCAB[id] : "<unk>"; }

int pal_tokenize(const char *text, int64_t *ids, int max)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *q = p;
        while (*q && *q != ' ') q++;
        int id = -1;
        for (int v = 0; v < NVOCAB; v++)
            if ((size_t)(q - p) == strlen(VOCAB[v]) && strncmp(p, VOCAB[v], (size_t)(q - p)) == 0) id = v;
        if (id < 0) return lab_error_set("pal: word \"%.*s\" is not in the vocabulary", (int)(q - p), p);
        if (n == max) return lab_error_set("pal: \"%s\" has more than %d words", text, max);
        ids[n++] = id;
        p = q;
    }
    return n;
}

const char *pal_question(int qt)
{
    static const char *const Q[PAL_NQ] = {
        "what digit is spoken ?", "who is speaking ?", "what is the tone waveform ?", "what is the pitch of the tone ?",
        "what kind of noise is there ?", "how many beeps are there ?", "is the tone before the speech ?",
        "is the spoken digit odd ?", "is the tone high ?", "what does the speaker say and how many beeps ?",
        "describe the sound .", "what words are spoken ?"};
    return qt >= 0 && qt < PAL_NQ ? Q[qt] : "";
}

int pal_question_valid(const int64_t *m, int qt)
{
    if (qt < 0 || qt >= PAL_NQ) return 0;
    int words = m[PAL_M_NWORDS] > 0;
    switch (qt) {
    case PAL_Q_DIGIT: case PAL_Q_SPEAKER: case PAL_Q_KNOW_ODD: case PAL_Q_COMPOSE: return !words;
    case PAL_Q_PHRASE: return words;
    default: return 1;
    }
}

const char *pal_phrase_word(int kind, int64_t i)
{
    if (kind == 0) return i >= 0 && i < PAL_N_ADJ ? ADJW[i] : "";
    if (kind == 1) return i >= 0 && i < PAL_N_NOUN ? NOUNW[i] : "";
    return i >= 0 && i < PAL_N_VERB ? VERBW[i] : "";
}

void pal_phrase_text(const int64_t *m, char *buf, size_t len)
{
    int64_t n = m[PAL_M_NWORDS];
    if (n <= 0)
        snprintf(buf, len, "%s", "");
    else if (n == 1)
        snprintf(buf, len, "%s", pal_phrase_word(1, m[PAL_M_NOUN]));
    else if (n == 2)
        snprintf(buf, len, "%s %s", pal_phrase_word(0, m[PAL_M_ADJ]), pal_phrase_word(1, m[PAL_M_NOUN]));
    else
        snprintf(buf, len, "%s %s %s", pal_phrase_word(0, m[PAL_M_ADJ]), pal_phrase_word(1, m[PAL_M_NOUN]),
                 pal_phrase_word(2, m[PAL_M_VERB]));
}

/* Splits s at spaces into at most max words (pointers + lengths). */
static int split_words(const char *s, const char **w, int *wl, int max)
{
    int n = 0;
    while (*s) {
        while (*s == ' ') s++;
        if (!*s) break;
        const char *e = s;
        while (*e && *e != ' ') e++;
        if (n < max) w[n] = s, wl[n] = (int)(e - s);
        n++;
        s = e;
    }
    return n < max ? n : max;
}

int pal_word_errors(const char *hyp, const char *ref, int *ref_words)
{
    /* Answers are at most PAL_AMAX words; longer strings are cut there. */
    enum { MAXW = 64 };
    const char *h[MAXW], *r[MAXW];
    int hl[MAXW], rl[MAXW], d[MAXW + 1][MAXW + 1];
    int nh = split_words(hyp, h, hl, MAXW), nr = split_words(ref, r, rl, MAXW);
    for (int i = 0; i <= nh; i++) d[i][0] = i;
    for (int j = 0; j <= nr; j++) d[0][j] = j;
    for (int i = 1; i <= nh; i++)
        for (int j = 1; j <= nr; j++) {
            int same = hl[i - 1] == rl[j - 1] && strncmp(h[i - 1], r[j - 1], (size_t)hl[i - 1]) == 0;
            int best = d[i - 1][j - 1] + !same;
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            d[i][j] = best;
        }
    if (ref_words) *ref_words = nr;
    return d[nh][nr];
}

double pal_word_accuracy(const char *hyp, const char *ref)
{
    int nr, e = pal_word_errors(hyp, ref, &nr);
    return nr > 0 ? fmax(0.0, 1.0 - (double)e / nr) : e == 0;
}

static void caption(const int64_t *m, char *buf, size_t len)
{
    char tone[96], speech[64], noise[32];
    snprintf(tone, sizeof tone, "a %s %s tone beeps %s", ADJ[m[PAL_M_WAVE]], m[PAL_M_PITCH] >= 2 ? "high" : "low",
             TIMES[m[PAL_M_BEEPS] - 1]);
    if (m[PAL_M_NWORDS] > 0) {
        char words[48];
        pal_phrase_text(m, words, sizeof words);
        snprintf(speech, sizeof speech, "a voice says %s", words);
    } else
        snprintf(speech, sizeof speech, "%s says %s", SPEAKERS[m[PAL_M_SPK]], DIGITS[m[PAL_M_DIGIT]]);
    if (m[PAL_M_NOISE] == 0)
        snprintf(noise, sizeof noise, "in silence");
    else
        snprintf(noise, sizeof noise, "over %s noise", NOISES[m[PAL_M_NOISE]]);
    if (m[PAL_M_TONEFIRST])
        snprintf(buf, len, "%s then %s %s", tone, speech, noise);
    else
        snprintf(buf, len, "%s then %s %s", speech, tone, noise);
}

void pal_answer(const int64_t *m, int qt, char *buf, size_t len)
{
    if (!pal_question_valid(m, qt)) { /* e.g. the digit of a word clip */
        snprintf(buf, len, "%s", "");
        return;
    }
    switch (qt) {
    case PAL_Q_DIGIT: snprintf(buf, len, "%s", DIGITS[m[PAL_M_DIGIT]]); break;
    case PAL_Q_SPEAKER: snprintf(buf, len, "%s", SPEAKERS[m[PAL_M_SPK]]); break;
    case PAL_Q_WAVE: snprintf(buf, len, "%s", WAVES[m[PAL_M_WAVE]]); break;
    case PAL_Q_PITCH: snprintf(buf, len, "%s", PITCHES[m[PAL_M_PITCH]]); break;
    case PAL_Q_NOISE: snprintf(buf, len, "%s", NOISES[m[PAL_M_NOISE]]); break;
    case PAL_Q_COUNT: snprintf(buf, len, "%s", DIGITS[m[PAL_M_BEEPS]]); break;
    case PAL_Q_ORDER: snprintf(buf, len, "%s", m[PAL_M_TONEFIRST] ? "yes" : "no"); break;
    case PAL_Q_KNOW_ODD: snprintf(buf, len, "%s", m[PAL_M_DIGIT] % 2 ? "yes" : "no"); break;
    case PAL_Q_KNOW_HIGH: snprintf(buf, len, "%s", m[PAL_M_PITCH] >= 2 ? "yes" : "no"); break;
    case PAL_Q_COMPOSE: snprintf(buf, len, "%s %s", DIGITS[m[PAL_M_DIGIT]], DIGITS[m[PAL_M_BEEPS]]); break;
    case PAL_Q_PHRASE: pal_phrase_text(m, buf, len); break;
    default: caption(m, buf, len); break;
    }
}

void pal_caption_attrs(const char *cap, char *buf, size_t len)
{
    static const char *const attr[] = {"pure", "harsh", "buzzy", "soft", "high", "low", "once", "twice", "times",
                                       "george", "jackson", "lucas", "nicolas", "theo", "yweweler", "silence",
                                       "white", "pink", "brown", "zero", "one", "two", "three", "four", "five",
                                       "six", "seven", "eight", "nine", "red", "green", "blue", "big", "small", "old",
                                       "cat", "dog", "bird", "fish", "horse", "boat", "car", "tree", "runs",
                                       "sleeps", "sings", "jumps"};
    size_t o = 0;
    buf[0] = 0;
    const char *tone = strstr(cap, "tone"), *says = strstr(cap, "says");
    if (tone && says) o += (size_t)snprintf(buf + o, len - o, "%s ", tone < says ? "order_tone" : "order_speech");
    const char *p = cap;
    while (*p && o < len) {
        while (*p == ' ') p++;
        const char *q = p;
        while (*q && *q != ' ') q++;
        for (size_t a = 0; a < sizeof attr / sizeof attr[0]; a++)
            if ((size_t)(q - p) == strlen(attr[a]) && strncmp(p, attr[a], (size_t)(q - p)) == 0)
                o += (size_t)snprintf(buf + o, len - o, "%s ", attr[a]);
        p = q;
    }
}

/* --- audio ---------------------------------------------------------------------- */

lab_tensor *pal_read_recording(const char *path)
{
    lab_wav_info info;
    lab_tensor *w = lab_wav_read(path, &info);
    if (!w) {
        char msg[1024]; /* lab_error() is the buffer lab_error_set writes */
        snprintf(msg, sizeof msg, "%s", lab_error());
        lab_error_set("pal: data: %s", msg);
        return NULL;
    }
    if (info.sample_rate != PAL_SR) w = lab_wav_resample(w, info.sample_rate, PAL_SR);
    return w;
}

typedef struct {
    int digit, spk, take;
    float *x;
    int64_t n;
} recording;

static int cmp_rec(const void *a, const void *b)
{
    const recording *x = a, *y = b;
    if (x->digit != y->digit) return x->digit - y->digit;
    if (x->spk != y->spk) return x->spk - y->spk;
    return x->take - y->take;
}

static int read_fsdd(const char *root, recording **out, int *count)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/recordings", root);
    DIR *d = opendir(dir);
    if (!d) return lab_error_set("pal: data: cannot open %s: %s (set data.fsdd)", dir, strerror(errno));
    int cap = 4096, n = 0;
    recording *r = calloc((size_t)cap, sizeof *r);
    struct dirent *e;
    int rc = 0;
    while (r && (e = readdir(d))) {
        char spk[64];
        int digit, take;
        size_t L = strlen(e->d_name);
        if (L < 5 || strcmp(e->d_name + L - 4, ".wav") != 0) continue;
        if (sscanf(e->d_name, "%d_%63[a-z]_%d.wav", &digit, spk, &take) != 3 || digit < 0 || digit > 9) continue;
        int s = -1;
        for (int k = 0; k < 6; k++)
            if (strcmp(spk, SPEAKERS[k]) == 0) s = k;
        if (s < 0) continue;
        char path[1500];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        lab_scope_begin();
        lab_tensor *w = pal_read_recording(path);
        if (!w) {
            lab_scope_end();
            rc = -1;
            break;
        }
        if (n == cap) {
            cap *= 2;
            recording *r2 = realloc(r, sizeof *r * (size_t)cap);
            if (!r2) {
                lab_scope_end();
                rc = lab_error_set("pal: data: out of memory");
                break;
            }
            r = r2;
        }
        r[n].digit = digit, r[n].spk = s, r[n].take = take, r[n].n = w->numel;
        r[n].x = malloc(sizeof(float) * (size_t)w->numel);
        if (r[n].x) memcpy(r[n].x, lab_tensor_f32(w), sizeof(float) * (size_t)w->numel);
        n++;
        lab_scope_end();
    }
    closedir(d);
    if (rc == 0 && n == 0) rc = lab_error_set("pal: data: no {digit}_{speaker}_{take}.wav recordings in %s", dir);
    if (rc < 0) {
        for (int i = 0; i < n; i++) free(r[i].x);
        free(r);
        return -1;
    }
    qsort(r, (size_t)n, sizeof *r, cmp_rec); /* readdir order must not change the data */
    *out = r;
    *count = n;
    return 0;
}

static float wave_at(int kind, double phase)
{
    double f = phase - floor(phase);
    switch (kind) {
    case 0: return (float)sin(2 * M_PI * f);
    case 1: return f < 0.5 ? 1.0f : -1.0f;
    case 2: return (float)(2 * f - 1);
    default: return (float)(f < 0.5 ? 4 * f - 1 : 3 - 4 * f);
    }
}

/* Builds one clip into x[PAL_CLIP] from its attributes and its speech
 * (sx[0..sn), 8 kHz). FSDD speech is cut at 0.7 s; a word clip's speech
 * (up to ~0.85 s) gets a tighter layout (onset < 50 ms, gap 25-75 ms) so it
 * fits next to a three-beep train. Returns 1 when the speech had to be cut
 * to fit (counted in the manifest), else 0. */
static int synth_clip(const float *sx, int64_t sn, const int64_t *m, lab_rng *rng, float *x)
{
    memset(x, 0, sizeof(float) * PAL_CLIP);
    int words = m[PAL_M_NWORDS] > 0;
    int beeps = (int)m[PAL_M_BEEPS], beep = 960, gap = 640;
    int64_t lt = beeps * beep + (beeps - 1) * gap, a0, g, ls;
    if (words) {
        a0 = (int64_t)lab_rng_next_below(rng, 400), g = 200 + (int64_t)lab_rng_next_below(rng, 400);
        ls = sn < PAL_CLIP - lt - a0 - g ? sn : PAL_CLIP - lt - a0 - g;
    } else {
        ls = sn < 5600 ? sn : 5600;
        a0 = (int64_t)lab_rng_next_below(rng, 800), g = 400 + (int64_t)lab_rng_next_below(rng, 800);
    }
    float peak = 1e-6f;
    for (int64_t i = 0; i < ls; i++) peak = fmaxf(peak, fabsf(sx[i]));
    int64_t t0 = m[PAL_M_TONEFIRST] ? a0 : a0 + ls + g, s0 = m[PAL_M_TONEFIRST] ? a0 + lt + g : a0;
    for (int64_t i = 0; i < ls && s0 + i < PAL_CLIP; i++) x[s0 + i] += 0.6f * sx[i] / peak;
    double hz = PITCH_HZ[m[PAL_M_PITCH]];
    for (int b = 0; b < beeps; b++)
        for (int i = 0; i < beep; i++) {
            int64_t t = t0 + b * (beep + gap) + i;
            if (t >= PAL_CLIP) break;
            float env = i < 40 ? i / 40.0f : (beep - i < 40 ? (beep - i) / 40.0f : 1.0f);
            x[t] += 0.35f * env * wave_at((int)m[PAL_M_WAVE], hz * i / PAL_SR);
        }
    int noise = (int)m[PAL_M_NOISE], cut = words && ls < sn;
    if (noise == 0) return cut;
    double ps = 0;
    for (int i = 0; i < PAL_CLIP; i++) ps += (double)x[i] * x[i];
    ps /= PAL_CLIP;
    float *nz = malloc(sizeof(float) * PAL_CLIP);
    if (!nz) return cut;
    double b0 = 0, b1 = 0, b2 = 0, br = 0, pn = 0;
    for (int i = 0; i < PAL_CLIP; i++) {
        double w = lab_rng_next_normal(rng), v = w;
        if (noise == 2) { /* pink: Paul Kellet's economy 1/f filter */
            b0 = 0.99765 * b0 + w * 0.0990460;
            b1 = 0.96300 * b1 + w * 0.2965164;
            b2 = 0.57000 * b2 + w * 1.0526913;
            v = b0 + b1 + b2 + w * 0.1848;
        } else if (noise == 3) { /* brown: leaky integral of white */
            br = 0.995 * br + w;
            v = br;
        }
        nz[i] = (float)v;
        pn += v * v;
    }
    pn /= PAL_CLIP;
    double scale = sqrt(ps / pow(10.0, SNRS[m[PAL_M_SNR]] / 10.0) / (pn > 0 ? pn : 1));
    for (int i = 0; i < PAL_CLIP; i++) x[i] += (float)(scale * nz[i]);
    free(nz);
    return cut;
}

/* --- espeak-ng word clips ----------------------------------------------------------- */

extern char **environ;

/* Starts argv[0] (looked up in PATH) with stdin and stderr on /dev/null and
 * stdout on out_fd (-1: /dev/null). The program is run directly, never
 * through a shell, so a data folder or program name with spaces or quotes
 * is passed through as is. Returns the pid, or -1 when it cannot be started. */
static pid_t spawn_quiet(char *const argv[], int out_fd)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0) return -1;
    int ok = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) == 0 &&
             (out_fd >= 0 ? posix_spawn_file_actions_adddup2(&fa, out_fd, 1)
                          : posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0)) == 0 &&
             posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) == 0;
    pid_t pid = -1;
    if (ok && posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ) != 0) pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    return pid;
}

/* Exit status of pid, or -1 when it did not exit normally. */
static int wait_exit(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int pal_espeak_version(const char *program, char *version, size_t len)
{
    if (len) version[0] = 0;
    if (!program || !program[0]) return -1;
    int fd[2];
    if (pipe2(fd, O_CLOEXEC) < 0) return -1; /* the child keeps only its dup2'ed stdout */
    char *argv[] = {(char *)program, "--version", NULL};
    pid_t pid = spawn_quiet(argv, fd[1]);
    close(fd[1]);
    char out[512], drain[512];
    size_t n = 0;
    while (pid > 0) { /* read to the end, so a chatty program never blocks on a full pipe */
        ssize_t k = n < sizeof out - 1 ? read(fd[0], out + n, sizeof out - 1 - n) : read(fd[0], drain, sizeof drain);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        if (n < sizeof out - 1) n += (size_t)k;
    }
    close(fd[0]);
    if (pid < 0 || wait_exit(pid) != 0) return -1;
    out[n] = 0;
    /* "eSpeak NG text-to-speech: 1.51  Data at: ..." */
    const char *p = strstr(out, "text-to-speech:");
    if (!p || !strstr(out, "eSpeak")) return -1;
    p += strlen("text-to-speech:");
    while (*p == ' ') p++;
    size_t v = strcspn(p, " \t\n");
    if (v == 0) return -1;
    snprintf(version, len, "%.*s", (int)v, p);
    return 0;
}

/* One synthesised utterance at 8 kHz, silence trimmed, peak 1. */
typedef struct {
    float *x;
    int64_t n;
} utterance;

/* Synthesises `text` with espeak-ng into wav_path (a temporary file in the
 * data folder), reads it back with the data layer's WAV reader, resamples
 * it to PAL_SR, trims the leading/trailing silence (below 1% of the peak,
 * keeping 10 ms) and scales it to peak 1. */
static int espeak_utterance(const char *program, const char *voice, int rate, const char *text, const char *wav_path,
                            utterance *u)
{
    char rs[16], ps[16], as[16];
    snprintf(rs, sizeof rs, "%d", rate);
    snprintf(ps, sizeof ps, "%d", ESPEAK_PITCH);
    snprintf(as, sizeof as, "%d", ESPEAK_AMPLITUDE);
    char *argv[] = {(char *)program, "-v", (char *)voice, "-s", rs, "-p", ps, "-a", as,
                    "-w", (char *)wav_path, (char *)text, NULL};
    pid_t pid = spawn_quiet(argv, -1);
    int st = pid < 0 ? -1 : wait_exit(pid);
    if (st != 0)
        return lab_error_set("pal: data: %s -v %s -s %d -w %s \"%s\" failed (%s)", program, voice, rate, wav_path, text,
                             pid < 0 ? "cannot start it" : "non-zero exit");
    lab_scope_begin();
    lab_tensor *w = pal_read_recording(wav_path);
    int rc = -1;
    if (w && w->numel > 0) {
        const float *v = lab_tensor_f32(w);
        int64_t n = w->numel, a = 0, b = n - 1;
        float peak = 0;
        for (int64_t i = 0; i < n; i++) peak = fmaxf(peak, fabsf(v[i]));
        if (peak > 0) {
            while (a < n && fabsf(v[a]) < 0.01f * peak) a++;
            while (b > a && fabsf(v[b]) < 0.01f * peak) b--;
            a = a > PAL_SR / 100 ? a - PAL_SR / 100 : 0;
            b = b + PAL_SR / 100 < n ? b + PAL_SR / 100 : n - 1;
            u->n = b - a + 1;
            u->x = malloc(sizeof(float) * (size_t)u->n);
            if (u->x) {
                for (int64_t i = 0; i < u->n; i++) u->x[i] = v[a + i] / peak;
                rc = 0;
            } else
                lab_error_set("pal: data: out of memory");
        } else
            lab_error_set("pal: data: espeak-ng wrote silence for \"%s\" (voice %s)", text, voice);
    } else if (w)
        lab_error_set("pal: data: espeak-ng wrote an empty WAV for \"%s\" (voice %s)", text, voice);
    lab_scope_end();
    return rc;
}

/* Every (phrase, voice, speed) is synthesised once and reused. Phrase
 * index: nwords-1, adj, noun, verb packed into one number. */
typedef struct {
    const char *program, *wav_path;
    utterance *u; /* [WB_PHRASES * N_VOICES * N_RATES] */
    int64_t synthesised;
} word_bank;
#define WB_PHRASES (3 * PAL_N_ADJ * PAL_N_NOUN * PAL_N_VERB)

static const utterance *word_bank_get(word_bank *wb, const int64_t *m)
{
    int64_t ph = (((m[PAL_M_NWORDS] - 1) * PAL_N_ADJ + m[PAL_M_ADJ]) * PAL_N_NOUN + m[PAL_M_NOUN]) * PAL_N_VERB + m[PAL_M_VERB];
    utterance *u = &wb->u[(ph * N_VOICES + m[PAL_M_VOICE]) * N_RATES + m[PAL_M_RATE]];
    if (!u->x) {
        char text[64];
        pal_phrase_text(m, text, sizeof text);
        if (espeak_utterance(wb->program, VOICES[m[PAL_M_VOICE]], RATES[m[PAL_M_RATE]], text, wb->wav_path, u) < 0)
            return NULL;
        wb->synthesised++;
    }
    return u;
}

static void word_bank_free(word_bank *wb)
{
    if (wb->u)
        for (int64_t i = 0; i < (int64_t)WB_PHRASES * N_VOICES * N_RATES; i++) free(wb->u[i].x);
    free(wb->u);
    wb->u = NULL;
}

/* A word clip's words, voice and speed; adj/verb are 0 when unused so every
 * phrase has one bank slot. */
static void draw_words(lab_rng *rng, int64_t *m)
{
    m[PAL_M_DIGIT] = m[PAL_M_SPK] = -1;
    m[PAL_M_NWORDS] = 1 + (int64_t)lab_rng_next_below(rng, 3);
    m[PAL_M_ADJ] = (int64_t)lab_rng_next_below(rng, PAL_N_ADJ);
    m[PAL_M_NOUN] = (int64_t)lab_rng_next_below(rng, PAL_N_NOUN);
    m[PAL_M_VERB] = (int64_t)lab_rng_next_below(rng, PAL_N_VERB);
    if (m[PAL_M_NWORDS] < 2) m[PAL_M_ADJ] = 0;
    if (m[PAL_M_NWORDS] < 3) m[PAL_M_VERB] = 0;
    m[PAL_M_VOICE] = (int64_t)lab_rng_next_below(rng, N_VOICES);
    m[PAL_M_RATE] = (int64_t)lab_rng_next_below(rng, N_RATES);
}

/* --- SHA-256 (FIPS 180-4) ------------------------------------------------------------- */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
    0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
    0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
    0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(uint32_t h[8], const unsigned char *p)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

int pal_sha256_file(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f) return lab_error_set("pal: cannot read %s: %s", path, strerror(errno));
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    unsigned char buf[65536 + 128];
    uint64_t total = 0;
    size_t n;
    while ((n = fread(buf, 1, 65536, f)) == 65536) {
        for (size_t i = 0; i < n; i += 64) sha_block(h, buf + i);
        total += n;
    }
    fclose(f);
    total += n;
    size_t full = n / 64 * 64;
    for (size_t i = 0; i < full; i += 64) sha_block(h, buf + i);
    size_t rem = n - full;
    memmove(buf, buf + full, rem);
    buf[rem++] = 0x80;
    size_t padto = rem <= 56 ? 64 : 128;
    memset(buf + rem, 0, padto - rem);
    uint64_t bits = total * 8;
    for (int i = 0; i < 8; i++) buf[padto - 1 - i] = (unsigned char)(bits >> (8 * i));
    for (size_t i = 0; i < padto; i += 64) sha_block(h, buf + i);
    for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08x", h[i]);
    return 0;
}

/* --- generation --------------------------------------------------------------------- */

static int mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(tmp, 0755);
            *p = '/';
        }
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST) return lab_error_set("pal: cannot create %s: %s", path, strerror(errno));
    return 0;
}

static const char *const SPLITS[3] = {"train", "val", "test"};

/* Text-only stage-0 items: short statements + question -> answer, facts,
 * and scene descriptions (brief §6). With word clips (words = 1) a 15th kind,
 * "a voice says <words> . what words are spoken ?", joins; without them the
 * draws, and so corpus.txt, are exactly those of the data before word clips. */
static void corpus_item(lab_rng *rng, int words, char *q, size_t ql, char *a, size_t al)
{
    int64_t m[PAL_NMETA] = {0};
    m[PAL_M_DIGIT] = (int64_t)lab_rng_next_below(rng, 10);
    m[PAL_M_SPK] = (int64_t)lab_rng_next_below(rng, 6);
    m[PAL_M_WAVE] = (int64_t)lab_rng_next_below(rng, 4);
    m[PAL_M_PITCH] = (int64_t)lab_rng_next_below(rng, 4);
    m[PAL_M_BEEPS] = 1 + (int64_t)lab_rng_next_below(rng, 3);
    m[PAL_M_NOISE] = (int64_t)lab_rng_next_below(rng, 4);
    m[PAL_M_TONEFIRST] = (int64_t)lab_rng_next_below(rng, 2);
    /* kinds 0-10: the question types before PHRASE; 11-13: facts; 14: PHRASE */
    int kind = (int)lab_rng_next_below(rng, words ? 15 : 14);
    char ctx[128];
    if (kind == 14) {
        draw_words(rng, m);
        char w[48];
        pal_phrase_text(m, w, sizeof w);
        snprintf(q, ql, "a voice says %s . %s", w, pal_question(PAL_Q_PHRASE));
        snprintf(a, al, "%s", w);
        return;
    }
    if (kind >= PAL_Q_PHRASE) { /* facts */
        int64_t dg = m[PAL_M_DIGIT], pt = m[PAL_M_PITCH];
        if (kind == PAL_Q_PHRASE)
            snprintf(q, ql, "is %s an odd number ?", DIGITS[dg]), snprintf(a, al, "%s", dg % 2 ? "yes" : "no");
        else if (kind == PAL_Q_PHRASE + 1)
            snprintf(q, ql, "is a %s hz tone high ?", PITCHES[pt]), snprintf(a, al, "%s", pt >= 2 ? "yes" : "no");
        else
            snprintf(q, ql, "%s", ""), snprintf(a, al, "%s is an %s number . %s hz is a %s pitch .", DIGITS[dg],
                                                 dg % 2 ? "odd" : "even", PITCHES[pt], pt >= 2 ? "high" : "low");
        return;
    }
    switch (kind) {
    case PAL_Q_DIGIT: case PAL_Q_KNOW_ODD: snprintf(ctx, sizeof ctx, "the speaker says %s .", DIGITS[m[PAL_M_DIGIT]]); break;
    case PAL_Q_SPEAKER: snprintf(ctx, sizeof ctx, "%s is speaking .", SPEAKERS[m[PAL_M_SPK]]); break;
    case PAL_Q_WAVE: snprintf(ctx, sizeof ctx, "the tone is %s .", WAVES[m[PAL_M_WAVE]]); break;
    case PAL_Q_PITCH: case PAL_Q_KNOW_HIGH: snprintf(ctx, sizeof ctx, "the tone is %s hz .", PITCHES[m[PAL_M_PITCH]]); break;
    case PAL_Q_NOISE: snprintf(ctx, sizeof ctx, "the noise is %s .", NOISES[m[PAL_M_NOISE]]); break;
    case PAL_Q_COUNT: snprintf(ctx, sizeof ctx, "the tone beeps %s .", TIMES[m[PAL_M_BEEPS] - 1]); break;
    case PAL_Q_ORDER: snprintf(ctx, sizeof ctx, "the %s comes first .", m[PAL_M_TONEFIRST] ? "tone" : "speech"); break;
    case PAL_Q_COMPOSE:
        snprintf(ctx, sizeof ctx, "%s says %s .", SPEAKERS[m[PAL_M_SPK]], DIGITS[m[PAL_M_DIGIT]]);
        m[PAL_M_BEEPS] = 1 + (int64_t)lab_rng_next_below(rng, 3);
        snprintf(ctx + strlen(ctx), sizeof ctx - strlen(ctx), " %s beeps .", DIGITS[m[PAL_M_BEEPS]]);
        break;
    default: ctx[0] = 0; break;
    }
    snprintf(q, ql, "%s%s%s", ctx, ctx[0] ? " " : "", pal_question(kind));
    pal_answer(m, kind, a, al);
}

static int write_split(const char *out, int sp, const float *feats, const int64_t *meta, int64_t n, const float *mean,
                       const float *stdv)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s.safetensors", out, SPLITS[sp]);
    lab_params *p = lab_params_new();
    int rc = -1;
    lab_tensor *f = lab_tensor_from_data(LAB_F32, 3, (int64_t[]){n, PAL_FRAMES, PAL_MELS}, feats, LAB_CPU);
    lab_tensor *m = lab_tensor_from_data(LAB_I64, 2, (int64_t[]){n, PAL_NMETA}, meta, LAB_CPU);
    if (p && f && m && lab_params_add_buffer(p, "feats", f) && lab_params_add_buffer(p, "meta", m)) {
        f = m = NULL;
        lab_tensor *mu = lab_tensor_from_data(LAB_F32, 1, (int64_t[]){PAL_MELS}, mean, LAB_CPU);
        lab_tensor *sd = lab_tensor_from_data(LAB_F32, 1, (int64_t[]){PAL_MELS}, stdv, LAB_CPU);
        if (lab_params_add_buffer(p, "mel_mean", mu) && lab_params_add_buffer(p, "mel_std", sd)) {
            const char *metav[] = {"format", "pal-data-2", "split", SPLITS[sp], NULL};
            rc = lab_safetensors_save(path, p, metav);
        }
    } else {
        lab_tensor_release(f);
        lab_tensor_release(m);
    }
    lab_params_free(p);
    /* Human-readable text of each clip: caption and every QA pair. */
    snprintf(path, sizeof path, "%s/%s.txt", out, SPLITS[sp]);
    FILE *t = rc == 0 ? fopen(path, "w") : NULL;
    if (rc == 0 && !t) return lab_error_set("pal: cannot write %s", path);
    for (int64_t i = 0; t && i < n; i++) {
        char ans[160];
        for (int q = 0; q < PAL_NQ; q++) {
            if (!pal_question_valid(meta + i * PAL_NMETA, q)) continue;
            pal_answer(meta + i * PAL_NMETA, q, ans, sizeof ans);
            fprintf(t, "%lld\t%s\t%s\t%s\n", (long long)i, pal_q_names[q], pal_question(q), ans);
        }
    }
    if (t) fclose(t);
    return rc;
}

/* Writes s as a JSON string (quotes and backslashes escaped). */
static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        if ((unsigned char)*s >= 0x20) fputc(*s, f);
    }
    fputc('"', f);
}

/* The stage-0 LM and encoder checkpoints in <out>/cache were trained on the
 * data being replaced, and their names do not say which data: remove them
 * so no variant silently starts from them. */
static void clear_cache(const char *out, lab_ctx *ctx)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/cache", out);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        size_t L = strlen(e->d_name);
        if (L > 12 && strcmp(e->d_name + L - 12, ".safetensors") == 0 &&
            (strncmp(e->d_name, "lm-", 3) == 0 || strncmp(e->d_name, "enc-", 4) == 0)) {
            char p[1500];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            n += unlink(p) == 0;
        }
    }
    closedir(d);
    if (n && ctx) lab_ctx_log(ctx, "pal data: removed %d checkpoint(s) of the previous data from %s", n, dir);
}

int pal_data_generate(const pal_gen_cfg *g, lab_ctx *ctx)
{
    recording *rec = NULL;
    int nrec = 0, rc = -1, words = 0;
    const char *prog = g->espeak && g->espeak[0] ? g->espeak : "espeak-ng";
    char ever[64] = "", why[512] = "", wav_path[1200] = "";
    word_bank wb = {prog, wav_path, NULL, 0};
    if (g->word_frac < 0 || g->word_frac > 1)
        return lab_error_set("pal: data: word clip fraction %g must be in [0, 1]", g->word_frac);
    if (read_fsdd(g->fsdd, &rec, &nrec) < 0) return -1;
    if (mkdirs(g->out) < 0) goto fail_rec;
    clear_cache(g->out, ctx);
    /* Word clips only when espeak-ng answers; otherwise the rng draws, and so
     * every file but the manifest, are those of the data before word clips. */
    if (g->word_frac <= 0)
        snprintf(why, sizeof why, "not used: the word clip fraction (data.word_clips) is 0");
    else if (pal_espeak_version(prog, ever, sizeof ever) < 0)
        snprintf(why, sizeof why,
                 "absent: `%s --version` did not run as espeak-ng (Debian package espeak-ng; `make deps` installs it), "
                 "so no word clips and no phrase-transcription question",
                 prog);
    else
        words = 1;
    if (!words && g->word_frac > 0 && ctx) lab_ctx_warn(ctx, "pal data: espeak-ng %s", why);
    if (words) {
        snprintf(wav_path, sizeof wav_path, "%s/.espeak-XXXXXX.wav", g->out);
        int fd = mkstemps(wav_path, 4);
        if (fd < 0) {
            lab_error_set("pal: data: cannot create a temporary file in %s: %s", g->out, strerror(errno));
            goto fail_rec;
        }
        close(fd);
        wb.u = calloc((size_t)WB_PHRASES * N_VOICES * N_RATES, sizeof *wb.u);
        if (!wb.u) {
            lab_error_set("pal: data: out of memory");
            goto fail_rec;
        }
        if (ctx) lab_ctx_log(ctx, "pal data: espeak-ng %s: %.0f%% of the clips are word clips", ever, 100 * g->word_frac);
    }
    lab_rng rng = lab_rng_make(g->seed, 17);
    /* Held-out (waveform, pitch, digit) combinations: 10% of the 160. */
    int held[160] = {0};
    int64_t perm[160];
    for (int i = 0; i < 160; i++) perm[i] = i;
    lab_rng_shuffle_i64(&rng, perm, 160);
    for (int i = 0; i < 16; i++) held[perm[i]] = 1;
    lab_audio_mel_cfg mc = lab_audio_mel_defaults_torchaudio(PAL_SR);
    mc.stft.n_fft = 200, mc.stft.win_length = 200, mc.stft.hop_length = 80;
    mc.n_mels = PAL_MELS, mc.log = LAB_AUDIO_LOG_NATURAL, mc.eps = 1e-6;
    lab_audio_mel *mel = lab_audio_mel_new(&mc);
    if (!mel) goto fail_rec;
    double sum[PAL_MELS] = {0}, sq[PAL_MELS] = {0};
    float mean[PAL_MELS], stdv[PAL_MELS];
    float *feats[3] = {0};
    int64_t *meta[3] = {0}, nword[3] = {0}, ncut = 0;
    float *x = malloc(sizeof(float) * PAL_CLIP), *mtmp = malloc(sizeof(float) * PAL_FRAMES * PAL_MELS);
    if (!x || !mtmp) goto done;
    for (int sp = 0; sp < 3; sp++) {
        int64_t n = g->n[sp];
        feats[sp] = malloc(sizeof(float) * (size_t)(n * PAL_FRAMES * PAL_MELS));
        meta[sp] = calloc((size_t)(n * PAL_NMETA), sizeof(int64_t));
        if (!feats[sp] || !meta[sp]) goto done;
        lab_rng srng = lab_rng_fork(&rng, (uint64_t)sp + 1);
        for (int64_t i = 0; i < n; i++) {
            int64_t *m = meta[sp] + i * PAL_NMETA;
            const recording *r = NULL;
            const utterance *u = NULL;
            int is_word = words && lab_rng_next_uniform(&srng) < g->word_frac;
            if (is_word) { /* no digit, so never a held-out combination */
                m[PAL_M_WAVE] = (int64_t)lab_rng_next_below(&srng, 4);
                m[PAL_M_PITCH] = (int64_t)lab_rng_next_below(&srng, 4);
                draw_words(&srng, m);
            } else {
                /* The test split holds out takes 0-4 and gets a quarter of its
                 * (FSDD) clips from the held-out combinations; train and val
                 * never see them. */
                int want_held = sp == 2 && lab_rng_next_below(&srng, 4) == 0;
                for (;;) {
                    r = &rec[lab_rng_next_below(&srng, (uint64_t)nrec)];
                    if ((sp == 2) != (r->take < 5)) continue;
                    m[PAL_M_WAVE] = (int64_t)lab_rng_next_below(&srng, 4);
                    m[PAL_M_PITCH] = (int64_t)lab_rng_next_below(&srng, 4);
                    int combo = (int)(m[PAL_M_WAVE] * 40 + m[PAL_M_PITCH] * 10 + r->digit);
                    if (sp < 2 ? !held[combo] : (held[combo] == want_held)) {
                        m[PAL_M_HELDOUT] = held[combo];
                        break;
                    }
                }
                m[PAL_M_DIGIT] = r->digit, m[PAL_M_SPK] = r->spk;
            }
            m[PAL_M_BEEPS] = 1 + (int64_t)lab_rng_next_below(&srng, 3);
            m[PAL_M_NOISE] = (int64_t)lab_rng_next_below(&srng, 4);
            m[PAL_M_SNR] = (int64_t)lab_rng_next_below(&srng, 3);
            m[PAL_M_TONEFIRST] = (int64_t)lab_rng_next_below(&srng, 2);
            if (is_word && !(u = word_bank_get(&wb, m))) goto done;
            ncut += synth_clip(u ? u->x : r->x, u ? u->n : r->n, m, &srng, x);
            nword[sp] += is_word;
            if (lab_audio_mel_compute(mel, x, PAL_CLIP, mtmp) < 0) goto done;
            float *f = feats[sp] + i * PAL_FRAMES * PAL_MELS;
            for (int t = 0; t < PAL_FRAMES; t++)
                for (int b = 0; b < PAL_MELS; b++) {
                    float v = mtmp[b * PAL_FRAMES + t];
                    f[t * PAL_MELS + b] = v;
                    if (sp == 0) sum[b] += v, sq[b] += (double)v * v;
                }
        }
        if (ctx) lab_ctx_log(ctx, "pal data: %s: %lld clips (%lld word clips)", SPLITS[sp], (long long)n, (long long)nword[sp]);
    }
    double cnt = (double)g->n[0] * PAL_FRAMES;
    for (int b = 0; b < PAL_MELS; b++) {
        mean[b] = (float)(sum[b] / cnt);
        stdv[b] = (float)sqrt(fmax(sq[b] / cnt - (sum[b] / cnt) * (sum[b] / cnt), 1e-8));
    }
    for (int sp = 0; sp < 3; sp++)
        if (write_split(g->out, sp, feats[sp], meta[sp], g->n[sp], mean, stdv) < 0) goto done;
    {
        char path[1200];
        snprintf(path, sizeof path, "%s/corpus.txt", g->out);
        FILE *c = fopen(path, "w");
        if (!c) {
            lab_error_set("pal: cannot write %s", path);
            goto done;
        }
        lab_rng crng = lab_rng_fork(&rng, 99);
        for (int64_t i = 0; i < g->corpus; i++) {
            char q[256], a[256];
            corpus_item(&crng, words, q, sizeof q, a, sizeof a);
            fprintf(c, "%s\t%s\n", q, a);
        }
        fclose(c);
        snprintf(path, sizeof path, "%s/manifest.json", g->out);
        FILE *mf = fopen(path, "w");
        if (!mf) {
            lab_error_set("pal: cannot write %s", path);
            goto done;
        }
        fprintf(mf, "{\n  \"generator\": \"labrun pal task=data (plugins/pal/pal_data.c)\",\n  \"format\": \"pal-data-2\",\n");
        fprintf(mf, "  \"seed\": %llu,\n  \"fsdd\": ", (unsigned long long)g->seed);
        json_str(mf, g->fsdd);
        fprintf(mf, ",\n  \"fsdd_recordings\": %d,\n", nrec);
        fprintf(mf, "  \"sizes\": {\"train\": %lld, \"val\": %lld, \"test\": %lld, \"corpus\": %lld},\n", (long long)g->n[0],
                (long long)g->n[1], (long long)g->n[2], (long long)g->corpus);
        fprintf(mf, "  \"clip\": {\"seconds\": 1.5, \"sample_rate\": %d, \"mel\": \"n_fft 200, hop 80, %d HTK bins, ln(x+1e-6)\"},\n",
                PAL_SR, PAL_MELS);
        fprintf(mf, "  \"espeak_ng\": {\"used\": %s, \"program\": ", words ? "true" : "false");
        json_str(mf, prog);
        if (words) {
            fprintf(mf, ", \"version\": ");
            json_str(mf, ever);
            fprintf(mf, ",\n    \"word_clip_fraction\": %g, \"word_clips\": {\"train\": %lld, \"val\": %lld, \"test\": %lld},\n",
                    g->word_frac, (long long)nword[0], (long long)nword[1], (long long)nword[2]);
            fprintf(mf, "    \"utterances_synthesised\": %lld, \"speech_cut_to_fit\": %lld,\n", (long long)wb.synthesised,
                    (long long)ncut);
            fprintf(mf, "    \"command\": \"espeak-ng -v <voice> -s <speed> -p %d -a %d -w <tmp.wav> <words>; "
                        "resampled %s to %d Hz, silence below 1%% of the peak trimmed\",\n",
                    ESPEAK_PITCH, ESPEAK_AMPLITUDE, "(lab_wav_resample)", PAL_SR);
            fprintf(mf, "    \"voices\": [");
            for (int v = 0; v < N_VOICES; v++) fprintf(mf, "%s\"%s\"", v ? ", " : "", VOICES[v]);
            fprintf(mf, "], \"speeds_wpm\": [");
            for (int v = 0; v < N_RATES; v++) fprintf(mf, "%s%d", v ? ", " : "", RATES[v]);
            fprintf(mf, "],\n    \"phrases\": \"noun | adjective noun | adjective noun verb\", \"adjectives\": [");
            for (int v = 0; v < PAL_N_ADJ; v++) fprintf(mf, "%s\"%s\"", v ? ", " : "", ADJW[v]);
            fprintf(mf, "], \"nouns\": [");
            for (int v = 0; v < PAL_N_NOUN; v++) fprintf(mf, "%s\"%s\"", v ? ", " : "", NOUNW[v]);
            fprintf(mf, "], \"verbs\": [");
            for (int v = 0; v < PAL_N_VERB; v++) fprintf(mf, "%s\"%s\"", v ? ", " : "", VERBW[v]);
            fprintf(mf, "]},\n");
        } else {
            fprintf(mf, ", \"reason\": ");
            json_str(mf, why);
            fprintf(mf, "},\n");
        }
        fprintf(mf, "  \"heldout_combos\": [");
        for (int i = 0, k = 0; i < 160; i++)
            if (held[i])
                fprintf(mf, "%s\"%s/%s/%s\"", k++ ? ", " : "", WAVES[i / 40], PITCHES[(i / 10) % 4], DIGITS[i % 10]);
        fprintf(mf, "],\n  \"files\": {");
        const char *files[] = {"train.safetensors", "val.safetensors", "test.safetensors", "train.txt", "val.txt",
                               "test.txt", "corpus.txt"};
        for (int i = 0; i < 7; i++) {
            char fp[1300], hex[65];
            snprintf(fp, sizeof fp, "%s/%s", g->out, files[i]);
            struct stat st;
            if (stat(fp, &st) < 0 || pal_sha256_file(fp, hex) < 0) {
                fclose(mf);
                goto done;
            }
            fprintf(mf, "%s\n    \"%s\": {\"bytes\": %lld, \"sha256\": \"%s\"}", i ? "," : "", files[i],
                    (long long)st.st_size, hex);
        }
        fprintf(mf, "\n  }\n}\n");
        fclose(mf);
    }
    if (ctx) {
        if (words)
            lab_ctx_log(ctx, "pal data: wrote %s (%lld word clips from espeak-ng %s, %lld utterances synthesised)", g->out,
                        (long long)(nword[0] + nword[1] + nword[2]), ever, (long long)wb.synthesised);
        else
            lab_ctx_log(ctx, "pal data: wrote %s (espeak-ng %s)", g->out, why);
    }
    rc = 0;
done:
    for (int sp = 0; sp < 3; sp++) free(feats[sp]), free(meta[sp]);
    free(x);
    free(mtmp);
    lab_audio_mel_free(mel);
fail_rec:
    if (wav_path[0]) unlink(wav_path);
    word_bank_free(&wb);
    for (int i = 0; i < nrec; i++) free(rec[i].x);
    free(rec);
    return rc;
}

int pal_data_load(pal_data *d, const char *dir)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    for (int sp = 0; sp < 3; sp++) {
        char path[1200];
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, SPLITS[sp]);
        lab_params *p = lab_safetensors_load(path, LAB_CPU, NULL);
        if (!p) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", lab_error());
            lab_error_set("pal: %s (generate it with: labrun pal experiments/pal/data.ini)", msg);
            pal_data_free(d);
            return -1;
        }
        lab_tensor *f = lab_params_get(p, "feats"), *m = lab_params_get(p, "meta");
        lab_tensor *mu = lab_params_get(p, "mel_mean"), *sd = lab_params_get(p, "mel_std");
        if (!f || !m || !mu || !sd || f->ndim != 3 || f->shape[1] != PAL_FRAMES || f->shape[2] != PAL_MELS ||
            m->ndim != 2 || (m->shape[1] != PAL_NMETA && m->shape[1] != PAL_NMETA_V1) || m->shape[0] != f->shape[0]) {
            lab_params_free(p);
            pal_data_free(d);
            return lab_error_set("pal: %s: not a pal-data-1/2 file (feats/meta/mel_mean/mel_std)", path);
        }
        float *fv = lab_tensor_f32(f);
        const float *mv = lab_tensor_f32(mu), *sv = lab_tensor_f32(sd);
        for (int64_t i = 0; i < f->numel; i++) fv[i] = (fv[i] - mv[i % PAL_MELS]) / sv[i % PAL_MELS];
        d->split[sp].n = f->shape[0];
        d->split[sp].feats = lab_tensor_retain(f);
        if (m->shape[1] == PAL_NMETA_V1) { /* data from before word clips: all FSDD clips */
            int64_t n = m->shape[0];
            lab_tensor *m2 = lab_tensor_zeros(LAB_I64, 2, (int64_t[]){n, PAL_NMETA}, LAB_CPU);
            if (!m2) {
                lab_params_free(p);
                pal_data_free(d);
                return -1;
            }
            for (int64_t i = 0; i < n; i++)
                memcpy(lab_tensor_i64(m2) + i * PAL_NMETA, lab_tensor_i64(m) + i * PAL_NMETA_V1,
                       sizeof(int64_t) * PAL_NMETA_V1);
            d->split[sp].meta = lab_tensor_own(m2);
        } else
            d->split[sp].meta = lab_tensor_retain(m);
        lab_tensor_set_requires_grad(d->split[sp].feats, 0);
        lab_tensor_set_requires_grad(d->split[sp].meta, 0);
        lab_params_free(p);
    }
    return 0;
}

void pal_data_free(pal_data *d)
{
    for (int sp = 0; sp < 3; sp++) {
        lab_tensor_release(d->split[sp].feats);
        lab_tensor_release(d->split[sp].meta);
    }
    memset(d->split, 0, sizeof d->split);
}

int pal_corpus_load(const char *dir, char ***qo, char ***ao, int64_t *no)
{
    char path[1200], line[1024];
    snprintf(path, sizeof path, "%s/corpus.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return lab_error_set("pal: cannot read %s: %s", path, strerror(errno));
    int64_t cap = 1024, n = 0;
    char **q = malloc(sizeof(char *) * (size_t)cap), **a = malloc(sizeof(char *) * (size_t)cap);
    while (q && a && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        if (n == cap) {
            cap *= 2;
            char **q2 = realloc(q, sizeof(char *) * (size_t)cap);
            if (q2) q = q2;
            char **a2 = realloc(a, sizeof(char *) * (size_t)cap);
            if (a2) a = a2;
            if (!q2 || !a2) break;
        }
        q[n] = strdup(line);
        a[n] = strdup(tab + 1);
        n++;
    }
    fclose(f);
    *qo = q, *ao = a, *no = n;
    return 0;
}

void pal_corpus_free(char **q, char **a, int64_t n)
{
    for (int64_t i = 0; i < n; i++) free(q[i]), free(a[i]);
    free(q);
    free(a);
}
