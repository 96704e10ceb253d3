/* p9share.h - for the 9P hostile-guest tests: a 9P server on a fresh share
 * directory under /tmp, versioned and attached as fid ROOT, and requests
 * sent through the fake transport of p9msg.h. A test file may define
 * P9SHARE_TAG, the tag its requests carry, before including this. */
#ifndef TEST_P9SHARE_H
#define TEST_P9SHARE_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "p9msg.h"

#ifndef P9SHARE_TAG
#define P9SHARE_TAG 0x1234
#endif

enum { ROOT = 1, F2 = 2, F3 = 3 };
#define RLERROR 7

struct t {
	char root[32];
	struct p9_server *s;
	struct msg m;
	uint8_t rep[1 << 16];
	uint32_t rlen;
};

static inline struct msg *start(struct t *t, uint8_t type)
{
	return m_start(&t->m, type, P9SHARE_TAG);
}

/* Send the message with its size field as the test left it, with a reply
 * buffer of room bytes; returns the reply's type. */
static inline int send_raw_room(struct t *t, size_t room)
{
	t->rlen = p9_call(t->s, t->m.b, t->m.len, t->rep, room);
	return t->rlen < 7 ? -1 : t->rep[4];
}

static inline int send_raw(struct t *t)
{
	return send_raw_room(t, sizeof(t->rep));
}

/* Send the message built so far; returns the reply's type. */
static inline int call_room(struct t *t, size_t room)
{
	m_end(&t->m);
	return send_raw_room(t, room);
}

static inline int call(struct t *t)
{
	return call_room(t, sizeof(t->rep));
}

static inline uint32_t rep_u32(struct t *t, size_t at)
{
	uint32_t v;
	memcpy(&v, t->rep + at, 4);
	return v;
}

static inline void ok(struct t *t)
{
	int type = call(t);
	if (type == RLERROR)
		fail_msg("Rlerror %u for type %u", rep_u32(t, 7), t->m.b[4]);
	assert_int_equal(type, t->m.b[4] + 1);
}

/* A share in a fresh directory made from template tmpl ("/tmp/x.XXXXXX");
 * prepare(t), when given, fills the directory before the server opens it.
 * The server gets flags and max_fids of p9_server_new. */
static inline struct t *p9share_new(const char *tmpl, void (*prepare)(struct t *),
				    unsigned flags, unsigned max_fids)
{
	struct t *t = calloc(1, sizeof(*t));
	snprintf(t->root, sizeof(t->root), "%s", tmpl);
	assert_non_null(mkdtemp(t->root));
	if (prepare)
		prepare(t);
	int fd = open(t->root, O_PATH | O_DIRECTORY);
	t->s = p9_server_new(fd, flags, max_fids);
	close(fd);
	assert_non_null(t->s);
	m_u32(start(t, P9_TVERSION), 65536);
	m_str(&t->m, "9P2000.L");
	ok(t);
	m_u32(start(t, P9_TATTACH), ROOT);
	m_u32(&t->m, ~0u);
	m_str(&t->m, "root");
	m_str(&t->m, "");
	m_u32(&t->m, 0);
	ok(t);
	return t;
}

/* The server stopped and the share removed. */
static inline int p9share_teardown(void **state)
{
	struct t *t = *state;
	p9_server_free(t->s);
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->root);
	assert_int_equal(system(cmd), 0);
	free(t);
	return 0;
}

#endif
