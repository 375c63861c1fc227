"""A Lightning ``CheckpointIO`` plugin whose saves and removals go through the ckpt engine.

    import lightning as L
    import ckpt.lightning

    trainer = L.Trainer(plugins=[ckpt.lightning.CheckpointIO()],
                        callbacks=[L.pytorch.callbacks.ModelCheckpoint(save_top_k=2, save_last=True)])

Lightning keeps choosing the names (``epoch=E-step=S.ckpt``, ``last.ckpt``); each file
is streamed by ``torch.save`` into a unique temp in the same directory, fsynced, renamed
onto its name under the run lock and the directory fsynced, so a crash or a kill never
leaves a partial ``.ckpt`` under a Lightning name, and a full disk is refused before
writing (``ckpt.NoSpaceError``). ``remove_checkpoint`` removes through the engine: only
checkpoint files inside the run, symlinks never followed, and a checkpoint pinned with
``ckpt pin`` (or promoted with ``ckpt promote``) is kept, with a warning.
Loading is Lightning's own (``TorchCheckpointIO.load_checkpoint``).
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Callable, Optional

import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from . import _ckpt

log = logging.getLogger(__name__)

__all__ = ["CheckpointIO"]


class CheckpointIO(TorchCheckpointIO):
    """Atomic, durable Lightning checkpoints (see module doc).

    Args:
        lock_timeout: seconds a save waits for the run lock (``ckpt`` CLI actions hold
            it briefly).
    """

    def __init__(self, lock_timeout: float = 60.0) -> None:
        super().__init__()
        self.lock_timeout = float(lock_timeout)

    def save_checkpoint(self, checkpoint: dict, path, storage_options: Optional[Any] = None) -> None:
        if storage_options is not None:
            raise TypeError(
                "`Trainer.save_checkpoint(..., storage_options=...)` is not supported by "
                "ckpt.lightning.CheckpointIO")
        path = os.fspath(path)
        self._write(path, lambda w: torch.save(checkpoint, w))

    def _write(self, path: str, fill: Callable[[Any], None]) -> dict:
        """Stream ``fill(writer)`` into ``path`` atomically (the engine's writer)."""
        return json.loads(_ckpt.write_run_file(path, fill, lock_timeout=self.lock_timeout))

    def remove_checkpoint(self, path) -> None:
        path = os.fspath(path)
        res = json.loads(_ckpt.remove_run_file(path, lock_timeout=self.lock_timeout))
        if res.get("outcome") == "kept":
            from lightning.fabric.utilities.rank_zero import rank_zero_warn
            rank_zero_warn(f"ckpt kept {path}: {res.get('reason')}")
        elif res.get("outcome") == "removed":
            log.debug(f"Removed checkpoint: {path}")
