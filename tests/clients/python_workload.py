"""Threaded and forking CPython workload for the real-client suite.

Run as PYTHONMALLOC=malloc /usr/bin/python3 python_workload.py so that every
object comes from malloc. Everything is generated from fixed seeds; stdout is
one line per phase with a digest of what the phase computed, identical from
run to run. Any wrong result, crash or hang shows up as a different stdout, a
non-zero exit or a timeout in run-client.

GCMALLOC_CLIENTS_FULL=1 makes every phase bigger.
"""

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import threading
import time
import zlib

FULL = os.environ.get("GCMALLOC_CLIENTS_FULL") == "1"
SCALE = 4 if FULL else 1


def digest(*parts):
    h = hashlib.sha256()
    for p in parts:
        if isinstance(p, str):
            p = p.encode()
        elif not isinstance(p, (bytes, bytearray, memoryview)):
            p = repr(p).encode()
        h.update(p)
        h.update(b"\0")
    return h.hexdigest()[:16]


WORDS = None


def words():
    global WORDS
    if WORDS is None:
        rng = random.Random(7)
        letters = "abcdefghijklmnopqrstuvwxyz"
        WORDS = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 12)))
                 for _ in range(5000)]
    return WORDS


def work_unit(seed, size):
    """A mix of what Python programs allocate: dicts, lists, strings, bytes,
    JSON, regular expressions, compression. Returns a digest."""
    rng = random.Random(seed)
    w = words()
    table = {}
    for i in range(size):
        key = "%s-%d" % (rng.choice(w), i % 997)
        bucket = table.setdefault(key, [])
        bucket.append(" ".join(rng.choice(w) for _ in range(rng.randint(1, 30))))
        if len(bucket) > 8:
            del bucket[: rng.randint(1, 8)]
    text = "\n".join("%s:%s" % (k, "|".join(v)) for k, v in sorted(table.items()))
    doc = json.loads(json.dumps({k: v for k, v in sorted(table.items())[: size // 4]}))
    found = len(re.findall(r"\b([a-z]{3,5})\s+\1\b", text))
    packed = zlib.compress(text.encode(), 6)
    assert zlib.decompress(packed) == text.encode()
    blob = bytearray()
    for i in range(size // 2):
        blob += (w[i % len(w)] * rng.randint(1, 40)).encode()
        if len(blob) > 1 << 20:
            blob = blob[len(blob) // 3:]
    return digest(text, sorted(doc), found, len(packed), blob)


def phase_threads():
    """Many short-lived threads and a pool, with cross-thread frees: results
    are built in worker threads and dropped by the main thread."""
    out = []
    for rnd in range(3 * SCALE):
        results = [None] * 8

        def worker(i):
            results[i] = work_unit(1000 * rnd + i, 3000)

        ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        out.append(digest(results))
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        futs = [pool.submit(work_unit, 50000 + i, 1500) for i in range(24 * SCALE)]
        out.append(digest([f.result() for f in futs]))
    # Producer/consumer: objects allocated in one thread, freed in another.
    import queue
    q = queue.Queue(maxsize=64)
    sink = []

    def producer(seed):
        rng = random.Random(seed)
        for i in range(4000 * SCALE):
            q.put(("x" * rng.randint(1, 3000), list(range(rng.randint(0, 50)))))
        q.put(None)

    def consumer():
        total = 0
        done = 0
        while done < 2:
            item = q.get()
            if item is None:
                done += 1
                continue
            total += len(item[0]) + sum(item[1])
        sink.append(total)

    ts = [threading.Thread(target=producer, args=(s,)) for s in (1, 2)]
    ts.append(threading.Thread(target=consumer))
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.append(str(sink[0]))
    return digest(out)


def churn(stop, seed):
    """Background allocation while the main thread forks."""
    rng = random.Random(seed)
    keep = []
    while not stop.is_set():
        keep.append(bytearray(rng.randint(1, 200000)))
        keep.append({i: str(i) * 3 for i in range(rng.randint(0, 300))})
        if len(keep) > 200:
            del keep[: rng.randint(50, 200)]


def child_work(seed):
    """What a forked child does: allocate, start threads, fork again."""
    results = [None] * 3

    def worker(i):
        results[i] = work_unit(seed * 10 + i, 800)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.write(w, work_unit(seed * 10 + 7, 500).encode())
        os._exit(0)
    os.close(w)
    grand = read_all(r)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise RuntimeError("grandchild failed")
    return digest(results, grand)


def read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(fd)
    return b"".join(chunks).decode()


def phase_fork():
    """fork() while other threads are allocating; each child allocates,
    starts threads and forks a grandchild."""
    stop = threading.Event()
    bg = [threading.Thread(target=churn, args=(stop, s)) for s in (11, 12)]
    for t in bg:
        t.start()
    out = []
    try:
        for i in range(12 * SCALE):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    os.close(r)
                    os.write(w, child_work(i).encode())
                except BaseException as e:  # report and exit, never return
                    os.write(2, ("child %d: %r\n" % (i, e)).encode())
                    code = 1
                os._exit(code)
            os.close(w)
            res = read_all(r)
            _, status = os.waitpid(pid, 0)
            out.append((res, os.waitstatus_to_exitcode(status)))
            time.sleep(0.01)
    finally:
        stop.set()
        for t in bg:
            t.join()
    bad = [i for i, (_, code) in enumerate(out) if code != 0]
    if bad:
        raise SystemExit("forked children failed: %r" % bad)
    return digest(out)


def pool_task(seed):
    return work_unit(seed, 1200)


def phase_pool():
    """multiprocessing with the fork start method, and fork+exec children."""
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(2) as pool:
        res = pool.map(pool_task, range(200, 200 + 16 * SCALE), chunksize=2)
    code = ("import hashlib,sys;"
            "d={str(i):[i]*(i%50) for i in range(200000)};"
            "print(hashlib.sha256(repr(sorted(d.items())[:1000]).encode()).hexdigest()[:16])")
    execd = []
    for _ in range(3):
        p = subprocess.run([sys.executable, "-c", code], capture_output=True,
                           text=True, check=True)
        execd.append(p.stdout.strip())
    return digest(res, execd)


def phase_big():
    """Large blocks: growth by realloc, big joins, slicing, deletion."""
    rng = random.Random(99)
    buf = bytearray()
    for i in range(60000 * SCALE):
        buf += bytes([i & 0xFF]) * rng.randint(1, 600)
    parts = [bytes(buf[i:i + 1000003]) for i in range(0, len(buf), 1000003)]
    joined = b"".join(reversed(parts))
    s = "".join(chr(65 + (i % 26)) for i in range(500000 * SCALE))
    s2 = s.replace("ABC", "abcabc").upper().lower()
    lists = [list(range(n)) for n in (10, 1000, 100000, 1000000 * SCALE)]
    for lst in lists:
        lst.extend(lst)
        lst.reverse()
    d = hashlib.md5(buf).hexdigest(), hashlib.md5(joined).hexdigest(), len(s2), hashlib.md5(s2.encode()).hexdigest()
    return digest(d, [sum(lst) for lst in lists])


def phase_calloc():
    """Zeroed blocks (bytes(n) is calloc) of many sizes, on memory that was
    just filled and freed: every byte must read zero."""
    rng = random.Random(5)
    blocks = 0
    nonzero = 0
    for rnd in range(20 * SCALE):
        sizes = [rng.choice((rng.randint(1, 4096), rng.randint(4096, 1 << 20),
                             rng.randint(1 << 20, 8 << 20))) for _ in range(40)]
        dirty = [b"\xab" * n for n in sizes]
        del dirty
        zeros = [bytes(n) for n in sizes]
        blocks += len(zeros)
        nonzero += sum(len(z) - z.count(0) for z in zeros)
    return "%d nonzero bytes in %d blocks" % (nonzero, blocks)


def main():
    phases = [("threads", phase_threads), ("fork", phase_fork),
              ("pool", phase_pool), ("big", phase_big), ("calloc", phase_calloc)]
    for name, fn in phases:
        print("%s %s" % (name, fn()), flush=True)
    print("python-workload done")


if __name__ == "__main__":
    main()
