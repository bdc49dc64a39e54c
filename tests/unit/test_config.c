/* The strict config layer: parsing with iniparser plus our line scanner,
 * typed getters, every class of error with its exact text, overrides,
 * sweeps, the use check, schema checks and the resolved file. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "labtest.h"

static const lab_param schema[] = {
    LAB_PARAM_INT("train", "epochs", "10", 1, 1000, "passes"),
    LAB_PARAM_FLOAT("train", "lr", "1e-3", 0, 1, "learning rate"),
    LAB_PARAM_ENUM("train", "optimizer", "adam", "adam|sgd|adamw", NULL),
    LAB_PARAM_FLOAT("train", "momentum", "0", 0, 1, NULL),
    LAB_PARAM_INT("data", "batch_size", "128", 1, HUGE_VAL, NULL),
    LAB_PARAM_STRING("data", "root", "data", NULL),
    LAB_PARAM_BOOL("model", "bias", "true", "use a bias"),
    LAB_PARAM_INTS("model", "hidden", "256, 128", 1, 65536, "widths"),
    LAB_PARAM_FLOATS("model", "dropout", "", 0, 1, "per layer"),
    LAB_PARAM_FLOAT("model", "temp", "1", -HUGE_VAL, 5, NULL),
};

static lab_cfg *parse_ok(const char *text)
{
    lab_cfg *c = lab_cfg_parse("t.ini", text, strlen(text));
    cr_assert_not_null(c, "parse: %s", lab_error());
    cr_assert_eq(lab_cfg_validate(c, schema, LAB_COUNT(schema)), 0, "validate: %s", lab_error());
    return c;
}

/* Parsing or validation must fail with exactly `msg`. */
static void expect_error(const char *text, const char *msg)
{
    lab_error_clear();
    lab_cfg *c = lab_cfg_parse("t.ini", text, strlen(text));
    int rc = c ? lab_cfg_validate(c, schema, LAB_COUNT(schema)) : -1;
    cr_assert_eq(rc, -1, "accepted:\n%s", text);
    cr_assert_str_eq(lab_error(), msg);
    lab_cfg_free(c);
}

Test(config, typed_getters_and_defaults)
{
    lab_cfg *c = parse_ok("; a comment\n"
                          "[train]\n"
                          "epochs = 5   ; inline comment\n"
                          "LR = 3e-4\n"
                          "optimizer = sgd\n"
                          "[model]\n"
                          "bias = no\n"
                          "hidden = 64, 32,16\n"
                          "dropout = 0.1, 0.5\n"
                          "[data]\n"
                          "root = \"/data/with ; semicolon\"\n");
    cr_assert_eq(lab_cfg_get_int(c, "train.epochs"), 5);
    cr_assert_eq(lab_cfg_get_float(c, "train.lr"), 3e-4);
    cr_assert_eq(lab_cfg_get_enum(c, "train.optimizer"), 1);
    cr_assert_str_eq(lab_cfg_get_str(c, "train.optimizer"), "sgd");
    cr_assert_eq(lab_cfg_get_bool(c, "model.bias"), 0);
    const int64_t *h;
    cr_assert_eq(lab_cfg_get_ints(c, "model.hidden", &h), 3);
    cr_assert(h[0] == 64 && h[1] == 32 && h[2] == 16);
    const double *d;
    cr_assert_eq(lab_cfg_get_floats(c, "model.dropout", &d), 2);
    cr_assert(d[0] == 0.1 && d[1] == 0.5);
    cr_assert_str_eq(lab_cfg_get_str(c, "data.root"), "/data/with ; semicolon");
    /* Defaults fill what the file leaves out; framework keys too. */
    cr_assert_eq(lab_cfg_get_int(c, "data.batch_size"), 128);
    cr_assert_eq(lab_cfg_get_float(c, "model.temp"), 1.0);
    cr_assert_eq(lab_cfg_get_int(c, "run.seeds"), 1);
    cr_assert_str_eq(lab_cfg_get_str(c, "run.device"), "auto");
    cr_assert(lab_cfg_is_set(c, "train.epochs"));
    cr_assert(!lab_cfg_is_set(c, "data.batch_size"));
    cr_assert_eq(lab_cfg_check_use(c), 0, "%s", lab_error());
    lab_cfg_free(c);
}

Test(config, continuation_lines_and_empty_list)
{
    lab_cfg *c = parse_ok("[model]\nhidden = 8, \\\n  4\ndropout =\n");
    const int64_t *h;
    cr_assert_eq(lab_cfg_get_ints(c, "model.hidden", &h), 2);
    cr_assert(h[0] == 8 && h[1] == 4);
    const double *d;
    cr_assert_eq(lab_cfg_get_floats(c, "model.dropout", &d), 0);
    cr_assert_null(d);
    lab_cfg_free(c);
}

Test(config, load_from_file_and_missing_file)
{
    char path[] = "/tmp/labcfg-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char *text = "[train]\nepochs = 7\n";
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    lab_cfg *c = lab_cfg_load(path);
    cr_assert_not_null(c, "%s", lab_error());
    cr_assert_eq(lab_cfg_validate(c, schema, LAB_COUNT(schema)), 0);
    cr_assert_eq(lab_cfg_get_int(c, "train.epochs"), 7);
    lab_cfg_free(c);
    remove(path);
    cr_assert_null(lab_cfg_load("/nonexistent/x.ini"));
    cr_assert_str_eq(lab_error(), "/nonexistent/x.ini: cannot open: No such file or directory");
}

/* --- every error class, with its exact text ------------------------------- */

Test(config, unknown_section_suggests)
{
    expect_error("[train]\nepochs = 3\n\n[trian]\nlr = 0.1\n",
                 "t.ini:4: unknown section [trian] (did you mean [train]?)");
    expect_error("[zzzzzz]\n",
                 "t.ini:1: unknown section [zzzzzz]; sections: run, paper, sweep, data, train, eval, model");
}

Test(config, unknown_key_suggests)
{
    expect_error("[train]\nepcohs = 3\n", "t.ini:2: unknown key train.epcohs (did you mean train.epochs?)");
    expect_error("[train]\nbatch_size = 3\n", "t.ini:2: unknown key train.batch_size (did you mean data.batch_size?)");
    expect_error("[model]\nxyzzy = 1\n",
                 "t.ini:2: unknown key model.xyzzy; keys of [model]: bias, hidden, dropout, temp");
    expect_error("[eval]\nevery = 1\n", "t.ini:2: unknown key eval.every; the plugin declares no keys in [eval]");
    expect_error("[run]\nsed = 1\n", "t.ini:2: unknown key run.sed (did you mean run.seed?)");
}

Test(config, wrong_type)
{
    expect_error("[train]\nepochs = ten\n", "t.ini:2: train.epochs = \"ten\": expected an integer in [1, 1000]");
    expect_error("[train]\nepochs = 2.5\n", "t.ini:2: train.epochs = \"2.5\": expected an integer in [1, 1000]");
    expect_error("[train]\nlr = fast\n", "t.ini:2: train.lr = \"fast\": expected a number in [0, 1]");
    expect_error("[train]\nlr = nan\n", "t.ini:2: train.lr = \"nan\": expected a finite number");
    expect_error("[model]\nbias = maybe\n", "t.ini:2: model.bias = \"maybe\": expected true or false");
    expect_error("[train]\nepochs =\n", "t.ini:2: train.epochs = \"\": expected an integer in [1, 1000]");
    expect_error("[train]\nepochs = 99999999999999999999\n",
                 "t.ini:2: train.epochs = \"99999999999999999999\": too large, expected an integer in [1, 1000]");
}

Test(config, out_of_range)
{
    expect_error("[train]\nepochs = 0\n",
                 "t.ini:2: train.epochs = \"0\": out of range, expected an integer in [1, 1000]");
    expect_error("[train]\nlr = 1.5\n", "t.ini:2: train.lr = \"1.5\": out of range, expected a number in [0, 1]");
    expect_error("[data]\nbatch_size = 0\n",
                 "t.ini:2: data.batch_size = \"0\": out of range, expected an integer >= 1");
    expect_error("[model]\ntemp = 6\n", "t.ini:2: model.temp = \"6\": out of range, expected a number <= 5");
}

Test(config, choices)
{
    expect_error("[train]\noptimizer = adma\n",
                 "t.ini:2: train.optimizer = \"adma\": expected one of adam, sgd, adamw (did you mean adam?)");
    expect_error("[train]\noptimizer = lbfgs\n",
                 "t.ini:2: train.optimizer = \"lbfgs\": expected one of adam, sgd, adamw");
}

Test(config, list_items)
{
    expect_error("[model]\nhidden = 64, x\n",
                 "t.ini:2: model.hidden = \"64, x\": item 2 (\"x\"): expected a list of integers in [1, 65536]");
    expect_error(
        "[model]\nhidden = 64, 0\n",
        "t.ini:2: model.hidden = \"64, 0\": item 2 (0): out of range, expected a list of integers in [1, 65536]");
    expect_error("[model]\nhidden = 64,,8\n",
                 "t.ini:2: model.hidden = \"64,,8\": item 2 is empty, expected a list of integers in [1, 65536]");
}

Test(config, structure_errors)
{
    expect_error("[train]\nepochs = 1\nlr = 0.1\nepochs = 2\n", "t.ini:4: train.epochs given twice (first on line 2)");
    expect_error("seed = 1\n[run]\n", "t.ini:1: key \"seed\" is outside any [section]");
    expect_error("[train]\nepochs 3\n", "t.ini:2: expected \"key = value\" or \"[section]\", got \"epochs 3\"");
    expect_error("[train\nepochs = 3\n", "t.ini:1: malformed section header \"[train\": expected [name]");
    expect_error("[tra in]\n", "t.ini:1: bad section name \"tra in\": use letters, digits and '_'");
    expect_error("[train]\nlearning rate = 3\n",
                 "t.ini:2: bad key name \"learning rate\": use letters, digits and '_'");
    expect_error("[train]\n= 3\n", "t.ini:2: missing key before '='");
    expect_error("[train]\nepochs = 3 \\\n",
                 "t.ini:2: the last line ends with '\\' (a continuation with nothing after it)");
    expect_error("[sweep]\nlr = 1, 2\n", "t.ini:2: bad sweep key \"lr\": expected section.key");
}

Test(config, binary_and_overlong_input)
{
    const char bin[] = "[train]\nepochs = 1\n\0junk";
    lab_cfg *c = lab_cfg_parse("t.ini", bin, sizeof bin - 1);
    cr_assert_null(c);
    cr_assert_str_eq(lab_error(), "t.ini:3: contains a NUL byte: not a text file");
    char *longline = malloc(1200);
    strcpy(longline, "[data]\nroot = ");
    memset(longline + strlen(longline), 'a', 1100);
    longline[14 + 1100] = '\0';
    c = lab_cfg_parse("t.ini", longline, strlen(longline));
    cr_assert_null(c);
    cr_assert_str_eq(lab_error(), "t.ini:2: line is longer than 1000 characters");
    free(longline);
}

Test(config, required_key_paper_and_device)
{
    static const lab_param req[] = {LAB_PARAM_STRING("data", "root", NULL, "where the files are")};
    lab_cfg *c = lab_cfg_parse("t.ini", "[run]\n", 6);
    cr_assert_eq(lab_cfg_validate(c, req, 1), -1);
    cr_assert_str_eq(lab_error(), "t.ini: missing required key data.root (where the files are)");
    lab_cfg_free(c);
    expect_error("[paper]\ntest_acc = high\n",
                 "t.ini:2: paper.test_acc = \"high\": expected a number (the paper's test_acc)");
    expect_error("[run]\ndevice = gpu\n", "t.ini:2: run.device = \"gpu\": expected auto, cpu, cuda or cuda:N");
    expect_error("[run]\ndevice = cuda:x\n", "t.ini:2: run.device = \"cuda:x\": expected auto, cpu, cuda or cuda:N");
    lab_cfg *ok = parse_ok("[run]\ndevice = cuda:1\n[paper]\ntest_acc = 99.47\n");
    lab_cfg_free(ok);
}

/* --- overrides ------------------------------------------------------------- */

Test(config, overrides_replace_and_add)
{
    const char *text = "[train]\nepochs = 3\n";
    lab_cfg *c = lab_cfg_parse("t.ini", text, strlen(text));
    cr_assert_not_null(c);
    cr_assert_eq(lab_cfg_override(c, "train.epochs=8"), 0);
    cr_assert_eq(lab_cfg_override(c, "Model.Hidden = 5,6"), 0);
    cr_assert_eq(lab_cfg_override(c, "data.root='/x y'"), 0);
    cr_assert_eq(lab_cfg_validate(c, schema, LAB_COUNT(schema)), 0, "%s", lab_error());
    cr_assert_eq(lab_cfg_get_int(c, "train.epochs"), 8);
    const int64_t *h;
    cr_assert_eq(lab_cfg_get_ints(c, "model.hidden", &h), 2);
    cr_assert_eq(h[1], 6);
    cr_assert_str_eq(lab_cfg_get_str(c, "data.root"), "/x y");
    lab_cfg_free(c);
}

Test(config, override_errors)
{
    lab_cfg *c = lab_cfg_parse("t.ini", "", 0);
    cr_assert_not_null(c);
    cr_assert_eq(lab_cfg_override(c, "train.lr"), -1);
    cr_assert_str_eq(lab_error(), "command line: \"train.lr\": expected section.key=value");
    cr_assert_eq(lab_cfg_override(c, "lr=3"), -1);
    cr_assert_str_eq(lab_error(), "command line: \"lr=3\": expected section.key=value");
    cr_assert_eq(lab_cfg_override(c, "train.lr=abc"), 0);
    cr_assert_eq(lab_cfg_validate(c, schema, LAB_COUNT(schema)), -1);
    cr_assert_str_eq(lab_error(), "command line: train.lr = \"abc\": expected a number in [0, 1]");
    lab_cfg_free(c);
    c = lab_cfg_parse("t.ini", "", 0);
    cr_assert_eq(lab_cfg_override(c, "trian.lr=1"), 0);
    cr_assert_eq(lab_cfg_validate(c, schema, LAB_COUNT(schema)), -1);
    cr_assert_str_eq(lab_error(), "command line: unknown section [trian] (did you mean [train]?)");
    lab_cfg_free(c);
}

/* --- sweeps ------------------------------------------------------------------ */

Test(config, sweep_grid_order)
{
    lab_cfg *c = parse_ok("[train]\nlr = 0.5\n[sweep]\ntrain.lr = 1e-3, 3e-4\nmodel.hidden = 8, 4 | 16 | 2\n");
    cr_assert_eq(lab_cfg_sweep_size(c), 6);
    cr_assert_eq(lab_cfg_sweep_nkeys(c), 2);
    cr_assert_str_eq(lab_cfg_sweep_key(c, 0), "train.lr");
    cr_assert_str_eq(lab_cfg_sweep_key(c, 1), "model.hidden");
    /* The last key varies fastest. */
    double lr[6] = {1e-3, 1e-3, 1e-3, 3e-4, 3e-4, 3e-4};
    int64_t first[6] = {8, 16, 2, 8, 16, 2};
    int count[6] = {2, 1, 1, 2, 1, 1};
    for (int i = 0; i < 6; i++) {
        lab_cfg *p = lab_cfg_sweep_point(c, i);
        cr_assert_not_null(p, "%s", lab_error());
        cr_assert_eq(lab_cfg_sweep_size(p), 1);
        cr_assert_eq(lab_cfg_get_float(p, "train.lr"), lr[i]);
        const int64_t *h;
        cr_assert_eq(lab_cfg_get_ints(p, "model.hidden", &h), count[i]);
        cr_assert_eq(h[0], first[i], "point %d", i);
        cr_assert(lab_cfg_is_set(p, "model.hidden"));
        lab_cfg_free(p);
    }
    cr_assert_null(lab_cfg_sweep_point(c, 6));
    lab_cfg_free(c);
    c = parse_ok("[train]\nepochs = 2\n");
    cr_assert_eq(lab_cfg_sweep_size(c), 1);
    lab_cfg_free(c);
}

Test(config, sweep_errors)
{
    expect_error("[sweep]\ntrain.lrr = 1, 2\n", "t.ini:2: [sweep] train.lrr: unknown key (did you mean train.lr?)");
    expect_error("[sweep]\nrun.seed = 1, 2\n",
                 "t.ini:2: [sweep] run.seed: [run] keys cannot be swept (run.seeds repeats the grid over seeds)");
    expect_error("[sweep]\ntrain.lr = 0.1, 7\n",
                 "t.ini:2: [sweep] train.lr: value 2 \"7\": out of range, expected a number in [0, 1]");
    expect_error("[sweep]\ntrain.lr = 0.1,,0.2\n", "t.ini:2: [sweep] train.lr: value 2 is empty");
    lab_cfg *c = lab_cfg_parse("t.ini", "", 0);
    cr_assert_eq(lab_cfg_override(c, "sweep.train.epochs=1,x"), 0);
    cr_assert_eq(lab_cfg_validate(c, schema, LAB_COUNT(schema)), -1);
    cr_assert_str_eq(lab_error(),
                     "command line: [sweep] train.epochs: value 2 \"x\": expected an integer in [1, 1000]");
    lab_cfg_free(c);
}

/* --- what the plugin read ------------------------------------------------------ */

Test(config, unread_key_is_an_error)
{
    lab_cfg *c = parse_ok("[train]\noptimizer = adam\nmomentum = 0.9\nepochs = 10\n");
    (void)lab_cfg_get_enum(c, "train.optimizer");
    cr_assert_eq(lab_cfg_check_use(c), -1);
    cr_assert_str_eq(lab_error(), "t.ini:3: train.momentum = 0.9 was never read by the plugin, so it had no "
                                  "effect; remove it (or, if it should matter, fix the plugin)");
    /* Read: fine. epochs = 10 is the default, so not reading it is fine too. */
    (void)lab_cfg_get_float(c, "train.momentum");
    cr_assert_eq(lab_cfg_check_use(c), 0, "%s", lab_error());
    lab_cfg_free(c);
}

Test(config, plugin_misuse_is_reported)
{
    lab_cfg *c = parse_ok("");
    cr_assert_eq(lab_cfg_get_int(c, "train.nope"), 0);
    cr_assert_eq(lab_cfg_check_use(c), -1);
    cr_assert_str_eq(lab_error(), "plugin bug: the plugin read train.nope, which its schema does not declare");
    lab_cfg_free(c);
    c = parse_ok("");
    cr_assert_eq(lab_cfg_get_int(c, "train.lr"), 0);
    cr_assert_eq(lab_cfg_check_use(c), -1);
    cr_assert_str_eq(lab_error(), "plugin bug: the plugin read train.lr (a number) with lab_cfg_get_int");
    lab_cfg_free(c);
}

/* --- schemas --------------------------------------------------------------------- */

static void expect_schema_error(lab_param p, const char *msg)
{
    cr_assert_eq(lab_cfg_schema_check(&p, 1, "plugin 'x'"), -1);
    cr_assert_str_eq(lab_error(), msg);
}

Test(config, schema_checks)
{
    expect_schema_error((lab_param)LAB_PARAM_INT("run", "seed", "1", 0, 0, NULL),
                        "schema of plugin 'x': run.seed: [run] belongs to the framework");
    expect_schema_error(
        (lab_param)LAB_PARAM_INT("train", "epochs", "0", 1, 10, NULL),
        "schema of plugin 'x': train.epochs: default \"0\": out of range, expected an integer in [1, 10]");
    expect_schema_error((lab_param)LAB_PARAM_ENUM("train", "opt", "a", NULL, NULL),
                        "schema of plugin 'x': train.opt: an enum needs choices (\"a|b\")");
    expect_schema_error((lab_param)LAB_PARAM_ENUM("train", "opt", "a", "a||b", NULL),
                        "schema of plugin 'x': train.opt: empty choice in \"a||b\"");
    expect_schema_error((lab_param)LAB_PARAM_INT("train", "lr", "1", 0, 0, NULL),
                        "schema of plugin 'x': train.lr is a conventional key of type float, declared as int");
    expect_schema_error((lab_param)LAB_PARAM_INT("train", "Epochs", "1", 0, 0, NULL),
                        "schema of plugin 'x': train.Epochs: names must be lowercase (INI keys are read lowercased)");
    expect_schema_error((lab_param)LAB_PARAM_INT("my train", "e", "1", 0, 0, NULL),
                        "schema of plugin 'x': entry 0 (my train.e): section and key must be identifiers");
    lab_param two[] = {LAB_PARAM_INT("a", "b", "1", 0, 0, NULL), LAB_PARAM_INT("a", "b", "1", 0, 0, NULL)};
    cr_assert_eq(lab_cfg_schema_check(two, 2, "plugin 'x'"), -1);
    cr_assert_str_eq(lab_error(), "schema of plugin 'x': a.b declared twice");
    cr_assert_eq(lab_cfg_schema_check(schema, LAB_COUNT(schema), "plugin 'x'"), 0, "%s", lab_error());
}

/* --- the resolved file ------------------------------------------------------------ */

Test(config, write_resolved_and_reload)
{
    /* ';' and '#' start comments in INI files: a value holding them is quoted. */
    const char *src = "[train]\nlr = 3e-4\n[paper]\ntest_acc = 99.5\n[sweep]\ntrain.epochs = 1, 2\n";
    lab_cfg *c = lab_cfg_parse("t.ini", src, strlen(src));
    cr_assert_eq(lab_cfg_override(c, "data.root=a;b #c"), 0);
    cr_assert_eq(lab_cfg_validate(c, schema, LAB_COUNT(schema)), 0, "%s", lab_error());
    char path[] = "/tmp/labcfg-w-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    cr_assert_eq(lab_cfg_write(c, path, "header line\nsecond"), 0, "%s", lab_error());
    char *text = NULL;
    size_t n = 0;
    FILE *f = fopen(path, "r");
    cr_assert(f);
    cr_assert(getdelim(&text, &n, '\0', f) > 0);
    fclose(f);
    cr_assert(strncmp(text, "; header line\n; second\n\n[run]\n", 30) == 0, "%s", text);
    cr_assert(strstr(text, "root = \"a;b #c\"\n"), "%s", text);
    cr_assert(strstr(text, "; passes (an integer in [1, 1000]; default 10)\n; epochs = 10\n"), "%s", text);
    cr_assert(strstr(text, "\nlr = 3e-4\n"), "%s", text);
    cr_assert(strstr(text, "\n[paper]\ntest_acc = 99.5\n"), "%s", text);
    cr_assert(strstr(text, "\n[sweep]\ntrain.epochs = 1, 2\n"), "%s", text);
    lab_cfg *r = lab_cfg_load(path);
    cr_assert_not_null(r, "%s", lab_error());
    cr_assert_eq(lab_cfg_validate(r, schema, LAB_COUNT(schema)), 0, "%s", lab_error());
    char diff[256];
    cr_assert_eq(lab_cfg_diff(c, r, NULL, diff, sizeof diff), 0, "%s", diff);
    cr_assert_eq(lab_cfg_sweep_size(r), 2);
    cr_assert_str_eq(lab_cfg_get_str(r, "data.root"), "a;b #c");
    /* What was set stays set, what was a default stays a default. */
    cr_assert(lab_cfg_is_set(r, "train.lr") && lab_cfg_is_set(r, "data.root"));
    cr_assert(!lab_cfg_is_set(r, "train.epochs"));
    free(text);
    remove(path);
    lab_cfg_free(r);
    lab_cfg_free(c);
}

Test(config, diff_names_the_key)
{
    lab_cfg *a = parse_ok("[train]\nlr = 1e-3\n"), *b = parse_ok("[train]\nlr = 0.001\n"),
            *d = parse_ok("[train]\nlr = 0.01\n");
    char buf[256];
    cr_assert_eq(lab_cfg_diff(a, b, NULL, buf, sizeof buf), 0, "1e-3 and 0.001 are the same number");
    cr_assert_eq(lab_cfg_diff(a, d, NULL, buf, sizeof buf), 1);
    cr_assert_str_eq(buf, "train.lr: 1e-3 vs 0.01");
    const char *skip[] = {"train.lr", NULL};
    cr_assert_eq(lab_cfg_diff(a, d, skip, buf, sizeof buf), 0);
    lab_cfg_free(a);
    lab_cfg_free(b);
    lab_cfg_free(d);
}

Test(config, print_schema)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    lab_cfg_print_schema(f, schema, LAB_COUNT(schema));
    fclose(f);
    cr_assert(
        strstr(buf, "[train]\n  epochs                 int        10           [1, 1000]                passes\n"),
        "%s", buf);
    cr_assert(strstr(buf, "  optimizer              enum       adam         adam|sgd|adamw           optimizer\n"),
              "%s", buf);
    cr_assert(
        strstr(
            buf,
            "  batch_size             int        128          >= 1                     examples per training batch\n"),
        "%s", buf);
    free(buf);
}

/* Values that need quoting survive a write and a read; iniparser has no
 * escapes, so the one value it cannot hold is refused, not corrupted. */
Test(config, write_quotes_what_iniparser_needs)
{
    static const lab_param strs[] = {
        LAB_PARAM_STRING("data", "a", "", NULL), LAB_PARAM_STRING("data", "b", "", NULL),
        LAB_PARAM_STRING("data", "c", "", NULL), LAB_PARAM_STRING("data", "d", "", NULL),
    };
    const char *vals[] = {"ends\\", "\"lead", "it's", " pad "};
    const char *text = "[data]\nd = \" pad \"\n";
    lab_cfg *c = lab_cfg_parse("t.ini", text, strlen(text));
    const char *keys[] = {"data.a", "data.b", "data.c", "data.d"};
    for (int i = 0; i < 3; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s=%s", keys[i], vals[i]);
        cr_assert_eq(lab_cfg_override(c, a), 0);
    }
    cr_assert_eq(lab_cfg_validate(c, strs, 4), 0, "%s", lab_error());
    char path[] = "/tmp/labcfg-q-XXXXXX";
    close(mkstemp(path));
    cr_assert_eq(lab_cfg_write(c, path, NULL), 0, "%s", lab_error());
    lab_cfg *r = lab_cfg_load(path);
    cr_assert_not_null(r, "%s", lab_error());
    cr_assert_eq(lab_cfg_validate(r, strs, 4), 0, "%s", lab_error());
    for (int i = 0; i < 4; i++) cr_assert_str_eq(lab_cfg_get_str(r, keys[i]), vals[i]);
    lab_cfg_free(r);
    cr_assert_eq(lab_cfg_override(c, "data.a=x \"y\" 'z' ;"), 0);
    cr_assert_eq(lab_cfg_validate(c, strs, 4), 0);
    cr_assert_eq(lab_cfg_write(c, path, NULL), -1);
    char msg[200];
    snprintf(msg, sizeof msg,
             "config: cannot write %s: the value of data.a holds both kinds of quotes and characters that need quoting",
             path);
    cr_assert_str_eq(lab_error(), msg);
    remove(path);
    lab_cfg_free(c);
}
