/* arm64.h - aarch64 guest layout and the boot pieces shared inside
 * vmm/aarch64.
 *
 * Guest-physical map (no firmware: the kernel is entered directly with x0 =
 * device tree, per Documentation/arch/arm64/booting.rst):
 *   0x0800_0000  GICv3 distributor (64 KiB)
 *   0x080a_0000  GICv3 redistributors, 128 KiB per vCPU (up to 8 MiB)
 *   0x0900_0000  PL011 UART (ttyAMA0), 4 KiB
 *   0x0901_0000  pvpanic (QEMU's MMIO flavour)
 *   0x0a00_0000  virtio-mmio slots, 4 KiB apart
 *   0x8000_0000  RAM: kernel at its text_offset from the start; initrd and
 *                device tree at the top of RAM
 * Interrupt numbers in arch_devices and arch_add_mmio_dev are SPI numbers
 * (GIC INTID - 32), which is also what KVM_IRQFD's gsi means on arm64.
 */
#ifndef ARM64_H
#define ARM64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "vm.h"

#define ARM64_GICD 0x08000000ULL
#define ARM64_GICD_SIZE 0x10000ULL
#define ARM64_GICR 0x080a0000ULL
#define ARM64_GICR_STRIDE 0x20000ULL /* RD_base + SGI_base frames per vCPU */
#define ARM64_UART 0x09000000ULL
#define ARM64_UART_SIZE 0x1000ULL
#define ARM64_UART_SPI 1
#define ARM64_PVPANIC 0x09010000ULL
#define ARM64_VIRTIO_MMIO 0x0a000000ULL
#define ARM64_VIRTIO_SPI 16
#define ARM64_VIRTIO_SLOTS 32
#define ARM64_RAM 0x80000000ULL
/* 40-bit IPA space: KVM's default when the VM type asks for no other. */
#define ARM64_IPA_LIMIT (1ULL << 40)
/* GIC interrupt lines: 32 private (SGI, PPI) + SPIs; a multiple of 32. */
#define ARM64_GIC_NR_IRQS 128
#define ARM64_FDT_MAX 0x200000ULL /* booting.rst: at most 2 MiB */
#define ARM64_MAX_MMIO_DEVS 32

struct arm64_vm {
	int gic_fd;         /* KVM vGICv3 device */
	uint64_t entry;     /* guest-physical kernel entry */
	uint64_t fdt;       /* guest-physical device tree */
	struct arch_mmio_dev mmio[ARM64_MAX_MMIO_DEVS];
	int nmmio;
};

/* What the Image header (booting.rst) says. */
struct arm64_image {
	uint64_t text_offset; /* from a 2 MiB aligned base */
	uint64_t image_size;  /* bytes from the load address the kernel needs */
	uint64_t flags;       /* bit 0 big endian, bits 1-2 page size, bit 3 anywhere */
};

/* Parse the 64-byte header of an uncompressed arm64 Image in buf. Returns 0,
 * -ENOEXEC when buf is not an Image (no "ARM\x64" magic), -ENOTSUP for a
 * big-endian kernel, -EINVAL when image_size is smaller than the file. A
 * header from before Linux 3.17 (image_size 0) gets text_offset 0x80000 and
 * an image_size of twice the file, room for its bss. */
int arm64_image_parse(const uint8_t *buf, size_t len, struct arm64_image *img);

/* What the device tree must say about the boot (all guest-physical). */
struct arm64_boot {
	uint64_t initrd, initrd_size; /* initrd_size 0: none */
	const uint8_t *rng_seed;      /* bytes for /chosen/rng-seed, or NULL */
	size_t rng_seed_len;
};

/* Write the VM's device tree into buf (size bytes): memory, vCPUs, PSCI,
 * GICv3, timer, UART, pvpanic, the virtio-mmio devices recorded in
 * vm->arch, and /chosen. Returns the blob's size, or a negative libfdt
 * error (-FDT_ERR_NOSPACE when size is too small). */
int arm64_fdt_build(const struct vm *vm, const struct arm64_boot *b, void *buf, size_t size);

/* Initialise the vGIC; KVM wants this after every vCPU is created and
 * before any irqfd. */
int arm64_gic_init(struct vm *vm);

/* MPIDR affinity of vCPU id as KVM assigns it (Aff0 = id & 15, Aff1 = id >> 4). */
uint64_t arm64_mpidr(int id);

/* Last 2 MiB aligned RAM address the device tree fits below (top of RAM). */
uint64_t arm64_fdt_addr(const struct vm *vm);

#endif
