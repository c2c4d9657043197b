/* SPDX-License-Identifier: Apache-2.0 */
/* Tasks: what a user delivers. A task is a job name, an opaque job spec
 * (bytes or JSON), and objects taken from files or from memory. Delivery is
 * asynchronous: cpn_task_deliver() starts it, callbacks report progress and
 * completion, cpn_task_wait() drives the site until the task is done.
 * Threading: as for the site the task was made on (see site.h). */
#ifndef CPN_TASK_H
#define CPN_TASK_H

#include <stddef.h>
#include <stdint.h>

#include <cpn/site.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cpn_task cpn_task_t;

/** Delivery finished: CPN_OK with a receipt, or the error that ended it. */
typedef void (*cpn_task_done_cb_t)(void *arg, cpn_task_t *task,
                                   cpn_status_t status);
/** Bytes acknowledged by the receiver so far, out of @p total. */
typedef void (*cpn_task_progress_cb_t)(void *arg, cpn_task_t *task,
                                       uint64_t done, uint64_t total);

/** Callbacks of one delivery; every field is optional. */
typedef struct cpn_task_cbs {
    cpn_task_done_cb_t done;
    cpn_task_progress_cb_t progress;
    void *arg;
} cpn_task_cbs_t;

/**
 * Make an empty task.
 * @param job     job name (1..255 bytes, no '/', not "." or ".."); it names
 *                the directory the task lands in at the receiver.
 * @return CPN_OK with @p task_p set; CPN_ERR_BAD_NAME for a bad job name.
 */
CPN_API cpn_status_t cpn_task_create(cpn_site_t *site, const char *job,
                                     cpn_task_t **task_p);

/** Free a task. A task in flight is canceled first. */
CPN_API void cpn_task_destroy(cpn_task_t *task);

/**
 * Attach an opaque job spec (copied). JSON is bytes like any other; the
 * receiver gets it back with cpn_offer_spec().
 * @return CPN_OK; CPN_ERR_TOO_BIG over 1 MiB; CPN_ERR_BUSY once delivering.
 */
CPN_API cpn_status_t cpn_task_set_spec(cpn_task_t *task, const void *spec,
                                       size_t len);

/**
 * Add a file as object @p name (a relative path: no "..", no leading '/',
 * no NUL, no empty parts). The file is opened now and read while sending.
 * @return CPN_OK; CPN_ERR_BAD_NAME or CPN_ERR_DUPLICATE (logged with the
 *         name); CPN_ERR_IO when @p path cannot be opened (logged with it).
 */
CPN_API cpn_status_t cpn_task_add_file(cpn_task_t *task, const char *name,
                                       const char *path);

/**
 * Add a file, or every regular file under a directory, named by its path
 * relative to the parent of @p path ("shards/a.bin" for "x/shards").
 * @return as cpn_task_add_file().
 */
CPN_API cpn_status_t cpn_task_add_path(cpn_task_t *task, const char *path);

/**
 * Add @p len bytes at @p buf as object @p name. The buffer must stay valid
 * and unchanged until the task completes. When @p mem (optional) covers the
 * buffer, it is sent without a staging copy.
 * @return as cpn_task_add_file().
 */
CPN_API cpn_status_t cpn_task_add_mem(cpn_task_t *task, const char *name,
                                      const void *buf, size_t len,
                                      cpn_mem_t *mem);

/**
 * Start delivering the task to @p peer. Returns at once; the callbacks run
 * from inside progress calls. A task is delivered once.
 * @return CPN_INPROGRESS (the done callback will run), or an error (it will
 *         not): CPN_ERR_BUSY when already delivered, CPN_ERR_INVALID.
 */
CPN_API cpn_status_t cpn_task_deliver(cpn_task_t *task, cpn_peer_t *peer,
                                      const cpn_task_cbs_t *cbs);

/**
 * Drive the task's site until the task finishes or @p timeout_ms passes
 * (<0: no limit). A timed-out wait does not cancel the task.
 * @return the task's final status; CPN_ERR_TIMEOUT when still in flight;
 *         CPN_ERR_INVALID when it was never delivered.
 */
CPN_API cpn_status_t cpn_task_wait(cpn_task_t *task, int timeout_ms);

/**
 * Cancel a task in flight: the receiver drops what it staged, nothing lands,
 * and the task ends with CPN_ERR_CANCELED (the done callback runs).
 * Once every chunk is verified and the commit is sent, it is too late: the
 * receiver lands the task when the commit arrives, so the task goes on to
 * its receipt (or its error) and this returns CPN_ERR_BUSY.
 * @return CPN_OK; CPN_ERR_BUSY when too late (committed); CPN_ERR_INVALID
 *         when the task is not in flight.
 */
CPN_API cpn_status_t cpn_task_cancel(cpn_task_t *task);

/** Final status, or CPN_INPROGRESS while in flight. */
CPN_API cpn_status_t cpn_task_status(const cpn_task_t *task);

/** Words on why the task failed (names the object, peer or file); "" if ok. */
CPN_API const char *cpn_task_error(const cpn_task_t *task);

/** The receipt, once the task succeeded; NULL before. Owned by the task. */
CPN_API const cpn_receipt_t *cpn_task_receipt(const cpn_task_t *task);

/** Total bytes of the task's objects. */
CPN_API uint64_t cpn_task_bytes(const cpn_task_t *task);

/** The task's job name. */
CPN_API const char *cpn_task_job(const cpn_task_t *task);

#ifdef __cplusplus
}
#endif
#endif /* CPN_TASK_H */
