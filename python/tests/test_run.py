"""ckpt.Run: saves of bytes, paths and torch objects; the other operations; typed errors."""

import errno
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ckpt
from conftest import PY, files, need, skip_or_fail, temps


def test_save_bytes_is_committed_and_verifies(tmp_path, cli):
    run = ckpt.Run(tmp_path / "run", metric_name="top1", mode="max")
    rep = run.save(b"payload-1", epoch=1, metric=1.5)
    assert isinstance(rep, ckpt.SaveReport)
    assert Path(rep.path).read_bytes() == b"payload-1"
    assert (rep.epoch, rep.bytes, rep.best, rep.replaced) == (1, 9, True, False)
    assert rep.hash.startswith("xxh3-128:")
    rep2 = run.save(bytearray(b"payload-2"), epoch=2, metric=1.0)
    assert rep2.best is False
    run.save(memoryview(b"payload-3"), epoch=3, metric=2.0, step=300, metrics={"loss": 0.5})
    assert (tmp_path / "run" / "last.pth.tar").read_bytes() == b"payload-3"
    assert (tmp_path / "run" / "model_best.pth.tar").read_bytes() == b"payload-3"
    assert cli.json("verify", tmp_path / "run")["status"] == "ok"
    ls = run.ls()
    assert [c["epoch"] for c in ls["checkpoints"]] == [1, 2, 3]
    assert ls["checkpoints"][2]["step"] == 300
    assert ls["checkpoints"][2]["metrics"] == {"loss": 0.5}
    assert ls["metric"] == {"name": "top1", "mode": "max"}


def test_ls_is_the_cli_json_document(tmp_path, cli):
    run = ckpt.Run(tmp_path / "run", metric_name="val_loss", keep_top=2)
    for e, m in [(1, 0.9), (2, 0.5), (3, float("nan")), (4, 0.7)]:
        run.save(b"x" * (100 + e), epoch=e, metric=m)
    mine = run.ls()
    theirs = cli.json("ls", tmp_path / "run")
    for d in (mine, theirs):  # free space moves between the two calls
        d["disk"].pop("available")
        d["disk"].pop("projected_checkpoints_until_full")
    assert mine == theirs
    assert mine["metric"]["mode"] == "min"
    names = [c["name"] for c in mine["checkpoints"]]
    assert "checkpoint-2.pth.tar" in names and "checkpoint-4.pth.tar" in names
    # saved_by is recorded for in-process saves too (this process).
    assert mine["checkpoints"][-1]["saved_by"]["pid"] == os.getpid()


def test_nan_metric_is_saved_and_never_best(tmp_path):
    run = ckpt.Run(tmp_path / "run", metric_name="top1")
    assert run.save(b"a", epoch=1, metric=float("nan")).best is False
    assert run.save(b"b", epoch=2, metric=3.0).best is True
    assert run.save(b"c", epoch=3, metric=math.inf).best is False
    c = run.ls()["checkpoints"]
    assert (c[0]["metric"], c[0]["metric_raw"]) == (None, "nan")
    assert run.ls()["best"]["epoch"] == 2


def test_torch_object_is_streamed_and_loads_back(tmp_path, cli):
    torch = need("torch")
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(8, 64)).sum().backward()
    opt.step()
    state = {"epoch": 3, "state_dict": model.state_dict(), "optimizer": opt.state_dict(), "big": torch.randn(300_000)}
    run = ckpt.Run(tmp_path / "run")
    rep = run.save(state, epoch=3)
    back = torch.load(rep.path, weights_only=True)
    assert back["epoch"] == 3
    for k, v in state["state_dict"].items():
        assert torch.equal(back["state_dict"][k], v)
    assert torch.equal(back["big"], state["big"])
    assert back["optimizer"]["state"][0]["momentum_buffer"].shape == (32, 64)
    assert cli.json("verify", tmp_path / "run")["status"] == "ok"


def test_writer_is_a_non_seekable_file(tmp_path):
    seen = {}

    class Probe:
        def __reduce__(self):
            return (str, ("ok",))

    torch = need("torch")
    run = ckpt.Run(tmp_path / "run")

    def fill(w):
        seen["seekable"] = w.seekable()
        seen["writable"] = w.writable()
        assert w.tell() == 0
        torch.save({"p": Probe()}, w)
        seen["tell"] = w.tell()
        seen["writer"] = w

    out = json.loads(run._core.save_stream({"epoch": 1, "step": None, "metric": None, "metrics": {}, "size_hint": None}, fill))
    assert seen["seekable"] is False and seen["writable"] is True
    assert seen["tell"] == out["bytes"]
    assert seen["writer"].closed
    with pytest.raises(ValueError, match="closed"):
        seen["writer"].write(b"late")


def test_paths_are_copied_or_moved(tmp_path):
    src = tmp_path / "state.pt"
    src.write_bytes(b"file-bytes")
    run = ckpt.Run(tmp_path / "run")
    rep = run.save(src, epoch=1)
    assert src.exists() and Path(rep.path).read_bytes() == b"file-bytes"
    rep = run.save(str(src), epoch=2, move=True)
    assert not src.exists() and Path(rep.path).read_bytes() == b"file-bytes"
    with pytest.raises(TypeError, match="move=True needs a path"):
        run.save(b"x", epoch=3, move=True)


def test_bad_input_raises_and_leaves_the_run_unchanged(tmp_path):
    torch = need("torch")
    run = ckpt.Run(tmp_path / "run", metric_name="top1")
    run.save({"w": torch.ones(4)}, epoch=1, metric=1.0)
    before = files(tmp_path / "run")
    # An object torch cannot pickle: the exception is pickle's own, the temp is gone.
    with pytest.raises((AttributeError, TypeError, Exception)) as ei:
        run.save({"w": torch.ones(1000), "fn": lambda x: x}, epoch=2, metric=2.0)
    assert not isinstance(ei.value, ckpt.Error), ei.value
    assert "lambda" in str(ei.value) or "pickle" in str(ei.value).lower(), ei.value
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        run.save(b"x", epoch=-1)
    with pytest.raises(TypeError, match="epoch must be an int"):
        run.save(b"x", epoch=1.5)
    with pytest.raises(TypeError, match="metric must be a number"):
        run.save(b"x", epoch=2, metric="high")
    with pytest.raises(TypeError, match="metric must be a number"):
        run.save(b"x", epoch=2, metric=[1])
    with pytest.raises(TypeError, match=r"metrics\['loss'\] must be a number"):
        run.save(b"x", epoch=2, metrics={"loss": "low"})
    with pytest.raises(ckpt.IncompletePayloadError, match="empty"):
        run.save(b"", epoch=2)
    assert files(tmp_path / "run") == before
    assert temps(tmp_path / "run") == []


def test_unwritable_run_path_is_a_permission_error(tmp_path, tmpfs):
    ro = tmpfs(1 << 20, ro=True)
    run = ckpt.Run(ro / "run")
    with pytest.raises(ckpt.Error) as ei:
        run.save(b"x", epoch=1)
    assert isinstance(ei.value, OSError), type(ei.value)
    assert ei.value.errno == errno.EROFS, ei.value
    assert "read-only" in str(ei.value).lower()
    assert list(ro.iterdir()) == []
    # An existing run made read-only afterwards: NotWritableError before any byte is written.
    rw = tmpfs(1 << 20)
    ckpt.Run(rw / "run").save(b"x", epoch=1)
    subprocess.run(["mount", "-o", "remount,ro", str(rw)], check=True)
    with pytest.raises(ckpt.NotWritableError) as ei:
        ckpt.Run(rw / "run").save(b"y", epoch=2)
    assert isinstance(ei.value, PermissionError)
    assert "cannot write to" in str(ei.value)


def test_full_disk_is_a_no_space_error_with_numbers(tmp_path, tmpfs):
    small = tmpfs(512 << 10)
    run = ckpt.Run(small / "run", metric_name="top1", keep_last=5)
    for e in (1, 2, 3):
        run.save(bytes([e]) * (100 << 10), epoch=e, metric=float(e))
    with pytest.raises(ckpt.NoSpaceError) as ei:
        run.save(b"b" * (400 << 10), epoch=4)
    e = ei.value
    assert isinstance(e, OSError) and e.errno == errno.ENOSPC
    assert e.available < e.needed, (e.available, e.needed)
    assert f"{e.available} bytes free, {e.needed} bytes needed" in str(e)
    assert "--keep-top 1` would free 204800 bytes (2 checkpoints)" in str(e), str(e)
    assert temps(small / "run") == []
    assert [c["epoch"] for c in run.ls()["checkpoints"]] == [1, 2, 3]
    torch = need("torch")
    # A torch object: the preflight asks for its tensor bytes, before writing anything.
    with pytest.raises(ckpt.NoSpaceError) as ei:
        run.save({"w": torch.zeros(100_000)}, epoch=4)
    assert ei.value.needed > 400_000 and ei.value.available < ei.value.needed
    assert temps(small / "run") == []
    assert [c["epoch"] for c in run.ls()["checkpoints"]] == [1, 2, 3]


def test_lock_timeout_names_the_holder(tmp_path):
    run = ckpt.Run(tmp_path / "run", lock_timeout=0.3)
    run.save(b"x", epoch=1)
    holder = subprocess.Popen(
        [PY, "-c", textwrap.dedent(f"""
            import fcntl, os, sys, time
            fd = os.open({str(tmp_path / 'run' / '.ckpt' / 'lock')!r}, os.O_RDWR)
            fcntl.flock(fd, fcntl.LOCK_EX)
            print('held', flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ckpt.LockTimeoutError) as ei:
            run.save(b"y", epoch=2)
        assert isinstance(ei.value, TimeoutError)
        assert "is locked by pid" in str(ei.value)
    finally:
        holder.stdin.close()
        holder.wait(10)
    assert temps(tmp_path / "run") == []
    run.save(b"y", epoch=2)


def test_corrupt_manifest_is_a_corrupt_run_error(tmp_path):
    run = ckpt.Run(tmp_path / "run")
    run.save(b"x", epoch=1)
    (tmp_path / "run" / ".ckpt" / "manifest.json").write_text("{not json")
    with pytest.raises(ckpt.CorruptRunError, match="ckpt doctor"):
        run.save(b"y", epoch=2)
    with pytest.raises(ckpt.CorruptRunError):
        run.pin(1)


def test_missing_run_and_unknown_checkpoint(tmp_path):
    with pytest.raises(ckpt.NoRunError) as ei:
        ckpt.Run(tmp_path / "nothing").ls()
    assert isinstance(ei.value, FileNotFoundError)
    run = ckpt.Run(tmp_path / "run")
    run.save(b"x", epoch=1)
    with pytest.raises(ckpt.UnknownCheckpointError, match="no checkpoint 7"):
        run.promote(7)
    with pytest.raises(TypeError):
        run.pin(True)


def test_promote_release_pin_prune_restore_verify(tmp_path, cli):
    run = ckpt.Run(tmp_path / "run", metric_name="top1")
    for e in range(1, 6):
        run.save(f"epoch-{e}".encode(), epoch=e, metric=float(e))
    rep = run.promote(2)
    assert rep["target"] == "checkpoint-2.pth.tar" and rep["previous"] == "checkpoint-5.pth.tar"
    run.save(b"epoch-6", epoch=6, metric=99.0)
    assert run.ls()["best"]["epoch"] == 2 and run.ls()["best"]["held"] is True
    assert run.release() is True and run.release() is False
    assert run.pin(3) is True and run.pin(3) is False
    plan = run.prune(keep_top=1, dry_run=True)
    assert plan["dry_run"] is True and plan["result"] is None
    victims = sorted(v["epoch"] for v in plan["plan"]["victims"])
    assert 3 not in victims and 2 not in victims  # pinned (3) and pinned by promote (2)
    done = run.prune(keep_top=1)
    assert sorted(done["result"]["removed"]) == sorted(v["name"] for v in plan["plan"]["victims"])
    assert run.unpin(3) is True
    r = run.restore(3)
    assert r["target"] == "checkpoint-3.pth.tar" and "checkpoint-6.pth.tar" in r["newer"]
    assert (tmp_path / "run" / "last.pth.tar").read_bytes() == b"epoch-3"
    out = tmp_path / "exported.pth.tar"
    run.restore(3, to=out)
    assert out.read_bytes() == b"epoch-3"
    with pytest.raises(ckpt.ExistsError):
        run.restore(3, to=out)
    v = run.verify()
    assert v["status"] == "ok" and v["checked"] >= 3
    (tmp_path / "run" / "checkpoint-3.pth.tar").write_bytes(b"epoch-X")
    assert run.verify()["status"] == "damaged"
    assert cli("verify", tmp_path / "run", check=False).returncode == 3


def test_errors_pickle_and_keep_their_fields(tmp_path):
    import pickle

    e = ckpt.NoSpaceError("msg", path="/x", available=1, needed=2, hint="h")
    back = pickle.loads(pickle.dumps(e))
    assert (type(back), str(back), back.errno, back.available, back.needed) == (ckpt.NoSpaceError, "msg", errno.ENOSPC, 1, 2)
    assert issubclass(ckpt.LockTimeoutError, TimeoutError) and issubclass(ckpt.CorruptRunError, ckpt.Error)


def test_foreign_runs_are_read_but_not_saved_into(tmp_path):
    d = tmp_path / "timmrun"
    d.mkdir()
    (d / "checkpoint-1.pth.tar").write_bytes(b"x")
    (d / "last.pth.tar").write_bytes(b"x")
    run = ckpt.Run(d)
    assert run.ls()["layout"] == "timm"
    with pytest.raises(ckpt.InvalidOperationError, match="is a timm run"):
        run.save(b"y", epoch=2)
