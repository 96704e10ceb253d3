/* p9msg.h - building 9P requests and reading replies in unit tests and
 * the fuzzer: a fake transport that hands the server plain buffers. */
#ifndef P9MSG_H
#define P9MSG_H

#include <string.h>

#include "p9.h"

struct msg {
	uint8_t b[1 << 16];
	size_t len;
};

static inline void m_raw(struct msg *m, const void *p, size_t n)
{
	memcpy(m->b + m->len, p, n);
	m->len += n;
}
static inline void m_u8(struct msg *m, uint8_t v) { m_raw(m, &v, 1); }
static inline void m_u16(struct msg *m, uint16_t v) { m_raw(m, &v, 2); }
static inline void m_u32(struct msg *m, uint32_t v) { m_raw(m, &v, 4); }
static inline void m_u64(struct msg *m, uint64_t v) { m_raw(m, &v, 8); }
static inline void m_str(struct msg *m, const char *s)
{
	m_u16(m, strlen(s));
	m_raw(m, s, strlen(s));
}

/* Start a message of type with tag (size filled by m_end). */
static inline struct msg *m_start(struct msg *m, uint8_t type, uint16_t tag)
{
	m->len = 4;
	m_u8(m, type);
	m_u16(m, tag);
	return m;
}

static inline void m_end(struct msg *m)
{
	uint32_t n = m->len;
	memcpy(m->b, &n, 4);
}

/* Run one request through the server the way a transport does, with a
 * reply buffer of room bytes; returns the reply length. */
static inline uint32_t p9_call(struct p9_server *s, const void *req, size_t len, void *rep,
			       size_t room)
{
	struct iovec in = { (void *)req, len }, out = { rep, room };
	struct p9_req r = { .in = &in, .nin = 1, .out = &out, .nout = 1 };
	p9_begin(s, &r);
	uint32_t n = p9_handle(s, &r);
	p9_end(s, &r);
	return n;
}

#endif
