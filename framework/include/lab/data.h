/* lab/data.h — readers for the data sets' real file formats.
 *
 * These are the only parsers of data files in labrun: plugins call them and
 * never parse a format themselves. Every reader checks magic numbers, sizes
 * and counts against the file length; a missing, truncated or corrupt file
 * returns NULL and sets lab_error() to a message naming the file and what was
 * wrong (never a crash, never exit):
 *
 *     // MNIST / Fashion-MNIST (raw or .gz, detected by magic)
 *     lab_tensor *x = lab_idx_read("data/mnist/train-images-idx3-ubyte.gz"); // f32 [60000,28,28], 0..255
 *     lab_tensor *y = lab_idx_read("data/mnist/train-labels-idx1-ubyte.gz"); // i64 [60000]
 *     if (!x || !y) { fprintf(stderr, "error: %s\n", lab_error()); ... }
 *
 *     // CIFAR-10 training set: data_batch_1..5.bin in one call
 *     lab_cifar *c = lab_cifar_read_dir("data/cifar-10-batches-bin", LAB_CIFAR10, 1);
 *     // c->images f32 [50000,3,32,32] 0..255, c->labels i64 [50000]
 *     lab_cifar_free(c);
 *
 *     // Cora with the standard Planetoid split (as in GCN and PyG)
 *     lab_planetoid *g = lab_planetoid_read("data/planetoid", "cora");
 *     // g->features f32 [2708,1433], g->edges i64 [2,10556], g->train_idx i64 [140]
 *     lab_planetoid_free(g);
 *
 *     lab_tu *m = lab_tu_read("data/tu/MUTAG", "MUTAG");       // 188 graphs
 *     lab_tu_free(m);
 *
 *     lab_wav_info info;
 *     lab_tensor *a = lab_wav_read("0_jackson_0.wav", &info);  // f32 [frames] in [-1,1]
 *     lab_tensor *a16 = lab_wav_resample(a, info.sample_rate, 16000);
 *
 * Ownership: a reader returning a lab_tensor behaves like any op (the
 * reference belongs to the current scope, or to the caller outside scopes).
 * Tensors inside a returned struct belong to the struct (they are in no
 * scope) and are released by its _free function; lab_tensor_retain() one to
 * keep it longer. All tensors are on the cpu.
 */
#ifndef LAB_DATA_H
#define LAB_DATA_H

#include <stdint.h>

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* --- IDX (MNIST, Fashion-MNIST) ------------------------------------------ */

/* An unsigned-byte IDX file, gzip-compressed or not. A 1-D file gives i64
 * labels [n]; otherwise f32 raw values 0..255 of the file's shape [n, d1, ...].
 * Another element type is an error (see lab_idx_read_f32). */
lab_tensor *lab_idx_read(const char *path);

/* Any IDX element type (ubyte, sbyte, short, int, float, double; big-endian
 * as the format specifies) converted to f32, in the file's shape (1-D
 * included). Values of int above 2^24 and of double lose precision. */
lab_tensor *lab_idx_read_f32(const char *path);

/* --- CIFAR-10 / CIFAR-100 binary version --------------------------------- */

/* Record layouts: CIFAR-10 is 1 label byte (0..9) + 3072 pixel bytes (1024 R,
 * 1024 G, 1024 B, each 32x32 row-major); CIFAR-100 is 1 coarse byte (0..19),
 * 1 fine byte (0..99) + 3072 pixel bytes. */
typedef enum { LAB_CIFAR10 = 10, LAB_CIFAR100 = 100 } lab_cifar_kind;

typedef struct lab_cifar {
    int64_t n;           /* records */
    lab_tensor *images;  /* f32 [n, 3, 32, 32], raw values 0..255 */
    lab_tensor *labels;  /* i64 [n]: the CIFAR-10 class, or the CIFAR-100 fine label */
    lab_tensor *coarse;  /* i64 [n]: CIFAR-100 coarse label; NULL for CIFAR-10 */
} lab_cifar;

/* The records of paths[0..npaths), concatenated in that order. */
lab_cifar *lab_cifar_read(const char *const *paths, int npaths, lab_cifar_kind kind);
/* The standard files of an extracted archive directory: CIFAR-10 train =
 * data_batch_1.bin .. data_batch_5.bin, test = test_batch.bin; CIFAR-100
 * train = train.bin, test = test.bin. */
lab_cifar *lab_cifar_read_dir(const char *dir, lab_cifar_kind kind, int train);
void lab_cifar_free(lab_cifar *c);

/* --- Planetoid (Cora, CiteSeer, PubMed) ---------------------------------- */

/* The GCN/PyG preprocessing of `ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}`:
 * features = vstack(allx, tx) with the test rows put at their test.index ids;
 * CiteSeer's test ids with no test row (isolated nodes) get zero features
 * and label 0, as in PyG; labels = argmax of the one-hot rows (0 for an
 * all-zero row); split train = 0..20*C-1 (range(len(y))), val = the next
 * 500, test = the test.index ids sorted; edges from the graph dict, both
 * directions, duplicates and self-loops removed, sorted by (row, col) as
 * PyG's coalesce. Inconsistent parts (row counts, widths, class counts,
 * duplicate or out-of-range test ids, graph ids that are not nodes) are an
 * error naming the file. */
typedef struct lab_planetoid {
    int64_t num_nodes;      /* N */
    int64_t num_features;   /* F */
    int64_t num_classes;    /* C */
    int64_t num_edges;      /* E, directed (each undirected edge twice) */
    lab_tensor *features;   /* f32 [N, F], dense */
    lab_tensor *labels;     /* i64 [N] in 0..C-1 */
    lab_tensor *edges;      /* i64 [2, E]: row 0 source, row 1 target */
    lab_tensor *train_idx;  /* i64 [len(y)] */
    lab_tensor *val_idx;    /* i64 [500] */
    lab_tensor *test_idx;   /* i64 [len(test.index)], ascending */
} lab_planetoid;

/* name: "cora", "citeseer" or "pubmed" (any case); dir holds the ind.* files. */
lab_planetoid *lab_planetoid_read(const char *dir, const char *name);
void lab_planetoid_free(lab_planetoid *p);

/* --- TUDataset text format (MUTAG, PROTEINS, ENZYMES, NCI1, IMDB-*) ------ */

/* dir/<name>_A.txt, _graph_indicator.txt, _graph_labels.txt and, when
 * present, _node_labels.txt and _node_attributes.txt (values separated by
 * "," or ", ", 1-based ids). Checked: every edge endpoint is a node and both
 * ends are in the same graph, the graph indicator is non-decreasing and
 * gives every graph at least one node, and the per-node files have one line
 * per node (a mismatch names the file and line). As PyG's TUDataset, the
 * edges are coalesced: self-loops and repeated lines dropped, sorted by
 * (source, target), so each graph's edges are one contiguous run (IMDB-*
 * list every edge twice; the other sets are unchanged). */
typedef struct lab_tu {
    int64_t num_nodes;       /* N */
    int64_t num_edges;       /* E: directed edges after coalescing */
    int64_t num_edge_lines;  /* lines of _A.txt (the count the TUDataset tables give) */
    int64_t num_graphs;      /* G */
    int64_t num_classes;     /* C: distinct graph labels */
    int64_t num_node_labels; /* max+1 of the shifted node labels; 0 without the file */
    int64_t num_node_attributes; /* D; 0 without the file */
    lab_tensor *edges;        /* i64 [2, E], 0-based node ids */
    lab_tensor *edge_ptr;     /* i64 [G+1]: graph g owns edges edge_ptr[g] .. edge_ptr[g+1]-1 */
    lab_tensor *graph_of_node;/* i64 [N], 0-based graph id, non-decreasing */
    lab_tensor *graph_ptr;    /* i64 [G+1]: graph g has nodes graph_ptr[g] .. graph_ptr[g+1]-1 */
    lab_tensor *graph_labels; /* i64 [G]: file labels remapped to 0..C-1 in ascending order
                                 (MUTAG: -1 -> 0, 1 -> 1), as PyG does */
    int64_t *class_values;    /* [C]: the file's label of each class (owned by the struct) */
    lab_tensor *node_labels;  /* i64 [N]: the file's value minus its minimum (as PyG), or NULL */
    lab_tensor *node_attributes; /* f32 [N, D] or NULL */
} lab_tu;

lab_tu *lab_tu_read(const char *dir, const char *name);
void lab_tu_free(lab_tu *t);

/* --- WAV ------------------------------------------------------------------ */

typedef struct lab_wav_info {
    int sample_rate;   /* Hz */
    int channels;      /* in the file; the samples returned are downmixed to mono */
    int bits;          /* 8, 16, 24, 32 (PCM) or 32 (float) */
    int is_float;      /* 1 for IEEE float */
    int64_t frames;    /* samples per channel */
} lab_wav_info;

/* RIFF/WAVE, PCM 8 (unsigned), 16, 24, 32-bit or IEEE float 32-bit, any
 * channel count (also WAVE_FORMAT_EXTENSIBLE with a PCM/float subformat):
 * f32 [frames] in [-1, 1] (PCM scaled by 2^(bits-1)), channels averaged.
 * info may be NULL. Compressed formats (ADPCM, mu-law, ...) are an error
 * naming the format tag. */
lab_tensor *lab_wav_read(const char *path, lab_wav_info *info);

/* Band-limited resampling of a 1-D f32 signal from from_rate to to_rate Hz
 * (any positive integer rates) with a Kaiser-windowed sinc: resampy's
 * "kaiser_best" design (64 zero crossings each side, cutoff 0.9476 of the
 * lower Nyquist frequency, beta 14.77). Measured at 16 -> 8 kHz: flat within
 * 1e-6 dB up to 0.875 of the new Nyquist, -0.02 dB at 0.90, -6 dB at 0.95,
 * and tones at or above the Nyquist are attenuated by more than 140 dB
 * (float32 rounding is the floor). Output length ceil(n * to / from);
 * samples beyond the ends count as zero. Equal rates return a copy. */
lab_tensor *lab_wav_resample(lab_tensor *x, int from_rate, int to_rate);

#ifdef __cplusplus
}
#endif
#endif
