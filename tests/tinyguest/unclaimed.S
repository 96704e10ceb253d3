/* Reads an unclaimed port and an unclaimed MMIO address: both must read as
 * all ones. Prints "ff ffffffff". */
#include "tiny.h"
	.globl _start
_start:
	stack
	in $0x80, %al
	hexbyte
	mov $' ', %al
	mov $UART, %dx
	out %al, %dx
	mov $0xd8000000, %rcx
	mov (%rcx), %eax
	mov %eax, %r8d
	mov $4, %r9d
3:	rol $8, %r8d
	mov %r8b, %al
	hexbyte
	dec %r9d
	jnz 3b
	mov $'\n', %al
	mov $UART, %dx
	out %al, %dx
	poweroff
	define_hexdigit
