/* Reports a panic through pvpanic: status 3. */
#include "tiny.h"
	.globl _start
_start:
	mov $PVPANIC, %dx
	in %dx, %al          /* capabilities: bit 0 = panicked supported */
	test $1, %al
	jz 1f
	mov $1, %al
	out %al, %dx
1:	hlt
	jmp 1b
