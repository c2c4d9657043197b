/* SPDX-License-Identifier: Apache-2.0 */
/* Launch under mpirun or srun without linking MPI: rank and size come from
 * the launcher's environment (Open MPI, MPICH/PMI, PMIx, Slurm), and the
 * ranks meet at rank 0 over TCP to learn each other's bench addresses; the
 * patterns (pairwise, many-to-one) are then plain client/server pairs. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench/lib/boot.h"

static int env_int(const char *name, int *v)
{
    const char *s = getenv(name);
    char *end;
    long l;

    if (s == NULL || *s == '\0') {
        return 0;
    }
    l = strtol(s, &end, 10);
    if (*end != '\0' || l < 0 || l > 1000000) {
        return 0;
    }
    *v = (int)l;
    return 1;
}

int cpn_bench_launch_detect(cpn_bench_launch_t *l)
{
    static const struct {
        const char *rank, *size, *source;
    } envs[] = {
        {"OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI"},
        {"PMIX_RANK", "OMPI_COMM_WORLD_SIZE", "PMIX"},
        {"PMI_RANK", "PMI_SIZE", "PMI"},
        {"SLURM_PROCID", "SLURM_NTASKS", "SLURM"},
    };

    for (size_t i = 0; i < sizeof(envs) / sizeof(envs[0]); i++) {
        int r, s;

        if (env_int(envs[i].rank, &r) && env_int(envs[i].size, &s) && s > 0 &&
            r < s) {
            l->rank = r;
            l->size = s;
            l->source = envs[i].source;
            return 1;
        }
    }
    l->rank = 0;
    l->size = 1;
    l->source = NULL;
    return 0;
}

cpn_status_t cpn_bench_rendezvous(const cpn_bench_launch_t *l, const char *rdv,
                                  const char *mine, int timeout_ms,
                                  json_t **all_p, char *err, size_t errlen)
{
    json_t *all, *msg;
    int r;

    if (l->rank != 0) {
        int fd = cpn__bench_tcp_connect(rdv, timeout_ms, err, errlen);

        if (fd < 0) {
            return CPN_ERR_UNREACHABLE;
        }
        msg = json_pack("{s:i, s:s}", "rank", l->rank, "value", mine);
        r = cpn__bench_boot_send(fd, msg, timeout_ms);
        json_decref(msg);
        if (r == 0) {
            r = cpn__bench_boot_recv(fd, timeout_ms, &all);
        }
        close(fd);
        if (r != 0 || !json_is_array(all) ||
            json_array_size(all) != (size_t)l->size) {
            snprintf(err, errlen, "rendezvous at %s: no table from rank 0 (%s)",
                     rdv, r ? strerror(-r) : "bad table");
            if (r == 0) {
                json_decref(all);
            }
            return CPN_ERR_PROTO;
        }
        *all_p = all;
        return CPN_OK;
    }
    {
        int fds[1024], n = 0, lfd;
        uint16_t port;
        char host[300];

        if (l->size > 1024) {
            snprintf(err, errlen, "rendezvous: at most 1024 ranks");
            return CPN_ERR_LIMIT;
        }
        /* Rank 0 listens on the rendezvous port of any local address. */
        snprintf(host, sizeof(host), "0.0.0.0:%s",
                 strrchr(rdv, ':') ? strrchr(rdv, ':') + 1 : "0");
        lfd = cpn__bench_tcp_listen(host, &port, err, errlen);
        if (lfd < 0) {
            return CPN_ERR_BUSY;
        }
        all = json_array();
        for (int i = 0; i < l->size; i++) {
            json_array_append_new(all, json_null());
        }
        json_array_set_new(all, 0, json_string(mine));
        while (n < l->size - 1) {
            json_t *m = NULL;
            int fd;
            struct timeval tv = {.tv_sec = timeout_ms / 1000 + 1};

            setsockopt(lfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
            fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0) {
                snprintf(err, errlen, "rendezvous at %s: only %d of %d ranks "
                         "arrived", rdv, n + 1, l->size);
                break;
            }
            if (cpn__bench_boot_recv(fd, timeout_ms, &m) != 0) {
                close(fd);
                continue;
            }
            {
                json_int_t rk = json_integer_value(json_object_get(m, "rank"));
                const char *v = json_string_value(json_object_get(m, "value"));

                if (rk > 0 && rk < l->size && v != NULL) {
                    json_array_set_new(all, (size_t)rk, json_string(v));
                    fds[n++] = fd;
                } else {
                    close(fd);
                }
            }
            json_decref(m);
        }
        close(lfd);
        for (int i = 0; i < n; i++) {
            if (n == l->size - 1) {
                cpn__bench_boot_send(fds[i], all, timeout_ms);
            }
            close(fds[i]);
        }
        if (n != l->size - 1) {
            json_decref(all);
            return CPN_ERR_TIMEOUT;
        }
        *all_p = all;
        return CPN_OK;
    }
}
