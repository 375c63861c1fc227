"""Async saves (blocking=False): staged copies, one save in flight, errors never lost."""

import subprocess
import textwrap
import threading
from pathlib import Path

import pytest

import ckpt
from conftest import PY, need, temps


def test_async_save_owns_its_data(tmp_path, cli):
    torch = need("torch")
    base = torch.arange(4_000_000, dtype=torch.float32)  # 16 MB
    state = {"w": base, "view": base[10:20], "opt": {"step": 3, "buf": torch.ones(1000)}, "lr": 0.1}
    run = ckpt.Run(tmp_path / "run")
    fut = run.save(state, epoch=1, blocking=False)
    assert isinstance(fut, ckpt.SaveFuture)
    # The trainer goes on at once, changing everything in place.
    base.mul_(-1)
    state["opt"]["buf"].zero_()
    state["lr"] = 0.5
    rep = fut.result(timeout=120)
    assert fut.done() and rep.epoch == 1
    back = torch.load(rep.path, weights_only=True)
    assert torch.equal(back["w"], torch.arange(4_000_000, dtype=torch.float32))
    assert torch.equal(back["opt"]["buf"], torch.ones(1000))
    assert back["lr"] == 0.1 and back["opt"]["step"] == 3
    # A view still shares its storage with the tensor it views, as torch.save writes it.
    assert back["view"].untyped_storage().data_ptr() == back["w"].untyped_storage().data_ptr()
    assert torch.equal(back["view"], torch.arange(10, 20, dtype=torch.float32))
    assert cli.json("verify", tmp_path / "run")["status"] == "ok"


def test_one_save_in_flight_and_the_staging_is_reused(tmp_path):
    torch = need("torch")
    run = ckpt.Run(tmp_path / "run", metric_name="top1", keep_last=2)
    w = torch.zeros(1_000_000)
    futs = []
    for e in range(1, 5):
        w.fill_(e)
        futs.append(run.save({"w": w}, epoch=e, metric=float(e), blocking=False))
        # The save just returned, so the one before it is finished (at most one in flight).
        assert all(f.done() for f in futs[:-1])
    pool_storages = [s for v in run._pool._free.values() for s in v]
    assert len(pool_storages) == 1  # one staged copy, reused by every save
    run.wait()
    assert all(f.done() for f in futs)
    ls = run.ls()
    assert [c["epoch"] for c in ls["checkpoints"]] == [3, 4]
    for c in ls["checkpoints"]:
        t = torch.load(Path(ls["run"]) / c["name"], weights_only=True)["w"]
        assert bool((t == c["epoch"]).all())


def _failing_state(torch):
    # deepcopy keeps a lambda as is; pickling it in the background fails.
    return {"w": torch.ones(10), "fn": lambda x: x}


def test_background_error_is_raised_by_result_once_seen(tmp_path):
    torch = need("torch")
    run = ckpt.Run(tmp_path / "run")
    fut = run.save(_failing_state(torch), epoch=1, blocking=False)
    with pytest.raises(Exception, match="lambda|pickle") as ei:
        fut.result(timeout=60)
    assert fut.exception() is ei.value
    run.wait()  # already seen through result(): not raised twice
    run.save(b"ok", epoch=2)
    assert [c["epoch"] for c in run.ls()["checkpoints"]] == [2]
    assert temps(tmp_path / "run") == []


def test_background_error_is_raised_by_wait(tmp_path):
    torch = need("torch")
    run = ckpt.Run(tmp_path / "run")
    run.save(_failing_state(torch), epoch=1, blocking=False)
    with pytest.raises(Exception, match="lambda|pickle"):
        run.wait()
    run.wait()


def test_background_error_is_raised_by_the_next_save(tmp_path):
    torch = need("torch")
    run = ckpt.Run(tmp_path / "run")
    run.save(_failing_state(torch), epoch=1, blocking=False)
    with pytest.raises(Exception, match="lambda|pickle"):
        run.save(b"next", epoch=2)
    assert not (tmp_path / "run" / "checkpoint-2.pth.tar").exists()
    run.save(b"next", epoch=2)


def test_background_engine_error_is_typed(tmp_path, tmpfs):
    torch = need("torch")
    small = tmpfs(1 << 20)
    run = ckpt.Run(small / "run")
    fut = run.save({"w": torch.zeros(1_000_000)}, epoch=1, blocking=False)
    err = fut.exception(timeout=60)
    assert isinstance(err, ckpt.NoSpaceError) and err.available < err.needed
    assert temps(small / "run") == []


def test_interpreter_exit_finishes_pending_saves(tmp_path, cli):
    need("torch")
    script = textwrap.dedent(f"""
        import ckpt, torch
        run = ckpt.Run({str(tmp_path / 'run')!r})
        run.save({{"w": torch.ones(2_000_000)}}, epoch=1, blocking=False)
        print("returned", flush=True)
    """)
    p = subprocess.run([PY, "-c", script], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "returned"
    assert [c["epoch"] for c in cli.json("ls", tmp_path / "run")["checkpoints"]] == [1]
    assert cli.json("verify", tmp_path / "run")["status"] == "ok"


def test_interpreter_exit_reports_a_lost_error(tmp_path):
    need("torch")
    script = textwrap.dedent(f"""
        import ckpt, torch
        import gc
        # The Run object itself is dropped at once: its error must still be reported.
        ckpt.Run({str(tmp_path / 'run')!r}).save({{"w": torch.ones(10), "fn": lambda x: x}}, epoch=7, blocking=False)
        gc.collect()
        print("returned", flush=True)
    """)
    p = subprocess.run([PY, "-c", script], capture_output=True, text=True, timeout=120)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert p.stdout.strip() == "returned"
    assert f"ckpt: error: background save of epoch 7 into {tmp_path / 'run'} failed" in p.stderr, p.stderr
    assert temps(tmp_path / "run") == []


def test_saves_from_two_threads_are_serialised(tmp_path):
    run = ckpt.Run(tmp_path / "run")
    errors = []

    def worker(base):
        try:
            for e in range(base, base + 5):
                run.save(f"{e}".encode(), epoch=e, blocking=bool(e % 2))
        except Exception as ex:  # pragma: no cover - reported below
            errors.append(ex)

    ts = [threading.Thread(target=worker, args=(b,)) for b in (1, 101)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    run.wait()
    assert errors == []
    assert len(run.ls()["checkpoints"]) == 10
