"""Drop-in for ``timm.utils.CheckpointSaver`` that saves through the ckpt engine.

In timm's ``train.py`` change one line::

    -from timm import utils
    +from ckpt.timm import utils

``ckpt.timm.utils`` is ``timm.utils`` with ``CheckpointSaver`` replaced by this one, so
``utils.CheckpointSaver(model=..., optimizer=..., args=..., ...)`` and every other
``utils.X`` call of the script are unchanged (older scripts that do ``from timm.utils
import *`` change that line to ``from ckpt.timm.utils import *``).

Same constructor, same methods and return values, same file names
(``checkpoint-N.pth.tar``, ``last.pth.tar``, ``model_best.pth.tar``,
``recovery-E-B.pth.tar``) and the same checkpoint dict (including timm's ``saver``
history), so ``timm.models.resume_checkpoint(model, 'last.pth.tar')`` and
``--resume`` work unchanged. What changes:

* every file is written to a unique temp in the same directory, fsynced and renamed
  under the run lock (no fixed ``tmp.pth.tar``: two savers in one directory no longer
  break each other), with the directory fsynced;
* a full disk is refused before anything is written (``ckpt.NoSpaceError``: free vs
  needed bytes and the prune that would help), never a partial file;
* a NaN or infinite metric never becomes best;
* retention is the engine's: the top ``max_history`` checkpoints by metric (the newest
  ``max_history`` when no metric is given), plus best and last;
* ``async_save=True`` returns once the state is staged in memory and writes it on a
  background thread (one save in flight; see ``ckpt.Run.save``). Call ``wait()`` (or
  let the interpreter exit) to make sure the last one is durable.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import operator
import os
from typing import Any, Callable, List, Optional, Tuple

import torch

from timm.utils.model import get_state_dict, unwrap_model

from .. import _ckpt

_logger = logging.getLogger(__name__)

__all__ = ["CheckpointSaver"]


def _finite(metric: Any) -> bool:
    try:
        return metric is not None and math.isfinite(float(metric))
    except (TypeError, ValueError):
        return False


class CheckpointSaver:
    """``timm.utils.CheckpointSaver`` with crash-safe, durable saves (see module doc)."""

    def __init__(
            self,
            model,
            optimizer,
            args=None,
            model_ema=None,
            amp_scaler=None,
            checkpoint_prefix='checkpoint',
            recovery_prefix='recovery',
            checkpoint_dir='',
            recovery_dir='',
            decreasing=False,
            max_history=10,
            unwrap_fn=unwrap_model,
            task=None,
            async_save=False,
            lock_timeout=60.0,
    ):
        # objects to save state_dicts of
        self.model = model
        self.task = task
        self.optimizer = optimizer
        self.args = args
        self.model_ema = model_ema
        self.amp_scaler = amp_scaler

        # state (as timm keeps it)
        self.checkpoint_files: List[Tuple[str, Any]] = []  # (filename, metric), best first
        self.best_epoch = None
        self.best_metric = None
        self.curr_recovery_file = ''
        self.prev_recovery_file = ''
        self.can_hardlink = True

        # config
        self.checkpoint_dir = checkpoint_dir
        self.recovery_dir = recovery_dir
        self.save_prefix = checkpoint_prefix
        self.recovery_prefix = recovery_prefix
        self.extension = '.pth.tar'
        self.decreasing = decreasing  # a lower metric is better if True
        self.cmp = operator.lt if decreasing else operator.gt  # True if lhs better than rhs
        self.max_history = max_history
        self.unwrap_fn = unwrap_fn
        self.async_save = async_save
        self.lock_timeout = lock_timeout
        assert self.max_history >= 1
        if checkpoint_prefix != 'checkpoint':
            raise ValueError(
                "ckpt.timm.CheckpointSaver writes timm's default names (checkpoint-N.pth.tar); "
                f"checkpoint_prefix={checkpoint_prefix!r} is not supported")
        self._run = None

    # ---- the run -------------------------------------------------------------------

    def _metric_name(self) -> str:
        name = getattr(self.args, 'eval_metric', None) if self.args is not None else None
        return str(name) if name else 'metric'

    def run(self, metric=None):
        """The ``ckpt.Run`` this saver writes (created by the first save)."""
        if self._run is None:
            from .. import Run
            keep = {'keep_top': self.max_history} if metric is not None else {'keep_last': self.max_history}
            self._run = Run(
                self.checkpoint_dir or '.',
                metric_name=self._metric_name(),
                mode='min' if self.decreasing else 'max',
                lock_timeout=self.lock_timeout,
                **keep,
            )
            if self.best_metric is None and not self.checkpoint_files:
                self._adopt_history()
        return self._run

    def _adopt_history(self):
        """A fresh saver on a directory that already holds this run (a ``--resume`` into
        the same output dir): start from the run's best and ranked checkpoints, so the
        returned ``(best_metric, best_epoch)`` names the checkpoint ``model_best`` holds."""
        from .._errors import Error
        if not os.path.isdir(os.path.join(self.checkpoint_dir or '.', '.ckpt')):
            return
        try:
            doc = self._run.ls()
        except Error:
            return
        best = (doc.get('best') or {}).get('epoch')
        ranked = sorted((c for c in doc.get('checkpoints', []) if c.get('rank') is not None),
                        key=lambda c: c['rank'])
        for c in ranked[:self.max_history]:
            self.checkpoint_files.append((self._checkpoint_path(c['epoch']), c['metric']))
            if c['epoch'] == best:
                self.best_epoch, self.best_metric = c['epoch'], c['metric']

    def wait(self):
        """Block until every background save is durable; raises the first error."""
        if self._run is not None:
            self._run.wait()

    # ---- the checkpoint dict (timm's) ----------------------------------------------

    def _save_state(self, epoch, metric=None):
        save_state = {
            'epoch': epoch,
            'arch': type(self.model).__name__.lower(),
            'optimizer': self.optimizer.state_dict(),
            'version': 2,  # version < 2 increments epoch before save
        }
        if self.args is not None:
            save_state['arch'] = self.args.model
            save_state['args'] = self.args
        if self.amp_scaler is not None:
            save_state[self.amp_scaler.state_dict_key] = self.amp_scaler.state_dict()
        if self.task is not None:
            save_state.update(self.task.get_checkpoint_state(unwrap_fn=self.unwrap_fn))
            save_state.update(self.task.get_checkpoint_state(ema=True, unwrap_fn=self.unwrap_fn))
        else:
            save_state['state_dict'] = get_state_dict(self.model, self.unwrap_fn)
            if self.model_ema is not None:
                save_state['state_dict_ema'] = get_state_dict(self.model_ema, self.unwrap_fn)
        if metric is not None:
            save_state['metric'] = metric
        save_state['saver'] = self.state_dict(epoch, metric)
        return save_state

    def state_dict(self, epoch=None, metric=None):
        """timm's bookkeeping for a resume into the same directory (see timm)."""
        return {
            'checkpoint_files': [(os.path.basename(f), m) for f, m in self.checkpoint_files],
            'best_epoch': self.best_epoch,
            'best_metric': self.best_metric,
            'pending': (epoch, metric),
        }

    def load_state_dict(self, state_dict):
        """Restore history and best tracking from a checkpoint of this directory."""
        self.checkpoint_files = [
            (os.path.join(self.checkpoint_dir, f), m) for f, m in state_dict.get('checkpoint_files', [])
            if os.path.exists(os.path.join(self.checkpoint_dir, f))
        ]
        self.best_epoch = state_dict.get('best_epoch')
        self.best_metric = state_dict.get('best_metric')
        if not _finite(self.best_metric):
            self.best_epoch, self.best_metric = None, None
        epoch, metric = state_dict.get('pending', (None, None))
        if epoch is not None:
            save_path = self._checkpoint_path(epoch)
            if os.path.exists(save_path) and save_path not in [f for f, _ in self.checkpoint_files]:
                self._track_checkpoint(save_path, epoch, metric)

    def load_state_dict_from_checkpoint(self, checkpoint_path):
        """Restore bookkeeping from a checkpoint file (metadata only, like timm)."""
        from timm.utils.checkpoint_saver import load_checkpoint_metadata
        try:
            checkpoint = load_checkpoint_metadata(checkpoint_path)
        except RuntimeError as e:
            _logger.warning(f"Could not read checkpoint history from '{checkpoint_path}' ({e}), starting fresh.")
            return False
        state_dict = checkpoint.get('saver') if isinstance(checkpoint, dict) else None
        if state_dict is None:
            _logger.warning(f"No checkpoint history in '{checkpoint_path}', ranked checkpoints start fresh.")
            return False
        self.load_state_dict(state_dict)
        return True

    def _checkpoint_path(self, epoch):
        return os.path.join(self.checkpoint_dir, '-'.join([self.save_prefix, str(epoch)]) + self.extension)

    # ---- timm's ranking, NaN-safe (the engine decides files; this mirrors it) ------

    def _track_checkpoint(self, save_path, epoch, metric=None):
        """Add a retained checkpoint to the history; a non-finite metric never ranks."""
        rank = metric if _finite(metric) else None
        self.checkpoint_files.append((save_path, metric))
        ranked = sorted(
            [c for c in self.checkpoint_files if _finite(c[1])],
            key=lambda c: c[1],
            reverse=not self.decreasing,
        )
        unranked = [c for c in self.checkpoint_files if not _finite(c[1])]
        if rank is None:
            unranked.insert(0, unranked.pop())
        self.checkpoint_files = ranked + unranked
        if rank is not None and (self.best_metric is None or self.cmp(rank, self.best_metric)):
            self.best_epoch = epoch
            self.best_metric = metric

    def _earns_place(self, metric) -> bool:
        if len(self.checkpoint_files) < self.max_history:
            return True
        worst = self.checkpoint_files[-1][1]
        return not _finite(worst) or (_finite(metric) and self.cmp(metric, worst))

    # ---- saves -----------------------------------------------------------------------

    def save_checkpoint(self, epoch, metric=None):
        """Save the state as epoch ``epoch`` (``last``, and ``best`` when it is).

        Returns:
            ``(best_metric, best_epoch)``, both None until a finite metric was saved.
        """
        assert epoch >= 0
        run = self.run(metric)
        state = self._save_state(epoch, metric)
        rank = float(metric) if _finite(metric) else (float('nan') if metric is not None else None)
        run.save(state, epoch=int(epoch), metric=rank, blocking=not self.async_save)
        save_path = self._checkpoint_path(epoch)
        if self._earns_place(metric):
            if len(self.checkpoint_files) >= self.max_history:
                self.checkpoint_files = self.checkpoint_files[:self.max_history - 1]
            self._track_checkpoint(save_path, epoch, metric)
        return (None, None) if self.best_metric is None else (self.best_metric, self.best_epoch)

    def save_milestone(self, completed_epochs):
        """Keep ``last`` as ``milestone-N.pth.tar`` (an atomic copy; never evicted)."""
        self.wait()
        last = os.path.join(self.checkpoint_dir, 'last' + self.extension)
        save_path = os.path.join(self.checkpoint_dir, f'milestone-{completed_epochs}' + self.extension)
        _write_file(save_path, lambda w: _copy_into(last, w), self.checkpoint_dir or '.', self.lock_timeout)
        return save_path

    def save_recovery(self, epoch, batch_idx=0):
        """Write ``recovery-E-B.pth.tar`` atomically and remove the one before the last."""
        assert epoch >= 0
        filename = '-'.join([self.recovery_prefix, str(epoch), str(batch_idx)]) + self.extension
        save_path = os.path.join(self.recovery_dir, filename)
        state = self._save_state(epoch)
        if os.path.realpath(self.recovery_dir or '.') == os.path.realpath(self.checkpoint_dir or '.'):
            # The run must be a native run before its first checkpoint lands.
            _ckpt.create_run(self.checkpoint_dir or '.', lock_timeout=self.lock_timeout)
        _write_file(save_path, lambda w: torch.save(state, w), self.recovery_dir or '.', self.lock_timeout)
        if self.prev_recovery_file and self.prev_recovery_file != save_path:
            try:
                _ckpt.remove_run_file(self.prev_recovery_file, run=self.recovery_dir or '.',
                                      lock_timeout=self.lock_timeout)
            except Exception as e:  # timm logs and carries on; so do we
                _logger.error("Exception '{}' while removing {}".format(e, self.prev_recovery_file))
        self.prev_recovery_file = self.curr_recovery_file
        self.curr_recovery_file = save_path

    def find_recovery(self):
        recovery_path = os.path.join(self.recovery_dir, self.recovery_prefix)
        files = glob.glob(recovery_path + '*' + self.extension)
        files = sorted(files)
        return files[0] if len(files) else ''


def _write_file(dest: str, fill: Callable[[Any], None], run: str, lock_timeout: float) -> dict:
    return json.loads(_ckpt.write_run_file(dest, fill, run=run, lock_timeout=lock_timeout))


def _copy_into(src: str, w) -> None:
    with open(src, 'rb') as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return
            w.write(b)
