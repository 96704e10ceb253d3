/* tiny.h - macros for the hand-written test guests (64-bit, entered by
 * microvm's ELF loader with rsi = boot_params). Ports match vmm/x86_64/x86.h. */
#define UART 0x3f8
#define SLEEP_CTL 0x3c0
#define RESET_REG 0x3c2
#define PVPANIC 0x505

/* A stack for guests that call subroutines (microvm leaves %rsp at 0). */
.macro stack
	lea stack_top(%rip), %rsp
	.pushsection .bss
	.p2align 4
	.skip 4096
stack_top:
	.popsection
.endm

/* Print the string at label (length len) on the UART. */
.macro print label, len
	lea \label(%rip), %rsi
	mov $\len, %ecx
	mov $UART, %dx
	rep outsb
.endm

/* virtio-mmio at %r12: queue 0 with num entries at desc/avail/used (below
 * 4 GiB), then QueueReady. */
.macro virtq0 num, desc, avail, used
	movl $0, 0x030(%r12)
	movl $\num, 0x038(%r12)
	movl $\desc, 0x080(%r12)
	movl $0, 0x084(%r12)
	movl $\avail, 0x090(%r12)
	movl $0, 0x094(%r12)
	movl $\used, 0x0a0(%r12)
	movl $0, 0x0a4(%r12)
	movl $1, 0x044(%r12)
.endm

/* ACPI S5: SLP_TYP 5 << 2 | SLP_EN. */
.macro poweroff
	mov $SLEEP_CTL, %dx
	mov $0x34, %al
	out %al, %dx
	hlt
.endm

/* Print the byte in %al as two hex digits (clobbers %rbx, %rdx). */
.macro hexbyte
	mov %al, %bl
	shr $4, %al
	call hexdigit
	mov %bl, %al
	and $0xf, %al
	call hexdigit
.endm

/* Print %eax as eight hex digits (clobbers %r8, %r9, %rbx, %rdx). */
.macro print_hex32
	mov %eax, %r8d
	mov $4, %r9d
3:	rol $8, %r8d
	mov %r8b, %al
	hexbyte
	dec %r9d
	jnz 3b
.endm

.macro define_hexdigit
hexdigit:
	and $0xf, %al
	add $'0', %al
	cmp $'9', %al
	jbe 1f
	add $('a' - '9' - 1), %al
1:	mov $UART, %dx
	out %al, %dx
	ret
.endm

/* The ELF note XEN_ELFNOTE_PHYS32_ENTRY (18) naming a 32-bit PVH entry. */
.macro pvh_note entry
	.pushsection .note.pvh, "a"
	.p2align 2
	.long 4, 4, 18
	.asciz "Xen"
	.long \entry
	.popsection
.endm
