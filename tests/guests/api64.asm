; api64.asm - 64-bit guest for the bad-input and race tests
; (tests/test_api_*.c, tests/test_race.c). Loaded at 0x10000 like exits64;
; the STARTUP handler enters it in long mode with rdi = subtest and
; rsi = argument. The IDT is empty (limit 0), so any exception escalates to
; a triple fault: that is what t_triple_fault relies on.
bits 64
org 0x10000

PORT_TICK   equ 0x10
PORT_CHECK  equ 0x11
PORT_AFTER  equ 0x12
PORT_DONE   equ 0x1f
MMIO_BASE   equ 0x10000000

header:
	jmp	entry
	align	8
hlt_site_ptr:	dq t_hlt_loop.site       ; read by the tests: the hlt of t_hlt_loop

entry:                             ; rdi = subtest, rsi = argument
	cmp	rdi, (table_end - table) / 8
	jae	done
	jmp	[table + rdi * 8]          ; absolute: the guest runs at its org

align 8
table:
	dq	done           ; 0: report done at once
	dq	t_read         ; 1: report the qword at [rsi] as an mmio write
	dq	t_triple_fault ; 2: ud2 with no IDT
	dq	t_tick_loop    ; 3: out PORT_TICK forever, rbx = ticks so far
	dq	t_hlt_loop     ; 4: hlt, out PORT_AFTER, forever, rbx = hlts
	dq	t_spin         ; 5: spin without exits
	dq	t_patterns     ; 6: GPR patterns, out PORT_CHECK, done
table_end:

t_read:
	mov	rax, [rsi]
	mov	[abs MMIO_BASE], rax
	jmp	done

t_triple_fault:
	ud2

; rbx counts the out instructions executed; rbp holds a constant the VMM
; checks, so a lost or doubled exit or a clobbered register shows. (Not
; r8-r15: some kernels cannot transfer them.)
t_tick_loop:
	xor	ebx, ebx
	mov	rbp, 0x1414141414141414
.again:
	inc	rbx
	out	PORT_TICK, al
	jmp	.again

t_hlt_loop:
	xor	ebx, ebx
.again:
	inc	rbx

.site:
	hlt
	out	PORT_AFTER, al
	jmp	.again

t_spin:
	pause
	jmp	t_spin

; register i (rax..r15 in roof_state order) = (i + 1) * 0x0101010101010101,
; the patterns of tests/util (roof_test_patterns), built with lea
t_patterns:
	mov	rax, 0x0101010101010101
	lea	rcx, [rax * 2]
	lea	rdx, [rax * 2 + rax]
	lea	rbx, [rax * 4]
	lea	rsp, [rax * 4 + rax]
	lea	rbp, [rdx * 2]
	lea	rsi, [rbp + rax]
	lea	rdi, [rax * 8]
	lea	r8, [rax * 8 + rax]
	lea	r9, [rbx + rbp]
	lea	r10, [r9 + rax]
	lea	r11, [rbp * 2]
	lea	r12, [r11 + rax]
	lea	r13, [rsi * 2]
	lea	r14, [r13 + rax]
	lea	r15, [rdi * 2]
	out	PORT_CHECK, al
	jmp	done

done:
	out	PORT_DONE, al
	jmp	done
