/* libFuzzer target: the config layer (framework/config) on arbitrary text:
 * parsing (iniparser + our line scanner), validation against a schema with
 * every type, overrides, sweep expansion, getters and the use check. Beyond
 * "no crash, no leak, no UB" it checks invariants: a validated config equals
 * its copy, every sweep point validates, and every declared key has a value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lab/lab.h"

static const lab_param schema[] = {
    LAB_PARAM_INT("train", "epochs", "10", 1, 1000, "passes"),
    LAB_PARAM_FLOAT("train", "lr", "1e-3", 0, 1, NULL),
    LAB_PARAM_ENUM("train", "optimizer", "adam", "adam|sgd|adamw", NULL),
    LAB_PARAM_BOOL("model", "bias", "true", NULL),
    LAB_PARAM_STRING("data", "root", "data", NULL),
    LAB_PARAM_INTS("model", "hidden", "256, 128", 1, 65536, NULL),
    LAB_PARAM_FLOATS("model", "dropout", "", 0, 1, NULL),
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lab_cfg *c = lab_cfg_parse("fuzz.ini", (const char *)data, size);
    if (!c) {
        if (!lab_error()[0]) abort(); /* a failure always says why */
        return 0;
    }
    /* The first line, if it looks like one, doubles as an override. */
    char over[128];
    size_t n = 0;
    while (n < size && n + 1 < sizeof over && data[n] != '\n' && data[n] != '\0') {
        over[n] = (char)data[n];
        n++;
    }
    over[n] = '\0';
    if (strchr(over, '=') && strchr(over, '.')) (void)lab_cfg_override(c, over);
    if (lab_cfg_validate(c, schema, LAB_COUNT(schema)) == 0) {
        for (int i = 0; i < LAB_COUNT(schema); i++) {
            char key[64];
            snprintf(key, sizeof key, "%s.%s", schema[i].section, schema[i].key);
            const int64_t *iv;
            const double *fv;
            switch (schema[i].type) {
            case LAB_CFG_INT: (void)lab_cfg_get_int(c, key); break;
            case LAB_CFG_FLOAT: (void)lab_cfg_get_float(c, key); break;
            case LAB_CFG_BOOL: (void)lab_cfg_get_bool(c, key); break;
            case LAB_CFG_STRING:
                if (!lab_cfg_get_str(c, key)) abort();
                break;
            case LAB_CFG_ENUM:
                if (lab_cfg_get_enum(c, key) < 0) abort();
                break;
            case LAB_CFG_INTS:
                if (lab_cfg_get_ints(c, key, &iv) < 0) abort();
                break;
            case LAB_CFG_FLOATS:
                if (lab_cfg_get_floats(c, key, &fv) < 0) abort();
                break;
            }
        }
        if (lab_cfg_check_use(c) != 0) abort(); /* everything was read */
        lab_cfg *d = lab_cfg_copy(c);
        char diff[256];
        if (!d || lab_cfg_diff(c, d, NULL, diff, sizeof diff) != 0) abort();
        lab_cfg_free(d);
        int points = lab_cfg_sweep_size(c);
        if (points < 1) abort();
        for (int i = 0; i < points && i < 4; i++) {
            lab_cfg *p = lab_cfg_sweep_point(c, i);
            if (!p) abort(); /* validated sweeps always expand */
            if (lab_cfg_get_int(p, "train.epochs") < 1) abort();
            lab_cfg_free(p);
        }
    }
    lab_cfg_free(c);
    return 0;
}
