/* lab/lab.h — everything a plugin or program needs.
 *
 * labrun's public C API, one header per concern:
 *   error.h     thread-local error messages
 *   tensor.h    tensors, devices, scopes, memory statistics
 *   cuda.h      CUDA controls (memory stats, TF32, synchronize), no CUDA link
 *   ops.h       differentiable ops (elementwise, matmul, conv, attention, ...)
 *   rope.h      rotary position embedding (with explicit positions)
 *   autograd.h  grad mode, lab_backward, writing new ops, gradcheck
 *   rng.h       Philox random streams
 *   nn.h        parameter lists, initializers, layers
 *   optim.h     SGD/Adam/AdamW, lr schedules, clipping
 *   io.h        safetensors checkpoints
 *   metrics.h   accuracy, top-k, ROC-AUC, Hits@K, MRR, mean/std over seeds
 *   text_metrics.h  CIDEr-D and set F1 for generated text
 *   config.h    strict typed INI experiments, schemas, overrides, sweeps
 *   plugin.h    the plugin descriptor, LAB_PLUGIN(), the loader
 *   run.h       the run context (config, device, rng, log, progress,
 *               metrics, results, checkpoints) and running experiments
 *   data.h      file readers: IDX, CIFAR, Planetoid, TU, WAV (+ resampling)
 *   audio.h     FFT, STFT, mel filterbanks, log-mel features
 *   graph.h     CSR adjacency, normalisation, link splits, k-fold, graph batches
 *   loader.h    mini-batch loader (shuffle, augment, prefetch), data set registry
 *   gnn.h       GNN layers and stacks, graph statistics, Virgo/classic initializers
 *   ogb.h       Open Graph Benchmark data sets in their raw CSV format
 */
#ifndef LAB_LAB_H
#define LAB_LAB_H

#define LAB_VERSION_MAJOR 0
#define LAB_VERSION_MINOR 1
#define LAB_VERSION_PATCH 0
#define LAB_VERSION "0.1.0"

#include "audio.h"
#include "autograd.h"
#include "config.h"
#include "cuda.h"
#include "data.h"
#include "error.h"
#include "gnn.h"
#include "graph.h"
#include "io.h"
#include "loader.h"
#include "metrics.h"
#include "nn.h"
#include "ogb.h"
#include "ops.h"
#include "optim.h"
#include "plugin.h"
#include "rng.h"
#include "rope.h"
#include "run.h"
#include "tensor.h"
#include "text_metrics.h"

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
