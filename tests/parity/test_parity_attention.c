/* CPU vs CUDA: attention. On cuda, heads up to LAB_ATTN_MAX_D run the fused
 * kernels (kernels/cuda/cuda_attention.cu); the cpu runs the composed form
 * (framework/core/op_attention.c), so these tests check the fused path's
 * semantics against the composed one: masks that broadcast, causal with
 * Tq != Tk, queries that see no key, head sizes around the warp width.
 * Skipped without a usable cuda:0. */
#include "backend.h"
#include "parity.h"

/* Online softmax against max-subtracted softmax, and D-term dot products
 * summed in another order: a few float ulps per term, far below what a
 * wrong mask or index gives (O(1) errors). */
static const pt_tol ATT = {1e-5, 1e-4, 1e-5, 1e-4};

typedef struct {
    int causal, has_mask;
} at_arg;

static lab_tensor *attn_fn(lab_tensor *const *in, void *u)
{
    const at_arg *a = u;
    return lab_attention(in[0], in[1], in[2], a->has_mask ? in[3] : NULL, a->causal);
}

static void check_attn(const char *name, int64_t B, int64_t H, int64_t Tq, int64_t Tk, int64_t D, lab_tensor *mask,
                       int causal)
{
    lab_scope_begin();
    lab_tensor *q = lt_randn(1, 4, (int64_t[]){B, H, Tq, D});
    lab_tensor *k = lt_randn(2, 4, (int64_t[]){B, H, Tk, D});
    lab_tensor *v = lt_randn(3, 4, (int64_t[]){B, H, Tk, D});
    lab_tensor *in[4] = {q, k, v, mask};
    at_arg a = {causal, mask != NULL};
    pt_check(name, attn_fn, mask ? 4 : 3, in, 7u, &a, ATT);
    lab_scope_end();
}

Test(parity_attention, unmasked_and_causal)
{
    PT_REQUIRE_GPU();
    check_attn("no mask", 2, 3, 7, 7, 16, NULL, 0);
    check_attn("causal", 2, 3, 7, 7, 16, NULL, 1);
    check_attn("causal, more keys than queries", 1, 2, 5, 9, 32, NULL, 1);
    /* i + Tk - Tq < 0 for the first queries: they see nothing, output 0. */
    check_attn("causal, more queries than keys", 1, 2, 9, 5, 32, NULL, 1);
}

Test(parity_attention, head_sizes)
{
    PT_REQUIRE_GPU();
    check_attn("D = 1", 2, 2, 6, 6, 1, NULL, 1);
    check_attn("D = 33", 1, 4, 11, 13, 33, NULL, 0);
    check_attn("D = 100", 1, 2, 8, 8, 100, NULL, 1);
    check_attn("D = 128 (largest fused)", 1, 1, 17, 17, 128, NULL, 0);
    check_attn("D = 130 (composed on the device)", 1, 1, 5, 6, 130, NULL, 1);
}

Test(parity_attention, masks_broadcast_and_empty_rows)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    /* Key padding [B, 1, 1, Tk]: sample 1 sees its first 4 keys only. */
    float pad[2 * 7];
    for (int j = 0; j < 7; j++) pad[j] = 1.0f, pad[7 + j] = j < 4 ? 1.0f : 0.0f;
    lab_tensor *pm = lab_tensor_from_data(LAB_F32, 4, (int64_t[]){2, 1, 1, 7}, pad, LAB_CPU);
    check_attn("key padding mask", 2, 3, 5, 7, 24, pm, 0);
    check_attn("key padding mask and causal", 2, 3, 7, 7, 24, pm, 1);
    /* [Tq, Tk]: query 2 sees no key at all, query 0 one key. */
    float qm[4 * 6];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 6; j++) qm[i * 6 + j] = i == 2 ? 0.0f : (i == 0 ? (j == 3) : ((i + j) % 3 != 0));
    lab_tensor *m2 = lab_tensor_from_data(LAB_F32, 2, (int64_t[]){4, 6}, qm, LAB_CPU);
    check_attn("per-query mask with an empty row", 2, 2, 4, 6, 8, m2, 0);
    lab_scope_end();
}
