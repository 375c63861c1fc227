"""``ckpt.Run``: save checkpoints into a run directory through the ckpt engine.

Blocking saves stream ``torch.save`` into the engine's writer: a unique temp file in the
run directory, hashed while written, fsynced, renamed, the directory fsynced, then the
manifest committed — exactly what ``ckpt save`` does. Async saves stage a copy of the
object on the caller's thread and do the rest on a background thread.
"""

import atexit
import dataclasses
import json
import math
import numbers
import os
import sys
import threading

from . import _ckpt
from ._errors import Error
from ._stage import StagingPool, estimate_bytes, stage


@dataclasses.dataclass(frozen=True)
class SaveReport:
    """What a save did (``ckpt save --json`` plus the epoch and step saved)."""

    path: str
    epoch: int
    step: object
    bytes: int
    hash: str
    best: bool
    """True when this checkpoint became the run's best."""
    pruned: list
    """Files retention removed."""
    replaced: bool
    """True when a checkpoint of the same epoch was replaced."""
    bytes_freed: int
    alias_strategy: str


def _as_int(name, v, allow_none):
    if v is None and allow_none:
        return None
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{name} must be an int{' or None' if allow_none else ''}, not {type(v).__name__}")
    v = int(v)
    if v < 0:
        raise ValueError(f"{name} must be >= 0, not {v}")
    return v


def _as_metric(name, v):
    """A number (int, float, numpy/torch scalar); NaN and inf are allowed (never best)."""
    if v is None:
        return None
    if isinstance(v, (bool, str, bytes)):
        raise TypeError(f"{name} must be a number, not {type(v).__name__} {v!r}")
    try:
        f = float(v)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be a number, not {type(v).__name__} {v!r}") from e
    return f


def _is_path(obj):
    return isinstance(obj, (str, os.PathLike))


def _is_bytes_like(obj):
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return True
    return False


class SaveFuture:
    """The result of ``Run.save(..., blocking=False)``: ``done()``, ``result(timeout)``,
    ``exception(timeout)``. Its error is raised once by whichever of ``result()``,
    ``Run.wait()``, the run's next ``save`` or interpreter exit sees it first; later
    ``result()`` calls raise it again."""

    def __init__(self, epoch, run_path):
        self.epoch = epoch
        self.run_path = run_path
        self._done = threading.Event()
        self._report = None
        self._error = None
        self._reported = False
        self._thread = None

    def done(self):
        return self._done.is_set()

    def _wait(self, timeout):
        if not self._done.wait(timeout):
            raise TimeoutError(f"the save of epoch {self.epoch} did not finish within {timeout} s")

    def result(self, timeout=None):
        """The :class:`SaveReport` once durable; raises the save's error."""
        self._wait(timeout)
        if self._error is not None:
            self._seen()
            raise self._error
        return self._report

    def exception(self, timeout=None):
        self._wait(timeout)
        if self._error is not None:
            self._seen()
        return self._error

    def _seen(self):
        self._reported = True
        with _live_lock:
            _outstanding.discard(self)

    def _set(self, report, error):
        self._report = report
        self._error = error
        if error is None:
            with _live_lock:
                _outstanding.discard(self)
        self._done.set()

    def __repr__(self):
        state = "pending" if not self.done() else ("failed" if self._error else "done")
        return f"<ckpt.SaveFuture epoch={self.epoch} {state}>"


_live_lock = threading.Lock()
# Futures whose save is running or whose error nobody has seen yet: held strongly, so an
# error is reported at exit even when its Run object is gone.
_outstanding = set()


class Run:
    """A run directory managed by ckpt (created on the first save).

    ``metric_name``/``mode`` name the metric checkpoints are ranked by (fixed by the
    first save that gives one; ``mode`` is inferred from the name when omitted:
    ``*loss*``/``*err*`` rank by min). ``keep_top``/``keep_last``/``keep_every`` are the
    retention policy applied after each save (None: the run's recorded policy).
    ``lock_timeout`` is how long a mutation waits for another process's run lock.
    """

    def __init__(self, path, metric_name=None, mode=None, keep_top=None, keep_last=None,
                 keep_every=None, lock_timeout=60.0):
        if mode is not None and mode not in ("max", "min"):
            raise ValueError(f'mode must be "max", "min" or None, not {mode!r}')
        if metric_name is not None and not isinstance(metric_name, str):
            raise TypeError(f"metric_name must be a str, not {type(metric_name).__name__}")
        keep_top = _as_int("keep_top", keep_top, True)
        keep_last = _as_int("keep_last", keep_last, True)
        keep_every = _as_int("keep_every", keep_every, True)
        if keep_every == 0:
            raise ValueError("keep_every must be >= 1")
        lock_timeout = _as_metric("lock_timeout", lock_timeout)
        if lock_timeout is None or not math.isfinite(lock_timeout) or lock_timeout < 0:
            raise ValueError(f"lock_timeout must be a number of seconds >= 0, not {lock_timeout!r}")
        self.path = os.fspath(path)
        self.metric_name = metric_name
        self.mode = mode
        self._core = _ckpt.RunCore(self.path, lock_timeout, metric_name, mode,
                                   keep_top, keep_last, keep_every)
        self._pending = []
        self._pool = StagingPool()
        self._save_lock = threading.Lock()

    def __repr__(self):
        return f"ckpt.Run({self.path!r})"

    # ---- saving -----------------------------------------------------------------

    def save(self, obj, epoch, step=None, metric=None, metrics=None, blocking=True, move=False):
        """Save ``obj`` as the checkpoint of ``epoch``.

        ``obj`` is anything ``torch.save`` takes (streamed into the engine), a bytes-like
        object, or a path to a file (copied; ``move=True`` renames it into the run when on
        the same filesystem). ``metric`` ranks it (NaN/inf allowed: never best);
        ``metrics`` is a dict of other numbers to record.

        ``blocking=True`` returns a :class:`SaveReport` once the checkpoint is durable and
        committed. ``blocking=False`` returns a :class:`SaveFuture` as soon as the object
        is staged (tensor data copied into memory the save owns); the write, fsync and
        commit run on a background thread. At most one save per run is in flight: a save
        first waits for the previous one, and raises its error if nobody has seen it yet.
        """
        epoch = _as_int("epoch", epoch, False)
        step = _as_int("step", step, True)
        metric = _as_metric("metric", metric)
        if metrics is None:
            metrics = {}
        if not isinstance(metrics, dict):
            raise TypeError(f"metrics must be a dict of name -> number, not {type(metrics).__name__}")
        clean = {}
        for k, v in metrics.items():
            if not isinstance(k, str):
                raise TypeError(f"metrics keys must be str, not {type(k).__name__} {k!r}")
            clean[k] = _as_metric(f"metrics[{k!r}]", v)
        if move and not _is_path(obj):
            raise TypeError("move=True needs a path to a file")
        req = {"epoch": epoch, "step": step, "metric": metric, "metrics": clean, "size_hint": None}

        with self._save_lock:
            self._settle()
            if blocking:
                return self._save_now(obj, req, move, staged=False)
            return self._save_async(obj, req, move)

    def _save_now(self, obj, req, move, staged):
        if _is_path(obj):
            out = self._core.save_file(req, os.fspath(obj), bool(move))
        elif _is_bytes_like(obj):
            out = self._core.save_bytes(req, obj)
        else:
            torch = _torch()
            if req["size_hint"] is None:
                req = dict(req, size_hint=estimate_bytes(obj))
            out = self._core.save_stream(req, lambda f: torch.save(obj, f))
        return _save_report(out, req)

    def _save_async(self, obj, req, move):
        if _is_path(obj):
            payload = obj
        elif _is_bytes_like(obj):
            payload = obj if isinstance(obj, bytes) else bytes(obj)
        else:
            req = dict(req, size_hint=estimate_bytes(obj))
            staged, used = stage(obj, self._pool)
            payload = staged
            # The storages stay in the pool for the next staging (one staged copy resident).
            self._pool.give_back(used)
        fut = SaveFuture(req["epoch"], self.path)

        def work():
            try:
                rep = self._save_now(payload, req, move, staged=True)
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                fut._set(None, e)
            else:
                fut._set(rep, None)

        t = threading.Thread(target=work, name=f"ckpt-save-{req['epoch']}", daemon=False)
        fut._thread = t
        self._pending.append(fut)
        with _live_lock:
            _outstanding.add(fut)
        t.start()
        return fut

    def _settle(self):
        """Wait for the saves in flight; raise the first error nobody has seen."""
        pending, self._pending = self._pending, []
        first = None
        for f in pending:
            f._done.wait()
            if f._error is not None and not f._reported:
                f._seen()
                if first is None:
                    first = f._error
        if first is not None:
            raise first

    def wait(self):
        """Block until every pending save of this run is durable; raise the first error
        not yet seen through ``result()``."""
        with self._save_lock:
            self._settle()

    # ---- reading and the other operations ----------------------------------------

    def ls(self):
        """The run as a dict: the same document as ``ckpt ls --json``."""
        return json.loads(self._core.ls())

    def promote(self, checkpoint):
        """Make ``checkpoint`` (epoch or file name) best, held until :meth:`release`;
        it is pinned. Returns the engine's report (dict)."""
        return json.loads(self._core.promote(_selector(checkpoint)))

    def release(self):
        """Release a held best (later saves may move it); True when one was held."""
        return self._core.release()

    def restore(self, checkpoint, archive_newer=False, to=None, force=False):
        """Make ``checkpoint`` the resume point (``last``), or with ``to=PATH`` export an
        independent copy. Returns the applied plan (dict)."""
        return json.loads(self._core.restore(_selector(checkpoint), bool(archive_newer),
                                             None if to is None else os.fspath(to), bool(force)))

    def prune(self, keep_top=None, keep_last=None, keep_every=None, dry_run=False):
        """Apply a retention policy (None: the run's own); the ``ckpt prune --json`` dict."""
        return json.loads(self._core.prune(_as_int("keep_top", keep_top, True),
                                           _as_int("keep_last", keep_last, True),
                                           _as_int("keep_every", keep_every, True),
                                           bool(dry_run)))

    def pin(self, checkpoint):
        """Pin a checkpoint (never pruned); True when it was not pinned before."""
        return self._core.set_pinned(_selector(checkpoint), True)

    def unpin(self, checkpoint):
        return self._core.set_pinned(_selector(checkpoint), False)

    def verify(self):
        """Re-hash every checkpoint: the ``ckpt verify --json`` dict (``status`` "ok" or
        "damaged")."""
        return json.loads(self._core.verify())

    def doctor(self):
        """The ``ckpt doctor --json`` dict."""
        return json.loads(self._core.doctor())


def _selector(checkpoint):
    if isinstance(checkpoint, bool):
        raise TypeError("checkpoint must be an epoch (int) or a file name (str)")
    if isinstance(checkpoint, numbers.Integral):
        return str(_as_int("epoch", checkpoint, False))
    if isinstance(checkpoint, (str, os.PathLike)):
        return os.fspath(checkpoint)
    raise TypeError(f"checkpoint must be an epoch (int) or a file name (str), not {type(checkpoint).__name__}")


def _save_report(out, req):
    d = json.loads(out)
    return SaveReport(path=d["path"], epoch=req["epoch"], step=req["step"], bytes=d["bytes"],
                      hash=d["hash"], best=d["became_best"], pruned=d["pruned"],
                      replaced=d["replaced"], bytes_freed=d["bytes_freed"],
                      alias_strategy=d["alias_strategy"])


def _torch():
    try:
        import torch
    except ImportError as e:
        raise TypeError(
            "ckpt saves arbitrary objects with torch.save, and torch is not installed; "
            "pass bytes or a path instead") from e
    return torch


def _at_exit():
    """Finish every pending save; report errors nobody saw and exit with status 1."""
    with _live_lock:
        futs = list(_outstanding)
    lost = []
    for f in futs:
        f._done.wait()
        if f._error is not None and not f._reported:
            f._reported = True
            lost.append(f)
    if not lost:
        return
    for f in sorted(lost, key=lambda f: f.epoch):
        sys.stderr.write(f"ckpt: error: background save of epoch {f.epoch} into {f.run_path} failed: "
                         f"{type(f._error).__name__}: {f._error}\n")
    try:
        import logging
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(1)


atexit.register(_at_exit)
