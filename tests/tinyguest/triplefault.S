/* Loads an empty IDT and executes ud2: a triple fault, status 2. */
#include "tiny.h"
	.globl _start
_start:
	lidt idt(%rip)
	ud2
	hlt
idt:	.word 0
	.quad 0
