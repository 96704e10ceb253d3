/* Jumps to the BIOS reset vector F000:FFF0 in real mode, as Linux's
 * machine_real_restart does: microvm's stub there resets (status 2).
 * Starts at the 32-bit PVH entry, the shortest way down to real mode; the
 * 16-bit part is copied below 64 KiB, where real-mode code can run. */
#include "tiny.h"
	pvh_note pvh_start
	.text
	.globl _start
_start:
	hlt
	.code32
pvh_start:
	mov $low, %esi
	mov $0x1000, %edi
	mov $low_end - low, %ecx
	rep movsb
	lgdt gdt_ptr
	ljmp $8, $0x1000             /* 16-bit protected-mode code */
	.code16
low:	mov %cr0, %eax
	and $~1, %eax                /* protection off: real mode */
	mov %eax, %cr0
	ljmp $0xf000, $0xfff0
low_end:
	.p2align 3
gdt:	.quad 0
	.quad 0x00009b000000ffff     /* 16-bit code, base 0, limit 64 KiB */
gdt_ptr:
	.word 15
	.long gdt
