/* The plugin loader against the fixture plugins (tests/fixtures/plugins,
 * built into <build>/fixtures by `make fixtures`): a good plugin, a missing
 * entry symbol, another ABI version, a truncated descriptor, a bad schema, a
 * misnamed plugin, and a text file posing as a shared object. Every failure
 * must name the path and the reason, and never crash. */
#include "labtest.h"
#include "runtest.h"

Test(plugin, loads_good_by_path)
{
    char path[PATH_MAX];
    lab_plugin_handle *h = lab_plugin_load(rt_fixture("good", path, sizeof path));
    cr_assert_not_null(h, "%s", lab_error());
    cr_assert_str_eq(h->desc->name, "good");
    cr_assert_str_eq(h->desc->version, "1.2");
    cr_assert_eq(h->desc->abi_version, LAB_PLUGIN_ABI);
    cr_assert_eq(h->desc->struct_size, sizeof(lab_plugin));
    cr_assert(h->desc->n_params >= 10);
    cr_assert_not_null(h->desc->run);
    cr_assert_str_eq(h->path, path);
    lab_plugin_unload(h);
    lab_plugin_unload(NULL);
}

Test(plugin, loads_by_name_from_lab_plugin_path)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "/nonexistent:%s/fixtures", rt_build());
    setenv("LAB_PLUGIN_PATH", dir, 1);
    lab_plugin_handle *h = lab_plugin_load("good");
    cr_assert_not_null(h, "%s", lab_error());
    cr_assert_str_eq(h->desc->name, "good");
    lab_plugin_unload(h);
    char **dirs = lab_plugin_dirs();
    cr_assert_str_eq(dirs[0], "/nonexistent");
    char real[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/fixtures", rt_build());
    cr_assert_str_eq(dirs[1], realpath(dir, real));
    lab_plugin_dirs_free(dirs);
}

Test(plugin, finds_all_sorted)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/fixtures", rt_build());
    setenv("LAB_PLUGIN_PATH", dir, 1);
    char **all = lab_plugin_find_all();
    cr_assert_not_null(all);
    const char *want[] = {"lab_bad_schema.so",    "lab_fails.so",        "lab_good.so",     "lab_misnamed.so",
                          "lab_missing_entry.so", "lab_small_struct.so", "lab_wrong_abi.so"};
    int k = 0;
    for (char **p = all; *p; p++) {
        const char *base = strrchr(*p, '/') + 1;
        if (k < 7 && strcmp(base, want[k]) == 0) k++;
    }
    cr_assert_eq(k, 7, "fixtures missing or out of order");
    lab_plugin_dirs_free(all);
}

Test(plugin, missing_entry_symbol)
{
    char path[PATH_MAX], msg[2 * PATH_MAX + 200];
    rt_fixture("missing_entry", path, sizeof path);
    cr_assert_null(lab_plugin_load(path));
    snprintf(msg, sizeof msg,
             "plugin: %s does not export lab_plugin_entry (%s: undefined symbol: lab_plugin_entry): not a labrun "
             "plugin, or built without LAB_PLUGIN(desc)",
             path, path);
    cr_assert_str_eq(lab_error(), msg);
}

Test(plugin, wrong_abi_version)
{
    char path[PATH_MAX], msg[PATH_MAX + 200];
    rt_fixture("wrong_abi", path, sizeof path);
    cr_assert_null(lab_plugin_load(path));
    snprintf(msg, sizeof msg,
             "plugin: %s: built for plugin ABI %d, but this labrun speaks ABI %d: rebuild the plugin against this "
             "labrun's headers",
             path, LAB_PLUGIN_ABI + 1, LAB_PLUGIN_ABI);
    cr_assert_str_eq(lab_error(), msg);
}

Test(plugin, struct_too_small)
{
    char path[PATH_MAX], msg[PATH_MAX + 200];
    rt_fixture("small_struct", path, sizeof path);
    cr_assert_null(lab_plugin_load(path));
    snprintf(msg, sizeof msg,
             "plugin: %s: its descriptor is 8 bytes, smaller than the %zu bytes of ABI %d (use LAB_PLUGIN_HEADER "
             "and rebuild)",
             path, sizeof(lab_plugin), LAB_PLUGIN_ABI);
    cr_assert_str_eq(lab_error(), msg);
}

Test(plugin, bad_schema)
{
    char path[PATH_MAX], msg[PATH_MAX + 200];
    rt_fixture("bad_schema", path, sizeof path);
    cr_assert_null(lab_plugin_load(path));
    snprintf(msg, sizeof msg,
             "plugin: %s: schema of plugin 'bad_schema': train.epochs: default \"0\": out of range, expected an "
             "integer in [1, 10]",
             path);
    cr_assert_str_eq(lab_error(), msg);
}

Test(plugin, name_must_match_file_when_searched)
{
    char dir[PATH_MAX], path[PATH_MAX], msg[PATH_MAX + 300];
    snprintf(dir, sizeof dir, "%s/fixtures", rt_build());
    setenv("LAB_PLUGIN_PATH", dir, 1);
    cr_assert_null(lab_plugin_load("misnamed"));
    char real[PATH_MAX];
    snprintf(msg, sizeof msg,
             "plugin: %s/lab_misnamed.so: it calls itself 'other' but its file is lab_misnamed.so: set .name = "
             "\"misnamed\" in its descriptor (or rename the file)",
             realpath(dir, real));
    cr_assert_str_eq(lab_error(), msg);
    /* By path the file name does not matter. */
    lab_plugin_handle *h = lab_plugin_load(rt_fixture("misnamed", path, sizeof path));
    cr_assert_not_null(h, "%s", lab_error());
    cr_assert_str_eq(h->desc->name, "other");
    lab_plugin_unload(h);
}

Test(plugin, not_a_shared_object)
{
    char *tmp = rt_tmpdir(), path[PATH_MAX], msg[2 * PATH_MAX + 100];
    snprintf(path, sizeof path, "%s/lab_junk.so", tmp);
    rt_write(path, "this is a text file, not an ELF shared object, and long enough to have a header\n");
    cr_assert_null(lab_plugin_load(path));
    snprintf(msg, sizeof msg, "plugin: cannot load %s: %s: invalid ELF header", path, path);
    cr_assert_str_eq(lab_error(), msg);
    rt_rmtree(tmp);
}

Test(plugin, not_found_suggests)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/fixtures", rt_build());
    setenv("LAB_PLUGIN_PATH", dir, 1);
    cr_assert_null(lab_plugin_load("god"));
    lt_assert_error_contains("plugin 'god' not found (did you mean good?): no lab_god.so in ");
    lt_assert_error_contains("`labrun list` shows the plugins found");
    cr_assert_null(lab_plugin_load("/nonexistent/lab_x.so"));
    cr_assert_str_eq(lab_error(), "plugin: /nonexistent/lab_x.so: no such file");
    cr_assert_null(lab_plugin_load("Bad Name"));
    cr_assert_str_eq(lab_error(), "plugin: \"Bad Name\" is not a plugin name ([a-z0-9_]+) or a path to a .so");
}
