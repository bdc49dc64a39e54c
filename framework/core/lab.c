/* Library-wide settings: version and threads. */
#include <omp.h>

#include "lab/lab.h"

const char *lab_version(void) { return LAB_VERSION; }

void lab_set_num_threads(int n)
{
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
}

int lab_get_num_threads(void) { return omp_get_max_threads(); }
