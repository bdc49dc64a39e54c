/* lab/tensor.h — n-dimensional tensors, storage, scopes.
 *
 * A tensor is contiguous and row-major, up to LAB_MAX_DIMS dims, of dtype
 * f32 (first class), i32 or i64 (labels, indices), on a device (cpu or
 * cuda:N). Its bytes live in a refcounted storage; views (reshape, a slice
 * along dim 0, detach) share it.
 *
 * Ownership: every function that returns a new tensor gives one reference.
 * Inside lab_scope_begin()/lab_scope_end() that reference belongs to the
 * scope and is dropped at its end, unless lab_keep() moves it out. Outside
 * any scope it belongs to the caller, who drops it with lab_tensor_release().
 *
 *     lab_scope_begin();
 *     lab_tensor *h = lab_relu(lab_linear(x, w1, b1));
 *     lab_tensor *loss = lab_cross_entropy(lab_linear(h, w2, b2), y);
 *     lab_backward(loss);
 *     float l = lab_tensor_item(loss);
 *     lab_scope_end();          // every temporary above is released here
 */
#ifndef LAB_TENSOR_H
#define LAB_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LAB_MAX_DIMS 6

typedef enum { LAB_F32 = 0, LAB_I32 = 1, LAB_I64 = 2 } lab_dtype;

typedef enum { LAB_DEV_CPU = 0, LAB_DEV_CUDA = 1 } lab_device_type;

typedef struct lab_device {
    lab_device_type type;
    int index; /* cuda ordinal; 0 for cpu */
} lab_device;

typedef struct lab_storage lab_storage;
typedef struct lab_node lab_node;

/* Fields are read-only for users: change them only through the API. */
typedef struct lab_tensor {
    lab_dtype dtype;
    int ndim;
    int64_t shape[LAB_MAX_DIMS];
    int64_t numel;
    lab_device device;
    lab_storage *storage; /* shared by views */
    size_t offset;        /* bytes from the start of the storage */
    int requires_grad;
    struct lab_tensor *grad; /* owned; accumulated by lab_backward() */
    lab_node *node;          /* op that produced it while recording, else NULL */
    int refcount;
} lab_tensor;

static const lab_device LAB_CPU = {LAB_DEV_CPU, 0};

size_t lab_dtype_size(lab_dtype dt);
const char *lab_dtype_name(lab_dtype dt);

/* "cpu", "cuda:0". */
const char *lab_device_str(lab_device d, char *buf, size_t len);
/* Parse "cpu", "cuda", "cuda:N" (not "auto"). Returns 0 or -1 with error. */
int lab_device_parse(const char *s, lab_device *out);
int lab_device_eq(lab_device a, lab_device b);

/* --- creation (all return a new reference, NULL on error) --------------- */

/* Uninitialised contents. shape has ndim entries; ndim == 0 is a scalar. */
lab_tensor *lab_tensor_empty(lab_dtype dt, int ndim, const int64_t *shape, lab_device dev);
lab_tensor *lab_tensor_zeros(lab_dtype dt, int ndim, const int64_t *shape, lab_device dev);
lab_tensor *lab_tensor_full(lab_dtype dt, int ndim, const int64_t *shape, double value, lab_device dev);
/* Copy `data` (host memory, numel * dtype size bytes) into a new tensor. */
lab_tensor *lab_tensor_from_data(lab_dtype dt, int ndim, const int64_t *shape, const void *data, lab_device dev);
/* Convenience: a 1-D/2-D f32 tensor on cpu from host floats. */
lab_tensor *lab_tensor_from_f32(const float *data, int ndim, const int64_t *shape);
lab_tensor *lab_tensor_scalar(float v, lab_device dev);
/* 0, 1, ..., n-1 as i64. */
lab_tensor *lab_tensor_arange(int64_t n, lab_device dev);

lab_tensor *lab_tensor_empty_like(const lab_tensor *t);
lab_tensor *lab_tensor_zeros_like(const lab_tensor *t);

/* Deep copy to a device (a new storage even when the device is the same).
 * Recorded by autograd. */
lab_tensor *lab_tensor_to(lab_tensor *t, lab_device dev);
lab_tensor *lab_tensor_clone(lab_tensor *t);
/* New tensor sharing storage, never requiring grad. */
lab_tensor *lab_tensor_detach(lab_tensor *t);
/* Convert dtype (f32 <-> i32 <-> i64; floats truncate toward zero). */
lab_tensor *lab_tensor_cast(lab_tensor *t, lab_dtype dt);

/* --- references ---------------------------------------------------------- */

lab_tensor *lab_tensor_retain(lab_tensor *t);
void lab_tensor_release(lab_tensor *t);

/* --- scopes -------------------------------------------------------------- */

/* Scopes nest (per thread). */
void lab_scope_begin(void);
void lab_scope_end(void);
/* Move t out of the innermost scope, into the enclosing one, or to the
 * caller when there is none. Returns t (NULL passes through). */
lab_tensor *lab_keep(lab_tensor *t);
/* Take t out of every scope of this thread: the caller now owns the
 * reference (used for parameters and long-lived state). Returns t. */
lab_tensor *lab_tensor_own(lab_tensor *t);
/* Depth of the scope stack of this thread (0 = none). */
int lab_scope_depth(void);

/* --- access -------------------------------------------------------------- */

/* Host pointer to the first element; NULL (with error) when the tensor is
 * not on the cpu. */
void *lab_tensor_data(const lab_tensor *t);
float *lab_tensor_f32(const lab_tensor *t);
int64_t *lab_tensor_i64(const lab_tensor *t);
int32_t *lab_tensor_i32(const lab_tensor *t);
/* Device pointer (cpu or cuda) for backends and kernels. */
void *lab_tensor_raw(const lab_tensor *t);

/* Copy all elements to host memory `dst` (numel * dtype size bytes). */
int lab_tensor_copy_to_host(const lab_tensor *t, void *dst);
/* Overwrite contents from host memory. */
int lab_tensor_copy_from_host(lab_tensor *t, const void *src);
/* Copy src's contents into dst (same shape and dtype, any devices). Not
 * recorded by autograd: use it for parameters and buffers. */
int lab_tensor_copy_(lab_tensor *dst, const lab_tensor *src);
/* Set every element (not recorded). */
int lab_tensor_fill_(lab_tensor *t, double value);

/* The single value of a 1-element tensor as float (NAN on error). */
float lab_tensor_item(const lab_tensor *t);

/* dim may be negative (-1 = last). Returns the normalized dim or -1. */
int lab_tensor_dim(const lab_tensor *t, int dim);
int lab_tensor_same_shape(const lab_tensor *a, const lab_tensor *b);
/* "[128, 784]" into buf; returns buf. */
const char *lab_tensor_shape_str(const lab_tensor *t, char *buf, size_t len);
/* "f32[128, 784]" — handy in messages. */
const char *lab_tensor_desc(const lab_tensor *t, char *buf, size_t len);

/* Mark a leaf as a parameter (requires_grad) or not. */
void lab_tensor_set_requires_grad(lab_tensor *t, int on);
/* Drop the accumulated gradient. */
void lab_tensor_zero_grad(lab_tensor *t);

/* Bytes allocated through the tensor allocator on a device now and at peak
 * since start or the last reset. */
void lab_memory_stats(lab_device dev, size_t *current, size_t *peak);
void lab_memory_reset_peak(lab_device dev);

/* Resident memory of the whole process (host RAM, not only tensors) in bytes,
 * now and at its peak (Linux VmRSS / VmHWM). Either pointer may be NULL. -1
 * with an error where /proc is unavailable. The reset returns freed heap
 * memory to the system (malloc_trim) and makes the peak the current size
 * (writes 5 to /proc/self/clear_refs), so the peak of one phase of a run
 * can be measured. */
int lab_memory_rss(size_t *current, size_t *peak);
int lab_memory_reset_peak_rss(void);

/* "" when a cuda device can be used, else one sentence saying why not (no
 * liblab_cuda.so, no driver, no GPU, driver too old, ...). */
const char *lab_cuda_unavailable_reason(void);
/* Number of cuda devices (0 when unavailable). */
int lab_cuda_device_count(void);

#ifdef __cplusplus
}
#endif
#endif
