/* execlat N: N x (posix_spawn /bin/true + waitpid), each timed; prints p50/p99/max in µs. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static int cmp(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 500;
    long *t = calloc(n, sizeof *t);
    char *args[] = {"true", NULL};
    for (int i = 0; i < n; i++) {
        struct timespec a, b;
        pid_t pid;
        int st;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (posix_spawn(&pid, "/bin/true", NULL, NULL, args, environ) != 0 ||
            waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            printf("exec failed at %d\n", i);
            return 1;
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[i] = (b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec);
    }
    qsort(t, n, sizeof *t, cmp);
    printf("p50_us=%.1f p99_us=%.1f max_us=%.1f\n", t[n / 2] / 1e3, t[n * 99 / 100] / 1e3,
           t[n - 1] / 1e3);
    return 0;
}
