/* SPDX-License-Identifier: Apache-2.0 */
/* The sender's side of a delivery: building a task from files and memory,
 * the OFFER (small objects inside it), chunked puts into the slots or sinks
 * the receiver grants with a window in flight, per-chunk XXH3, the COMMIT
 * of object digests, and completion on the receiver's RECEIPT. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <sched.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/compiler.h"
#include "core/log.h"
#include "runtime/names.h"
#include "runtime/site_int.h"

/* ---- building a task ---- */

/* One destroyed task kept for the next cpn_task_create, with the buffers it
 * grew (object array, chunk hashes, receipt), so that a stream of small
 * tasks runs without malloc in steady state. Process-wide, so that a task
 * destroyed after its site closed never touches the site; an atomic
 * exchange makes it safe for tasks of sites on different threads. */
static cpn_task_t *task_spare;

/* Largest buffers a spare task keeps; a task that grew more frees them. */
#define SPARE_MAX_OBJ 64
#define SPARE_MAX_HASHES 4096
#define SPARE_MAX_STRS 4096

/* A zeroed task, the spare one when there is one. */
static cpn_task_t *task_alloc(void)
{
    cpn_task_t *task = __atomic_exchange_n(&task_spare, NULL,
                                           __ATOMIC_ACQUIRE);
    cpn_task_t keep;

    if (task == NULL) {
        return calloc(1, sizeof(*task));
    }
    keep = *task;
    memset(task, 0, sizeof(*task));
    task->obj = keep.obj;
    task->obj_cap = keep.obj_cap;
    task->hashes = keep.hashes;
    task->hashes_cap = keep.hashes_cap;
    task->receipt_obj = keep.receipt_obj;
    task->receipt_obj_cap = keep.receipt_obj_cap;
    task->receipt_strs = keep.receipt_strs;
    task->receipt_strs_cap = keep.receipt_strs_cap;
    return task;
}

/* Free @p task, or keep it as the spare when its buffers are modest; the
 * caller freed everything else it held. */
static void task_release(cpn_task_t *task)
{
    cpn_task_t *old;

    if (task->obj_cap > SPARE_MAX_OBJ || task->hashes_cap > SPARE_MAX_HASHES ||
        task->receipt_obj_cap > SPARE_MAX_OBJ ||
        task->receipt_strs_cap > SPARE_MAX_STRS) {
        old = task;
    } else {
        old = __atomic_exchange_n(&task_spare, task, __ATOMIC_RELEASE);
    }
    if (old != NULL) {
        free(old->obj);
        free(old->hashes);
        free(old->receipt_obj);
        free(old->receipt_strs);
        free(old);
    }
}

cpn_status_t cpn_task_create(cpn_site_t *site, const char *job,
                             cpn_task_t **task_p)
{
    const char *why;
    cpn_task_t *task;

    if (site == NULL || job == NULL || task_p == NULL) {
        return CPN_ERR_INVALID;
    }
    if (cpn__job_check(job, strlen(job), &why) != CPN_OK) {
        char q[128];

        cpn__name_quote(job, strlen(job), q, sizeof(q));
        cpn_error("job name \"%s\" %s: use one path part of 1-255 bytes",
                  q, why);
        return CPN_ERR_BAD_NAME;
    }
    task = task_alloc();
    if (task == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    task->job = strdup(job);
    if (task->job == NULL) {
        task_release(task);
        return CPN_ERR_NO_MEMORY;
    }
    task->site = site;
    task->cur_fd = -1;
    task->cur_fd_obj = UINT32_MAX;
    task->state = CPN_TASK_NEW;
    task->status = CPN_INPROGRESS;
    *task_p = task;
    return CPN_OK;
}

static void task_release_transfer(cpn_task_t *task)
{
    size_t i;

    for (i = 0; i < task->nobj; i++) {
        if (task->obj[i].sink_rkey != NULL) {
            task->site->ops->key_release(task->obj[i].sink_rkey);
            task->obj[i].sink_rkey = NULL;
        }
    }
    if (task->stage_mem != NULL) {
        cpn_site_mem_dereg(task->stage_mem);
        task->stage_mem = NULL;
    }
}

static unsigned task_inflight(const cpn_task_t *task)
{
    return task->puts != NULL ? task->window - task->nput_free : 0;
}

void cpn_task_destroy(cpn_task_t *task)
{
    uint64_t deadline;
    size_t i;

    if (task == NULL) {
        return;
    }
    if (task->state != CPN_TASK_NEW && task->state != CPN_TASK_DONE &&
        cpn_task_cancel(task) == CPN_ERR_BUSY) {
        /* past the commit: the caller gives up on the receipt */
        cpn__task_fail(task, CPN_ERR_CANCELED, "destroyed while waiting for "
                       "the receipt (the receiver may have landed it)");
    }
    /* Puts still in flight point into this task: let them finish. */
    if (task_inflight(task) > 0) {
        deadline = cpn_deadline_ns(5000);
        while (task_inflight(task) > 0 && cpn_time_ns() < deadline) {
            cpn_site_progress(task->site);
        }
        if (task_inflight(task) > 0) {
            cpn_error("task %s: %u puts never completed; leaking the task",
                      task->job, task_inflight(task));
            return;
        }
    }
    task_release_transfer(task);
    for (i = 0; i < task->nobj; i++) {
        free(task->obj[i].name);
        free(task->obj[i].path);
        free(task->obj[i].skip);
    }
    if (task->cur_fd >= 0 && task->cur_fd_obj != UINT32_MAX) {
        close(task->cur_fd);
    }
    free(task->name_set);
    free(task->resend);
    free(task->slots);
    free(task->puts);
    free(task->put_free);
    free(task->stage);
    free(task->chunk_hist);
    free(task->spec);
    free(task->job);
    task_release(task);
}

cpn_status_t cpn_task_set_spec(cpn_task_t *task, const void *spec, size_t len)
{
    uint8_t *copy = NULL;

    if (task->state != CPN_TASK_NEW) {
        return CPN_ERR_BUSY;
    }
    if (len > CPN_WIRE_MAX_SPEC) {
        cpn_error("task %s: job spec of %zu bytes is over the %u-byte limit",
                  task->job, len, CPN_WIRE_MAX_SPEC);
        return CPN_ERR_TOO_BIG;
    }
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        memcpy(copy, spec, len);
    }
    free(task->spec);
    task->spec = copy;
    task->spec_len = len;
    return CPN_OK;
}

/* Name set: open addressing on XXH3 of the name; entries are index + 1.
 * A task of fewer than CPN_NAME_SET_MIN objects compares names in turn.
 * @return 1 for a duplicate, 0 when added, -1 when out of memory. */
static int name_set_insert(cpn_task_t *task, const char *name, size_t len)
{
    size_t cap = task->name_set_cap, i, mask;
    uint32_t *set;

    if (task->nobj < CPN_NAME_SET_MIN) {
        for (i = 0; i < task->nobj; i++) {
            const cpn_obj_t *o = &task->obj[i];

            if (o->name_len == len && memcmp(o->name, name, len) == 0) {
                return 1;
            }
        }
        return 0;
    }
    if ((task->nobj + 1) * 2 > cap) {
        size_t ncap = cap ? cap * 2 : 64;

        set = calloc(ncap, sizeof(*set));
        if (set == NULL) {
            return -1;
        }
        /* Every earlier object, also those before the set existed. */
        for (i = 0; i < task->nobj; i++) {
            const cpn_obj_t *o = &task->obj[i];
            size_t j = cpn_hash64(o->name, o->name_len) & (ncap - 1);

            while (set[j] != 0) {
                j = (j + 1) & (ncap - 1);
            }
            set[j] = (uint32_t)i + 1;
        }
        free(task->name_set);
        task->name_set = set;
        task->name_set_cap = cap = ncap;
    }
    mask = cap - 1;
    for (i = cpn_hash64(name, len) & mask; task->name_set[i] != 0;
         i = (i + 1) & mask) {
        const cpn_obj_t *o = &task->obj[task->name_set[i] - 1];

        if (o->name_len == len && memcmp(o->name, name, len) == 0) {
            return 1;
        }
    }
    task->name_set[i] = (uint32_t)task->nobj + 1;
    return 0;
}

static cpn_status_t task_add(cpn_task_t *task, const char *name,
                             const void *buf, uint64_t size, cpn_mem_t *mem,
                             const char *path)
{
    size_t len;
    const char *why;
    char q[256];
    cpn_obj_t *o;
    int dup;

    if (task == NULL || name == NULL) {
        return CPN_ERR_INVALID;
    }
    if (task->state != CPN_TASK_NEW) {
        return CPN_ERR_BUSY;
    }
    len = strlen(name);
    if (cpn__name_check(name, len, CPN_WIRE_MAX_STR, &why) != CPN_OK) {
        cpn__name_quote(name, len, q, sizeof(q));
        cpn_error("task %s: object name \"%s\" %s; use a relative path "
                  "inside the task", task->job, q, why);
        return CPN_ERR_BAD_NAME;
    }
    if (task->nobj >= CPN_WIRE_MAX_OBJECTS) {
        cpn_error("task %s: more than %u objects", task->job,
                  CPN_WIRE_MAX_OBJECTS);
        return CPN_ERR_TOO_BIG;
    }
    if (task->nobj == task->obj_cap) {
        size_t ncap = task->obj_cap ? task->obj_cap * 2 : 4;
        cpn_obj_t *n = realloc(task->obj, ncap * sizeof(*n));

        if (n == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        task->obj = n;
        task->obj_cap = ncap;
    }
    o = &task->obj[task->nobj];
    memset(o, 0, sizeof(*o));
    o->name = strdup(name);
    o->path = path ? strdup(path) : NULL;
    if (o->name == NULL || (path != NULL && o->path == NULL)) {
        free(o->name);
        free(o->path);
        return CPN_ERR_NO_MEMORY;
    }
    o->name_len = len;
    dup = name_set_insert(task, o->name, len);
    if (dup != 0) {
        free(o->name);
        free(o->path);
        if (dup < 0) {
            return CPN_ERR_NO_MEMORY;
        }
        cpn__name_quote(name, len, q, sizeof(q));
        cpn_error("task %s: object name \"%s\" appears twice", task->job, q);
        return CPN_ERR_DUPLICATE;
    }
    o->size = size;
    o->buf = buf;
    o->mem = mem;
    o->fd = -1;
    task->nobj++;
    task->total_bytes += size;
    return CPN_OK;
}

cpn_status_t cpn_task_add_mem(cpn_task_t *task, const char *name,
                              const void *buf, size_t len, cpn_mem_t *mem)
{
    if (buf == NULL && len > 0) {
        return CPN_ERR_INVALID;
    }
    if (mem != NULL && ((const uint8_t *)buf < (const uint8_t *)mem->addr ||
                        (const uint8_t *)buf + len >
                            (const uint8_t *)mem->addr + mem->len)) {
        cpn_error("task %s: object %s lies outside the registered region "
                  "given with it", task->job, name);
        return CPN_ERR_INVALID;
    }
    return task_add(task, name, len > 0 ? buf : "", len, mem, NULL);
}

cpn_status_t cpn_task_add_file(cpn_task_t *task, const char *name,
                               const char *path)
{
    struct stat sb;

    if (path == NULL) {
        return CPN_ERR_INVALID;
    }
    if (stat(path, &sb) != 0 || access(path, R_OK) != 0) {
        cpn_error("task %s: cannot read %s: %s", task->job, path,
                  strerror(errno));
        return CPN_ERR_IO;
    }
    if (!S_ISREG(sb.st_mode)) {
        cpn_error("task %s: %s is not a regular file", task->job, path);
        return CPN_ERR_IO;
    }
    return task_add(task, name, NULL, (uint64_t)sb.st_size, NULL, path);
}

static cpn_status_t add_tree(cpn_task_t *task, const char *path,
                             const char *name)
{
    struct dirent **ents;
    struct stat sb;
    cpn_status_t st = CPN_OK;
    int n, i;

    if (stat(path, &sb) != 0) {
        cpn_error("task %s: cannot read %s: %s", task->job, path,
                  strerror(errno));
        return CPN_ERR_IO;
    }
    if (S_ISREG(sb.st_mode)) {
        return cpn_task_add_file(task, name, path);
    }
    if (!S_ISDIR(sb.st_mode)) {
        cpn_warn("task %s: skipping %s: not a file or directory", task->job,
                 path);
        return CPN_OK;
    }
    n = scandir(path, &ents, NULL, alphasort);
    if (n < 0) {
        cpn_error("task %s: cannot list %s: %s", task->job, path,
                  strerror(errno));
        return CPN_ERR_IO;
    }
    for (i = 0; i < n; i++) {
        const char *e = ents[i]->d_name;
        char *cpath = NULL, *cname = NULL;

        if (st == CPN_OK && strcmp(e, ".") != 0 && strcmp(e, "..") != 0) {
            if (asprintf(&cpath, "%s/%s", path, e) < 0 ||
                asprintf(&cname, "%s/%s", name, e) < 0) {
                st = CPN_ERR_NO_MEMORY;
            } else {
                st = add_tree(task, cpath, cname);
            }
            free(cpath);
            free(cname);
        }
        free(ents[i]);
    }
    free(ents);
    return st;
}

cpn_status_t cpn_task_add_path(cpn_task_t *task, const char *path)
{
    char real[PATH_MAX], base[PATH_MAX];

    if (task == NULL || path == NULL) {
        return CPN_ERR_INVALID;
    }
    if (realpath(path, real) == NULL) {
        cpn_error("task %s: cannot read %s: %s", task->job, path,
                  strerror(errno));
        return CPN_ERR_IO;
    }
    snprintf(base, sizeof(base), "%s", real);
    if (strcmp(base, "/") == 0) {
        cpn_error("task %s: cannot send the root directory", task->job);
        return CPN_ERR_INVALID;
    }
    return add_tree(task, real, basename(base));
}

/* ---- finishing ---- */

static void task_unlink_active(cpn_task_t *task)
{
    cpn_task_t **pp;

    for (pp = &task->site->active; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == task) {
            *pp = task->next;
            break;
        }
    }
    task->next = NULL;
}

static void task_finish(cpn_task_t *task, cpn_status_t status)
{
    task->state = CPN_TASK_DONE;
    task->status = status;
    task->t_end = cpn_time_ns();
    task_unlink_active(task);
    if (task->cur_fd >= 0 && task->cur_fd_obj != UINT32_MAX) {
        close(task->cur_fd);
        task->cur_fd = -1;
        task->cur_fd_obj = UINT32_MAX;
    }
    if (task_inflight(task) == 0) {
        task_release_transfer(task);
    }
    task->peer = NULL;
    if (task->cbs.done != NULL) {
        task->cbs.done(task->cbs.arg, task, status);
    }
}

void cpn__task_fail(cpn_task_t *task, cpn_status_t status, const char *fmt,
                    ...)
{
    va_list ap;

    if (task->state == CPN_TASK_DONE || task->state == CPN_TASK_NEW) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(task->err, sizeof(task->err), fmt, ap);
    va_end(ap);
    cpn_info("task %s: %s", task->job, task->err);
    /* Tell the receiver, unless it is the one who gave up. */
    cpn__send_cancel(task->peer, task->id, status, task->err);
    task_finish(task, status);
}

cpn_status_t cpn_task_cancel(cpn_task_t *task)
{
    if (task == NULL || task->state == CPN_TASK_NEW ||
        task->state == CPN_TASK_DONE) {
        return CPN_ERR_INVALID;
    }
    if (task->state == CPN_TASK_COMMITTED) {
        /* Every chunk is verified and COMMIT is on its way: the receiver
         * lands the task as it reads it, so a CANCEL could only race it and
         * leave a "canceled" task landed. The receipt (or an error) decides. */
        cpn_info("task %s to %s: too late to cancel: committed, waiting for "
                 "the receipt", task->job, task->peer->name);
        return CPN_ERR_BUSY;
    }
    cpn__task_fail(task, CPN_ERR_CANCELED, "canceled by the sender");
    return CPN_OK;
}

static const char *const task_phase[] = {
    [CPN_TASK_NEW] = "before the offer",
    [CPN_TASK_OFFERED] = "waiting for the receiver to accept",
    [CPN_TASK_SENDING] = "while sending chunks",
    [CPN_TASK_COMMITTED] = "waiting for the receipt",
    [CPN_TASK_DONE] = "after the end",
};

const char *cpn__task_phase(const cpn_task_t *task)
{
    return task_phase[task->state];
}

void cpn__task_peer_failed(cpn_peer_t *peer)
{
    const char *const *phase = task_phase;
    cpn_task_t *task, *next;

    for (task = peer->site->active; task != NULL; task = next) {
        next = task->next;
        if (task->peer == peer) {
            cpn_status_t st = peer->status < 0 ? peer->status
                                               : CPN_ERR_CONN_RESET;

            cpn__errtext(task->err, sizeof(task->err), "%s (%s)", peer->err,
                     phase[task->state]);
            task->peer = NULL;
            task_finish(task, st);
        }
    }
}

/* ---- the offer ---- */

static cpn_status_t read_whole(cpn_task_t *task, cpn_obj_t *o, uint8_t **buf_p)
{
    uint8_t *buf;
    ssize_t n;
    int fd;

    buf = malloc(o->size ? o->size : 1);
    if (buf == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(task->err, sizeof(task->err), "cannot open %s: %s", o->path,
                 strerror(errno));
        free(buf);
        return CPN_ERR_IO;
    }
    n = o->size ? pread(fd, buf, o->size, 0) : 0;
    close(fd);
    if (n != (ssize_t)o->size) {
        snprintf(task->err, sizeof(task->err),
                 "cannot read %s: %s", o->path,
                 n < 0 ? strerror(errno) : "file changed size");
        free(buf);
        return CPN_ERR_IO;
    }
    *buf_p = buf;
    return CPN_OK;
}

static void hash_chunks(cpn_obj_t *o, const uint8_t *data, uint32_t chunk)
{
    uint64_t i;

    for (i = 0; i < o->nchunks; i++) {
        uint64_t off = i * chunk;

        o->hash[i] = cpn_hash64(data + off, CPN_MIN(chunk, o->size - off));
    }
}

static cpn_status_t task_check_limits(cpn_task_t *task, cpn_peer_t *peer)
{
    size_t i;

    if (peer->max_objects && task->nobj > peer->max_objects) {
        snprintf(task->err, sizeof(task->err),
                 "task has %zu objects; receiver %s takes at most %u",
                 task->nobj, peer->name, peer->max_objects);
        return CPN_ERR_LIMIT;
    }
    if (peer->max_task_bytes && task->total_bytes > peer->max_task_bytes) {
        snprintf(task->err, sizeof(task->err),
                 "task has %llu bytes; receiver %s takes at most %llu",
                 (unsigned long long)task->total_bytes, peer->name,
                 (unsigned long long)peer->max_task_bytes);
        return CPN_ERR_LIMIT;
    }
    for (i = 0; i < task->nobj; i++) {
        if (peer->max_name_len && task->obj[i].name_len > peer->max_name_len) {
            snprintf(task->err, sizeof(task->err),
                     "object name %.64s... is %zu bytes; receiver %s takes "
                     "at most %u", task->obj[i].name, task->obj[i].name_len,
                     peer->name, peer->max_name_len);
            return CPN_ERR_LIMIT;
        }
    }
    return CPN_OK;
}

/* Count each object's chunks of @p chunk bytes and point its hashes into
 * one zeroed block for the whole task (kept across tasks, see task_spare). */
static cpn_status_t task_alloc_hashes(cpn_task_t *task, uint32_t chunk)
{
    size_t total = 0, i;

    for (i = 0; i < task->nobj; i++) {
        cpn_obj_t *o = &task->obj[i];

        o->nchunks = (o->size + chunk - 1) / chunk;
        if (o->nchunks > SIZE_MAX / sizeof(uint64_t) - total) {
            return CPN_ERR_NO_MEMORY;
        }
        total += (size_t)o->nchunks;
    }
    if (total > task->hashes_cap) {
        uint64_t *h = malloc(total * sizeof(*h));

        if (h == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        free(task->hashes);
        task->hashes = h;
        task->hashes_cap = total;
    }
    if (total > 0) {
        memset(task->hashes, 0, total * sizeof(*task->hashes));
    }
    total = 0;
    for (i = 0; i < task->nobj; i++) {
        task->obj[i].hash = task->hashes != NULL ? task->hashes + total
                                                 : NULL;
        total += (size_t)task->obj[i].nchunks;
    }
    return CPN_OK;
}

cpn_status_t cpn_task_deliver(cpn_task_t *task, cpn_peer_t *peer,
                              const cpn_task_cbs_t *cbs)
{
    cpn_site_t *site;
    uint64_t inline_left = CPN_OFFER_INLINE_BUDGET;
    uint32_t chunk, inline_max;
    cpn_wire_object_t wo;
    cpn_msg_t *m;
    cpn_status_t st;
    size_t i;

    if (task == NULL || peer == NULL) {
        return CPN_ERR_INVALID;
    }
    if (task->state != CPN_TASK_NEW) {
        return CPN_ERR_BUSY;
    }
    site = task->site;
    if (peer->site != site || peer->state != CPN_PEER_READY) {
        cpn_error("task %s: peer %s is not connected (%s)", task->job,
                  peer->addr, peer->err[0] ? peer->err : "not ready");
        return peer->status < 0 ? peer->status : CPN_ERR_INVALID;
    }
    st = task_check_limits(task, peer);
    if (st != CPN_OK) {
        cpn_error("task %s: %s", task->job, task->err);
        return st;
    }
    chunk = (uint32_t)site->params.chunk_size;
    if (peer->slot_size != 0 && peer->slot_size < chunk) {
        chunk = peer->slot_size;
    }
    task->chunk_size = chunk;
    task->window = site->params.window;
    inline_max = (uint32_t)CPN_MIN(site->params.inline_max, peer->inline_max);
    task->id = site->next_task_id++;
    task->peer = peer;
    task->cur_fd = -1;
    task->cur_fd_obj = UINT32_MAX;
    if (cbs != NULL) {
        task->cbs = *cbs;
    }

    st = task_alloc_hashes(task, chunk);
    if (st != CPN_OK) {
        task->peer = NULL;
        return st;
    }
    m = cpn__msg_get(site);
    if (m == NULL) {
        task->peer = NULL;
        return CPN_ERR_NO_MEMORY;
    }
    st = cpn_wire_offer_begin(&m->buf, task->id, cpn_wire_str(task->job),
                              (cpn_wire_str_t){(const char *)task->spec,
                                               task->spec_len},
                              chunk);
    for (i = 0; st == CPN_OK && i < task->nobj; i++) {
        cpn_obj_t *o = &task->obj[i];
        uint8_t *fbuf = NULL;
        const uint8_t *data;

        memset(&wo, 0, sizeof(wo));
        wo.name.ptr = o->name;
        wo.name.len = o->name_len;
        wo.size = o->size;
        o->inlined = o->size <= inline_max && o->size <= inline_left;
        if (o->inlined) {
            data = o->buf;
            if (data == NULL) {
                st = read_whole(task, o, &fbuf);
                if (st != CPN_OK) {
                    break;
                }
                data = fbuf;
            }
            hash_chunks(o, data, chunk);
            o->digest = cpn_object_digest(o->size, chunk, o->hash, o->nchunks);
            inline_left -= o->size;
            wo.flags = CPN_WIRE_OBJ_INLINE;
            wo.digest = o->digest;
            wo.data = data;
        }
        st = cpn_wire_offer_add(&m->buf, &wo);
        free(fbuf);
    }
    if (st == CPN_OK) {
        st = cpn_wire_offer_end(&m->buf);
    }
    if (st != CPN_OK) {
        cpn__msg_put(m);
        cpn_error("task %s: cannot build the offer: %s", task->job,
                  task->err[0] ? task->err : cpn_status_str(st));
        task->peer = NULL;
        return st;
    }
    task->t_start = cpn_time_ns();
    task->state = CPN_TASK_OFFERED;
    task->next = site->active;
    site->active = task;
    st = cpn__peer_send(peer, m);
    if (st != CPN_OK) {
        task_unlink_active(task);
        task->state = CPN_TASK_NEW;
        task->peer = NULL;
        cpn_error("task %s: cannot send the offer to %s: %s", task->job,
                  peer->addr, cpn_status_str(st));
        return st;
    }
    return CPN_INPROGRESS;
}

/* ---- chunks ---- */

static void put_done(void *arg, cpn_status_t status);

static cpn_status_t task_setup_transfer(cpn_task_t *task)
{
    int files = 0;
    size_t i;
    cpn_status_t st;

    task->puts = calloc(task->window, sizeof(*task->puts));
    task->put_free = calloc(task->window, sizeof(*task->put_free));
    task->chunk_hist = malloc(sizeof(*task->chunk_hist));
    if (task->puts == NULL || task->put_free == NULL ||
        task->chunk_hist == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    cpn_hist_init(task->chunk_hist);
    for (i = 0; i < task->window; i++) {
        task->put_free[i] = task->window - 1 - (uint32_t)i;
        task->puts[i].task = task;
    }
    task->nput_free = task->window;
    for (i = 0; i < task->nobj; i++) {
        files |= !task->obj[i].inlined && task->obj[i].buf == NULL &&
                 task->obj[i].size > 0;
    }
    if (files) {
        size_t len = (size_t)task->window * task->chunk_size;

        task->stage = aligned_alloc(4096, len);
        if (task->stage == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        st = cpn_site_mem_reg(task->site, task->stage, len, &task->stage_mem);
        if (st != CPN_OK) {
            return st;
        }
        for (i = 0; i < task->window; i++) {
            task->puts[i].stage = task->stage + i * task->chunk_size;
        }
    }
    return CPN_OK;
}

/* Next chunk to send: resends first, then the cursor. */
static int next_chunk(cpn_task_t *task, uint32_t *obj_p, uint64_t *off_p)
{
    if (task->nresend > 0) {
        task->nresend--;
        *obj_p = task->resend[task->nresend].obj;
        *off_p = task->resend[task->nresend].offset;
        return 1;
    }
    while (task->cur_obj < task->nobj) {
        cpn_obj_t *o = &task->obj[task->cur_obj];

        if (!o->inlined && task->cur_off < o->size) {
            if (__builtin_expect(o->skip != NULL, 0) &&
                o->skip[task->cur_off / task->chunk_size]) {
                /* resumed: the receiver holds this one (on_have) */
                task->cur_off += task->chunk_size;
                continue;
            }
            *obj_p = task->cur_obj;
            *off_p = task->cur_off;
            task->cur_off += task->chunk_size;
            return 1;
        }
        task->cur_obj++;
        task->cur_off = 0;
    }
    return 0;
}

static void unget_chunk(cpn_task_t *task, uint32_t obj, uint64_t off)
{
    /* Only the chunk just taken can be given back: undo the cursor or the
     * resend pop. */
    if (task->cur_obj == obj && task->cur_off == off + task->chunk_size) {
        task->cur_off = off;
    } else {
        task->nresend++;
    }
}

static cpn_status_t read_chunk(cpn_task_t *task, cpn_obj_t *o, uint32_t obj,
                               uint64_t off, uint32_t len, uint8_t *dst)
{
    ssize_t n;

    if (task->cur_fd_obj != obj) {
        if (task->cur_fd >= 0) {
            close(task->cur_fd);
        }
        task->cur_fd_obj = UINT32_MAX;
        task->cur_fd = open(o->path, O_RDONLY | O_CLOEXEC);
        if (task->cur_fd < 0) {
            snprintf(task->err, sizeof(task->err), "cannot open %s: %s",
                     o->path, strerror(errno));
            return CPN_ERR_IO;
        }
        task->cur_fd_obj = obj;
    }
    n = pread(task->cur_fd, dst, len, (off_t)off);
    if (n != (ssize_t)len) {
        snprintf(task->err, sizeof(task->err), "cannot read %s at %llu: %s",
                 o->path, (unsigned long long)off,
                 n < 0 ? strerror(errno) : "file shrank while sending");
        return CPN_ERR_IO;
    }
    return CPN_OK;
}

static void task_commit(cpn_task_t *task)
{
    cpn_digest_t *dig;
    cpn_msg_t *m;
    cpn_status_t st;
    size_t i;

    dig = malloc((task->nobj ? task->nobj : 1) * sizeof(*dig));
    m = cpn__msg_get(task->site);
    if (dig == NULL || m == NULL) {
        free(dig);
        if (m != NULL) {
            cpn__msg_put(m);
        }
        cpn__task_fail(task, CPN_ERR_NO_MEMORY, "out of memory at commit");
        return;
    }
    for (i = 0; i < task->nobj; i++) {
        cpn_obj_t *o = &task->obj[i];

        if (!o->inlined) {
            o->digest = cpn_object_digest(o->size, task->chunk_size, o->hash,
                                          o->nchunks);
        }
        dig[i] = o->digest;
    }
    st = cpn_wire_encode_commit(&m->buf, task->id, dig, (uint32_t)task->nobj);
    free(dig);
    if (st == CPN_OK) {
        st = cpn__peer_send(task->peer, m);
    } else {
        cpn__msg_put(m);
    }
    if (st != CPN_OK) {
        cpn__task_fail(task, st, "cannot send COMMIT to %s: %s",
                       task->peer->addr, cpn_status_str(st));
        return;
    }
    task->state = CPN_TASK_COMMITTED;
}

/* Chunks of at least this size are copied and hashed on the site's
 * hashing threads when it has them; smaller ones cost less than the
 * hand-off. */
#define CPN_HPOOL_MIN_CHUNK (256u * 1024u)

/* The second half of a chunk, once its bytes are hashed (and, mapped,
 * copied): record the hash and tell the receiver, by a notify after the
 * copy or by a put that carries it. @return 0 when the task failed. */
static int chunk_send(cpn_task_t *task, cpn_put_t *p)
{
    cpn_site_t *site = task->site;
    cpn_peer_t *peer = task->peer;
    cpn_obj_t *o = &task->obj[p->obj];
    uint8_t notify[CPN_WIRE_CHUNK_LEN];
    cpn_wire_chunk_t c;
    cpn_status_t st;

    c.slot = p->slot;
    c.object = p->obj;
    c.offset = p->offset;
    c.len = p->len;
    c.hash = p->job.hash;
    o->hash[p->offset / task->chunk_size] = c.hash;
    cpn_wire_encode_chunk(notify, task->id, &c);
    if (p->mapped) {
        task->chunks_mapped++;
        st = site->ops->notify(peer->ep, notify, sizeof(notify), put_done, p);
        if (st == CPN_OK) {
            task->chunks_sent++;
            put_done(p, CPN_OK);
            return 1;
        }
    } else {
        st = site->ops->put(peer->ep, p->src, p->len, p->mem, p->raddr,
                            p->rkey, notify, sizeof(notify), put_done, p);
    }
    if (st != CPN_INPROGRESS) {
        task->put_free[task->nput_free++] = (uint32_t)(p - task->puts);
        cpn__task_fail(task, st, "put of %s at offset %llu to %s failed: %s",
                       o->name, (unsigned long long)p->offset, peer->addr,
                       cpn_status_str(st));
        return 0;
    }
    task->chunks_sent++;
    return 1;
}

/* CPUs this thread may run on (1 when that cannot be told). */
static unsigned thread_cpus(void)
{
    cpu_set_t set;

    if (pthread_getaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
        return 1;
    }
    return (unsigned)CPU_COUNT(&set);
}

/* Start the site's hashing threads the first time a memory object has
 * chunks big enough for them (a process that sends only files never has
 * them); without them everything runs here, as before. Not when
 * this thread is bound to one CPU (a DPDK lcore, taskset): the threads
 * would only take turns with it there. */
static cpn_hpool_t *task_hpool(cpn_task_t *task)
{
    cpn_site_t *site = task->site;

    if (site->hpool != NULL || site->params.hash_threads == 0 ||
        task->chunk_size < CPN_HPOOL_MIN_CHUNK) {
        return site->hpool;
    }
    if (thread_cpus() < 2) {
        cpn_debug("site %s: progress thread bound to one CPU; hashing on it",
                  site->name);
        site->params.hash_threads = 0;
    } else if (cpn_hpool_create(site->params.hash_threads, &site->hpool) !=
               CPN_OK) {
        cpn_warn("site %s: hashing on the progress thread only",
                 site->name);
        site->params.hash_threads = 0;
    }
    return site->hpool;
}

static void task_pump(cpn_task_t *task)
{
    cpn_site_t *site = task->site;
    cpn_peer_t *peer = task->peer;
    cpn_status_t st;

    task->need_pump = 0;
    if (task->state != CPN_TASK_SENDING && task->state != CPN_TASK_COMMITTED) {
        return;
    }
    while (task->nput_free > 0) {
        uint32_t obj, len;
        uint64_t off;
        cpn_obj_t *o;
        cpn_put_t *p;
        uint32_t slot = CPN_WIRE_SLOT_SINK;
        void *dst;

        if (!next_chunk(task, &obj, &off)) {
            break;
        }
        o = &task->obj[obj];
        len = (uint32_t)CPN_MIN((uint64_t)task->chunk_size, o->size - off);
        p = &task->puts[task->put_free[--task->nput_free]];
        if (o->has_sink) {
            p->raddr = o->sink_addr + off;
            p->rkey = o->sink_rkey;
        } else {
            if (task->nslots == 0) {
                task->nput_free++;
                unget_chunk(task, obj, off);
                break;
            }
            slot = task->slots[--task->nslots];
            p->raddr = peer->pool_addr + (uint64_t)slot * peer->slot_size;
            p->rkey = peer->pool_rkey;
        }
        p->obj = obj;
        p->slot = slot;
        p->offset = off;
        p->len = len;
        p->t_start = cpn_time_ns();
        p->mapped = site->ops->key_ptr(p->rkey, p->raddr, len, &dst) ==
                    CPN_OK;
        p->job.dst = NULL;
        p->job.len = len;
        p->mem = NULL;
        if (o->buf != NULL) {
            /* from memory: mapped, copy and hash in one pass */
            p->job.src = o->buf + off;
            p->job.dst = p->mapped ? dst : NULL;
            p->src = o->buf + off;
            p->mem = o->mem ? o->mem->tp : NULL;
        } else {
            /* from a file: read it straight to where it goes, hash there */
            uint8_t *to = p->mapped ? dst : p->stage;

            st = read_chunk(task, o, obj, off, len, to);
            if (st != CPN_OK) {
                task->put_free[task->nput_free++] = (uint32_t)(p - task->puts);
                cpn__task_fail(task, st, "%s", task->err);
                return;
            }
            p->job.src = to;
            p->src = to;
            p->mem = p->mapped ? NULL : task->stage_mem->tp;
        }
        /* Memory objects only: a file chunk's read is most of its cost
         * and stays here, and a sender of files only starts no thread
         * (on two CPUs one idle thread took a tenth off file-to-file
         * goodput). */
        if (o->buf != NULL && len >= CPN_HPOOL_MIN_CHUNK &&
            task_hpool(task) != NULL &&
            cpn_hpool_submit(task->site->hpool, &p->job) == CPN_OK) {
            continue; /* chunk_send when reaped (cpn__task_hashed) */
        }
        cpn_hpool_run(&p->job);
        if (!chunk_send(task, p)) {
            return;
        }
    }
    if (task->state == CPN_TASK_SENDING && task->nput_free == task->window &&
        task->nresend == 0 && task->cur_obj >= task->nobj) {
        task_commit(task);
    }
}

unsigned cpn__task_hashed(cpn_site_t *site)
{
    cpn_hjob_t *job, *next;
    unsigned n = 0;

    job = cpn_hpool_reap(site->hpool);
    if (job == NULL && cpn_hpool_run_one(site->hpool)) {
        job = cpn_hpool_reap(site->hpool); /* help, then take what is done */
    }
    for (; job != NULL; job = next, n++) {
        cpn_put_t *p = cpn_container_of(job, cpn_put_t, job);
        cpn_task_t *task = p->task;

        next = job->next;
        if (task->state == CPN_TASK_SENDING ||
            task->state == CPN_TASK_COMMITTED) {
            chunk_send(task, p);
        } else {
            put_done(p, CPN_ERR_CANCELED); /* ended meanwhile: let it go */
        }
    }
    return n;
}

static void put_done(void *arg, cpn_status_t status)
{
    cpn_put_t *p = arg;
    cpn_task_t *task = p->task;

    task->put_free[task->nput_free++] = (uint32_t)(p - task->puts);
    if (task->state == CPN_TASK_DONE) {
        if (task_inflight(task) == 0) {
            task_release_transfer(task);
        }
        return;
    }
    if (status != CPN_OK && task->peer != NULL &&
        task->peer->state == CPN_PEER_FAILED) {
        return; /* the peer's failure, with its words, ends the task */
    }
    if (status != CPN_OK) {
        cpn__task_fail(task, status, "put of %s at offset %llu to %s failed: "
                       "%s", task->obj[p->obj].name,
                       (unsigned long long)p->offset,
                       task->peer ? task->peer->addr : "peer",
                       cpn_status_str(status));
        return;
    }
    cpn_hist_record(task->chunk_hist, cpn_time_ns() - p->t_start);
    task->bytes_placed += p->len;
    if (task->cbs.progress != NULL) {
        task->cbs.progress(task->cbs.arg, task, task->bytes_placed,
                           task->total_bytes);
    }
    task->need_pump = 1;
    task->site->pump_pending = 1;
}

void cpn__task_pump_all(cpn_site_t *site)
{
    cpn_task_t *task, *next;

    site->pump_pending = 0;
    for (task = site->active; task != NULL; task = next) {
        next = task->next;
        if (task->need_pump) {
            task_pump(task);
        }
    }
}

/* ---- messages from the receiver ---- */

static cpn_task_t *task_find(cpn_peer_t *peer, uint64_t id)
{
    cpn_task_t *task;

    for (task = peer->site->active; task != NULL; task = task->next) {
        if (task->id == id && task->peer == peer) {
            return task;
        }
    }
    return NULL;
}

static int slots_push(cpn_task_t *task, uint32_t slot)
{
    if (task->nslots == task->slots_cap) {
        size_t ncap = task->slots_cap ? task->slots_cap * 2 : 64;
        uint32_t *n = realloc(task->slots, ncap * sizeof(*n));

        if (n == NULL) {
            return -1;
        }
        task->slots = n;
        task->slots_cap = ncap;
    }
    task->slots[task->nslots++] = slot;
    return 0;
}

static int valid_slot(const cpn_task_t *task, uint32_t slot)
{
    return slot < task->peer->nslots;
}

static void on_accept(cpn_task_t *task, const void *buf, size_t len)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_accept_t a;
    cpn_wire_iter_t sinks;
    cpn_status_t st;
    uint32_t i;

    if (task->state != CPN_TASK_OFFERED) {
        cpn__task_fail(task, CPN_ERR_PROTO, "ACCEPT from %s in the wrong "
                       "state", task->peer->addr);
        return;
    }
    st = cpn_wire_decode_accept(buf, len, &hdr, &a);
    if (st != CPN_OK) {
        cpn__task_fail(task, st, "malformed ACCEPT from %s: %s",
                       task->peer->addr, cpn_status_str(st));
        return;
    }
    if (a.status != CPN_OK) {
        cpn__task_fail(task, (cpn_status_t)a.status, "%s (%s) refused the "
                       "task: %.*s", task->peer->name, task->peer->addr,
                       (int)a.error.len, a.error.ptr);
        return;
    }
    st = task_setup_transfer(task);
    if (st != CPN_OK) {
        cpn__task_fail(task, st, "cannot set up the transfer: %s",
                       cpn_status_str(st));
        return;
    }
    for (i = 0; i < a.nslots; i++) {
        uint32_t slot = cpn_wire_u32_at(a.slots_, i);

        if (!valid_slot(task, slot) || slots_push(task, slot) != 0) {
            cpn__task_fail(task, CPN_ERR_PROTO, "ACCEPT from %s grants "
                           "slot %u of %u", task->peer->addr, slot,
                           task->peer->nslots);
            return;
        }
    }
    cpn_wire_sink_iter_init(&a, &sinks);
    for (i = 0; i < a.nsinks; i++) {
        cpn_wire_sink_t s;
        cpn_obj_t *o;

        if (cpn_wire_sink_next(&sinks, &s) != CPN_OK ||
            s.object >= task->nobj) {
            cpn__task_fail(task, CPN_ERR_PROTO, "ACCEPT from %s names a "
                           "sink for an unknown object", task->peer->addr);
            return;
        }
        o = &task->obj[s.object];
        if (o->has_sink || o->inlined) {
            continue;
        }
        st = task->site->ops->key_unpack(task->peer->ep, s.rkey.ptr,
                                         s.rkey.len, &o->sink_rkey);
        if (st != CPN_OK) {
            cpn__task_fail(task, st, "cannot unpack the sink key of %s from "
                           "%s: %s", o->name, task->peer->addr,
                           cpn_status_str(st));
            return;
        }
        o->has_sink = 1;
        o->sink_addr = s.addr;
    }
    task->state = CPN_TASK_SENDING;
    task_pump(task);
}

/* HAVE, before ACCEPT: the receiver kept these chunks from an earlier try
 * of this task. Each is read and hashed again here and skipped in the
 * send; its hash counts in the object's digest at COMMIT. A chunk whose
 * hash differs (the source changed since that try) is skipped too, with
 * the new hash: the receiver's digest check then fails the task and drops
 * what it kept, a decision on its side that no lost message can undo, and
 * the next try starts afresh; the error says why. */
static void on_have(cpn_task_t *task, const void *buf, size_t len)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_have_t h;
    uint8_t *tmp = NULL;
    uint32_t i;

    if (cpn_wire_decode_have(buf, len, &hdr, &h) != CPN_OK) {
        cpn__task_fail(task, CPN_ERR_CORRUPT, "malformed HAVE from %s",
                       task->peer->addr);
        return;
    }
    if (task->state != CPN_TASK_OFFERED) {
        cpn__task_fail(task, CPN_ERR_PROTO, "HAVE from %s after its ACCEPT",
                       task->peer->addr);
        return;
    }
    for (i = 0; i < h.n; i++) {
        cpn_wire_have_entry_t e = cpn_wire_have_at(&h, i);
        const uint8_t *data;
        cpn_obj_t *o;
        uint64_t off;
        uint32_t clen;

        if (e.object >= task->nobj || task->obj[e.object].inlined ||
            e.chunk >= task->obj[e.object].nchunks) {
            free(tmp);
            cpn__task_fail(task, CPN_ERR_PROTO, "HAVE from %s names chunk "
                           "%llu of object %u, which this task does not have",
                           task->peer->addr, (unsigned long long)e.chunk,
                           e.object);
            return;
        }
        o = &task->obj[e.object];
        if (o->skip == NULL) {
            o->skip = calloc(o->nchunks, 1);
        }
        if (o->skip != NULL && o->skip[e.chunk]) {
            continue;
        }
        if (o->skip == NULL || (o->buf == NULL && tmp == NULL &&
                                (tmp = malloc(task->chunk_size)) == NULL)) {
            free(tmp);
            cpn__task_fail(task, CPN_ERR_NO_MEMORY, "out of memory checking "
                           "the chunks %s kept", task->peer->name);
            return;
        }
        off = e.chunk * task->chunk_size;
        clen = (uint32_t)CPN_MIN((uint64_t)task->chunk_size, o->size - off);
        if (o->buf != NULL) {
            data = o->buf + off;
        } else {
            if (read_chunk(task, o, e.object, off, clen, tmp) != CPN_OK) {
                free(tmp);
                cpn__task_fail(task, CPN_ERR_IO, "%s", task->err);
                return;
            }
            data = tmp;
        }
        o->skip[e.chunk] = 1;
        o->hash[e.chunk] = cpn_hash64(data, clen);
        if (o->hash[e.chunk] != e.hash && task->have_mismatch++ == 0) {
            cpn_warn("task %s: %s at offset %llu differs from the copy %s "
                     "kept from an interrupted delivery: the source changed "
                     "since; the digests at COMMIT will not match and %s "
                     "drops that copy", task->job,
                     o->path ? o->path : o->name, (unsigned long long)off,
                     task->peer->name, task->peer->name);
        }
        task->chunks_skipped++;
        task->bytes_skipped += clen;
    }
    free(tmp);
}

static void on_grant(cpn_task_t *task, const void *buf, size_t len)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_grant_t g;
    uint32_t i;

    if (cpn_wire_decode_grant(buf, len, &hdr, &g) != CPN_OK) {
        cpn__task_fail(task, CPN_ERR_CORRUPT, "malformed GRANT from %s",
                       task->peer->addr);
        return;
    }
    for (i = 0; i < g.nslots; i++) {
        uint32_t slot = cpn_wire_u32_at(g.slots_, i);

        if (!valid_slot(task, slot) || slots_push(task, slot) != 0) {
            cpn__task_fail(task, CPN_ERR_PROTO, "GRANT from %s names slot %u "
                           "of %u", task->peer->addr, slot,
                           task->peer->nslots);
            return;
        }
    }
    task_pump(task);
}

static void on_nack(cpn_task_t *task, const void *buf, size_t len)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_nack_t n;

    if (cpn_wire_decode_nack(buf, len, &hdr, &n) != CPN_OK ||
        n.object >= task->nobj || n.offset % task->chunk_size != 0 ||
        n.offset >= task->obj[n.object].size) {
        cpn__task_fail(task, CPN_ERR_CORRUPT, "malformed NACK from %s",
                       task->peer->addr);
        return;
    }
    if (++task->retries > CPN_MAX_RETRIES) {
        cpn__task_fail(task, CPN_ERR_CHECKSUM, "%s (%s) found %llu chunks "
                       "corrupt (last: %s at offset %llu); giving up",
                       task->peer->name, task->peer->addr,
                       (unsigned long long)task->retries,
                       task->obj[n.object].name,
                       (unsigned long long)n.offset);
        return;
    }
    cpn_warn("task %s: %s reports chunk %s@%llu %s; sending it again",
             task->job, task->peer->name, task->obj[n.object].name,
             (unsigned long long)n.offset, cpn_status_str(n.status));
    if (task->nresend == task->resend_cap) {
        size_t ncap = task->resend_cap ? task->resend_cap * 2 : 16;
        cpn_resend_t *r = realloc(task->resend, ncap * sizeof(*r));

        if (r == NULL) {
            cpn__task_fail(task, CPN_ERR_NO_MEMORY, "out of memory");
            return;
        }
        task->resend = r;
        task->resend_cap = ncap;
    }
    task->resend[task->nresend].obj = n.object;
    task->resend[task->nresend].offset = n.offset;
    task->nresend++;
    if (n.slot != CPN_WIRE_SLOT_SINK &&
        (!valid_slot(task, n.slot) || slots_push(task, n.slot) != 0)) {
        cpn__task_fail(task, CPN_ERR_PROTO, "NACK from %s names slot %u",
                       task->peer->addr, n.slot);
        return;
    }
    task_pump(task);
}

static void on_receipt(cpn_task_t *task, const void *buf, size_t len)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_receipt_t r;
    cpn_status_t st;

    st = cpn_wire_decode_receipt(buf, len, &hdr, &r);
    if (st != CPN_OK) {
        cpn__task_fail(task, st, "malformed RECEIPT from %s: %s",
                       task->peer->addr, cpn_status_str(st));
        return;
    }
    if (r.status != CPN_OK) {
        cpn__task_fail(task, (cpn_status_t)r.status, "%s (%s) could not land "
                       "the task: %.*s", task->peer->name, task->peer->addr,
                       (int)r.error.len, r.error.ptr);
        return;
    }
    task->t_end = cpn_time_ns();
    st = cpn__receipt_build_sender(task, &r);
    if (st != CPN_OK) {
        cpn__task_fail(task, st, "cannot build the receipt");
        return;
    }
    task_finish(task, CPN_OK);
}

static void on_cancel(cpn_task_t *task, const void *buf, size_t len)
{
    cpn_wire_hdr_t hdr;
    cpn_wire_cancel_t c;
    cpn_peer_t *peer = task->peer;

    if (cpn_wire_decode_cancel(buf, len, &hdr, &c) != CPN_OK) {
        c.status = CPN_ERR_CANCELED;
        c.reason = cpn_wire_str("(malformed CANCEL)");
    }
    snprintf(task->err, sizeof(task->err), "%s (%s) gave up on the task: %.*s%s",
             peer->name, peer->addr, (int)c.reason.len, c.reason.ptr,
             task->have_mismatch == 0 ? ""
                 : " (the source changed since an interrupted delivery whose "
                   "chunks the receiver kept; it dropped them: send again)");
    task->peer = NULL; /* no CANCEL back */
    task_finish(task, c.status < 0 ? (cpn_status_t)c.status
                                   : CPN_ERR_CANCELED);
}

void cpn__task_on_msg(cpn_peer_t *peer, const cpn_wire_hdr_t *hdr,
                      const void *buf, size_t len)
{
    cpn_task_t *task = task_find(peer, hdr->task_id);

    if (task == NULL) {
        if (hdr->type != CPN_MSG_CANCEL) {
            cpn_debug("site %s: %s for unknown task %llx from %s",
                      peer->site->name, cpn_wire_type_str(hdr->type),
                      (unsigned long long)hdr->task_id, peer->addr);
        }
        return;
    }
    switch (hdr->type) {
    case CPN_MSG_ACCEPT:
        on_accept(task, buf, len);
        break;
    case CPN_MSG_HAVE:
        on_have(task, buf, len);
        break;
    case CPN_MSG_GRANT:
        on_grant(task, buf, len);
        break;
    case CPN_MSG_NACK:
        on_nack(task, buf, len);
        break;
    case CPN_MSG_RECEIPT:
        on_receipt(task, buf, len);
        break;
    case CPN_MSG_CANCEL:
        on_cancel(task, buf, len);
        break;
    default:
        break;
    }
}

/* ---- waiting and queries ---- */

cpn_status_t cpn_task_wait(cpn_task_t *task, int timeout_ms)
{
    uint64_t deadline, idle_since;

    if (task == NULL || task->state == CPN_TASK_NEW) {
        return CPN_ERR_INVALID;
    }
    deadline = cpn_deadline_ns(timeout_ms);
    idle_since = cpn_time_ns();
    while (task->state != CPN_TASK_DONE) {
        uint64_t now;

        if (cpn_site_progress(task->site) > 0) {
            idle_since = 0;
            continue;
        }
        now = cpn_time_ns();
        if (now >= deadline) {
            return CPN_ERR_TIMEOUT;
        }
        if (idle_since == 0) {
            idle_since = now;
        } else if (task->site->hpool != NULL &&
                   cpn_hpool_outstanding(task->site->hpool) > 0) {
            cpn_hpool_wait(task->site->hpool, 200); /* chunks being hashed */
        } else if (now - idle_since > 2000000) {
            /* Idle for 2 ms: sleep on the transport's event instead. */
            task->site->ops->wait(task->site->iface, 10);
        }
    }
    return task->status;
}

cpn_status_t cpn_task_status(const cpn_task_t *task)
{
    return task->state == CPN_TASK_DONE ? task->status : CPN_INPROGRESS;
}

const char *cpn_task_error(const cpn_task_t *task)
{
    return task->err;
}

const cpn_receipt_t *cpn_task_receipt(const cpn_task_t *task)
{
    return task->state == CPN_TASK_DONE && task->status == CPN_OK
               ? &task->receipt
               : NULL;
}

uint64_t cpn_task_bytes(const cpn_task_t *task)
{
    return task->total_bytes;
}

const char *cpn_task_job(const cpn_task_t *task)
{
    return task->job;
}
