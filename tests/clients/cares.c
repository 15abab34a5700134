/* Resolves a name with c-ares the way Envoy's DNS resolver does: ares_getaddrinfo with the
 * system's /etc/resolv.conf (search list, ndots), in Envoy's lookup families, or an SRV query.
 * Prints "address ttl" per line (SRV: "target port ttl").
 *
 *   cares NAME v4|v6|auto|all      (auto: IPv6, and IPv4 only when there is no IPv6, as Envoy's AUTO)
 *   cares NAME srv
 *
 * Exit 0 with records; 2 when the name does not exist or has no such records; 1 otherwise. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ares.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>

static int status_code = 1;
static int printed = 0;

static void wait_for(ares_channel channel) {
    for (;;) {
        fd_set read_fds, write_fds;
        FD_ZERO(&read_fds);
        FD_ZERO(&write_fds);
        int nfds = ares_fds(channel, &read_fds, &write_fds);
        if (nfds == 0) break;
        struct timeval tv, *tvp = ares_timeout(channel, NULL, &tv);
        select(nfds, &read_fds, &write_fds, NULL, tvp);
        ares_process(channel, &read_fds, &write_fds);
    }
}

static void on_addresses(void *arg, int status, int timeouts, struct ares_addrinfo *result) {
    (void)arg;
    (void)timeouts;
    if (status != ARES_SUCCESS) {
        status_code = (status == ARES_ENOTFOUND || status == ARES_ENODATA) ? 2 : 1;
        fprintf(stderr, "ares_getaddrinfo: %s\n", ares_strerror(status));
        return;
    }
    char text[INET6_ADDRSTRLEN];
    for (struct ares_addrinfo_node *node = result->nodes; node != NULL; node = node->ai_next) {
        const void *address = node->ai_family == AF_INET
            ? (const void *)&((struct sockaddr_in *)node->ai_addr)->sin_addr
            : (const void *)&((struct sockaddr_in6 *)node->ai_addr)->sin6_addr;
        printf("%s %d\n", inet_ntop(node->ai_family, address, text, sizeof text), node->ai_ttl);
        printed++;
    }
    status_code = printed > 0 ? 0 : 2;
    ares_freeaddrinfo(result);
}

static void on_srv(void *arg, int status, int timeouts, unsigned char *answer, int length) {
    (void)arg;
    (void)timeouts;
    if (status != ARES_SUCCESS) {
        status_code = (status == ARES_ENOTFOUND || status == ARES_ENODATA) ? 2 : 1;
        fprintf(stderr, "ares_search: %s\n", ares_strerror(status));
        return;
    }
    struct ares_srv_reply *reply;
    int parsed = ares_parse_srv_reply(answer, length, &reply);
    if (parsed != ARES_SUCCESS) {
        fprintf(stderr, "ares_parse_srv_reply: %s\n", ares_strerror(parsed));
        return;
    }
    for (struct ares_srv_reply *r = reply; r != NULL; r = r->next) {
        printf("%s %u\n", r->host, r->port);
        printed++;
    }
    status_code = printed > 0 ? 0 : 2;
    ares_free_data(reply);
}

static void lookup(ares_channel channel, const char *name, int family) {
    struct ares_addrinfo_hints hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = family;
    ares_getaddrinfo(channel, name, NULL, &hints, on_addresses, NULL);
    wait_for(channel);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s NAME v4|v6|auto|all|srv\n", argv[0]);
        return 64;
    }
    ares_library_init(ARES_LIB_INIT_ALL);
    ares_channel channel;
    if (ares_init(&channel) != ARES_SUCCESS) {
        fprintf(stderr, "ares_init failed\n");
        return 1;
    }
    const char *mode = argv[2];
    if (strcmp(mode, "srv") == 0) {
        ares_search(channel, argv[1], C_IN, T_SRV, on_srv, NULL);
        wait_for(channel);
    } else if (strcmp(mode, "v4") == 0) {
        lookup(channel, argv[1], AF_INET);
    } else if (strcmp(mode, "v6") == 0) {
        lookup(channel, argv[1], AF_INET6);
    } else if (strcmp(mode, "auto") == 0) {
        lookup(channel, argv[1], AF_INET6);
        if (printed == 0) lookup(channel, argv[1], AF_INET);
    } else {
        lookup(channel, argv[1], AF_UNSPEC);
    }
    ares_destroy(channel);
    ares_library_cleanup();
    return status_code;
}
