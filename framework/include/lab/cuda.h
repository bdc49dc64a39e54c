/* lab/cuda.h — controls of the CUDA backend, callable without linking CUDA.
 *
 * liblab reaches liblab_cuda.so through dlopen(); these functions load it on
 * first use and fail with lab_error() set ("no CUDA device: ...") when it
 * cannot be used, so a program links and runs the same with or without a GPU.
 * Tensors move with lab_tensor_to(t, dev); lab_cuda_unavailable_reason() and
 * lab_cuda_device_count() are in tensor.h.
 *
 *     lab_device gpu = {LAB_DEV_CUDA, 0};
 *     if (lab_cuda_device_count() == 0) printf("cpu only: %s\n", lab_cuda_unavailable_reason());
 *     lab_tensor *xg = lab_tensor_to(x, gpu);
 *     ...
 *     lab_cuda_synchronize(0);                 // before reading a wall clock
 *     size_t cur, peak;
 *     lab_cuda_memory_stats(0, &cur, &peak);   // bytes held from the driver
 *
 * Every call returns 0 (or the value documented) and -1 with the error set
 * on failure.
 */
#ifndef LAB_CUDA_H
#define LAB_CUDA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes the caching allocator holds from the driver on device dev (blocks
 * in use plus cached free blocks), now and at peak. lab_memory_stats()
 * counts the bytes of live tensors instead. */
int lab_cuda_memory_stats(int dev, size_t *current, size_t *peak);

/* Return device dev's cached free blocks to the driver (e.g. before handing
 * the GPU to another library). */
int lab_cuda_empty_cache(int dev);

/* Allow (on != 0) or forbid TF32 tensor-core math in matrix products on
 * every device. Off by default, so products match the CPU to f32 rounding;
 * on, a product's relative error grows to about 1e-3 and large sgemms run
 * several times faster. Returns the previous setting (0 or 1). */
int lab_cuda_set_tf32(int on);

/* Wait until every queued kernel and copy on device dev has finished;
 * reports an error of any earlier asynchronous kernel. */
int lab_cuda_synchronize(int dev);

/* One line describing device dev, e.g. "NVIDIA H200, 139.8 GiB, sm_90,
 * 132 SMs", into buf. */
int lab_cuda_device_info(int dev, char *buf, size_t len);

/* Page-locked (pinned) host memory of `bytes`: copies from it to a device
 * go by DMA without a staging copy (lab_tensor_copy_from_host then waits for
 * the copy, so the buffer may be refilled on return). NULL with the error
 * set when there is no CUDA backend or the driver refuses; free it with
 * lab_cuda_host_free (NULL is a no-op). lab_loader uses it for its staging
 * buffers when its device is cuda. */
void *lab_cuda_host_alloc(size_t bytes);
void lab_cuda_host_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
