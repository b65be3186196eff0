/* The latency of one dependent memory read over a working set of N MiB:
 * a pointer chase through a random cyclic permutation of cache lines, so
 * every load waits for the one before and no prefetcher can guess it.
 * This is the floor under any lookup that must read a cold cache line
 * (benches/RESULTS.md, "memory floor").
 *
 *   gcc -O2 benches/scripts/mem_chase.c -o /tmp/mem_chase
 *   taskset -c 1 /tmp/mem_chase MIB HUGE    # HUGE: 1 = MADV_HUGEPAGE, 0 = 4 KiB pages
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MIB HUGE(0|1)\n", argv[0]);
        return 2;
    }
    size_t mib = strtoul(argv[1], 0, 10);
    int huge = atoi(argv[2]);
    size_t lines = mib * 1024 * 1024 / 64, bytes = lines * 64, align = 2u << 20;
    char *raw = mmap(0, bytes + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED || lines < 2) {
        perror("mmap");
        return 1;
    }
    char *m = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    madvise(m, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
    memset(m, 0, bytes);
    uint32_t *perm = malloc(lines * sizeof *perm);
    for (size_t i = 0; i < lines; i++) perm[i] = i;
    uint64_t s = 88172645463325252ULL; /* xorshift64, fixed seed */
    for (size_t i = lines - 1; i > 0; i--) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        size_t j = s % (i + 1);
        uint32_t t = perm[i];
        perm[i] = perm[j], perm[j] = t;
    }
    for (size_t i = 0; i < lines; i++)
        *(char **)(m + (size_t)perm[i] * 64) = m + (size_t)perm[(i + 1) % lines] * 64;
    char *p = m + (size_t)perm[0] * 64;
    const size_t warm = 100000, steps = 5000000;
    for (size_t i = 0; i < warm; i++) p = *(char **)p;
    double t0 = now_ns();
    for (size_t i = 0; i < steps; i++) p = *(char **)p;
    double t1 = now_ns();
    printf("%zu MiB, %s pages: %.1f ns per dependent load (end %p)\n", mib,
           huge ? "huge" : "4 KiB", (t1 - t0) / steps, (void *)p);
    return 0;
}
