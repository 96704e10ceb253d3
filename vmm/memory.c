/* memory.c - guest RAM: mapping, registration with KVM, checked access. */
#include <errno.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "log.h"
#include "vm.h"

void *vm_gpa_ptr(const struct vm *vm, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < vm->nram; i++) {
		const struct vm_ram *r = &vm->ram[i];
		/* Written so that no sum can overflow: gpa - r->gpa is only
		 * computed once gpa >= r->gpa. */
		if (gpa < r->gpa || gpa - r->gpa > r->size)
			continue;
		if (len > r->size - (gpa - r->gpa))
			return NULL;
		return r->host + (gpa - r->gpa);
	}
	return NULL;
}

#define RAM_ALIGN (2ull << 20)

/* Anonymous memory aligned to 2 MiB: KVM maps a transparent huge page into
 * the guest as one 2 MiB block (EPT / stage-2) only when host and guest
 * addresses agree modulo 2 MiB, and older kernels do not align big anonymous
 * mappings by themselves. NORESERVE: untouched guest pages cost nothing. */
static void *ram_map(uint64_t size)
{
	uint8_t *p = mmap(NULL, size + RAM_ALIGN, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return p;
	uint8_t *a = (uint8_t *)(((uintptr_t)p + RAM_ALIGN - 1) & ~(uintptr_t)(RAM_ALIGN - 1));
	if (a > p)
		munmap(p, a - p);
	munmap(a + size, p + RAM_ALIGN - a);
	madvise(a, size, MADV_HUGEPAGE);
	return a;
}

/* --restore: guest RAM is DIR/memory, the regions one after another, mapped
 * privately: pages are read as the guest touches them, restores of one
 * snapshot share its page cache, and the guest's writes never reach it. */
static void *ram_map_file(const struct vm *vm, uint64_t off, uint64_t size)
{
	return mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE,
		    vm->restore_mem_fd, off);
}

int vm_ram_setup(struct vm *vm)
{
	uint64_t off = 0;
	for (int i = 0; i < vm->nram; i++) {
		struct vm_ram *r = &vm->ram[i];
		void *p = vm->restore_state ? ram_map_file(vm, off, r->size) : ram_map(r->size);
		off += r->size;
		if (p == MAP_FAILED) {
			int e = errno;
			log_error("cannot allocate %llu MiB of guest memory: %m",
				  (unsigned long long)(r->size >> 20));
			return -e;
		}
		r->host = p;
		struct kvm_userspace_memory_region reg = {
			.slot = i,
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)p,
		};
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &reg) < 0) {
			int e = errno;
			log_error("KVM_SET_USER_MEMORY_REGION: %m");
			return -e;
		}
	}
	return 0;
}
