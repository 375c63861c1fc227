"""ckpt.transformers.DurableCheckpointCallback with a real tiny transformers.Trainer (CPU).

The model is built in code from a config; nothing is downloaded (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

import ckpt  # noqa: E402
from ckpt.transformers import DurableCheckpointCallback  # noqa: E402

from conftest import need  # noqa: E402


def train(out: Path, callbacks):
    need("accelerate")  # transformers.Trainer needs it with torch
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments

    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=64, n_positions=16,
                     bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg)
    ids = torch.randint(0, 64, (32, 16))
    data = [{"input_ids": r, "labels": r} for r in ids]
    args = TrainingArguments(output_dir=str(out), max_steps=6, save_steps=2, save_total_limit=2,
                             per_device_train_batch_size=4, logging_steps=1, report_to=[],
                             use_cpu=True, disable_tqdm=True, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks).train()


def truncate(p: Path, keep: int):
    with open(p, "r+b") as f:
        f.truncate(keep)


def test_durable_checkpoint_dirs_are_recorded_and_verified(tmp_path, cli):
    out = tmp_path / "out"
    cb = DurableCheckpointCallback()
    train(out, [cb])
    dirs = sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint-"))
    assert dirs == ["checkpoint-4", "checkpoint-6"], dirs  # save_total_limit=2
    state = json.loads((out / ".ckpt" / "state.json").read_text())
    assert sorted(state["files"]) == dirs, "records follow the Trainer's rotation"
    rec = state["files"]["checkpoint-6"]["files"]
    print("checkpoint-6 recorded:", {k: v["bytes"] for k, v in rec.items()})
    assert "model.safetensors" in rec and "trainer_state.json" in rec and "optimizer.pt" in rec
    assert cb.last_report["name"] == "checkpoint-6"

    p = cli("verify", out, check=False)
    print("$ ckpt verify out\n" + p.stdout)
    assert p.returncode == 0, p.stdout + p.stderr
    ls = cli.json("ls", out)
    assert ls["layout"] == "hf"
    assert [c["state"] for c in ls["checkpoints"]] == ["complete", "complete"]

    # Truncated afterwards: verify exits 3 naming the file; ls / the monitor flag it.
    truncate(out / "checkpoint-6" / "model.safetensors", 1000)
    p = cli("verify", out, check=False)
    print("$ ckpt verify out   # after truncating checkpoint-6/model.safetensors\n" + p.stdout + p.stderr)
    assert p.returncode == 3
    assert "checkpoint-6" in p.stdout + p.stderr and "model.safetensors" in p.stdout + p.stderr
    c6 = [c for c in cli.json("ls", out)["checkpoints"] if c["step"] == 6][0]
    assert c6["state"] == "damaged", c6

    # A file the Trainer owns and no format check reads: only the record sees the cut.
    truncate(out / "checkpoint-4" / "trainer_state.json", 10)
    v = ckpt.Run(str(out)).verify()
    bad = {d["name"]: d for d in v["damaged"]}
    assert "trainer_state.json" in bad["checkpoint-4"]["path"], v
