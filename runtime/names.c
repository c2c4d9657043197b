/* SPDX-License-Identifier: Apache-2.0 */
/* Validation of object and job names (see names.h). A name comes from the
 * network and becomes a path under the landing directory, so everything
 * that could leave that directory or confuse a terminal or a log line is
 * refused: absolute paths, "." and ".." parts, empty parts, NUL and control
 * bytes. Bytes from 0x80 up (UTF-8) are accepted as they are. */
#include "runtime/names.h"

#define NAME_PART_MAX 255 /* NAME_MAX of the file systems we land on */

static int name_is_ctl(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Check the bytes of a name or job, whatever their structure. */
static const char *name_bytes_why(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (s[i] == '\0') {
            return "contains a NUL byte";
        }
    }
    for (i = 0; i < len; i++) {
        if (name_is_ctl((unsigned char)s[i])) {
            return "contains a control character";
        }
    }
    return NULL;
}

/* Check one '/'-free part of @p len bytes. */
static const char *name_part_why(const char *s, size_t len)
{
    if (len == 1 && s[0] == '.') {
        return "contains a '.' part";
    }
    if (len == 2 && s[0] == '.' && s[1] == '.') {
        return "contains a '..' part";
    }
    if (len > NAME_PART_MAX) {
        return "has a part longer than 255 bytes";
    }
    return NULL;
}

static cpn_status_t name_fail(const char *why, const char **why_p)
{
    if (why_p != NULL) {
        *why_p = why;
    }
    return CPN_ERR_BAD_NAME;
}

cpn_status_t cpn__name_check(const char *name, size_t len, size_t max_len,
                             const char **why)
{
    const char *w;
    size_t start, i;

    if (len == 0) {
        return name_fail("is empty", why);
    }
    if (name == NULL) {
        return name_fail("is missing", why);
    }
    if (len > max_len) {
        return name_fail("is longer than the limit", why);
    }
    w = name_bytes_why(name, len);
    if (w != NULL) {
        return name_fail(w, why);
    }
    if (name[0] == '/') {
        return name_fail("is an absolute path", why);
    }
    if (name[len - 1] == '/') {
        return name_fail("ends with a '/'", why);
    }
    for (start = 0, i = 0; i <= len; i++) {
        if (i < len && name[i] != '/') {
            continue;
        }
        if (i == start) {
            return name_fail("contains an empty part ('//')", why);
        }
        w = name_part_why(name + start, i - start);
        if (w != NULL) {
            return name_fail(w, why);
        }
        start = i + 1;
    }
    return CPN_OK;
}

cpn_status_t cpn__job_check(const char *job, size_t len, const char **why)
{
    const char *w;
    size_t i;

    if (len == 0) {
        return name_fail("is empty", why);
    }
    if (job == NULL) {
        return name_fail("is missing", why);
    }
    w = name_bytes_why(job, len);
    if (w != NULL) {
        return name_fail(w, why);
    }
    for (i = 0; i < len; i++) {
        if (job[i] == '/') {
            return name_fail("contains a '/'", why);
        }
    }
    if (len > NAME_PART_MAX) {
        return name_fail("is longer than 255 bytes", why);
    }
    if (len == 1 && job[0] == '.') {
        return name_fail("is '.'", why);
    }
    if (len == 2 && job[0] == '.' && job[1] == '.') {
        return name_fail("is '..'", why);
    }
    return CPN_OK;
}

/* Bytes written as \xNN when quoting: non-printable ones, and the quote
 * and backslash, so the output reads back unambiguously inside quotes. */
static int quote_escaped(unsigned char c)
{
    return c < 0x20 || c >= 0x7f || c == '"' || c == '\\';
}

void cpn__name_quote(const char *name, size_t len, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    static const char dots[] = "...";
    size_t o = 0, i, need, room, k;

    if (outlen == 0) {
        return;
    }
    if (name == NULL) {
        len = 0;
    }
    /* the whole quoted name, if it fits (count no further than that) */
    for (need = 0, i = 0; i < len && need < outlen; i++) {
        need += quote_escaped((unsigned char)name[i]) ? 4 : 1;
    }
    /* room for the bytes we copy: all of them, or what leaves "..." */
    if (need <= outlen - 1) {
        room = outlen - 1;
    } else {
        room = outlen - 1 > 3 ? outlen - 1 - 3 : 0;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];

        if (quote_escaped(c)) {
            if (room - o < 4) {
                break;
            }
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 0xf];
        } else {
            if (room - o < 1) {
                break;
            }
            out[o++] = (char)c;
        }
    }
    if (i < len) {
        for (k = 0; k < 3 && o < outlen - 1; k++) {
            out[o++] = dots[k];
        }
    }
    out[o] = '\0';
}
