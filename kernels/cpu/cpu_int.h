/* cpu_int.h — the CPU backend's families install their primitives here. */
#ifndef LAB_CPU_INT_H
#define LAB_CPU_INT_H

#include "backend.h"

void lab_cpu_install_memory(lab_backend *be);      /* cpu_memory.c */
void lab_cpu_install_elementwise(lab_backend *be); /* cpu_elementwise.c */
void lab_cpu_install_reduce(lab_backend *be);      /* cpu_reduce.c */
void lab_cpu_install_blas(lab_backend *be);        /* cpu_blas.c */
void lab_cpu_install_norm(lab_backend *be);        /* cpu_norm.c */
void lab_cpu_install_conv(lab_backend *be);        /* cpu_conv.c */
void lab_cpu_install_index(lab_backend *be);       /* cpu_index.c */
void lab_cpu_install_sparse(lab_backend *be);      /* cpu_sparse.c */
void lab_cpu_install_random(lab_backend *be);      /* cpu_random.c */
void lab_cpu_install_optim(lab_backend *be);       /* cpu_optim.c */
void lab_cpu_install_attention(lab_backend *be);   /* cpu_attention.c */

/* Below this many elements a loop runs on one thread: OpenMP start-up costs
 * more than it saves. */
#define LAB_CPU_PAR_MIN 32768

#endif
