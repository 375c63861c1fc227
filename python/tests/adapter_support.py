"""Helpers shared by the trainer adapter tests (timm, Lightning, transformers)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def skip_or_fail(why: str):
    """A test that cannot run says SKIPPED and why; under CI=true it fails instead."""
    print(f"SKIPPED: {why}")
    if os.environ.get("CI") == "true":
        pytest.fail(f"SKIPPED under CI=true: {why}")
    pytest.skip(why)


def ckpt_bin() -> str:
    """The `ckpt` binary: $CKPT_BIN, else the repo's release or debug build."""
    cands = [os.environ.get("CKPT_BIN", "")] + [
        str(REPO / "target" / kind / "ckpt") for kind in ("release", "debug")
    ]
    found = [c for c in cands if c and os.access(c, os.X_OK)]
    if not found:
        skip_or_fail("no ckpt binary (build it with `cargo build`, or set CKPT_BIN)")
    return max(found, key=lambda c: os.path.getmtime(c))


def ckpt_cli(*args: str) -> subprocess.CompletedProcess:
    """Run the `ckpt` binary; returns the completed process (text output)."""
    return subprocess.run([ckpt_bin(), *args], capture_output=True, text=True, timeout=120)


def ckpt_json(*args: str):
    p = ckpt_cli(*args, "--json")
    assert p.returncode in (0, 3), f"ckpt {' '.join(args)} failed ({p.returncode}): {p.stderr}"
    return json.loads(p.stdout)


def wait_for(cond, timeout: float = 60.0, what: str = "condition"):
    """Poll `cond()` until it is truthy (returned) or the deadline passes (fails)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


@contextlib.contextmanager
def small_tmpfs(size: str):
    """A fresh tmpfs of `size` (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        skip_or_fail("needs root to mount a tmpfs")
    if shutil.which("mount") is None:
        skip_or_fail("no mount(8)")
    d = tempfile.mkdtemp(prefix="ckpt-tmpfs-")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d],
                       capture_output=True, text=True)
    if p.returncode != 0:
        os.rmdir(d)
        skip_or_fail(f"could not mount a tmpfs: {p.stderr.strip()}")
    try:
        yield Path(d)
    finally:
        subprocess.run(["umount", d], check=False)
        os.rmdir(d)


def temps_in(d: Path):
    """ckpt's and timm's temp files directly in `d`."""
    return sorted(p.name for p in Path(d).iterdir()
                  if p.name.startswith(".ckpt-tmp-") or p.name in ("tmp.pth.tar", "recovery_tmp.pth.tar"))


def run_child(code: str, *args: str, timeout: float = 300.0, env=None) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter of this venv (argv[1:] = args)."""
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=timeout, env=e)
