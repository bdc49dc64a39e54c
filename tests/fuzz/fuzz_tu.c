/* libFuzzer target: the TUDataset text parser (framework/data/tu.c). The
 * input holds the files separated by NUL bytes in the order A,
 * graph_indicator, graph_labels, node_labels, node_attributes; absent
 * optional parts are absent files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../framework/data/data_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *bufs[5] = {0};
    size_t lens[5] = {0};
    static const uint8_t empty[1] = {0};
    int k = 0;
    size_t start = 0;
    for (size_t i = 0; i <= size && k < 5; i++)
        if (i == size || data[i] == 0) {
            bufs[k] = data + start;
            lens[k++] = i - start;
            start = i + 1;
        }
    for (int i = 0; i < 3; i++)
        if (!bufs[i]) bufs[i] = empty;
    lab_tu *t = lab_tu_parse(bufs, lens, NULL);
    if (t) {
        const int64_t *e = lab_tensor_i64(t->edges), *g = lab_tensor_i64(t->graph_of_node);
        for (int64_t i = 0; i < 2 * t->num_edges; i++)
            if (e[i] < 0 || e[i] >= t->num_nodes) abort();
        for (int64_t i = 0; i < t->num_edges; i++)
            if (g[e[i]] != g[e[t->num_edges + i]]) abort();
        lab_tu_free(t);
    }
    return 0;
}
