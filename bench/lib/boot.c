/* SPDX-License-Identifier: Apache-2.0 */
/* The bench's bootstrap: a TCP connection on which the client sends its
 * configuration and the server answers with the transport address it opened
 * (UCX libperf and fabtests bootstrap the same way). Messages are JSON
 * documents framed by a 4-byte big-endian length. Also the server's accept
 * loop, which serves every client in a forked child so that each client gets
 * a fresh transport and a crash takes only its own run down. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/lib/boot.h"
#include "core/clock.h"
#include "transport/transport.h"

#define BOOT_MAX_MSG (1u << 20)

static int remaining(uint64_t deadline)
{
    uint64_t now = cpn_time_ns();

    if (deadline == UINT64_MAX) {
        return -1;
    }
    return now >= deadline ? 0 : (int)((deadline - now) / 1000000 + 1);
}

static int io_full(int fd, void *buf, size_t len, int wr, uint64_t deadline)
{
    size_t done = 0;

    while (done < len) {
        struct pollfd p = {.fd = fd, .events = wr ? POLLOUT : POLLIN};
        ssize_t n;
        int r = poll(&p, 1, remaining(deadline));

        if (r < 0 && errno == EINTR && !cpn_bench_stop) {
            continue;
        }
        if (r <= 0) {
            return r == 0 ? -ETIMEDOUT : -errno;
        }
        n = wr ? send(fd, (char *)buf + done, len - done, MSG_NOSIGNAL)
               : recv(fd, (char *)buf + done, len - done, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            return n == 0 ? -EPIPE : -errno;
        }
        done += (size_t)n;
    }
    return 0;
}

int cpn__bench_boot_send(int fd, const json_t *msg, int timeout_ms)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    uint32_t len;
    int r;

    if (text == NULL) {
        return -ENOMEM;
    }
    len = htonl((uint32_t)strlen(text));
    r = io_full(fd, &len, sizeof(len), 1, cpn_deadline_ns(timeout_ms));
    if (r == 0) {
        r = io_full(fd, text, strlen(text), 1, cpn_deadline_ns(timeout_ms));
    }
    free(text);
    return r;
}

int cpn__bench_boot_recv(int fd, int timeout_ms, json_t **msg_p)
{
    uint64_t deadline = cpn_deadline_ns(timeout_ms);
    json_error_t jerr;
    uint32_t len;
    char *buf;
    int r;

    r = io_full(fd, &len, sizeof(len), 0, deadline);
    if (r != 0) {
        return r;
    }
    len = ntohl(len);
    if (len == 0 || len > BOOT_MAX_MSG) {
        return -EPROTO;
    }
    buf = malloc(len + 1);
    if (buf == NULL) {
        return -ENOMEM;
    }
    r = io_full(fd, buf, len, 0, deadline);
    if (r == 0) {
        buf[len] = '\0';
        *msg_p = json_loads(buf, 0, &jerr);
        r = *msg_p == NULL ? -EPROTO : 0;
    }
    free(buf);
    return r;
}

int cpn__bench_tcp_connect(const char *addr, int timeout_ms, char *err,
                           size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    uint64_t deadline = cpn_deadline_ns(timeout_ms);
    char host[256], port_s[8];
    uint16_t port;
    int fd = -1, one = 1, r;

    if (cpn__tp_parse_addr(addr, host, sizeof(host), &port) != CPN_OK) {
        snprintf(err, errlen, "bad address '%s' (HOST:PORT)", addr);
        return -1;
    }
    snprintf(port_s, sizeof(port_s), "%u", port);
    r = getaddrinfo(host, port_s, &hints, &ai);
    if (r != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(r));
        return -1;
    }
    /* Retry while the peer is not listening yet (a rank still starting). */
    for (;;) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        r = errno;
        if (fd >= 0) {
            close(fd);
        }
        fd = -1;
        if ((r != ECONNREFUSED && r != ENETUNREACH && r != EHOSTUNREACH) ||
            cpn_time_ns() >= deadline || cpn_bench_stop) {
            snprintf(err, errlen,
                     "cannot connect to bench peer %s: %s (is `cpn bench "
                     "--server` running there?)",
                     addr, strerror(r));
            break;
        }
        usleep(20000);
    }
    freeaddrinfo(ai);
    if (fd >= 0) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

int cpn__bench_tcp_listen(const char *addr, uint16_t *port_p, char *err,
                          size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE},
                    *ai = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char host[256], port_s[8];
    uint16_t port;
    int fd, one = 1, r;

    if (cpn__tp_parse_addr(addr, host, sizeof(host), &port) != CPN_OK) {
        snprintf(err, errlen, "bad address '%s' (HOST:PORT)", addr);
        return -1;
    }
    snprintf(port_s, sizeof(port_s), "%u", port);
    r = getaddrinfo(host[0] ? host : NULL, port_s, &hints, &ai);
    if (r != 0) {
        snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(r));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s (another bench on "
                 "that port? pick one with --listen HOST:PORT)",
                 addr, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    *port_p = ntohs(ss.ss_family == AF_INET6
                        ? ((struct sockaddr_in6 *)&ss)->sin6_port
                        : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

cpn_status_t cpn_bench_serve(const char *addr, unsigned max_clients,
                             volatile int *stop,
                             void (*ready)(void *arg, uint16_t port),
                             void *ready_arg)
{
    char err[256], host[256];
    unsigned served = 0, running = 0;
    uint16_t port, p2;
    int lfd;

    lfd = cpn__bench_tcp_listen(addr, &port, err, sizeof(err));
    if (lfd < 0) {
        fprintf(stderr, "cpn bench: %s\n", err);
        return CPN_ERR_BUSY;
    }
    if (cpn__tp_parse_addr(addr, host, sizeof(host), &p2) != CPN_OK) {
        host[0] = '\0';
    }
    if (ready != NULL) {
        ready(ready_arg, port);
    }
    while (!*stop && (max_clients == 0 || served < max_clients)) {
        struct pollfd pfd = {.fd = lfd, .events = POLLIN};
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        char local[64] = "";
        pid_t pid;
        int fd, one = 1;

        while (running > 0 && waitpid(-1, NULL, WNOHANG) > 0) {
            running--;
        }
        if (poll(&pfd, 1, 200) <= 0) {
            continue;
        }
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* The transport listens on the address the client reached us at. */
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
            ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, local,
                      sizeof(local));
        }
        fflush(NULL);
        pid = fork();
        if (pid == 0) {
            close(lfd);
            _exit(cpn_bench_serve_fd(fd, local[0] ? local : "0.0.0.0") ==
                          CPN_OK
                      ? 0
                      : 1);
        }
        close(fd);
        if (pid > 0) {
            running++;
        }
        served++;
    }
    close(lfd);
    /* Wait for the children still serving (bounded: each ends when its
     * client's socket closes). */
    while (running > 0 && waitpid(-1, NULL, 0) > 0) {
        running--;
    }
    return CPN_OK;
}
