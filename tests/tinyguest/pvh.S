/* A 32-bit PVH guest: the ELF note XEN_ELFNOTE_PHYS32_ENTRY (18) names
 * pvh_start, which microvm must enter in protected mode with %ebx pointing
 * at the start info (magic 0x336ec578). Prints PVH-OK, or PVH-BAD. */
#include "tiny.h"
	pvh_note pvh_start
	.text
	.globl _start
_start:                 /* 64-bit entry: must not be used */
	hlt
	.code32
pvh_start:
	cmpl $0x336ec578, (%ebx)
	jne 1f
	mov $ok, %esi
	mov $7, %ecx
	jmp 2f
1:	mov $bad, %esi
	mov $8, %ecx
2:	mov $UART, %dx
	rep outsb
	mov $SLEEP_CTL, %dx
	mov $0x34, %al
	out %al, %dx
	hlt
ok:	.ascii "PVH-OK\n"
bad:	.ascii "PVH-BAD\n"
