/* rusage-run OUT PROG ARGS...: fork+exec PROG, wait4 it, write one line to OUT:
 *   wall_ns cpu_user_us cpu_sys_us maxrss_kib exit_code
 * CPU and maxrss cover PROG and every child it waited for (wait4 semantics). A small static
 * parent keeps the pre-exec RSS that ru_maxrss inherits from the forking process negligible (a
 * python parent would add its own ~15 MiB to every figure). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: rusage-run OUT PROG ARGS...\n"); return 2; }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 1; }
    if (pid == 0) { execv(argv[2], argv + 2); perror(argv[2]); _exit(127); }
    int st; struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0) { perror("wait4"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    FILE *f = fopen(argv[1], "w");
    if (!f) { perror(argv[1]); return 1; }
    long long wall = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    fprintf(f, "%lld %lld %lld %ld %d\n", wall,
            (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
            (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, ru.ru_maxrss, code);
    return fclose(f) == 0 ? 0 : 1;
}
