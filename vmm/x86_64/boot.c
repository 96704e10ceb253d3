/* boot.c - putting an x86_64 kernel, initrd and command line into guest
 * memory and describing the machine to it (Linux boot protocol zero page,
 * or PVH start info for a vmlinux with a PVH note). */
#include <asm/bootparam.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "image.h"
#include "log.h"
#include "x86.h"

/* PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h). */
#define PVH_MAGIC 0x336ec578
struct pvh_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct pvh_module {
	uint64_t paddr, size, cmdline_paddr, reserved;
};
struct pvh_memmap {
	uint64_t addr, size;
	uint32_t type, reserved;
};

struct x86_boot {
	struct x86_kernel k;
	uint64_t initrd_gpa, initrd_size;
	uint64_t rsdp;
	uint32_t initrd_max;    /* highest byte the initrd may occupy */
	uint32_t cmdline_limit; /* longest command line the kernel takes, 0: ours */
};

#ifdef CONFIG_HOST_DECOMPRESS
/* Boot the kernel inside a bzImage without its decompressor: unpack it once
 * into the cache, then read it from there into guest RAM. */
static int load_unpacked(struct vm *vm, const uint8_t *payload, size_t len,
			 struct x86_kernel *k)
{
	struct image_map m;
	uint8_t *elf = NULL;
	size_t elf_len;
	int r = image_cache_map(vm->cfg.kernel, &m);
	if (r < 0) {
		/* 512 MiB bounds a hostile or corrupt payload's output. */
		r = image_decompress(payload, len, 512 << 20, &elf, &elf_len);
		if (r < 0) {
			log_debug("bzImage payload (%s) not unpacked on the host; using "
				  "its decompressor", image_compression(payload, len) ?: "unknown");
			return r;
		}
		image_cache_store(vm->cfg.kernel, elf, elf_len);
		r = image_cache_map(vm->cfg.kernel, &m);
	}
	if (r == 0) {
		r = elf_load_mapped(vm, &m, k);
		image_unmap(&m);
	} else {
		r = elf_load(vm, elf, elf_len, false, k); /* cache off or unwritable */
	}
	free(elf);
	if (r == 0)
		log_debug("kernel unpacked on the host, entry 0x%llx, %.1f ms after start",
			  (unsigned long long)k->entry, vm_elapsed_ms(vm));
	return r;
}
#endif

static int load_bzimage(struct vm *vm, const uint8_t *buf, const struct bzimage *bz, struct x86_kernel *k)
{
#ifdef CONFIG_HOST_DECOMPRESS
	if (load_unpacked(vm, buf + bz->pm_offset + bz->payload_offset, bz->payload_length,
			  k) == 0)
		return 0;
#endif
	/* Protected-mode code at 1 MiB; its 64-bit entry is at +0x200. */
	uint8_t *dst = vm_gpa_ptr(vm, X86_HIMEM, bz->pm_len);
	uint64_t need = bz->init_size > bz->pm_len ? bz->init_size : bz->pm_len;
	if (!dst || !vm_gpa_ptr(vm, X86_HIMEM, need)) {
		log_error("--kernel %s: needs %llu MiB, more than guest RAM", vm->cfg.kernel,
			  (unsigned long long)(need >> 20) + 1);
		return -EFBIG;
	}
	memcpy(dst, buf + bz->pm_offset, bz->pm_len);
	k->mode = X86_ENTRY_64;
	k->entry = X86_HIMEM + 0x200;
	k->end = X86_HIMEM + need;
	/* The decompressor may extract at pref_address; keep the initrd clear. */
	if (bz->pref_address + bz->init_size > k->end)
		k->end = bz->pref_address + bz->init_size;
	return 0;
}

static int load_kernel(struct vm *vm, const uint8_t *buf, size_t len, struct x86_boot *b)
{
	const char *path = vm->cfg.kernel;
	struct bzimage bz;
	int r = bzimage_parse(buf, len, &bz);
	if (r == -EPROTO) {
		log_error("--kernel %s: bzImage boot protocol %u.%02u without a 64-bit entry "
			  "point; microvm needs protocol 2.12 or later (Linux 3.8+, x86_64)",
			  path, bz.version >> 8, bz.version & 0xff);
		return r;
	}
	if (r == -EINVAL) {
		log_error("--kernel %s: bzImage header does not match the file (truncated?)", path);
		return r;
	}
	if (r == 0) {
		b->k.setup = buf;
		b->k.setup_len = 0x202 + buf[0x201];
		b->initrd_max = bz.initrd_addr_max;
		b->cmdline_limit = bz.cmdline_size;
		return load_bzimage(vm, buf, &bz, &b->k);
	}
	r = elf_load(vm, buf, len, true, &b->k);
	if (r == -ENOEXEC)
		log_error("--kernel %s: not a bzImage or an x86_64 ELF vmlinux", path);
	else if (r < 0)
		log_error("--kernel %s: malformed ELF image", path);
	b->initrd_max = 0x7fffffff;
	return r;
}

static int load_initrd(struct vm *vm, struct x86_boot *b)
{
	uint64_t top = x86_lowmem_end(vm);
	if (b->initrd_max && (uint64_t)b->initrd_max + 1 < top)
		top = (uint64_t)b->initrd_max + 1;
	return image_load_initrd(vm, b->k.end, top, &b->initrd_gpa, &b->initrd_size);
}

static int load_cmdline(struct vm *vm, uint32_t limit)
{
	char *buf = vm_gpa_ptr(vm, X86_CMDLINE, X86_CMDLINE_MAX);
	int n = x86_cmdline(vm, buf, X86_CMDLINE_MAX);
	if (limit == 0 || limit > X86_CMDLINE_MAX - 1)
		limit = X86_CMDLINE_MAX - 1;
	if (n < 0 || (uint32_t)n > limit) {
		log_error("--cmdline: %d bytes with the devices' parameters, the kernel accepts "
			  "at most %u", n < 0 ? (int)X86_CMDLINE_MAX : n, limit);
		return -E2BIG;
	}
	return 0;
}

static void write_zero_page(struct vm *vm, const struct x86_boot *b)
{
	struct boot_params *bp = vm_gpa_ptr(vm, X86_BOOT_PARAMS, sizeof(*bp));
	memset(bp, 0, sizeof(*bp));
	struct setup_header *h = &bp->hdr;
	if (b->k.setup) {
		/* Start from the image's own header, as boot.rst asks. */
		size_t n = b->k.setup_len - 0x1f1;
		if (n > sizeof(*bp) - 0x1f1)
			n = sizeof(*bp) - 0x1f1;
		memcpy((uint8_t *)bp + 0x1f1, b->k.setup + 0x1f1, n);
	} else {
		h->boot_flag = 0xaa55;
		h->header = 0x53726448; /* "HdrS" */
		h->version = 0x020f;
		h->kernel_alignment = 0x1000000;
	}
	h->type_of_loader = 0xff;
	h->loadflags |= LOADED_HIGH | CAN_USE_HEAP;
	h->heap_end_ptr = 0xfe00;
	h->cmd_line_ptr = X86_CMDLINE;
	h->ramdisk_image = b->initrd_gpa;
	h->ramdisk_size = b->initrd_size;
	bp->acpi_rsdp_addr = b->rsdp;
	struct e820_entry e[X86_E820_MAX];
	int n = x86_e820(vm, e, X86_E820_MAX);
	for (int i = 0; i < n && i < E820_MAX_ENTRIES_ZEROPAGE; i++) {
		bp->e820_table[i].addr = e[i].addr;
		bp->e820_table[i].size = e[i].size;
		bp->e820_table[i].type = e[i].type;
	}
	bp->e820_entries = n;
}

static void write_pvh_info(struct vm *vm, const struct x86_boot *b)
{
	struct pvh_start_info *si = vm_gpa_ptr(vm, X86_PVH_INFO, 0x1000);
	struct pvh_module *mod = (void *)((uint8_t *)si + 0x40);
	struct pvh_memmap *mm = (void *)((uint8_t *)si + 0x80);
	memset(si, 0, 0x1000);
	struct e820_entry e[16];
	int n = x86_e820(vm, e, 16);
	for (int i = 0; i < n; i++)
		mm[i] = (struct pvh_memmap){ e[i].addr, e[i].size, e[i].type, 0 };
	*si = (struct pvh_start_info){
		.magic = PVH_MAGIC, .version = 1,
		.cmdline_paddr = X86_CMDLINE, .rsdp_paddr = b->rsdp,
		.memmap_paddr = X86_PVH_INFO + 0x80, .memmap_entries = n,
	};
	if (b->initrd_size) {
		*mod = (struct pvh_module){ b->initrd_gpa, b->initrd_size, 0, 0 };
		si->nr_modules = 1;
		si->modlist_paddr = X86_PVH_INFO + 0x40;
	}
}

int arch_load_kernel(struct vm *vm)
{
	struct x86_boot b = { 0 };
	uint8_t *buf;
	size_t len;
	int r = image_read(vm->cfg.kernel, &buf, &len);
	if (r < 0) {
		log_error("--kernel %s: %s", vm->cfg.kernel, strerror(-r));
		return r;
	}
	log_debug("--kernel read, %.1f ms after start", vm_elapsed_ms(vm));
	r = load_kernel(vm, buf, len, &b);
	if (r == 0)
		r = load_initrd(vm, &b);
	if (r == 0)
		r = load_cmdline(vm, b.cmdline_limit);
	if (r == 0 && vm->cfg.acpi && !(b.rsdp = x86_acpi_setup(vm)))
		r = -EINVAL;
	if (r == 0) {
		if (b.k.mode == X86_ENTRY_PVH)
			write_pvh_info(vm, &b);
		else
			write_zero_page(vm, &b);
		struct x86_vm *x = vm->arch;
		x->mode = b.k.mode;
		x->entry = b.k.entry;
		r = x86_setup_tables(vm);
	}
	free(buf);
	return r;
}
