; soak64.asm - the soak guest (tests/soak/soak.h). 64-bit, loaded at
; 0x10000, entered in long mode. Guest instructions are slow on this
; substrate (~1 us each), so the VMM draws all randomness and the guest
; does only what must happen inside it, ~40 instructions per exit:
;   entry: load the 16 GPRs from init[] (the VMM's random start values)
;   loop:  checksum its 16 registers (h = r0; h = rol(h, 5) ^ ri, i = 1..15)
;          and compare it with expect_sum, the checksum of what the VMM
;          says every register must hold now (after the VMM's writes and
;          the last exit's completion); a difference: all registers to
;          post[], out PORT_CORRUPT
;          store the checksum in sum and count the exit in seq; the VMM
;          recomputes the checksum from the registers it reads at the exit
;          jump to next_exit (an exit stub the VMM picked; it also set the
;          stub's operands: ecx = msr index, eax = cpuid leaf)
; Mailbox layout: SOAK_MB_* in tests/soak/soak.h.
bits 64
org 0x10000

MBOX        equ 0x8000
SEQ         equ MBOX + 0x00
SUM         equ MBOX + 0x08
EXPECT_SUM  equ MBOX + 0x10
NEXT_EXIT   equ MBOX + 0x18
SAVE        equ MBOX + 0x20
INIT        equ MBOX + 0x80      ; 16 qwords, rax..r15 in roof_state order
POST        equ MBOX + 0x100

PORT_OUT     equ 0x20
PORT_IN      equ 0x21
PORT_CORRUPT equ 0x22
MMIO_BASE    equ 0x10000000

header:
	jmp	entry
	align	8
stubs:                             ; read by the VMM: the exit stubs
	dq	k_out, k_in8, k_in16, k_in32, k_mmio_w8, k_mmio_w4
	dq	k_mmio_r8, k_mmio_r4, k_hlt, k_rdmsr, k_wrmsr, k_cpuid
stubs_end:

entry:
	mov	rax, [abs INIT + 0 * 8]
	mov	rcx, [abs INIT + 1 * 8]
	mov	rdx, [abs INIT + 2 * 8]
	mov	rbx, [abs INIT + 3 * 8]
	mov	rsp, [abs INIT + 4 * 8]
	mov	rbp, [abs INIT + 5 * 8]
	mov	rsi, [abs INIT + 6 * 8]
	mov	rdi, [abs INIT + 7 * 8]
	mov	r8, [abs INIT + 8 * 8]
	mov	r9, [abs INIT + 9 * 8]
	mov	r10, [abs INIT + 10 * 8]
	mov	r11, [abs INIT + 11 * 8]
	mov	r12, [abs INIT + 12 * 8]
	mov	r13, [abs INIT + 13 * 8]
	mov	r14, [abs INIT + 14 * 8]
	mov	r15, [abs INIT + 15 * 8]

; h = rol(h, 5) ^ reg over the registers given, h in rax
%macro FOLD 1-*
%rep %0
	rol	rax, 5
	xor	rax, %1
%rotate 1
%endrep
%endmacro

loop:
	mov	[abs SAVE], rax
	FOLD	rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9, r10, r11, r12, r13, r14, r15
	cmp	rax, [abs EXPECT_SUM]
	jne	corrupt
	mov	[abs SUM], rax
	mov	rax, [abs SAVE]
	inc	qword [abs SEQ]
	jmp	[abs NEXT_EXIT]

corrupt:
	mov	rax, [abs SAVE]
	mov	[abs POST + 0 * 8], rax
	mov	[abs POST + 1 * 8], rcx
	mov	[abs POST + 2 * 8], rdx
	mov	[abs POST + 3 * 8], rbx
	mov	[abs POST + 4 * 8], rsp
	mov	[abs POST + 5 * 8], rbp
	mov	[abs POST + 6 * 8], rsi
	mov	[abs POST + 7 * 8], rdi
	mov	[abs POST + 8 * 8], r8
	mov	[abs POST + 9 * 8], r9
	mov	[abs POST + 10 * 8], r10
	mov	[abs POST + 11 * 8], r11
	mov	[abs POST + 12 * 8], r12
	mov	[abs POST + 13 * 8], r13
	mov	[abs POST + 14 * 8], r14
	mov	[abs POST + 15 * 8], r15
	out	PORT_CORRUPT, al           ; the VMM compares post[] and resyncs
	jmp	loop

; one exiting instruction each, then back to the check
k_out:		out	PORT_OUT, al
		jmp	loop
k_in8:		in	al, PORT_IN
		jmp	loop
k_in16:		in	ax, PORT_IN
		jmp	loop
k_in32:		in	eax, PORT_IN
		jmp	loop
k_mmio_w8:	mov	[abs MMIO_BASE], rbx
		jmp	loop
k_mmio_w4:	mov	[abs MMIO_BASE + 8], ecx
		jmp	loop
k_mmio_r8:	mov	rax, [abs MMIO_BASE + 0x10]
		jmp	loop
k_mmio_r4:	mov	ecx, [abs MMIO_BASE + 0x18]
		jmp	loop
k_hlt:		hlt
		jmp	loop
k_rdmsr:	rdmsr
		jmp	loop
k_wrmsr:	wrmsr
		jmp	loop
k_cpuid:	cpuid                      ; the VMM's cpuid site
		jmp	loop
