"""SIGKILL during background saves: the run stays exactly as a killed CLI save leaves it
(every listed checkpoint complete and verified; at worst a temp the next save sweeps)."""

import json
import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import ckpt
from conftest import PY, need

CHILD = textwrap.dedent("""
    import sys, ckpt, torch
    run = ckpt.Run(sys.argv[1], metric_name="top1", keep_last=3)
    start = int(sys.argv[2])
    w = torch.zeros(int(sys.argv[3]))
    for e in range(start, start + 10_000):
        w.fill_(float(e))
        run.save({"w": w, "epoch": e}, epoch=e, metric=float(e), blocking=False)
        print(f"staged {e}", flush=True)
""")


def wait_for(cond, what, deadline_s=60.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.002)
    raise AssertionError(f"timed out waiting for {what}")


def temp_sizes(run_dir):
    out = []
    for p in Path(run_dir).glob(".ckpt-tmp-*"):
        try:
            out.append(p.stat().st_size)
        except FileNotFoundError:
            pass
    return out


def test_sigkill_during_background_saves_leaves_a_valid_run(tmp_path, cli):
    torch = need("torch")
    run_dir = tmp_path / "run"
    n = 1_500_000  # 6 MB per checkpoint
    # Kill points: as soon as a save is staged; while its temp is being written (a few
    # bytes, half written); right after a checkpoint file of a new epoch appears (the
    # commit: manifest, aliases, retention).
    triggers = [
        ("staged", lambda p, e: True),
        ("temp started", lambda p, e: any(s > 0 for s in temp_sizes(run_dir))),
        ("temp half written", lambda p, e: any(s > 3_000_000 for s in temp_sizes(run_dir))),
        ("new checkpoint file", lambda p, e: (run_dir / f"checkpoint-{e}.pth.tar").exists()),
        ("staged", lambda p, e: True),
        ("temp started", lambda p, e: any(s > 0 for s in temp_sizes(run_dir))),
    ]
    ckpt.Run(run_dir, metric_name="top1").save({"w": torch.zeros(n), "epoch": 0}, epoch=0, metric=0.0)
    start = 1
    kills = []
    for name, trig in triggers:
        p = subprocess.Popen([PY, "-c", CHILD, str(run_dir), str(start), str(n)],
                             stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            assert line.startswith("staged"), line
            epoch = int(line.split()[1])
            wait_for(lambda: trig(p, epoch), name)
            os.kill(p.pid, signal.SIGKILL)
        finally:
            p.kill()
            p.wait(30)
        kills.append(name)
        ls = cli.json("ls", run_dir)
        assert all(c["state"] == "complete" for c in ls["checkpoints"]), (name, ls["checkpoints"])
        v = cli.json("verify", run_dir)
        assert v["status"] == "ok", (name, v)
        for c in ls["checkpoints"]:
            back = torch.load(run_dir / c["name"], weights_only=True)
            assert back["epoch"] == c["epoch"] and bool((back["w"] == c["epoch"]).all()), (name, c["name"])
        if ls["last"] is not None:
            last = torch.load(run_dir / "last.pth.tar", weights_only=True)
            assert last["epoch"] == ls["last"]["epoch"]
        start = max([c["epoch"] for c in ls["checkpoints"]], default=0) + 1
    assert len(kills) == len(triggers)
    # The next save sweeps the temps the killed writers left.
    ckpt.Run(run_dir).save(b"after", epoch=start)
    assert list(run_dir.glob(".ckpt-tmp-*")) == []
    assert cli.json("verify", run_dir)["status"] == "ok"
