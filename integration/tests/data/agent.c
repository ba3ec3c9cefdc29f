/* A minimal OCI seccomp agent for scrun's conformance tests.
 *
 * agent SOCKET STATE_FILE ERRNO: listens on SOCKET, and for each connection receives the
 * container process state (written, one per line, to STATE_FILE) and the seccomp listener fd
 * (SCM_RIGHTS), then answers every notification on it with -ERRNO, so that the syscalls the
 * profile sends to the agent fail with an errno the kernel would not give. Runs until killed. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_LISTENERS 64

static int receive(int conn, FILE *states) {
    char buf[65536];
    char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                         .msg_controllen = sizeof(cbuf)};
    ssize_t n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    fprintf(states, "%s\n", buf);
    fflush(states);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int fd;
            memcpy(&fd, CMSG_DATA(c), sizeof(fd));
            return fd;
        }
    }
    return -1;
}

static void answer(int fd, int err) {
    struct seccomp_notif req;
    struct seccomp_notif_resp resp;
    memset(&req, 0, sizeof(req));
    if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
        return;
    memset(&resp, 0, sizeof(resp));
    resp.id = req.id;
    resp.error = -err;
    ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: agent SOCKET STATE_FILE ERRNO\n");
        return 2;
    }
    int err = atoi(argv[3]);
    FILE *states = fopen(argv[2], "a");
    int srv = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof(addr.sun_path) - 1);
    unlink(argv[1]);
    if (!states || srv < 0 || bind(srv, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(srv, 16) < 0) {
        perror("agent");
        return 1;
    }
    /* Ready: the test waits for this line. */
    printf("ready\n");
    fflush(stdout);
    struct pollfd fds[MAX_LISTENERS + 1];
    int n = 1;
    fds[0].fd = srv;
    fds[0].events = POLLIN;
    for (;;) {
        if (poll(fds, n, -1) < 0 && errno != EINTR)
            return 1;
        if (fds[0].revents & POLLIN) {
            int conn = accept4(srv, NULL, NULL, SOCK_CLOEXEC);
            if (conn >= 0) {
                int fd = receive(conn, states);
                close(conn);
                if (fd >= 0 && n <= MAX_LISTENERS) {
                    fds[n].fd = fd;
                    fds[n].events = POLLIN;
                    fds[n].revents = 0; /* not polled yet */
                    n++;
                }
            }
        }
        for (int i = 1; i < n; i++) {
            if (fds[i].revents & POLLIN)
                answer(fds[i].fd, err);
            if (fds[i].revents & (POLLHUP | POLLERR)) {
                close(fds[i].fd);
                fds[i] = fds[--n];
                i--;
            }
        }
    }
}
