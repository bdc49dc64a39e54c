/* gnn_int.h — internals shared by framework/nn/gnn_*.c. */
#ifndef LAB_GNN_INT_H
#define LAB_GNN_INT_H

#include "lab/gnn.h"

/* x Wᵀ for dense x [N, in] or a CSR xs [N, in] (exactly one non-NULL). */
lab_tensor *lab_gnn_project(lab_tensor *x, lab_csr *xs, lab_tensor *w);

/* The layers' forwards on dense or sparse input (exactly one non-NULL). */
lab_tensor *lab_gcn_forward_any(const lab_gcn_layer *l, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs);
lab_tensor *lab_sage_forward_any(const lab_sage_layer *l, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs);
lab_tensor *lab_gin_forward_any(const lab_gin_layer *l, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs, int training);
lab_tensor *lab_gat_forward_any(const lab_gat_layer *l, lab_gnn_graph *g, lab_tensor *x, lab_csr *xs);

#endif
