/* data_int.h — internals shared by the dataset readers (framework/data).
 *
 * Every reader is split in two: a parser over a byte buffer (what the unit
 * tests and the libFuzzer targets in tests/fuzz drive directly) and a thin
 * public wrapper in lab/data.h that reads the file. `name` is the file name
 * the parser puts in its error messages.
 *
 * Buffers handed out (uint8_t **out) are malloc'd and owned by the caller.
 */
#ifndef LAB_DATA_INT_H
#define LAB_DATA_INT_H

#include <stddef.h>
#include <stdint.h>

#include "lab/data.h"

/* Upper bound on any decompressed file: far above MNIST (47 MB) but small
 * enough that a corrupt length or a decompression bomb fails cleanly. */
#define LAB_DATA_MAX_BYTES ((size_t)1 << 32)

/* --- inflate.c: RFC 1951 (DEFLATE) and RFC 1952 (gzip) ------------------- */

/* CRC-32 (IEEE 802.3, as in gzip) of n bytes, continuing from crc (0 to start). */
uint32_t lab_crc32(uint32_t crc, const void *p, size_t n);

/* Raw DEFLATE stream at in[0..n). On success *out (malloc'd, *out_len bytes)
 * and *consumed (bytes of `in` the stream used, through its final block's
 * last byte). Fails on any malformed or truncated stream, or when the output
 * would exceed max_out bytes. */
int lab_inflate_raw(const uint8_t *in, size_t n, const char *name, size_t max_out, uint8_t **out,
                    size_t *out_len, size_t *consumed);

/* One or more concatenated gzip members; header flags, CRC-32 and ISIZE are
 * checked, trailing bytes other than zero padding are an error. */
int lab_gunzip(const uint8_t *in, size_t n, const char *name, size_t max_out, uint8_t **out,
               size_t *out_len);

/* 1 when the buffer starts with the gzip magic 1f 8b. */
int lab_is_gzip(const uint8_t *in, size_t n);

/* Whole file into memory (at most max bytes). Errors: "<what>: cannot open
 * <path>: <strerror>", "<what>: <path> is larger than ...". */
int lab_data_read_file(const char *what, const char *path, size_t max, uint8_t **out, size_t *out_len);

/* lab_data_read_file, then gunzip when the content starts with the gzip magic. */
int lab_data_load(const char *what, const char *path, uint8_t **out, size_t *out_len);

/* --- idx.c ---------------------------------------------------------------- */

/* mode LAB_IDX_UBYTE: lab_idx_read semantics; LAB_IDX_ANY: lab_idx_read_f32. */
enum { LAB_IDX_UBYTE = 0, LAB_IDX_ANY = 1 };
lab_tensor *lab_idx_parse(const uint8_t *buf, size_t len, const char *name, int mode);

/* --- cifar.c -------------------------------------------------------------- */

/* Decode n whole records of buf into images (f32, n*3072 values), labels and
 * (CIFAR-100) coarse labels, after checking len and every label byte. */
int lab_cifar_parse(const uint8_t *buf, size_t len, const char *name, lab_cifar_kind kind, float *images,
                    int64_t *labels, int64_t *coarse, int64_t max_records, int64_t *n_records);

/* --- pickle.c: the subset of the pickle protocol the Planetoid files use --- */

/* An object of a loaded pickle; opaque outside pickle.c. */
typedef struct lab_pk lab_pk;
/* Every object of one load, freed together. Strings point into the input
 * buffer, which must outlive the arena. */
typedef struct lab_pk_arena lab_pk_arena;

/* Runs the opcodes Python 2's cPickle (protocol 2) wrote for the Planetoid
 * files: numpy arrays, scipy.sparse CSR matrices and defaultdict(list). Any
 * other opcode or global is an error naming `name`, the byte offset and the
 * opcode. Returns the root object (owned by *arena), or NULL with an error;
 * *arena must be freed with lab_pickle_free in both cases. */
lab_pk *lab_pickle_load(const uint8_t *buf, size_t len, const char *name, lab_pk_arena **arena);
void lab_pickle_free(lab_pk_arena *arena);

/* A numpy ndarray of 1 or 2 dims (numpy.core.multiarray._reconstruct + BUILD)
 * decoded to doubles: shape[1] = 1 for 1-D, *data malloc'd. */
int lab_pk_ndarray(const lab_pk *o, const char *name, int64_t shape[2], int *ndim, double **data);
/* A scipy.sparse.csr_matrix: shape, data (doubles), indices, indptr (malloc'd). */
int lab_pk_csr(const lab_pk *o, const char *name, int64_t shape[2], double **data, int64_t **indices,
               int64_t **indptr);
/* A dict or defaultdict(list) of int -> list of int: keys and the
 * concatenated lists in CSR form (malloc'd). */
int lab_pk_adjacency(const lab_pk *o, const char *name, int64_t *nkeys, int64_t **keys, int64_t **ptr,
                     int64_t **nbrs);

/* --- planetoid.c ---------------------------------------------------------- */

/* The eight Planetoid parts as buffers, in the order x, y, tx, ty, allx, ally,
 * graph, test.index; names[i] name them in errors. */
lab_planetoid *lab_planetoid_parse(const uint8_t *const bufs[8], const size_t lens[8],
                                   const char *const names[8]);

/* --- tu.c ------------------------------------------------------------------ */

/* The TU files as buffers: A, graph_indicator, graph_labels, and optionally
 * (NULL buffer) node_labels and node_attributes. */
lab_tu *lab_tu_parse(const uint8_t *const bufs[5], const size_t lens[5], const char *const names[5]);

/* --- ogb.c ------------------------------------------------------------------ */

/* An OGB CSV file's bytes as a matrix (lab_ogb_read_csv semantics): a new
 * owned f32 or i64 [rows, cols] tensor, or NULL with the error. */
lab_tensor *lab_ogb_parse_csv(const uint8_t *buf, size_t len, const char *name, lab_dtype dt, int64_t cols);

/* --- wav.c ----------------------------------------------------------------- */

lab_tensor *lab_wav_parse(const uint8_t *buf, size_t len, const char *name, lab_wav_info *info);

#endif
