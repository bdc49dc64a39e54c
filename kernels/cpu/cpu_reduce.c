/* CPU reduce primitives (being written). */
#include "cpu_int.h"

void lab_cpu_install_reduce(lab_backend *be) { (void)be; }
