/* CPU sparse primitives (being written). */
#include "cpu_int.h"

void lab_cpu_install_sparse(lab_backend *be) { (void)be; }
