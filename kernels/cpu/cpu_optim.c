/* CPU optim primitives (being written). */
#include "cpu_int.h"

void lab_cpu_install_optim(lab_backend *be) { (void)be; }
