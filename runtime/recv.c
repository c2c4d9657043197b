/* SPDX-License-Identifier: Apache-2.0 */
/* The receiver's side of a delivery: the bounded, registered staging pool
 * and its slots, checking an OFFER before any byte moves (names, limits,
 * duplicates, free disk), memory sinks, per-chunk XXH3 verification, writing
 * into temporary files, per-object digests at COMMIT, and atomic landing:
 * a task's files appear under LAND/JOB in one rename, only once every
 * object verified. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <dirent.h>
#include <linux/fs.h>

#include "core/clock.h"
#include "core/compiler.h"
#include "core/config.h"
#include "core/log.h"
#include "runtime/names.h"
#include "runtime/site_int.h"

#define PARTIAL_PREFIX ".cpn-partial."

/* ---- the staging pool ---- */

cpn_status_t cpn__pool_open(cpn_site_t *site)
{
    size_t len;
    uint32_t i;
    cpn_status_t st;

    /* A slot holds one chunk: the most a sender may put, which is also
     * capped by what suits the transport (HELLO_ACK tells the sender). */
    site->slot_size = (uint32_t)site->params.chunk_size;
    len = site->ops->chunk_max(site->iface);
    if (len != 0 && len < site->slot_size) {
        site->slot_size = (uint32_t)len;
    }
    site->nslots = (uint32_t)(site->params.pool_size / site->slot_size);
    len = (size_t)site->nslots * site->slot_size;
    /* Memory the transport places itself is what its fastest paths reach
     * (UCX: a shared-memory segment the peer puts into with one copy). */
    if (site->ops->mem_alloc(site->iface, len, &site->pool_mem) == CPN_OK) {
        site->pool = site->pool_mem->addr;
        site->pool_owned = 1;
    } else {
        site->pool = aligned_alloc(4096, len);
    }
    site->slot_free = calloc(site->nslots, sizeof(*site->slot_free));
    site->quar = calloc(site->nslots, sizeof(*site->quar));
    site->slot_owner = calloc(site->nslots, sizeof(*site->slot_owner));
    if (site->pool == NULL || site->slot_free == NULL ||
        site->slot_owner == NULL || site->quar == NULL) {
        st = CPN_ERR_NO_MEMORY;
        goto err;
    }
    site->pool_len = len;
    st = site->pool_owned ? CPN_OK
                          : site->ops->mem_reg(site->iface, site->pool, len,
                                               &site->pool_mem);
    if (st != CPN_OK) {
        cpn_error("site %s: cannot register the %zu-byte staging pool: %s",
                  site->name, len, cpn_status_str(st));
        goto err;
    }
    /* Every chunk landing in a slot is hashed and checked before use, and
     * written out to its file at once. */
    site->pool_mem->flags |= CPN_TP_MEM_VERIFIED | CPN_TP_MEM_STAGING;
    site->pool_rkey_len = sizeof(site->pool_rkey);
    st = site->ops->key_pack(site->pool_mem, site->pool_rkey,
                             &site->pool_rkey_len);
    if (st != CPN_OK) {
        cpn_error("site %s: cannot pack the staging pool key: %s",
                  site->name, cpn_status_str(st));
        site->ops->mem_dereg(site->pool_mem);
        site->pool_mem = NULL;
        goto err;
    }
    for (i = 0; i < site->nslots; i++) {
        site->slot_free[i] = site->nslots - 1 - i;
    }
    site->nslot_free = site->nslots;
    return CPN_OK;

err:
    free(site->quar);
    free(site->slot_owner);
    free(site->slot_free);
    if (!site->pool_owned) {
        free(site->pool);
    } else if (site->pool_mem != NULL) {
        site->ops->mem_dereg(site->pool_mem);
        site->pool_mem = NULL;
    }
    site->pool = NULL;
    return st;
}

void cpn__pool_close(cpn_site_t *site)
{
    if (site->pool_mem != NULL) {
        site->ops->mem_dereg(site->pool_mem);
    }
    free(site->quar);
    free(site->slot_owner);
    free(site->slot_free);
    if (!site->pool_owned) {
        free(site->pool);
    }
}

static void grant_waiting(cpn_site_t *site);

/* How long a failed task's slots rest before reuse. */
#define QUARANTINE_NS 2000000000ull

void cpn__pool_quarantine_check(cpn_site_t *site)
{
    if (site->nquar == 0 || cpn_time_ns() < site->quar_until) {
        return;
    }
    while (site->nquar > 0) {
        uint32_t slot = site->quar[--site->nquar];

        site->slot_owner[slot] = NULL;
        site->slot_free[site->nslot_free++] = slot;
    }
    grant_waiting(site);
}

/* ---- removing partial directories ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        cpn_warn("cannot remove %s: %s", path, strerror(errno));
    }
    return 0;
}

static void rm_tree(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

cpn_status_t cpn__land_prepare(cpn_site_t *site)
{
    struct dirent *e;
    DIR *d;

    if ((mkdir(site->land_dir, 0755) != 0 && errno != EEXIST) ||
        access(site->land_dir, W_OK | X_OK) != 0) {
        cpn_error("site %s: cannot use landing directory %s: %s (create it, "
                  "or give a writable --land DIR)", site->name,
                  site->land_dir, strerror(errno));
        return CPN_ERR_IO;
    }
    d = opendir(site->land_dir);
    if (d == NULL) {
        cpn_error("site %s: cannot read landing directory %s: %s",
                  site->name, site->land_dir, strerror(errno));
        return CPN_ERR_IO;
    }
    while ((e = readdir(d)) != NULL) {
        char *path;
        long pid;

        if (strncmp(e->d_name, PARTIAL_PREFIX, strlen(PARTIAL_PREFIX)) != 0) {
            continue;
        }
        pid = strtol(e->d_name + strlen(PARTIAL_PREFIX), NULL, 10);
        if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH)) {
            continue; /* its site still runs */
        }
        if (asprintf(&path, "%s/%s", site->land_dir, e->d_name) >= 0) {
            cpn_info("site %s: removing %s left by a run that ended "
                     "half-way", site->name, path);
            rm_tree(path);
            free(path);
        }
    }
    closedir(d);
    (void)cpn__resume_sweep(site, cpn_time_ns());
    return CPN_OK;
}

/* ---- receiving tasks ---- */

static cpn_rtask_t *rtask_find(cpn_peer_t *peer, uint64_t id)
{
    cpn_rtask_t *rt;

    for (rt = peer->site->rtasks; rt != NULL; rt = rt->next) {
        if (rt->id == id && rt->peer == peer) {
            return rt;
        }
    }
    return NULL;
}

static void rtask_close_fd(cpn_rtask_t *rt)
{
    if (rt->cur_fd >= 0) {
        close(rt->cur_fd);
        rt->cur_fd = -1;
        rt->cur_fd_obj = UINT32_MAX;
    }
}

/* Largest buffers the spare receiving task keeps (rtask_alloc). */
#define RSPARE_MAX_OBJ 64
#define RSPARE_MAX_CHUNKS 4096

/* A zeroed receiving task for @p site: the site's spare one when it has
 * one, with the object array and chunk block it grew, so that a stream of
 * small tasks is received without malloc for them. */
static cpn_rtask_t *rtask_alloc(cpn_site_t *site)
{
    cpn_rtask_t *rt = site->rtask_spare, keep;

    if (rt == NULL) {
        return calloc(1, sizeof(*rt));
    }
    site->rtask_spare = NULL;
    keep = *rt;
    memset(rt, 0, sizeof(*rt));
    rt->obj = keep.obj;
    rt->obj_cap = keep.obj_cap;
    rt->chunk_block = keep.chunk_block;
    rt->chunk_cap = keep.chunk_cap;
    return rt;
}

/* Zeroed room for @p n objects of at most @p chunks chunks in all in @p rt,
 * with each object's hash and got arrays pointed into the chunk block once
 * its nchunks are known (rtask_place_chunks). */
static cpn_status_t rtask_alloc_obj(cpn_rtask_t *rt, uint32_t n, size_t chunks)
{
    if (n > rt->obj_cap || rt->obj == NULL) {
        cpn_robj_t *o = calloc(n ? n : 1, sizeof(*o));

        if (o == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        free(rt->obj);
        rt->obj = o;
        rt->obj_cap = n ? n : 1;
    } else {
        memset(rt->obj, 0, (size_t)n * sizeof(*rt->obj));
    }
    if (chunks > rt->chunk_cap || rt->chunk_block == NULL) {
        size_t cap = chunks ? chunks : 1;
        uint8_t *b;

        if (cap > SIZE_MAX / (sizeof(uint64_t) + 1)) {
            return CPN_ERR_NO_MEMORY;
        }
        b = malloc(cap * (sizeof(uint64_t) + 1));
        if (b == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        free(rt->chunk_block);
        rt->chunk_block = b;
        rt->chunk_cap = cap;
    }
    return CPN_OK;
}

/* Point the hash and got arrays of objects 0..@p n-1 (nchunks set) into the
 * chunk block, zeroed. */
static void rtask_place_chunks(cpn_rtask_t *rt, uint32_t n)
{
    uint64_t *hash = (uint64_t *)(void *)rt->chunk_block;
    uint8_t *got = rt->chunk_block + rt->chunk_cap * sizeof(uint64_t);
    size_t used = 0;
    uint32_t i;

    for (i = 0; i < n; i++) {
        rt->obj[i].hash = hash + used;
        rt->obj[i].got = got + used;
        used += (size_t)rt->obj[i].nchunks;
    }
    memset(hash, 0, used * sizeof(*hash));
    memset(got, 0, used);
}

static void rtask_free(cpn_rtask_t *rt)
{
    cpn_site_t *site = rt->site;
    cpn_rtask_t **pp;
    uint32_t i;

    for (pp = &site->rtasks; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == rt) {
            *pp = rt->next;
            break;
        }
    }
    /* Give back every slot this task still holds; while its sender lives,
     * puts may still be landing in them, so they rest first. */
    for (i = 0; rt->slots_held > 0 && i < site->nslots; i++) {
        if (site->slot_owner[i] != rt) {
            continue;
        }
        rt->slots_held--;
        if (rt->peer->state == CPN_PEER_READY) {
            site->slot_owner[i] = NULL;
            site->quar[site->nquar++] = i;
            site->quar_until = cpn_time_ns() + QUARANTINE_NS;
        } else {
            site->slot_owner[i] = NULL;
            site->slot_free[site->nslot_free++] = i;
        }
    }
    rtask_close_fd(rt);
    cpn__resume_close(rt);
    for (i = 0; i < rt->nobj; i++) {
        free(rt->obj[i].name);
    }
    if (rt->tmpdir != NULL) {
        rm_tree(rt->tmpdir);
        free(rt->tmpdir);
    }
    free(rt->spec);
    free(rt->job);
    if (site->rtask_spare == NULL && rt->obj_cap <= RSPARE_MAX_OBJ &&
        rt->chunk_cap <= RSPARE_MAX_CHUNKS) {
        site->rtask_spare = rt;
        return;
    }
    free(rt->obj);
    free(rt->chunk_block);
    free(rt);
}

/* The receiver's own receipt, for landed_cb. */
static void rtask_report(cpn_rtask_t *rt, cpn_status_t status,
                         const char *landed_at)
{
    cpn_site_t *site = rt->site;
    cpn_receipt_object_t few[4], *ro = few;
    cpn_receipt_t r;
    uint32_t i;

    if (site->params.landed_cb == NULL) {
        return;
    }
    if (rt->nobj > CPN_ARRAY_SIZE(few)) {
        ro = calloc(rt->nobj, sizeof(*ro));
    }
    memset(&r, 0, sizeof(r));
    r.task_id = rt->id;
    r.job = rt->job;
    r.sender = rt->peer->name;
    r.receiver = site->name;
    r.peer_addr = rt->peer->addr;
    r.transport = site->transport;
    r.lanes = rt->peer->lanes;
    r.landed_at = landed_at ? landed_at : "";
    r.bytes = rt->bytes_verified;
    r.objects = rt->nobj;
    r.chunks = rt->chunks_verified - rt->chunks_resumed;
    r.retries = rt->retries;
    r.resumed_chunks = rt->chunks_resumed;
    r.resumed_bytes = rt->bytes_resumed;
    r.elapsed_ns = cpn_time_ns() - rt->t_start;
    r.goodput_gbps = r.elapsed_ns ? (double)(r.bytes - r.resumed_bytes) * 8.0 /
                                        (double)r.elapsed_ns
                                  : 0.0;
    for (i = 0; ro != NULL && i < rt->nobj; i++) {
        ro[i].name = rt->obj[i].name;
        ro[i].size = rt->obj[i].size;
        ro[i].digest_hi = rt->obj[i].digest.hi;
        ro[i].digest_lo = rt->obj[i].digest.lo;
        ro[i].inlined = rt->obj[i].inlined;
        r.inline_objects += (uint64_t)rt->obj[i].inlined;
    }
    r.nobjects = ro != NULL ? rt->nobj : 0;
    r.object = ro;
    site->params.landed_cb(site->params.landed_arg, status, &r);
    if (ro != few) {
        free(ro);
    }
}

/* Give up on a receiving task: nothing of it becomes visible. */
static void rtask_fail(cpn_rtask_t *rt, int tell_peer, cpn_status_t status,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void rtask_fail(cpn_rtask_t *rt, int tell_peer, cpn_status_t status,
                       const char *fmt, ...)
{
    char why[CPN_ERRTEXT_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    cpn_warn("site %s: task %s from %s (%s) failed: %s", rt->site->name,
             rt->job, rt->peer->name, rt->peer->addr, why);
    if (tell_peer) {
        cpn__send_cancel(rt->peer, rt->id, status, why);
    }
    /* Nothing of it may remain when the application hears of the failure,
     * but the verified chunks of a task cut off with its peer, kept out of
     * sight for a resume (resume.c). */
    rtask_close_fd(rt);
    cpn__resume_close(rt);
    if (rt->tmpdir != NULL) {
        rm_tree(rt->tmpdir);
        free(rt->tmpdir);
        rt->tmpdir = NULL;
    }
    rtask_report(rt, status, NULL);
    rtask_free(rt);
}

/* Refuse an offer before any state exists for it. */
static void refuse(cpn_peer_t *peer, uint64_t id, cpn_status_t status,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void refuse(cpn_peer_t *peer, uint64_t id, cpn_status_t status,
                   const char *fmt, ...)
{
    char why[CPN_ERRTEXT_MAX];
    cpn_msg_t *m;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    cpn_warn("site %s: refused a task from %s (%s): %s", peer->site->name,
             peer->name, peer->addr, why);
    m = cpn__msg_get(peer->site);
    if (m == NULL) {
        return;
    }
    if (cpn_wire_encode_accept(&m->buf, id, status, cpn_wire_str(why), NULL, 0,
                               NULL, 0) != CPN_OK) {
        cpn__msg_put(m);
        return;
    }
    cpn__peer_send(peer, m);
}

/* mkdir -p of the parents of @p path (which lies under an existing dir). */
static int make_parents(char *path)
{
    char *p;

    for (p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) {
            *p = '/';
            return -1;
        }
        *p = '/';
    }
    return 0;
}

static cpn_status_t errno_status(int err)
{
    return err == ENOSPC || err == EDQUOT ? CPN_ERR_NO_SPACE : CPN_ERR_IO;
}

/* Open (creating when @p create: 1 empty, 2 keeping what is there)
 * object @p i's temporary file. */
static int obj_open(cpn_rtask_t *rt, uint32_t i, int create)
{
    char *path;
    int fd;

    if (asprintf(&path, "%s/%s", rt->tmpdir, rt->obj[i].name) < 0) {
        errno = ENOMEM;
        return -1;
    }
    if (create && make_parents(path) != 0) {
        free(path);
        return -1;
    }
    /* create 2: a resumed task's file, whose verified chunks stay */
    fd = open(path, O_WRONLY | O_CLOEXEC |
                        (create ? O_CREAT | (create == 1 ? O_TRUNC : 0) : 0),
              0644);
    free(path);
    return fd;
}

static cpn_status_t obj_write(cpn_rtask_t *rt, uint32_t i, const void *data,
                              size_t len, uint64_t off)
{
    cpn_robj_t *o = &rt->obj[i];

    if (o->sink != NULL) {
        if (o->sink + off != data) {
            memcpy(o->sink + off, data, len);
        }
        return CPN_OK;
    }
    if (rt->cur_fd_obj != i) {
        rtask_close_fd(rt);
        rt->cur_fd = obj_open(rt, i, 0);
        if (rt->cur_fd < 0) {
            return errno_status(errno);
        }
        rt->cur_fd_obj = i;
    }
    while (len > 0) {
        ssize_t n = pwrite(rt->cur_fd, data, len, (off_t)off);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno_status(errno);
        }
        data = (const uint8_t *)data + n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return CPN_OK;
}

static cpn_status_t fsync_tree_files(cpn_rtask_t *rt)
{
    uint32_t i;

    for (i = 0; i < rt->nobj; i++) {
        int fd;

        if (rt->obj[i].sink != NULL) {
            continue;
        }
        fd = obj_open(rt, i, 0);
        if (fd < 0 || fsync(fd) != 0) {
            int err = errno;

            if (fd >= 0) {
                close(fd);
            }
            return errno_status(err);
        }
        close(fd);
    }
    return CPN_OK;
}

/* Move the verified task into place: LAND/JOB appears in one rename. */
static cpn_status_t land_files(cpn_rtask_t *rt, char **final_p)
{
    cpn_site_t *site = rt->site;
    char *final = NULL;
    int err;

    rtask_close_fd(rt);
    if (site->params.fsync) {
        cpn_status_t st = fsync_tree_files(rt);

        if (st != CPN_OK) {
            return st;
        }
    }
    if (asprintf(&final, "%s/%s", site->land_dir, rt->job) < 0) {
        return CPN_ERR_NO_MEMORY;
    }
    if (rename(rt->tmpdir, final) != 0) {
        err = errno;
        if (err != EEXIST && err != ENOTEMPTY) {
            free(final);
            return errno_status(err);
        }
        /* An earlier delivery of the job is there: swap atomically, then
         * remove the old one (now under the temporary name). */
        if (syscall(SYS_renameat2, AT_FDCWD, rt->tmpdir, AT_FDCWD, final,
                    RENAME_EXCHANGE) != 0) {
            err = errno;
            free(final);
            return errno_status(err);
        }
        rm_tree(rt->tmpdir);
    }
    if (site->params.fsync) {
        int dfd = open(site->land_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(rt->tmpdir);
    rt->tmpdir = NULL;
    *final_p = final;
    return CPN_OK;
}

static void rtask_land(cpn_rtask_t *rt)
{
    cpn_wire_receipt_t r;
    char *final = NULL;
    cpn_msg_t *m;
    cpn_status_t st;
    uint32_t i;

    for (i = 0; i < rt->nobj; i++) {
        cpn_robj_t *o = &rt->obj[i];
        cpn_digest_t d;

        if (o->inlined) {
            continue;
        }
        d = cpn_object_digest(o->size, rt->chunk_size, o->hash, o->nchunks);
        if (!cpn_digest_eq(d, o->digest)) {
            rtask_fail(rt, 1, CPN_ERR_CHECKSUM, "object %s: digest of the "
                       "verified chunks does not match the sender's",
                       o->name);
            return;
        }
    }
    if (rt->files) {
        st = land_files(rt, &final);
        if (st != CPN_OK) {
            rtask_fail(rt, 1, st, "cannot land job %s in %s: %s", rt->job,
                       rt->site->land_dir, strerror(errno));
            return;
        }
    }
    memset(&r, 0, sizeof(r));
    r.status = CPN_OK;
    r.landed_at = cpn_wire_str(final ? final : "memory");
    r.bytes = rt->bytes_verified;
    r.chunks = rt->chunks_verified;
    r.retries = rt->retries;
    r.elapsed_ns = cpn_time_ns() - rt->t_start;
    m = cpn__msg_get(rt->site);
    if (m != NULL) {
        if (cpn_wire_encode_receipt(&m->buf, rt->id, &r) == CPN_OK) {
            cpn__peer_send(rt->peer, m);
        } else {
            cpn__msg_put(m);
        }
    }
    rtask_report(rt, CPN_OK, final ? final : "memory");
    free(final);
    rtask_free(rt);
}

static void rtask_maybe_land(cpn_rtask_t *rt)
{
    if (rt->chunks_verified == rt->chunks_total &&
        (rt->committed || rt->chunks_total == 0)) {
        rtask_land(rt);
    }
}

/* Grant up to @p max free slots to @p rt; returns how many were granted. */
static uint32_t grant_slots(cpn_rtask_t *rt, uint32_t *out, uint32_t max)
{
    cpn_site_t *site = rt->site;
    uint32_t n = 0;

    while (n < max && rt->chunks_to_grant > 0 && site->nslot_free > 0) {
        uint32_t slot = site->slot_free[--site->nslot_free];

        site->slot_owner[slot] = rt;
        rt->slots_held++;
        rt->chunks_to_grant--;
        out[n++] = slot;
    }
    return n;
}

static void send_grant(cpn_rtask_t *rt, const uint32_t *slots, uint32_t n)
{
    cpn_msg_t *m;

    if (n == 0) {
        return;
    }
    m = cpn__msg_get(rt->site);
    if (m == NULL) {
        return;
    }
    if (cpn_wire_encode_grant(&m->buf, rt->id, slots, n) != CPN_OK) {
        cpn__msg_put(m);
        return;
    }
    cpn__peer_send(rt->peer, m);
}

/* A slot came free: give it to a task that waits for one. */
static void slot_release(cpn_site_t *site, uint32_t slot)
{
    cpn_rtask_t *rt = site->slot_owner[slot];

    rt->slots_held--;
    if (rt->chunks_to_grant > 0) {
        /* Same task, more to send: hand the slot straight back. */
        rt->slots_held++;
        rt->chunks_to_grant--;
        send_grant(rt, &slot, 1);
        return;
    }
    site->slot_owner[slot] = NULL;
    site->slot_free[site->nslot_free++] = slot;
    grant_waiting(site);
}

/* Hand free slots to tasks that wait for them, in list order. */
static void grant_waiting(cpn_site_t *site)
{
    cpn_rtask_t *w, *next;

    for (w = site->rtasks; w != NULL && site->nslot_free > 0; w = next) {
        next = w->next;
        while (w->chunks_to_grant > 0 && w->slots_held < w->window &&
               site->nslot_free > 0) {
            uint32_t s;

            if (grant_slots(w, &s, 1) == 1) {
                send_grant(w, &s, 1);
            }
        }
    }
}

/* ---- OFFER ---- */

static cpn_status_t inline_land(cpn_rtask_t *rt, uint32_t i,
                                const cpn_wire_object_t *wo)
{
    cpn_robj_t *o = &rt->obj[i];
    cpn_status_t st;
    uint64_t c;

    for (c = 0; c < o->nchunks; c++) {
        uint64_t off = c * rt->chunk_size;

        o->hash[c] = cpn_hash64((const uint8_t *)wo->data + off,
                                CPN_MIN((uint64_t)rt->chunk_size,
                                        o->size - off));
    }
    if (!cpn_digest_eq(cpn_object_digest(o->size, rt->chunk_size, o->hash,
                                         o->nchunks),
                       wo->digest)) {
        return CPN_ERR_CHECKSUM;
    }
    if (o->sink != NULL) {
        memcpy(o->sink, wo->data, o->size);
        return CPN_OK;
    }
    if (o->size == 0) {
        return CPN_OK; /* created empty already */
    }
    st = obj_write(rt, i, wo->data, o->size, 0);
    rtask_close_fd(rt);
    return st;
}

/* Is @p name one of objects 0..@p n-1 of @p rt? With a hash @p set of
 * @p cap entries (index + 1, open addressing), *@p k_p is then the free
 * entry for it; without one (few objects), the names are compared in turn. */
static int name_seen(const cpn_rtask_t *rt, const uint32_t *set, size_t cap,
                     uint32_t n, cpn_wire_str_t name, size_t *k_p)
{
    size_t k;

    if (set == NULL) {
        for (k = 0; k < n; k++) {
            const char *p = rt->obj[k].name;

            if (strlen(p) == name.len && memcmp(p, name.ptr, name.len) == 0) {
                return 1;
            }
        }
        return 0;
    }
    for (k = cpn_hash64(name.ptr, name.len) & (cap - 1); set[k] != 0;
         k = (k + 1) & (cap - 1)) {
        const char *p = rt->obj[set[k] - 1].name;

        if (strlen(p) == name.len && memcmp(p, name.ptr, name.len) == 0) {
            return 1;
        }
    }
    *k_p = k;
    return 0;
}

/* Bytes of an OFFER asked for ahead of the decoding (a quarter of L1d). */
#define OFFER_PREFETCH_MAX (8u << 10)

/* The inline bytes of an OFFER were just written by the sender's CPU, so
 * every line of them is a miss here, served from another core's cache (a
 * few hundred ns across core complexes): ask for them all at once, so the
 * fetches overlap the decoding and checks that come before the hash reads
 * them, instead of the hash waiting on each in turn. */
static void offer_prefetch(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t n = CPN_MIN(len, (size_t)OFFER_PREFETCH_MAX), i;

    for (i = 0; i < n; i += 64) {
        __builtin_prefetch(p + i, 0, 3);
    }
}

static void on_offer(cpn_peer_t *peer, const void *buf, size_t len)
{
    cpn_site_t *site = peer->site;
    cpn_wire_iter_t it;
    cpn_wire_object_t wo;
    cpn_wire_offer_t off;
    cpn_wire_hdr_t hdr;
    cpn_wire_sink_t *sinks = NULL;
    uint8_t *keys = NULL;
    uint32_t *slots = NULL, nsinks = 0, nslots, i;
    uint64_t file_bytes = 0;
    int resumed = 0;
    const char *why;
    char q[256], why_buf[CPN_ERRTEXT_MAX];
    cpn_offer_t offer;
    cpn_rtask_t *rt;
    cpn_msg_t *m;
    cpn_status_t st;

    offer_prefetch(buf, len);
    st = cpn_wire_decode_offer(buf, len, &hdr, &off);
    if (st != CPN_OK) {
        if (cpn_wire_decode_hdr(buf, len, &hdr) != CPN_OK) {
            hdr.task_id = 0;
        }
        refuse(peer, hdr.task_id, st, "malformed OFFER: %s",
               cpn_status_str(st));
        return;
    }
    if (rtask_find(peer, hdr.task_id) != NULL) {
        refuse(peer, hdr.task_id, CPN_ERR_PROTO, "task id %llx is already "
               "being received", (unsigned long long)hdr.task_id);
        return;
    }
    if (cpn__job_check(off.job.ptr, off.job.len, &why) != CPN_OK) {
        cpn__name_quote(off.job.ptr, off.job.len, q, sizeof(q));
        refuse(peer, hdr.task_id, CPN_ERR_BAD_NAME, "job name \"%s\" %s", q,
               why);
        return;
    }
    if (off.nobjects > site->params.max_objects) {
        refuse(peer, hdr.task_id, CPN_ERR_LIMIT, "%u objects; this site "
               "takes at most %u (CPN_SITE_MAX_OBJECTS)", off.nobjects,
               site->params.max_objects);
        return;
    }
    if (off.total_bytes > site->params.max_task_bytes) {
        refuse(peer, hdr.task_id, CPN_ERR_LIMIT, "%llu bytes; this site "
               "takes at most %llu per task (CPN_SITE_MAX_TASK_BYTES)",
               (unsigned long long)off.total_bytes,
               (unsigned long long)site->params.max_task_bytes);
        return;
    }
    if (off.chunk_size > site->slot_size) {
        refuse(peer, hdr.task_id, CPN_ERR_PROTO, "chunk size %u is larger "
               "than this site's slots (%u)", off.chunk_size, site->slot_size);
        return;
    }

    rt = rtask_alloc(site);
    if (rt == NULL) {
        refuse(peer, hdr.task_id, CPN_ERR_NO_MEMORY, "out of memory");
        return;
    }
    rt->site = site;
    rt->peer = peer;
    rt->id = hdr.task_id;
    rt->chunk_size = off.chunk_size;
    rt->total_bytes = off.total_bytes;
    rt->cur_fd = -1;
    rt->cur_fd_obj = UINT32_MAX;
    rt->jfd = -1;
    rt->window = site->params.window;
    rt->t_start = cpn_time_ns();
    rt->job = strndup(off.job.ptr, off.job.len);
    /* Chunks in all: at most total_bytes / chunk_size plus one per object
     * (the decoder checked the sizes add up to total_bytes). */
    st = rtask_alloc_obj(rt, off.nobjects,
                         (size_t)(off.total_bytes / off.chunk_size) +
                             off.nobjects);
    if (off.spec.len > 0) {
        rt->spec = malloc(off.spec.len);
        if (rt->spec != NULL) {
            memcpy(rt->spec, off.spec.ptr, off.spec.len);
        }
        rt->spec_len = off.spec.len;
    }
    rt->next = site->rtasks;
    site->rtasks = rt;
    if (rt->job == NULL || st != CPN_OK ||
        (off.spec.len > 0 && rt->spec == NULL)) {
        rtask_fail(rt, 1, CPN_ERR_NO_MEMORY, "out of memory");
        return;
    }

    /* Every name checked before anything is written; duplicates through a
     * hash set, or for a few objects by comparing each with the others. */
    {
        size_t cap = 64, k = 0;
        uint32_t *set = NULL;

        while (cap < (size_t)off.nobjects * 2) {
            cap *= 2;
        }
        if (off.nobjects >= CPN_NAME_SET_MIN) {
            set = calloc(cap, sizeof(*set));
            if (set == NULL) {
                rtask_fail(rt, 1, CPN_ERR_NO_MEMORY, "out of memory");
                return;
            }
        }
        cpn_wire_offer_iter_init(&off, &it);
        for (i = 0; i < off.nobjects; i++) {
            cpn_robj_t *o = &rt->obj[i];

            cpn_wire_offer_next(&it, &wo);
            if (cpn__name_check(wo.name.ptr, wo.name.len,
                                site->params.max_name_len, &why) != CPN_OK) {
                cpn__name_quote(wo.name.ptr, wo.name.len, q, sizeof(q));
                free(set);
                rtask_fail(rt, 1, CPN_ERR_BAD_NAME, "object name \"%s\" %s",
                           q, why);
                return;
            }
            if (name_seen(rt, set, cap, i, wo.name, &k)) {
                cpn__name_quote(wo.name.ptr, wo.name.len, q, sizeof(q));
                free(set);
                rtask_fail(rt, 1, CPN_ERR_DUPLICATE, "object name \"%s\" "
                           "appears twice", q);
                return;
            }
            o->name = strndup(wo.name.ptr, wo.name.len);
            o->size = wo.size;
            o->nchunks = (wo.size + off.chunk_size - 1) / off.chunk_size;
            o->inlined = (wo.flags & CPN_WIRE_OBJ_INLINE) != 0;
            o->digest = wo.digest;
            rt->nobj = i + 1;
            if (o->name == NULL) {
                free(set);
                rtask_fail(rt, 1, CPN_ERR_NO_MEMORY, "out of memory");
                return;
            }
            if (set != NULL) {
                set[k] = i + 1;
            }
        }
        free(set);
        rtask_place_chunks(rt, rt->nobj);
    }

    /* The application may refuse, or route objects into its own memory. */
    if (site->params.offer_cb != NULL) {
        offer.rt = rt;
        st = site->params.offer_cb(site->params.offer_arg, &offer);
        if (st != CPN_OK) {
            rtask_fail(rt, 1, CPN_ERR_REFUSED, "refused by site %s: %s",
                       site->name, cpn_status_str(st));
            return;
        }
    }
    /* A task with no objects still lands, as an empty job directory. */
    rt->files = rt->nobj == 0 && site->land_dir != NULL;
    for (i = 0; i < rt->nobj; i++) {
        cpn_robj_t *o = &rt->obj[i];

        if (o->sink == NULL) {
            rt->files = 1;
            file_bytes += o->size;
        }
        if (!o->inlined) {
            rt->chunks_total += o->nchunks;
            if (o->sink == NULL) {
                rt->chunks_to_grant += o->nchunks;
            } else {
                nsinks++;
            }
        }
    }
    /* Site-wide bytes in flight and free disk (limits.c). */
    st = cpn__limits_offer(site, rt, rt->files ? file_bytes : 0, why_buf,
                           sizeof(why_buf));
    if (st != CPN_OK) {
        rtask_fail(rt, 1, st, "%s", why_buf);
        return;
    }
    if (rt->files) {
        if (site->land_dir == NULL) {
            rtask_fail(rt, 1, CPN_ERR_REFUSED, "site %s has no landing "
                       "directory (start it with --land DIR)", site->name);
            return;
        }
        resumed = cpn__resume_open(rt);
        if (resumed < 0) {
            int err = errno;

            rtask_fail(rt, 1, errno_status(err), "cannot create a resumable "
                       "partial directory in %s: %s", site->land_dir,
                       strerror(err));
            return;
        }
        if (resumed == 0 &&
            asprintf(&rt->tmpdir, "%s/" PARTIAL_PREFIX "%d.XXXXXX",
                     site->land_dir, (int)getpid()) < 0) {
            rt->tmpdir = NULL;
            rtask_fail(rt, 1, CPN_ERR_NO_MEMORY, "out of memory");
            return;
        }
        if (resumed == 0 && mkdtemp(rt->tmpdir) == NULL) {
            int err = errno;

            free(rt->tmpdir);
            rt->tmpdir = NULL;
            rtask_fail(rt, 1, errno_status(err), "cannot create a temporary "
                       "directory in %s: %s", site->land_dir, strerror(err));
            return;
        }
        for (i = 0; i < rt->nobj; i++) {
            int fd;

            if (rt->obj[i].sink != NULL) {
                continue;
            }
            fd = obj_open(rt, i, resumed ? 2 : 1);
            if (fd < 0) {
                int err = errno;

                rtask_fail(rt, 1, errno_status(err), "cannot create %s in %s: "
                           "%s", rt->obj[i].name, rt->tmpdir, strerror(err));
                return;
            }
            close(fd);
        }
    }

    /* Inline objects: verify and write now. */
    cpn_wire_offer_iter_init(&off, &it);
    for (i = 0; i < rt->nobj; i++) {
        cpn_wire_offer_next(&it, &wo);
        if (!rt->obj[i].inlined) {
            continue;
        }
        st = inline_land(rt, i, &wo);
        if (st != CPN_OK) {
            rtask_fail(rt, 1, st, "object %s: %s", rt->obj[i].name,
                       st == CPN_ERR_CHECKSUM
                           ? "checksum of the inline data does not match"
                           : strerror(errno));
            return;
        }
        rt->bytes_verified += rt->obj[i].size;
        rt->obj[i].done = 1;
    }
    if (rt->chunks_total == 0) {
        rtask_land(rt);
        return;
    }

    /* Accept with the first slots and the sinks. */
    slots = calloc(rt->window, sizeof(*slots));
    sinks = calloc(nsinks ? nsinks : 1, sizeof(*sinks));
    keys = malloc((size_t)(nsinks ? nsinks : 1) * CPN_TP_RKEY_MAX);
    m = cpn__msg_get(site);
    if (slots == NULL || sinks == NULL || keys == NULL || m == NULL) {
        st = CPN_ERR_NO_MEMORY;
        goto out;
    }
    /* A resumed task: the chunks it holds go first, in HAVE. */
    st = cpn__resume_send_have(rt);
    if (st != CPN_OK) {
        goto out;
    }
    nslots = grant_slots(rt, slots, rt->window);
    nsinks = 0;
    for (i = 0; i < rt->nobj; i++) {
        cpn_robj_t *o = &rt->obj[i];
        size_t klen = CPN_TP_RKEY_MAX;

        if (o->sink == NULL || o->inlined) {
            continue;
        }
        st = site->ops->key_pack(o->sink_mem->tp,
                                 keys + (size_t)nsinks * CPN_TP_RKEY_MAX,
                                 &klen);
        if (st != CPN_OK) {
            goto out;
        }
        sinks[nsinks].object = i;
        sinks[nsinks].addr = (uintptr_t)o->sink;
        sinks[nsinks].rkey.ptr =
            (const char *)keys + (size_t)nsinks * CPN_TP_RKEY_MAX;
        sinks[nsinks].rkey.len = klen;
        nsinks++;
    }
    st = cpn_wire_encode_accept(&m->buf, rt->id, CPN_OK, cpn_wire_str(NULL),
                                slots, nslots, sinks, nsinks);
    if (st == CPN_OK) {
        st = cpn__peer_send(peer, m);
        m = NULL;
    }
out:
    if (m != NULL) {
        cpn__msg_put(m);
    }
    free(slots);
    free(sinks);
    free(keys);
    if (st != CPN_OK) {
        rtask_fail(rt, 1, st, "cannot accept: %s", cpn_status_str(st));
    }
}

/* ---- chunks ---- */

/* Tests (CPN_SITE_FAULT_CORRUPT): with that probability, flip one byte of
 * a chunk that landed, as a fault on its way would, before it is checked;
 * from a fixed seed, the same faults on every run. */
static void fault_corrupt(cpn_site_t *site, uint8_t *data, uint32_t len)
{
    if (len > 0 && cpn__fault_rand(&site->fault_rng) < site->p_corrupt) {
        data[(size_t)(cpn__fault_rand(&site->fault_rng) * len)] ^= 0x5a;
    }
}

/* The hash of a chunk that landed at @p data: the one the transport took
 * as it copied the put in (@p l, DPDK), when it covers exactly these bytes,
 * else read here. Not under CPN_SITE_FAULT_CORRUPT, which flips a byte in
 * the region after the transport hashed it. */
static uint64_t chunk_hash(const cpn_tp_landed_t *l, const cpn_site_t *site,
                           const uint8_t *data, uint32_t len)
{
    if (l != NULL && l->len == len && l->addr == (uint64_t)(uintptr_t)data &&
        site->p_corrupt == 0) {
        return l->hash;
    }
    return cpn_hash64(data, len);
}

void cpn__recv_on_chunk(cpn_peer_t *peer, const void *buf, size_t len,
                        const cpn_tp_landed_t *landed)
{
    cpn_site_t *site = peer->site;
    cpn_wire_chunk_t c;
    cpn_wire_hdr_t hdr;
    cpn_rtask_t *rt;
    cpn_robj_t *o;
    const uint8_t *data;
    uint64_t ci;
    cpn_status_t st;

    if (cpn_wire_decode_chunk(buf, len, &hdr, &c) != CPN_OK) {
        cpn_warn("site %s: malformed CHUNK from %s dropped", site->name,
                 peer->addr);
        return;
    }
    rt = rtask_find(peer, hdr.task_id);
    if (rt == NULL) {
        return; /* a task that failed or was canceled: late chunk */
    }
    if (c.object >= rt->nobj) {
        rtask_fail(rt, 1, CPN_ERR_PROTO, "CHUNK names object %u of %u",
                   c.object, rt->nobj);
        return;
    }
    o = &rt->obj[c.object];
    if (o->inlined || c.offset % rt->chunk_size != 0 || c.offset >= o->size ||
        c.len != CPN_MIN((uint64_t)rt->chunk_size, o->size - c.offset)) {
        rtask_fail(rt, 1, CPN_ERR_PROTO, "CHUNK of %s at %llu+%u does not "
                   "fit the object", o->name, (unsigned long long)c.offset,
                   c.len);
        return;
    }
    if (c.slot == CPN_WIRE_SLOT_SINK) {
        if (o->sink == NULL) {
            rtask_fail(rt, 1, CPN_ERR_PROTO, "CHUNK of %s claims a sink it "
                       "does not have", o->name);
            return;
        }
        data = o->sink + c.offset;
    } else {
        if (c.slot >= site->nslots || site->slot_owner[c.slot] != rt ||
            o->sink != NULL) {
            rtask_fail(rt, 1, CPN_ERR_PROTO, "CHUNK of %s in slot %u that "
                       "was not granted to it", o->name, c.slot);
            return;
        }
        data = site->pool + (size_t)c.slot * site->slot_size;
    }
    ci = c.offset / rt->chunk_size;
    if (o->got[ci]) {
        if (c.slot != CPN_WIRE_SLOT_SINK) {
            slot_release(site, c.slot);
        }
        return;
    }
    if (cpn_unlikely(site->p_corrupt > 0)) {
        fault_corrupt(site, (uint8_t *)(uintptr_t)data, c.len);
    }
    if (chunk_hash(landed, site, data, c.len) != c.hash) {
        cpn_wire_nack_t n;
        cpn_msg_t *m;

        if (++rt->retries > CPN_MAX_RETRIES) {
            rtask_fail(rt, 1, CPN_ERR_CHECKSUM, "%llu chunks failed their "
                       "checksum (last: %s at %llu)",
                       (unsigned long long)rt->retries, o->name,
                       (unsigned long long)c.offset);
            return;
        }
        cpn_warn("site %s: chunk %s@%llu from %s failed its checksum; asking "
                 "again", site->name, o->name, (unsigned long long)c.offset,
                 peer->addr);
        n.slot = c.slot;
        n.object = c.object;
        n.offset = c.offset;
        n.len = c.len;
        n.status = CPN_ERR_CHECKSUM;
        m = cpn__msg_get(site);
        if (m != NULL && cpn_wire_encode_nack(&m->buf, rt->id, &n) == CPN_OK) {
            cpn__peer_send(peer, m);
        } else if (m != NULL) {
            cpn__msg_put(m);
        }
        return;
    }
    if (c.slot != CPN_WIRE_SLOT_SINK) {
        st = obj_write(rt, c.object, data, c.len, c.offset);
        if (st != CPN_OK) {
            int err = errno;

            rtask_fail(rt, 1, st, "cannot write %s in %s: %s", o->name,
                       rt->tmpdir, strerror(err));
            return;
        }
        slot_release(site, c.slot);
    }
    o->got[ci] = 1;
    o->hash[ci] = c.hash;
    if (rt->jfd >= 0) {
        cpn__resume_note(rt, c.object, ci, c.hash);
    }
    o->verified++;
    rt->chunks_verified++;
    rt->bytes_verified += c.len;
    if (o->verified == o->nchunks) {
        o->done = 1;
        if (rt->cur_fd_obj == c.object) {
            rtask_close_fd(rt);
        }
    }
    rtask_maybe_land(rt);
}

/* ---- COMMIT and CANCEL ---- */

static void on_commit(cpn_rtask_t *rt, const void *buf, size_t len)
{
    cpn_wire_commit_t c;
    cpn_wire_hdr_t hdr;
    uint32_t i;

    if (cpn_wire_decode_commit(buf, len, &hdr, &c) != CPN_OK ||
        c.nobjects != rt->nobj) {
        rtask_fail(rt, 1, CPN_ERR_CORRUPT, "malformed COMMIT");
        return;
    }
    for (i = 0; i < rt->nobj; i++) {
        if (!rt->obj[i].inlined) {
            rt->obj[i].digest = cpn_wire_commit_digest(&c, i);
        }
    }
    rt->committed = 1;
    rtask_maybe_land(rt);
}

void cpn__recv_on_msg(cpn_peer_t *peer, const cpn_wire_hdr_t *hdr,
                      const void *buf, size_t len)
{
    cpn_rtask_t *rt;

    if (hdr->type == CPN_MSG_OFFER) {
        on_offer(peer, buf, len);
        return;
    }
    rt = rtask_find(peer, hdr->task_id);
    if (rt == NULL) {
        return;
    }
    if (hdr->type == CPN_MSG_COMMIT) {
        on_commit(rt, buf, len);
    } else if (hdr->type == CPN_MSG_CANCEL) {
        cpn_wire_cancel_t c;
        cpn_wire_hdr_t h;

        if (cpn_wire_decode_cancel(buf, len, &h, &c) != CPN_OK) {
            c.reason = cpn_wire_str("(malformed CANCEL)");
        }
        rtask_fail(rt, 0, CPN_ERR_CANCELED, "canceled by %s: %.*s",
                   peer->name, (int)c.reason.len, c.reason.ptr);
    }
}

void cpn__recv_peer_failed(cpn_peer_t *peer)
{
    cpn_rtask_t *rt, *next;

    for (rt = peer->site->rtasks; rt != NULL; rt = next) {
        next = rt->next;
        if (rt->peer == peer) {
            rt->keep_partial = 1; /* cut off: resumable */
            rtask_fail(rt, 0, peer->status < 0 ? peer->status
                                               : CPN_ERR_CONN_RESET,
                       "%s", peer->err);
        }
    }
}

void cpn__rtask_expire(cpn_rtask_t *rt, int deadline_ms)
{
    rtask_fail(rt, 1, CPN_ERR_TIMEOUT, "task %s from peer %s (%s) missed its "
               "deadline of %d ms (CPN_SITE_TASK_DEADLINE) %s: %llu of %llu "
               "chunks verified", rt->job, rt->peer->name, rt->peer->addr,
               deadline_ms, rt->committed ? "after COMMIT"
                                          : "waiting for chunks",
               (unsigned long long)rt->chunks_verified,
               (unsigned long long)rt->chunks_total);
}

void cpn__rtask_supersede(cpn_rtask_t *old)
{
    old->keep_partial = 1;
    rtask_fail(old, 1, CPN_ERR_CANCELED, "superseded by a new offer of the "
               "same task from %s: resuming there", old->peer->name);
}

void cpn__recv_close_all(cpn_site_t *site)
{
    cpn_rtask_t *spare;

    while (site->rtasks != NULL) {
        site->rtasks->keep_partial = 1;
        rtask_fail(site->rtasks, 0, CPN_ERR_CANCELED, "site %s closed",
                   site->name);
    }
    spare = site->rtask_spare;
    site->rtask_spare = NULL;
    if (spare != NULL) {
        free(spare->obj);
        free(spare->chunk_block);
        free(spare);
    }
}

/* ---- the offer as the application sees it ---- */

const char *cpn_offer_job(const cpn_offer_t *offer)
{
    return offer->rt->job;
}

const void *cpn_offer_spec(const cpn_offer_t *offer, size_t *len_p)
{
    if (len_p != NULL) {
        *len_p = offer->rt->spec_len;
    }
    return offer->rt->spec;
}

size_t cpn_offer_count(const cpn_offer_t *offer)
{
    return offer->rt->nobj;
}

const char *cpn_offer_name(const cpn_offer_t *offer, size_t i)
{
    return i < offer->rt->nobj ? offer->rt->obj[i].name : NULL;
}

uint64_t cpn_offer_size(const cpn_offer_t *offer, size_t i)
{
    return i < offer->rt->nobj ? offer->rt->obj[i].size : 0;
}

cpn_peer_t *cpn_offer_peer(const cpn_offer_t *offer)
{
    return offer->rt->peer;
}

cpn_status_t cpn_offer_set_sink(cpn_offer_t *offer, size_t i, void *addr,
                                cpn_mem_t *mem)
{
    cpn_robj_t *o;

    if (offer == NULL || i >= offer->rt->nobj || mem == NULL ||
        mem->site != offer->rt->site) {
        return CPN_ERR_INVALID;
    }
    o = &offer->rt->obj[i];
    if ((uint8_t *)addr < (uint8_t *)mem->addr ||
        (uint8_t *)addr + o->size > (uint8_t *)mem->addr + mem->len) {
        cpn_error("sink for %s (%llu bytes) lies outside its registered "
                  "region", o->name, (unsigned long long)o->size);
        return CPN_ERR_INVALID;
    }
    o->sink = addr;
    o->sink_mem = mem;
    return CPN_OK;
}
