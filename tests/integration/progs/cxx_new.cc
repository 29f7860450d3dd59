// cxx_new.cc — C++ allocation through libstdc++'s operator new/delete, which
// call malloc, aligned_alloc and free: plain, array, nothrow, over-aligned
// (alignas(256)) and sized forms, the new-handler protocol and bad_alloc.
// Prints nothing; exits 1 with a FAIL line at the first failed check.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "check.h"

namespace {

struct alignas(256) Wide {
	unsigned char bytes[300];
	Wide() { std::memset(bytes, 0x5A, sizeof bytes); }
};

struct alignas(64) Line {
	std::uint64_t v[8];
};

struct Counted {
	static int live;
	int payload[5];
	Counted() { live++; payload[0] = live; }
	~Counted() { live--; }
};
int Counted::live = 0;

bool aligned_to(const void *p, std::size_t a)
{
	return (reinterpret_cast<std::uintptr_t>(p) & (a - 1)) == 0;
}

int handler_calls = 0;
void new_handler_once()
{
	handler_calls++;
	std::set_new_handler(nullptr); // next failure throws bad_alloc
}

// Sizes only known at run time, so nothing is folded or elided.
std::size_t runtime(std::size_t v)
{
	volatile std::size_t x = v;
	return x;
}

} // namespace

int main()
{
	// Plain and array new/delete.
	for (int i = 0; i < 10000; i++) {
		int *p = new int(i);
		CHECK(*p == i && aligned_to(p, 16));
		delete p;
		auto *a = new char[runtime(1 + (std::size_t)i % 3000)];
		CHECK(aligned_to(a, 16));
		a[0] = 1;
		delete[] a;
	}
	Counted *cs = new Counted[100];
	CHECK(Counted::live == 100);
	delete[] cs;
	CHECK(Counted::live == 0);

	// Over-aligned types: operator new(size_t, align_val_t).
	std::vector<Wide *> wides;
	for (int i = 0; i < 200; i++) {
		Wide *w = new Wide;
		CHECKF(aligned_to(w, 256), "new Wide not 256-aligned");
		CHECK(w->bytes[299] == 0x5A);
		wides.push_back(w);
	}
	for (Wide *w : wides)
		delete w;
	Wide *wa = new Wide[7];
	CHECK(aligned_to(wa, 256));
	delete[] wa;
	Wide *wn = new (std::nothrow) Wide;
	CHECK(wn && aligned_to(wn, 256));
	delete wn;
	std::vector<Line> lines(1000);
	CHECK(aligned_to(lines.data(), 64));
	lines.resize(100000);
	CHECK(aligned_to(lines.data(), 64));
	void *raw = ::operator new(runtime(5000), std::align_val_t(4096));
	CHECK(aligned_to(raw, 4096));
	std::memset(raw, 1, 5000);
	::operator delete(raw, std::align_val_t(4096));

	// Sized delete.
	void *s = ::operator new(runtime(123));
	::operator delete(s, 123);

	// nothrow: small succeeds, absurd fails with nullptr.
	int *ok = new (std::nothrow) int[runtime(1000)];
	CHECK(ok != nullptr);
	delete[] ok;
	char *none = new (std::nothrow) char[runtime(SIZE_MAX / 2)];
	CHECK(none == nullptr);
	Wide *none_aligned = new (std::nothrow) Wide[runtime(SIZE_MAX / 1024)];
	CHECK(none_aligned == nullptr);

	// Throwing new: bad_alloc, after the new-handler had its turn.
	bool threw = false;
	std::set_new_handler(new_handler_once);
	try {
		char *never = new char[runtime((std::size_t)PTRDIFF_MAX)];
		delete[] never;
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	CHECK(threw);
	CHECK(handler_calls == 1);
	threw = false;
	try {
		void *never = ::operator new(runtime(SIZE_MAX - 4096), std::align_val_t(64));
		::operator delete(never, std::align_val_t(64));
	} catch (const std::bad_alloc &) {
		threw = true;
	}
	CHECK(threw);

	// Containers and strings: lots of small allocations with frees in
	// arbitrary order.
	std::map<int, std::string> m;
	for (int i = 0; i < 20000; i++)
		m[i * 7 % 20011] = std::string((std::size_t)(i % 90) + 1, 'x');
	for (int i = 0; i < 20000; i += 2)
		m.erase(i * 7 % 20011);
	std::size_t chars = 0;
	for (const auto &kv : m)
		chars += kv.second.size();
	CHECK(chars > 0);
	auto sp = std::make_shared<std::vector<int>>(1000, 3);
	CHECK((*sp)[999] == 3);
	auto up = std::make_unique<Wide[]>(3);
	CHECK(aligned_to(up.get(), 256));
	return 0;
}
