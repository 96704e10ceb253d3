/* boot.c - putting an arm64 Image, the initrd and the device tree into
 * guest memory (Documentation/arch/arm64/booting.rst). */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch.h"
#include "arm64.h"
#include "image.h"
#include "log.h"

#define IMAGE_MAGIC 0x644d5241 /* "ARM\x64", booting.rst section 4 */
#define IMAGE_HDR_LEN 64
#define IMAGE_FLAG_BE 0x1
#define IMAGE_LEGACY_TEXT_OFFSET 0x80000
/* Bounds a hostile header's numbers well below any overflow. */
#define IMAGE_FIELD_MAX (1ULL << 32)

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

int arm64_image_parse(const uint8_t *buf, size_t len, struct arm64_image *img)
{
	uint32_t magic;
	if (len < IMAGE_HDR_LEN)
		return -ENOEXEC;
	memcpy(&magic, buf + 0x38, sizeof(magic));
	if (le32toh(magic) != IMAGE_MAGIC)
		return -ENOEXEC;
	img->text_offset = get_le64(buf + 8);
	img->image_size = get_le64(buf + 16);
	img->flags = get_le64(buf + 24);
	if (img->image_size == 0) {
		/* Before 3.17: text_offset is 0x80000 in the kernel's endianness
		 * and the size unknown; leave the bss room. */
		img->text_offset = IMAGE_LEGACY_TEXT_OFFSET;
		img->image_size = 2 * (uint64_t)len;
		img->flags = 0;
	}
	if (img->flags & IMAGE_FLAG_BE)
		return -ENOTSUP;
	if (img->text_offset >= IMAGE_FIELD_MAX || img->image_size >= IMAGE_FIELD_MAX ||
	    img->text_offset % 4096)
		return -EINVAL;
	return 0;
}

/* A gzip-compressed Image (arch/arm64/boot/Image.gz) is unpacked here, at
 * every boot: unlike a bzImage's XZ payload, gzip unpacks in ~0.1 s. */
static int unpack_kernel(const char *path, uint8_t **buf, size_t *len)
{
	const char *comp = image_compression(*buf, *len);
	if (!comp)
		return 0;
	if (strcmp(comp, "gzip")) {
		log_error("--kernel %s: %s-compressed; microvm unpacks only gzip (Image.gz) "
			  "on aarch64: decompress it first", path, comp);
		return -ENOTSUP;
	}
#ifdef CONFIG_HOST_DECOMPRESS
	uint8_t *out;
	size_t outlen;
	int r = image_decompress(*buf, *len, IMAGE_FIELD_MAX, &out, &outlen);
	if (r < 0) {
		log_error("--kernel %s: gzip-compressed Image does not unpack: %s", path,
			  strerror(-r));
		return r;
	}
	log_debug("--kernel %s: gzip-compressed Image, unpacked on the host (%zu KiB)", path,
		  outlen >> 10);
	free(*buf);
	*buf = out;
	*len = outlen;
	return 0;
#else
	log_error("--kernel %s: gzip-compressed Image, and this microvm was built without "
		  "CONFIG_HOST_DECOMPRESS: gunzip it first", path);
	return -ENOTSUP;
#endif
}

static void image_error(const char *path, int r)
{
	if (r == -ENOEXEC)
		log_error("--kernel %s: not an arm64 Image (no \"ARM\\x64\" magic at offset 0x38)",
			  path);
	else if (r == -ENOTSUP)
		log_error("--kernel %s: a big-endian kernel; microvm boots little-endian only", path);
	else
		log_error("--kernel %s: Image header has an impossible text_offset or image_size",
			  path);
}

/* Find where the Image whose header is hdr (len: the whole Image) goes: at
 * the start of RAM plus text_offset (RAM is 2 MiB aligned, and bit 3 clear
 * asks for "as low as possible"). Sets *dst and *copy, the bytes to copy
 * there: past image_size (a signature appended to an EFI-signed Image) they
 * are not the kernel's. */
static int place_image(struct vm *vm, const uint8_t *hdr, size_t len, uint8_t **dst,
		       size_t *copy, uint64_t *end)
{
	const char *path = vm->cfg.kernel;
	struct arm64_image img;
	int r = arm64_image_parse(hdr, len, &img);
	if (r < 0) {
		image_error(path, r);
		return r;
	}
	uint64_t base = ARM64_RAM + img.text_offset;
	*dst = vm_gpa_ptr(vm, base, img.image_size);
	if (!*dst || base + img.image_size > arm64_fdt_addr(vm)) {
		log_error("--kernel %s: needs %llu MiB, more than guest RAM (try a larger --memory)",
			  path, (unsigned long long)((img.text_offset + img.image_size) >> 20) + 3);
		return -EFBIG;
	}
	*copy = len < img.image_size ? len : img.image_size;
	struct arm64_vm *a = vm->arch;
	a->entry = base;
	*end = base + img.image_size;
	log_debug("Image: text_offset 0x%llx, image_size 0x%llx, flags 0x%llx, entry 0x%llx",
		  (unsigned long long)img.text_offset, (unsigned long long)img.image_size,
		  (unsigned long long)img.flags, (unsigned long long)base);
	return 0;
}

/* A compressed Image goes through a buffer. */
static int load_packed(struct vm *vm, uint64_t *end)
{
	uint8_t *buf, *dst;
	size_t len, copy;
	int r = image_read(vm->cfg.kernel, &buf, &len);
	if (r < 0) {
		log_error("--kernel %s: %s", vm->cfg.kernel, strerror(-r));
		return r;
	}
	r = unpack_kernel(vm->cfg.kernel, &buf, &len);
	if (r == 0)
		r = place_image(vm, buf, len, &dst, &copy, end);
	if (r == 0)
		memcpy(dst, buf, copy);
	free(buf);
	return r;
}

/* An uncompressed Image is read straight into guest memory, never through
 * a buffer. Not mapped copy-on-write: where the file is on 9p, as in the
 * nested harness, the guest's faults on it made boot 2 s slower than
 * reading it. */
static int load_kernel(struct vm *vm, uint64_t *end)
{
	const char *path = vm->cfg.kernel;
	uint8_t hdr[IMAGE_HDR_LEN] = { 0 }, *dst;
	struct arm64_image img;
	struct stat st;
	size_t copy;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = fd < 0 || fstat(fd, &st) < 0 ? -errno : image_pread(fd, hdr, sizeof(hdr), 0);
	if (r == -EIO && st.st_size < IMAGE_HDR_LEN)
		r = 0; /* short: arm64_image_parse says what it is not */
	if (r == 0 && arm64_image_parse(hdr, st.st_size, &img) < 0 &&
	    image_compression(hdr, sizeof(hdr))) {
		close(fd);
		return load_packed(vm, end);
	}
	if (r == 0)
		r = place_image(vm, hdr, st.st_size, &dst, &copy, end);
	else
		log_error("--kernel %s: %s", path, strerror(-r));
	if (r == 0 && (r = image_pread(fd, dst, copy, 0)) < 0)
		log_error("--kernel %s: %s", path, strerror(-r));
	if (fd >= 0)
		close(fd);
	return r;
}

/* The initrd goes right below the device tree, page aligned. */
static int load_initrd(struct vm *vm, uint64_t kernel_end, struct arm64_boot *b)
{
	return image_load_initrd(vm, kernel_end, arm64_fdt_addr(vm), &b->initrd,
				 &b->initrd_size);
}

static int write_fdt(struct vm *vm, struct arm64_boot *b)
{
	struct arm64_vm *a = vm->arch;
	uint8_t seed[64];
	/* A seed lets the guest's RNG start without waiting for entropy. */
	if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) == sizeof(seed)) {
		b->rng_seed = seed;
		b->rng_seed_len = sizeof(seed);
	}
	a->fdt = arm64_fdt_addr(vm);
	int n = arm64_fdt_build(vm, b, vm_gpa_ptr(vm, a->fdt, ARM64_FDT_MAX), ARM64_FDT_MAX);
	if (n < 0) {
		log_error("device tree: %s (--cmdline too long?)", fdt_strerror(n));
		return -E2BIG;
	}
	log_debug("device tree: %d bytes at 0x%llx", n, (unsigned long long)a->fdt);
	return 0;
}

int arch_load_kernel(struct vm *vm)
{
	struct arm64_boot b = { 0 };
	uint64_t end = 0;
	if (vm->ram[0].size < 2 * ARM64_FDT_MAX) {
		log_error("--memory: too small for an arm64 guest");
		return -EINVAL;
	}
	int r = load_kernel(vm, &end);
	if (r == 0)
		r = load_initrd(vm, end, &b);
	if (r == 0)
		r = write_fdt(vm, &b);
	return r;
}
