; pause: the guest spins without exiting; the VMM recalls it with
; roof_vcpu_pause() and times the way to its PAUSED handler.
%include "microbench/guests/bench.inc"
	HEADER
.spin:
	jmp	.spin
	FOOTER
