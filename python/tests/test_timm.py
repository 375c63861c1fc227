"""ckpt.timm.CheckpointSaver with the real timm and torch (CPU, tiny models)."""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
from pathlib import Path

import pytest
import torch

timm = pytest.importorskip("timm")
from timm.utils import CheckpointSaver as TimmSaver  # noqa: E402

import ckpt  # noqa: E402
from ckpt.timm import CheckpointSaver  # noqa: E402

from conftest import temps, wait_for  # noqa: E402


def tiny(seed=0, width=64):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt


def step(model, opt):
    x = torch.randn(8, model[0].in_features)
    loss = model(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def args_ns(**kw):
    return argparse.Namespace(model="tiny_mlp", eval_metric="top1", **kw)


# ---- the seed's race: two savers, one directory ------------------------------------

RACE_CHILD = r"""
import json, os, sys, time, argparse
import torch
import timm.utils
import ckpt.timm
base, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(seed)
model = torch.nn.Sequential(torch.nn.Linear(512, 512), torch.nn.Linear(512, 4))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
for kind, cls in (("timm", timm.utils.CheckpointSaver), ("ckpt", ckpt.timm.CheckpointSaver)):
    out = os.path.join(base, kind)
    saver = cls(model=model, optimizer=opt, args=argparse.Namespace(model="mlp", eval_metric="top1"),
                checkpoint_dir=out, recovery_dir=out, max_history=3)
    open(os.path.join(base, f"ready-{kind}.{seed}"), "w").close()
    while not os.path.exists(os.path.join(base, f"go-{kind}")):  # both savers start together
        time.sleep(0.001)
    failures, first = 0, None
    for epoch in range(n):
        try:
            saver.save_checkpoint(epoch, metric=float((epoch * 7 + seed) % 10))
        except Exception as e:
            failures += 1
            first = first or f"{type(e).__name__}: {e}"
    print(json.dumps({"kind": kind, "saves": n, "failures": failures, "first_error": first}), flush=True)
"""


def race(base: Path, n: int):
    """Two processes, each a timm saver then a ckpt saver on one shared directory per
    kind; both savers of a kind start together. Returns {kind: [result per saver]}."""
    import subprocess, sys
    for kind in ("timm", "ckpt"):
        (base / kind).mkdir()
    procs = [subprocess.Popen([sys.executable, "-c", RACE_CHILD, str(base), str(n), str(s)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for s in (1, 2)]
    for kind in ("timm", "ckpt"):
        wait_for(lambda: all((base / f"ready-{kind}.{s}").exists() for s in (1, 2))
                 or any(p.poll() is not None for p in procs), timeout=240, what=f"both {kind} savers ready")
        (base / f"go-{kind}").touch()
    out = {"timm": [], "ckpt": []}
    for p in procs:
        so, se = p.communicate(timeout=300)
        assert p.returncode == 0, se
        for line in so.strip().splitlines():
            r = json.loads(line)
            out[r["kind"]].append(r)
    return out


def test_two_savers_in_one_directory_never_fail(tmp_path, cli):
    n = 12
    res = race(tmp_path, n)
    base = res["timm"]
    print(f"timm.utils.CheckpointSaver, 2 savers x {n} saves into one dir: failures per saver "
          f"{[r['failures'] for r in base]} (first: {[r['first_error'] for r in base]})")
    ours = res["ckpt"]
    print(f"ckpt.timm.CheckpointSaver, 2 savers x {n} saves into one dir: failures per saver "
          f"{[r['failures'] for r in ours]}")
    assert [r["failures"] for r in ours] == [0, 0], ours
    run = tmp_path / "ckpt"
    assert temps(run) == []
    v = ckpt.Run(str(run)).verify()
    assert v["damaged"] == [], v
    p = cli("verify", run, check=False)
    print(p.stdout)
    assert p.returncode == 0, p.stdout + p.stderr
    ls = ckpt.Run(str(run)).ls()
    assert ls["last"]["epoch"] == n - 1
    assert len(ls["checkpoints"]) <= 3 + 2  # max_history, plus best and last


# ---- timm's own resume reads our files ---------------------------------------------

def test_timm_resume_checkpoint_resumes_at_the_next_epoch(tmp_path):
    model, opt = tiny()
    saver = CheckpointSaver(model=model, optimizer=opt, args=args_ns(), checkpoint_dir=str(tmp_path),
                            recovery_dir=str(tmp_path), max_history=2)
    got = []
    for epoch, metric in enumerate([50.0, 60.0, 55.0, 58.0]):
        step(model, opt)
        got.append(saver.save_checkpoint(epoch, metric=metric))
    assert got == [(50.0, 0), (60.0, 1), (60.0, 1), (60.0, 1)]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert {"last.pth.tar", "model_best.pth.tar", "checkpoint-1.pth.tar", "checkpoint-3.pth.tar"} <= set(names)
    assert "checkpoint-0.pth.tar" not in names  # max_history=2: 60 and 58 stay

    fresh, fresh_opt = tiny(seed=1)
    resume_epoch = timm.models.resume_checkpoint(fresh, str(tmp_path / "last.pth.tar"), optimizer=fresh_opt)
    assert resume_epoch == 4
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    best = torch.load(tmp_path / "model_best.pth.tar", weights_only=False)
    assert best["epoch"] == 1 and best["metric"] == 60.0

    # The same dict as timm's saver writes (keys, saver history), so timm's own saver
    # continues the ranking after a resume into this directory.
    theirs_dir = tmp_path / "theirs"
    theirs_dir.mkdir()
    m2, o2 = tiny()
    TimmSaver(model=m2, optimizer=o2, args=args_ns(), checkpoint_dir=str(theirs_dir)).save_checkpoint(0, 1.0)
    ours = torch.load(tmp_path / "last.pth.tar", weights_only=False)
    theirs = torch.load(theirs_dir / "last.pth.tar", weights_only=False)
    assert sorted(ours) == sorted(theirs)
    assert ours["saver"]["pending"] == (3, 58.0)
    assert ours["saver"]["best_epoch"] == 1
    resumed = TimmSaver(model=m2, optimizer=o2, args=args_ns(), checkpoint_dir=str(tmp_path), max_history=2)
    assert resumed.load_state_dict_from_checkpoint(str(tmp_path / "last.pth.tar"))
    assert (resumed.best_metric, resumed.best_epoch) == (60.0, 1)
    assert [os.path.basename(f) for f, _ in resumed.checkpoint_files] == [
        "checkpoint-1.pth.tar", "checkpoint-3.pth.tar"]


def test_async_save_returns_before_durable_and_wait_settles(tmp_path):
    model, opt = tiny()
    saver = CheckpointSaver(model=model, optimizer=opt, args=args_ns(), checkpoint_dir=str(tmp_path),
                            max_history=3, async_save=True)
    got = []
    for epoch, metric in enumerate([1.0, 3.0, 2.0]):
        step(model, opt)  # the model changes while the previous save may still be writing
        got.append(saver.save_checkpoint(epoch, metric=metric))
    expected = {k: v.clone() for k, v in model.state_dict().items()}
    saver.wait()
    assert got == [(1.0, 0), (3.0, 1), (3.0, 1)]
    ls = ckpt.Run(str(tmp_path)).ls()
    assert (ls["best"]["epoch"], ls["last"]["epoch"]) == (1, 2)
    last = torch.load(tmp_path / "last.pth.tar", weights_only=False)
    assert last["epoch"] == 2
    for k, v in expected.items():
        assert torch.equal(last["state_dict"][k], v), k
    assert ckpt.Run(str(tmp_path)).verify()["damaged"] == []


def test_recovery_saves_are_atomic_and_found(tmp_path):
    model, opt = tiny()
    saver = CheckpointSaver(model=model, optimizer=opt, checkpoint_dir=str(tmp_path), recovery_dir=str(tmp_path))
    for b in (10, 20, 30):
        saver.save_recovery(2, batch_idx=b)
    rec = sorted(p.name for p in tmp_path.glob("recovery-*"))
    assert rec == ["recovery-2-20.pth.tar", "recovery-2-30.pth.tar"]  # timm keeps the last two
    assert os.path.basename(saver.find_recovery()) == "recovery-2-20.pth.tar"
    assert torch.load(tmp_path / "recovery-2-30.pth.tar", weights_only=False)["epoch"] == 2
    assert temps(tmp_path) == []
    # train.py's order: recovery saves mid-epoch, then the epoch's checkpoint, same dir.
    assert saver.save_checkpoint(2, metric=1.0) == (1.0, 2)
    ls = ckpt.Run(str(tmp_path)).ls()
    assert ls["layout"] == "ckpt" and ls["last"]["epoch"] == 2


# ---- NaN never best ------------------------------------------------------------------

def test_nan_first_metric_never_becomes_best(tmp_path):
    metrics = [float("nan"), 0.5, 0.7, 0.6]
    theirs_dir = tmp_path / "theirs"
    theirs_dir.mkdir()
    m, o = tiny()
    timm_saver = TimmSaver(model=m, optimizer=o, checkpoint_dir=str(theirs_dir))
    timm_best = [timm_saver.save_checkpoint(e, metric=v)[1] for e, v in enumerate(metrics)]
    print(f"timm.utils.CheckpointSaver best epoch after each save: {timm_best}")

    ours_dir = tmp_path / "ours"
    ours_dir.mkdir()
    model, opt = tiny()
    saver = CheckpointSaver(model=model, optimizer=opt, checkpoint_dir=str(ours_dir))
    got = [saver.save_checkpoint(e, metric=v) for e, v in enumerate(metrics)]
    print(f"ckpt.timm.CheckpointSaver (best_metric, best_epoch) after each save: {got}")
    assert got == [(None, None), (0.5, 1), (0.7, 2), (0.7, 2)]
    ls = ckpt.Run(str(ours_dir)).ls()
    assert ls["best"]["epoch"] == 2
    assert torch.load(ours_dir / "model_best.pth.tar", weights_only=False)["epoch"] == 2
    nan_entry = [c for c in ls["checkpoints"] if c["epoch"] == 0]
    assert all(c["metric"] is None and "nan" in str(c.get("metric_raw", "")).lower() for c in nan_entry)


# ---- a full disk ----------------------------------------------------------------------

def saver_on_tmpfs(tmpfs, size, **kw):
    """(mount, run dir, saver) for ~1 MiB checkpoints on a real tmpfs of `size` bytes."""
    mnt = tmpfs(size)
    run = mnt / "exp"
    run.mkdir()
    torch.manual_seed(0)
    model = torch.nn.Linear(512, 512)  # ~1 MiB of weights per checkpoint
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    return mnt, run, CheckpointSaver(model=model, optimizer=opt, checkpoint_dir=str(run), max_history=10, **kw)


def test_full_disk_raises_no_space_before_writing(tmp_path, tmpfs):
    mnt, run, saver = saver_on_tmpfs(tmpfs, 4 << 20)
    saved, err = [], None
    for epoch in range(10):
        try:
            saver.save_checkpoint(epoch, metric=float(epoch))
            saved.append(epoch)
        except ckpt.NoSpaceError as e:
            err = e
            break
    assert err is not None, f"4 MiB held {len(saved)} checkpoints of 1 MiB?"
    msg = str(err)
    print(f"after {len(saved)} saves: {type(err).__name__}: {msg}")
    assert isinstance(err, OSError) and err.errno == errno.ENOSPC
    assert "bytes free" in msg and "needed" in msg and "ckpt prune" in msg, msg
    assert err.available < err.needed
    assert temps(run) == []
    assert torch.load(run / "last.pth.tar", weights_only=False)["epoch"] == saved[-1]
    assert ckpt.Run(str(run)).verify()["damaged"] == []


class _FillDisk:
    """Pickled inside the checkpoint dict (timm saves ``args``): when ``torch.save``
    reaches it, after the preflight passed and the temp was opened, another writer takes
    all but 64 KiB of the disk, so the save hits ENOSPC while its bytes stream in."""

    def __init__(self, path):
        self.path = path
        self.armed = False

    def __reduce__(self):
        if self.armed:
            self.armed = False
            st = os.statvfs(os.path.dirname(self.path))
            with open(self.path, "wb") as f:
                f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - (64 << 10)))
        return (str, ("fill-disk",))


def test_full_disk_mid_stream_raises_no_space_with_free_and_needed(tmp_path, tmpfs):
    fill = _FillDisk(None)
    mnt, run, saver = saver_on_tmpfs(tmpfs, 8 << 20, args=args_ns(fill=fill))
    fill.path = str(mnt / "other-job.bin")
    saver.save_checkpoint(0, metric=1.0)
    saver.save_checkpoint(1, metric=2.0)
    before = sorted(p.name for p in run.iterdir())
    fill.armed = True
    with pytest.raises(ckpt.NoSpaceError) as ei:
        saver.save_checkpoint(2, metric=3.0)
    err = ei.value
    msg = str(err)
    print(f"mid-stream: {type(err).__name__}: {msg}")
    assert not fill.armed, "the disk was not filled during the save"
    assert isinstance(err, OSError) and err.errno == errno.ENOSPC
    assert isinstance(err.available, int) and isinstance(err.needed, int), (err.available, err.needed)
    # What is free now (the other job left ~64 KiB) vs what this checkpoint needs (~1 MiB).
    assert err.available <= 128 << 10
    assert err.needed >= 1 << 20 and err.available < err.needed
    assert f"{err.available} bytes free" in msg and f"{err.needed} bytes needed" in msg, msg
    assert "ckpt prune" in msg, msg
    assert temps(run) == []
    assert sorted(p.name for p in run.iterdir()) == before
    assert torch.load(run / "last.pth.tar", weights_only=False)["epoch"] == 1
    assert ckpt.Run(str(run)).verify()["damaged"] == []
