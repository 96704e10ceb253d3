/* x86.h - x86_64 guest layout and the boot pieces shared inside vmm/x86_64.
 *
 * Guest-physical map (microvm has no firmware, so it is all ours):
 *   0x0000_0500  GDT                      0x0000_6000  PVH start info + memmap
 *   0x0000_7000  boot_params (zero page)  0x0000_9000  page tables (PML4, PDPT, 4 PDs)
 *   0x0002_0000  kernel command line      0x000e_0000  ACPI tables (RSDP first)
 *   0x0010_0000  bzImage protected-mode code / vmlinux at its own p_paddr
 *   top of low RAM: initrd
 *   0xc000_0000 .. 0xffff_ffff  32-bit MMIO hole: virtio-mmio at 0xd000_0000,
 *                               IOAPIC 0xfec0_0000, LAPIC 0xfee0_0000
 *   RAM above 3 GiB continues at 4 GiB.
 */
#ifndef X86_H
#define X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm.h"

#define X86_GDT 0x500ULL
#define X86_PVH_INFO 0x6000ULL
#define X86_BOOT_PARAMS 0x7000ULL
#define X86_PML4 0x9000ULL
#define X86_PDPT 0xa000ULL
#define X86_PD 0xb000ULL /* four pages: identity map of the first 4 GiB */
#define X86_CMDLINE 0x20000ULL
#define X86_CMDLINE_MAX 0x10000ULL
#define X86_EBDA 0x9fc00ULL
#define X86_ACPI 0xe0000ULL
#define X86_ACPI_SIZE 0x20000ULL
#define X86_VMGENID 0xfe000ULL /* 16 bytes, in the reserved area after the ACPI tables */
#define X86_GED_GSI 3          /* the Generic Event Device's interrupt: ISA IRQ 3 is free */
#define X86_HIMEM 0x100000ULL
#define X86_MMIO_HOLE 0xc0000000ULL
#define X86_4G 0x100000000ULL
#define X86_IOAPIC 0xfec00000ULL
#define X86_LAPIC 0xfee00000ULL
#define X86_VIRTIO_MMIO 0xd0000000ULL

/* I/O ports of the power device (vmm/x86_64/power.c), named in the FADT. */
#define X86_PORT_SLEEP_CTL 0x3c0
#define X86_PORT_SLEEP_STS 0x3c1
#define X86_PORT_RESET 0x3c2
#define X86_RESET_VALUE 0x1
#define X86_PORT_PVPANIC 0x505

/* Selectors of the boot GDT: Linux's 64-bit boot protocol wants
 * __BOOT_CS = 0x10 and __BOOT_DS = 0x18. */
#define X86_SEL_CODE 0x10
#define X86_SEL_DATA 0x18
#define X86_SEL_TSS 0x20

#define E820_RAM 1
#define E820_RESERVED 2
#define E820_ACPI 3
#define X86_E820_MAX 128

struct e820_entry {
	uint64_t addr, size;
	uint32_t type;
} __attribute__((packed));

/* How the kernel wants to be entered. */
enum x86_entry_mode {
	X86_ENTRY_64,  /* 64-bit with rsi = boot_params (bzImage, vmlinux) */
	X86_ENTRY_PVH, /* 32-bit protected mode, ebx = hvm_start_info */
};

struct x86_vm {
	enum x86_entry_mode mode;
	uint64_t entry; /* guest-physical entry point */
	struct arch_mmio_devs {
		uint64_t base[32], len[32];
		unsigned irq[32];
		int n;
	} mmio;
	/* Snapshots (snapshot.c): the MSRs KVM lists, TSC_DEADLINE last, and a
	 * hash of the CPUID KVM offers, the host's identity. */
	uint32_t msr_idx[512];
	unsigned nmsrs;
	uint64_t cpuid_hash;
};

/* What a kernel image loader found and placed. */
struct x86_kernel {
	enum x86_entry_mode mode;
	uint64_t entry;
	uint64_t end;        /* first byte after the loaded image (initrd goes above) */
	const uint8_t *setup; /* bzImage setup header source (NULL for vmlinux) */
	size_t setup_len;
};

/* Fill e820 with the VM's map; returns the number of entries. */
int x86_e820(const struct vm *vm, struct e820_entry *e820, int max);

/* The kernel command line into buf: cfg.cmdline plus, without ACPI, one
 * virtio_mmio.device= per virtio-mmio device. Returns its length or -E2BIG. */
int x86_cmdline(const struct vm *vm, char *buf, size_t size);

/* Highest address + 1 of RAM below the 32-bit hole. */
uint64_t x86_lowmem_end(const struct vm *vm);

/* bzImage parsing (bzimage.c). buf/len is the whole file. */
struct bzimage {
	uint16_t version;    /* boot protocol version */
	uint8_t setup_sects;
	uint8_t loadflags;
	uint16_t xloadflags;
	uint32_t initrd_addr_max;
	uint32_t cmdline_size;
	uint64_t pref_address;
	uint32_t init_size;
	uint32_t payload_offset, payload_length; /* into the protected-mode part */
	size_t pm_offset, pm_len; /* protected-mode kernel within the file */
};

/* Parse and validate the setup header. Returns 0, -ENOEXEC when buf is not a
 * bzImage, -EPROTO when its boot protocol is older than 2.12 or it cannot
 * be entered in 64-bit mode, -EINVAL when the header is inconsistent with
 * the file size. */
int bzimage_parse(const uint8_t *buf, size_t len, struct bzimage *bz);

/* Load an ELF vmlinux from buf into guest memory at its physical addresses.
 * Chooses the PVH entry when the image has a PVH note, else e_entry.
 * Returns 0, -ENOEXEC when not an x86_64 ELF, -EINVAL on bad headers or
 * segments outside RAM. */
int elf_load(struct vm *vm, const uint8_t *buf, size_t len, bool want_pvh,
	     struct x86_kernel *k);

/* Like elf_load (without the PVH entry), but for the cached unpacked kernel
 * m: headers are parsed from the mapping, each segment is pread from m->fd
 * into guest RAM, which stays anonymous and huge-page backed. */
struct image_map;
int elf_load_mapped(struct vm *vm, const struct image_map *m, struct x86_kernel *k);

/* Registers, CPUID and interrupt controller of a vCPU for the chosen entry. */
int x86_cpu_init(struct vcpu *v, enum x86_entry_mode mode, uint64_t entry);

/* Give vCPU v the CPUID microvm's guests see (also on --restore). */
int x86_cpu_set_cpuid(struct vcpu *v);

/* Write a new random VM generation ID (vmgenid) into guest memory; with
 * notify, also raise the GED interrupt that tells the guest (a restore). */
void x86_vmgenid_update(struct vm *vm, bool notify);

/* Learn what a snapshot saves of this host's KVM (MSR list, CPUID). */
int x86_snapshot_prepare(struct vm *vm);

/* Build the identity-mapping page tables and GDT in guest memory. */
int x86_setup_tables(struct vm *vm);

/* Claim the power-off and reset ports (power.c). */
int x86_power_setup(struct vm *vm);

/* Write ACPI tables at X86_ACPI describing the VM and its devices;
 * returns the RSDP address or 0 on failure. */
uint64_t x86_acpi_setup(struct vm *vm);

#endif
