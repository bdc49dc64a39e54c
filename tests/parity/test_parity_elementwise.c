/* CPU vs CUDA: elementwise ops (kernels/cuda/cuda_elementwise.cu).
 * Skipped without a usable cuda:0. */
#include "lab/rope.h"
#include "parity.h"

/* Pure IEEE arithmetic (add, sub, mul, div, compares, selects, copies, the
 * piecewise-linear activations): the kernels perform the CPU's exact
 * operation, so results must be bit-identical. */
static const pt_tol EXACT = {0, 0, 0, 0};
/* CUDA's expf/logf/erff/tanhf/powf/sinf are within 1-4 ulp of correctly
 * rounded, glibc's within 1; composed formulas (gelu, silu, softplus and
 * their derivatives) add a few roundings: 1e-5 relative is ~80 ulp, far
 * below what an indexing or formula error produces. atol covers results
 * that cancel to near zero. */
static const pt_tol TRANSC = {1e-6, 1e-5, 1e-6, 1e-5};

typedef lab_tensor *(*un_fn)(lab_tensor *);
static lab_tensor *apply_un(lab_tensor *const *in, void *user) { return ((un_fn)user)(in[0]); }

static void check_unary(const char *name, un_fn fn, lab_tensor *x, pt_tol tol)
{
    pt_check(name, apply_un, 1, &x, 1u, (void *)fn, tol);
}

static lab_tensor *leaky(lab_tensor *x) { return lab_leaky_relu(x, 0.1f); }
static lab_tensor *clamp(lab_tensor *x) { return lab_clamp(x, -0.5f, 0.75f); }
static lab_tensor *affine(lab_tensor *x) { return lab_affine(x, 1.7f, -0.3f); }
static lab_tensor *pow3(lab_tensor *x) { return lab_pow_scalar(x, 3.0f); }
static lab_tensor *pow_half(lab_tensor *x) { return lab_pow_scalar(x, 0.5f); }
static lab_tensor *pow_2_5(lab_tensor *x) { return lab_pow_scalar(x, 2.5f); }

Test(parity_elementwise, unary_ops_forward_and_backward)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    /* 4099 values: the float4 body and a scalar tail of 3. */
    int64_t n = 4099;
    lab_tensor *x = lt_randn(1, 1, &n);
    lab_tensor *pos = lt_rand(2, 1, &n, 0.05f, 4.0f); /* log, sqrt, rsqrt, fractional pow */
    lab_tensor *wide = lab_mul_scalar(lt_randn(3, 1, &n), 12.0f); /* crosses softplus's 20 threshold */
    check_unary("neg", lab_neg, x, EXACT);
    check_unary("abs", lab_abs, x, EXACT);
    check_unary("square", lab_square, x, EXACT);
    check_unary("relu", lab_relu, x, EXACT);
    check_unary("leaky_relu", leaky, x, EXACT);
    check_unary("clamp", clamp, x, EXACT);
    check_unary("affine", affine, x, EXACT);
    check_unary("exp", lab_exp, x, TRANSC);
    check_unary("log", lab_log, pos, TRANSC);
    check_unary("sqrt", lab_sqrt, pos, TRANSC);
    check_unary("rsqrt", lab_rsqrt, pos, TRANSC);
    check_unary("sin", lab_sin, x, TRANSC);
    check_unary("cos", lab_cos, x, TRANSC);
    check_unary("gelu", lab_gelu, x, TRANSC);
    check_unary("silu", lab_silu, x, TRANSC);
    check_unary("tanh", lab_tanh, x, TRANSC);
    check_unary("sigmoid", lab_sigmoid, x, TRANSC);
    check_unary("softplus", lab_softplus, wide, TRANSC);
    check_unary("pow 3", pow3, x, TRANSC);
    check_unary("pow 0.5", pow_half, pos, TRANSC);
    check_unary("pow 2.5", pow_2_5, pos, TRANSC);
    lab_scope_end();
}

typedef lab_tensor *(*bin_fn)(lab_tensor *, lab_tensor *);
static lab_tensor *apply_bin(lab_tensor *const *in, void *user) { return ((bin_fn)user)(in[0], in[1]); }

/* Forward exact; the gradient of a broadcast operand is summed over the
 * broadcast dims (reduce slot), whose f32 summation order differs from the
 * CPU's: 1e-5 of sums of a few hundred O(1) terms. */
static const pt_tol BCAST = {0, 0, 1e-5, 1e-5};

/* Every binary op on one pair of shapes; compares are not differentiable. */
static void check_binary_shapes(int na, const int64_t *sa, int nb, const int64_t *sb)
{
    lab_scope_begin();
    lab_tensor *a = lt_randn(10 + (uint64_t)na, na, sa), *b = lt_randn(20 + (uint64_t)nb, nb, sb);
    lab_tensor *bpos = lt_rand(30, nb, sb, 0.5f, 2.0f), *apos = lt_rand(31, na, sa, 0.5f, 2.0f);
    lab_tensor *ab[2] = {a, b}, *ab_div[2] = {a, bpos}, *ab_pow[2] = {apos, b};
    pt_check("add", apply_bin, 2, ab, 3u, (void *)lab_add, BCAST);
    pt_check("sub", apply_bin, 2, ab, 3u, (void *)lab_sub, BCAST);
    pt_check("mul", apply_bin, 2, ab, 3u, (void *)lab_mul, BCAST);
    /* The quotient is exact; its gradient -a/b^2 goes through the same ops. */
    pt_check("div", apply_bin, 2, ab_div, 3u, (void *)lab_div, TRANSC);
    pt_check("pow", apply_bin, 2, ab_pow, 3u, (void *)lab_pow, TRANSC);
    pt_check("maximum", apply_bin, 2, ab, 3u, (void *)lab_maximum, BCAST);
    pt_check("minimum", apply_bin, 2, ab, 3u, (void *)lab_minimum, BCAST);
    pt_check("gt", apply_bin, 2, ab, 0u, (void *)lab_gt, EXACT);
    pt_check("lt", apply_bin, 2, ab, 0u, (void *)lab_lt, EXACT);
    pt_check("eq", apply_bin, 2, ab, 0u, (void *)lab_eq, EXACT);
    lab_scope_end();
}

Test(parity_elementwise, binary_ops_with_broadcasting)
{
    PT_REQUIRE_GPU();
    /* Same shape (flat path, float4), bias add (2-D path), per-row scalar,
     * a scalar, a 3-D broadcast on both sides and a 4-D one (index path). */
    check_binary_shapes(2, (int64_t[]){37, 129}, 2, (int64_t[]){37, 129});
    check_binary_shapes(2, (int64_t[]){64, 300}, 1, (int64_t[]){300});
    check_binary_shapes(2, (int64_t[]){300, 70}, 2, (int64_t[]){300, 1});
    check_binary_shapes(2, (int64_t[]){5, 7}, 0, NULL);
    check_binary_shapes(3, (int64_t[]){4, 1, 5}, 2, (int64_t[]){3, 1});
    check_binary_shapes(4, (int64_t[]){2, 3, 1, 6}, 4, (int64_t[]){1, 3, 4, 1});
}

static lab_tensor *where_fn(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_where(lab_gt(in[0], in[1]), in[1], in[2]);
}

Test(parity_elementwise, where_broadcasts_and_routes_gradients)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    lab_tensor *c = lt_randn(40, 2, (int64_t[]){50, 80});
    lab_tensor *a = lt_randn(41, 1, (int64_t[]){80});
    lab_tensor *b = lt_randn(42, 2, (int64_t[]){50, 1});
    lab_tensor *in[3] = {c, a, b};
    pt_check("where", where_fn, 3, in, 6u, NULL, BCAST); /* a and b are broadcast */
    lab_scope_end();
}

static lab_tensor *transpose_fn(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_transpose(in[0], 0, 2);
}

static lab_tensor *permute_fn(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_permute(in[0], (const int[]){2, 0, 3, 1});
}

static lab_tensor *concat_fn(lab_tensor *const *in, void *user)
{
    (void)user;
    return lab_concat(2, in, 1);
}

static lab_tensor *slice_expand_fn(lab_tensor *const *in, void *user)
{
    (void)user;
    lab_tensor *s = lab_slice(in[0], 1, 2, 9);
    return lab_expand(lab_reshape(s, 3, (int64_t[]){6, 1, 7}), 3, (int64_t[]){6, 5, 7});
}

Test(parity_elementwise, strided_copies_are_exact)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    lab_tensor *x = lt_randn(50, 3, (int64_t[]){7, 9, 130});
    lab_tensor *x4 = lt_randn(51, 4, (int64_t[]){3, 4, 5, 6});
    lab_tensor *pair[2] = {lt_randn(52, 2, (int64_t[]){6, 3}), lt_randn(53, 2, (int64_t[]){6, 11})};
    lab_tensor *sl = lt_randn(54, 2, (int64_t[]){6, 12});
    pt_check("transpose", transpose_fn, 1, &x, 1u, NULL, EXACT);
    pt_check("permute", permute_fn, 1, &x4, 1u, NULL, EXACT);
    pt_check("concat", concat_fn, 2, pair, 3u, NULL, EXACT);
    /* The backward of expand sums: order may differ from the CPU's. */
    pt_check("slice+expand", slice_expand_fn, 1, &sl, 1u, NULL, (pt_tol){0, 0, 1e-6, 1e-6});
    lab_scope_end();
}

Test(parity_elementwise, large_and_empty_tensors)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    /* More elements than one grid covers (grid-stride loops), odd tail. */
    int64_t n = (1 << 24) + 3;
    lab_tensor *x = lt_rand(60, 1, &n, -2.0f, 2.0f), *y = lt_rand(61, 1, &n, -2.0f, 2.0f);
    lab_tensor *xy[2] = {x, y};
    pt_check("add (2^24+3)", apply_bin, 2, xy, 0u, (void *)lab_add, EXACT);
    check_unary("tanh (2^24+3)", lab_tanh, x, TRANSC);
    /* Empty tensors: no launch, no error, empty results. */
    int64_t z[2] = {0, 5};
    lab_tensor *e = lab_tensor_zeros(LAB_F32, 2, z, LAB_CPU);
    lab_tensor *ee[2] = {e, e};
    pt_check("add (empty)", apply_bin, 2, ee, 3u, (void *)lab_add, EXACT);
    check_unary("exp (empty)", lab_exp, e, EXACT);
    lab_scope_end();
}

Test(parity_elementwise, fill_cast_and_copies_roundtrip)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    int64_t n = 1001;
    lab_tensor *f = lab_tensor_full(LAB_F32, 1, &n, -2.5, PT_GPU);
    lab_tensor *fc = lab_tensor_full(LAB_F32, 1, &n, -2.5, LAB_CPU);
    pt_assert_match("fill f32", f, fc, 0, 0);
    lab_tensor *i64 = lab_tensor_full(LAB_I64, 1, &n, 123456789.0, PT_GPU);
    pt_assert_match("fill i64", i64, lab_tensor_full(LAB_I64, 1, &n, 123456789.0, LAB_CPU), 0, 0);
    lab_tensor *x = lab_mul_scalar(lt_randn(70, 1, &n), 1000.0f);
    lab_tensor *xg = lab_tensor_to(x, PT_GPU);
    /* f32 -> i32 -> i64 -> f32 truncates toward zero on both devices. */
    lab_tensor *rc = lab_tensor_cast(lab_tensor_cast(lab_tensor_cast(x, LAB_I32), LAB_I64), LAB_F32);
    lab_tensor *rg = lab_tensor_cast(lab_tensor_cast(lab_tensor_cast(xg, LAB_I32), LAB_I64), LAB_F32);
    pt_assert_match("cast chain", rg, rc, 0, 0);
    /* cpu -> cuda -> cuda (clone) -> cpu returns the same bits. */
    lab_tensor *back = lab_tensor_to(lab_tensor_clone(xg), LAB_CPU);
    float *a = pt_host(back), *b = pt_host(x);
    cr_assert_eq(memcmp(a, b, (size_t)n * sizeof *a), 0, "roundtrip changed values");
    free(a);
    free(b);
    lab_scope_end();
}

Test(parity_elementwise, accumulated_gradients_match)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    /* x used three times: backward accumulates (the accumulate slot). */
    int64_t sh[2] = {33, 65};
    lab_tensor *x = lt_randn(80, 2, sh);
    lab_tensor *xc = lab_tensor_detach(x), *xg = lab_tensor_to(x, PT_GPU);
    lab_tensor_set_requires_grad(xc, 1);
    lab_tensor_set_requires_grad(xg, 1);
    lab_tensor *lc = lab_sum_all(lab_add(lab_mul(xc, xc), lab_relu(xc)));
    lab_tensor *lg = lab_sum_all(lab_add(lab_mul(xg, xg), lab_relu(xg)));
    cr_assert_eq(lab_backward(lc), 0, "%s", lab_error());
    cr_assert_eq(lab_backward(lg), 0, "%s", lab_error());
    pt_assert_match("x.grad", xg->grad, xc->grad, 0, 0);
    lab_scope_end();
}

static lab_tensor *log_sigmoid(lab_tensor *x) { return lab_log(lab_sigmoid(x)); }

/* Tails where the formula, not the rounding, decides: gelu below -4, where
 * 1 + erf(x/sqrt2) cancels (both backends use erfc, so relative 1e-4 holds),
 * and sigmoid below -88.7, where e^-x overflows and 1/(1 + e^-x) is 0 while
 * the CPU's e^x/(1 + e^x) is a subnormal: log(sigmoid(x)) must stay near x,
 * not -inf. atol 1e-2 covers the subnormal's few significant bits. Forward
 * only for log-sigmoid: its backward divides by the subnormal and overflows
 * on both devices. */
Test(parity_elementwise, gelu_and_sigmoid_tails)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    int64_t n = 1000;
    lab_tensor *neg = lt_rand(5, 1, &n, -9.0f, -4.0f);
    lab_tensor *far = lt_rand(6, 1, &n, -95.0f, -89.0f);
    check_unary("gelu (x < -4)", lab_gelu, neg, (pt_tol){0, 1e-4, 0, 1e-4});
    pt_check("log sigmoid (x < -89)", apply_un, 1, &far, 0u, (void *)log_sigmoid, (pt_tol){1e-2, 1e-4, 0, 0});
    lab_scope_end();
}

/* RoPE runs on the device (it used to round-trip through the host). Angles
 * are formed in double on both sides; the device's pow/sincos differ from
 * glibc's by a couple of double ulp, which float rounding almost always
 * hides: 1e-6 relative. Positions with a gap (as PAL's) and large ones. */
static lab_tensor *rope_fn(lab_tensor *const *in, void *u)
{
    (void)u;
    return lab_rope(in[0], in[1], 10000.0f);
}

Test(parity_elementwise, rope_forward_and_backward)
{
    PT_REQUIRE_GPU();
    lab_scope_begin();
    lab_tensor *x = lt_randn(60, 4, (int64_t[]){2, 3, 7, 16});
    int64_t p[7] = {0, 1, 2, 9, 10, 11, 4000};
    lab_tensor *pos = lab_tensor_from_data(LAB_I64, 1, (int64_t[]){7}, p, LAB_CPU);
    lab_tensor *in[2] = {x, pos};
    pt_check("rope", rope_fn, 2, in, 1u, NULL, (pt_tol){1e-6, 1e-6, 1e-6, 1e-6});
    /* pos left on the host with x on the device: copied over by the op. */
    lab_tensor *yg = lab_rope(lab_tensor_to(x, PT_GPU), pos, 10000.0f);
    pt_assert_match("rope with pos on the host", yg, lab_rope(x, pos, 10000.0f), 1e-6, 1e-6);
    lab_scope_end();
}
