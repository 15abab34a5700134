/* The kernel-only floor for bench/cpu.sh: a responder that sends every DNS message back with the
 * QR bit set, without parsing or looking anything up. Its CPU time per query is what the socket
 * calls alone cost; a DNS server's time above it is its own work.
 *
 * UDP is answered one datagram at a time by the main thread. TCP is served by a second thread
 * from one epoll loop, as a single-worker server would: every message complete in what one read
 * returned goes back in one write.
 *
 *   cc -O2 -pthread -o echo bench/echo.c && ./echo 127.0.0.1 15370
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUFFER 65538

struct connection {
    int fd;
    size_t held; /* bytes of an incomplete message kept from the last read */
    unsigned char buf[BUFFER];
};

/* Flips QR in every complete length-prefixed message of c->buf[0..n), writes them back in one
 * call and keeps the incomplete tail. Returns 0 to keep the connection, -1 to close it. */
static int answer(struct connection *c, size_t n) {
    size_t at = 0;
    while (n - at >= 2) {
        size_t len = ((size_t)c->buf[at] << 8) | c->buf[at + 1];
        if (n - at - 2 < len) {
            break;
        }
        if (len >= 3) {
            c->buf[at + 4] |= 0x80;
        }
        at += 2 + len;
    }
    if (at > 0 && write(c->fd, c->buf, at) != (ssize_t)at) {
        return -1;
    }
    memmove(c->buf, c->buf + at, n - at);
    c->held = n - at;
    return 0;
}

static void *serve_tcp(void *arg) {
    int listener = *(int *)arg;
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
    struct epoll_event ready[64];
    for (;;) {
        int count = epoll_wait(ep, ready, 64, -1);
        for (int i = 0; i < count; i++) {
            struct connection *c = ready[i].data.ptr;
            if (c == NULL) {
                int fd = accept(listener, NULL, NULL);
                if (fd < 0) {
                    continue;
                }
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                c = calloc(1, sizeof *c);
                c->fd = fd;
                struct epoll_event add = {.events = EPOLLIN, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, fd, &add);
                continue;
            }
            ssize_t got = read(c->fd, c->buf + c->held, BUFFER - c->held);
            if (got <= 0 || answer(c, c->held + (size_t)got) != 0) {
                close(c->fd);
                free(c);
            }
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ADDRESS PORT\n", argv[0]);
        return 64;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    int udp = socket(AF_INET, SOCK_DGRAM, 0);
    int tcp = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (udp < 0 || tcp < 0 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 ||
        bind(udp, (struct sockaddr *)&addr, sizeof addr) != 0 ||
        bind(tcp, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(tcp, 128) != 0) {
        perror("echo");
        return 1;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, serve_tcp, &tcp) != 0) {
        perror("echo");
        return 1;
    }
    unsigned char buf[65536];
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(udp, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n < 12) {
            continue;
        }
        buf[2] |= 0x80;
        sendto(udp, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}
