/* A hostile virtio driver against the virtio-rng device in the first
 * virtio-mmio slot (issue 23), on the real KVM. Each line of output is one
 * used length or register, in this order:
 *   a descriptor loop (0 -> 1 -> 0)             used, length 0
 *   1,000 descriptors in one indirect table      used, length 0
 *   a good request after both                    used, length 16
 *   the avail index moved 65,000 ahead           Status 0x4f: NEEDS_RESET set
 *   a device reset (Status 0)                    Status reads 0
 *   set up again, one good request               used, length 16
 * then "END": microvm survived each and the device works after its reset. */
#include "tiny.h"
#define VIRTIO 0xd0000000
#define DESC 0x300000
#define AVAIL 0x301000
#define USED 0x302000
#define BUF 0x303000
#define IND 0x310000 /* 1,000 descriptors: 16,000 bytes */
#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4

/* Write the 32-bit value to register off of the device (base in %r12). */
.macro reg off, val
	movl $\val, \off(%r12)
.endm

/* Ring descriptor i. */
.macro desc i, addr, len, flags, next
	movq $\addr, DESC + 16 * \i
	movl $\len, DESC + 16 * \i + 8
	movw $\flags, DESC + 16 * \i + 12
	movw $\next, DESC + 16 * \i + 14
.endm

	.globl _start
_start:
	stack
	mov $VIRTIO, %r12     /* above 2 GiB: no 32-bit displacement reaches it */
	call setup
	desc 0, BUF, 16, F_NEXT | F_WRITE, 1
	desc 1, BUF + 16, 16, F_NEXT | F_WRITE, 0
	xor %eax, %eax
	call submit
	call fill_indirect
	desc 2, IND, 16000, F_INDIRECT, 0
	mov $2, %eax
	call submit
	desc 3, BUF, 16, F_WRITE, 0
	mov $3, %eax
	call submit
	addw $65000, AVAIL + 2
	reg 0x050, 0          /* QueueNotify */
	mov $100000000, %ecx
1:	testl $0x40, 0x070(%r12)
	jnz 2f
	pause
	loop 1b
2:	mov 0x070(%r12), %eax
	call hex32
	reg 0x070, 0          /* reset */
	mov 0x070(%r12), %eax
	call hex32
	call setup
	desc 0, BUF, 16, F_WRITE, 0
	xor %eax, %eax
	call submit
	print end, 4
	poweroff

/* Negotiate VERSION_1 and INDIRECT_DESC, one queue of 8 at DESC/AVAIL/USED. */
setup:
	reg 0x070, 0
	reg 0x070, 1
	reg 0x070, 3
	reg 0x024, 0
	reg 0x020, 0x10000000 /* VIRTIO_F_INDIRECT_DESC (28) */
	reg 0x024, 1
	reg 0x020, 1          /* VIRTIO_F_VERSION_1 (32) */
	reg 0x070, 0xb
	movw $0, AVAIL + 2
	movw $0, USED + 2
	xor %r13d, %r13d      /* used entries seen */
	virtq0 8, DESC, AVAIL, USED
	reg 0x070, 0xf
	ret

/* Offer the chain whose head is %eax, kick, wait for it to be used and
 * print its used length. */
submit:
	movzwl AVAIL + 2, %ecx
	mov %ecx, %edx
	and $7, %edx
	mov %ax, AVAIL + 4(,%rdx,2)
	inc %ecx
	mov %cx, AVAIL + 2
	reg 0x050, 0
	inc %r13d
	mov $100000000, %ecx
1:	cmpw %r13w, USED + 2
	je 2f
	pause
	loop 1b
2:	mov %r13d, %edx
	dec %edx
	and $7, %edx
	mov USED + 8(,%rdx,8), %eax
	call hex32
	ret

/* IND: 1,000 one-byte device-writable descriptors chained in order. */
fill_indirect:
	mov $IND, %edi
	xor %ecx, %ecx
1:	movq $BUF, (%rdi)
	movl $1, 8(%rdi)
	movw $(F_NEXT | F_WRITE), 12(%rdi)
	lea 1(%ecx), %eax
	mov %ax, 14(%rdi)
	add $16, %rdi
	inc %ecx
	cmp $1000, %ecx
	jne 1b
	movw $F_WRITE, -4(%rdi) /* the last one ends the chain */
	ret

/* Print %eax as 8 hex digits and a newline. */
hex32:
	print_hex32
	mov $'\n', %al
	mov $UART, %dx
	out %al, %dx
	ret
	define_hexdigit

end:	.ascii "END\n"
