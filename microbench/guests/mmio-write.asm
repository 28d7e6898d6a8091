; mmio-write: a 4-byte store to unbacked guest-physical memory per iteration.
%include "microbench/guests/bench.inc"
	HEADER
.loop:
	mov	[fs:0], eax
	dec	ebp
	jnz	.loop
	FOOTER
