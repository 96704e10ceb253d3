/* bzimage.c - the setup header of a bzImage (Linux's
 * Documentation/arch/x86/boot.rst, "The Real-Mode Kernel Header"). */
#include <errno.h>
#include <string.h>

#include "x86.h"

static uint16_t rd16(const uint8_t *p) { return p[0] | p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | (uint32_t)rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* boot.rst: 64-bit entry needs protocol 2.12+ (xloadflags) and
 * XLF_KERNEL_64; payload fields exist since 2.08. */
#define BZ_MIN_VERSION 0x020c
#define XLF_KERNEL_64 0x1

int bzimage_parse(const uint8_t *buf, size_t len, struct bzimage *bz)
{
	if (len < 0x270 || rd16(buf + 0x1fe) != 0xaa55 || memcmp(buf + 0x202, "HdrS", 4))
		return -ENOEXEC;
	memset(bz, 0, sizeof(*bz));
	bz->version = rd16(buf + 0x206);
	if (bz->version < BZ_MIN_VERSION)
		return -EPROTO;
	bz->setup_sects = buf[0x1f1] ? buf[0x1f1] : 4;
	bz->loadflags = buf[0x211];
	bz->initrd_addr_max = rd32(buf + 0x22c);
	bz->xloadflags = rd16(buf + 0x236);
	bz->cmdline_size = rd32(buf + 0x238);
	bz->payload_offset = rd32(buf + 0x248);
	bz->payload_length = rd32(buf + 0x24c);
	bz->pref_address = rd64(buf + 0x258);
	bz->init_size = rd32(buf + 0x260);
	if (!(bz->xloadflags & XLF_KERNEL_64))
		return -EPROTO;
	bz->pm_offset = (size_t)(bz->setup_sects + 1) * 512;
	if (bz->pm_offset >= len)
		return -EINVAL;
	bz->pm_len = len - bz->pm_offset;
	if (bz->payload_offset > bz->pm_len ||
	    bz->payload_length > bz->pm_len - bz->payload_offset)
		return -EINVAL;
	return 0;
}
