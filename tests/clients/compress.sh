#!/bin/bash
# Compression client of the real-program suite: tens of MB of generated
# text and pseudo-random data, archived with tar and sent through xz -T2 and
# zstd -T2 (worker threads with big per-thread buffers, blocks handed between
# threads) and back. Every round trip must give back the original bytes, and
# the archives themselves are reproducible (fixed mtime, owner and order;
# xz and zstd give the same output for the same thread count), so stdout is
# the same on every run.
#
# GCMALLOC_CLIENTS_FULL=1: about four times the data.
set -euo pipefail

# Compression levels: xz -2 has 6 MiB blocks and zstd -12 --long=27 a 128 MiB
# window, so both threads get work on a few tens of MB.
scale=1 xz_level=-2 xz_tar_level=-1 zstd_tar_level=-9
if [ "${GCMALLOC_CLIENTS_FULL:-0}" = 1 ]; then
	scale=4 xz_level=-3 xz_tar_level=-6 zstd_tar_level=-19
fi

# data/: word text, pseudo-random bytes, a mix of both, and a tree of small
# files.
/usr/bin/python3 - "$scale" <<'EOF'
import os
import random
import sys

scale = int(sys.argv[1])
rng = random.Random(1234)
words = ["".join(rng.choice("etaoinshrdlucmfwypvbgkjqxz") for _ in range(rng.randint(1, 11)))
         for _ in range(20000)]
os.makedirs("data/tree", exist_ok=True)
with open("data/text.txt", "w") as f:
    size = 0
    while size < 10 * scale << 20:
        line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 20))) + "\n"
        f.write(line)
        size += len(line)
with open("data/random.bin", "wb") as f:
    f.write(rng.randbytes(2 * scale << 20))
with open("data/mixed.bin", "wb") as f:
    for i in range(2000 * scale):
        f.write(rng.randbytes(rng.randint(0, 2048)))
        f.write((rng.choice(words) * rng.randint(1, 200)).encode())
for i in range(1000 * scale):
    d = "data/tree/d%02d" % (i % 37)
    os.makedirs(d, exist_ok=True)
    with open("%s/f%04d" % (d, i), "wb") as f:
        f.write(" ".join(rng.choice(words) for _ in range(rng.randint(0, 2000))).encode())
EOF

digest() { md5sum | cut -c1-32; }
# tree_digest DIR — one digest over every file's path and contents.
tree_digest() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum | digest); }

orig=$(tree_digest data)
echo "data $orig $(du -sb data | cut -f1) bytes"

tar_opts=(--sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu)
tar -cf data.tar "${tar_opts[@]}" data
tar_md5=$(digest <data.tar)
echo "tar $tar_md5"

# check WHAT EXPECTED ACTUAL
check() {
	if [ "$2" != "$3" ]; then
		echo "$1: round trip gave $3, expected $2" >&2
		exit 1
	fi
	echo "$1 ok"
}

xz -T2 "$xz_level" -k -q data.tar
echo "xz $(digest <data.tar.xz)"
xz -t data.tar.xz
check xz-roundtrip "$tar_md5" "$(xz -T2 -d -c data.tar.xz | digest)"

zstd -q -T2 -12 --long=27 data.tar -o data.tar.zst
echo "zstd $(digest <data.tar.zst)"
check zstd-roundtrip "$tar_md5" "$(zstd -q -d --long=27 -c data.tar.zst | digest)"

# tar driving the compressors through pipes, and extraction.
tar -cf data2.tar.xz -I "xz -T2 $xz_tar_level" "${tar_opts[@]}" data
mkdir out-xz
tar -xf data2.tar.xz -I 'xz -T2' -C out-xz
check tar-xz-extract "$orig" "$(tree_digest out-xz/data)"

tar -cf data2.tar.zst -I "zstd -T2 $zstd_tar_level" "${tar_opts[@]}" data
mkdir out-zst
tar -xf data2.tar.zst -I zstd -C out-zst
check tar-zstd-extract "$orig" "$(tree_digest out-zst/data)"

# Streams that go through pipes at both ends.
check xz-pipe "$tar_md5" "$(xz -T2 -1 -c <data.tar | xz -T2 -d -c | digest)"
check zstd-pipe "$tar_md5" "$(zstd -q -T2 -3 -c <data.tar | zstd -q -d -c | digest)"
echo "compress done"
