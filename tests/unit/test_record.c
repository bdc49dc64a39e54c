/* Trial records (lab_record_*): exact round trip of strings and numbers,
 * gathering across trial directories in a stable order, unfinished trials
 * skipped, and a truncated record named in the error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "labtest.h"

static char root[256];

static void setup(void)
{
    snprintf(root, sizeof root, "/tmp/labtest-record-%d", (int)getpid());
    mkdir(root, 0755);
}

static void teardown(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(record, .init = setup, .fini = teardown);

static void write_trial(const char *sub, const char *method, double acc)
{
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/%s", root, sub);
    mkdir(dir, 0755);
    lab_record r;
    lab_record_init(&r);
    cr_assert_eq(lab_record_add_str(&r, "method", method), 0);
    cr_assert_eq(lab_record_add_num(&r, "acc", acc), 0);
    snprintf(path, sizeof path, "%s/t.json", dir);
    cr_assert_eq(lab_record_write(path, &r), 0, "%s", lab_error());
    lab_record_clear(&r);
}

Test(record, round_trip_is_exact)
{
    lab_record r;
    lab_record_init(&r);
    cr_assert_eq(lab_record_add_str(&r, "name", "a \"quoted\"\\path\nline"), 0);
    cr_assert_eq(lab_record_add_num(&r, "third", 1.0 / 3.0), 0);
    cr_assert_eq(lab_record_add_num(&r, "tiny", 4.9e-324), 0);
    cr_assert_eq(lab_record_add_num(&r, "missing", NAN), 0);
    cr_assert_eq(lab_record_add_num(&r, "third", 2.0), -1, "a repeated key is refused");
    lt_assert_error_contains("\"third\" given twice");
    char path[300];
    snprintf(path, sizeof path, "%s/r.json", root);
    cr_assert_eq(lab_record_write(path, &r), 0, "%s", lab_error());
    lab_record_clear(&r);
    char tmp[310];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    cr_assert_eq(access(tmp, F_OK), -1, "no temporary file is left behind");

    lab_record b;
    cr_assert_eq(lab_record_read(path, &b), 0, "%s", lab_error());
    cr_assert_eq(b.n, 4);
    cr_assert_str_eq(lab_record_str(&b, "name"), "a \"quoted\"\\path\nline");
    cr_assert(lab_record_num(&b, "third") == 1.0 / 3.0, "numbers round-trip bit for bit");
    cr_assert(lab_record_num(&b, "tiny") == 4.9e-324);
    cr_assert(isnan(lab_record_num(&b, "missing")), "null reads back as NAN");
    cr_assert(isnan(lab_record_num(&b, "name")), "a string is not a number");
    cr_assert_null(lab_record_str(&b, "third"));
    cr_assert_null(lab_record_str(&b, "absent"));
    lab_record_clear(&b);
}

Test(record, gather_is_sorted_and_skips_unfinished_trials)
{
    write_trial("p1-seed0", "ct", 0.5);
    write_trial("p0-seed1", "dt", 0.25);
    write_trial("p0-seed0", "dt", 0.75);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/p2-seed0", root); /* a trial that never finished */
    mkdir(dir, 0755);
    lab_record *rs;
    int n;
    cr_assert_eq(lab_record_gather(root, "t.json", &rs, &n), 0, "%s", lab_error());
    cr_assert_eq(n, 3);
    cr_assert(lab_record_num(&rs[0], "acc") == 0.75);
    cr_assert(lab_record_num(&rs[1], "acc") == 0.25);
    cr_assert_str_eq(lab_record_str(&rs[2], "method"), "ct");
    lab_record_free_all(rs, n);
}

Test(record, truncated_record_is_named)
{
    write_trial("p0-seed0", "dt", 0.75);
    char path[512];
    snprintf(path, sizeof path, "%s/p0-seed0/t.json", root);
    FILE *f = fopen(path, "r+");
    cr_assert_not_null(f);
    cr_assert_eq(ftruncate(fileno(f), 20), 0);
    fclose(f);
    lab_record *rs;
    int n;
    cr_assert_eq(lab_record_gather(root, "t.json", &rs, &n), -1);
    lt_assert_error_contains("p0-seed0/t.json");
    lt_assert_error_contains("not a flat JSON object");
    cr_assert_null(rs);
    cr_assert_eq(n, 0);
    lab_record r;
    snprintf(path, sizeof path, "%s/nope.json", root);
    cr_assert_eq(lab_record_read(path, &r), -1);
    lt_assert_error_contains("cannot open");
}
