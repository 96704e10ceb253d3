/* snapshot-format.c - the state file's bytes: buffers, the checked reader,
 * the header and its checks. No KVM here (the fuzz target links it alone).
 *
 * DIR/state = struct snap_header, then sections, each
 *   char name[SNAP_NAME_LEN] (NUL padded), uint64 len, len bytes.
 */
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

#ifdef __x86_64__
#define SNAP_ARCH EM_X86_64
#else
#define SNAP_ARCH EM_AARCH64
#endif

uint64_t snap_hash(uint64_t h, const void *p, size_t len)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

uint32_t snap_arch(void)
{
	return SNAP_ARCH;
}

void snap_put(struct snap_buf *b, const void *p, size_t len)
{
	if (b->err || !len)
		return;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		uint8_t *d = realloc(b->data, cap);
		if (!d) {
			b->err = -ENOMEM;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
}

void snap_put_u32(struct snap_buf *b, uint32_t v)
{
	snap_put(b, &v, sizeof(v));
}

void snap_put_u64(struct snap_buf *b, uint64_t v)
{
	snap_put(b, &v, sizeof(v));
}

void snap_put_str(struct snap_buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	snap_put_u32(b, n);
	snap_put(b, s, n);
}

void snap_put_section(struct snap_buf *b, const char *name, const void *data, size_t len)
{
	char n[SNAP_NAME_LEN] = { 0 };
	strncpy(n, name, SNAP_NAME_LEN - 1);
	snap_put(b, n, sizeof(n));
	snap_put_u64(b, len);
	snap_put(b, data, len);
}

void snap_begin(struct snap_buf *b)
{
	struct snap_header h = { 0 };
	snap_put(b, &h, sizeof(h));
}

void snap_finish(struct snap_buf *b, uint64_t host_id, uint64_t mem_size)
{
	if (b->err || b->len < sizeof(struct snap_header))
		return;
	struct snap_header h = { .version = SNAP_VERSION, .arch = SNAP_ARCH, .host_id = host_id,
				 .mem_size = mem_size };
	memcpy(h.magic, SNAP_MAGIC, 8);
	snap_build_id(h.build);
	h.payload_len = b->len - sizeof(h);
	h.payload_sum = snap_hash(SNAP_FNV_INIT, b->data + sizeof(h), h.payload_len);
	h.header_sum = snap_hash(SNAP_FNV_INIT, &h, offsetof(struct snap_header, header_sum));
	memcpy(b->data, &h, sizeof(h));
}

void snap_get(struct snap_reader *r, void *p, size_t len)
{
	if (r->bad || len > r->len - r->off) {
		r->bad = true;
		if (len)
			memset(p, 0, len);
		return;
	}
	if (!len)
		return;
	memcpy(p, r->p + r->off, len);
	r->off += len;
}

uint32_t snap_get_u32(struct snap_reader *r)
{
	uint32_t v;
	snap_get(r, &v, sizeof(v));
	return v;
}

uint64_t snap_get_u64(struct snap_reader *r)
{
	uint64_t v;
	snap_get(r, &v, sizeof(v));
	return v;
}

void snap_get_str(struct snap_reader *r, char *buf, size_t size)
{
	uint32_t n = snap_get_u32(r);
	if (r->bad || n >= size || n > r->len - r->off) {
		r->bad = true;
		if (size)
			buf[0] = 0;
		return;
	}
	snap_get(r, buf, n);
	buf[n] = 0;
}

int snap_done(const struct snap_reader *r)
{
	return r->bad || r->off != r->len ? -EINVAL : 0;
}

static int build_note(struct dl_phdr_info *info, size_t size, void *out)
{
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
			const uint8_t *desc = p + sizeof(*n) + ((n->n_namesz + 3) & ~3u);
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
			    !memcmp(p + sizeof(*n), "GNU", 4) && desc + n->n_descsz <= end) {
				memcpy(out, desc, n->n_descsz < SNAP_BUILD_LEN ? n->n_descsz
									   : SNAP_BUILD_LEN);
				return 1;
			}
			p = desc + ((n->n_descsz + 3) & ~3u);
		}
	}
	return 1; /* the first object is the program itself */
}

void snap_build_id(uint8_t out[SNAP_BUILD_LEN])
{
	static uint8_t id[SNAP_BUILD_LEN];
	static bool have;
	if (!have) {
		dl_iterate_phdr(build_note, id);
		have = true;
	}
	memcpy(out, id, SNAP_BUILD_LEN);
}

static void build_hex(const uint8_t *id, char *out)
{
	for (int i = 0; i < 8; i++)
		sprintf(out + 2 * i, "%02x", id[i]);
}

static int check_header(const struct snap_header *h, size_t len, char *why, size_t wlen)
{
	uint8_t build[SNAP_BUILD_LEN];
	char have[17], want[17];
	if (memcmp(h->magic, SNAP_MAGIC, 8)) {
		snprintf(why, wlen, "not a microvm snapshot: expected \"%s\" at the start", SNAP_MAGIC);
		return -EINVAL;
	}
	if (h->header_sum != snap_hash(SNAP_FNV_INIT, h, offsetof(struct snap_header, header_sum))) {
		snprintf(why, wlen, "header checksum mismatch: expected an intact header");
		return -EINVAL;
	}
	if (h->version != SNAP_VERSION) {
		snprintf(why, wlen, "format version %u: expected %u", h->version, SNAP_VERSION);
		return -EINVAL;
	}
	if (h->arch != SNAP_ARCH) {
		snprintf(why, wlen, "taken on another architecture (ELF machine %u): expected %u",
			 h->arch, SNAP_ARCH);
		return -EINVAL;
	}
	snap_build_id(build);
	if (memcmp(h->build, build, SNAP_BUILD_LEN)) {
		build_hex(h->build, have);
		build_hex(build, want);
		snprintf(why, wlen, "taken by another microvm build (%s): expected this build (%s)",
			 have, want);
		return -EINVAL;
	}
	if (h->payload_len != len - sizeof(*h)) {
		snprintf(why, wlen, "%zu bytes of state: expected %llu (truncated?)",
			 len - sizeof(*h), (unsigned long long)h->payload_len);
		return -EINVAL;
	}
	return 0;
}

/* Each section: a NUL-terminated name and a length inside the payload. */
static int check_sections(const uint8_t *p, size_t len, char *why, size_t wlen)
{
	size_t off = 0;
	while (off < len) {
		uint64_t n;
		if (len - off < SNAP_NAME_LEN + sizeof(n) || !memchr(p + off, 0, SNAP_NAME_LEN)) {
			snprintf(why, wlen, "bad section header at byte %zu: expected a name and length",
				 off);
			return -EINVAL;
		}
		memcpy(&n, p + off + SNAP_NAME_LEN, sizeof(n));
		off += SNAP_NAME_LEN + sizeof(n);
		if (n > len - off) {
			snprintf(why, wlen, "section %s runs past the end: expected at most %zu bytes",
				 (const char *)p + off - SNAP_NAME_LEN - sizeof(n), len - off);
			return -EINVAL;
		}
		off += n;
	}
	return 0;
}

int snap_parse(const uint8_t *buf, size_t len, char *why, size_t wlen)
{
	struct snap_header h;
	if (len < sizeof(h)) {
		snprintf(why, wlen, "%zu bytes: expected at least a %zu-byte header (truncated?)", len,
			 sizeof(h));
		return -EINVAL;
	}
	memcpy(&h, buf, sizeof(h));
	int r = check_header(&h, len, why, wlen);
	if (r < 0)
		return r;
	if (snap_hash(SNAP_FNV_INIT, buf + sizeof(h), len - sizeof(h)) != h.payload_sum) {
		snprintf(why, wlen, "state checksum mismatch: expected an intact file (corrupted?)");
		return -EINVAL;
	}
	return check_sections(buf + sizeof(h), len - sizeof(h), why, wlen);
}

bool snap_find(const uint8_t *buf, size_t len, const char *name, struct snap_reader *r)
{
	size_t off = sizeof(struct snap_header);
	while (len >= off && len - off >= SNAP_NAME_LEN + sizeof(uint64_t)) {
		uint64_t n;
		memcpy(&n, buf + off + SNAP_NAME_LEN, sizeof(n));
		const char *s = (const char *)buf + off;
		off += SNAP_NAME_LEN + sizeof(n);
		if (n > len - off)
			return false;
		if (!strncmp(s, name, SNAP_NAME_LEN)) {
			*r = (struct snap_reader){ .p = buf + off, .len = n };
			return true;
		}
		off += n;
	}
	return false;
}
