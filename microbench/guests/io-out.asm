; io-out: one out to an unused port per iteration (retired by KVM before
; the exit reaches the VMM).
%include "microbench/guests/bench.inc"
	HEADER
.loop:
	out	BENCH_PORT, al
	dec	ebp
	jnz	.loop
	FOOTER
