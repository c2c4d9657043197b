/* SPDX-License-Identifier: Apache-2.0 */
/* Receipts: the verified, timed record of one delivered task, produced by
 * the receiver once every object verified and landed, and returned to the
 * sender. It is what a user keeps as proof of delivery and what the bench
 * and maturity assessment read. */
#ifndef CPN_RECEIPT_H
#define CPN_RECEIPT_H

#include <stddef.h>
#include <stdint.h>

#include <cpn/status.h>

#ifdef __cplusplus
extern "C" {
#endif

/** One object of a receipt. */
typedef struct cpn_receipt_object {
    const char *name;     /**< object name (relative path) */
    uint64_t size;        /**< bytes */
    uint64_t digest_hi;   /**< object digest, XXH3-128 high half */
    uint64_t digest_lo;   /**< object digest, XXH3-128 low half */
    int inlined;          /**< 1 when it travelled inside the offer */
} cpn_receipt_object_t;

/** The receipt of one task. Strings are owned by the receipt. */
struct cpn_receipt {
    uint64_t task_id;       /**< sender-assigned task id */
    const char *job;        /**< job name */
    const char *sender;     /**< sending site's name */
    const char *receiver;   /**< receiving site's name */
    const char *peer_addr;  /**< address of the other side */
    const char *transport;  /**< backend ("ucx") */
    const char *lanes;      /**< lanes the transport used */
    const char *landed_at;  /**< receiver directory, or "memory" */
    uint64_t bytes;         /**< payload bytes delivered */
    uint64_t objects;       /**< object count */
    uint64_t chunks;        /**< chunks put (inline objects excluded) */
    uint64_t mapped_chunks; /**< of those, chunks the sender's CPU copied
                                 straight into the receiver's memory, mapped
                                 by the transport (shared memory on one
                                 host); the rest went by transport put */
    uint64_t inline_objects;/**< objects that rode in the offer */
    uint64_t retries;       /**< chunks sent again after a failed check */
    uint64_t resumed_chunks;/**< chunks the receiver already held, verified,
                                 from an earlier try of this task (resume):
                                 not sent again, not in @ref chunks */
    uint64_t resumed_bytes; /**< their bytes; goodput counts only the rest */
    uint64_t elapsed_ns;    /**< sender: deliver() to receipt; receiver: offer to landing */
    double goodput_gbps;    /**< (bytes - resumed_bytes) * 8 / elapsed, in
                                 Gb/s: what this try moved */
    double chunk_p50_us;    /**< chunk put-to-verified latency, median */
    double chunk_p99_us;    /**< ... 99th percentile */
    size_t nobjects;        /**< entries in @ref object */
    const cpn_receipt_object_t *object;
};

/**
 * The receipt as a JSON document (schema "cpn.receipt/1").
 * @param json_p  out: a malloc'd NUL-terminated string; free() it.
 * @return CPN_OK; CPN_ERR_NO_MEMORY.
 */
CPN_API cpn_status_t cpn_receipt_to_json(const cpn_receipt_t *receipt,
                                         int pretty, char **json_p);

/** Format an object digest as 32 lowercase hex digits into @p buf[33]. */
CPN_API void cpn_digest_hex(uint64_t hi, uint64_t lo, char buf[33]);

#ifdef __cplusplus
}
#endif
#endif /* CPN_RECEIPT_H */
