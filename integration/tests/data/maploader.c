/* A userland loader, for the mapping supervision tests (integration/tests/mappings.rs).
 *
 *   maploader mmap FILE       map FILE's PT_LOAD segments with their own protection (the code
 *                             segment PROT_EXEC) and jump to its entry
 *   maploader mprotect FILE   map them PROT_READ, then mprotect each to its own protection
 *   maploader jit-anon        mmap(PROT_READ|PROT_EXEC, MAP_ANONYMOUS), mprotect of anonymous
 *                             memory without PROT_EXEC: nothing the filter traps
 *   maploader jit-mprotect    anonymous RW memory, a `ret` written into it, mprotect to RX, call
 *   maploader clone-newuser   clone(CLONE_NEWUSER): Docker's default profile refuses it through
 *                             an SCMP_CMP_MASKED_EQ condition (checks how the profile is loaded)
 *
 * FILE is a static, non-PIE ELF that needs nothing from its stack (tests/data/evilstart.c).
 * A refused mapping prints "map-refused: <errno name>" and exits 3 (mmap) or 4 (mprotect).
 * Built static-pie, so it lives far from the fixed addresses it maps. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

static int prot_of(Elf64_Word flags) {
    return (flags & PF_R ? PROT_READ : 0) | (flags & PF_W ? PROT_WRITE : 0) |
           (flags & PF_X ? PROT_EXEC : 0);
}

static int refused(const char *what, int code) {
    printf("map-refused: %s %s\n", what, strerrorname_np(errno));
    fflush(stdout);
    return code;
}

static int load(int via_mprotect, const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(path);
        return 2;
    }
    Elf64_Ehdr eh;
    Elf64_Phdr ph[32];
    if (pread(fd, &eh, sizeof eh, 0) != sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_phnum > 32 ||
        pread(fd, ph, eh.e_phnum * sizeof ph[0], eh.e_phoff) != (ssize_t)(eh.e_phnum * sizeof ph[0])) {
        fprintf(stderr, "%s: not an ELF this loader can map\n", path);
        return 2;
    }
    long page = sysconf(_SC_PAGESIZE);
    for (int i = 0; i < eh.e_phnum; i++) {
        if (ph[i].p_type != PT_LOAD)
            continue;
        unsigned long start = ph[i].p_vaddr & ~(page - 1);
        unsigned long delta = ph[i].p_vaddr - start;
        size_t len = ph[i].p_filesz + delta;
        int prot = prot_of(ph[i].p_flags);
        int first = via_mprotect ? PROT_READ : prot;
        void *p = mmap((void *)start, len, first, MAP_PRIVATE | MAP_FIXED_NOREPLACE, fd,
                       ph[i].p_offset - delta);
        if (p == MAP_FAILED)
            return refused("mmap", 3);
        if (via_mprotect && prot != PROT_READ && mprotect(p, len, prot) != 0)
            return refused("mprotect", 4);
    }
    printf("jumping\n");
    fflush(stdout);
    ((void (*)(void))eh.e_entry)();
    return 5; /* the entry point never returns */
}

static int jit(int via_mprotect) {
    long page = sysconf(_SC_PAGESIZE);
    if (!via_mprotect) {
        void *x = mmap(NULL, page, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        void *w = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (x == MAP_FAILED || w == MAP_FAILED || mprotect(w, page, PROT_READ) != 0)
            return refused("anonymous", 6);
        printf("jit-anon-ok\n");
        return 0;
    }
    unsigned char *code = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code == MAP_FAILED)
        return refused("anonymous", 6);
    code[0] = 0xc3; /* ret */
    if (mprotect(code, page, PROT_READ | PROT_EXEC) != 0)
        return refused("mprotect", 4);
    ((void (*)(void))code)();
    printf("jit-mprotect-ok\n");
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "mmap") == 0)
        return load(0, argv[2]);
    if (argc == 3 && strcmp(argv[1], "mprotect") == 0)
        return load(1, argv[2]);
    if (argc == 2 && strcmp(argv[1], "jit-anon") == 0)
        return jit(0);
    if (argc == 2 && strcmp(argv[1], "jit-mprotect") == 0)
        return jit(1);
    if (argc == 2 && strcmp(argv[1], "clone-newuser") == 0) {
        long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0)
            _exit(0);
        if (pid < 0) {
            printf("clone-newuser: %s\n", strerrorname_np(errno));
            return 0;
        }
        waitpid(pid, NULL, 0);
        printf("clone-newuser: created\n");
        return 0;
    }
    fprintf(stderr, "usage: maploader mmap|mprotect FILE | jit-anon | jit-mprotect | clone-newuser\n");
    return 2;
}
