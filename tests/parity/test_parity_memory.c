/* The CUDA backend's memory side: caching allocator, copies, statistics,
 * errors (kernels/cuda/cuda_backend.cu, framework/core/cuda_api.c). GPU
 * tests skip without a usable cuda:0; the last test checks the CPU-only
 * path: every lab/cuda.h call fails with the loader's reason. */
#include "backend.h"
#include "lab/loader.h"
#include "parity.h"

Test(parity_memory, copies_roundtrip_and_overlap)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    int64_t n = 3 * 1000 * 1000 + 1;
    lab_tensor *x = lt_randn(1, 1, &n);
    lab_tensor *g = lab_tensor_to(x, PT_GPU);
    lab_tensor *g2 = lab_tensor_clone(g); /* device to device */
    lab_tensor *back = lab_tensor_to(g2, LAB_CPU);
    pt_assert_match("h2d, d2d, d2h roundtrip", g2, x, 0, 0);
    float *a = pt_host(back), *b = pt_host(x);
    cr_assert_eq(memcmp(a, b, (size_t)n * sizeof *a), 0);
    /* Overlapping device-to-device copy through the slot: memmove
     * semantics, as the CPU backend. */
    const lab_backend *be = lab_backend_get(PT_GPU);
    float *d = lab_tensor_raw(g2);
    cr_assert_eq(be->copy_d2d(0, d + 1, d, 1000 * sizeof(float)), 0, "%s", lab_error());
    cr_assert_eq(be->copy_d2h(0, a, d, 1001 * sizeof(float)), 0, "%s", lab_error());
    cr_assert_eq(memcmp(a + 1, b, 1000 * sizeof *a), 0, "overlapping copy is not a memmove");
    cr_assert_eq(a[0], b[0]);
    free(a);
    free(b);
    lab_scope_end();
}

Test(parity_memory, caching_allocator_reuses_and_reports)
{
    PT_REQUIRE_GPU();
    size_t cur0, peak0, cur1, peak1, cur2, peak2;
    cr_assert_eq(lab_cuda_empty_cache(0), 0, "%s", lab_error());
    cr_assert_eq(lab_cuda_memory_stats(0, &cur0, &peak0), 0, "%s", lab_error());
    int64_t n = 64 << 20; /* 256 MiB */
    lab_tensor *t = lab_tensor_empty(LAB_F32, 1, &n, PT_GPU);
    cr_assert_not_null(t, "%s", lab_error());
    void *p = lab_tensor_raw(t);
    lab_memory_stats(PT_GPU, &cur1, NULL);
    cr_assert(cur1 >= (size_t)n * 4, "live tensor bytes %zu", cur1);
    lab_tensor_release(t);
    cr_assert_eq(lab_cuda_memory_stats(0, &cur1, &peak1), 0);
    /* Freed blocks stay cached: held bytes do not drop. */
    cr_assert(cur1 >= cur0 + (size_t)n * 4, "held %zu after free (was %zu)", cur1, cur0);
    cr_assert(peak1 >= cur1);
    /* The same size class comes back: the same block. */
    lab_tensor *u = lab_tensor_empty(LAB_F32, 1, &n, PT_GPU);
    cr_assert_eq(lab_tensor_raw(u), p, "a cached block of the class was not reused");
    lab_tensor_release(u);
    cr_assert_eq(lab_cuda_empty_cache(0), 0);
    cr_assert_eq(lab_cuda_memory_stats(0, &cur2, &peak2), 0);
    cr_assert(cur2 + (size_t)n * 4 <= cur1, "empty_cache kept %zu bytes", cur2);
    cr_assert_eq(peak2, peak1, "the peak survives empty_cache");
}

Test(parity_memory, out_of_memory_is_an_error_not_a_crash)
{
    PT_REQUIRE_GPU();
    /* 2^45 floats = 128 TiB: more than any device; the allocator retries
     * after emptying its cache, then reports. */
    int64_t n = (int64_t)1 << 45;
    lab_error_clear();
    lab_tensor *t = lab_tensor_empty(LAB_F32, 1, &n, PT_GPU);
    cr_assert_null(t);
    lt_assert_error_contains("out of memory");
    /* The device still works afterwards. */
    int64_t m = 10;
    lab_tensor *ok = lab_tensor_full(LAB_F32, 1, &m, 1.5, PT_GPU);
    cr_assert_not_null(ok, "%s", lab_error());
    lab_tensor *s = lab_sum_all(ok);
    cr_assert_eq(lab_tensor_item(s), 15.0f, "%s", lab_error());
    lab_tensor_release(s);
    lab_tensor_release(ok);
}

Test(parity_memory, device_info_and_synchronize)
{
    PT_REQUIRE_GPU();
    char info[256];
    cr_assert_eq(lab_cuda_device_info(0, info, sizeof info), 0, "%s", lab_error());
    cr_assert(strstr(info, "sm_") != NULL, "info: %s", info);
    cr_log_info("cuda:0 is %s", info);
    cr_assert_eq(lab_cuda_synchronize(0), 0, "%s", lab_error());
    cr_assert_eq(lab_cuda_memory_stats(lab_cuda_device_count(), NULL, NULL), -1);
    lt_assert_error_contains("no cuda:");
}

Test(parity_memory, without_a_gpu_every_call_says_why)
{
    if (lab_cuda_device_count() > 0) cr_skip_test("a CUDA device is present: this checks the CPU-only path");
    const char *why = lab_cuda_unavailable_reason();
    cr_assert(why[0] != '\0', "no device but no reason");
    size_t cur = 1, peak = 1;
    cr_assert_eq(lab_cuda_memory_stats(0, &cur, &peak), -1);
    cr_assert_str_eq(lab_error(), why);
    cr_assert_eq(lab_cuda_set_tf32(1), -1);
    cr_assert_eq(lab_cuda_synchronize(0), -1);
    cr_assert_eq(lab_cuda_empty_cache(0), -1);
    char buf[64];
    cr_assert_eq(lab_cuda_device_info(0, buf, sizeof buf), -1);
    cr_assert_null(lab_cuda_host_alloc(64));
    cr_assert_str_eq(lab_error(), why);
    lab_cuda_host_free(NULL);
    /* A tensor on cuda fails with the same reason, it does not crash. */
    int64_t n = 4;
    cr_assert_null(lab_tensor_zeros(LAB_F32, 1, &n, PT_GPU));
    cr_assert_str_eq(lab_error(), why);
}

/* A loader with device = cuda hands out the cpu loader's batches, on the
 * device, with and without prefetching (the worker thread then does the
 * copies from its pinned staging buffer). */
static float *loader_epochs(lab_tensor *x, lab_tensor *y, lab_device dev, int prefetch, int64_t *labels_out)
{
    lab_loader_cfg c = lab_loader_defaults(7); /* 50 = 7 batches of 7 + one of 1 */
    c.prefetch = prefetch;
    c.scale = 0.5f;
    c.device = dev;
    lab_rng rng = lab_rng_make(5, 0);
    lab_loader *l = lab_loader_new(x, y, &c, &rng);
    cr_assert_not_null(l, "%s", lab_error());
    float *out = malloc(2 * 50 * 3 * sizeof *out);
    int64_t k = 0, kl = 0;
    for (int e = 0; e < 2; e++) {
        lab_tensor *bx, *by;
        int rc;
        for (;;) {
            lab_scope_begin(); /* takes the batch */
            rc = lab_loader_next(l, &bx, &by);
            if (rc <= 0) {
                lab_scope_end();
                break;
            }
            cr_assert(lab_device_eq(bx->device, dev) && lab_device_eq(by->device, dev), "batch on the wrong device");
            float *h = pt_host(bx), *hl = pt_host(by);
            memcpy(out + k, h, (size_t)bx->numel * sizeof *h);
            for (int64_t i = 0; i < by->numel; i++) labels_out[kl++] = (int64_t)hl[i];
            k += bx->numel;
            free(h);
            free(hl);
            lab_scope_end();
        }
        cr_assert_eq(rc, 0, "%s", lab_error());
    }
    cr_assert_eq(k, 2 * 50 * 3);
    lab_loader_free(l);
    return out;
}

Test(parity_memory, loader_on_the_device_gives_the_cpu_batches)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    lab_tensor *x = lt_randn(70, 2, (int64_t[]){50, 3});
    lab_tensor *y = lt_randint(71, 1, (int64_t[]){50}, 10);
    int64_t lc[100], lg[100], lg0[100];
    float *c = loader_epochs(x, y, LAB_CPU, 2, lc);
    float *g = loader_epochs(x, y, PT_GPU, 2, lg);
    float *g0 = loader_epochs(x, y, PT_GPU, 0, lg0);
    cr_assert_eq(memcmp(c, g, 300 * sizeof *c), 0, "prefetched device batches differ from the cpu's");
    cr_assert_eq(memcmp(c, g0, 300 * sizeof *c), 0, "device batches without prefetch differ from the cpu's");
    cr_assert_eq(memcmp(lc, lg, sizeof lc), 0, "labels differ");
    cr_assert_eq(memcmp(lc, lg0, sizeof lc), 0, "labels differ (no prefetch)");
    free(c);
    free(g);
    free(g0);
    /* Pinned memory through the public call. */
    void *p = lab_cuda_host_alloc(1 << 20);
    cr_assert_not_null(p, "%s", lab_error());
    lab_cuda_host_free(p);
    lab_scope_end();
}
