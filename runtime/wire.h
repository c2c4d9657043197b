/* SPDX-License-Identifier: Apache-2.0 */
/* The delivery protocol's wire format, in one module. Every message starts
 * with a 16-byte header:
 *
 *   0      2        3      4           8                16
 *   | magic | version | type | length    | task id        | payload ...
 *     "CP"    (1)             (total, LE)  (LE, 0 if none)
 *
 * All integers are little-endian; every variable field carries an explicit
 * length (str16: u16 length + bytes, no NUL; bytes32: u32 length + bytes).
 * The decoders accept a message only if it is exactly as long as its header
 * says, every field fits inside it, every count and length is within the
 * limits below, and nothing is left over; anything else is an error status,
 * never a crash or an out-of-bounds read. Decoded strings and byte fields
 * point into the caller's buffer (no copy): valid while that buffer is.
 *
 * Message flow of one task (see DESIGN.md, "Delivering a task"):
 *   HELLO -> HELLO_ACK            once per connection (versions, limits, pool key)
 *   HELLO -> AUTH(1) -> AUTH(2) -> HELLO_ACK
 *                                 the same, when the receiving site requires
 *                                 keys (runtime/auth.c): challenge-response
 *   OFFER -> ACCEPT | RECEIPT     RECEIPT at once when every object rode inline
 *   OFFER -> HAVE... -> ACCEPT    a resumed task (protocol 3): the chunks the
 *                                 receiver verified in an earlier try
 *   put+CHUNK ... <- GRANT/NACK   chunks into granted slots or sinks
 *   COMMIT -> RECEIPT             object digests; receiver lands and answers
 *   CANCEL                        either side gives up on a task
 *   PING                          keepalive, both ways, every CPN_SITE_KEEPALIVE */
#ifndef CPN_RUNTIME_WIRE_H
#define CPN_RUNTIME_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include <cpn/status.h>

#include "core/checksum.h"

#define CPN_WIRE_MAGIC        0x5043u   /* "CP" as little-endian bytes */
#define CPN_WIRE_VERSION      1         /* header layout version */
#define CPN_PROTO_VERSION     3         /* delivery protocol version (2: AUTH,
                                           3: HAVE, resumed tasks) */
#define CPN_WIRE_HDR_LEN      16
#define CPN_WIRE_MAX_MSG      (64u << 20)  /* largest message, header included */
#define CPN_WIRE_MAX_STR      4096         /* longest str16 (names, errors) */
#define CPN_WIRE_MAX_SPEC     (1u << 20)   /* largest job spec */
#define CPN_WIRE_MAX_OBJECTS  (1u << 20)   /* objects per offer */
#define CPN_WIRE_MAX_SLOTS    65536        /* slots per ACCEPT/GRANT */
#define CPN_WIRE_SLOT_SINK    0xffffffffu  /* CHUNK went to a sink, not a slot */
#define CPN_WIRE_MAX_HAVE     (1u << 20)   /* chunks listed in one HAVE */
#define CPN_WIRE_HAVE_ENTRY   20u          /* u32 object, u64 chunk, u64 hash */

typedef enum cpn_wire_type {
    CPN_MSG_HELLO = 1,
    CPN_MSG_HELLO_ACK,
    CPN_MSG_OFFER,
    CPN_MSG_ACCEPT,
    CPN_MSG_GRANT,
    CPN_MSG_CHUNK,
    CPN_MSG_NACK,
    CPN_MSG_COMMIT,
    CPN_MSG_RECEIPT,
    CPN_MSG_CANCEL,
    CPN_MSG_AUTH,
    CPN_MSG_PING,
    CPN_MSG_HAVE,
    CPN_MSG_TYPE_MAX
} cpn_wire_type_t;

/** Name of a message type ("OFFER"), "?" if unknown. */
const char *cpn_wire_type_str(unsigned type);

typedef struct cpn_wire_hdr {
    uint8_t version;
    uint8_t type;
    uint32_t length;     /* whole message, header included */
    uint64_t task_id;
} cpn_wire_hdr_t;

/** A counted string or byte field pointing into a message. */
typedef struct cpn_wire_str {
    const char *ptr;     /* not NUL-terminated */
    size_t len;
} cpn_wire_str_t;

/* ---- messages ---- */

#define CPN_WIRE_NONCE_LEN  32
#define CPN_WIRE_PUBKEY_LEN 32      /* Ed25519 public key */
#define CPN_WIRE_SIG_LEN    64      /* Ed25519 signature */

typedef struct cpn_wire_hello {
    uint16_t proto_min, proto_max;  /* protocol versions the sender speaks */
    cpn_wire_str_t site;            /* site name */
    cpn_wire_str_t transport;       /* "ucx" */
    /* protocol 2: the authentication block, on the wire exactly when
     * proto_max >= 2 (a version 1 HELLO still decodes, so that the version
     * check can answer it); the encoder follows proto_max, not has_auth */
    uint8_t has_auth;               /* decoded: the block was present */
    uint8_t has_key;                /* pubkey is set (else all zero) */
    uint8_t nonce[CPN_WIRE_NONCE_LEN];   /* fresh random, per connection */
    uint8_t pubkey[CPN_WIRE_PUBKEY_LEN]; /* the sender's public key */
} cpn_wire_hello_t;

/** AUTH: step 1 (receiver -> connecting site) is the challenge: its own
 *  nonce, its public key and its signature over both nonces; step 2 (the
 *  answer) carries the connecting site's signature (nonce, pubkey zero). */
typedef struct cpn_wire_auth {
    uint32_t step;                       /* 1 or 2 */
    uint8_t nonce[CPN_WIRE_NONCE_LEN];
    uint8_t pubkey[CPN_WIRE_PUBKEY_LEN];
    uint8_t sig[CPN_WIRE_SIG_LEN];
} cpn_wire_auth_t;

typedef struct cpn_wire_hello_ack {
    int32_t status;                 /* CPN_OK, or why the HELLO was refused */
    uint16_t proto;                 /* version chosen */
    cpn_wire_str_t site;
    cpn_wire_str_t error;           /* words when status != CPN_OK */
    uint32_t max_objects;
    uint64_t max_task_bytes;
    uint32_t max_name_len;
    uint32_t inline_max;            /* objects up to this ride in the offer */
    uint32_t slot_size;             /* staging slot (= chunk) size */
    uint32_t nslots;                /* slots in the pool */
    uint64_t pool_addr;             /* remote address of slot 0 */
    cpn_wire_str_t pool_rkey;       /* packed key of the pool (may be empty) */
} cpn_wire_hello_ack_t;

#define CPN_WIRE_OBJ_INLINE 0x01u

/** One object of an offer, as decoded. */
typedef struct cpn_wire_object {
    cpn_wire_str_t name;
    uint64_t size;
    uint8_t flags;            /* CPN_WIRE_OBJ_INLINE */
    cpn_digest_t digest;      /* present only when inline; the decoder does
                                 not check it against data, the receiver does */
    const void *data;         /* inline data (size bytes) or NULL */
} cpn_wire_object_t;

typedef struct cpn_wire_offer {
    cpn_wire_str_t job;
    cpn_wire_str_t spec;      /* bytes32 */
    uint64_t total_bytes;     /* sum of object sizes (checked) */
    uint32_t chunk_size;      /* sender's chunk size (> 0) */
    uint32_t nobjects;
    /* private to the decoder: where the objects start */
    const uint8_t *objects_;
    size_t objects_len_;
} cpn_wire_offer_t;

/** Cursor over the records of a decoded message: the objects of an OFFER
 *  (cpn_wire_offer_next), the sinks of an ACCEPT (cpn_wire_sink_next). */
typedef struct cpn_wire_iter {
    const uint8_t *pos, *end;
    uint32_t left;
} cpn_wire_iter_t;

/** One memory sink the receiver set up for an object. */
typedef struct cpn_wire_sink {
    uint32_t object;
    uint64_t addr;
    cpn_wire_str_t rkey;
} cpn_wire_sink_t;

typedef struct cpn_wire_accept {
    int32_t status;                 /* CPN_OK or why refused */
    cpn_wire_str_t error;
    uint32_t nslots;
    const uint8_t *slots_;          /* u32 each; read with cpn_wire_u32_at */
    uint32_t nsinks;
    const uint8_t *sinks_;          /* iterate with cpn_wire_sink_next */
    size_t sinks_len_;
} cpn_wire_accept_t;

typedef struct cpn_wire_grant {
    uint32_t nslots;
    const uint8_t *slots_;
} cpn_wire_grant_t;

/** Descriptor of one put (the put's notify; fixed 48 bytes on the wire). */
typedef struct cpn_wire_chunk {
    uint32_t slot;        /* CPN_WIRE_SLOT_SINK when put into a sink */
    uint32_t object;
    uint64_t offset;
    uint32_t len;
    uint64_t hash;        /* XXH3-64 of the chunk */
} cpn_wire_chunk_t;
#define CPN_WIRE_CHUNK_LEN (CPN_WIRE_HDR_LEN + 32)

typedef struct cpn_wire_nack {
    uint32_t slot, object;
    uint64_t offset;
    uint32_t len;
    int32_t status;
} cpn_wire_nack_t;

typedef struct cpn_wire_commit {
    uint32_t nobjects;
    const uint8_t *digests_;        /* 16 bytes each (hi, lo) */
} cpn_wire_commit_t;

typedef struct cpn_wire_receipt {
    int32_t status;
    cpn_wire_str_t error;
    cpn_wire_str_t landed_at;
    uint64_t bytes;
    uint64_t chunks;
    uint64_t retries;
    uint64_t elapsed_ns;            /* receiver: offer to landing */
} cpn_wire_receipt_t;

/** HAVE (protocol 3): chunks of a resumed task the receiver already holds,
 *  sent before its ACCEPT; entries read with cpn_wire_have_at. */
typedef struct cpn_wire_have {
    uint32_t n;
    const uint8_t *entries_;
} cpn_wire_have_t;

/** One HAVE entry: chunk @p chunk (index) of object @p object, whose
 *  XXH3-64 the receiver verified was @p hash. */
typedef struct cpn_wire_have_entry {
    uint32_t object;
    uint64_t chunk;
    uint64_t hash;
} cpn_wire_have_entry_t;

typedef struct cpn_wire_cancel {
    int32_t status;
    cpn_wire_str_t reason;
} cpn_wire_cancel_t;

/* ---- growable output buffer for the encoders ---- */

/* A zeroed cpn_wire_buf_t is a valid empty buffer, like one from _init. */
typedef struct cpn_wire_buf {
    uint8_t *data;
    size_t len, cap;
    int failed;          /* set when growing failed; encoders then return
                            NO_MEMORY until cpn_wire_buf_reset */
    /* OFFER in progress (cpn_wire_offer_begin .. _end) */
    size_t offer_start;  /* 1 + offset of the open OFFER; 0 when none */
    uint32_t offer_count;
    uint64_t offer_total;
} cpn_wire_buf_t;

void cpn_wire_buf_init(cpn_wire_buf_t *b);
void cpn_wire_buf_free(cpn_wire_buf_t *b);
/** Empty the buffer, keeping its memory (so steady-state encoding never allocates). */
void cpn_wire_buf_reset(cpn_wire_buf_t *b);

/* ---- decoding ---- */

/**
 * Check the header of a received message of @p len bytes.
 * @return CPN_OK; CPN_ERR_TRUNCATED (shorter than a header or than its
 *         length field); CPN_ERR_CORRUPT (bad magic, length mismatch,
 *         unknown type); CPN_ERR_VERSION (unknown header version);
 *         CPN_ERR_TOO_BIG (over CPN_WIRE_MAX_MSG).
 */
cpn_status_t cpn_wire_decode_hdr(const void *buf, size_t len,
                                 cpn_wire_hdr_t *hdr);

/* Each decoder checks the header too (type must match) and the whole body
 * (the byte layout of each body is at the top of wire.c). @p hdr may be
 * NULL; @p hdr and @p m are written only on success.
 * Returns CPN_OK, CPN_ERR_TRUNCATED (the message or a field runs short),
 * CPN_ERR_CORRUPT (a field is invalid or bytes are left over; e.g. a HELLO
 * or HELLO_ACK whose task id is not 0, a CHUNK with len 0), CPN_ERR_TOO_BIG
 * (a count or length over a limit), CPN_ERR_VERSION, or CPN_ERR_PROTO
 * (wrong message type). */
cpn_status_t cpn_wire_decode_hello(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_hello_t *m);
cpn_status_t cpn_wire_decode_hello_ack(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_hello_ack_t *m);
/** Validates every object too (lengths, inline sizes, total_bytes sum). */
cpn_status_t cpn_wire_decode_offer(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_offer_t *m);
cpn_status_t cpn_wire_decode_accept(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_accept_t *m);
cpn_status_t cpn_wire_decode_grant(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_grant_t *m);
cpn_status_t cpn_wire_decode_chunk(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_chunk_t *m);
cpn_status_t cpn_wire_decode_nack(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_nack_t *m);
cpn_status_t cpn_wire_decode_commit(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_commit_t *m);
cpn_status_t cpn_wire_decode_receipt(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_receipt_t *m);
cpn_status_t cpn_wire_decode_cancel(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_cancel_t *m);
/** HAVE: u32 n (<= CPN_WIRE_MAX_HAVE), n x 20-byte entries. */
cpn_status_t cpn_wire_decode_have(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_have_t *m);
/** Entry @p i of a decoded HAVE (i < n). */
cpn_wire_have_entry_t cpn_wire_have_at(const cpn_wire_have_t *m, uint32_t i);
/** AUTH: task id 0, step 1 or 2, exactly 132 body bytes. */
cpn_status_t cpn_wire_decode_auth(const void *buf, size_t len, cpn_wire_hdr_t *hdr, cpn_wire_auth_t *m);

/** Start iterating the objects of a decoded offer. */
void cpn_wire_offer_iter_init(const cpn_wire_offer_t *m, cpn_wire_iter_t *it);
/** Next object. @return CPN_OK, CPN_ERR_NOT_FOUND at the end
 *  (CPN_ERR_CORRUPT only for an offer that cpn_wire_decode_offer refused). */
cpn_status_t cpn_wire_offer_next(cpn_wire_iter_t *it, cpn_wire_object_t *obj);

/** Element @p i of a decoded u32 array (ACCEPT/GRANT slots); i < count. */
uint32_t cpn_wire_u32_at(const uint8_t *array, uint32_t i);
/** Start iterating the sinks of a decoded ACCEPT. */
void cpn_wire_sink_iter_init(const cpn_wire_accept_t *m, cpn_wire_iter_t *it);
/** Next sink, in the order they were encoded (one pass over all of them is
 *  linear: an ACCEPT of 10,000 sinks is read once, not 10,000 times).
 *  @return CPN_OK, CPN_ERR_NOT_FOUND at the end (CPN_ERR_CORRUPT only for
 *  an ACCEPT that cpn_wire_decode_accept refused). */
cpn_status_t cpn_wire_sink_next(cpn_wire_iter_t *it, cpn_wire_sink_t *sink);
/** Digest @p i of a decoded COMMIT (i < nobjects). */
cpn_digest_t cpn_wire_commit_digest(const cpn_wire_commit_t *m, uint32_t i);

/* ---- encoding ---- */
/* Each encoder appends one whole message to @p b (after whatever is there)
 * and returns CPN_OK, CPN_ERR_TOO_BIG (a field or the message over its
 * limit), CPN_ERR_INVALID (a NULL pointer with a nonzero length or count,
 * chunk_size 0, object flags other than INLINE, INLINE without data, or
 * another message while an OFFER is open) or CPN_ERR_NO_MEMORY. On error
 * nothing is appended. What they encode, the decoders accept. */
cpn_status_t cpn_wire_encode_hello(cpn_wire_buf_t *b, const cpn_wire_hello_t *m);
cpn_status_t cpn_wire_encode_hello_ack(cpn_wire_buf_t *b, const cpn_wire_hello_ack_t *m);
cpn_status_t cpn_wire_encode_accept(cpn_wire_buf_t *b, uint64_t task_id, int32_t status,
                                    cpn_wire_str_t error, const uint32_t *slots, uint32_t nslots,
                                    const cpn_wire_sink_t *sinks, uint32_t nsinks);
cpn_status_t cpn_wire_encode_grant(cpn_wire_buf_t *b, uint64_t task_id, const uint32_t *slots, uint32_t nslots);
cpn_status_t cpn_wire_encode_nack(cpn_wire_buf_t *b, uint64_t task_id, const cpn_wire_nack_t *m);
cpn_status_t cpn_wire_encode_commit(cpn_wire_buf_t *b, uint64_t task_id, const cpn_digest_t *digests, uint32_t n);
cpn_status_t cpn_wire_encode_receipt(cpn_wire_buf_t *b, uint64_t task_id, const cpn_wire_receipt_t *m);
cpn_status_t cpn_wire_encode_cancel(cpn_wire_buf_t *b, uint64_t task_id, const cpn_wire_cancel_t *m);
/** HAVE with @p n entries (CPN_ERR_TOO_BIG over CPN_WIRE_MAX_HAVE). */
cpn_status_t cpn_wire_encode_have(cpn_wire_buf_t *b, uint64_t task_id, const cpn_wire_have_entry_t *e, uint32_t n);
/** PING (keepalive): task id 0, body u64 the sender's clock in ns. */
cpn_status_t cpn_wire_decode_ping(const void *buf, size_t len, cpn_wire_hdr_t *hdr, uint64_t *sent_ns);
cpn_status_t cpn_wire_encode_ping(cpn_wire_buf_t *b, uint64_t sent_ns);
/** CPN_ERR_INVALID for a step other than 1 or 2. */
cpn_status_t cpn_wire_encode_auth(cpn_wire_buf_t *b, const cpn_wire_auth_t *m);

/** The OFFER is encoded in three steps, so objects stream in without an array:
 *  begin (header fields), one object at a time, then end (patches counts). */
cpn_status_t cpn_wire_offer_begin(cpn_wire_buf_t *b, uint64_t task_id, cpn_wire_str_t job,
                                  cpn_wire_str_t spec, uint32_t chunk_size);
/** Append one object; @p obj->data is copied when the INLINE flag is set. */
cpn_status_t cpn_wire_offer_add(cpn_wire_buf_t *b, const cpn_wire_object_t *obj);
/** Finish the OFFER begun in @p b: writes nobjects, total_bytes, length. */
cpn_status_t cpn_wire_offer_end(cpn_wire_buf_t *b);

/** Encode a CHUNK into exactly CPN_WIRE_CHUNK_LEN bytes at @p out (hot path:
 *  no allocation). The caller ensures m->len > 0 and that offset + len does
 *  not wrap (asserted), as the decoder refuses anything else. */
void cpn_wire_encode_chunk(void *out, uint64_t task_id, const cpn_wire_chunk_t *m);

/** Make a cpn_wire_str_t from a C string (NULL gives an empty one). */
cpn_wire_str_t cpn_wire_str(const char *s);

#endif /* CPN_RUNTIME_WIRE_H */
