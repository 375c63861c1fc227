"""ckpt: crash-safe, durable training checkpoints, from Python.

    import ckpt
    run = ckpt.Run("output/train/exp1", metric_name="eval_top1", mode="max", keep_top=3)
    run.save(state, epoch=3, metric=71.2)                   # durable when it returns
    fut = run.save(state, epoch=4, metric=72.0, blocking=False)  # returns once staged
    run.wait()                                              # every pending save durable

Same engine, rules and messages as the ``ckpt`` CLI. Adapters: ``ckpt.timm``,
``ckpt.lightning``, ``ckpt.transformers`` (imported on demand).
"""

from ._errors import (
    ChangedSincePlanError,
    CorruptRunError,
    Error,
    ExistsError,
    IncompletePayloadError,
    InvalidOperationError,
    IoError,
    LockTimeoutError,
    NoRunError,
    NoSpaceError,
    NotWritableError,
    UnknownCheckpointError,
)
from ._run import Run, SaveFuture, SaveReport
from ._ckpt import Writer

__version__ = "0.1.0"

# Tracebacks name them as users import them: ckpt.NoSpaceError, not ckpt._errors.NoSpaceError.
for _cls in (Error, NoSpaceError, LockTimeoutError, CorruptRunError, NotWritableError, NoRunError,
             UnknownCheckpointError, ChangedSincePlanError, ExistsError, IncompletePayloadError,
             InvalidOperationError, IoError, Run, SaveFuture, SaveReport):
    _cls.__module__ = "ckpt"
del _cls

__all__ = [
    "Run",
    "SaveFuture",
    "SaveReport",
    "Writer",
    "Error",
    "NoSpaceError",
    "LockTimeoutError",
    "CorruptRunError",
    "NotWritableError",
    "NoRunError",
    "UnknownCheckpointError",
    "ChangedSincePlanError",
    "ExistsError",
    "IncompletePayloadError",
    "InvalidOperationError",
    "IoError",
]
