/* Races against scrun's exec decision, run inside a container in enforce mode.
 *   race flip N   : a sibling thread flips the path buffer between GOOD and EVIL while execve runs
 *   race rename N : another process keeps renaming EVIL and GOOD copies over the exec'd path
 *   race write N  : another process keeps rewriting the exec'd file with EVIL's bytes
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
#include <sys/wait.h>
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

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    setvbuf(stdout, NULL, _IONBF, 0);
    const char *mode = argv[1];
    int n = atoi(argv[2]);
    pid_t helper = 0;
    const char *target = "/tmp/racy";
    copy(GOOD, target);
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
    for (int i = 0; i < n; i++) {
        int pfd[2];
        pipe(pfd);
        pid_t c = fork();
        if (c == 0) {
            dup2(pfd[1], 1);
            close(pfd[0]);
            if (!strcmp(mode, "plain")) {
                char *a[] = {"busybox", "sh", "-c", "tail -c 16 /proc/$$/exe", NULL};
                execve(GOOD, a, envp);
            } else if (!strcmp(mode, "flip")) {
                strcpy(pathbuf, GOOD);
                pthread_t t;
                pthread_create(&t, NULL, flipper, NULL);
                char *a[] = {"busybox", "sh", "-c", "tail -c 16 /proc/$$/exe", NULL};
                execve(pathbuf, a, envp);
            } else {
                char *a[] = {"busybox", "sh", "-c", "tail -c 16 /proc/$$/exe", NULL};
                execve(target, a, envp);
            }
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
    if (helper) kill(helper, SIGKILL);
    return 0;
}
