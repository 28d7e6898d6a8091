; msr-read: rdmsr of the VMM's MSR per iteration (an MSR exit to user space).
%include "microbench/guests/bench.inc"
	HEADER
	mov	ecx, VMM_MSR
.loop:
	rdmsr
	dec	ebp
	jnz	.loop
	FOOTER
