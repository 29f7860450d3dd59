/*
 * test_options.c — parsing of the GCMALLOC_* variables: good values are
 * taken, bad ones warn with one line and keep the default.
 */
#include "options.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdint.h>

Test(options, sizes_with_binary_suffixes)
{
	size_t v = 0;
	cr_expect(opt_parse_size("0", &v) && v == 0);
	cr_expect(opt_parse_size("4096", &v) && v == 4096);
	cr_expect(opt_parse_size("512B", &v) && v == 512);
	cr_expect(opt_parse_size("64KiB", &v) && v == 64 << 10);
	cr_expect(opt_parse_size("256MiB", &v) && v == (size_t)256 << 20);
	cr_expect(opt_parse_size("3GiB", &v) && v == (size_t)3 << 30);
	cr_expect(opt_parse_size("2M", &v) && v == (size_t)2 << 20);
	cr_expect(opt_parse_size("1GB", &v) && v == (size_t)1 << 30);
}

Test(options, bad_sizes_are_rejected_and_leave_the_value)
{
	size_t v = 77;
	cr_expect(!opt_parse_size("", &v));
	cr_expect(!opt_parse_size("MiB", &v));
	cr_expect(!opt_parse_size("-1", &v));
	cr_expect(!opt_parse_size("12QB", &v));
	cr_expect(!opt_parse_size("1.5GiB", &v));
	cr_expect(!opt_parse_size("99999999999999999999", &v));
	cr_expect(!opt_parse_size("17179869184GiB", &v)); /* 2^64 bytes */
	cr_expect_eq(v, 77u);
}

Test(options, percent_and_off)
{
	int v = 5;
	cr_expect(opt_parse_percent("100", &v) && v == 100);
	cr_expect(opt_parse_percent("0", &v) && v == 0);
	cr_expect(opt_parse_percent("off", &v) && v == -1);
	v = 5;
	cr_expect(!opt_parse_percent("abc", &v));
	cr_expect(!opt_parse_percent("10%", &v));
	cr_expect(!opt_parse_percent("-5", &v));
	cr_expect(!opt_parse_percent("OFF", &v));
	cr_expect_eq(v, 5);
}

Test(options, environment_is_applied, .init = cr_redirect_stderr)
{
	char *env[] = {
		"HOME=/",
		"GCMALLOC_GC=250",
		"GCMALLOC_MEMLIMIT=256MiB",
		"GCMALLOC_DEBUG=scavtrace=1,stats=1,scavcpu=100",
		NULL,
	};
	opt_init(env);
	cr_expect_eq(opt.gc_percent, 250);
	cr_expect_eq(opt.memlimit_bytes, (size_t)256 << 20);
	cr_expect(opt.scavtrace);
	cr_expect(opt.stats);
	cr_expect(!opt.gctrace);
	cr_expect_eq(opt.scav_cpu_percent, 100u);
	fflush(stderr);
	cr_expect_stderr_eq_str("");
}

Test(options, bad_values_warn_once_each_and_keep_defaults, .init = cr_redirect_stderr)
{
	char *env[] = {
		"GCMALLOC_GC=lots",
		"GCMALLOC_MEMLIMIT=12QB",
		"GCMALLOC_DEBUG=nosuchkey=1,gctrace=yes,scavcpu=0",
		NULL,
	};
	opt_init(env);
	cr_expect_eq(opt.gc_percent, 100);
	cr_expect_eq(opt.memlimit_bytes, SIZE_MAX);
	cr_expect(!opt.gctrace);
	fflush(stderr);
	cr_expect_stderr_eq_str(
		"gcmalloc: GCMALLOC_GC: bad value 'lots' (accepted: a percentage 0..1000000 or 'off'); using the default 100\n"
		"gcmalloc: GCMALLOC_MEMLIMIT: bad value '12QB' (accepted: a byte count with an optional B, KiB, MiB, GiB or TiB suffix); using no limit\n"
		"gcmalloc: GCMALLOC_DEBUG: unknown key 'nosuchkey' (known: scavtrace, gctrace, stats, assert, scavcpu); ignored\n"
		"gcmalloc: GCMALLOC_DEBUG: bad value 'yes' for gctrace (accepted: 0 or 1); keeping 0\n"
		"gcmalloc: GCMALLOC_DEBUG: bad value '0' for scavcpu (accepted: 1..100); keeping 1\n");
}
