/* lab/rope.h — rotary position embedding (RoPE) as a differentiable op.
 *
 * The "rotate half" convention of GPT-NeoX / Llama: for a head vector of
 * width D (even) at position p, the pairs (x[i], x[i + D/2]), i < D/2, are
 * rotated by the angle p * base^(-2i/D):
 *
 *     y[i]       = x[i] cos - x[i + D/2] sin
 *     y[i + D/2] = x[i] sin + x[i + D/2] cos
 *
 *     lab_tensor *q = ...;                         // [B, H, T, D]
 *     lab_tensor *pos = lab_tensor_arange(T, dev); // i64 [T], any values
 *     lab_tensor *qr = lab_rope(q, pos, 10000.0f);
 *
 * Positions are explicit so callers can leave gaps (PAL reserves an audio
 * slot whose positions the text skips). Tested by tests/unit/test_rope.c
 * (hand-computed rotation, norm preservation, relative-position property of
 * dot products, gradcheck).
 */
#ifndef LAB_ROPE_H
#define LAB_ROPE_H
#include "tensor.h"
#ifdef __cplusplus
extern "C" {
#endif
/* x f32 [..., T, D] with D even, pos i64 [T] -> same shape as x. The
 * backward pass is the inverse rotation of the output gradient. */
lab_tensor *lab_rope(lab_tensor *x, lab_tensor *pos, float base);
#ifdef __cplusplus
}
#endif
#endif
