/* snapshot.h - saving a running VM into a directory and restoring it
 * (`snapshot DIR` on --control, --restore DIR; docs/architecture.md,
 * "Snapshots").
 *
 * The state file is a header and named sections. Each piece of the machine
 * that has state adds one SNAPSHOT_SECTION() entry (gathered in a linker
 * section like the device table): save() appends its bytes to a buffer,
 * restore() reads them back with the checked reader below, refuse() says
 * why a snapshot cannot be taken now. Sections are saved and restored in
 * link order (architecture first, then devices).
 */
#ifndef SNAPSHOT_H
#define SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;

#define SNAP_MAGIC "MVMSNAP1"
#define SNAP_VERSION 1
#define SNAP_BUILD_LEN 32
#define SNAP_NAME_LEN 16

/* The fixed header at the start of DIR/state, little endian. */
struct snap_header {
	char magic[8];                /* SNAP_MAGIC */
	uint32_t version;             /* SNAP_VERSION */
	uint32_t arch;                /* ELF machine: 62 x86_64, 183 aarch64 */
	uint8_t build[SNAP_BUILD_LEN]; /* microvm's build id (zero padded) */
	uint64_t host_id;             /* hash of the CPUID the guest ran with */
	uint64_t payload_len;         /* bytes of sections after the header */
	uint64_t payload_sum;         /* FNV-1a 64 of those bytes */
	uint64_t mem_size;            /* bytes of DIR/memory */
	uint64_t header_sum;          /* FNV-1a 64 of the bytes above */
};

/* A growing buffer a section's save() appends to; err sticks at -ENOMEM. */
struct snap_buf {
	uint8_t *data;
	size_t len, cap;
	int err;
};
void snap_put(struct snap_buf *b, const void *p, size_t len);
void snap_put_u32(struct snap_buf *b, uint32_t v);
void snap_put_u64(struct snap_buf *b, uint64_t v);
void snap_put_str(struct snap_buf *b, const char *s); /* u32 length, bytes */

/* Append section name with len bytes of data to a state being built. */
void snap_put_section(struct snap_buf *b, const char *name, const void *data, size_t len);

/* Start a state file in b (room for the header), and finish it: fill the
 * header in for the sections appended since. */
void snap_begin(struct snap_buf *b);
void snap_finish(struct snap_buf *b, uint64_t host_id, uint64_t mem_size);

/* Reads one section's bytes. Any read past the end sets bad and yields
 * zeros, so a restore() checks r->bad (snap_done) once at its end. */
struct snap_reader {
	const uint8_t *p;
	size_t len, off;
	bool bad;
};
void snap_get(struct snap_reader *r, void *p, size_t len);
uint32_t snap_get_u32(struct snap_reader *r);
uint64_t snap_get_u64(struct snap_reader *r);
/* A string saved by snap_put_str, NUL-terminated into buf (bad when it
 * does not fit). */
void snap_get_str(struct snap_reader *r, char *buf, size_t size);
/* 0 when the section was read exactly to its end, else -EINVAL. */
int snap_done(const struct snap_reader *r);

struct snap_section {
	const char *name; /* at most SNAP_NAME_LEN - 1 characters */
	/* One line into why (return -errno) when no snapshot can be taken now:
	 * a device whose state cannot be saved. May be NULL. */
	int (*refuse)(struct vm *vm, char *why, size_t len);
	/* Make the state quiet before saving (drain requests in flight),
	 * with the vCPUs parked. May be NULL. */
	int (*quiesce)(struct vm *vm, char *why, size_t len);
	int (*save)(struct vm *vm, struct snap_buf *b, const char *dir, char *why, size_t len);
	/* After setup, before any vCPU runs; prints one line on failure. */
	int (*restore)(struct vm *vm, struct snap_reader *r, const char *dir);
};

#define SNAPSHOT_SECTION(id, ...)                                              \
	static const struct snap_section snap_section_##id                     \
		__attribute__((used, section("microvm_snap"), aligned(8))) =   \
			{ __VA_ARGS__ }

extern const struct snap_section __start_microvm_snap[] __attribute__((weak));
extern const struct snap_section __stop_microvm_snap[] __attribute__((weak));
#define snap_section_foreach(s) \
	for (const struct snap_section *s = __start_microvm_snap; s < __stop_microvm_snap; s++)

/* FNV-1a 64 of len bytes, continuing from h (start with SNAP_FNV_INIT). */
#define SNAP_FNV_INIT 0xcbf29ce484222325ULL
uint64_t snap_hash(uint64_t h, const void *p, size_t len);

/* This architecture's ELF machine number (snap_header.arch). */
uint32_t snap_arch(void);

/* This build's id (the linker's GNU build id) into out, zero padded. */
void snap_build_id(uint8_t out[SNAP_BUILD_LEN]);

/* Check a whole state file in buf: header, build, architecture, lengths,
 * checksums and section framing. Returns 0, or -EINVAL with why holding
 * "WHAT: expected WHAT" for the one-line message. */
int snap_parse(const uint8_t *buf, size_t len, char *why, size_t wlen);

/* The payload of section name inside a checked state file, or false. */
bool snap_find(const uint8_t *buf, size_t len, const char *name, struct snap_reader *r);

/* The control command's work: park the vCPUs, save into dir, then resume
 * (or ask microvm to exit 0). Event-loop thread. Returns 0 with reply
 * holding the "DIR: ... ms" detail, or -errno with reply saying why. */
int snapshot_take(struct vm *vm, const char *dir, bool exit_after, char *reply, size_t len);

/* --restore DIR: read and check DIR/state and the configuration saved in
 * it against vm->cfg, open DIR/memory (vm->restore_mem_fd). Main thread,
 * before KVM. Returns 0 or -1 after one line. */
int snapshot_load(struct vm *vm, const char *dir);

/* Check the host and apply every section (vm built, devices set up,
 * vCPUs not started). Returns 0 or -1 after one line. */
int snapshot_apply(struct vm *vm);

/* Copy the data ranges of a sparse file of size bytes: from fd into a new
 * file path (into_fd false), or from path into fd, which is emptied first
 * (true). Holes stay holes. Returns 0 or -errno. */
int snap_copy_file(int fd, const char *path, uint64_t size, bool into_fd);

/* Architecture hooks (vmm/ARCH/snapshot.c): the host identity saved in the
 * header (0 when the architecture does not check one). */
uint64_t arch_snapshot_host_id(struct vm *vm);

/* Park every vCPU out of KVM_RUN with its pending I/O completed
 * (vmm/vcpu.c), and let them go again. Not from a vCPU thread. */
void vcpu_pause_all(struct vm *vm);
void vcpu_resume_all(struct vm *vm);

#endif
