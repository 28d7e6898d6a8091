; io-in: one in per iteration; the VMM supplies the byte, KVM finishes the
; instruction at the next KVM_RUN.
%include "microbench/guests/bench.inc"
	HEADER
.loop:
	in	al, BENCH_PORT
	dec	ebp
	jnz	.loop
	FOOTER
