/* Echoes UART input, upper-cased, until a newline; then powers off.
 * Polls LSR.DR, so it tests the receive path and stdin back-pressure. */
#include "tiny.h"
	.globl _start
_start:
1:	mov $UART + 5, %dx
	in %dx, %al
	test $1, %al
	jz 1b
	mov $UART, %dx
	in %dx, %al
	cmp $'a', %al
	jb 2f
	cmp $'z', %al
	ja 2f
	sub $0x20, %al
2:	out %al, %dx
	cmp $'\n', %al
	jne 1b
	poweroff
