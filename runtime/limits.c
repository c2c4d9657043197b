/* SPDX-License-Identifier: Apache-2.0 */
/* Receiver limits that look beyond one task, checked when an offer arrives
 * and before a byte of it is written: the bytes all tasks in flight from
 * every peer may hold at once (CPN_SITE_MAX_SITE_BYTES), and free space on
 * the landing file system net of what the tasks already accepted have yet
 * to write (statvfs). The per-task limits (objects, bytes, name length)
 * stay in recv.c's offer checks. A disk that fills anyway is caught by the
 * writes (ENOSPC -> CPN_ERR_NO_SPACE) and fails that task cleanly. */
#include <inttypes.h>
#include <stdio.h>
#include <sys/statvfs.h>

#include "core/compiler.h"
#include "runtime/site_int.h"

cpn_status_t cpn__limits_offer(cpn_site_t *site, const cpn_rtask_t *rt,
                               uint64_t file_bytes, char *why, size_t len)
{
    const cpn_rtask_t *o;
    uint64_t held = 0, pending = 0;
    unsigned others = 0;
    struct statvfs vfs;

    for (o = site->rtasks; o != NULL; o = o->next) {
        if (o == rt) {
            continue;
        }
        others++;
        held += o->total_bytes;
        if (o->files && o->total_bytes > o->bytes_verified) {
            pending += o->total_bytes - o->bytes_verified;
        }
    }
    if (site->params.max_site_bytes > 0 &&
        rt->total_bytes > site->params.max_site_bytes - CPN_MIN(held,
                                                  site->params.max_site_bytes)) {
        snprintf(why, len, "%" PRIu64 " bytes, with %" PRIu64 " bytes of %u "
                 "other tasks in flight, exceed this site's %" PRIu64
                 " (CPN_SITE_MAX_SITE_BYTES); try again later",
                 rt->total_bytes, held, others, site->params.max_site_bytes);
        return CPN_ERR_LIMIT;
    }
    if (file_bytes == 0 || site->land_dir == NULL ||
        statvfs(site->land_dir, &vfs) != 0) {
        return CPN_OK; /* cannot tell: the writes will say */
    }
    {
        uint64_t free_b = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        uint64_t avail = free_b > pending ? free_b - pending : 0;

        if (file_bytes > avail) {
            snprintf(why, len, "%" PRIu64 " bytes do not fit in the free "
                     "space of %s (%" PRIu64 " bytes free, %" PRIu64 " of "
                     "them promised to %u tasks in flight)", file_bytes,
                     site->land_dir, free_b, CPN_MIN(pending, free_b), others);
            return CPN_ERR_NO_SPACE;
        }
    }
    return CPN_OK;
}
