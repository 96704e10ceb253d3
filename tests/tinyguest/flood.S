/* Writes to the UART without end (issue 23: a guest flooding a serial port
 * nobody reads). With microvm's stdout a full pipe, the vCPU must neither
 * block shutdown nor lose microvm's ability to stop on SIGTERM. */
#include "tiny.h"
	.globl _start
_start:
	mov $UART, %dx
	mov $'x', %al
1:	out %al, %dx
	jmp 1b
