/* SPDX-License-Identifier: Apache-2.0 */
/* Validation of object and job names, applied by the sender before an offer
 * leaves and again by the receiver before a byte lands: a name must be a
 * relative path that stays inside the landing directory. */
#ifndef CPN_RUNTIME_NAMES_H
#define CPN_RUNTIME_NAMES_H

#include <stddef.h>

#include <cpn/status.h>

/**
 * Check an object name of @p len bytes (it need not be NUL-terminated; an
 * embedded NUL is an error). Accepted: non-empty, at most @p max_len bytes,
 * '/'-separated parts each non-empty and neither "." nor "..", no leading
 * '/', no NUL, no control characters, no part over 255 bytes.
 * @param why    out: words on what is wrong (e.g. "contains '..'"), for
 *               error messages that also name the object.
 * @return CPN_OK or CPN_ERR_BAD_NAME.
 */
cpn_status_t cpn__name_check(const char *name, size_t len, size_t max_len,
                             const char **why);

/** Check a job name: like one part of an object name (no '/'). */
cpn_status_t cpn__job_check(const char *job, size_t len, const char **why);

/**
 * Write @p name (len bytes) into @p out (size @p outlen) for an error line,
 * NUL-terminated, with non-printable bytes as \xNN, cut with "..." if long.
 */
void cpn__name_quote(const char *name, size_t len, char *out, size_t outlen);

#endif /* CPN_RUNTIME_NAMES_H */
