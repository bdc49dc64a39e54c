/* lab/lab.h — everything a plugin or program needs.
 *
 * labrun's public C API, one header per concern:
 *   error.h     thread-local error messages
 *   tensor.h    tensors, devices, scopes, memory statistics
 *   ops.h       differentiable ops (elementwise, matmul, conv, attention, ...)
 *   autograd.h  grad mode, lab_backward, writing new ops, gradcheck
 *   rng.h       Philox random streams
 *   nn.h        parameter lists, initializers, layers
 *   optim.h     SGD/Adam/AdamW, lr schedules, clipping
 *   io.h        safetensors checkpoints
 */
#ifndef LAB_LAB_H
#define LAB_LAB_H

#define LAB_VERSION_MAJOR 0
#define LAB_VERSION_MINOR 1
#define LAB_VERSION_PATCH 0
#define LAB_VERSION "0.1.0"

#include "autograd.h"
#include "error.h"
#include "io.h"
#include "nn.h"
#include "ops.h"
#include "optim.h"
#include "rng.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The version the library was built as (compare with LAB_VERSION). */
const char *lab_version(void);
/* Threads used by CPU kernels (OpenMP); n <= 0 means all cores. */
void lab_set_num_threads(int n);
int lab_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif
