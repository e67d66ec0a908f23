"""Dataset content hashing: the reconciler's hasher against `sha256sum` on the same file,
cold, then with the file unchanged (the second run must not read it).

    python bench/hash_bench.py [--megabytes 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from reconciler.data.hashing import ContentHasher


def generate(path: Path, megabytes: int) -> None:
    row = b"".join(f"{i * 0.37:.4f},{i % 97},{(i * 7) % 3}\n".encode() for i in range(4096))
    target = megabytes * 1024 * 1024
    with path.open("wb") as fh:
        fh.write(b"a,b,y\n")
        written = 0
        while written < target:
            fh.write(row)
            written += len(row)


def drop_cache(path: Path) -> None:
    """Ask the kernel to forget the file's pages, so 'cold' means read from disk when allowed."""
    try:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    except (AttributeError, OSError):
        pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--megabytes", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "big.csv"
        generate(data, args.megabytes)
        size = data.stat().st_size
        sha, cold, warm = [], [], []
        for i in range(args.repeat):
            drop_cache(data)
            start = time.perf_counter()
            subprocess.run(["sha256sum", str(data)], check=True, capture_output=True)
            sha.append(time.perf_counter() - start)
            drop_cache(data)
            cache = root / f"cache-{i}.json"
            hasher = ContentHasher(root, cache)
            start = time.perf_counter()
            hasher.file_hash(data)
            cold.append(time.perf_counter() - start)
            hasher.save()
            start = time.perf_counter()
            ContentHasher(root, cache).file_hash(data)  # a new process would do exactly this
            warm.append(time.perf_counter() - start)
    mb = size / 1024 / 1024
    s, c, w = statistics.median(sha), statistics.median(cold), statistics.median(warm)
    print(f"# hashing benchmark ({mb:.0f} MB CSV, median of {args.repeat})")
    print(f"{'work':<44} {'seconds':>9} {'MB/s':>9}")
    print(f"{'sha256sum':<44} {s:>9.3f} {mb / s:>9.0f}")
    print(f"{'reconciler, cold':<44} {c:>9.3f} {mb / c:>9.0f}")
    print(f"{'reconciler, unchanged file (cache hit)':<44} {w:>9.4f}")
    print(f"cold throughput vs sha256sum: {s / c:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
