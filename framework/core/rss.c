/* Process resident memory (Linux /proc): the current and peak resident set
 * size, and a reset of the peak, for memory tables that compare methods run
 * one after another in one process (lab_memory_stats counts tensor bytes
 * only; this counts everything the process touched). Tested in
 * tests/unit/test_rss.c. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "lab/error.h"
#include "lab/tensor.h"

int lab_memory_rss(size_t *current, size_t *peak)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return lab_error_set("memory_rss: cannot read /proc/self/status (not Linux?)");
    char line[256];
    long long rss = -1, hwm = -1;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "VmRSS:", 6)) sscanf(line + 6, "%lld", &rss);
        if (!strncmp(line, "VmHWM:", 6)) sscanf(line + 6, "%lld", &hwm);
    }
    fclose(f);
    if (rss < 0 || hwm < 0) return lab_error_set("memory_rss: /proc/self/status lacks VmRSS or VmHWM");
    if (current) *current = (size_t)rss * 1024;
    if (peak) *peak = (size_t)hwm * 1024;
    return 0;
}

int lab_memory_reset_peak_rss(void)
{
    /* Give freed heap memory back first (the CPU allocator keeps up to its
     * trim threshold), so the new peak starts from what is really in use. */
    malloc_trim(0);
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f) return lab_error_set("memory_reset_peak_rss: cannot open /proc/self/clear_refs");
    int ok = fputs("5", f) >= 0;
    if (fclose(f) != 0 || !ok) return lab_error_set("memory_reset_peak_rss: writing /proc/self/clear_refs failed");
    return 0;
}
