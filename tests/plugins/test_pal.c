/* test_pal.c — the pal plugin's mechanics at tiny sizes (L = 2, d = 32):
 * equivalences at Na = 0, layers below s, no FFN on audio rows, the §4 FLOP
 * counter, permutation invariance, frozen FFN, gradchecks, mask semantics,
 * a short end-to-end training run and bad input. The plugin's files are
 * compiled into this test so their internals can be called directly. */
#include <string.h>
#include <unistd.h>

#include "../../plugins/pal/pal_data.c"
#include "../../plugins/pal/pal_enc.c"
#include "../../plugins/pal/pal_model.c"
#include "../../plugins/pal/pal_train.c"
#include "labtest.h"

/* Tiny tensors: one thread avoids OpenMP spin-waits on a busy machine. */
__attribute__((constructor)) static void pal_test_threads(void) { lab_set_num_threads(1); }

#define TB 2
#define TNT 7
#define TNSYS 1

static pal_switches sw_make(const char *encs, pal_route mode, int s)
{
    pal_switches sw;
    memset(&sw, 0, sizeof sw);
    cr_assert_eq(pal_parse_encoders(encs, &sw), 0, "%s", lab_error());
    cr_assert_eq(pal_parse_route("", mode, &sw), 0);
    sw.start_layer = s;
    sw.audio_rope = 1;
    return sw;
}

static void model_make(pal_model *m, const pal_switches *sw, int64_t M)
{
    lab_rng rng = lab_rng_make(7, 0);
    int64_t de[3] = {12, 12, 12};
    cr_assert_eq(pal_model_init(m, 2, 32, 4, 20, 16, M, de, sw, &rng), 0, "%s", lab_error());
}

static lab_tensor *tokens_make(void)
{
    int64_t s[2] = {TB, TNT};
    return lt_randint(11, 2, s, 20);
}

/* Encoder outputs for every encoder of m: [TB, 5, 12]. */
static void feats_make(const pal_model *m, lab_tensor **f)
{
    int64_t s[3] = {TB, 5, 12};
    for (int e = 0; e < m->sw.n_enc; e++) f[e] = lt_randn(30 + (uint64_t)e, 3, s);
}

static void assert_bitwise(lab_tensor *a, lab_tensor *b, const char *what)
{
    cr_assert(a && b, "%s: %s", what, lab_error());
    cr_assert(lab_tensor_same_shape(a, b), "%s: shapes differ", what);
    cr_assert(memcmp(lab_tensor_f32(a), lab_tensor_f32(b), sizeof(float) * (size_t)a->numel) == 0, "%s differs", what);
}

static double max_abs_diff(lab_tensor *a, lab_tensor *b)
{
    double m = 0;
    for (int64_t i = 0; i < a->numel; i++) m = fmax(m, fabs((double)lab_tensor_f32(a)[i] - lab_tensor_f32(b)[i]));
    return m;
}

Test(pal_model, na0_modes_equal_plain_lm_bitwise)
{
    lab_scope_begin();
    pal_switches plain = sw_make("ssl", PAL_PLITS, 0);
    pal_model m0;
    model_make(&m0, &plain, 4);
    lab_tensor *tok = tokens_make();
    lab_tensor *ref = pal_lm_forward(&m0, tok, TNSYS, 0, NULL, NULL, NULL, NULL);
    struct { pal_route r; int s; } cases[3] = {{PAL_PLITS, 0}, {PAL_PLITS, 1}, {PAL_LAL, 0}};
    for (int c = 0; c < 3; c++) {
        pal_switches sw = sw_make("ssl", cases[c].r, cases[c].s);
        pal_model m;
        model_make(&m, &sw, 4);
        lab_tensor *out = pal_lm_forward(&m, tok, TNSYS, 0, NULL, NULL, NULL, NULL);
        assert_bitwise(out, ref, "Na = 0 logits");
        pal_model_free(&m);
    }
    pal_model_free(&m0);
    lab_scope_end();
}

Test(pal_model, layers_below_s_equal_text_only)
{
    lab_scope_begin();
    for (int r = 0; r < 2; r++) {
        pal_switches sw = sw_make("ssl", r ? PAL_LAL : PAL_PLITS, 1);
        pal_model m;
        model_make(&m, &sw, 4);
        lab_tensor *tok = tokens_make(), *f[3], *pl, *ll;
        feats_make(&m, f);
        cr_assert_eq(pal_audio_tokens(&m, f, &pl, &ll), 0, "%s", lab_error());
        lab_tensor *h_text[2], *h_audio[2];
        cr_assert_not_null(pal_lm_forward(&m, tok, TNSYS, 4, NULL, NULL, NULL, h_text));
        cr_assert_not_null(pal_lm_forward(&m, tok, TNSYS, 4, pl, ll, NULL, h_audio));
        assert_bitwise(h_audio[0], h_text[0], "layer 0 below s = 1");
        cr_assert_gt(max_abs_diff(h_audio[1], h_text[1]), 1e-6, "audio must change layer 1 (route %d)", r);
        pal_model_free(&m);
    }
    lab_scope_end();
}

/* Builds a model with the routes of `encs`/`route`, runs it with stats and
 * compares every layer with the §4 formula; returns the stats. */
static pal_stats check_flops(const char *encs, pal_route mode, const char *route, int s, int summary)
{
    pal_switches sw = sw_make(encs, mode, s);
    cr_assert_eq(pal_parse_route(route, mode, &sw), 0, "%s", lab_error());
    sw.summary_tokens = summary;
    pal_model m;
    model_make(&m, &sw, 4);
    lab_tensor *tok = tokens_make(), *f[3], *pl, *ll;
    feats_make(&m, f);
    cr_assert_eq(pal_audio_tokens(&m, f, &pl, &ll), 0, "%s", lab_error());
    int64_t np, nl;
    pal_audio_counts(&m, &np, &nl);
    pal_stats st;
    memset(&st, 0, sizeof st);
    cr_assert_not_null(pal_lm_forward(&m, tok, TNSYS, np + nl, pl, ll, &st, NULL), "%s", lab_error());
    double total = 0;
    for (int l = 0; l < 2; l++) {
        double want = TB * pal_flops_formula(l >= s, TNT, np, nl, 32, 16);
        double got = st.block_flops[l] + st.proj_flops[l];
        cr_assert_eq(got, want, "%s layer %d: counted %.0f, formula %.0f", encs, l, got, want);
        total += got;
    }
    cr_assert_eq(total, TB * pal_flops_model(&m, TNT));
    pal_model_free(&m);
    return st;
}

Test(pal_model, flop_counter_matches_formula_and_lal_skips_ffn)
{
    lab_scope_begin();
    pal_stats p = check_flops("ssl", PAL_PLITS, "", 0, 0);
    for (int l = 0; l < 2; l++) cr_assert_eq(p.ffn_rows[l], TB * (TNT + 4));
    pal_stats q = check_flops("ssl", PAL_LAL, "", 0, 0);
    for (int l = 0; l < 2; l++) {
        cr_assert_eq(q.ffn_rows[l], TB * TNT, "LAL layer %d fed %lld rows to the FFN", l, (long long)q.ffn_rows[l]);
        cr_assert_eq(q.q_rows[l], TB * TNT, "audio rows must never be queries");
        cr_assert_eq(q.k_rows[l], TB * (TNT + 4), "audio rows are keys");
    }
    pal_stats r = check_flops("ssl,asr,clap", PAL_LAL, "asr:plits", 1, 0);
    cr_assert_eq(r.ffn_rows[0], TB * TNT);
    cr_assert_eq(r.ffn_rows[1], TB * (TNT + 4), "only the PLITS-routed encoder enters the stream");
    cr_assert_eq(r.k_rows[1], TB * (TNT + 12));
    pal_stats k = check_flops("ssl", PAL_LAL, "", 0, 2);
    cr_assert_eq(k.ffn_rows[0], TB * (TNT + 2), "summary tokens go through PLITS");
    lab_scope_end();
}

Test(pal_model, lal_rope_none_is_permutation_invariant)
{
    lab_scope_begin();
    for (int rope = 0; rope < 2; rope++) {
        pal_switches sw = sw_make("ssl", PAL_LAL, 0);
        sw.audio_rope = rope;
        pal_model m;
        model_make(&m, &sw, 4);
        lab_tensor *tok = tokens_make(), *f[3], *pl, *ll;
        feats_make(&m, f);
        cr_assert_eq(pal_audio_tokens(&m, f, &pl, &ll), 0);
        int64_t perm_v[4] = {2, 0, 3, 1}, n4 = 4;
        lab_tensor *perm = lab_tensor_from_data(LAB_I64, 1, &n4, perm_v, LAB_CPU);
        lab_tensor *llp = lab_index_select(ll, 1, perm);
        lab_tensor *a = pal_lm_forward(&m, tok, TNSYS, 4, NULL, ll, NULL, NULL);
        lab_tensor *b = pal_lm_forward(&m, tok, TNSYS, 4, NULL, llp, NULL, NULL);
        double diff = max_abs_diff(a, b);
        if (rope == 0)
            cr_assert_lt(diff, 1e-5, "rope = none: permuting audio changed the output by %g", diff);
        else
            cr_assert_gt(diff, 1e-5, "rope = slot: the audio positions must matter");
        pal_model_free(&m);
    }
    lab_scope_end();
}

/* Cross-entropy of every text position against a shifted copy. */
static lab_tensor *toy_loss(const pal_model *m, lab_tensor *tok, lab_tensor *pl, lab_tensor *ll, int64_t slot)
{
    lab_tensor *lg = pal_lm_forward(m, tok, TNSYS, slot, pl, ll, NULL, NULL);
    lab_tensor *y = lab_reshape(tok, 1, (int64_t[]){TB * TNT});
    return lab_cross_entropy(lab_reshape(lg, 2, (int64_t[]){TB * TNT, 20}), y);
}

Test(pal_model, freeze_ffn_keeps_ffn_bitwise)
{
    lab_scope_begin();
    pal_switches sw = sw_make("ssl", PAL_LAL, 0);
    sw.freeze_ffn = 1;
    pal_model m;
    model_make(&m, &sw, 4);
    lab_params *all = lab_params_new();
    cr_assert_eq(lab_params_extend(all, m.lm, "lm."), 0);
    cr_assert_eq(lab_params_extend(all, m.integ, "int."), 0);
    lab_tensor *w1 = lab_tensor_clone(m.blk[0].w1), *w2 = lab_tensor_clone(m.blk[1].w2);
    lab_tensor *n2 = lab_tensor_clone(m.blk[1].n2), *wq = lab_tensor_clone(m.blk[0].wq);
    lab_optim_config oc = lab_optim_defaults(LAB_OPTIM_ADAMW);
    oc.lr = 1e-2f;
    lab_optim *opt = lab_optim_new(&oc, all);
    lab_tensor *tok = tokens_make(), *f[3], *pl, *ll;
    feats_make(&m, f);
    cr_assert_eq(pal_audio_tokens(&m, f, &pl, &ll), 0);
    cr_assert_eq(lab_backward(toy_loss(&m, tok, pl, ll, 4)), 0, "%s", lab_error());
    cr_assert_eq(lab_optim_step(opt), 0);
    assert_bitwise(m.blk[0].w1, w1, "frozen W1");
    assert_bitwise(m.blk[1].w2, w2, "frozen W2");
    assert_bitwise(m.blk[1].n2, n2, "frozen FFN norm");
    cr_assert_gt(max_abs_diff(m.blk[0].wq, wq), 0, "attention weights must train");
    lab_optim_free(opt);
    lab_params_free(all);
    pal_model_free(&m);
    lab_scope_end();
}

typedef struct {
    pal_model *m;
    lab_tensor *pos, *apos;
} block_ctx;

static lab_tensor *block_fn(lab_tensor *const *in, void *user)
{
    block_ctx *c = user;
    return block_forward(c->m, 0, in[0], c->pos, in[1], c->apos, NULL);
}

static lab_tensor *connector_fn(lab_tensor *const *in, void *user)
{
    pal_connector c = *(const pal_connector *)user;
    c.z = in[1];
    return pal_connector_forward(&c, in[0]);
}

Test(pal_model, gradcheck_lal_attention_and_connector)
{
    lab_scope_begin();
    pal_switches sw = sw_make("ssl", PAL_LAL, 0);
    pal_model m;
    model_make(&m, &sw, 4);
    int64_t hs[3] = {1, 3, 32}, as[3] = {1, 2, 32};
    lab_tensor *in[2] = {lt_randn(40, 3, hs), lt_randn(41, 3, as)};
    lab_tensor_set_requires_grad(in[0], 1);
    lab_tensor_set_requires_grad(in[1], 1);
    block_ctx bc = {&m, positions(3, 3), positions(2, 1)};
    cr_assert_eq(lab_gradcheck(block_fn, 2, in, &bc, 1e-2, 2e-3, 2e-2), 0, "LAL block: %s", lab_error());
    int64_t es[3] = {1, 3, 12};
    lab_tensor *cin[2] = {lt_randn(42, 3, es), lab_tensor_clone(lab_tensor_detach(m.con[0].z))};
    lab_tensor_set_requires_grad(cin[0], 1);
    lab_tensor_set_requires_grad(cin[1], 1);
    cr_assert_eq(lab_gradcheck(connector_fn, 2, cin, &m.con[0], 1e-2, 2e-3, 2e-2), 0, "connector: %s", lab_error());
    pal_model_free(&m);
    lab_scope_end();
}

/* Changing the token at position j must leave the logits of positions < j
 * untouched (causal over text); changing an audio token must reach every
 * text query from layer s on, including the first one (LAL). */
Test(pal_model, mask_semantics)
{
    lab_scope_begin();
    pal_switches sw = sw_make("ssl", PAL_LAL, 0);
    pal_model m;
    model_make(&m, &sw, 4);
    lab_tensor *tok = tokens_make(), *f[3], *pl, *ll;
    feats_make(&m, f);
    cr_assert_eq(pal_audio_tokens(&m, f, &pl, &ll), 0);
    lab_tensor *a = pal_lm_forward(&m, tok, TNSYS, 4, NULL, ll, NULL, NULL);
    lab_tensor *tok2 = lab_tensor_clone(tok);
    lab_tensor_i64(tok2)[4] = (lab_tensor_i64(tok2)[4] + 1) % 20;
    lab_tensor *b = pal_lm_forward(&m, tok2, TNSYS, 4, NULL, ll, NULL, NULL);
    const float *av = lab_tensor_f32(a), *bv = lab_tensor_f32(b);
    cr_assert(memcmp(av, bv, sizeof(float) * 4 * 20) == 0, "a later text token leaked into earlier positions");
    cr_assert(memcmp(av + 4 * 20, bv + 4 * 20, sizeof(float) * 20) != 0, "position 4 must see its own token");
    lab_tensor *ll2 = lab_add_scalar(ll, 0.5f);
    lab_tensor *c = pal_lm_forward(&m, tok, TNSYS, 4, NULL, ll2, NULL, NULL);
    const float *cv = lab_tensor_f32(c);
    cr_assert(memcmp(av, cv, sizeof(float) * 20) != 0, "the first text query must see the audio keys");
    pal_model_free(&m);
    lab_scope_end();
}

Test(pal_bad_input, unknown_encoder_and_start_layer)
{
    pal_switches sw;
    memset(&sw, 0, sizeof sw);
    cr_assert_eq(pal_parse_encoders("ssl,whisper", &sw), -1);
    lt_assert_error_contains("unknown encoder \"whisper\"");
    cr_assert_eq(pal_parse_encoders("ssl", &sw), 0);
    cr_assert_eq(pal_parse_route("clap:lal", PAL_LAL, &sw), -1);
    lt_assert_error_contains("not in model.encoders");
    sw.start_layer = 2;
    pal_model m;
    lab_rng rng = lab_rng_make(1, 0);
    int64_t de[1] = {12};
    cr_assert_eq(pal_model_init(&m, 2, 32, 4, 20, 16, 4, de, &sw, &rng), -1);
    lt_assert_error_contains("start_layer = 2 must be < model.layers = 2");
}

/* A WAV whose format tag is 2 (MS ADPCM): the data layer refuses it and the
 * plugin's reader passes the error on, naming the file. */
Test(pal_bad_input, wav_not_pcm)
{
    char path[] = "/tmp/pal_adpcm_XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    unsigned char h[52] = "RIFF\0\0\0\0WAVEfmt ";
    uint32_t riff = 44, fmt = 16, rate = 8000, brate = 4000, dsz = 8;
    uint16_t tag = 2, ch = 1, align = 256, bits = 4;
    memcpy(h + 4, &riff, 4);
    memcpy(h + 16, &fmt, 4);
    memcpy(h + 20, &tag, 2);
    memcpy(h + 22, &ch, 2);
    memcpy(h + 24, &rate, 4);
    memcpy(h + 28, &brate, 4);
    memcpy(h + 32, &align, 2);
    memcpy(h + 34, &bits, 2);
    memcpy(h + 36, "data", 4);
    memcpy(h + 40, &dsz, 4);
    cr_assert_eq(write(fd, h, 52), 52);
    close(fd);
    lab_scope_begin();
    cr_assert_null(pal_read_recording(path));
    lt_assert_error_contains("pal: data:");
    lt_assert_error_contains(path);
    lab_scope_end();
    unlink(path);
}

Test(pal_data, text_templates)
{
    int64_t m[PAL_NMETA] = {7, 4, 1, 2, 2, 2, 0, 1, 0};
    char buf[256], attrs[256];
    pal_answer(m, PAL_Q_CAPTION, buf, sizeof buf);
    cr_assert_str_eq(buf, "a harsh high tone beeps twice then theo says seven over pink noise");
    int64_t ids[64];
    cr_assert_eq(pal_tokenize(buf, ids, 64), 13);
    pal_caption_attrs(buf, attrs, sizeof attrs);
    cr_assert_str_eq(attrs, "order_tone harsh high twice theo seven pink ");
    pal_answer(m, PAL_Q_KNOW_ODD, buf, sizeof buf);
    cr_assert_str_eq(buf, "yes");
    cr_assert_eq(pal_tokenize("a purple tone", ids, 64), -1);
    lt_assert_error_contains("\"purple\"");
    char hex[65];
    char p[] = "/tmp/pal_sha_XXXXXX";
    int fd = mkstemp(p);
    cr_assert_eq(write(fd, "abc", 3), 3);
    close(fd);
    cr_assert_eq(pal_sha256_file(p, hex), 0);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(p);
}

/* Generate 512 clips, then 200 steps of V0 and of V3 (stage 2: LM and
 * integration trained on all closed QA) from a random frozen ssl encoder:
 * the loss must fall by more than 30%. */
Test(pal_e2e, v0_and_v3_loss_falls, .timeout = 120)
{
    if (access("../shared/data/fsdd/recordings", R_OK) != 0 && access("/work/shared/data/fsdd/recordings", R_OK) != 0)
        cr_skip_test("FSDD not found at ../shared/data/fsdd");
    const char *fsdd = access("../shared/data/fsdd/recordings", R_OK) == 0 ? "../shared/data/fsdd" : "/work/shared/data/fsdd";
    char dir[] = "/tmp/pal_e2e_XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    pal_gen_cfg g = {fsdd, dir, {512, 16, 16}, 3, 100};
    cr_assert_eq(pal_data_generate(&g, NULL), 0, "%s", lab_error());
    pal_data d;
    cr_assert_eq(pal_data_load(&d, dir), 0, "%s", lab_error());
    cr_assert_eq(d.split[0].n, 512);
    /* Held-out combinations never reach train. */
    for (int64_t i = 0; i < 512; i++) cr_assert_eq(lab_tensor_i64(d.split[0].meta)[i * PAL_NMETA + PAL_M_HELDOUT], 0);
    pal_encoder enc;
    lab_rng er = lab_rng_make(1, 1);
    cr_assert_eq(pal_encoder_init(&enc, PAL_ENC_SSL, 16, &er), 0);
    cr_assert_eq(pal_encoder_prepare(&enc, &d.split[0], 0, 8, 1e-3, NULL, &er, NULL), 0);
    lab_tensor *cache = pal_encoder_cache(&enc, &d.split[0], LAB_CPU);
    lab_tensor *tcache = pal_encoder_cache(&enc, &d.split[2], LAB_CPU);
    cr_assert(cache && tcache);
    for (int v = 0; v < 2; v++) {
        pal_switches sw = sw_make("ssl", v ? PAL_LAL : PAL_PLITS, v ? 1 : 0);
        pal_model m;
        lab_rng mr = lab_rng_make(2, 0);
        int64_t de[1] = {16};
        cr_assert_eq(pal_model_init(&m, 2, 32, 4, pal_vocab_size(), 32, 4, de, &sw, &mr), 0);
        pal_opts o;
        memset(&o, 0, sizeof o);
        o.sw = sw, o.steps[2] = 200, o.lr[2] = 3e-3, o.batch = 16, o.warmup = 10, o.wd = 0.01;
        double first, last;
        lab_rng tr = lab_rng_make(3, 0);
        cr_assert_eq(pal_train_audio(NULL, &m, &o, &cache, &d.split[0], &tr, &first, &last), 0, "%s", lab_error());
        cr_assert_lt(last, 0.7 * first, "variant %s: loss %.3f -> %.3f", v ? "V3" : "V0", first, last);
        /* Evaluation runs end to end: greedy answers, attribute-F1, CIDEr-D. */
        pal_eval ev;
        cr_assert_eq(pal_evaluate(&m, &tcache, &d.split[2], 8, 1, &ev), 0, "%s", lab_error());
        cr_assert(ev.closed_mean >= 0 && ev.closed_mean <= 1, "closed mean %g", ev.closed_mean);
        cr_assert(ev.cap_f1 >= 0 && ev.cap_f1 <= 1 && ev.cider >= 0, "f1 %g cider %g", ev.cap_f1, ev.cider);
        pal_model_free(&m);
    }
    lab_tensor_release(cache);
    lab_tensor_release(tcache);
    pal_encoder_free(&enc);
    pal_data_free(&d);
    const char *files[] = {"train.safetensors", "val.safetensors", "test.safetensors", "train.txt", "val.txt",
                           "test.txt", "corpus.txt", "manifest.json"};
    char p[256];
    for (int i = 0; i < 8; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}
