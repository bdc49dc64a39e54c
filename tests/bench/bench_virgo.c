/* Virgo benchmarks (tests/bench/suite_virgo.sh runs them next to the same
 * workloads in PyTorch, bench_virgo.py, and prints the ratios):
 *
 *   bench_virgo gcn NAME THREADS   one training epoch of full-batch GCN (L = 3,
 *                                  m = 64; sparse features and Â; CE on the
 *                                  training nodes; Adam) on cora | citeseer
 *   bench_virgo gin THREADS        one epoch of GIN (5 layers, m = 64, BN, sum
 *                                  readout, head) on IMDB-BINARY in batches of
 *                                  32 graphs in file order (batch building
 *                                  included)
 *   bench_virgo spmm-gpu THREADS   CSR spmm on cuda:0, PubMed-sized random
 *                                  graph (N = 19717, 108365 nonzeros), F = 64
 *                                  and 500; exit 3 with a reason without a GPU
 *   bench_virgo dump NAME PATH     write the data set the Python side reads
 *                                  (so both run on identical inputs)
 *
 * Each prints one JSON object: median milliseconds over timed repetitions
 * after warm-up. Never part of make test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lab/gnn.h"
#include "lab/lab.h"
#include "bench_common.h"

static void die(const char *what)
{
    fprintf(stderr, "bench_virgo: %s: %s\n", what, lab_error());
    exit(1);
}

static lab_dataset *open_ds(const char *name)
{
    lab_dataset *ds = lab_dataset_open(&(lab_data_spec){.name = name});
    if (!ds) die(name);
    return ds;
}

/* --- GCN epoch ------------------------------------------------------------------ */

static void bench_gcn(const char *name)
{
    lab_dataset *ds = open_ds(name);
    lab_planetoid *pl = ds->planetoid;
    lab_gnn_graph *g = lab_gnn_graph_new(pl->edges, pl->num_nodes, LAB_CPU);
    lab_tensor *xn = lab_tensor_own(lab_gnn_row_normalize(pl->features));
    lab_csr *xs = lab_gnn_features_csr(xn, LAB_CPU);
    if (!g || !xs || !lab_gnn_graph_gcn(g)) die("graph");
    lab_params *p = lab_params_new();
    lab_rng rng = lab_rng_make(0, 0);
    lab_gnn_model_cfg mc = lab_gnn_model_defaults(LAB_GNN_GCN, 3, pl->num_features, 64, ds->num_classes);
    lab_gnn_model *m = lab_gnn_model_new(&mc, p, "gcn", &rng);
    lab_optim_config oc = lab_optim_defaults(LAB_OPTIM_ADAM);
    oc.lr = 1e-3f, oc.weight_decay = 5e-6f;
    lab_optim *opt = lab_optim_new(&oc, p);
    if (!m || !opt) die("model");
    enum { WARM = 5, REPS = 40 };
    double t[REPS];
    for (int i = 0; i < WARM + REPS; i++) {
        double t0 = bench_wall_s();
        lab_scope_begin();
        lab_tensor *logits = lab_gnn_model_forward(m, g, NULL, xs, 1, NULL, NULL);
        lab_tensor *loss = lab_cross_entropy(lab_index_select(logits, 0, pl->train_idx),
                                             lab_index_select(pl->labels, 0, pl->train_idx));
        if (!loss || lab_backward(loss) < 0 || lab_optim_step(opt) < 0) die("step");
        lab_optim_zero_grad(opt);
        lab_scope_end();
        if (i >= WARM) t[i - WARM] = 1e3 * (bench_wall_s() - t0);
    }
    printf("{\"workload\": \"gcn-%s\", \"ms\": %.4f, \"nodes\": %lld, \"nnz\": %lld}\n", name, bench_median(t, REPS),
           (long long)pl->num_nodes, (long long)lab_gnn_graph_gcn(g)->nnz);
    lab_optim_free(opt);
    lab_gnn_model_free(m);
    lab_params_free(p);
    lab_csr_release(xs);
    lab_tensor_release(xn);
    lab_gnn_graph_free(g);
    lab_dataset_free(ds);
}

/* --- GIN epoch -------------------------------------------------------------------- */

static void bench_gin(void)
{
    lab_dataset *ds = open_ds("tu:IMDB-BINARY");
    lab_tu *tu = ds->tu;
    lab_tensor *x = lab_tensor_own(lab_graph_degree_one_hot(tu->edges, tu->num_nodes, 135));
    lab_graph_set *set = x ? lab_graph_set_new(x, tu->edges, tu->graph_ptr, tu->graph_labels) : NULL;
    if (!set) die("graph set");
    lab_params *p = lab_params_new();
    lab_rng rng = lab_rng_make(0, 0);
    lab_gnn_model_cfg mc = lab_gnn_model_defaults(LAB_GNN_GIN, 5, 136, 64, 64);
    mc.batchnorm = 1, mc.last_act = 1;
    lab_gnn_model *m = lab_gnn_model_new(&mc, p, "gin", &rng);
    lab_linear_layer h0, h1;
    lab_linear_layer_init(&h0, p, "h0", 64, 64, 1, &rng);
    lab_linear_layer_init(&h1, p, "h1", 64, tu->num_classes, 1, &rng);
    lab_optim_config oc = lab_optim_defaults(LAB_OPTIM_ADAM);
    oc.lr = 1e-2f;
    lab_optim *opt = lab_optim_new(&oc, p);
    if (!m || !opt) die("model");
    int64_t G = tu->num_graphs, *ids = malloc((size_t)G * sizeof *ids);
    for (int64_t i = 0; i < G; i++) ids[i] = i;
    enum { WARM = 1, REPS = 7 };
    double t[REPS];
    for (int r = 0; r < WARM + REPS; r++) {
        double t0 = bench_wall_s();
        for (int64_t b0 = 0; b0 < G; b0 += 32) {
            int64_t n = b0 + 32 <= G ? 32 : G - b0;
            lab_graph_batch *b = lab_graph_set_batch(set, ids + b0, n);
            lab_gnn_graph *g = b ? lab_gnn_graph_new(b->edges, b->num_nodes, LAB_CPU) : NULL;
            if (!g) die("batch");
            lab_scope_begin();
            lab_tensor *h = lab_gnn_model_forward(m, g, b->x, NULL, 1, NULL, NULL);
            lab_tensor *z = lab_gnn_readout(h, b->batch, b->num_graphs, LAB_GNN_POOL_SUM);
            z = lab_linear_layer_forward(&h1, lab_relu(lab_linear_layer_forward(&h0, z)));
            lab_tensor *loss = lab_cross_entropy(z, b->y);
            if (!loss || lab_backward(loss) < 0 || lab_optim_step(opt) < 0) die("step");
            lab_optim_zero_grad(opt);
            lab_scope_end();
            lab_gnn_graph_free(g);
            lab_graph_batch_free(b);
        }
        if (r >= WARM) t[r - WARM] = 1e3 * (bench_wall_s() - t0);
    }
    printf("{\"workload\": \"gin-imdb-binary\", \"ms\": %.4f, \"graphs\": %lld}\n", bench_median(t, REPS), (long long)G);
    free(ids);
    lab_optim_free(opt);
    lab_gnn_model_free(m);
    lab_params_free(p);
    lab_graph_set_free(set);
    lab_tensor_release(x);
    lab_dataset_free(ds);
}

/* --- spmm on the GPU ------------------------------------------------------------------ */

static int bench_spmm_gpu(void)
{
    const char *why = lab_cuda_unavailable_reason();
    if (why && why[0]) {
        fprintf(stderr, "no CUDA device: %s\n", why);
        return 3;
    }
    lab_device dev = {LAB_DEV_CUDA, 0};
    int64_t n = 19717, nnz_target = 108365;
    /* Random symmetric graph with PubMed's size: (nnz - n) / 2 undirected pairs + self-loops. */
    int64_t pairs = (nnz_target - n) / 2;
    lab_rng rng = lab_rng_make(1, 0);
    int64_t *e = malloc((size_t)(4 * pairs) * sizeof *e);
    for (int64_t i = 0; i < pairs; i++) {
        int64_t u = (int64_t)lab_rng_next_below(&rng, (uint64_t)n), v = (int64_t)lab_rng_next_below(&rng, (uint64_t)n);
        e[i] = u, e[2 * pairs + i] = v, e[pairs + i] = v, e[3 * pairs + i] = u;
    }
    lab_tensor *edges = lab_tensor_from_data(LAB_I64, 2, (int64_t[]){2, 2 * pairs}, e, LAB_CPU);
    free(e);
    lab_gnn_graph *g = lab_gnn_graph_new(edges, n, dev);
    lab_csr *a = g ? lab_gnn_graph_gcn(g) : NULL;
    if (!a) die("graph on cuda");
    int64_t fs[2] = {64, 500};
    printf("{\"workload\": \"spmm-gpu\", \"nodes\": %lld, \"nnz\": %lld", (long long)n, (long long)a->nnz);
    for (int k = 0; k < 2; k++) {
        lab_tensor *x = lab_tensor_to(lab_rng_normal(&rng, 2, (int64_t[]){n, fs[k]}, 0, 1, LAB_CPU), dev);
        if (!x) die("features on cuda");
        enum { WARM = 10, REPS = 100 };
        double t[REPS];
        float sink;
        for (int i = 0; i < WARM + REPS; i++) {
            lab_scope_begin();
            double t0 = bench_wall_s();
            lab_tensor *y = lab_spmm(a, x);
            if (!y) die("spmm");
            lab_tensor_copy_to_host(lab_slice(y, 0, 0, 1), &sink); /* waits for the kernel */
            if (i >= WARM) t[i - WARM] = 1e3 * (bench_wall_s() - t0);
            lab_scope_end();
        }
        double ms = bench_median(t, REPS);
        printf(", \"f%lld_ms\": %.4f, \"f%lld_gflops\": %.2f", (long long)fs[k], ms, (long long)fs[k],
               2.0 * (double)a->nnz * (double)fs[k] / (ms * 1e6));
        lab_tensor_release(x);
    }
    printf("}\n");
    lab_gnn_graph_free(g);
    lab_tensor_release(edges);
    return 0;
}

/* --- dump ---------------------------------------------------------------------------- */

/* Raw little-endian int64 header then arrays; bench_virgo.py reads it. */
static void dump(const char *name, const char *path)
{
    lab_dataset *ds = open_ds(name);
    FILE *f = fopen(path, "wb");
    if (!f) die(path);
    if (ds->kind == LAB_DATA_NODES) {
        lab_planetoid *pl = ds->planetoid;
        lab_tensor *xn = lab_tensor_own(lab_gnn_row_normalize(pl->features));
        int64_t h[6] = {1, pl->num_nodes, pl->num_features, ds->num_classes, pl->edges->shape[1], pl->train_idx->numel};
        fwrite(h, sizeof h, 1, f);
        fwrite(lab_tensor_f32(xn), sizeof(float), (size_t)xn->numel, f);
        fwrite(lab_tensor_i64(pl->edges), sizeof(int64_t), (size_t)pl->edges->numel, f);
        fwrite(lab_tensor_i64(pl->labels), sizeof(int64_t), (size_t)pl->num_nodes, f);
        fwrite(lab_tensor_i64(pl->train_idx), sizeof(int64_t), (size_t)pl->train_idx->numel, f);
        lab_tensor_release(xn);
    } else {
        lab_tu *tu = ds->tu;
        int64_t h[6] = {2, tu->num_nodes, tu->num_graphs, tu->num_classes, tu->edges->shape[1], 0};
        fwrite(h, sizeof h, 1, f);
        fwrite(lab_tensor_i64(tu->edges), sizeof(int64_t), (size_t)tu->edges->numel, f);
        fwrite(lab_tensor_i64(tu->graph_ptr), sizeof(int64_t), (size_t)tu->num_graphs + 1, f);
        fwrite(lab_tensor_i64(tu->graph_labels), sizeof(int64_t), (size_t)tu->num_graphs, f);
    }
    if (fclose(f) != 0) die(path);
    lab_dataset_free(ds);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_virgo gcn NAME THREADS | gin THREADS | spmm-gpu THREADS | dump NAME PATH\n");
        return 2;
    }
    const char *w = argv[1];
    if (!strcmp(w, "dump") && argc == 4) {
        dump(argv[2], argv[3]);
        return 0;
    }
    lab_set_num_threads(atoi(argv[argc - 1]));
    if (!strcmp(w, "gcn") && argc == 4)
        bench_gcn(argv[2]);
    else if (!strcmp(w, "gin"))
        bench_gin();
    else if (!strcmp(w, "spmm-gpu"))
        return bench_spmm_gpu();
    else {
        fprintf(stderr, "bench_virgo: unknown workload '%s'\n", w);
        return 2;
    }
    return 0;
}
