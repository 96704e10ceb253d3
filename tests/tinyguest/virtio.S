/* Plays a virtio driver against the virtio-rng device in the first
 * virtio-mmio slot, on the real KVM (ioeventfd kick, event loop, used ring):
 * prints magic, version and device ID, then the length of the used buffer,
 * InterruptStatus and whether the 16 bytes are no longer all zero:
 * "74726976 00000002 00000004 00000010 00000001 1". */
#include "tiny.h"
#define VIRTIO 0xd0000000
#define DESC 0x300000
#define AVAIL 0x301000
#define USED 0x302000
#define BUF 0x303000

/* Write the 32-bit value to register off of the device (base in %r12). */
.macro reg off, val
	movl $\val, \off(%r12)
.endm

	.globl _start
_start:
	stack
	mov $VIRTIO, %r12     /* above 2 GiB: no 32-bit displacement reaches it */
	mov 0x000(%r12), %eax
	call hex32
	mov 0x004(%r12), %eax
	call hex32
	mov 0x008(%r12), %eax
	call hex32
	reg 0x070, 0
	reg 0x070, 1
	reg 0x070, 3
	reg 0x024, 1
	reg 0x020, 1          /* VIRTIO_F_VERSION_1 */
	reg 0x070, 0xb
	virtq0 8, DESC, AVAIL, USED
	reg 0x070, 0xf
	movq $BUF, DESC       /* desc[0]: 16 device-writable bytes at BUF */
	movl $16, DESC + 8
	movw $2, DESC + 12
	movw $0, AVAIL + 4    /* avail ring[0] = head 0, then idx = 1 */
	movw $1, AVAIL + 2
	reg 0x050, 0          /* QueueNotify: an ioeventfd on KVM */
	mov $100000000, %ecx
1:	cmpw $1, USED + 2     /* wait for used idx 1 */
	je 2f
	pause
	loop 1b
2:	mov USED + 8, %eax    /* used ring[0].len */
	call hex32
	mov 0x060(%r12), %eax
	call hex32
	mov BUF, %rax
	or BUF + 8, %rax
	setnz %al
	add $'0', %al
	mov $UART, %dx
	out %al, %dx
	mov $'\n', %al
	out %al, %dx
	poweroff

/* Print %eax as 8 hex digits and a space. */
hex32:
	print_hex32
	mov $' ', %al
	mov $UART, %dx
	out %al, %dx
	ret
	define_hexdigit
