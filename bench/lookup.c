/* Looks a name up COUNT times with glibc's getaddrinfo (AF_UNSPEC, as most applications ask),
 * through /etc/resolv.conf with its search list and ndots, and prints the latency per lookup:
 * mean, median, 99th percentile and worst, in microseconds, and how many lookups failed.
 *
 *   cc -O2 -o lookup bench/lookup.c && ./lookup www.example.com 1000
 */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s NAME COUNT\n", argv[0]);
        return 64;
    }
    int count = atoi(argv[2]);
    if (count <= 0) {
        return 64;
    }
    double *us = calloc((size_t)count, sizeof *us);
    int failed = 0;
    double total = 0;
    for (int i = 0; i < count; i++) {
        struct addrinfo hints, *result;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        struct timespec start, end;
        clock_gettime(CLOCK_MONOTONIC, &start);
        int error = getaddrinfo(argv[1], NULL, &hints, &result);
        clock_gettime(CLOCK_MONOTONIC, &end);
        if (error == 0) {
            freeaddrinfo(result);
        } else {
            failed++;
        }
        us[i] = (double)(end.tv_sec - start.tv_sec) * 1e6 + (double)(end.tv_nsec - start.tv_nsec) / 1e3;
        total += us[i];
    }
    qsort(us, (size_t)count, sizeof *us, compare);
    printf("%.0f %.0f %.0f %.0f %d\n", total / count, us[count / 2], us[(count * 99) / 100], us[count - 1], failed);
    return 0;
}
