/* fdexec SRC TMP ARGS...: copy SRC to TMP (in the container's writable layer), open it, unlink
 * it, and execveat(fd, "", ARGS, environ, AT_EMPTY_PATH): the exec'd file has no name left.
 * Prints "fdexec: <errno text>" and exits 126 when the exec is refused. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: fdexec SRC TMP ARGS...\n");
        return 2;
    }
    int in = open(argv[1], O_RDONLY);
    int out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (in < 0 || out < 0) {
        perror("open");
        return 2;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, n) != n) {
            perror("write");
            return 2;
        }
    close(in);
    close(out);
    int fd = open(argv[2], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || unlink(argv[2]) != 0) {
        perror("open/unlink");
        return 2;
    }
    syscall(SYS_execveat, fd, "", &argv[3], environ, AT_EMPTY_PATH);
    printf("fdexec: %s\n", strerror(errno));
    return 126;
}
