#!/bin/bash
# git client of the real-program suite. Builds a deterministic history of a
# few hundred commits (branches, merges, renames, deletions, annotated tags)
# with git fast-import from generated data, then repacks it from scratch with
# two delta-search threads, checks it with fsck, clones it through the pack
# protocol and prints digests of what git shows. Commit ids depend only on
# the generated data and the fixed dates, so stdout is the same on every run;
# the pack files themselves are not compared (threaded delta search may pick
# different bases from run to run).
#
# GCMALLOC_CLIENTS_FULL=1: more commits, a wider delta window, gc --aggressive.
set -euo pipefail

if [ "${GCMALLOC_CLIENTS_FULL:-0}" = 1 ]; then
	commits=800 window=250 depth=50
else
	commits=400 window=100 depth=50
fi

export GIT_AUTHOR_NAME='A U Thor' GIT_AUTHOR_EMAIL=author@example.com
export GIT_COMMITTER_NAME='C O Mitter' GIT_COMMITTER_EMAIL=committer@example.com
export GIT_AUTHOR_DATE='1700000000 +0000' GIT_COMMITTER_DATE='1700000000 +0000'
export GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0
git config --global init.defaultBranch main
git config --global gc.auto 0
git config --global core.pager cat

# The fast-import stream: a main line of $commits commits editing ~150 source
# files, a topic branch every 40 commits merged back, a tag every 100.
/usr/bin/python3 - "$commits" >stream <<'EOF'
import random
import sys

n_commits = int(sys.argv[1])
rng = random.Random(20240601)
out = sys.stdout.buffer
vocab = ["alloc", "free", "span", "page", "heap", "lock", "cache", "sweep",
         "mark", "root", "weak", "final", "scav", "chunk", "arena", "bits",
         "size", "class", "count", "limit", "index", "state", "next", "prev"]


def line():
    k = rng.randrange(6)
    a, b, c = rng.choice(vocab), rng.choice(vocab), rng.choice(vocab)
    if k == 0:
        return "static int %s_%s(struct %s *p) {" % (a, b, c)
    if k == 1:
        return "\treturn p->%s + %d;" % (a, rng.randrange(1000))
    if k == 2:
        return "\t/* %s the %s before the %s */" % (a, b, c)
    if k == 3:
        return "\tif (%s_%s > %d)" % (a, b, rng.randrange(64))
    if k == 4:
        return "\t\t%s(%s, %s);" % (a, b, c)
    return "}"


def new_file():
    return [line() for _ in range(rng.randint(50, 1500))]


def edit(lines):
    lines = list(lines)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(3)
        pos = rng.randrange(len(lines) + 1)
        if op == 0 or len(lines) < 10:
            lines[pos:pos] = [line() for _ in range(rng.randint(1, 30))]
        elif op == 1:
            del lines[pos:pos + rng.randint(1, 10)]
        else:
            lines[pos:pos + 1] = [line()]
    return lines


def data(b):
    out.write(b"data %d\n" % len(b))
    out.write(b)
    out.write(b"\n")


def blob_cmds(changes):
    for path, lines in changes:
        if lines is None:
            out.write(b"D %s\n" % path.encode())
        else:
            out.write(b"M 100644 inline %s\n" % path.encode())
            data(("\n".join(lines) + "\n").encode())


mark = 0
when = 1700000000


def commit(ref, msg, parent, changes, merge=None):
    global mark, when
    mark += 1
    when += 3600
    out.write(b"commit %s\nmark :%d\n" % (ref.encode(), mark))
    out.write(b"author A U Thor <author@example.com> %d +0000\n" % when)
    out.write(b"committer C O Mitter <committer@example.com> %d +0000\n" % when)
    data(msg.encode())
    if parent:
        out.write(b"from :%d\n" % parent)
    if merge:
        out.write(b"merge :%d\n" % merge)
    blob_cmds(changes)
    out.write(b"\n")
    return mark


files = {}
for i in range(150):
    files["src/%s/%s_%d.c" % (rng.choice(vocab), rng.choice(vocab), i)] = new_file()
head = commit("refs/heads/main", "initial import\n", None, sorted(files.items()))
topic_files = {}
for n in range(1, n_commits):
    changes = []
    for path in rng.sample(sorted(files), rng.randint(2, 8)):
        files[path] = edit(files[path])
        changes.append((path, files[path]))
    r = rng.randrange(40)
    if r == 0 and len(files) > 40:
        victim = rng.choice(sorted(files))
        del files[victim]
        changes.append((victim, None))
    elif r == 1:
        old = rng.choice(sorted(files))
        new = "moved/%d/%s" % (n, old.rsplit("/", 1)[1])
        files[new] = files.pop(old)
        changes += [(old, None), (new, files[new])]
    elif r == 2:
        path = "src/new/file_%d.c" % n
        files[path] = new_file()
        changes.append((path, files[path]))
    msg = "change %d: %s %s\n\n%s\n" % (n, rng.choice(vocab), rng.choice(vocab),
                                      " ".join(rng.choice(vocab) for _ in range(rng.randint(5, 60))))
    head = commit("refs/heads/main", msg, head, changes)
    if n % 40 == 0:
        tip = head
        tchanges = []
        for k in range(5):
            path = "topic/t%d/part_%d.c" % (n, k % 3)
            topic_files[path] = edit(topic_files.get(path, [line()]))
            tip = commit("refs/heads/topic-%d" % n, "topic %d step %d\n" % (n, k), tip,
                         [(path, topic_files[path])])
            tchanges.append(path)
        merged = [(p, topic_files[p]) for p in sorted(set(tchanges))]
        head = commit("refs/heads/main", "merge topic-%d\n" % n, head, merged, merge=tip)
    if n % 100 == 0:
        when += 60
        out.write(b"tag v%d\nfrom :%d\n" % (n // 100, head))
        out.write(b"tagger C O Mitter <committer@example.com> %d +0000\n" % when)
        data(b"release %d\n" % (n // 100))
EOF

digest() { md5sum | cut -c1-32; }

git init -q repo
cd repo
git fast-import --quiet <../stream
git checkout -q -f main
echo "refs $(git for-each-ref | digest) $(git rev-list --all | wc -l) commits"
echo "head $(git rev-parse HEAD)"

git -c pack.threads=2 repack -q -adf --window="$window" --depth="$depth"
git fsck --full --strict --no-progress
echo "fsck ok"
echo "objects $(git rev-list --objects --all | digest)"
echo "log-p $(git log -p --stat -M -C --all --date=raw | digest)"
echo "graph $(git log --graph --oneline --all | digest)"
echo "grep $(git grep -c -e 'alloc' -e 'sweep' HEAD | digest)"
first=$(git rev-list --max-parents=0 HEAD)
echo "diff $(git diff --stat -M "$first" HEAD | digest)"
for f in $(git ls-files src | sed -n '1p;20p;40p;60p'); do
	git blame --line-porcelain -M -C "$f"
done >blame
echo "blame $(digest <blame)"
echo "archive $(git archive --format=tar HEAD | digest)"

# A clone through the pack protocol: upload-pack and pack-objects on one
# side, index-pack (threaded) on the other.
cd ..
git -c pack.threads=2 clone -q --no-local --mirror repo clone.git
git -C clone.git -c index.threads=2 fsck --full --strict --no-progress
echo "clone $(git -C clone.git rev-list --objects --all | digest)"

if [ "${GCMALLOC_CLIENTS_FULL:-0}" = 1 ]; then
	git -C repo -c pack.threads=2 gc -q --aggressive --prune=now
	git -C repo fsck --full --strict --no-progress
	echo "gc $(git -C repo rev-list --objects --all | digest)"
fi
echo "git done"
