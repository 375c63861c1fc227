"""``timm.utils`` with ``CheckpointSaver`` replaced by ``ckpt.timm.CheckpointSaver``.

The one-line switch for timm's ``train.py``::

    -from timm import utils
    +from ckpt.timm import utils

Every other name (``utils.AverageMeter``, ``utils.accuracy``, ``utils.update_summary``,
``utils.NativeScaler``, ``utils.ModelEmaV3``, submodules such as ``utils.model``, …) is
timm's own object, looked up in ``timm.utils`` when used. ``from ckpt.timm.utils import
*`` gives what ``from timm.utils import *`` gives, with ckpt's saver.
"""

import timm.utils as _timm_utils

from . import CheckpointSaver

__all__ = sorted(
    {n for n in getattr(_timm_utils, "__all__", dir(_timm_utils)) if not n.startswith("_")}
    | {"CheckpointSaver"}
)


def __getattr__(name):
    # Everything but CheckpointSaver is timm's (PEP 562: only names not defined here).
    try:
        return getattr(_timm_utils, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def __dir__():
    return sorted(set(globals()) | set(dir(_timm_utils)))
