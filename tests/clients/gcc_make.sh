#!/bin/bash
# g++ client of the real-program suite: generates a template-heavy C++17
# program (variadic templates, variants with dozens of alternatives,
# constexpr recursion, standard containers of many instantiations,
# std::regex), builds it with make -j2 and link-time optimisation, runs it,
# and prints the program's output and digests of every object and of the
# executable. make forks g++ drivers, cc1plus, as, collect2 and ld with the
# LTO plugin, lto-wrapper and parallel lto1 processes: all of them run under
# the preload. With -frandom-seed the build is reproducible: the executable of
# the LTO build, and every object and the executable of a second build
# without LTO, are the same on every run. (The LTO objects themselves record
# the build directory, which differs from run to run, so they are not
# compared.)
#
# GCMALLOC_CLIENTS_FULL=1: more and bigger translation units.
set -euo pipefail

if [ "${GCMALLOC_CLIENTS_FULL:-0}" = 1 ]; then
	units=12 width=48 opt=-O2
else
	units=3 width=20 opt=-O1
fi

mkdir -p src
cd src

cat >common.hpp <<'EOF'
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace gen {

template <int N> struct Fib {
	static constexpr std::uint64_t value = Fib<N - 1>::value + Fib<N - 2>::value;
};
template <> struct Fib<0> { static constexpr std::uint64_t value = 0; };
template <> struct Fib<1> { static constexpr std::uint64_t value = 1; };

// A tuple built by inheritance from one node per element.
template <std::size_t I, typename T> struct Node { T v{}; };
template <typename Seq, typename... Ts> struct TupleImpl;
template <std::size_t... Is, typename... Ts>
struct TupleImpl<std::index_sequence<Is...>, Ts...> : Node<Is, Ts>... {
	template <typename F> void each(F &&f) { (f(static_cast<Node<Is, Ts> &>(*this).v), ...); }
};
template <typename... Ts> using Tup = TupleImpl<std::index_sequence_for<Ts...>, Ts...>;

template <class... Fs> struct overloaded : Fs... { using Fs::operator()...; };
template <class... Fs> overloaded(Fs...) -> overloaded<Fs...>;

template <int I> struct Tag {
	int v = I;
	std::string name() const { return "tag" + std::to_string(I); }
};

// A vector of a variant with one alternative per I, visited generically.
template <int Base, int... Is>
std::uint64_t visit_all(std::integer_sequence<int, Is...>) {
	using V = std::variant<Tag<Base + Is>...>;
	std::vector<V> vs;
	for (int round = 0; round < 50; round++)
		(vs.emplace_back(std::in_place_type<Tag<Base + Is>>), ...);
	std::uint64_t s = 0;
	for (auto &v : vs)
		s += std::visit([](auto &t) { return std::uint64_t(t.v) * 3 + t.name().size(); }, v);
	std::map<std::string, int> names;
	for (auto &v : vs)
		names[std::visit([](auto &t) { return t.name(); }, v)]++;
	return s * 31 + names.size();
}

template <typename T> T make(int i);
template <> inline long make<long>(int i) { return i * 2654435761L % 1000003; }
template <> inline double make<double>(int i) { return i * 0.5 + 1.0 / (i + 1); }
template <> inline std::string make<std::string>(int i) {
	return "s" + std::to_string(i % 977) + std::string(i % 23, 'x');
}
template <> inline std::vector<int> make<std::vector<int>>(int i) {
	std::vector<int> v(i % 40);
	std::iota(v.begin(), v.end(), i);
	return v;
}
template <> inline std::pair<int, std::string> make<std::pair<int, std::string>>(int i) {
	return {i % 101, make<std::string>(i * 7)};
}

inline std::uint64_t weight(long x) { return std::uint64_t(x); }
inline std::uint64_t weight(double x) { return std::uint64_t(x * 8); }
inline std::uint64_t weight(const std::string &s) { return s.size() * 131 + (s.empty() ? 0 : s[0]); }
inline std::uint64_t weight(const std::vector<int> &v) {
	return std::accumulate(v.begin(), v.end(), std::uint64_t(v.size()));
}
inline std::uint64_t weight(const std::pair<int, std::string> &p) { return p.first + weight(p.second); }

// Maps, hash maps, sets and sorting over one key/value instantiation.
template <typename K, typename V> std::uint64_t churn(int n, int seed) {
	std::map<K, std::vector<V>> m;
	std::unordered_map<std::string, V> u;
	std::set<K> keys;
	for (int i = 0; i < n; i++) {
		int x = (i * 7919 + seed) % (n / 3 + 1);
		m[make<K>(x)].push_back(make<V>(i));
		u[make<std::string>(i + seed)] = make<V>(x);
		keys.insert(make<K>(i % 97));
		if (i % 5 == 0)
			m.erase(make<K>((i * 31) % (n / 3 + 1)));
	}
	std::vector<std::pair<K, V>> flat;
	for (auto &kv : m)
		for (auto &v : kv.second)
			flat.emplace_back(kv.first, v);
	std::stable_sort(flat.begin(), flat.end(),
			 [](auto &a, auto &b) { return weight(a.second) < weight(b.second); });
	std::uint64_t s = keys.size();
	for (auto &p : flat)
		s = s * 1000003 + weight(p.first) + weight(p.second);
	for (auto &kv : u)
		s += weight(kv.second);
	return s;
}

inline std::uint64_t regex_work(int seed) {
	std::ostringstream os;
	for (int i = 0; i < 2000; i++)
		os << "item" << (i * seed) % 1000 << "=" << make<std::string>(i) << ";";
	std::string text = os.str();
	std::regex re("item([0-9]+)=s([0-9]+)(x*);");
	std::uint64_t s = 0;
	for (auto it = std::sregex_iterator(text.begin(), text.end(), re); it != std::sregex_iterator(); ++it)
		s += std::stoul((*it)[1]) + std::stoul((*it)[2]) * 3 + (*it)[3].length();
	return s + std::regex_replace(text, std::regex("x+"), "y").size();
}

template <typename... Ts> std::uint64_t tuple_work(int seed) {
	Tup<Ts...> t;
	int k = seed;
	std::uint64_t s = 0;
	t.each([&](auto &v) { v = make<std::decay_t<decltype(v)>>(k++); });
	t.each([&](auto &v) { s = s * 31 + weight(v); });
	return s;
}

// A chain of std::function objects, each capturing a shared_ptr.
inline std::uint64_t function_work(int n) {
	std::vector<std::function<std::uint64_t(std::uint64_t)>> fs;
	for (int i = 0; i < n; i++) {
		auto p = std::make_shared<std::vector<int>>(i % 50, i);
		fs.emplace_back([p, i](std::uint64_t x) { return x * 3 + p->size() + i; });
	}
	std::uint64_t x = 1;
	for (auto &f : fs)
		x = f(x) % 1000000007;
	return x;
}

} // namespace gen
EOF

objs=""
decls=""
calls=""
for i in $(seq 1 "$units"); do
	n=$((width + 3 * i))
	cat >"tu$i.cpp" <<EOF
#include "common.hpp"
using namespace gen;
std::uint64_t unit$i() {
	std::uint64_t s = Fib<$((50 + i))>::value % 1000003;
	s = s * 7 + visit_all<$((i * 100))>(std::make_integer_sequence<int, $n>{});
	s = s * 7 + churn<long, std::string>($((3000 + 100 * i)), $i);
	s = s * 7 + churn<std::string, double>($((3000 + 50 * i)), $i);
	s = s * 7 + churn<std::string, std::vector<int>>(2000, $i);
	s = s * 7 + churn<long, std::pair<int, std::string>>(2500, $i);
	s = s * 7 + regex_work($i);
	s = s * 7 + tuple_work<long, double, std::string, std::vector<int>, long, std::string>($i);
	s = s * 7 + function_work($((500 * i)));
	return s;
}
EOF
	objs="$objs tu$i.o"
	decls="${decls}std::uint64_t unit$i();
"
	calls="${calls}	r = unit$i(); total = total * 31 + r; std::printf(\"unit$i %llu\\n\", (unsigned long long)r);
"
done
cat >main.cpp <<EOF
#include <cstdint>
#include <cstdio>
$decls
int main() {
	std::uint64_t total = 0, r;
$calls	std::printf("total %llu\\n", (unsigned long long)total);
	return 0;
}
EOF

cat >Makefile <<EOF
CXX = g++
OPT = -O2
LTO = -flto
LTOLINK = -flto=2
CXXFLAGS = -std=c++17 \$(OPT) \$(LTO) -Wall -Wextra -Werror
OBJS =$objs main.o

app: \$(OBJS)
	\$(CXX) \$(CXXFLAGS) \$(LTOLINK) -frandom-seed=app -o \$@ \$(OBJS)

%.o: %.cpp common.hpp
	\$(CXX) \$(CXXFLAGS) -frandom-seed=\$< -c \$< -o \$@

clean:
	rm -f app \$(OBJS)
EOF

make -s -j2
./app
echo "lto-app $(md5sum <app | cut -c1-32)"
# A second build of the same sources without LTO.
make -s clean
make -s -j2 OPT="$opt" LTO= LTOLINK=
echo "non-lto-output $(./app | md5sum | cut -c1-32)"
md5sum ./*.o app
echo "gcc-make done"
