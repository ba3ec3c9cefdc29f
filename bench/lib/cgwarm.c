/* cgwarm: keep cgroup v1's cgroup_threadgroup_rwsem "recently written" so that a runtime's
 * write to cgroup.procs does not wait for an RCU grace period (perf note §1).
 * usage: cgwarm DIR_A DIR_B [period_us]   -- hops its own pid between DIR_A/cgroup.procs and
 * DIR_B/cgroup.procs every period (default 2000 us) until killed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int open_procs(const char *dir) {
    char p[4096];
    snprintf(p, sizeof p, "%s/cgroup.procs", dir);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) { perror(p); exit(1); }
    return fd;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: cgwarm DIR_A DIR_B [period_us]\n"); return 2; }
    long period = argc > 3 ? atol(argv[3]) : 2000;
    int fd[2] = { open_procs(argv[1]), open_procs(argv[2]) };
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    struct timespec ts = { period / 1000000, (period % 1000000) * 1000 };
    for (unsigned i = 0;; i++) {
        if (write(fd[i & 1], pid, n) != n) { perror("write cgroup.procs"); return 1; }
        nanosleep(&ts, NULL);
    }
}
