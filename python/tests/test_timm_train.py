"""The one-line switch: timm's train.py calls, run through `from ckpt.timm import utils`.

TRAIN is a trimmed copy of what timm's `train.py` does with `timm.utils` (the same calls,
the same keyword arguments, in the same order: setup, the saver, recovery saves inside
the epoch, `update_summary`, `save_checkpoint` after eval, `--resume` through
`timm.models.resume_checkpoint`), with a tiny model built in code on CPU. The test
changes exactly one line of it (the import) and runs it in a fresh interpreter, twice:
a first run of 3 epochs, then a `--resume` from `last.pth.tar` for 2 more.
"""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from pathlib import Path

import pytest

timm = pytest.importorskip("timm")
import torch  # noqa: E402

import ckpt  # noqa: E402

TRAIN = r'''
import argparse
import os

import torch
import torch.nn as nn

from timm.models import resume_checkpoint
from timm import utils

parser = argparse.ArgumentParser()
parser.add_argument("--output", required=True)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--resume", default="")
parser.add_argument("--checkpoint-hist", type=int, default=2)
parser.add_argument("--recovery-interval", type=int, default=2)
parser.add_argument("--eval-metric", default="top1")
parser.add_argument("--model", default="tiny_mlp")
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--model-ema", action="store_true", default=True)
parser.add_argument("--device", default="cpu")


def main():
    utils.setup_default_logging()
    args = parser.parse_args()
    args.distributed = False
    device = utils.init_distributed_device(args)
    utils.random_seed(args.seed, args.rank)

    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 5)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loss_scaler = None  # no AMP on CPU

    resume_epoch = None
    if args.resume:
        resume_epoch = resume_checkpoint(model, args.resume, optimizer=optimizer,
                                         loss_scaler=loss_scaler, log_info=utils.is_primary(args))
    model_ema = utils.ModelEmaV3(model, decay=0.9) if args.model_ema else None

    start_epoch = resume_epoch if resume_epoch is not None else 0
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    y = torch.arange(64) % 5
    loss_fn = nn.CrossEntropyLoss()

    eval_metric = args.eval_metric
    decreasing = True if eval_metric == "loss" else False
    saver = None
    output_dir = None
    best_metric = None
    best_epoch = None
    if utils.is_primary(args):
        output_dir = utils.get_outdir(args.output)
        saver = utils.CheckpointSaver(
            model=model,
            optimizer=optimizer,
            args=args,
            model_ema=model_ema,
            amp_scaler=loss_scaler,
            checkpoint_dir=output_dir,
            recovery_dir=output_dir,
            decreasing=decreasing,
            max_history=args.checkpoint_hist,
        )
        with open(os.path.join(output_dir, "args.yaml"), "w") as f:
            f.write(repr(vars(args)))

    for epoch in range(start_epoch, args.epochs):
        losses_m = utils.AverageMeter()
        model.train()
        for batch_idx in range(4):
            xb, yb = x[batch_idx * 16:(batch_idx + 1) * 16], y[batch_idx * 16:(batch_idx + 1) * 16]
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            utils.dispatch_clip_grad(model.parameters(), value=1.0, mode="norm")
            optimizer.step()
            model_ema.update(model, step=epoch * 4 + batch_idx)
            losses_m.update(loss.item(), xb.size(0))
            if saver is not None and args.recovery_interval and ((batch_idx + 1) % args.recovery_interval == 0):
                saver.save_recovery(epoch, batch_idx=batch_idx)
        train_metrics = {"loss": losses_m.avg}

        model.eval()
        with torch.no_grad():
            acc1, acc5 = utils.accuracy(model(x), y, topk=(1, 5))
        # A top1 whose best is not the last epoch: epoch 1 of 5.
        latest_metric = [40.0, 90.0, 50.0, 60.0, 70.0][epoch] + 0 * acc1.item()
        eval_metrics = {"top1": latest_metric, "top5": acc5.item()}

        if output_dir is not None:
            utils.update_summary(epoch, train_metrics, eval_metrics,
                                 filename=os.path.join(output_dir, "summary.csv"),
                                 lr=0.1, write_header=best_metric is None)
        if saver is not None:
            best_metric, best_epoch = saver.save_checkpoint(epoch, metric=latest_metric)
        print("EPOCH", epoch, best_metric, best_epoch, flush=True)

    if best_metric is not None:
        print("*** Best metric: {0} (epoch {1})".format(best_metric, best_epoch), flush=True)
    print("SAVER", type(saver).__module__, flush=True)


if __name__ == "__main__":
    main()
'''


def switched(src: str) -> str:
    return src.replace("from timm import utils\n", "from ckpt.timm import utils\n")


def test_switching_the_import_is_one_line():
    diff = [d for d in difflib.unified_diff(TRAIN.splitlines(), switched(TRAIN).splitlines(), lineterm="", n=0)
            if d[:1] in "+-" and not d.startswith(("+++", "---"))]
    print("\n".join(diff))
    assert diff == ["-from timm import utils", "+from ckpt.timm import utils"]


def test_ckpt_timm_utils_is_timm_utils_with_ckpts_saver():
    import timm.utils
    import ckpt.timm
    from ckpt.timm import utils
    assert utils.CheckpointSaver is ckpt.timm.CheckpointSaver
    for name in ("AverageMeter", "accuracy", "update_summary", "get_outdir", "ModelEmaV3", "NativeScaler",
                 "dispatch_clip_grad", "distribute_bn", "reduce_tensor", "random_seed", "is_primary",
                 "init_distributed_device", "setup_default_logging", "model"):
        assert getattr(utils, name) is getattr(timm.utils, name), name
    star = {}
    exec("from ckpt.timm.utils import *", star)
    assert star["CheckpointSaver"] is ckpt.timm.CheckpointSaver
    assert star["AverageMeter"] is timm.utils.AverageMeter
    with pytest.raises(AttributeError):
        utils.no_such_name  # noqa: B018
    # Every parameter of timm's saver is accepted under the same name and default.
    import inspect
    theirs = inspect.signature(timm.utils.CheckpointSaver).parameters
    ours = inspect.signature(ckpt.timm.CheckpointSaver).parameters
    for name, p in theirs.items():
        assert name in ours, name
        if name != "unwrap_fn":
            assert ours[name].default == p.default, name


def train(script: Path, out: Path, *extra):
    p = subprocess.run([sys.executable, str(script), "--output", str(out), *map(str, extra)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def test_timm_train_loop_through_the_switched_import_then_resume(tmp_path, cli):
    script = tmp_path / "train.py"
    script.write_text(switched(TRAIN))
    out = tmp_path / "output" / "train" / "exp"

    first = train(script, out, "--epochs", 3)
    print(first)
    assert "SAVER ckpt.timm" in first
    assert "*** Best metric: 90.0 (epoch 1)" in first
    names = sorted(p.name for p in out.iterdir())
    print("after 3 epochs:", names)
    assert {"checkpoint-1.pth.tar", "checkpoint-2.pth.tar", "last.pth.tar", "model_best.pth.tar",
            "summary.csv", "args.yaml"} <= set(names)
    assert "checkpoint-0.pth.tar" not in names  # checkpoint_hist=2 keeps 90 and 50
    # Recovery files: timm keeps the current and the previous one.
    assert [n for n in names if n.startswith("recovery-")] == ["recovery-2-1.pth.tar", "recovery-2-3.pth.tar"]
    assert not [n for n in names if n.startswith(".ckpt-tmp-") or n == "tmp.pth.tar"]

    # timm's --resume: resume_checkpoint reads last.pth.tar and continues at epoch 3.
    second = train(script, out, "--epochs", 5, "--resume", out / "last.pth.tar")
    print(second)
    assert "EPOCH 3" in second and "EPOCH 4" in second and "EPOCH 2" not in second
    assert "*** Best metric: 90.0 (epoch 1)" in second

    last = torch.load(out / "last.pth.tar", weights_only=False)
    assert last["epoch"] == 4 and last["arch"] == "tiny_mlp" and "state_dict_ema" in last
    best = torch.load(out / "model_best.pth.tar", weights_only=False)
    assert best["epoch"] == 1 and best["metric"] == 90.0

    ls = cli.json("ls", out)
    print(json.dumps({k: ls[k] for k in ("layout", "metric", "best", "last")}, indent=1))
    assert ls["metric"]["name"] == "top1" and ls["metric"]["mode"] == "max"
    assert ls["best"]["epoch"] == 1 and ls["last"]["epoch"] == 4
    assert sorted(c["epoch"] for c in ls["checkpoints"]) == [1, 4]  # 90 and 70 (hist 2)
    p = cli("verify", out, check=False)
    print(p.stdout)
    assert p.returncode == 0, p.stdout + p.stderr
    assert ckpt.Run(str(out)).verify()["damaged"] == []
