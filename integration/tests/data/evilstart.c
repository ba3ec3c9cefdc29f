/* The "blocked program" of the mapping supervision tests: a static, non-PIE ELF without libc
 * (gcc -static -nostdlib -no-pie) that writes /tmp/EVIL-RAN and prints EVIL-RAN, whether it is
 * exec'd or mapped and jumped to by tests/data/maploader.c. Its SHA-256 is in the test feed. */
static long sys3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return r;
}

static const char marker[] = "/tmp/EVIL-RAN";
static const char msg[] = "EVIL-RAN SCRUN-MAPPINGS-EVIL\n";

void _start(void) {
    long fd = sys3(2 /* open */, (long)marker, 0101 /* O_WRONLY|O_CREAT */, 0644);
    if (fd >= 0) {
        sys3(1 /* write */, fd, (long)msg, sizeof msg - 1);
        sys3(3 /* close */, fd, 0, 0);
    }
    sys3(1 /* write */, 1, (long)msg, sizeof msg - 1);
    sys3(231 /* exit_group */, 0, 0, 0);
    for (;;)
        ;
}
