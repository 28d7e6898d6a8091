; exits64.asm - 64-bit test guest for the integration tests (tests/test_exits.c).
; Loaded at 0x10000; the STARTUP handler (tests/util) enters it in long mode
; with rdi = subtest number. Every subtest loads all 16 GPRs with known
; patterns, causes one exit, then reports on port 0x11 ("check": the VMM
; compares every GPR with what it expects) and ends on port 0x1f ("done").
bits 64
org 0x10000

PORT_EXIT   equ 0x10
PORT_IN     equ 0x12
PORT_CHECK  equ 0x11
PORT_DONE   equ 0x1f
MMIO_BASE   equ 0x10000000
VMM_MSR     equ 0x4b564d00

header:
	jmp	entry
	align	8
cpuid_site_ptr:	dq cpuid_site      ; read by the test: the cpuid site address
loop_count_ptr:	dq loop_count      ; iterations of the loop subtest

%macro PATTERNS 0
	mov	rax, 0x0101010101010101
	mov	rcx, 0x0202020202020202
	mov	rdx, 0x0303030303030303
	mov	rbx, 0x0404040404040404
	mov	rsp, 0x0505050505050505
	mov	rbp, 0x0606060606060606
	mov	rsi, 0x0707070707070707
	mov	rdi, 0x0808080808080808
	mov	r8,  0x0909090909090909
	mov	r9,  0x0a0a0a0a0a0a0a0a
	mov	r10, 0x0b0b0b0b0b0b0b0b
	mov	r11, 0x0c0c0c0c0c0c0c0c
	mov	r12, 0x0d0d0d0d0d0d0d0d
	mov	r13, 0x0e0e0e0e0e0e0e0e
	mov	r14, 0x0f0f0f0f0f0f0f0f
	mov	r15, 0x1010101010101010
%endmacro

%macro FINISH 0
	out	PORT_CHECK, al
	jmp	done
%endmacro

entry:
	cmp	rdi, (table_end - table) / 8
	jae	done
	lea	rax, [rel table]
	jmp	[rax + rdi * 8]

align 8
table:
	dq	t_out          ; 0
	dq	t_in8          ; 1
	dq	t_in16         ; 2
	dq	t_in32         ; 3
	dq	t_mmio_read    ; 4
	dq	t_mmio_write   ; 5
	dq	t_hlt          ; 6
	dq	t_rdmsr        ; 7
	dq	t_wrmsr        ; 8
	dq	t_cpuid_kernel ; 9
	dq	t_cpuid_site   ; 10
	dq	t_msr_kernel   ; 11
	dq	t_loop         ; 12
	dq	t_mmio_read32  ; 13
	dq	t_spin         ; 14
table_end:

t_out:
	PATTERNS
	out	PORT_EXIT, al
	FINISH

t_in8:
	PATTERNS
	in	al, PORT_IN
	FINISH

t_in16:
	PATTERNS
	mov	dx, PORT_IN
	in	ax, dx
	FINISH

t_in32:
	PATTERNS
	mov	dx, PORT_IN
	in	eax, dx            ; zero-extends into rax
	FINISH

t_mmio_read:
	PATTERNS
	mov	rax, [abs MMIO_BASE]
	FINISH

t_mmio_read32:
	PATTERNS
	mov	ecx, [abs MMIO_BASE + 0x20]   ; zero-extends into rcx
	FINISH

t_mmio_write:
	PATTERNS
	mov	[abs MMIO_BASE + 8], rbx
	mov	[abs MMIO_BASE + 0x10], ecx
	FINISH

t_hlt:
	PATTERNS
	hlt
	FINISH

t_rdmsr:
	PATTERNS
	mov	ecx, VMM_MSR
	rdmsr
	FINISH

t_wrmsr:
	PATTERNS
	mov	ecx, VMM_MSR
	wrmsr
	FINISH

t_cpuid_kernel:
	PATTERNS
	mov	eax, 0x40000000
	xor	ecx, ecx
	cpuid
	FINISH

t_cpuid_site:
	PATTERNS
	mov	eax, 0x40000001
	mov	ecx, 7
cpuid_site:
	cpuid
	FINISH

t_msr_kernel:                      ; SYSENTER_ESP: handled in the kernel
	PATTERNS
	mov	ecx, 0x175
	mov	eax, 0x11223344
	mov	edx, 0xffff8000            ; a canonical address
	wrmsr
	xor	eax, eax
	xor	edx, edx
	rdmsr
	FINISH

t_spin:                            ; runs until the VMM pauses it
	PATTERNS
.spin:
	jmp	.spin
	FINISH

; The mixed loop: out, mmio write, mmio read, hlt, repeated loop_count times.
t_loop:
	mov	r15, [rel loop_count]
.again:
	out	PORT_EXIT, al
	mov	[abs MMIO_BASE + 8], rbx
	mov	rax, [abs MMIO_BASE]
	hlt
	dec	r15
	jnz	.again
	jmp	done

done:
	out	PORT_DONE, al
	jmp	done

align 8
loop_count:	dq 1000
