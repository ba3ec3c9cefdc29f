/* Hostile exec calls for scrun's supervisor: each mode makes one exec call and prints
 * "<mode> rc=<ret> errno=<name>" (or the exec'd program's own output when it succeeds). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *ename(int e) {
    switch (e) {
    case EFAULT: return "EFAULT";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOENT: return "ENOENT";
    case EPERM: return "EPERM";
    case E2BIG: return "E2BIG";
    case ENOSYS: return "ENOSYS";
    case EACCES: return "EACCES";
    case ENOEXEC: return "ENOEXEC";
    default: return "OTHER";
    }
}

static int report(const char *mode, long rc) {
    printf("%s rc=%ld errno=%s\n", mode, rc, rc < 0 ? ename(errno) : "none");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    extern char **environ;
    if (argc < 2) return 2;
    const char *m = argv[1];
    char *targv[] = {"busybox", "echo", "exec-ok", NULL};
    if (!strcmp(m, "badptr"))
        return report(m, syscall(SYS_execve, (char *)16, targv, environ));
    if (!strcmp(m, "badargv"))
        return report(m, syscall(SYS_execve, "/bin/busybox", (char **)16, environ));
    if (!strcmp(m, "longpath")) {
        char *p = malloc(8192);
        memset(p, 'a', 8191);
        p[0] = '/';
        p[8191] = 0;
        return report(m, syscall(SYS_execve, p, targv, environ));
    }
    if (!strcmp(m, "nonul")) {
        long pg = sysconf(_SC_PAGESIZE);
        char *p = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        memset(p, 'a', pg);
        /* 100 bytes, no NUL, then an unmapped page: the kernel faults before PATH_MAX. */
        char *s = p + pg - 100;
        s[0] = '/';
        mprotect(p + pg, pg, PROT_NONE);
        return report(m, syscall(SYS_execve, s, targv, environ));
    }
    if (!strcmp(m, "manyargs")) {
        int n = 100000;
        char **a = calloc(n + 2, sizeof(char *));
        a[0] = "busybox";
        a[1] = "true";
        for (int i = 2; i < n; i++) a[i] = "x";
        a[n] = NULL;
        execve("/bin/busybox", a, environ);
        return report(m, -1);
    }
    if (!strcmp(m, "badutf8")) {
        char *a[] = {"busybox", "echo", "\xff\xfe-exec-ok", NULL};
        execve("/bin/busybox", a, environ);
        return report(m, -1);
    }
    if (!strcmp(m, "dirfd")) {
        int d = open("/bin", O_PATH | O_DIRECTORY);
        return report(m, syscall(SYS_execveat, d, "busybox", targv, environ, 0));
    }
    if (!strcmp(m, "emptypath")) {
        int f = open("/bin/busybox", O_PATH);
        return report(m, syscall(SYS_execveat, f, "", targv, environ, AT_EMPTY_PATH));
    }
    if (!strcmp(m, "memfd")) {
        int src = open("/bin/busybox", O_RDONLY);
        int mfd = memfd_create("payload", MFD_CLOEXEC);
        char buf[65536];
        ssize_t n;
        while ((n = read(src, buf, sizeof buf)) > 0) write(mfd, buf, n);
        return report(m, syscall(SYS_execveat, mfd, "", targv, environ, AT_EMPTY_PATH));
    }
    return 2;
}
