/* TUDataset reader: the six staged sets against the counts in
 * shared/data/SOURCES.md and sums computed once with numpy (PyG-style
 * coalescing: self-loops and duplicates dropped, sorted), and small
 * malformed sets written by the test. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "labtest.h"
#include "lab/data.h"

#define TU "../shared/data/tu/" /* tests run from the repository root */

typedef struct {
    const char *name;
    int64_t nodes, graphs, lines, edges, classes;
    int64_t class_values[6];
    long long edge_sum, edge_wsum, graph_sum, label_sum, label_wsum;
    int64_t node_labels, node_label_sum, dims;
    double attr_sum;
} ref_t;

static const ref_t refs[] = {
    {"MUTAG", 3371, 188, 7442, 7442, 2, {-1, 1}, 24981474, 2178865847, 312798, 125, 11327, 7, 1698, 0, 0.0},
    {"PROTEINS", 43471, 1113, 162088, 162088, 2, {1, 2}, 6985420480, 611241097423, 19228045, 450, 56206, 3, 23709, 1,
     343915.0},
    {"ENZYMES", 19580, 600, 74564, 74564, 6, {1, 2, 3, 4, 5, 6}, 1463392044, 128107024569, 5981795, 1500, 151356, 3,
     10581, 18, 2691805.474832},
    {"NCI1", 122747, 4110, 265506, 265506, 2, {0, 1}, 32575328706, 2850365030527, 267294806, 2057, 262015, 37, 212497, 0,
     0.0},
    {"IMDB-BINARY", 19773, 1000, 386124, 193062, 2, {0, 1}, 3866739382, 338349929593, 9810814, 500, 62755, 0, 0, 0, 0.0},
    {"IMDB-MULTI", 19502, 1500, 395612, 197806, 3, {1, 2, 3}, 3917679482, 342857060608, 14305002, 1500, 188273, 0, 0, 0,
     0.0},
};

static void check_set(const ref_t *r)
{
    char dir[256];
    snprintf(dir, sizeof dir, TU "%s", r->name);
    lab_tu *t = lab_tu_read(dir, r->name);
    cr_assert_not_null(t, "%s: %s", r->name, lab_error());
    cr_assert_eq(t->num_nodes, r->nodes, "%s nodes %lld", r->name, (long long)t->num_nodes);
    cr_assert_eq(t->num_graphs, r->graphs, "%s graphs", r->name);
    cr_assert_eq(t->num_edge_lines, r->lines, "%s lines", r->name);
    cr_assert_eq(t->num_edges, r->edges, "%s edges %lld", r->name, (long long)t->num_edges);
    cr_assert_eq(t->num_classes, r->classes, "%s classes", r->name);
    for (int c = 0; c < r->classes; c++) cr_assert_eq(t->class_values[c], r->class_values[c]);
    cr_assert_eq(t->edges->shape[0], 2);
    cr_assert_eq(t->edges->shape[1], r->edges);
    const int64_t *e = lab_tensor_i64(t->edges), *gon = lab_tensor_i64(t->graph_of_node);
    long long s = 0, w = 0;
    for (int64_t i = 0; i < t->num_edges; i++) {
        s += e[i] + e[t->num_edges + i];
        w += e[i] * (i % 251 + 1) + e[t->num_edges + i] * (i % 97 + 1);
    }
    cr_assert_eq(s, r->edge_sum, "%s edge sum %lld", r->name, s);
    cr_assert_eq(w, r->edge_wsum, "%s edge weighted sum", r->name);
    s = 0;
    for (int64_t i = 0; i < t->num_nodes; i++) s += gon[i];
    cr_assert_eq(s, r->graph_sum, "%s graph id sum", r->name);
    const int64_t *y = lab_tensor_i64(t->graph_labels);
    s = w = 0;
    for (int64_t i = 0; i < t->num_graphs; i++) {
        cr_assert(y[i] >= 0 && y[i] < r->classes);
        s += y[i];
        w += y[i] * (i % 251 + 1);
    }
    cr_assert_eq(s, r->label_sum, "%s label sum", r->name);
    cr_assert_eq(w, r->label_wsum, "%s label weighted sum", r->name);
    /* graph_ptr and edge_ptr agree with graph_of_node */
    const int64_t *gp = lab_tensor_i64(t->graph_ptr), *ep = lab_tensor_i64(t->edge_ptr);
    cr_assert_eq(gp[0], 0);
    cr_assert_eq(gp[t->num_graphs], t->num_nodes);
    cr_assert_eq(ep[t->num_graphs], t->num_edges);
    for (int64_t g = 0; g < t->num_graphs; g++) {
        cr_assert_lt(gp[g], gp[g + 1], "%s graph %lld has no nodes", r->name, (long long)g);
        for (int64_t k = ep[g]; k < ep[g + 1]; k++) {
            cr_assert(e[k] >= gp[g] && e[k] < gp[g + 1]);
            cr_assert(e[t->num_edges + k] >= gp[g] && e[t->num_edges + k] < gp[g + 1]);
        }
    }
    if (r->node_labels) {
        cr_assert_not_null(t->node_labels);
        cr_assert_eq(t->num_node_labels, r->node_labels, "%s node labels %lld", r->name, (long long)t->num_node_labels);
        s = 0;
        for (int64_t i = 0; i < t->num_nodes; i++) s += lab_tensor_i64(t->node_labels)[i];
        cr_assert_eq(s, r->node_label_sum, "%s node label sum", r->name);
    } else {
        cr_assert_null(t->node_labels);
        cr_assert_eq(t->num_node_labels, 0);
    }
    if (r->dims) {
        cr_assert_not_null(t->node_attributes);
        cr_assert_eq(t->node_attributes->shape[0], r->nodes);
        cr_assert_eq(t->node_attributes->shape[1], r->dims);
        double a = 0;
        for (int64_t i = 0; i < t->node_attributes->numel; i++) a += lab_tensor_f32(t->node_attributes)[i];
        cr_assert(fabs(a - r->attr_sum) < 1e-3, "%s attribute sum %.6f != %.6f", r->name, a, r->attr_sum);
    } else {
        cr_assert_null(t->node_attributes);
    }
    lab_tu_free(t);
}

Test(tu, mutag) { check_set(&refs[0]); }
Test(tu, proteins) { check_set(&refs[1]); }
Test(tu, enzymes) { check_set(&refs[2]); }
Test(tu, nci1) { check_set(&refs[3]); }
Test(tu, imdb_binary) { check_set(&refs[4]); }
Test(tu, imdb_multi) { check_set(&refs[5]); }

Test(tu, mutag_first_and_last_values)
{
    lab_tu *t = lab_tu_read(TU "MUTAG", "MUTAG");
    cr_assert_not_null(t);
    const int64_t *y = lab_tensor_i64(t->graph_labels);
    /* MUTAG_graph_labels.txt starts 1, -1 and ends ..., -1 (class 0 is -1) */
    cr_assert_eq(y[0], 1);
    cr_assert_eq(y[1], 0);
    cr_assert_eq(lab_tensor_i64(t->graph_ptr)[1], 17); /* graph 1 has 17 nodes */
    /* the first line of MUTAG_A.txt is "2, 1": sorted, node 0's first neighbour is node 1 */
    cr_assert_eq(lab_tensor_i64(t->edges)[0], 0);
    cr_assert_eq(lab_tensor_i64(t->edges)[t->num_edges], 1);
    lab_tu_free(t);
}

/* --- small handmade sets -------------------------------------------------- */

static char tmpdir[64];

static void mk_tmp(void)
{
    strcpy(tmpdir, "/tmp/labtest_tu_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
}

static void rm_tmp(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    cr_assert_eq(system(cmd), 0);
}

static void put(const char *suffix, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/T%s", tmpdir, suffix);
    if (!text) {
        unlink(p);
        return;
    }
    FILE *f = fopen(p, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
}

/* Two graphs: nodes 1-3 (a triangle listed with both separators, a self-loop
 * and a duplicate) and nodes 4-5; CRLF line ends in one file. */
static void write_good(void)
{
    put("_A.txt", "1, 2\n2,1\n2 ,3\n3, 2\n1,3\n3,1\n2, 2\n1, 2\n4, 5\n5, 4\n");
    put("_graph_indicator.txt", "1\n1\n1\n2\n2\n");
    put("_graph_labels.txt", "7\r\n-3\r\n");
    put("_node_labels.txt", "5\n6\n5\n9\n5\n\n");
    put("_node_attributes.txt", "1.5, -2\n0,1e-3\n 3 , 4\n5,6\n7.25,8\n");
}

Test(tu, small_set_semantics)
{
    mk_tmp();
    write_good();
    lab_tu *t = lab_tu_read(tmpdir, "T");
    cr_assert_not_null(t, "%s", lab_error());
    cr_assert_eq(t->num_nodes, 5);
    cr_assert_eq(t->num_graphs, 2);
    cr_assert_eq(t->num_edge_lines, 10);
    cr_assert_eq(t->num_edges, 8); /* self-loop and duplicate dropped */
    int64_t want[2][8] = {{0, 0, 1, 1, 2, 2, 3, 4}, {1, 2, 0, 2, 0, 1, 4, 3}};
    for (int i = 0; i < 8; i++) {
        cr_assert_eq(lab_tensor_i64(t->edges)[i], want[0][i]);
        cr_assert_eq(lab_tensor_i64(t->edges)[8 + i], want[1][i]);
    }
    cr_assert_eq(lab_tensor_i64(t->edge_ptr)[1], 6);
    cr_assert_eq(t->num_classes, 2);
    cr_assert_eq(t->class_values[0], -3);
    cr_assert_eq(t->class_values[1], 7);
    cr_assert_eq(lab_tensor_i64(t->graph_labels)[0], 1);
    cr_assert_eq(lab_tensor_i64(t->graph_labels)[1], 0);
    cr_assert_eq(t->num_node_labels, 5); /* 5..9 shifted to 0..4 */
    cr_assert_eq(lab_tensor_i64(t->node_labels)[3], 4);
    cr_assert_eq(t->num_node_attributes, 2);
    float attrs[10] = {1.5f, -2, 0, 1e-3f, 3, 4, 5, 6, 7.25f, 8};
    for (int i = 0; i < 10; i++) cr_assert_eq(lab_tensor_f32(t->node_attributes)[i], attrs[i]);
    lab_tu_free(t);
    /* optional files may be absent */
    put("_node_labels.txt", NULL);
    put("_node_attributes.txt", NULL);
    t = lab_tu_read(tmpdir, "T");
    cr_assert_not_null(t, "%s", lab_error());
    cr_assert_null(t->node_labels);
    cr_assert_null(t->node_attributes);
    lab_tu_free(t);
    rm_tmp();
}

static void expect_error(const char *suffix, const char *text, const char *needle)
{
    write_good();
    put(suffix, text);
    lab_error_clear();
    lab_tu *t = lab_tu_read(tmpdir, "T");
    cr_assert_null(t, "accepted %s = \"%s\"", suffix, text ? text : "(missing)");
    cr_assert(strstr(lab_error(), needle), "%s: error \"%s\" lacks \"%s\"", suffix, lab_error(), needle);
}

Test(tu, malformed_files)
{
    mk_tmp();
    expect_error("_A.txt", "1, 2\n2, 6\n", "T_A.txt: line 2: edge (2, 6) has an endpoint outside the 5 nodes");
    expect_error("_A.txt", "1, 2\n0, 1\n", "line 2: edge (0, 1)");
    expect_error("_A.txt", "1, 4\n", "line 1: edge (1, 4) joins graphs 1 and 2");
    expect_error("_A.txt", "1, 2\n1\n", "T_A.txt: line 2: expected 2 values");
    expect_error("_A.txt", "1, 2, 3\n", "line 1: expected 2 values");
    expect_error("_A.txt", "1, x\n", "line 1: \"x\" is not an integer");
    expect_error("_A.txt", "1, 2\n\n2, 1\n", "T_A.txt: line 2 is blank");
    expect_error("_A.txt", "1, 99999999999999999999\n", "is not an integer");
    expect_error("_A.txt", "1,\n", "\"\" is not an integer");
    expect_error("_graph_indicator.txt", "1\n1\n2\n1\n2\n", "line 4: graph id 1 after 2 (ids must be non-decreasing)");
    expect_error("_graph_indicator.txt", "1\n1\n1\n3\n3\n", "line 4: graph id 3 is outside the 2 graphs");
    expect_error("_graph_indicator.txt", "2\n2\n2\n2\n2\n", "line 1: graph id 2 after 0 leaves graph 1 without nodes");
    expect_error("_graph_indicator.txt", "1\n1\n1\n2\n", "edge (4, 5) has an endpoint outside the 4 nodes");
    expect_error("_graph_indicator.txt", "1\n1\n1\n1\n1\n", "the last node is in graph 1 but");
    expect_error("_graph_labels.txt", "", "no graphs");
    expect_error("_graph_labels.txt", NULL, "cannot open");
    expect_error("_A.txt", NULL, "T_A.txt");
    expect_error("_node_labels.txt", "1\n2\n3\n4\n", "T_node_labels.txt has 4 lines but");
    expect_error("_node_labels.txt", "1\n2\n3\n4\n5\n6\n", "T_node_labels.txt has 6 lines but");
    expect_error("_node_attributes.txt", "1,2\n3,4\n5\n6,7\n8,9\n", "T_node_attributes.txt: line 3 has 1 values, line 1 has 2");
    expect_error("_node_attributes.txt", "1,2\n3,4\n5,nan\n6,7\n8,9\n", "line 3: \"nan\" is not a finite number");
    expect_error("_node_attributes.txt", "1,2\n3,4\n5,1e39\n6,7\n8,9\n", "\"1e39\" is not a finite number");
    expect_error("_node_attributes.txt", "1,2\n3,4\n", "has 2 lines but");
    expect_error("_node_attributes.txt", "1,2\n3,4\n1,2\n3,4\n1,2\n3,4\n", "more lines than the 5 nodes");
    cr_assert_null(lab_tu_read(NULL, "T"));
    rm_tmp();
}
