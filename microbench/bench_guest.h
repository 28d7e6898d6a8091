/*
 * bench_guest.h - the VMM's view of the bench guests
 * (microbench/guests/bench.inc holds the same numbers for nasm).
 *
 * Every guest is a 64 KiB real-mode ROM with a header at offset 0; the VMM
 * patches its copy and maps it read-only at ROM_LOW and ROM_HIGH.
 */
#ifndef BENCH_GUEST_H
#define BENCH_GUEST_H

#include <stdint.h>

#define GUEST_ROM_SIZE 0x10000u
#define GUEST_ROM_LOW 0xf0000u            /* f000:0 after the reset jump */
#define GUEST_ROM_HIGH 0xffff0000ull      /* the reset vector's segment */
#define GUEST_RAM_SIZE 0x80000u           /* RAM at 0: stack at 0x7000 */
#define GUEST_BENCH_PORT 0x80u
#define GUEST_DONE_PORT 0xf4u
#define GUEST_DONE_CODE 0x21u             /* QEMU exit status 0x43 */
#define GUEST_MMIO_GPA 0xd0000ull
#define GUEST_VMM_MSR 0x4b564d00u
#define GUEST_CPUID_LEAF 0x40000000u
#define GUEST_CPUIDS_PER_BLOCK 8u         /* cpuid.asm: one block */

/* Header (offset 0 of the ROM). */
#define GUEST_MAGIC "ROOFBNCH"
#define GUEST_OFF_ITERATIONS 0x08u        /* u32 loop count */
#define GUEST_OFF_PARAM 0x0cu             /* u32 per-guest parameter */
#define GUEST_OFF_SITE 0x10u              /* u16 cpuid site offset, 0 none */
#define GUEST_FOREVER 0xffffffffu

#endif
