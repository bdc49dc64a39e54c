/* lab/io.h — named tensors on disk in the safetensors format.
 *
 * The real format (https://github.com/huggingface/safetensors): 8-byte
 * little-endian header length, a JSON header {"name": {"dtype", "shape",
 * "data_offsets"}, "__metadata__": {...}}, raw little-endian data. Files are
 * written atomically (temp file, fsync, rename), so a crash never leaves a
 * half-written checkpoint under the final name.
 *
 *     const char *meta[] = {"format", "labrun-ckpt-1", "epoch", "3", NULL};
 *     lab_safetensors_save("ckpt.safetensors", params, meta);
 *     lab_params *loaded = lab_safetensors_load("ckpt.safetensors", LAB_CPU, NULL);
 */
#ifndef LAB_IO_H
#define LAB_IO_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* meta: NULL or key, value, key, value, ..., NULL (strings). Saves every
 * tensor of p, trainable or not, in list order, with "__metadata__" first
 * and the header padded with spaces to a multiple of 8 (as the reference
 * writer). Tensors may be on any device. */
int lab_safetensors_save(const char *path, const lab_params *p, const char *const *meta);

/* Loads all tensors (F32, I32, I64; others are an error naming the tensor),
 * in header order. Strict, like the reference reader: the header length
 * must fit the file, the header must be UTF-8 JSON with only the known
 * fields, and the tensors' data_offsets must match dtype x shape and tile
 * the data section exactly (no overlap, gap or trailing bytes). Every error
 * names the file and, where there is one, the tensor.
 * If meta_out is not NULL it receives a malloc'd NULL-terminated key/value
 * array (free with lab_safetensors_meta_free). Every loaded tensor is
 * added as trainable; copy them into a model with lab_params_load(). */
lab_params *lab_safetensors_load(const char *path, lab_device dev, char ***meta_out);
void lab_safetensors_meta_free(char **meta);

/* Write `data` (len bytes) to path atomically: a hidden temp file beside
 * it, fsync, rename over path, fsync of the directory. On failure the old
 * file (if any) is untouched and the temp file removed. */
int lab_file_write_atomic(const char *path, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
