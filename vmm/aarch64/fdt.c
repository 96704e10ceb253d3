/* fdt.c - the device tree that describes the VM to an arm64 kernel, built
 * with libfdt's sequential-write API. Binding names are those of Linux's
 * Documentation/devicetree/bindings. */
#include <libfdt.h>
#include <stdio.h>
#include <string.h>

#include "arm64.h"

#define GIC_PHANDLE 1
#define CLK_PHANDLE 2
/* Interrupt specifier cells, interrupt-controller/arm,gic-v3.yaml. */
#define GIC_SPI 0
#define GIC_PPI 1
#define IRQ_EDGE_RISING 1
#define IRQ_LEVEL_HIGH 4
/* Architected timer PPIs: secure, non-secure physical, virtual, hypervisor. */
static const uint32_t timer_ppis[] = { 13, 14, 11, 10 };
#define UART_CLOCK 24000000 /* the PL011's reference clock (as on QEMU's virt) */

#define TRY(x)                       \
	do {                         \
		int e_ = (x);        \
		if (e_ < 0)          \
			return e_;   \
	} while (0)

uint64_t arm64_mpidr(int id)
{
	return (uint64_t)(id & 0xf) | (uint64_t)((id >> 4) & 0xff) << 8;
}

/* reg = <base size> with #address-cells = #size-cells = 2. */
static int prop_reg(void *fdt, uint64_t base, uint64_t size)
{
	fdt64_t reg[2] = { cpu_to_fdt64(base), cpu_to_fdt64(size) };
	return fdt_property(fdt, "reg", reg, sizeof(reg));
}

static int prop_irq(void *fdt, uint32_t type, uint32_t num, uint32_t flags)
{
	fdt32_t irq[3] = { cpu_to_fdt32(type), cpu_to_fdt32(num), cpu_to_fdt32(flags) };
	return fdt_property(fdt, "interrupts", irq, sizeof(irq));
}

/* Open a node named "name@base". */
static int begin_at(void *fdt, const char *name, uint64_t base)
{
	char s[64];
	snprintf(s, sizeof(s), "%s@%llx", name, (unsigned long long)base);
	return fdt_begin_node(fdt, s);
}

static int fdt_cpus(void *fdt, int ncpus)
{
	TRY(fdt_begin_node(fdt, "cpus"));
	TRY(fdt_property_u32(fdt, "#address-cells", 1));
	TRY(fdt_property_u32(fdt, "#size-cells", 0));
	for (int i = 0; i < ncpus; i++) {
		TRY(begin_at(fdt, "cpu", arm64_mpidr(i)));
		TRY(fdt_property_string(fdt, "device_type", "cpu"));
		TRY(fdt_property_string(fdt, "compatible", "arm,arm-v8"));
		TRY(fdt_property_string(fdt, "enable-method", "psci"));
		TRY(fdt_property_u32(fdt, "reg", arm64_mpidr(i)));
		TRY(fdt_end_node(fdt));
	}
	return fdt_end_node(fdt);
}

/* PSCI 0.2 function ids are fixed; the guest asks KVM for its version (1.x
 * on current hosts) through the call itself. */
static int fdt_psci(void *fdt)
{
	TRY(fdt_begin_node(fdt, "psci"));
	TRY(fdt_property_string(fdt, "compatible", "arm,psci-0.2"));
	TRY(fdt_property_string(fdt, "method", "hvc"));
	return fdt_end_node(fdt);
}

static int fdt_gic(void *fdt, int ncpus)
{
	fdt64_t reg[4] = {
		cpu_to_fdt64(ARM64_GICD), cpu_to_fdt64(ARM64_GICD_SIZE),
		cpu_to_fdt64(ARM64_GICR), cpu_to_fdt64(ARM64_GICR_STRIDE * ncpus),
	};
	TRY(begin_at(fdt, "intc", ARM64_GICD));
	TRY(fdt_property_string(fdt, "compatible", "arm,gic-v3"));
	TRY(fdt_property_u32(fdt, "#interrupt-cells", 3));
	/* No children (no ITS); dtc wants interrupt providers to say so. */
	TRY(fdt_property_u32(fdt, "#address-cells", 0));
	TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
	TRY(fdt_property(fdt, "reg", reg, sizeof(reg)));
	TRY(fdt_property_u32(fdt, "phandle", GIC_PHANDLE));
	return fdt_end_node(fdt);
}

static int fdt_timer(void *fdt)
{
	fdt32_t irqs[3 * 4];
	for (int i = 0; i < 4; i++) {
		irqs[3 * i] = cpu_to_fdt32(GIC_PPI);
		irqs[3 * i + 1] = cpu_to_fdt32(timer_ppis[i]);
		irqs[3 * i + 2] = cpu_to_fdt32(IRQ_LEVEL_HIGH);
	}
	TRY(fdt_begin_node(fdt, "timer"));
	TRY(fdt_property_string(fdt, "compatible", "arm,armv8-timer"));
	TRY(fdt_property(fdt, "interrupts", irqs, sizeof(irqs)));
	return fdt_end_node(fdt);
}

/* The PL011 (devices/pl011.c) is an AMBA PrimeCell: Linux's AMBA bus reads
 * its ID registers with "apb_pclk" running and its driver takes the baud
 * rate from "uartclk", so both name one fixed clock. */
static int fdt_clock(void *fdt)
{
	TRY(fdt_begin_node(fdt, "apb-pclk"));
	TRY(fdt_property_string(fdt, "compatible", "fixed-clock"));
	TRY(fdt_property_u32(fdt, "#clock-cells", 0));
	TRY(fdt_property_u32(fdt, "clock-frequency", UART_CLOCK));
	TRY(fdt_property_string(fdt, "clock-output-names", "clk24mhz"));
	TRY(fdt_property_u32(fdt, "phandle", CLK_PHANDLE));
	return fdt_end_node(fdt);
}

static int fdt_uart(void *fdt)
{
#ifndef CONFIG_SERIAL
	return 0;
#endif
	static const char compatible[] = "arm,pl011\0arm,primecell";
	static const char clock_names[] = "uartclk\0apb_pclk";
	fdt32_t clocks[2] = { cpu_to_fdt32(CLK_PHANDLE), cpu_to_fdt32(CLK_PHANDLE) };
	TRY(fdt_clock(fdt));
	TRY(begin_at(fdt, "pl011", ARM64_UART));
	TRY(fdt_property(fdt, "compatible", compatible, sizeof(compatible)));
	TRY(prop_reg(fdt, ARM64_UART, ARM64_UART_SIZE));
	TRY(prop_irq(fdt, GIC_SPI, ARM64_UART_SPI, IRQ_LEVEL_HIGH));
	TRY(fdt_property(fdt, "clocks", clocks, sizeof(clocks)));
	TRY(fdt_property(fdt, "clock-names", clock_names, sizeof(clock_names)));
	return fdt_end_node(fdt);
}

static int fdt_pvpanic(void *fdt)
{
#ifndef CONFIG_PVPANIC
	return 0;
#endif
	TRY(begin_at(fdt, "pvpanic", ARM64_PVPANIC));
	TRY(fdt_property_string(fdt, "compatible", "qemu,pvpanic-mmio"));
	TRY(prop_reg(fdt, ARM64_PVPANIC, 1));
	return fdt_end_node(fdt);
}

/* virtio-mmio interrupts come through irqfd, which pulses the line:
 * describe them as edge-triggered so no pulse is lost. The "device" is the
 * host CPU, so DMA is cache-coherent. */
static int fdt_virtio(void *fdt, const struct arch_mmio_dev *d)
{
	TRY(begin_at(fdt, "virtio_mmio", d->base));
	TRY(fdt_property_string(fdt, "compatible", "virtio,mmio"));
	TRY(prop_reg(fdt, d->base, d->len));
	TRY(prop_irq(fdt, GIC_SPI, d->irq, IRQ_EDGE_RISING));
	TRY(fdt_property(fdt, "dma-coherent", NULL, 0));
	return fdt_end_node(fdt);
}

static int fdt_chosen(void *fdt, const struct vm *vm, const struct arm64_boot *b)
{
	char uart[32];
	snprintf(uart, sizeof(uart), "/pl011@%llx", (unsigned long long)ARM64_UART);
	TRY(fdt_begin_node(fdt, "chosen"));
	TRY(fdt_property_string(fdt, "bootargs", vm->cfg.cmdline));
	TRY(fdt_property_string(fdt, "stdout-path", uart));
	if (b->initrd_size) {
		TRY(fdt_property_u64(fdt, "linux,initrd-start", b->initrd));
		TRY(fdt_property_u64(fdt, "linux,initrd-end", b->initrd + b->initrd_size));
	}
	if (b->rng_seed_len)
		TRY(fdt_property(fdt, "rng-seed", b->rng_seed, b->rng_seed_len));
	return fdt_end_node(fdt);
}

static int fdt_root(void *fdt, const struct vm *vm, const struct arm64_boot *b)
{
	const struct arm64_vm *a = vm->arch;
	TRY(fdt_property_string(fdt, "compatible", "linux,dummy-virt"));
	TRY(fdt_property_string(fdt, "model", "microvm"));
	TRY(fdt_property_u32(fdt, "#address-cells", 2));
	TRY(fdt_property_u32(fdt, "#size-cells", 2));
	TRY(fdt_property_u32(fdt, "interrupt-parent", GIC_PHANDLE));
	TRY(fdt_chosen(fdt, vm, b));
	TRY(begin_at(fdt, "memory", vm->ram[0].gpa));
	TRY(fdt_property_string(fdt, "device_type", "memory"));
	TRY(prop_reg(fdt, vm->ram[0].gpa, vm->ram[0].size));
	TRY(fdt_end_node(fdt));
	TRY(fdt_cpus(fdt, vm->cfg.ncpus));
	TRY(fdt_psci(fdt));
	TRY(fdt_gic(fdt, vm->cfg.ncpus));
	TRY(fdt_timer(fdt));
	TRY(fdt_uart(fdt));
	TRY(fdt_pvpanic(fdt));
	for (int i = 0; i < a->nmmio; i++)
		TRY(fdt_virtio(fdt, &a->mmio[i]));
	return 0;
}

int arm64_fdt_build(const struct vm *vm, const struct arm64_boot *b, void *buf, size_t size)
{
	if (size > INT32_MAX)
		size = INT32_MAX;
	TRY(fdt_create(buf, size));
	TRY(fdt_finish_reservemap(buf));
	TRY(fdt_begin_node(buf, ""));
	TRY(fdt_root(buf, vm, b));
	TRY(fdt_end_node(buf));
	TRY(fdt_finish(buf));
	return fdt_totalsize(buf);
}
