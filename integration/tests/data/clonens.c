/* clonens FLAGS: a raw clone(FLAGS | SIGCHLD) (what Docker's default seccomp profile filters on
 * its flags argument). Prints "clone: ok" or "clone: <errno text>". */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: clonens FLAGS\n");
        return 2;
    }
    unsigned long flags = strtoul(argv[1], NULL, 0);
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    if (pid < 0) {
        printf("clone: %s\n", strerror(errno));
        return 1;
    }
    waitpid((pid_t)pid, NULL, 0);
    printf("clone: ok\n");
    return 0;
}
