/* Tests of the OGB raw-format readers (lab/ogb.h) on small data sets the
 * test writes in OGB's layout: gzip-compressed (with the system's gzip, as
 * OGB ships them) and plain CSV, graph / node / link tasks, and every count
 * mismatch the reader must name. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "labtest.h"
#include "lab/ogb.h"

static char root[256];

static void put(const char *rel, const char *text, int gz)
{
    char path[512], dir[512];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    snprintf(dir, sizeof dir, "mkdir -p \"$(dirname '%s')\"", path);
    cr_assert_eq(system(dir), 0);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    if (gz) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "gzip -nf '%s'", path);
        cr_assert_eq(system(cmd), 0, "gzip failed");
    }
}

static void fresh(void)
{
    snprintf(root, sizeof root, "/tmp/lab-ogb-test-%d", (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

static void cleanup(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    (void)system(cmd);
}

/* Three molecules: 2, 3 and 1 nodes; 1, 2 and 0 edges (local ids). */
static void write_graph_set(int gz)
{
    put("raw/edge.csv", "0,1\n0,2\n2,1\n", gz);
    put("raw/num-node-list.csv", "2\n3\n1\n", gz);
    put("raw/num-edge-list.csv", "1\n2\n0\n", gz);
    put("raw/node-feat.csv", "6,0\n8,1\n6,0\n7,2\n6,1\n9,0\n", gz);
    put("raw/edge-feat.csv", "0,1\n1,0\n2,2\n", gz);
    put("raw/graph-label.csv", "1,0\n0,\n1,nan\n", gz);
    put("split/scaffold/train.csv", "0\n1\n", gz);
    put("split/scaffold/valid.csv", "2\n", gz);
    put("split/scaffold/test.csv", "2\n", gz);
}

Test(ogb, graph_task_gzip_layout)
{
    fresh();
    write_graph_set(1);
    lab_ogb *d = lab_ogb_read(root, "ogbg-molhiv", NULL);
    cr_assert_not_null(d, "%s", lab_error());
    cr_assert_eq(d->task, LAB_OGB_GRAPH);
    cr_assert_eq(d->num_graphs, 3);
    cr_assert_eq(d->num_nodes, 6);
    cr_assert_eq(d->num_edges, 6); /* add_inverse_edge for molhiv */
    /* OGB order: each edge then its reverse; ids offset by the graph's first node. */
    const int64_t want_e[2][6] = {{0, 1, 2, 4, 4, 3}, {1, 0, 4, 2, 3, 4}};
    const int64_t *e = lab_tensor_i64(d->edges);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(e[i], want_e[0][i], "src %d", i);
        cr_assert_eq(e[6 + i], want_e[1][i], "dst %d", i);
    }
    const int64_t np[4] = {0, 2, 5, 6}, ep[4] = {0, 2, 6, 6};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(lab_tensor_i64(d->node_ptr)[i], np[i]);
        cr_assert_eq(lab_tensor_i64(d->edge_ptr)[i], ep[i]);
    }
    cr_assert_eq(d->node_feat->shape[1], 2);
    cr_assert_float_eq(lab_tensor_f32(d->node_feat)[3 * 2], 7.0f, 0);
    const float *ef = lab_tensor_f32(d->edge_feat);
    cr_assert_eq(d->edge_feat->shape[0], 6);
    cr_assert(ef[2 * 2] == 1 && ef[3 * 2] == 1 && ef[3 * 2 + 1] == 0, "edge feature duplicated with its edge");
    const float *gl = lab_tensor_f32(d->graph_label);
    cr_assert_eq(d->num_tasks, 2);
    cr_assert(gl[0] == 1 && gl[1] == 0 && gl[2] == 0 && isnan(gl[3]) && isnan(gl[5]), "missing labels read as NaN");
    cr_assert_eq(d->train_idx->numel, 2);
    cr_assert_eq(lab_tensor_i64(d->valid_idx)[0], 2);
    lab_ogb_free(d);
    cleanup();
}

Test(ogb, node_task_plain_csv_directed)
{
    fresh();
    put("raw/edge.csv", "0,1\n1,2\n3,0\n", 0);
    put("raw/num-node-list.csv", "4\n", 0);
    put("raw/num-edge-list.csv", "3\n", 0);
    put("raw/node-feat.csv", "0.5,-1.25\n1e-3,2\n0,0\n3,4\n", 0);
    put("raw/node-label.csv", "2\n0\n1\n2\n", 0);
    put("split/time/train.csv", "0\n1\n", 0);
    put("split/time/valid.csv", "2\n", 0);
    put("split/time/test.csv", "3\n", 0);
    lab_ogb *d = lab_ogb_read(root, "ogbn-arxiv", NULL);
    cr_assert_not_null(d, "%s", lab_error());
    cr_assert_eq(d->num_edges, 3, "arxiv is read directed");
    cr_assert_eq(lab_tensor_i64(d->edges)[2], 3);
    cr_assert_float_eq(lab_tensor_f32(d->node_feat)[1], -1.25f, 0);
    cr_assert_float_eq(lab_tensor_f32(d->node_feat)[2], 1e-3f, 1e-9);
    cr_assert_eq(d->num_tasks, 1);
    cr_assert_float_eq(lab_tensor_f32(d->node_label)[3], 2.0f, 0);
    cr_assert_eq(lab_tensor_i64(d->test_idx)[0], 3);
    cr_assert_null(d->graph_label);
    lab_ogb_free(d);
    cleanup();
}

Test(ogb, link_task_csv_split)
{
    fresh();
    put("raw/edge.csv", "0,1\n1,2\n2,3\n", 1);
    put("raw/num-node-list.csv", "5\n", 1);
    put("raw/num-edge-list.csv", "3\n", 1);
    put("split/time/train_pos.csv", "0,1\n1,2\n", 1);
    put("split/time/valid_pos.csv", "2,3\n", 1);
    put("split/time/valid_neg.csv", "0,4\n", 1);
    put("split/time/test_pos.csv", "3,4\n", 1);
    put("split/time/test_neg.csv", "1,4\n", 1);
    lab_ogb *d = lab_ogb_read(root, "ogbl-collab", NULL);
    cr_assert_not_null(d, "%s", lab_error());
    cr_assert_eq(d->num_edges, 6);
    cr_assert_eq(d->train_pos->shape[0], 2);
    cr_assert_eq(d->train_pos->shape[1], 2);
    cr_assert_eq(lab_tensor_i64(d->test_neg)[1], 4, "pairs are stored as [2, n]");
    cr_assert_null(d->train_idx);
    lab_ogb_free(d);
    cleanup();
}

static void expect_error(const char *name, const char *needle)
{
    lab_error_clear();
    lab_ogb *d = lab_ogb_read(root, name, NULL);
    cr_assert_null(d, "%s should fail", needle);
    lt_assert_error_contains(needle);
}

Test(ogb, mismatches_name_file_and_line)
{
    fresh();
    write_graph_set(0);
    put("raw/num-edge-list.csv", "1\n1\n0\n", 0);
    expect_error("ogbg-molhiv", "raw/edge has 3 lines but num-edge-list sums to 2");
    put("raw/num-edge-list.csv", "1\n2\n0\n", 0);
    put("raw/edge.csv", "0,1\n0,3\n2,1\n", 0);
    expect_error("ogbg-molhiv", "raw/edge:2: edge (0, 3) of graph 1 is outside its 3 nodes");
    put("raw/edge.csv", "0,1\n0,2\n2,1\n", 0);
    put("raw/node-feat.csv", "6,0\n8,1\n6,0\n7,2\n6,1\n", 0);
    expect_error("ogbg-molhiv", "node-feat has 5 rows but the graphs have 6 nodes");
    put("raw/node-feat.csv", "6,0\n8,1\n6,0\n7,2,1\n6,1\n9,0\n", 0);
    expect_error("ogbg-molhiv", "node-feat.csv:4: more than 2 fields");
    put("raw/node-feat.csv", "6,0\n8,1\n6,0\n7,x\n6,1\n9,0\n", 0);
    expect_error("ogbg-molhiv", "node-feat.csv:4: field 2 ('x') is not a number");
    put("raw/node-feat.csv", "6,0\n8,1\n6,0\n7,2\n6,1\n9,0\n", 0);
    put("raw/graph-label.csv", "1,0\n0,1\n", 0);
    expect_error("ogbg-molhiv", "graph-label has 2 rows but num-node-list lists 3 graphs");
    put("raw/graph-label.csv", "1,0\n0,\n1,nan\n", 0);
    put("split/scaffold/test.csv", "3\n", 0);
    expect_error("ogbg-molhiv", "split/scaffold/test:1: id 3 is outside [0, 3)");
    put("split/scaffold/test.csv", "2\n", 0);
    put("raw/edge.csv", "0,1\n0,2.5\n2,1\n", 0);
    expect_error("ogbg-molhiv", "edge.csv:2: field 2 ('2.5') is not an integer");
    unlink(strcat(strcpy((char[512]){0}, root), "/raw/edge.csv"));
    expect_error("ogbg-molhiv", "raw/edge.csv.gz (or .csv) is missing");
    expect_error("mnist", "not an OGB name");
    cleanup();
}

Test(ogb, read_csv_shapes)
{
    fresh();
    put("m.csv", "1,2,3\r\n4,5,6\r\n", 0);
    char path[512];
    snprintf(path, sizeof path, "%s/m.csv", root);
    lab_tensor *t = lab_ogb_read_csv(path, LAB_I64, 0);
    cr_assert_not_null(t, "%s", lab_error());
    cr_assert_eq(t->shape[0], 2);
    cr_assert_eq(t->shape[1], 3);
    cr_assert_eq(lab_tensor_i64(t)[5], 6);
    lab_tensor_release(t);
    cr_assert_null(lab_ogb_read_csv(path, LAB_I64, 2));
    lt_assert_error_contains("more than 2 fields");
    cleanup();
}
