/* lab_memory_rss / lab_memory_reset_peak_rss: touching 64 MiB raises the
 * current and peak resident size by about that much; freeing it lowers the
 * current size; a reset brings the peak back down. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "labtest.h"

Test(rss, peak_follows_touched_memory_and_resets)
{
    size_t cur0, peak0, cur1, peak1, cur2, peak2, peak3;
    cr_assert_eq(lab_memory_rss(&cur0, &peak0), 0, "%s", lab_error());
    cr_assert(cur0 > 0 && peak0 >= cur0);
    size_t n = (size_t)64 << 20;
    /* mmap, not malloc: the allocator (tuned glibc, or ASan's quarantine)
     * may keep freed blocks resident, which is not what this test is about. */
    char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert(p != MAP_FAILED);
    memset(p, 1, n);
    cr_assert_eq(lab_memory_rss(&cur1, &peak1), 0);
    cr_assert(cur1 >= cur0 + n / 2, "rss %zu -> %zu after touching %zu bytes", cur0, cur1, n);
    cr_assert(peak1 >= cur1);
    munmap(p, n);
    cr_assert_eq(lab_memory_rss(&cur2, &peak2), 0);
    cr_assert(cur2 < cur1 - n / 2, "freeing 64 MiB left rss at %zu (was %zu)", cur2, cur1);
    cr_assert(peak2 >= cur1 - n / 8);
    cr_assert_eq(lab_memory_reset_peak_rss(), 0, "%s", lab_error());
    cr_assert_eq(lab_memory_rss(NULL, &peak3), 0);
    cr_assert(peak3 < peak2 - n / 2, "peak %zu after reset, %zu before", peak3, peak2);
}
