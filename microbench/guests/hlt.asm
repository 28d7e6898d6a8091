; hlt: interrupts off, one hlt per iteration. HLT does not advance ip: the
; VMM's handler steps over it.
%include "microbench/guests/bench.inc"
	HEADER
.loop:
	hlt
	dec	ebp
	jnz	.loop
	FOOTER
