/* Resolves a name with the C library's getaddrinfo, as an application in a pod does: through
 * /etc/resolv.conf, its search list and ndots. Built against glibc and, statically, against
 * musl. Prints one address per line.
 *
 *   getaddrinfo NAME [4|6|any]
 *
 * Exit 0 with addresses; 2 when the name does not exist (EAI_NONAME, EAI_NODATA); 1 otherwise. */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s NAME [4|6|any]\n", argv[0]);
        return 64;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    if (argc > 2 && strcmp(argv[2], "4") == 0) hints.ai_family = AF_INET;
    if (argc > 2 && strcmp(argv[2], "6") == 0) hints.ai_family = AF_INET6;
    hints.ai_socktype = SOCK_STREAM;
    struct addrinfo *result;
    int error = getaddrinfo(argv[1], NULL, &hints, &result);
    if (error != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], gai_strerror(error));
#ifdef EAI_NODATA
        if (error == EAI_NODATA) return 2;
#endif
        return error == EAI_NONAME ? 2 : 1;
    }
    char text[INET6_ADDRSTRLEN];
    for (struct addrinfo *ai = result; ai != NULL; ai = ai->ai_next) {
        const void *address = ai->ai_family == AF_INET
            ? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
            : (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        printf("%s\n", inet_ntop(ai->ai_family, address, text, sizeof text));
    }
    freeaddrinfo(result);
    return 0;
}
