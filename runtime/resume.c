/* SPDX-License-Identifier: Apache-2.0 */
/* Resuming a task on the receiver's side. A task whose objects all land as
 * files gets a stable partial directory, LAND/.cpn-resume.KEY (KEY: a hash
 * of the sender's site name, the job and the manifest: chunk size, object
 * names, sizes and inline flags), and next to it a journal,
 * LAND/.cpn-resume.KEY.journal, of the chunks it verified:
 *
 *   header   8 bytes "CPNJRNL1", u64 KEY
 *   records  24 bytes each: u32 object, u32 check, u64 chunk, u64 hash
 *            (check: low 32 bits of XXH3 over the record with check 0,
 *            xor KEY; a torn or foreign record ends the journal there)
 *
 * A record is appended only after its chunk was verified and written, in
 * batches; with CPN_SITE_FSYNC the file system is synced before each batch
 * and the journal after it, so a record never outlives its data. When the
 * task is cut off by a lost peer (a killed sender, a cut link) or the site
 * closes, both stay; a killed receiver leaves them as they are. The next
 * OFFER of the same task (from the same site, same job and manifest) finds
 * them, marks the journalled chunks verified and sends them in HAVE before
 * ACCEPT; the sender re-hashes those chunks from its source and skips the
 * ones that match. Landing is unchanged: the directory is renamed to
 * LAND/JOB only once the whole task verified, then the journal removed.
 * Any other failure (cancel, checksum, disk) removes both. The journal is
 * locked (flock), so a second offer of the same task at the same time gets
 * an ordinary temporary directory instead. State whose task is not offered
 * again within CPN_SITE_RESUME_KEEP is removed by a sweep (site open, then
 * at most every minute), so a sender that never comes back costs no disk
 * for ever. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/compiler.h"
#include "core/log.h"
#include "runtime/site_int.h"

#define RESUME_PREFIX ".cpn-resume."
#define JMAGIC "CPNJRNL1"
#define JHDR 16u
#define JREC 24u
#define JBATCH 8u          /* records per journal write */
/* HAVE entries per message: small enough to stay an eager message (UCX
 * delivers a large one by rendezvous, which may complete after the ACCEPT
 * that follows it; the sender needs every HAVE first). */
#define HAVE_PER_MSG 100u

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;

    memcpy(&v, p, 8);
    return v;
}

static uint32_t rec_check(const uint8_t *rec, uint64_t key)
{
    uint8_t tmp[JREC];

    memcpy(tmp, rec, JREC);
    put32(tmp + 4, 0);
    return (uint32_t)(cpn_hash64(tmp, JREC) ^ key);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    (void)remove(path);
    return 0;
}

/* The task's identity: sender, job and manifest. */
static uint64_t task_key(const cpn_rtask_t *rt)
{
    uint64_t k[4];
    uint32_t i;

    k[0] = cpn_hash64(rt->peer->name, strlen(rt->peer->name));
    k[1] = cpn_hash64(rt->job, strlen(rt->job));
    k[2] = rt->chunk_size;
    k[3] = rt->nobj;
    k[0] = cpn_hash64(k, sizeof(k));
    for (i = 0; i < rt->nobj; i++) {
        const cpn_robj_t *o = &rt->obj[i];

        k[1] = cpn_hash64(o->name, strlen(o->name));
        k[2] = o->size;
        k[3] = (uint64_t)o->inlined;
        k[0] = cpn_hash64(k, sizeof(k));
    }
    return k[0];
}

/* Apply the journal's records; @return how many were valid. Cuts the
 * journal after the last valid one. */
static uint64_t journal_load(cpn_rtask_t *rt)
{
    uint8_t rec[JREC];
    uint64_t n = 0;
    off_t pos = JHDR;

    while (pread(rt->jfd, rec, JREC, pos) == (ssize_t)JREC) {
        uint32_t obj = get32(rec);
        uint64_t ci = get64(rec + 8), len;
        cpn_robj_t *o;

        if (get32(rec + 4) != rec_check(rec, rt->jkey) || obj >= rt->nobj) {
            break;
        }
        o = &rt->obj[obj];
        if (o->inlined || o->sink != NULL || ci >= o->nchunks) {
            break;
        }
        pos += JREC;
        if (o->got[ci]) {
            continue;
        }
        len = CPN_MIN((uint64_t)rt->chunk_size, o->size - ci * rt->chunk_size);
        o->got[ci] = 1;
        o->hash[ci] = get64(rec + 16);
        o->verified++;
        rt->chunks_verified++;
        rt->chunks_to_grant--;
        rt->bytes_verified += len;
        rt->chunks_resumed++;
        rt->bytes_resumed += len;
        if (o->verified == o->nchunks) {
            o->done = 1;
        }
        n++;
    }
    if (ftruncate(rt->jfd, pos) != 0 || lseek(rt->jfd, pos, SEEK_SET) < 0) {
        return UINT64_MAX;
    }
    return n;
}

int cpn__resume_open(cpn_rtask_t *rt)
{
    cpn_site_t *site = rt->site;
    uint8_t hdr[JHDR];
    char *dir = NULL, *jpath = NULL;
    struct stat sb;
    uint64_t n = 0;
    uint32_t i;
    int fd, have = 0, err;

    if (site->land_dir == NULL || rt->chunks_total == 0) {
        return 0;
    }
    for (i = 0; i < rt->nobj; i++) {
        if (rt->obj[i].sink != NULL) {
            return 0;
        }
    }
    rt->jkey = task_key(rt);
    if (asprintf(&dir, "%s/" RESUME_PREFIX "%016llx", site->land_dir,
                 (unsigned long long)rt->jkey) < 0) {
        return 0;
    }
    if (asprintf(&jpath, "%s.journal", dir) < 0) {
        free(dir);
        return 0;
    }
    fd = open(jpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0) {
        /* An earlier try of this task from the same site may still be here,
         * its peer not yet known dead (a sender killed and started again):
         * that try gives way, keeping what it verified. */
        cpn_rtask_t *old;

        for (old = site->rtasks; old != NULL; old = old->next) {
            if (old != rt && old->jfd >= 0 && old->jkey == rt->jkey &&
                old->peer != rt->peer &&
                strcmp(old->peer->name, rt->peer->name) == 0) {
                cpn__rtask_supersede(old);
                break;
            }
        }
    }
    if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        /* taken by another try of the same task: no resume for this one */
        if (fd >= 0) {
            close(fd);
        }
        free(jpath);
        free(dir);
        return 0;
    }
    rt->jfd = fd;
    rt->jpath = jpath;
    rt->jbuf = malloc(JBATCH * JREC);
    if (rt->jbuf == NULL) {
        errno = ENOMEM;
        goto fail;
    }
    if (pread(fd, hdr, JHDR, 0) == (ssize_t)JHDR &&
        memcmp(hdr, JMAGIC, 8) == 0 && get64(hdr + 8) == rt->jkey &&
        stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        n = journal_load(rt);
        have = n != UINT64_MAX;
    }
    if (!have) {
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
        memcpy(hdr, JMAGIC, 8);
        put64(hdr + 8, rt->jkey);
        if (ftruncate(fd, 0) != 0 ||
            pwrite(fd, hdr, JHDR, 0) != (ssize_t)JHDR ||
            lseek(fd, JHDR, SEEK_SET) < 0 || mkdir(dir, 0755) != 0) {
            goto fail;
        }
    } else {
        cpn_info("site %s: resuming task %s from %s: %llu chunks verified in "
                 "an earlier try (%s)", site->name, rt->job, rt->peer->name,
                 (unsigned long long)n, dir);
    }
    rt->tmpdir = dir;
    return 1;

fail:
    err = errno;
    unlink(jpath);
    close(fd);
    free(jpath);
    free(rt->jbuf);
    free(dir);
    rt->jfd = -1;
    rt->jpath = NULL;
    rt->jbuf = NULL;
    errno = err;
    return -1;
}

/* One HAVE message of @p n entries to @p rt's sender. */
static cpn_status_t have_send(cpn_rtask_t *rt, const cpn_wire_have_entry_t *e,
                              uint32_t n)
{
    cpn_msg_t *m = cpn__msg_get(rt->site);
    cpn_status_t st;

    if (m == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    st = cpn_wire_encode_have(&m->buf, rt->id, e, n);
    if (st != CPN_OK) {
        cpn__msg_put(m);
        return st;
    }
    return cpn__peer_send(rt->peer, m);
}

cpn_status_t cpn__resume_send_have(cpn_rtask_t *rt)
{
    cpn_wire_have_entry_t *e;
    uint32_t i, n = 0;
    cpn_status_t st = CPN_OK;

    if (rt->jfd < 0 || rt->chunks_verified == 0) {
        return CPN_OK;
    }
    e = malloc(HAVE_PER_MSG * sizeof(*e));
    if (e == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    for (i = 0; i < rt->nobj && st == CPN_OK; i++) {
        const cpn_robj_t *o = &rt->obj[i];
        uint64_t c;

        if (o->inlined || o->verified == 0) {
            continue;
        }
        for (c = 0; c < o->nchunks && st == CPN_OK; c++) {
            if (!o->got[c]) {
                continue;
            }
            e[n].object = i;
            e[n].chunk = c;
            e[n].hash = o->hash[c];
            if (++n == HAVE_PER_MSG) {
                st = have_send(rt, e, n);
                n = 0;
            }
        }
    }
    if (st == CPN_OK && n > 0) {
        st = have_send(rt, e, n);
    }
    free(e);
    return st;
}

static void journal_flush(cpn_rtask_t *rt)
{
    size_t len = (size_t)rt->jn * JREC;

    if (rt->jn == 0) {
        return;
    }
    rt->jn = 0;
    if (rt->site->params.fsync) {
        /* the chunks' data first: a record must never outlive its data */
        syncfs(rt->jfd);
    }
    if (write(rt->jfd, rt->jbuf, len) != (ssize_t)len) {
        cpn_warn("site %s: cannot append to the resume journal %s: %s; "
                 "an interrupted task %s will send more again",
                 rt->site->name, rt->jpath, strerror(errno), rt->job);
        return;
    }
    if (rt->site->params.fsync) {
        fdatasync(rt->jfd);
    }
}

void cpn__resume_note(cpn_rtask_t *rt, uint32_t obj, uint64_t ci,
                      uint64_t hash)
{
    uint8_t *rec;

    if (rt->jfd < 0) {
        return;
    }
    rec = rt->jbuf + (size_t)rt->jn * JREC;
    put32(rec, obj);
    put32(rec + 4, 0);
    put64(rec + 8, ci);
    put64(rec + 16, hash);
    put32(rec + 4, rec_check(rec, rt->jkey));
    if (++rt->jn == JBATCH) {
        journal_flush(rt);
    }
}

void cpn__resume_close(cpn_rtask_t *rt)
{
    if (rt->jfd < 0) {
        return;
    }
    if (rt->keep_partial && rt->tmpdir != NULL) {
        journal_flush(rt);
        cpn_info("site %s: keeping the %llu verified chunks of task %s from "
                 "%s in %s, to resume when it is offered again",
                 rt->site->name, (unsigned long long)rt->chunks_verified,
                 rt->job, rt->peer->name, rt->tmpdir);
        free(rt->tmpdir);
        rt->tmpdir = NULL;
    } else {
        unlink(rt->jpath);
    }
    close(rt->jfd);
    rt->jfd = -1;
    free(rt->jpath);
    rt->jpath = NULL;
    free(rt->jbuf);
    rt->jbuf = NULL;
}

static int64_t mtime_ns(const struct stat *sb)
{
    return (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
}

/* Remove @p key_name's state under the land directory: the directory
 * LAND/.cpn-resume.KEY and its journal, if the journal is not locked (a task
 * using it now) and neither was written to since @p cutoff (wall clock, ns).
 * @return the bytes removed, or -1 when it was kept. */
static int64_t sweep_one(cpn_site_t *site, const char *key_name,
                         int64_t cutoff)
{
    char *dir = NULL, *jpath = NULL;
    struct stat ds, js;
    int64_t bytes = -1;
    int fd = -1, has_dir, has_j;

    if (asprintf(&dir, "%s/%s", site->land_dir, key_name) < 0) {
        return -1;
    }
    if (asprintf(&jpath, "%s.journal", dir) < 0) {
        free(dir);
        return -1;
    }
    has_dir = lstat(dir, &ds) == 0 && S_ISDIR(ds.st_mode);
    has_j = lstat(jpath, &js) == 0 && S_ISREG(js.st_mode);
    if ((has_j && mtime_ns(&js) > cutoff) ||
        (has_dir && mtime_ns(&ds) > cutoff) ||
        (!has_dir && !has_j)) {
        goto out;
    }
    if (has_j) {
        fd = open(jpath, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) != 0) {
            goto out; /* a task is resuming from it right now */
        }
    }
    bytes = 0;
    if (has_dir) {
        DIR *d = opendir(dir);
        struct dirent *e;
        struct stat fs;

        while (d != NULL && (e = readdir(d)) != NULL) {
            if (fstatat(dirfd(d), e->d_name, &fs, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(fs.st_mode)) {
                bytes += (int64_t)fs.st_blocks * 512;
            }
        }
        if (d != NULL) {
            closedir(d);
        }
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (has_j) {
        unlink(jpath); /* last: a crash in between leaves a bare journal,
                          which the next sweep removes */
    }
out:
    if (fd >= 0) {
        close(fd);
    }
    free(jpath);
    free(dir);
    return bytes;
}

unsigned cpn__resume_sweep(cpn_site_t *site, uint64_t now_ns)
{
    const int keep_ms = site->params.resume_keep_ms;
    const size_t plen = strlen(RESUME_PREFIX);
    uint64_t period_ns;
    struct dirent *e;
    unsigned n = 0;
    struct timespec ts;
    int64_t cutoff;
    DIR *d;

    if (site->land_dir == NULL || keep_ms <= 0 ||
        now_ns < site->sweep_next_ns) {
        return 0;
    }
    /* often enough that state goes within about 1.5 times its keep */
    period_ns = (uint64_t)keep_ms * 500000ull;
    period_ns = CPN_MIN(period_ns, 60ull * 1000000000ull);
    site->sweep_next_ns = now_ns + CPN_MAX(period_ns, 100000000ull);
    clock_gettime(CLOCK_REALTIME, &ts);
    cutoff = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec -
             (int64_t)keep_ms * 1000000;
    d = opendir(site->land_dir);
    if (d == NULL) {
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        char key_name[64];
        const char *k = e->d_name;
        size_t len = strlen(k);
        int64_t bytes;

        if (strncmp(k, RESUME_PREFIX, plen) != 0) {
            continue;
        }
        /* ".cpn-resume.KEY" or ".cpn-resume.KEY.journal": both lead to KEY */
        if (len > 8 && strcmp(k + len - 8, ".journal") == 0) {
            len -= 8;
        } else if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) {
            continue;
        } else {
            char jp[PATH_MAX];

            /* a directory with a journal is handled from the journal */
            if (snprintf(jp, sizeof(jp), "%s/%s.journal", site->land_dir, k) <
                    (int)sizeof(jp) &&
                access(jp, F_OK) == 0) {
                continue;
            }
        }
        if (len >= sizeof(key_name)) {
            continue;
        }
        memcpy(key_name, k, len);
        key_name[len] = '\0';
        bytes = sweep_one(site, key_name, cutoff);
        if (bytes >= 0) {
            n++;
            cpn_info("site %s: removed %s/%s: the resume state (%lld bytes) "
                     "of a task not offered again within "
                     "CPN_SITE_RESUME_KEEP (%d s)", site->name, site->land_dir,
                     key_name, (long long)bytes, (keep_ms + 999) / 1000);
        }
    }
    closedir(d);
    return n;
}
