; vmm_x86.asm - guest of the vmm_x86 port (tests/test_vmm_x86.c).
; Layout from Genode's repos/os/src/test/vmm_x86/guest.s: one 4 KiB page at
; guest-physical 0xfffff000, real mode with CS.base 0xffff0000, so page
; offset 0xf7e is ip 0xff7e; the reset vector 0xfff0 jumps back to it.
bits 16

	times 0xf7e - ($ - $$) db 0xf4     ; hlt everywhere else
code:
	rdtscp                             ; 0xff7e: cx = TSC_AUX
	hlt                                ; 0xff81
	hlt                                ; 0xff82
	jmp	short $                    ; 0xff83
	hlt                                ; 0xff85
	jmp	short $                    ; 0xff86

	times 0xff0 - ($ - $$) db 0xf4
reset_vector:                              ; 0xfff0
	jmp	short code

	times 0x1000 - ($ - $$) db 0xf4
