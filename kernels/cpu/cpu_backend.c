/* The CPU backend: each op family installs its primitives. */
#include <string.h>

#include "cpu_int.h"

void lab_cpu_backend_install(lab_backend *be)
{
    memset(be, 0, sizeof *be);
    be->abi = LAB_BACKEND_ABI;
    be->name = "cpu";
    lab_cpu_install_memory(be);
    lab_cpu_install_elementwise(be);
    lab_cpu_install_reduce(be);
    lab_cpu_install_blas(be);
    lab_cpu_install_norm(be);
    lab_cpu_install_conv(be);
    lab_cpu_install_index(be);
    lab_cpu_install_sparse(be);
    lab_cpu_install_random(be);
    lab_cpu_install_optim(be);
    lab_cpu_install_attention(be);
}
