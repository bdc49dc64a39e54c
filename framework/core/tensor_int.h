/* tensor_int.h — internals shared by core, autograd and op files. */
#ifndef LAB_TENSOR_INT_H
#define LAB_TENSOR_INT_H

#include "backend.h"
#include "lab/autograd.h"
#include "lab/error.h"
#include "lab/tensor.h"

struct lab_storage {
    int refcount; /* atomic via __atomic builtins */
    lab_device device;
    size_t bytes;
    void *ptr;
    const lab_backend *be;
};

/* A tensor object viewing `st` at byte offset `offset` (retains st). */
lab_tensor *lab_tensor_view_of(lab_storage *st, size_t offset, lab_dtype dt, int ndim,
                               const int64_t *shape, lab_device dev);
const lab_backend *lab_tensor_backend(const lab_tensor *t);

/* Memory accounting hooks for backends. */
void lab_mem_account(lab_device dev, long long delta);

/* Free an autograd node (releases what it retains). */
void lab_node_free(lab_node *node);

#endif
