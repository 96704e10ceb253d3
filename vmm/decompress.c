/* decompress.c - gzip, xz and zstd decompression of kernel payloads.
 *
 * Unpacking the kernel on the host lets microvm enter it directly; the guest's
 * own decompressor is much slower wherever instructions are expensive.
 */
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "image.h"

/* Growable output buffer shared by the three decoders. */
struct outbuf {
	uint8_t *p;
	size_t len, cap, max;
};

static int outbuf_grow(struct outbuf *o)
{
	if (o->cap >= o->max)
		return -EFBIG;
	size_t cap = o->cap ? o->cap * 2 : 16 << 20;
	if (cap > o->max)
		cap = o->max;
	uint8_t *p = realloc(o->p, cap);
	if (!p)
		return -ENOMEM;
	o->p = p;
	o->cap = cap;
	return 0;
}

static int gunzip(const uint8_t *in, size_t len, struct outbuf *o)
{
	z_stream z = { .next_in = (Bytef *)in, .avail_in = len };
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	int ret = 0;
	for (;;) {
		if (o->len == o->cap && (ret = outbuf_grow(o)) < 0)
			break;
		z.next_out = o->p + o->len;
		z.avail_out = o->cap - o->len;
		int r = inflate(&z, Z_NO_FLUSH);
		o->len = o->cap - z.avail_out;
		if (r == Z_STREAM_END)
			break;
		if (r != Z_OK && r != Z_BUF_ERROR) {
			ret = -EINVAL;
			break;
		}
		if (r == Z_BUF_ERROR && z.avail_in == 0) {
			ret = -EINVAL; /* truncated */
			break;
		}
	}
	inflateEnd(&z);
	return ret;
}

static int unxz(const uint8_t *in, size_t len, struct outbuf *o)
{
	lzma_stream s = LZMA_STREAM_INIT;
	/* The kernel's xz payload may carry trailing padding: CONCATENATED
	 * would reject it, so decode a single stream and stop at its end. */
	if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK)
		return -ENOMEM;
	s.next_in = in;
	s.avail_in = len;
	int ret = 0;
	for (;;) {
		if (o->len == o->cap && (ret = outbuf_grow(o)) < 0)
			break;
		s.next_out = o->p + o->len;
		s.avail_out = o->cap - o->len;
		lzma_ret r = lzma_code(&s, LZMA_FINISH);
		o->len = o->cap - s.avail_out;
		if (r == LZMA_STREAM_END)
			break;
		if (r != LZMA_OK && !(r == LZMA_BUF_ERROR && s.avail_out == 0)) {
			ret = r == LZMA_MEM_ERROR ? -ENOMEM : -EINVAL;
			break;
		}
	}
	lzma_end(&s);
	return ret;
}

static int unzstd(const uint8_t *in, size_t len, struct outbuf *o)
{
	ZSTD_DStream *d = ZSTD_createDStream();
	if (!d)
		return -ENOMEM;
	ZSTD_inBuffer ib = { in, len, 0 };
	int ret = 0;
	for (;;) {
		if (o->len == o->cap && (ret = outbuf_grow(o)) < 0)
			break;
		ZSTD_outBuffer ob = { o->p, o->cap, o->len };
		size_t r = ZSTD_decompressStream(d, &ob, &ib);
		o->len = ob.pos;
		if (ZSTD_isError(r)) {
			ret = -EINVAL;
			break;
		}
		if (r == 0)
			break; /* frame complete */
		if (ib.pos == ib.size && ob.pos < ob.size) {
			ret = -EINVAL; /* truncated */
			break;
		}
	}
	ZSTD_freeDStream(d);
	return ret;
}

int image_decompress(const uint8_t *buf, size_t len, size_t max, uint8_t **out,
		     size_t *outlen)
{
	const char *fmt = image_compression(buf, len);
	struct outbuf o = { .max = max };
	int r;
	if (fmt && !strcmp(fmt, "gzip"))
		r = gunzip(buf, len, &o);
	else if (fmt && !strcmp(fmt, "xz"))
		r = unxz(buf, len, &o);
	else if (fmt && !strcmp(fmt, "zstd"))
		r = unzstd(buf, len, &o);
	else
		r = -ENOTSUP;
	if (r < 0) {
		free(o.p);
		return r;
	}
	*out = o.p;
	*outlen = o.len;
	return 0;
}
