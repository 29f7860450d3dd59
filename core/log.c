/*
 * log.c — non-allocating text output.
 *
 * libc's printf family may allocate (wide strings, large precisions, locale
 * data) and takes the stdio lock, which is not safe inside malloc or from a
 * signal handler. This file implements the handful of conversions gcmalloc
 * needs on a fixed buffer and writes with write(2).
 */
#include "base.h"
#include "log.h"

#include <errno.h>
#include <unistd.h>

struct out {
	char *buf;
	size_t cap;
	size_t len; /* length the output would have; may exceed cap */
};

static void out_char(struct out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len] = c;
	o->len++;
}

static void out_str(struct out *o, const char *s)
{
	if (s == NULL)
		s = "(null)";
	while (*s)
		out_char(o, *s++);
}

static void out_uint(struct out *o, unsigned long long v, unsigned base,
		     unsigned width, bool zero_pad, bool negative)
{
	char tmp[24];
	unsigned n = 0;
	static const char digits[] = "0123456789abcdef";

	do {
		tmp[n++] = digits[v % base];
		v /= base;
	} while (v != 0);
	if (negative)
		tmp[n++] = '-';
	/* A '-' goes before zero padding, after space padding. */
	if (zero_pad && negative) {
		out_char(o, '-');
		n--;
		if (width > 0)
			width--;
	}
	for (unsigned i = n; i < width; i++)
		out_char(o, zero_pad ? '0' : ' ');
	while (n > 0)
		out_char(o, tmp[--n]);
}

size_t log_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
	struct out o = { buf, cap, 0 };

	for (const char *f = fmt; *f; f++) {
		if (*f != '%') {
			out_char(&o, *f);
			continue;
		}
		f++;
		bool zero_pad = false;
		unsigned width = 0;
		int longs = 0;
		bool size_mod = false;
		if (*f == '0') {
			zero_pad = true;
			f++;
		}
		while (*f >= '0' && *f <= '9')
			width = width * 10 + (unsigned)(*f++ - '0');
		while (*f == 'l') {
			longs++;
			f++;
		}
		if (*f == 'z') {
			size_mod = true;
			f++;
		}
		switch (*f) {
		case 'd':
		case 'i': {
			long long v;
			if (size_mod)
				v = (long long)va_arg(ap, ptrdiff_t);
			else if (longs >= 2)
				v = va_arg(ap, long long);
			else if (longs == 1)
				v = va_arg(ap, long);
			else
				v = va_arg(ap, int);
			unsigned long long mag = v < 0 ? 0ULL - (unsigned long long)v
						       : (unsigned long long)v;
			out_uint(&o, mag, 10, width, zero_pad, v < 0);
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v;
			if (size_mod)
				v = va_arg(ap, size_t);
			else if (longs >= 2)
				v = va_arg(ap, unsigned long long);
			else if (longs == 1)
				v = va_arg(ap, unsigned long);
			else
				v = va_arg(ap, unsigned);
			out_uint(&o, v, *f == 'x' ? 16 : 10, width, zero_pad, false);
			break;
		}
		case 'p':
			out_str(&o, "0x");
			out_uint(&o, (uintptr_t)va_arg(ap, void *), 16, width,
				 zero_pad, false);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			size_t n = 0;
			for (const char *t = s ? s : "(null)"; *t; t++)
				n++;
			for (size_t i = n; i < width; i++)
				out_char(&o, ' ');
			out_str(&o, s);
			break;
		}
		case 'c':
			out_char(&o, (char)va_arg(ap, int));
			break;
		case '%':
			out_char(&o, '%');
			break;
		case '\0':
			f--; /* trailing '%': stop at the terminator */
			break;
		default:
			out_char(&o, '%');
			out_char(&o, *f);
			break;
		}
	}
	if (cap > 0)
		buf[o.len < cap ? o.len : cap - 1] = '\0';
	return o.len;
}

size_t log_format(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	size_t n = log_vformat(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

static void log_write_all(int fd, const char *buf, size_t len)
{
	int saved = errno;
	while (len > 0) {
		ssize_t w = write(fd, buf, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		buf += w;
		len -= (size_t)w;
	}
	errno = saved;
}

void log_fd(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	size_t n = log_vformat(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	log_write_all(fd, buf, GCM_MIN(n, sizeof(buf) - 1));
}

void log_line(const char *fmt, ...)
{
	char buf[1024];
	size_t n = log_format(buf, sizeof(buf), "gcmalloc: ");
	va_list ap;
	va_start(ap, fmt);
	n += log_vformat(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	log_write_all(2, buf, n);
}
