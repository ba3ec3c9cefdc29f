/* Races against scrun's exec decision, run inside a container in enforce mode.
 *   race flip N   : a sibling thread flips the path buffer between GOOD and EVIL while execve runs
 *   race rename N : another process keeps renaming EVIL and GOOD copies over the exec'd path
 *   race write N  : another process keeps rewriting the exec'd file with EVIL's bytes
 *   race mmap N   : another process keeps flipping the exec'd file's marker in place through a
 *                   shared writable mapping (no write(2), so no modify event)
 *   race lease N  : no race: exec the file N times (scrun then skips the gate for it), open it
 *                   for writing (prints "lease-wait-ms=<ms>": how long that open waited), write
 *                   EVIL's bytes in place, exec it once more (must be denied)
 *   race plain N  : no race: exec GOOD (the control: every trial must run GOOD)
 * GOOD and EVIL are busybox copies ending in "\nSCRUN-RACE-GOOD\n" / "\nSCRUN-RACE-EVIL\n"; each
 * exec runs `sh -c 'tail -c 16 /proc/$$/exe'`, so the output names which file really ran.
 * Prints one line per trial: the marker, or "denied errno=<n>". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GOOD "/bin/busybox-good"
#define EVIL "/bin/busybox-evil"

static char pathbuf[64];
static volatile int stop;

static void *flipper(void *arg) {
    (void)arg;
    for (;;) {
        strcpy(pathbuf, EVIL);
        strcpy(pathbuf, GOOD);
    }
    return NULL;
}

static void copy(const char *from, const char *to) {
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s.tmp%d", to, getpid());
    int in = open(from, O_RDONLY), out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) write(out, buf, n);
    close(in);
    close(out);
    rename(tmp, to);
}

static char *envp[] = {"PATH=/bin", NULL};

/* Overwrites the last 16 bytes of `path` (the marker) with those of `from`, through a shared
 * writable mapping of `path`. */
static void mmap_marker(const char *from, const char *path) {
    char mark[16];
    int in = open(from, O_RDONLY);
    struct stat st;
    if (in < 0 || fstat(in, &st) < 0 || pread(in, mark, 16, st.st_size - 16) != 16) {
        if (in >= 0) close(in);
        return;
    }
    close(in);
    int fd = open(path, O_RDWR);
    if (fd < 0) return;
    if (fstat(fd, &st) == 0 && st.st_size >= 16) {
        char *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (p != MAP_FAILED) {
            memcpy(p + st.st_size - 16, mark, 16);
            munmap(p, st.st_size);
        }
        return;
    }
    close(fd);
}

static long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One trial: exec `path` in a child that prints which file ran; prints the marker, or
 * "denied errno=<n>" if the exec failed. With `flip`, a sibling thread of the exec'ing one
 * flips the path buffer between GOOD and EVIL while execve runs. */
static void trial(const char *path, int flip) {
    int pfd[2];
    pipe(pfd);
    pid_t c = fork();
    if (c == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        char *a[] = {"busybox", "sh", "-c", "tail -c 16 /proc/$$/exe", NULL};
        if (flip) {
            strcpy(pathbuf, GOOD);
            pthread_t t;
            pthread_create(&t, NULL, flipper, NULL);
            path = pathbuf;
        }
        execve(path, a, envp);
        printf("denied errno=%d\n", errno);
        fflush(stdout);
        _exit(0);
    }
    close(pfd[1]);
    char out[256] = {0};
    ssize_t k = read(pfd[0], out, sizeof out - 1);
    close(pfd[0]);
    waitpid(c, NULL, 0);
    if (k > 0) fputs(out, stdout);
    else puts("no-output");
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argv[1];
    int n = atoi(argv[2]);
    pid_t helper = 0;
    const char *target = "/tmp/racy";
    copy(GOOD, target);
    if (!strcmp(mode, "lease")) {
        for (int i = 0; i < n; i++) trial(target, 0);
        long t0 = now_ms();
        int out = open(target, O_WRONLY);
        printf("lease-wait-ms=%ld\n", now_ms() - t0);
        int in = open(EVIL, O_RDONLY);
        char buf[65536];
        ssize_t k;
        while (in >= 0 && out >= 0 && (k = read(in, buf, sizeof buf)) > 0) write(out, buf, k);
        close(in);
        close(out);
        trial(target, 0);
        return 0;
    }
    if (!strcmp(mode, "mmap")) {
        helper = fork();
        if (helper == 0) {
            for (;;) {
                mmap_marker(EVIL, target);
                mmap_marker(GOOD, target);
            }
        }
    }
    if (!strcmp(mode, "rename") || !strcmp(mode, "write")) {
        helper = fork();
        if (helper == 0) {
            for (;;) {
                if (!strcmp(mode, "rename")) {
                    copy(EVIL, target);
                    copy(GOOD, target);
                } else {
                    int in = open(EVIL, O_RDONLY), out = open(target, O_WRONLY);
                    char buf[65536];
                    ssize_t k;
                    if (out >= 0) {
                        while ((k = read(in, buf, sizeof buf)) > 0) write(out, buf, k);
                        close(out);
                    }
                    close(in);
                    copy(GOOD, target);
                }
            }
        }
    }
    int plain = !strcmp(mode, "plain"), flip = !strcmp(mode, "flip");
    for (int i = 0; i < n; i++) trial(plain ? GOOD : target, flip);
    if (helper) kill(helper, SIGKILL);
    return 0;
}
