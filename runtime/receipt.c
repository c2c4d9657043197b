/* SPDX-License-Identifier: Apache-2.0 */
/* Receipts: building the sender's receipt from its own measurements and the
 * receiver's RECEIPT, and writing any receipt as JSON (schema
 * "cpn.receipt/1", with jansson). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "runtime/site_int.h"

/* Strings the receipt points to, packed into one allocation. */
static char *pack_str(char **pos, const char *s, size_t len)
{
    char *out = *pos;

    memcpy(out, s, len);
    out[len] = '\0';
    *pos += len + 1;
    return out;
}

cpn_status_t cpn__receipt_build_sender(cpn_task_t *task,
                                       const cpn_wire_receipt_t *m)
{
    cpn_peer_t *peer = task->peer;
    cpn_site_t *site = task->site;
    cpn_receipt_t *r = &task->receipt;
    size_t need, i;
    char *pos;

    need = strlen(task->job) + strlen(site->name) + strlen(peer->name) +
           strlen(peer->addr) + strlen(site->transport) +
           strlen(peer->lanes) + m->landed_at.len + 8;
    /* Buffers a recycled task kept are reused (task.c, task_spare). */
    if (need > task->receipt_strs_cap) {
        free(task->receipt_strs);
        task->receipt_strs_cap = 0;
        task->receipt_strs = malloc(need);
        if (task->receipt_strs == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        task->receipt_strs_cap = need;
    }
    if (task->nobj > task->receipt_obj_cap || task->receipt_obj == NULL) {
        size_t n = task->nobj ? task->nobj : 1;

        free(task->receipt_obj);
        task->receipt_obj_cap = 0;
        task->receipt_obj = malloc(n * sizeof(*task->receipt_obj));
        if (task->receipt_obj == NULL) {
            return CPN_ERR_NO_MEMORY;
        }
        task->receipt_obj_cap = n;
    }
    pos = task->receipt_strs;
    memset(r, 0, sizeof(*r));
    r->task_id = task->id;
    r->job = pack_str(&pos, task->job, strlen(task->job));
    r->sender = pack_str(&pos, site->name, strlen(site->name));
    r->receiver = pack_str(&pos, peer->name, strlen(peer->name));
    r->peer_addr = pack_str(&pos, peer->addr, strlen(peer->addr));
    r->transport = pack_str(&pos, site->transport, strlen(site->transport));
    r->lanes = pack_str(&pos, peer->lanes, strlen(peer->lanes));
    r->landed_at = pack_str(&pos, m->landed_at.ptr, m->landed_at.len);
    r->bytes = task->total_bytes;
    r->objects = task->nobj;
    r->chunks = task->chunks_sent;
    r->mapped_chunks = task->chunks_mapped;
    r->retries = m->retries;
    r->resumed_chunks = task->chunks_skipped;
    r->resumed_bytes = task->bytes_skipped;
    r->elapsed_ns = task->t_end - task->t_start;
    r->goodput_gbps = r->elapsed_ns ? (double)(r->bytes - r->resumed_bytes) *
                                          8.0 / (double)r->elapsed_ns
                                    : 0.0;
    if (task->chunk_hist != NULL && task->chunk_hist->count > 0) {
        r->chunk_p50_us = (double)cpn_hist_percentile(task->chunk_hist, 50) /
                          1e3;
        r->chunk_p99_us = (double)cpn_hist_percentile(task->chunk_hist, 99) /
                          1e3;
    }
    for (i = 0; i < task->nobj; i++) {
        cpn_obj_t *o = &task->obj[i];

        task->receipt_obj[i] = (cpn_receipt_object_t){
            .name = o->name,
            .size = o->size,
            .digest_hi = o->digest.hi,
            .digest_lo = o->digest.lo,
            .inlined = o->inlined,
        };
        r->inline_objects += (uint64_t)o->inlined;
    }
    r->nobjects = task->nobj;
    r->object = task->receipt_obj;
    return CPN_OK;
}

void cpn_digest_hex(uint64_t hi, uint64_t lo, char buf[33])
{
    snprintf(buf, 33, "%016" PRIx64 "%016" PRIx64, hi, lo);
}

cpn_status_t cpn_receipt_to_json(const cpn_receipt_t *r, int pretty,
                                 char **json_p)
{
    json_t *root, *objs;
    char hex[33], id[17];
    char *out;
    size_t i;

    root = json_object();
    objs = json_array();
    if (root == NULL || objs == NULL) {
        json_decref(root);
        json_decref(objs);
        return CPN_ERR_NO_MEMORY;
    }
    snprintf(id, sizeof(id), "%016" PRIx64, r->task_id);
    json_object_set_new(root, "schema", json_string("cpn.receipt/1"));
    json_object_set_new(root, "task_id", json_string(id));
    json_object_set_new(root, "job", json_string(r->job ? r->job : ""));
    json_object_set_new(root, "sender", json_string(r->sender ? r->sender : ""));
    json_object_set_new(root, "receiver",
                        json_string(r->receiver ? r->receiver : ""));
    json_object_set_new(root, "peer_addr",
                        json_string(r->peer_addr ? r->peer_addr : ""));
    json_object_set_new(root, "transport",
                        json_string(r->transport ? r->transport : ""));
    json_object_set_new(root, "lanes", json_string(r->lanes ? r->lanes : ""));
    json_object_set_new(root, "landed_at",
                        json_string(r->landed_at ? r->landed_at : ""));
    json_object_set_new(root, "bytes", json_integer((json_int_t)r->bytes));
    json_object_set_new(root, "objects", json_integer((json_int_t)r->objects));
    json_object_set_new(root, "chunks", json_integer((json_int_t)r->chunks));
    json_object_set_new(root, "mapped_chunks",
                        json_integer((json_int_t)r->mapped_chunks));
    json_object_set_new(root, "inline_objects",
                        json_integer((json_int_t)r->inline_objects));
    json_object_set_new(root, "retries", json_integer((json_int_t)r->retries));
    json_object_set_new(root, "resumed_chunks",
                        json_integer((json_int_t)r->resumed_chunks));
    json_object_set_new(root, "resumed_bytes",
                        json_integer((json_int_t)r->resumed_bytes));
    json_object_set_new(root, "elapsed_ns",
                        json_integer((json_int_t)r->elapsed_ns));
    json_object_set_new(root, "goodput_gbps", json_real(r->goodput_gbps));
    json_object_set_new(root, "chunk_p50_us", json_real(r->chunk_p50_us));
    json_object_set_new(root, "chunk_p99_us", json_real(r->chunk_p99_us));
    json_object_set_new(root, "checksum", json_string("xxh3-128 chunk list"));
    for (i = 0; i < r->nobjects; i++) {
        const cpn_receipt_object_t *o = &r->object[i];
        json_t *jo = json_object();

        if (jo == NULL) {
            break;
        }
        cpn_digest_hex(o->digest_hi, o->digest_lo, hex);
        json_object_set_new(jo, "name", json_string(o->name));
        json_object_set_new(jo, "size", json_integer((json_int_t)o->size));
        json_object_set_new(jo, "digest", json_string(hex));
        json_object_set_new(jo, "inline", json_boolean(o->inlined));
        json_array_append_new(objs, jo);
    }
    json_object_set_new(root, "object", objs);
    out = json_dumps(root, (pretty ? JSON_INDENT(2) : JSON_COMPACT) |
                               JSON_PRESERVE_ORDER);
    json_decref(root);
    if (out == NULL) {
        return CPN_ERR_NO_MEMORY;
    }
    *json_p = out;
    return CPN_OK;
}
