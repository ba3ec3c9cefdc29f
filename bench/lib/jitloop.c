/* JIT-like W^X flips: N times mprotect(page, RW) then mprotect(page, RX) on anonymous memory,
 * timed with CLOCK_MONOTONIC; prints the mean ns per flip pair. Under scrun with mappings on, the
 * RX mprotect is trapped (the filter cannot tell anonymous memory from a file) and found
 * anonymous by PROCMAP_QUERY: this is that cost. Static: gcc -O2 -static -o jitloop jitloop.c */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *p = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (mprotect(p, page, PROT_READ | PROT_WRITE) || (p[0] = 0xc3, 0) ||
            mprotect(p, page, PROT_READ | PROT_EXEC))
            return 2;
        ((void (*)(void))p)();
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
    printf("jit_flip_ns=%.0f n=%ld\n", ns / n, n);
    return 0;
}
