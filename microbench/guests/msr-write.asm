; msr-write: wrmsr of the VMM's MSR per iteration.
%include "microbench/guests/bench.inc"
	HEADER
	mov	ecx, VMM_MSR
	xor	eax, eax
	xor	edx, edx
.loop:
	wrmsr
	dec	ebp
	jnz	.loop
	FOOTER
