/* wire.c - 9P's wire encoding (little-endian integers, strings as a 16-bit
 * length and bytes) read from and written to iovec lists, so requests are
 * parsed where the transport left them and replies land in place. */
#include <string.h>

#include "p9.h"

void p9_cur_init(struct p9_cur *c, const struct iovec *iov, unsigned n, size_t max)
{
	size_t len = 0;
	for (unsigned i = 0; i < n && len < max; i++)
		len += iov[i].iov_len;
	*c = (struct p9_cur){ .iov = iov, .n = n, .len = len < max ? len : max };
}

void p9_cur_seek(struct p9_cur *c, size_t pos)
{
	if (pos > c->len) {
		c->err = true;
		pos = c->len;
	}
	c->pos = pos;
	c->i = 0;
	c->off = pos;
	while (c->i < c->n && c->off >= c->iov[c->i].iov_len && c->off) {
		c->off -= c->iov[c->i].iov_len;
		c->i++;
	}
}

size_t p9_cur_left(const struct p9_cur *c)
{
	return c->len - c->pos;
}

/* Copy len bytes between the cursor and buf (to the cursor when wr). */
static void cur_copy(struct p9_cur *c, void *buf, size_t len, bool wr)
{
	if (len > p9_cur_left(c)) {
		c->err = true;
		if (!wr)
			memset(buf, 0, len);
		return;
	}
	uint8_t *p = buf;
	c->pos += len;
	while (len) {
		const struct iovec *v = &c->iov[c->i];
		size_t n = v->iov_len - c->off;
		if (n > len)
			n = len;
		if (wr)
			memcpy((uint8_t *)v->iov_base + c->off, p, n);
		else
			memcpy(p, (uint8_t *)v->iov_base + c->off, n);
		p += n;
		len -= n;
		c->off += n;
		if (c->off == v->iov_len) {
			c->i++;
			c->off = 0;
		}
	}
}

uint8_t p9_get_u8(struct p9_cur *c)
{
	uint8_t v;
	cur_copy(c, &v, 1, false);
	return v;
}

/* The hosts microvm runs on are little-endian, as 9P is. */
uint16_t p9_get_u16(struct p9_cur *c)
{
	uint16_t v;
	cur_copy(c, &v, 2, false);
	return v;
}

uint32_t p9_get_u32(struct p9_cur *c)
{
	uint32_t v;
	cur_copy(c, &v, 4, false);
	return v;
}

uint64_t p9_get_u64(struct p9_cur *c)
{
	uint64_t v;
	cur_copy(c, &v, 8, false);
	return v;
}

int p9_get_str(struct p9_cur *c, char *buf, size_t max)
{
	uint16_t len = p9_get_u16(c);
	if (c->err || len >= max || len > p9_cur_left(c)) {
		c->err = true;
		buf[0] = 0;
		return -1;
	}
	cur_copy(c, buf, len, false);
	buf[len] = 0;
	if (memchr(buf, 0, len)) {
		c->err = true;
		return -1;
	}
	return len;
}

unsigned p9_cur_take(struct p9_cur *c, size_t len, struct iovec *out, unsigned max)
{
	unsigned k = 0;
	if (len > p9_cur_left(c)) {
		c->err = true;
		len = p9_cur_left(c);
	}
	while (len && k < max) {
		const struct iovec *v = &c->iov[c->i];
		size_t n = v->iov_len - c->off;
		if (n > len)
			n = len;
		if (n)
			out[k++] = (struct iovec){ (uint8_t *)v->iov_base + c->off, n };
		len -= n;
		c->pos += n;
		c->off += n;
		if (c->off == v->iov_len) {
			c->i++;
			c->off = 0;
		}
	}
	if (len)
		c->err = true;
	return k;
}

void p9_put_u8(struct p9_cur *c, uint8_t v)
{
	cur_copy(c, &v, 1, true);
}

void p9_put_u16(struct p9_cur *c, uint16_t v)
{
	cur_copy(c, &v, 2, true);
}

void p9_put_u32(struct p9_cur *c, uint32_t v)
{
	cur_copy(c, &v, 4, true);
}

void p9_put_u64(struct p9_cur *c, uint64_t v)
{
	cur_copy(c, &v, 8, true);
}

void p9_put_str(struct p9_cur *c, const char *s)
{
	size_t len = strlen(s);
	if (len > UINT16_MAX) {
		c->err = true;
		return;
	}
	p9_put_u16(c, len);
	cur_copy(c, (void *)s, len, true);
}

void p9_put_bytes(struct p9_cur *c, const void *p, size_t len)
{
	cur_copy(c, (void *)p, len, true);
}
