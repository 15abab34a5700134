/* The kernel-only floor for bench/cpu.sh: a UDP responder that sends every datagram back with
 * the QR bit set, without parsing or looking anything up. Its CPU time per query is what the
 * socket calls alone cost; a DNS server's time above it is its own work.
 *
 *   cc -O2 -o echo bench/echo.c && ./echo 127.0.0.1 15370
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s ADDRESS PORT\n", argv[0]);
        return 64;
    }
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
    if (fd < 0 || inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("echo");
        return 1;
    }
    unsigned char buf[65536];
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
        if (n < 12) {
            continue;
        }
        buf[2] |= 0x80;
        sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, len);
    }
}
