/*
 * foc_exit_record.h - test-only: the Fiasco.OC client's exit decoding fed
 * with a vCPU state page given as bytes (layout in foc_exit_record.c), for
 * the exit-decoding fuzzer and the replay test (tests/fuzz/exit_decoders.h)
 * and nothing else.
 */
#ifndef ROOF_FOC_EXIT_RECORD_H
#define ROOF_FOC_EXIT_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "roof_state.h"

/* Run the client's trip as the vCPU thread does: the resume (its kernel
 * call returns the record's result), the exit's delivery, and the real
 * dispatch with no handler registered. Fills out (reason, info, valid
 * groups). Returns 0, or -1 when the bytes do not reach the software
 * VMCS's data (or memory ran out). */
int roof_exit_record_decode_foc(const uint8_t *data, size_t size,
				roof_state *out, const void **mem,
				size_t *mem_size);

typedef int (*roof_exit_record_emit)(void *ctx, const char *name,
				     roof_exit want, const uint8_t *data,
				     size_t size);
/* Example records, good and malformed, each with the unified reason it
 * must decode to; returns how many emit() accepted. */
int roof_exit_record_seeds_foc(roof_exit_record_emit emit, void *ctx);

#endif
