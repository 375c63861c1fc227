"""A transformers ``TrainerCallback`` that makes every ``checkpoint-N/`` durable.

    from ckpt.transformers import DurableCheckpointCallback
    trainer = Trainer(..., callbacks=[DurableCheckpointCallback()])

After the Trainer has written a checkpoint directory, the callback fsyncs every file in
it and every directory (the checkpoint's and the output dir that names it), then
records each file's size and content hash in ``<output_dir>/.ckpt/state.json`` under the
run lock. ``ckpt verify`` re-hashes against that record and names a file truncated or
altered afterwards (exit 3); ``ckpt ls`` and the monitor flag a recorded file that is
missing or has another size. Records of checkpoints the Trainer rotated away are
dropped at the next save.
"""

from __future__ import annotations

import json
import os

from transformers import TrainerCallback

from . import _ckpt

__all__ = ["DurableCheckpointCallback"]

PREFIX_CHECKPOINT_DIR = "checkpoint"


class DurableCheckpointCallback(TrainerCallback):
    """See module doc. ``last_report`` holds the engine's report of the latest save."""

    def __init__(self, lock_timeout: float = 60.0) -> None:
        self.lock_timeout = float(lock_timeout)
        self.last_report = None

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return control
        run = args.output_dir
        ckpt_dir = os.path.join(run, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        if os.path.isdir(ckpt_dir):
            self.last_report = json.loads(
                _ckpt.record_checkpoint_dir(run, ckpt_dir, lock_timeout=self.lock_timeout))
        return control
