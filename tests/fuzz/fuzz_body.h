/* SPDX-License-Identifier: Apache-2.0 */
/* The bodies of the fuzz targets, shared by the libFuzzer executables
 * (fuzz_wire.c, fuzz_offer.c, built only with clang -Dfuzz=enabled) and by
 * the replay test (tests/runtime/test_fuzz_replay.c), which runs every seed
 * and every saved crash input through the very same code in a normal build.
 * Each body aborts (so libFuzzer and the test both see it) when a property
 * breaks; a memory error is caught by the sanitizer of the build. */
#ifndef CPN_TESTS_FUZZ_BODY_H
#define CPN_TESTS_FUZZ_BODY_H

#include <stddef.h>
#include <stdint.h>

/**
 * Wire decoder target: @p data is one received message. Every decoder is
 * run on it; whatever one accepts must re-encode to the very same bytes,
 * and its accessors (offer objects, ACCEPT sinks and slots, COMMIT digests)
 * must stay inside the message. Aborts on a broken property.
 */
void cpn_fuzz_wire_one(const uint8_t *data, size_t size);

/**
 * Manifest (OFFER) target: @p data is an OFFER body (a header is put in
 * front unless @p data already starts with the wire magic). The offer is
 * decoded, every object and the job name go through the receiver's name
 * checks, and an accepted offer must re-encode to the same bytes.
 */
void cpn_fuzz_offer_one(const uint8_t *data, size_t size);

#endif /* CPN_TESTS_FUZZ_BODY_H */
