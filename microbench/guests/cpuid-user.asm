; cpuid-user: a cpuid at a cpuid site (roof_vm_set_cpuid_exits), which
; exits to the VMM on every backend, per iteration.
%include "microbench/guests/bench.inc"
	HEADER cpuid_site
again:
	mov	eax, CPUID_LEAF
	xor	ecx, ecx
cpuid_site:
	cpuid
	dec	ebp
	jnz	again
	FOOTER
