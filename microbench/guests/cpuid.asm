; cpuid: `param` blocks of 8 cpuids (answered inside KVM from the policy
; table, no exit) between two outs. The VMM runs it with two values of
; param and derives the time of one cpuid from the slope.
%include "microbench/guests/bench.inc"
	HEADER
.loop:
	mov	edi, [cs:param]
	test	edi, edi
	jz	.exit
.block:
%rep 8
	mov	eax, CPUID_LEAF
	xor	ecx, ecx
	cpuid
%endrep
	dec	edi
	jnz	.block
.exit:
	out	BENCH_PORT, al
	dec	ebp
	jnz	.loop
	FOOTER
