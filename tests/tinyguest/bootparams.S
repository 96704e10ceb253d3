/* Prints what microvm put in the zero page: the command line, then each
 * e820 entry as "addr size type" in hex, then powers off. */
#include "tiny.h"
	.globl _start
_start:
	stack
	mov %rsi, %r12               /* boot_params */
	mov 0x228(%r12), %esi        /* hdr.cmd_line_ptr */
	mov $UART, %dx
1:	lodsb
	test %al, %al
	jz 2f
	out %al, %dx
	jmp 1b
2:	mov $'\n', %al
	out %al, %dx
	movzbl 0x1e8(%r12), %r13d    /* e820_entries */
	lea 0x2d0(%r12), %r14        /* e820_table */
3:	test %r13d, %r13d
	jz 4f
	mov (%r14), %r8
	call hex64
	call space
	mov 8(%r14), %r8
	call hex64
	call space
	mov 16(%r14), %eax
	hexbyte
	mov $'\n', %al
	mov $UART, %dx
	out %al, %dx
	add $20, %r14
	dec %r13d
	jmp 3b
4:	poweroff

space:	mov $' ', %al
	mov $UART, %dx
	out %al, %dx
	ret
hex64:	mov $8, %r9d
5:	rol $8, %r8
	mov %r8b, %al
	hexbyte
	dec %r9d
	jnz 5b
	ret
	define_hexdigit
