; masked_copy.asm - gather a transfer mask from a backend's native layout into
; roof_state, and scatter the dirty groups back. The set bits of the mask are
; walked with tzcnt/blsr; each group's copy descriptors are walked without any
; per-register branch. Plain C reference: fastpath/transfer_plan.c (the tests
; compare both on random plans, masks and states).
; Requires BMI1 (tzcnt, blsr). x86-64 System V ABI.
;
; uint64_t roof_gather_asm(const struct roof_transfer_plan *plan, uint64_t mask,
;                          const void *native, roof_state *state);
; uint64_t roof_scatter_asm(const struct roof_transfer_plan *plan, uint64_t mask,
;                           const roof_state *state, void *native);
; Both return the number of bytes copied.

; struct roof_transfer_plan offsets, pinned by _Static_assert in transfer_plan.c
%define PLAN_FIRST     0
%define PLAN_COUNT     32
%define PLAN_COPYABLE  192
%define PLAN_DESC      208
; struct roof_copy_desc: native_off, state_off, len (u32 each)
%define DESC_NATIVE    0
%define DESC_STATE     4
%define DESC_LEN       8
%define DESC_SIZE      12
; copies of at least this many bytes use rep movsb (ERMS); shorter ones qwords
%define REP_THRESHOLD  256

section .note.GNU-stack noalloc noexec nowrite progbits

section .text

; rdi = plan, rsi = mask, rdx = source base, rcx = destination base
; %1 = descriptor field holding the source offset, %2 = the destination one
%macro MASKED_COPY 2
	push	rbx
	push	r12
	xor	eax, eax
	and	rsi, [rdi + PLAN_COPYABLE]
	jz	%%done
%%group:
	tzcnt	r8, rsi                         ; next group bit
	blsr	rsi, rsi
	movzx	r9d, byte [rdi + PLAN_FIRST + r8]
	movzx	r10d, byte [rdi + PLAN_COUNT + r8]
	lea	r9, [r9 + r9 * 2]               ; index * 12 = (index * 3) * 4
	lea	r9, [rdi + PLAN_DESC + r9 * 4]
%%desc:
	mov	r11d, [r9 + %1]
	mov	ebx, [r9 + %2]
	mov	r12d, [r9 + DESC_LEN]
	add	rax, r12
	add	r11, rdx
	add	rbx, rcx
	cmp	r12d, REP_THRESHOLD
	jae	%%rep
%%qword:
	cmp	r12d, 8
	jb	%%byte
	mov	r8, [r11]
	mov	[rbx], r8
	add	r11, 8
	add	rbx, 8
	sub	r12d, 8
	jmp	%%qword
%%byte:
	test	r12d, r12d
	jz	%%next
	mov	r8b, [r11]
	mov	[rbx], r8b
	inc	r11
	inc	rbx
	dec	r12d
	jmp	%%byte
%%rep:
	push	rsi
	push	rdi
	push	rcx
	mov	rsi, r11
	mov	rdi, rbx
	mov	ecx, r12d
	rep	movsb
	pop	rcx
	pop	rdi
	pop	rsi
%%next:
	add	r9, DESC_SIZE
	dec	r10d
	jnz	%%desc
	test	rsi, rsi
	jnz	%%group
%%done:
	pop	r12
	pop	rbx
	ret
%endmacro

global roof_gather_asm:function
roof_gather_asm:
	MASKED_COPY DESC_NATIVE, DESC_STATE

global roof_scatter_asm:function
roof_scatter_asm:
	MASKED_COPY DESC_STATE, DESC_NATIVE
