; guests.asm - the guest images the root task runs, the same flat binaries
; the Linux tests and the bench load (tests/guests/*.asm and
; microbench/guests/*.asm, built to <build>/guests/*.bin; nasm finds them
; through -I). The bench ROMs are 64 KiB and aligned to it, so one
; delegation maps each at 0xf0000 and at 0xffff0000; the VMM patches their
; headers (iterations) before it maps them.
section .note.GNU-stack noalloc noexec nowrite progbits

section .data

%macro GUEST 2                         ; symbol, file
global %1, %1_end
%1:
	incbin	%2
%1_end:
%endmacro

align 4096
GUEST rt_guest_exits64, "exits64.bin"
align 4096
GUEST rt_guest_vmm_x86, "vmm_x86.bin"
align 65536
GUEST rt_rom_io_out, "io-out.bin"
align 65536
GUEST rt_rom_hlt, "hlt.bin"
align 65536
GUEST rt_rom_cpuid, "cpuid-user.bin"
