/* CPU vs CUDA: index_select, embedding, gather, scatter_add, one_hot and
 * the segment ops (kernels/cuda/cuda_index.cu). Skipped without a usable
 * cuda:0. */
#include "backend.h"
#include "parity.h"

/* Copies are exact. Accumulations with repeated indices (index_add under
 * embedding/index_select backward, scatter_add, segment sums) add the same
 * O(1) terms in another order (atomics): 1e-6 absolute and relative for
 * sums of a few dozen terms. */
static const pt_tol COPY = {0, 0, 1e-6, 1e-6};
static const pt_tol ACC = {1e-6, 1e-6, 1e-6, 1e-6};

typedef struct {
    int dim;
    int64_t n;
} ix_arg;

static lab_tensor *index_select_fn(lab_tensor *const *in, void *u)
{
    return lab_index_select(in[0], ((ix_arg *)u)->dim, in[1]);
}
static lab_tensor *embedding_fn(lab_tensor *const *in, void *u)
{
    (void)u;
    return lab_embedding(in[0], in[1]);
}
static lab_tensor *gather_fn(lab_tensor *const *in, void *u) { return lab_gather(in[0], ((ix_arg *)u)->dim, in[1]); }
static lab_tensor *scatter_fn(lab_tensor *const *in, void *u)
{
    return lab_scatter_add(in[0], ((ix_arg *)u)->dim, in[1], in[2]);
}
static lab_tensor *one_hot_fn(lab_tensor *const *in, void *u) { return lab_one_hot(in[0], ((ix_arg *)u)->n); }
static lab_tensor *seg_sum_fn(lab_tensor *const *in, void *u) { return lab_segment_sum(in[0], in[1], ((ix_arg *)u)->n); }
static lab_tensor *seg_mean_fn(lab_tensor *const *in, void *u) { return lab_segment_mean(in[0], in[1], ((ix_arg *)u)->n); }
static lab_tensor *seg_max_fn(lab_tensor *const *in, void *u) { return lab_segment_max(in[0], in[1], ((ix_arg *)u)->n); }
static lab_tensor *seg_softmax_fn(lab_tensor *const *in, void *u)
{
    return lab_segment_softmax(in[0], in[1], ((ix_arg *)u)->n);
}

Test(parity_index, index_select_and_embedding)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    lab_tensor *x = lt_randn(1, 3, (int64_t[]){4, 50, 6});
    lab_tensor *idx = lt_randint(2, 1, (int64_t[]){77}, 50); /* repeats: the backward accumulates */
    lab_tensor *in[2] = {x, idx};
    ix_arg d1 = {1, 0}, d0 = {0, 0}, d2 = {2, 0};
    pt_check("index_select dim 1", index_select_fn, 2, in, 1u, &d1, ACC);
    lab_tensor *idx4 = lt_randint(3, 1, (int64_t[]){9}, 4), *in0[2] = {x, idx4};
    pt_check("index_select dim 0", index_select_fn, 2, in0, 1u, &d0, ACC);
    lab_tensor *idx6 = lt_randint(4, 1, (int64_t[]){11}, 6), *in2[2] = {x, idx6};
    pt_check("index_select dim 2", index_select_fn, 2, in2, 1u, &d2, ACC);
    lab_tensor *emb = lt_randn(5, 2, (int64_t[]){1000, 64});
    lab_tensor *tok = lt_randint(6, 2, (int64_t[]){32, 40}, 1000);
    lab_tensor *et[2] = {emb, tok};
    pt_check("embedding", embedding_fn, 2, et, 1u, NULL, ACC);
    lab_scope_end();
}

Test(parity_index, gather_scatter_add_one_hot)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    lab_tensor *x = lt_randn(10, 3, (int64_t[]){5, 30, 7});
    lab_tensor *idx = lt_randint(11, 3, (int64_t[]){5, 45, 7}, 30);
    lab_tensor *src = lt_randn(12, 3, (int64_t[]){5, 45, 7});
    ix_arg d1 = {1, 0};
    lab_tensor *xi[2] = {x, idx}, *xis[3] = {x, idx, src};
    pt_check("gather dim 1", gather_fn, 2, xi, 1u, &d1, ACC);
    pt_check("scatter_add dim 1", scatter_fn, 3, xis, 5u, &d1, ACC);
    lab_tensor *lab = lt_randint(13, 1, (int64_t[]){300}, 10);
    ix_arg c10 = {0, 10};
    pt_check("one_hot", one_hot_fn, 1, &lab, 0u, &c10, COPY);
    lab_scope_end();
}

Test(parity_index, segment_ops)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    /* 40 segments, ids unsorted, segments 37..39 empty. */
    int64_t n = 500, f = 24;
    lab_tensor *x = lt_randn(20, 2, (int64_t[]){n, f});
    lab_tensor *seg = lt_randint(21, 1, &n, 37);
    lab_tensor *xs[2] = {x, seg};
    ix_arg ns = {0, 40};
    pt_check("segment_sum", seg_sum_fn, 2, xs, 1u, &ns, ACC);
    pt_check("segment_mean", seg_mean_fn, 2, xs, 1u, &ns, ACC);
    /* max: the first row holding the maximum, value and gradient exact;
     * empty segments give 0. */
    pt_check("segment_max", seg_max_fn, 2, xs, 1u, &ns, (pt_tol){0, 0, 0, 0});
    lab_tensor *tied = lab_tensor_cast(lt_randint(22, 2, (int64_t[]){n, f}, 3), LAB_F32), *ts[2] = {tied, seg};
    pt_check("segment_max with ties", seg_max_fn, 2, ts, 1u, &ns, (pt_tol){0, 0, 0, 0});
    lab_tensor *sx = lt_randn(23, 1, &n), *ss[2] = {sx, seg};
    pt_check("segment_softmax", seg_softmax_fn, 2, ss, 1u, &ns, (pt_tol){1e-6, 1e-5, 1e-6, 1e-5});
    lab_scope_end();
}

Test(parity_index, segment_min_slot)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    /* MIN has no public op: call the slot on both backends. */
    const lab_backend *cpu = lab_backend_cpu(), *gpu = lab_backend_get(PT_GPU);
    cr_assert_not_null(gpu, "%s", lab_error());
    int64_t n = 300, f = 5, nseg = 17;
    lab_tensor *x = lab_tensor_cast(lt_randint(30, 2, (int64_t[]){n, f}, 4), LAB_F32); /* ties */
    lab_tensor *seg = lt_randint(31, 1, &n, 15);                                       /* 15, 16 empty */
    lab_tensor *xg = lab_tensor_to(x, PT_GPU), *segg = lab_tensor_to(seg, PT_GPU);
    int64_t osh[2] = {nseg, f};
    lab_tensor *yc = lab_tensor_empty(LAB_F32, 2, osh, LAB_CPU), *yg = lab_tensor_empty(LAB_F32, 2, osh, PT_GPU);
    lab_tensor *ac = lab_tensor_empty(LAB_I64, 2, osh, LAB_CPU), *ag = lab_tensor_empty(LAB_I64, 2, osh, PT_GPU);
    cpu->segment_reduce(LAB_RED_MIN, n, f, lab_tensor_raw(yc), lab_tensor_raw(ac), lab_tensor_raw(x),
                        lab_tensor_raw(seg), nseg);
    gpu->segment_reduce(LAB_RED_MIN, n, f, lab_tensor_raw(yg), lab_tensor_raw(ag), lab_tensor_raw(xg),
                        lab_tensor_raw(segg), nseg);
    pt_assert_match("segment min values", yg, yc, 0, 0);
    pt_assert_match("segment min rows", ag, ac, 0, 0);
    lab_scope_end();
}

/* An out-of-range index on cuda is checked on the device: the op returns, and
 * the next wait for the device (here lab_cuda_synchronize; a copy to the
 * host works the same) fails with the cpu's sentence. A backend that checks
 * at once (the cpu table behind tests/parity/fake_cuda_backend.c) fails at
 * the op instead; both are accepted. Afterwards the device works again. */
static void expect_index_error(const char *what, lab_tensor *y, const char *want)
{
    int at_op = y == NULL;
    if (!at_op) cr_assert_lt(lab_cuda_synchronize(0), 0, "%s: the bad index was not reported", what);
    cr_assert(strstr(lab_error(), want) != NULL, "%s: error \"%s\" lacks \"%s\"", what, lab_error(), want);
    cr_assert_eq(lab_cuda_synchronize(0), 0, "%s: the error was reported twice: %s", what, lab_error());
}

Test(parity_index, out_of_range_indices_are_reported_at_the_next_wait)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    lab_tensor *x = lab_tensor_to(lt_randn(40, 2, (int64_t[]){5, 3}), PT_GPU);
    int64_t bad[4] = {0, 4, 7, 9};
    lab_tensor *idx = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){4}, bad, PT_GPU);
    expect_index_error("index_select", lab_index_select(x, 0, idx),
                       "index_select: index 7 at position 2 is out of range [0, 5)");
    /* The earliest failing check is the one reported. */
    int64_t neg[3] = {1, -2, 1};
    lab_tensor *idx2 = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){3}, neg, PT_GPU);
    lab_tensor *y1 = lab_embedding(x, idx2);
    lab_tensor *y2 = y1 ? lab_index_select(x, 0, idx) : NULL;
    expect_index_error("two bad ops", y2, "index -2 at position 1 is out of range [0, 5)");
    /* Labels, reported by a copy to the host. */
    int64_t lab[3] = {2, 3, 1};
    lab_tensor *labels = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){3}, lab, PT_GPU);
    lab_tensor *logits = lab_tensor_to(lt_randn(41, 2, (int64_t[]){3, 3}), PT_GPU);
    lab_tensor *loss = lab_cross_entropy(logits, labels);
    if (loss) {
        float v = lab_tensor_item(loss);
        cr_assert(v != v, "item() of a loss with a bad label must fail, got %g", v);
    }
    cr_assert(strstr(lab_error(), "cross_entropy: label 3 at position 1 is out of range [0, 3)") != NULL, "%s",
              lab_error());
    /* In range again: results are right and nothing is pending. */
    int64_t good[2] = {4, 0};
    lab_tensor *idx3 = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){2}, good, PT_GPU);
    lab_tensor *y = lab_index_select(x, 0, idx3);
    cr_assert_not_null(y, "%s", lab_error());
    lab_tensor *want = lab_index_select(lab_tensor_to(x, LAB_CPU), 0, lab_tensor_to(idx3, LAB_CPU));
    pt_assert_match("index_select after an error", y, want, 0, 0);
    lab_scope_end();
}
