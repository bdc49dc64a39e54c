/* CPU elementwise primitives (being written). */
#include "cpu_int.h"

void lab_cpu_install_elementwise(lab_backend *be) { (void)be; }
