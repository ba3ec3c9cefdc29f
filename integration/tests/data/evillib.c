/* A library whose constructor writes /tmp/LIB-RAN and prints LIB-RAN when it is loaded
 * (LD_PRELOAD): the mapping supervision tests list its SHA-256 (built with a marker define per
 * variant) or leave it benign. */
#include <fcntl.h>
#include <unistd.h>

#ifndef MARKER
#define MARKER "SCRUN-MAPPINGS-LIB"
#endif

const char scrun_test_marker[] = MARKER;

__attribute__((constructor)) static void loaded(void) {
    int fd = open("/tmp/LIB-RAN", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        write(fd, "x", 1);
        close(fd);
    }
    write(1, "LIB-RAN\n", 8);
}
