"""ckpt.lightning.CheckpointIO with a real lightning.Trainer (CPU, tiny model built in code)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

L = pytest.importorskip("lightning")

import ckpt  # noqa: E402
import ckpt.lightning  # noqa: E402

from conftest import wait_for  # noqa: E402

# The training script, run in-process by the first test and as a child by the kill test.
TRAIN = r"""
import os, signal, sys, warnings
import torch
import lightning as L
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
import ckpt.lightning

warnings.filterwarnings("ignore")


class Tiny(L.LightningModule):
    def __init__(self, width=32):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 1))

    def training_step(self, batch, _):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, _):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))
        # A score whose best (epoch 1) is not the last epoch, and which evicts epochs.
        self.log("val_score", [0.3, 0.9, 0.5, 0.6][self.current_epoch % 4])

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)


class KillingIO(ckpt.lightning.CheckpointIO):
    # SIGKILLs this process in the middle of save number `save`, after `at` bytes.
    def __init__(self, save, at):
        super().__init__()
        self.save, self.at, self.n = save, at, 0

    def _write(self, path, fill):
        n, self.n = self.n, self.n + 1
        if n != self.save:
            return super()._write(path, fill)
        at = self.at

        class Proxy:
            def __init__(p, w):
                p.w, p.done = w, 0

            def write(p, b):
                if p.done + len(b) > at:
                    keep = max(0, at - p.done)
                    if keep:
                        p.w.write(bytes(memoryview(b)[:keep]))
                    os.kill(os.getpid(), signal.SIGKILL)
                p.done += len(b)
                return p.w.write(b)

            def flush(p):
                return p.w.flush()

        return super()._write(path, lambda w: fill(Proxy(w)))


def train(root, epochs, width=32, io=None, every_n_steps=None, monitor="val_loss", mode="min"):
    torch.manual_seed(0)
    x = torch.randn(64, width)
    data = torch.utils.data.TensorDataset(x, x.sum(1, keepdim=True))
    dl = torch.utils.data.DataLoader(data, batch_size=16)
    mc = ModelCheckpoint(save_top_k=2, save_last=True, monitor=monitor, mode=mode,
                         filename="{epoch}-{step}-{" + monitor + ":.4f}", every_n_train_steps=every_n_steps)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=CSVLogger(root),
                        callbacks=[mc], plugins=[io or ckpt.lightning.CheckpointIO()],
                        enable_progress_bar=False, enable_model_summary=False, log_every_n_steps=1)
    trainer.fit(Tiny(width), dl, dl)
    return trainer, mc


if __name__ == "__main__":
    root, mode = sys.argv[1], sys.argv[2]
    if mode == "kill":
        save, at = int(sys.argv[3]), int(sys.argv[4])
        train(root, 3, width=512, io=KillingIO(save, at))
    else:  # "loop": keep saving until killed from outside
        train(root, 1000, width=512, every_n_steps=1, monitor="train_loss")
"""


def load_train():
    ns = {"__name__": "lightning_train"}
    exec(compile(TRAIN, "lightning_train", "exec"), ns)
    return ns


def test_trainer_with_ckpt_io_is_a_lightning_run_with_right_best_and_last(tmp_path, cli):
    trainer, mc = load_train()["train"](str(tmp_path), epochs=4, monitor="val_score", mode="max")
    run = Path(trainer.logger.log_dir)
    ckdir = run / "checkpoints"
    names = sorted(p.name for p in ckdir.iterdir())
    print("checkpoints/:", names)
    assert "last.ckpt" in names
    assert len([n for n in names if n.startswith("epoch=")]) == 2  # save_top_k=2
    assert not [n for n in names if n.startswith(".ckpt-tmp-")]

    ls = cli.json("ls", run)
    print(json.dumps({k: ls[k] for k in ("layout", "metric", "best", "last")}, indent=1))
    assert ls["layout"] == "lightning"
    assert ls["metric"]["name"] == "val_score" and ls["metric"]["mode"] == "max"
    assert Path(ls["best"]["path"]).name == Path(mc.best_model_path).name
    assert ls["best"]["epoch"] == 1  # 0.9; epochs 0 and 2 were evicted through the engine
    assert ls["last"]["epoch"] == 3
    assert sorted(c["epoch"] for c in ls["checkpoints"]) == [1, 3]
    assert ckpt.Run(str(run)).ls()["layout"] == "lightning"
    p = cli("verify", run, check=False)
    print(p.stdout)
    assert p.returncode == 0, p.stdout + p.stderr

    # Lightning's own resume reads the files back.
    ck = torch.load(ckdir / "last.ckpt", weights_only=False)
    assert ck["epoch"] == 3 and ck["global_step"] == 16


def test_a_killed_writers_temp_is_reclaimed_before_the_space_preflight_refuses(tmpfs):
    """A dead writer's 5 MiB temp on an 8 MiB disk: the next 2 MiB save sweeps it first."""
    import time
    ck = tmpfs(8 << 20) / "version_0" / "checkpoints"
    ck.mkdir(parents=True)
    (ck / "epoch=0-step=1.ckpt").write_bytes(os.urandom(2 << 20))  # the size expected next
    # A temp of a writer that is gone (no host tag, untouched for 10 minutes).
    dead = ck / ".ckpt-tmp-2147483600-0123456789abcdef-epoch=1-step=2.ckpt"
    dead.write_bytes(os.urandom(5 << 20))
    os.utime(dead, (time.time() - 600, time.time() - 600))
    io = ckpt.lightning.CheckpointIO()
    io.save_checkpoint({"w": torch.zeros(2 << 18)}, ck / "epoch=1-step=2.ckpt")
    assert not dead.exists()
    assert torch.load(ck / "epoch=1-step=2.ckpt")["w"].numel() == 2 << 18


def lightning_names_complete(ckdir: Path):
    """Every file under a Lightning name is a complete torch checkpoint."""
    bad = []
    for p in sorted(ckdir.iterdir()):
        if p.name.startswith(".ckpt-tmp-") or not p.name.endswith(".ckpt"):
            continue
        try:
            torch.load(p, weights_only=False)
        except Exception as e:  # a partial file under a Lightning name
            bad.append(f"{p.name}: {type(e).__name__}: {e}")
    return bad


def child(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", TRAIN, str(root), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# (save number, bytes written before the kill): the first save's first byte, the middle
# of a top-k save, the end of a later save (`last.ckpt` being replaced).
KILL_POINTS = [(0, 0), (2, 1 << 20), (5, 3 << 20)]


@pytest.mark.parametrize("save,at", KILL_POINTS)
def test_sigkill_mid_save_never_leaves_a_partial_ckpt(tmp_path, cli, save, at):
    p = child(tmp_path, "kill", str(save), str(at))
    _, err = p.communicate(timeout=300)
    assert p.returncode == -signal.SIGKILL, err
    run = tmp_path / "lightning_logs" / "version_0"
    ckdir = run / "checkpoints"
    names = sorted(x.name for x in ckdir.iterdir())
    print(f"killed in save {save} after {at} bytes: {names}")
    assert any(n.startswith(".ckpt-tmp-") for n in names), "the kill hit a save in flight"
    assert lightning_names_complete(ckdir) == []
    if save > 0:
        v = cli("verify", run, check=False)
        print(v.stdout)
        assert v.returncode == 0, v.stdout + v.stderr
    # The next write through the engine sweeps the dead writer's temp.
    ckpt._ckpt.write_run_file(str(ckdir / "probe.ckpt"), lambda w: torch.save({"x": 1}, w))
    assert not [x for x in ckdir.iterdir() if x.name.startswith(".ckpt-tmp-")]


def test_sigkill_from_outside_while_saving(tmp_path, cli):
    """The parent kills a training child as soon as it sees a save in flight."""
    for round_ in range(1):
        root = tmp_path / f"r{round_}"
        p = child(root, "loop")
        ckdir = root / "lightning_logs" / "version_0" / "checkpoints"

        def in_flight():
            if p.poll() is not None:
                pytest.fail(f"trainer exited: {p.stderr.read()}")
            if not ckdir.is_dir():
                return False
            done = [x for x in ckdir.iterdir() if x.name.endswith(".ckpt") and not x.name.startswith(".ckpt-tmp-")]
            tmps = [x for x in ckdir.iterdir() if x.name.startswith(".ckpt-tmp-")]
            return tmps if len(done) >= 2 + round_ else False

        wait_for(in_flight, timeout=240, what="a save in flight")
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=60)
        names = sorted(x.name for x in ckdir.iterdir())
        print(f"round {round_}: killed with {names}")
        assert lightning_names_complete(ckdir) == []
        v = cli("verify", ckdir.parent, check=False)
        assert v.returncode == 0, v.stdout + v.stderr
