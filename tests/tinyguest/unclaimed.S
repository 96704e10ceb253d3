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
	print_hex32
	mov $'\n', %al
	mov $UART, %dx
	out %al, %dx
	poweroff
	define_hexdigit
