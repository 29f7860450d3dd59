# scripts/lib.sh — helpers shared by scripts/test, scripts/bench and
# scripts/gcmalloc-run. Sourced, not executed.

GCM_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the build, the test suites and the benchmarks need.
# Build: compiler, meson, Criterion. Integration: the real programs run under
# the preload. Benchmarks: the allocators compared against, and plotting.
GCM_PACKAGES_BUILD="gcc g++ make meson ninja-build pkg-config libcriterion-dev binutils"
GCM_PACKAGES_TEST="python3 libpython3.11-testsuite perl git sqlite3 xz-utils tar zstd procps"
GCM_PACKAGES_BENCH="libjemalloc2 libjemalloc-dev libmimalloc2.0 libgc-dev python3-matplotlib"

gcm_log() { printf 'gcmalloc: %s\n' "$*" >&2; }

# gcm_install_packages PKG... — installs whatever is missing with apt-get.
# Needs root when something is missing; does nothing otherwise.
gcm_install_packages() {
	local missing=()
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		gcm_log "missing packages: ${missing[*]}; run as root or install them"
		return 1
	fi
	gcm_log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null &&
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# gcm_build DIR [meson options...] — configures DIR once, then builds it.
gcm_build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$GCM_ROOT" "$@" >/dev/null
	fi
	meson compile -C "$dir" >/dev/null
}
