#!/usr/bin/env python3
"""The timm CheckpointSaver way of saving, as the baseline for benches/engine.rs.

Mirrors timm.utils.CheckpointSaver's file dance without torch: write the payload to a
fixed `tmp.pth.tar`, os.replace it onto `checkpoint-<epoch>.pth.tar`, then unlink and
os.link `model_best.pth.tar` and `last.pth.tar` to it. No fsync anywhere, so the data
may still be in the page cache when this returns (that is the point of the comparison).

Usage: timm_saver.py DIR BYTES EPOCH
Prints one line: `seconds=<wall time of the save, excluding interpreter start-up>`.
"""

import os
import sys
import time

CHUNK = 4 << 20


def duplicate(src, dst):
    """timm's _duplicate: replace dst by a hardlink of src (copy when links fail)."""
    if os.path.exists(dst):
        os.unlink(dst)
    try:
        os.link(src, dst)
    except OSError:
        import shutil

        shutil.copyfile(src, dst)


def main():
    run_dir, size, epoch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    chunk = os.urandom(min(CHUNK, max(size, 1)))
    ext = ".pth.tar"
    tmp = os.path.join(run_dir, "tmp" + ext)
    final = os.path.join(run_dir, "checkpoint-%d%s" % (epoch, ext))
    start = time.perf_counter()
    with open(tmp, "wb") as f:
        left = size
        while left > 0:
            n = min(left, len(chunk))
            f.write(chunk[:n] if n < len(chunk) else chunk)
            left -= n
    os.replace(tmp, final)
    duplicate(final, os.path.join(run_dir, "model_best" + ext))
    duplicate(final, os.path.join(run_dir, "last" + ext))
    print("seconds=%.6f" % (time.perf_counter() - start))


if __name__ == "__main__":
    main()
