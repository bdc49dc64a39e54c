/* CPU norm primitives (being written). */
#include "cpu_int.h"

void lab_cpu_install_norm(lab_backend *be) { (void)be; }
