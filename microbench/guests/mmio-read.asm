; mmio-read: a 4-byte load from unbacked guest-physical memory per iteration.
%include "microbench/guests/bench.inc"
	HEADER
.loop:
	mov	eax, [fs:0]
	dec	ebp
	jnz	.loop
	FOOTER
