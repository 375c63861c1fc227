"""Helpers shared by the Python tests: the ckpt CLI, skip-or-fail, root-only tmpfs."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def skip_or_fail(why):
    """A test that cannot run: SKIPPED with the reason, and a failure under CI=true."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"cannot run under CI=true: {why}")
    print(f"SKIPPED: {why}")
    pytest.skip(why)


def need(module):
    try:
        return __import__(module)
    except ImportError as e:
        skip_or_fail(f"{module} is not installed ({e})")


def _find_cli():
    env = os.environ.get("CKPT_BIN")
    if env:
        return env
    for p in (REPO / "target" / "debug" / "ckpt", REPO / "target" / "release" / "ckpt"):
        if p.is_file():
            return str(p)
    return shutil.which("ckpt")


@pytest.fixture(scope="session")
def cli():
    """Run the ckpt CLI (built by `cargo test`/`cargo build`); returns CompletedProcess."""
    exe = _find_cli()
    if exe is None:
        skip_or_fail("the ckpt CLI is not built (cargo build, or set CKPT_BIN)")

    def run(*args, check=True):
        p = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, timeout=120)
        if check and p.returncode != 0:
            raise AssertionError(f"ckpt {' '.join(map(str, args))} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    run.json = lambda *a: json.loads(run(*a, "--json").stdout)
    return run


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs (root only); yields a factory taking the size in bytes."""
    if os.geteuid() != 0:
        skip_or_fail("needs root to mount a tmpfs")
    mounts = []

    def make(size, ro=False):
        d = tmp_path / f"tmpfs{len(mounts)}"
        d.mkdir()
        opts = f"size={size}" + (",ro" if ro else "")
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(d)], capture_output=True, text=True)
        if p.returncode != 0:
            skip_or_fail(f"cannot mount a tmpfs: {p.stderr.strip()}")
        mounts.append(d)
        return d

    yield make
    for d in reversed(mounts):
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def files(run_dir):
    """Every file under a run with its size (for 'the run is unchanged' checks)."""
    out = {}
    for p in sorted(Path(run_dir).rglob("*")):
        if p.is_file():
            out[str(p.relative_to(run_dir))] = p.read_bytes()
    return out


def temps(run_dir):
    return [p.name for p in Path(run_dir).rglob(".ckpt-tmp-*")]


PY = sys.executable


def wait_for(cond, timeout=60.0, what="condition"):
    """Poll `cond()` until it is truthy (returned) or the deadline passes (fails)."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)
