#!/usr/bin/env python3
"""Stall of the training loop per checkpoint save: timm's CheckpointSaver vs ckpt.

    python python/bench/bench_save.py [--mb 500] [--saves 5] [--dir DIR]

A model + SGD (momentum) state of about --mb MB on CPU. Every contender saves into its
own run directory, with its history already full (each save evicts an old checkpoint),
`sync` is run before every save so the page cache holds no dirty data from the one
before, and the contenders take turns save by save so machine noise hits them alike
(the order rotates every round: no contender always follows the same one).
Printed: median (min-max) stall per contender and its ratio to timm's median from the
same run; for async saves also the time until `wait()` returns (durable). Peak RSS of
blocking vs async saves is measured in child processes (one per mode). The machine's
state is printed beside the figures: load average before and after, and the disk's
durable write speed (`dd bs=1M count=500 conv=fsync` into the same directory).

Measured, not asserted: run it on the machine you care about.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time


def make_state(mb, seed=0):
    import torch

    torch.manual_seed(seed)
    # Parameters + momentum buffers = mb: each Linear(w, w) holds w*w + w floats.
    width = 2048
    per_layer = (width * width + width) * 4 * 2  # params + momentum, bytes
    layers = max(1, round(mb * 1e6 / per_layer))
    model = torch.nn.Sequential(*[torch.nn.Linear(width, width) for _ in range(layers)])
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model(torch.randn(4, width)).sum().backward()
    opt.step()
    return model, opt


def state_of(model, opt, epoch, metric):
    # The dict timm's CheckpointSaver writes (minus its bookkeeping).
    return {"epoch": epoch, "arch": "sequential", "state_dict": model.state_dict(),
            "optimizer": opt.state_dict(), "version": 2, "metric": metric}


def fsync_path(p):
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(os.path.dirname(p), os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def contenders(model, opt, root, history):
    """name -> (save(epoch, metric) -> stall seconds, after() -> seconds until durable or None)."""
    import ckpt
    from timm.utils import CheckpointSaver as TimmSaver

    out = {}

    d = os.path.join(root, "timm")
    os.makedirs(d)
    timm_saver = TimmSaver(model, opt, checkpoint_dir=d, max_history=history)
    out["timm CheckpointSaver.save_checkpoint (not durable)"] = (
        lambda e, m: timm_saver.save_checkpoint(e, m), None)

    d2 = os.path.join(root, "timm-fsync")
    os.makedirs(d2)
    timm_fsync = TimmSaver(model, opt, checkpoint_dir=d2, max_history=history)

    def timm_plus_fsync(e, m):
        timm_fsync.save_checkpoint(e, m)
        fsync_path(os.path.join(d2, "last.pth.tar"))
    out["timm + fsync of last.pth.tar"] = (timm_plus_fsync, None)

    run = ckpt.Run(os.path.join(root, "ckpt-blocking"), metric_name="top1", keep_top=history)
    out["ckpt Run.save (blocking, durable)"] = (
        lambda e, m: run.save(state_of(model, opt, e, m), epoch=e, metric=m), None)

    try:
        from ckpt.timm import CheckpointSaver as CkptTimmSaver
    except ImportError as e:
        print(f"(ckpt.timm not available: {e}; its row is left out)")
    else:
        d4 = os.path.join(root, "ckpt-timm")
        os.makedirs(d4)
        ct = CkptTimmSaver(model, opt, checkpoint_dir=d4, max_history=history)
        out["ckpt.timm.CheckpointSaver (durable)"] = (lambda e, m: ct.save_checkpoint(e, m), None)

    arun = ckpt.Run(os.path.join(root, "ckpt-async"), metric_name="top1", keep_top=history)
    out["ckpt Run.save(blocking=False): stall"] = (
        lambda e, m: arun.save(state_of(model, opt, e, m), epoch=e, metric=m, blocking=False),
        arun.wait)
    return out


def timed_rounds(mb, saves, history, root):
    model, opt = make_state(mb)
    nbytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    nbytes += sum(t.numel() * t.element_size() for s in opt.state_dict()["state"].values()
                  for t in s.values() if hasattr(t, "numel"))
    cs = contenders(model, opt, root, history)
    stalls = {k: [] for k in cs}
    durable = {k: [] for k in cs}
    epoch = 0
    # Fill every history first (not timed), so each timed save evicts one.
    for _ in range(history + 1):
        epoch += 1
        for name, (save, after) in cs.items():
            save(epoch, float(epoch))
            if after:
                after()
    names = list(cs)
    for r in range(saves):
        epoch += 1
        for name in names[r % len(names):] + names[:r % len(names)]:
            save, after = cs[name]
            os.sync()
            t0 = time.perf_counter()
            save(epoch, float(epoch))
            t1 = time.perf_counter()
            stalls[name].append(t1 - t0)
            if after:
                after()
                durable[name].append(time.perf_counter() - t0)
    return nbytes, stalls, durable


def rss_child(mode, mb, saves, root):
    """(RSS before the saves, peak RSS during them) in MiB, of a child process that builds
    the state, drops its gradients, resets its peak (/proc/self/clear_refs) and saves
    `saves` times in `mode`."""
    code = f"""
import gc, sys
sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})
import bench_save as b, ckpt
def status(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1]) // 1024
model, opt = b.make_state({mb})
opt.zero_grad(set_to_none=True)
gc.collect()
with open('/proc/self/clear_refs', 'w') as f:
    f.write('5')  # reset the peak (VmHWM) to the current RSS
base = status('VmRSS')
run = ckpt.Run({os.path.join(root, 'rss-' + mode)!r}, metric_name='top1', keep_top=2)
for e in range(1, {saves} + 1):
    run.save(b.state_of(model, opt, e, float(e)), epoch=e, metric=float(e), blocking={mode == 'blocking'})
run.wait()
print(base, status('VmHWM'))
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    base, peak = map(int, p.stdout.split())
    return base, peak


def dd_fsync_mb_s(root, mb=500):
    """`dd if=/dev/zero bs=1M count=mb conv=fsync` into `root`: MB/s (dd's own figure)."""
    out = os.path.join(root, "dd.bin")
    p = subprocess.run(["dd", "if=/dev/zero", f"of={out}", "bs=1M", f"count={mb}", "conv=fsync"],
                       capture_output=True, text=True)
    os.unlink(out)
    # "524288000 bytes (524 MB, 500 MiB) copied, 4.35 s, 121 MB/s"
    line = [l for l in p.stderr.splitlines() if "copied" in l][-1]
    secs = float(line.split(",")[-2].split()[0])
    return (mb << 20) / secs / 1e6, line


def fmt_ms(xs):
    return f"{statistics.median(xs) * 1e3:.0f} ms ({min(xs) * 1e3:.0f}-{max(xs) * 1e3:.0f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=500, help="model + optimizer state size (MB)")
    ap.add_argument("--saves", type=int, default=7, help="timed saves per contender")
    ap.add_argument("--history", type=int, default=2, help="checkpoints kept (history full: one evicted per save)")
    ap.add_argument("--dir", default=None, help="where the run directories go (default: a temp dir under the cwd)")
    ap.add_argument("--json", action="store_true", help="also print the raw figures as JSON")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="bench-save-", dir=args.dir or os.getcwd())
    load_before = os.getloadavg()
    try:
        dd_mb_s, dd_line = dd_fsync_mb_s(root)
        nbytes, stalls, durable = timed_rounds(args.mb, args.saves, args.history, root)
        rss = {m: rss_child(m, args.mb, 3, root) for m in ("blocking", "async")}
    finally:
        subprocess.run(["rm", "-rf", root])
    load_after = os.getloadavg()
    print(f"\nload average (1, 5, 15 min): before {' '.join(f'{x:.2f}' for x in load_before)}, "
          f"after {' '.join(f'{x:.2f}' for x in load_after)}; {os.cpu_count()} CPUs")
    print(f"disk: dd bs=1M count=500 conv=fsync: {dd_line.strip()} ({dd_mb_s:.0f} MB/s)")
    timm = statistics.median(stalls["timm CheckpointSaver.save_checkpoint (not durable)"])
    print(f"state: {nbytes / 1e6:.0f} MB (model + SGD momentum), {args.saves} timed saves each, "
          f"history {args.history} (one evicted per save), sync before each save, order rotating")
    print(f"{'saver':<54} {'stall: median (min-max)':>26} {'vs timm':>8}")
    for name, xs in stalls.items():
        print(f"{name:<54} {fmt_ms(xs):>26} {statistics.median(xs) / timm:>7.2f}x")
        if durable[name]:
            label = "ckpt Run.save(blocking=False): until wait() returns"
            print(f"{label:<54} {fmt_ms(durable[name]):>26} {statistics.median(durable[name]) / timm:>7.2f}x")
    for mode in ("blocking", "async"):
        base, peak = rss[mode]
        print(f"peak RSS, 3 {mode} saves (child process): {peak} MiB = {base} MiB before saving "
              f"+ {peak - base} MiB for the saves")
    if args.json:
        print(json.dumps({"bytes": nbytes, "stalls": stalls, "durable": durable, "rss": rss,
                          "load_before": load_before, "load_after": load_after, "dd_fsync_mb_s": dd_mb_s}))


if __name__ == "__main__":
    main()
