/* bench_pal.c — step time and peak tensor memory of PLITS vs LAL (pal
 * plugin) at Na audio tokens: one training step (forward + backward) of an
 * L=6, d=128 LM with Nt=32 text tokens, batch 4, best of 3 after a warm-up.
 * Prints one JSON object per Na; tests/bench/suite_pal.sh collects them.
 *
 *   bench_pal <threads> <device> <Na>...
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../plugins/pal/pal_model.c"
#include "../../plugins/pal/pal_table.c"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_pal <threads> <cpu|cuda> <Na>...\n");
        return 2;
    }
    omp_set_num_threads(atoi(argv[1]));
    lab_device dev;
    if (lab_device_parse(argv[2], &dev) < 0) {
        fprintf(stderr, "bench_pal: %s\n", lab_error());
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        int64_t na = atoll(argv[i]);
        double tp, mp, tl, ml;
        if (pal_measure_step(6, 128, 4, 128, 32, 4, na, 0, 3, dev, &tp, NULL, &mp) < 0 ||
            pal_measure_step(6, 128, 4, 128, 32, 4, 0, na, 3, dev, &tl, NULL, &ml) < 0) {
            fprintf(stderr, "bench_pal: %s\n", lab_error());
            return 1;
        }
        printf("{\"na\": %lld, \"device\": \"%s\", \"plits_step_ms\": %.3f, \"lal_step_ms\": %.3f, \"plits_peak_mib\": %.2f, "
               "\"lal_peak_mib\": %.2f, \"step_ratio\": %.3f, \"mem_ratio\": %.3f}\n",
               (long long)na, argv[2], 1e3 * tp, 1e3 * tl, mp / 1048576, ml / 1048576, tl / tp, ml / mp);
        fflush(stdout);
    }
    return 0;
}
