/* The optimizer constants of both backends come from here, so a CPU and a
 * CUDA step are bit-identical (tests/parity/test_parity_optim.c).
 *
 * lab_optim_decimal_of(f): the shortest decimal that rounds to f, as a
 * double (0.999f -> 0.999). Hyper-parameters arrive as floats; 1 - 0.999 is
 * 0.001f while 1 - (double)0.999f is 0.00099998713f, and PyTorch, whose
 * numbers the optimizer tests compare with, works from the decimal the user
 * wrote. Memoised per thread: a step asks for the same few values once per
 * parameter tensor. Included by kernels/cpu/cpu_optim.c (C) and
 * kernels/cuda/cuda_optim.cu (C++). */
#ifndef LAB_OPTIM_DECIMAL_H
#define LAB_OPTIM_DECIMAL_H

#include <stdio.h>
#include <stdlib.h>

#ifdef __cplusplus
#define LAB_OPTIM_TLS thread_local
#else
#define LAB_OPTIM_TLS _Thread_local
#endif

static inline double lab_optim_decimal_of(float f)
{
    enum { SLOTS = 8 };
    static LAB_OPTIM_TLS float key[SLOTS];
    static LAB_OPTIM_TLS double val[SLOTS];
    static LAB_OPTIM_TLS int used, next;
    for (int i = 0; i < used; i++)
        if (key[i] == f) return val[i];
    double d = (double)f;
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        if (strtof(buf, NULL) == f) {
            d = strtod(buf, NULL);
            break;
        }
    }
    if (f == f) { /* NaN never matches a key; do not cache it */
        key[next] = f;
        val[next] = d;
        next = (next + 1) % SLOTS;
        if (used < SLOTS) used++;
    }
    return d;
}

#endif
