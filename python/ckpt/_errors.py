"""The exceptions ckpt raises. ``str(e)`` is the CLI's message (``ckpt: error: ...``
without the prefix); the fields the engine reports are attributes.

Every class derives from :class:`Error`; the OS-flavoured ones also derive from the
matching built-in (``except OSError`` still catches a full disk).
"""

import errno as _errno


class Error(Exception):
    """Base class of every ckpt error."""

    def __init__(self, message="", **fields):
        Exception.__init__(self, message)
        self.message = message
        for k, v in fields.items():
            setattr(self, k, v)

    def __str__(self):
        return self.message

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, _fields(self)))


def _fields(e):
    return {k: v for k, v in vars(e).items() if k not in ("message", "errno", "strerror", "filename", "filename2", "characters_written")}


def _rebuild(cls, message, fields):
    return cls(message, **fields)


class _OSError(Error, OSError):
    """An Error that is also an OSError with an errno."""

    _default_errno = None

    def __init__(self, message="", errno=None, path=None, **fields):
        code = errno if errno is not None else self._default_errno
        OSError.__init__(self, code, message, path)
        self.message = message
        self.path = path
        for k, v in fields.items():
            setattr(self, k, v)

    def __str__(self):
        return self.message

    def __reduce__(self):
        f = _fields(self)
        f["errno"] = self.errno
        return (_rebuild, (type(self), self.message, f))


class NoSpaceError(_OSError):
    """Not enough free space; nothing was changed. ``errno == ENOSPC``; ``available`` and
    ``needed`` are bytes (None when the disk filled up during the write itself),
    ``hint`` says what pruning would free."""

    _default_errno = _errno.ENOSPC

    def __init__(self, message="", errno=None, path=None, available=None, needed=None, **fields):
        _OSError.__init__(self, message, errno, path, available=available, needed=needed, **fields)


class LockTimeoutError(_OSError, TimeoutError):
    """Another process held the run lock for longer than ``lock_timeout``
    (``pid``, ``operation``, ``since``, ``waited_secs`` say who)."""

    _default_errno = _errno.ETIMEDOUT


class CorruptRunError(Error):
    """The run's manifest is unreadable or invalid (``path``, ``reason``);
    ``ckpt doctor RUN`` inspects it."""


class NotWritableError(_OSError, PermissionError):
    """The run directory refuses writes; nothing was changed."""

    _default_errno = _errno.EACCES


class NoRunError(_OSError, FileNotFoundError):
    """No run at that path (``reason`` says why)."""

    _default_errno = _errno.ENOENT


class UnknownCheckpointError(Error, LookupError):
    """No checkpoint with that epoch or name in the run."""


class ChangedSincePlanError(Error):
    """A file changed between a prune/restore plan and its apply; it was left alone."""


class ExistsError(_OSError, FileExistsError):
    """The destination exists (export without ``force=True``)."""

    _default_errno = _errno.EEXIST


class IncompletePayloadError(Error, ValueError):
    """The bytes to save are empty or a torch zip cut short; the run was not changed."""


class InvalidOperationError(Error, ValueError):
    """The operation is not possible for this run, state or arguments."""


class IoError(_OSError):
    """An OS error on a named path during a named step (``op``)."""
