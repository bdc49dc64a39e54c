/* pal_int.h — what the files of the pal plugin share.
 *
 *   pal_model.c  decoder LM, connector, PLITS / LAL / routing forward, FLOP counter
 *   pal_data.c   clip synthesis (FSDD or espeak-ng words + tones + noise), log-mel, text, manifest
 *   pal_enc.c    the three audio encoders, their objectives, output caches
 *   pal_train.c  curriculum stages 0-3, evaluation
 *   pal_table.c  tables A, B, C and the expected-shape checks
 *   pal.c        schema and run()
 */
#ifndef PAL_INT_H
#define PAL_INT_H

#include <lab/lab.h>
#include <lab/rope.h>
#include <lab/text_metrics.h>

#define PAL_MAX_L 32
#define PAL_MAX_ENC 3

/* --- model ------------------------------------------------------------------ */

typedef enum { PAL_PLITS = 0, PAL_LAL = 1 } pal_route;
typedef enum { PAL_ENC_SSL = 0, PAL_ENC_ASR = 1, PAL_ENC_CLAP = 2 } pal_enc_kind;

typedef struct pal_block {
    lab_tensor *n1, *wq, *wk, *wv, *wo; /* attention: RMSNorm gamma [d], W [d, d] */
    lab_tensor *n2, *w1, *w2;           /* FFN: gamma [d], W1 [4d, d], W2 [d, 4d] */
} pal_block;

/* Latent cross-attention connector of one encoder (brief §2). */
typedef struct pal_connector {
    int64_t de, dc, M, heads;
    lab_tensor *z, *u;                  /* latents [M, dc], U [dc, de] */
    lab_tensor *nq, *nk, *wq, *wk, *wv, *wo;
    lab_tensor *n2, *m1, *m2;           /* MLP dc -> 4dc -> dc */
    lab_tensor *type;                   /* per-encoder type vector [dc] */
} pal_connector;

/* The integration switches (brief §3). */
typedef struct pal_switches {
    int start_layer;     /* s */
    int n_enc;
    pal_enc_kind enc[PAL_MAX_ENC];
    pal_route route[PAL_MAX_ENC];
    int summary_tokens;  /* k > 0: k pooled tokens via PLITS, all M via LAL (single encoder) */
    int audio_rope;      /* LAL keys: 1 = slot positions, 0 = none */
    int freeze_ffn;
} pal_switches;

typedef struct pal_model {
    int64_t L, d, heads, vocab, dc, M, de[PAL_MAX_ENC];
    float rope_base;
    pal_switches sw;
    lab_params *lm;   /* LM: embedding, blocks, final norm, head */
    lab_params *integ; /* connectors, type vectors, W_in, P_l */
    lab_tensor *emb, *nf, *head;
    pal_block blk[PAL_MAX_L];
    pal_connector con[PAL_MAX_ENC];
    lab_tensor *w_in;            /* [d, dc] PLITS input projection */
    lab_tensor *p[PAL_MAX_L];    /* [d, dc] LAL projection per layer (l >= s) */
} pal_model;

/* Counters filled by a forward pass (per batch; divide by B per sample). */
typedef struct pal_stats {
    double block_flops[PAL_MAX_L]; /* the §4 per-layer terms, counted from the shapes used */
    double proj_flops[PAL_MAX_L];  /* P_l projections (LAL) */
    int64_t ffn_rows[PAL_MAX_L];   /* rows that went through FFN_l */
    int64_t q_rows[PAL_MAX_L];     /* query rows of attention l */
    int64_t k_rows[PAL_MAX_L];     /* key rows per query batch of attention l */
} pal_stats;

/* Builds the LM and integration parameters; returns -1 with an error for a
 * bad configuration (start_layer >= L, heads not dividing d, ...). */
int pal_model_init(pal_model *m, int64_t L, int64_t d, int64_t heads, int64_t vocab, int64_t dc, int64_t M,
                   const int64_t *de, const pal_switches *sw, lab_rng *rng);
void pal_model_free(pal_model *m);
/* Checks the switches against the model size (also used before data is read). */
int pal_switches_check(const pal_switches *sw, int64_t L, int64_t M);
/* Parses "ssl,asr,clap" into sw->enc / n_enc; an unknown name is an error. */
int pal_parse_encoders(const char *s, pal_switches *sw);
/* Parses "asr:plits, ssl:lal" (empty: every encoder takes `mode`). */
int pal_parse_route(const char *s, pal_route mode, pal_switches *sw);
const char *pal_enc_name(pal_enc_kind k);

/* Audio tokens per route for this model's switches. */
void pal_audio_counts(const pal_model *m, int64_t *n_plits, int64_t *n_lal);

/* Connector: E [B, T, de] -> [B, M, dc] (type vector added). */
lab_tensor *pal_connector_forward(const pal_connector *c, lab_tensor *e);
/* The connector tokens of every encoder split by route: plits [B, Np, dc]
 * and lal [B, Nl, dc] (NULL when empty). feats[e] is encoder e's output. */
int pal_audio_tokens(const pal_model *m, lab_tensor *const *feats, lab_tensor **plits, lab_tensor **lal);

/* The LM on tokens i64 [B, Nt] = [sys (n_sys) | question ... ]. The audio
 * slot (positions n_sys .. n_sys + slot - 1) is skipped by the text
 * positions. plits / lal: connector tokens (dc wide) or NULL. Returns
 * logits [B, Nt, V] of the text rows. hidden (may be NULL) receives L
 * tensors: the text rows after each layer. */
lab_tensor *pal_lm_forward(const pal_model *m, lab_tensor *tokens, int64_t n_sys, int64_t slot, lab_tensor *plits,
                           lab_tensor *lal, pal_stats *st, lab_tensor **hidden);

/* §4 analytic per-sample FLOPs of layer l (multiply-add = 2). */
double pal_flops_formula(int plits_layer, int64_t nt, int64_t na_plits, int64_t na_lal, int64_t d, int64_t dc);
/* Sum over layers for the model's switches (per sample, forward, blocks + P_l). */
double pal_flops_model(const pal_model *m, int64_t nt);

/* Marks FFN tensors trainable or not (freeze_ffn). */
void pal_set_ffn_trainable(pal_model *m, int on);


/* --- data (pal_data.c) ---------------------------------------------------------- */

#define PAL_SR 8000
#define PAL_CLIP 12000 /* 1.5 s */
#define PAL_FRAMES 151 /* 25 ms windows, 10 ms hop, centred */
#define PAL_MELS 40

/* Per-clip metadata. A clip's speech is an FSDD digit (NWORDS = 0) or an
 * espeak-ng word clip (NWORDS = 1..3: noun | adj noun | adj noun verb, the
 * indices into pal_phrase_word's lists; DIGIT and SPK are then -1). Files of
 * the first format (pal-data-1) have only the first 9 columns; the loader
 * pads the rest with 0, i.e. FSDD clips. */
enum { PAL_M_DIGIT, PAL_M_SPK, PAL_M_WAVE, PAL_M_PITCH, PAL_M_BEEPS, PAL_M_NOISE, PAL_M_SNR, PAL_M_TONEFIRST,
       PAL_M_HELDOUT, PAL_M_NWORDS, PAL_M_ADJ, PAL_M_NOUN, PAL_M_VERB, PAL_M_VOICE, PAL_M_RATE, PAL_NMETA };
#define PAL_NMETA_V1 9

/* Question types (brief §6). PHRASE (transcribe the spoken words) exists
 * only for espeak-ng word clips; DIGIT, SPEAKER, KNOW_ODD and COMPOSE only
 * for FSDD clips (pal_question_valid). */
enum { PAL_Q_DIGIT, PAL_Q_SPEAKER, PAL_Q_WAVE, PAL_Q_PITCH, PAL_Q_NOISE, PAL_Q_COUNT, PAL_Q_ORDER, PAL_Q_KNOW_ODD,
       PAL_Q_KNOW_HIGH, PAL_Q_COMPOSE, PAL_Q_CAPTION, PAL_Q_PHRASE, PAL_NQ };
extern const char *const pal_q_names[PAL_NQ];
/* 1 when question qt applies to the clip with this metadata. */
int pal_question_valid(const int64_t *meta, int qt);

/* The word-clip lexicon: kind 0 adjectives, 1 nouns, 2 verbs. */
enum { PAL_N_ADJ = 6, PAL_N_NOUN = 8, PAL_N_VERB = 4 };
const char *pal_phrase_word(int kind, int64_t i);
/* The spoken words of a word clip ("" for an FSDD clip). */
void pal_phrase_text(const int64_t *meta, char *buf, size_t len);
/* Word-level Levenshtein distance between two whitespace-separated strings
 * (substitutions, insertions, deletions); *ref_words gets the reference's
 * word count. Word accuracy = 1 - distance / ref_words, floored at 0. */
int pal_word_errors(const char *hyp, const char *ref, int *ref_words);
/* max(0, 1 - errors / reference words); an empty reference scores 1 for an
 * empty hypothesis, else 0. */
double pal_word_accuracy(const char *hyp, const char *ref);

enum { PAL_TOK_PAD = 0, PAL_TOK_BOS = 1, PAL_TOK_ANS = 2, PAL_TOK_EOS = 3 };
int pal_vocab_size(void);
const char *pal_vocab_word(int id);
/* Whitespace-separated words -> ids; -1 with an error for an unknown word
 * or more than max words. */
int pal_tokenize(const char *text, int64_t *ids, int max);
const char *pal_question(int qt);
/* The reference answer of clip `meta` to question qt, into buf. */
void pal_answer(const int64_t *meta, int qt, char *buf, size_t len);
/* The attribute words of a caption (for attribute-F1), into buf. */
void pal_caption_attrs(const char *caption, char *buf, size_t len);

typedef struct pal_split {
    int64_t n;
    lab_tensor *feats; /* f32 [n, PAL_FRAMES, PAL_MELS], normalised per bin with train statistics */
    lab_tensor *meta;  /* i64 [n, PAL_NMETA] */
} pal_split;

typedef struct pal_data {
    pal_split split[3]; /* train, val, test */
    char dir[1024];
} pal_data;

typedef struct pal_gen_cfg {
    const char *fsdd;  /* folder holding recordings/ */
    const char *out;   /* data/pal/<name> */
    int64_t n[3];      /* train, val, test */
    uint64_t seed;
    int64_t corpus;    /* text corpus items */
    double word_frac;  /* fraction of clips whose speech is an espeak-ng word clip (0: none) */
    const char *espeak; /* the synthesiser program (NULL: "espeak-ng"); when it does not run, no word clips */
} pal_gen_cfg;

/* The espeak-ng version ("1.51"), found by running `<program> --version`;
 * -1 when the program is absent or does not answer like espeak-ng. */
int pal_espeak_version(const char *program, char *version, size_t len);

/* One FSDD recording as f32 [frames] at 8 kHz (resampled when needed); a
 * non-PCM or corrupt file is an error naming it. */
lab_tensor *pal_read_recording(const char *path);
/* Writes the data set and its manifest. */
int pal_data_generate(const pal_gen_cfg *g, lab_ctx *ctx);
/* Loads a generated data set (normalised features). */
int pal_data_load(pal_data *d, const char *dir);
void pal_data_free(pal_data *d);
/* Reads the text corpus written by pal_data_generate: n pairs (question, answer). */
int pal_corpus_load(const char *dir, char ***q, char ***a, int64_t *n);
void pal_corpus_free(char **q, char **a, int64_t n);
/* SHA-256 of a file as 64 hex digits. */
int pal_sha256_file(const char *path, char hex[65]);

/* --- encoders (pal_enc.c) ----------------------------------------------------------- */

#define PAL_ENC_T 37 /* tokens after two stride-2 convolutions of 148 frames */

typedef struct pal_enc_layer {
    lab_tensor *n1, *wq, *wk, *wv, *wo, *n2, *w1, *w2;
} pal_enc_layer;

typedef struct pal_encoder {
    pal_enc_kind kind;
    int64_t de, heads;
    int nlayers;
    lab_params *p;
    lab_tensor *c1, *b1, *c2, *b2; /* conv k=2 s=2 written as linear maps over frame pairs */
    pal_enc_layer layer[2];
    lab_tensor *rec;               /* ssl: masked-frame reconstruction head [4*40, de] */
    lab_tensor *hd, *hs;           /* asr: digit [10, de] and speaker [6, de] heads */
    lab_tensor *hwa, *hwn, *hwv;   /* asr: word-clip heads: adjective [7, de] (6 = none), noun [8, de], verb [5, de] (4 = none) */
    lab_tensor *pq, *pa, *pt;      /* clap: pooling query [de], audio [64, de], text [64, V] */
} pal_encoder;

int pal_encoder_init(pal_encoder *e, pal_enc_kind kind, int64_t de, lab_rng *rng);
void pal_encoder_free(pal_encoder *e);
/* x [B, PAL_FRAMES, PAL_MELS] -> [B, PAL_ENC_T, de] */
lab_tensor *pal_encoder_forward(const pal_encoder *e, lab_tensor *x);
/* The encoder's own objective on a batch of train clips (idx i64 [B]). */
lab_tensor *pal_encoder_loss(const pal_encoder *e, const pal_split *sp, lab_tensor *idx, lab_rng *rng);
/* Pre-trains (or loads from cache_path when it exists, then saves), freezes. */
int pal_encoder_prepare(pal_encoder *e, const pal_split *train, int64_t steps, int64_t batch, double lr,
                        const char *cache_path, lab_rng *rng, lab_ctx *ctx);
/* Frozen outputs of every clip of a split: f32 [n, PAL_ENC_T, de] (owned by the caller). */
lab_tensor *pal_encoder_cache(const pal_encoder *e, const pal_split *sp, lab_device dev);

/* --- curriculum and evaluation (pal_train.c) ------------------------------------------ */

#define PAL_QMAX 12  /* audio questions, left-padded */
#define PAL_QMAX0 24 /* stage-0 text contexts + questions */
#define PAL_AMAX 18  /* answer words + <eos> */

typedef struct pal_opts {
    const char *data_dir, *cache_dir, *variant;
    int64_t L, d, heads, dc, M, de;
    pal_switches sw;
    int lm_random;     /* C0: skip stage 0 */
    int64_t steps[4], batch, warmup, enc_steps, n_eval;
    double lr[4], wd, enc_lr;
    uint64_t seed;
    lab_device dev;
} pal_opts;

typedef struct pal_eval {
    double acc[PAL_NQ];  /* per question type over the clips it applies to (caption: attribute-F1; NaN: none) */
    double heldout;      /* closed-question accuracy on held-out combination clips */
    double cap_f1, cider;
    double phrase_wacc;  /* word accuracy (1 - WER, floored at 0 per clip) of the phrase question;
                            acc[PAL_Q_PHRASE] is its exact-match accuracy; NaN without word clips */
    double closed_mean;  /* mean accuracy over the closed types */
    double final_loss;   /* training loss at the end of stage 3 */
    double first_loss;   /* at the start of stage 1 */
} pal_eval;

/* Everything a variant needs: data, frozen encoder caches, the model after
 * the stages. */
int pal_run_variant(lab_ctx *ctx, const pal_opts *o, pal_eval *val, pal_eval *test);
/* One training step's loss for a batch of clips and question types (used
 * by the stages and by tests). */
lab_tensor *pal_qa_loss(const pal_model *m, lab_tensor *const *cache, const pal_split *sp, const int64_t *clip,
                        const int *qt, int64_t B);
/* Trains stages 1..3 (or the subset with steps > 0) on cached features;
 * fills *first / *last with the mean loss of the first / last 10 steps. */
int pal_train_audio(lab_ctx *ctx, pal_model *m, const pal_opts *o, lab_tensor *const *cache, const pal_split *train,
                    lab_rng *rng, double *first, double *last);
int pal_evaluate(const pal_model *m, lab_tensor *const *cache, const pal_split *sp, int64_t n_eval, int captions,
                 pal_eval *ev);

/* --- tables (pal_table.c) --------------------------------------------------------------- */

/* This trial's numbers as "key<TAB>value" lines in <trial dir>/pal.tsv. */
int pal_record(lab_ctx *ctx, const char *variant, const pal_eval *val, const pal_eval *test);
/* s* of the brief §8: the start layer (1, 2 or 4) of the V1a-V1c rows with
 * the best mean val closed accuracy among the trials under run_dir; -1
 * (no error set) when none has finished. */
int pal_best_start_layer(const char *run_dir, int *s, double *val);
/* Table A (ablation) or B (encoders) from every trial's pal.tsv of a run
 * (run_dir, or when empty this run, written by its last trial), with the §8
 * checks; written to out. */
int pal_table_write(lab_ctx *ctx, const char *table, const char *out, const char *command, int s_star, int64_t L,
                    const char *run_dir);
/* Table C: PLITS vs LAL (and routing) at each Na: analytic GFLOPs/sample,
 * measured samples/s and peak bytes of a training step. */
typedef struct pal_eff_cfg {
    int64_t L, d, heads, dc, nt, batch, reps;
    const int64_t *na;
    int n_na;
    const char *out, *command;
    lab_device dev;
} pal_eff_cfg;
int pal_efficiency(lab_ctx *ctx, const pal_eff_cfg *c);
/* One measured step (forward + backward) of a random model: best wall
 * seconds, best process cpu seconds (cpu_sec may be NULL; with one thread it
 * is robust to other load on the machine) and peak tensor bytes; used by the
 * table and the bench program. */
int pal_measure_step(int64_t L, int64_t d, int64_t heads, int64_t dc, int64_t nt, int64_t batch, int64_t np,
                     int64_t nl, int reps, lab_device dev, double *sec, double *cpu_sec, double *peak_bytes);

#endif
