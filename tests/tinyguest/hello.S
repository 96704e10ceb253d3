/* Prints a marker and powers off through the ACPI sleep register. */
#include "tiny.h"
	.globl _start
_start:
	print msg, 11
	poweroff
msg:	.ascii "TINY-HELLO\n"
