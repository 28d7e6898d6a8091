/*
 * hw_exit_record.h - test-only: the hw client's exit decoding fed with a
 * synthetic exit record instead of a page the hw kernel filled. Used by the
 * exit-decoding fuzzer and the replay test (tests/fuzz/exit_decoders.h)
 * and nothing else.
 *
 * Record layout (the kernel's own ABI, so it stays here):
 *   bytes 0 .. 3647       the Vcpu_state page after vcpu_pause
 *                         (client/hw_vcpu_state.h), as far as given; the
 *                         rest reads zero. At least up to exit_reason.
 *   bytes 3648 .. 7743    optional: guest-physical page 0, which the MMIO
 *                         decode reads the instruction from
 * Groups a record leaves uncharged are not there: the decode asks the
 * "kernel" for them (vcpu_pause with groups), which a record cannot
 * answer, so the exit turns into a BACKEND_ERROR with that text.
 */
#ifndef ROOF_HW_EXIT_RECORD_H
#define ROOF_HW_EXIT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "roof_state.h"

/* Run the client as the handler thread does at an exit signal: ack,
 * vcpu_pause (the page), the exit's start, and the real dispatch with no
 * handler registered. Fills out (reason, info, valid groups). Returns 0,
 * or -1 when the bytes cannot hold a page up to its exit_reason (or memory
 * ran out). */
int roof_exit_record_decode_hw(const uint8_t *data, size_t size,
			       roof_state *out, const void **mem,
			       size_t *mem_size);

typedef int (*roof_exit_record_emit)(void *ctx, const char *name,
				     roof_exit want, const uint8_t *data,
				     size_t size);
/* Example records, good and malformed, each with the unified reason it
 * must decode to; returns how many emit() accepted. */
int roof_exit_record_seeds_hw(roof_exit_record_emit emit, void *ctx);

#endif
