/* elf.c - loading an uncompressed x86_64 vmlinux (ELF64) and finding its
 * PVH entry (the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY, type 18). */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "image.h"
#include "log.h"
#include "x86.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* Scan one PT_NOTE segment for the PVH entry; 0 when absent. */
static uint64_t elf_pvh_note(const uint8_t *p, size_t len)
{
	size_t off = 0;
	while (len - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr n;
		memcpy(&n, p + off, sizeof(n));
		size_t name = off + sizeof(n);
		size_t desc = name + ((n.n_namesz + 3ULL) & ~3ULL);
		size_t next = desc + ((n.n_descsz + 3ULL) & ~3ULL);
		if (desc > len || next > len || next <= off)
			return 0;
		if (n.n_type == XEN_ELFNOTE_PHYS32_ENTRY && n.n_namesz == 4 &&
		    !memcmp(p + name, "Xen", 4) && n.n_descsz >= 4) {
			uint32_t entry;
			memcpy(&entry, p + desc, 4);
			return entry;
		}
		off = next;
	}
	return 0;
}

static int elf_check(const uint8_t *buf, size_t len, Elf64_Ehdr *eh)
{
	if (len < sizeof(*eh) || memcmp(buf, ELFMAG, SELFMAG))
		return -ENOEXEC;
	memcpy(eh, buf, sizeof(*eh));
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_machine != EM_X86_64)
		return -ENOEXEC;
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phoff > len || (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len - eh->e_phoff)
		return -EINVAL;
	return 0;
}

static int elf_load_segment(struct vm *vm, const uint8_t *buf, size_t len,
			    const struct image_map *m, const Elf64_Phdr *ph,
			    struct x86_kernel *k)
{
	if (ph->p_filesz > ph->p_memsz || ph->p_offset > len ||
	    ph->p_filesz > len - ph->p_offset)
		return -EINVAL;
	uint8_t *dst = vm_gpa_ptr(vm, ph->p_paddr, ph->p_memsz);
	if (!dst) {
		log_error("kernel segment at 0x%llx (+0x%llx) does not fit in guest RAM",
			  (unsigned long long)ph->p_paddr, (unsigned long long)ph->p_memsz);
		return -EINVAL;
	}
	if (!m)
		memcpy(dst, buf + ph->p_offset, ph->p_filesz);
	else if (image_pread(m->fd, dst, ph->p_filesz, ph->p_offset) < 0)
		return -EIO;
	memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	if (ph->p_paddr + ph->p_memsz > k->end)
		k->end = ph->p_paddr + ph->p_memsz;
	return 0;
}

static int elf_load_from(struct vm *vm, const uint8_t *buf, size_t len,
			 const struct image_map *m, bool want_pvh, struct x86_kernel *k)
{
	Elf64_Ehdr eh;
	int r = elf_check(buf, len, &eh);
	if (r < 0)
		return r;
	uint64_t pvh = 0;
	k->end = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_LOAD && (r = elf_load_segment(vm, buf, len, m, &ph, k)) < 0)
			return r;
		if (ph.p_type == PT_NOTE && ph.p_offset <= len && ph.p_filesz <= len - ph.p_offset)
			pvh = pvh ? pvh : elf_pvh_note(buf + ph.p_offset, ph.p_filesz);
	}
	if (k->end == 0)
		return -EINVAL;
	if (want_pvh && pvh) {
		k->mode = X86_ENTRY_PVH;
		k->entry = pvh;
	} else {
		/* x86_64 vmlinux links ENTRY(phys_startup_64): e_entry is the
		 * physical address of the 64-bit entry point. */
		k->mode = X86_ENTRY_64;
		k->entry = eh.e_entry;
	}
	return vm_gpa_ptr(vm, k->entry, 1) ? 0 : -EINVAL;
}

int elf_load(struct vm *vm, const uint8_t *buf, size_t len, bool want_pvh,
	     struct x86_kernel *k)
{
	return elf_load_from(vm, buf, len, NULL, want_pvh, k);
}

int elf_load_mapped(struct vm *vm, const struct image_map *m, struct x86_kernel *k)
{
	return elf_load_from(vm, m->buf, m->len, m, false, k);
}
