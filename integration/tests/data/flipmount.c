/* flipmount SRC DST: bind-mounts SRC over DST and detaches it again, as fast as it can, until
 * killed: a file swap at a path that costs no exec per flip (the race an exec check must not
 * lose). Needs CAP_SYS_ADMIN in its mount namespace. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mount.h>

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: flipmount SRC DST\n");
        return 2;
    }
    for (;;) {
        if (mount(argv[1], argv[2], NULL, MS_BIND, NULL) != 0) {
            perror("flipmount: mount");
            return 1;
        }
        umount2(argv[2], MNT_DETACH);
    }
}
