"""Staging for async saves: a copy of the object whose tensor data the save owns, so
the trainer can change its model while the save runs.

Tensors are copied storage by storage (views that shared a storage still share the
staged one, so the file is what ``torch.save`` of the original would write) into CPU
buffers that are kept and reused by the next staging of the same run: the memory cost
of async saves is one staged copy of the state, allocated once.
"""

import copy
import types


class StagingPool:
    """Reusable CPU storages, keyed by size in bytes. Not thread-safe: one staging at a
    time per run, and never while a save that uses the previous staging is in flight."""

    def __init__(self):
        self._free = {}

    def take(self, torch, nbytes):
        free = self._free.get(nbytes)
        if free:
            return free.pop()
        return torch.UntypedStorage(nbytes, device="cpu")

    def give_back(self, storages):
        self._free = {}
        for st in storages:
            self._free.setdefault(st.nbytes(), []).append(st)


def _is_plain_tensor(torch, t):
    return type(t) is torch.Tensor or type(t) is torch.nn.Parameter


def _walk(obj, out, seen, tensor_type):
    """Collect the tensors inside the usual containers: dicts, lists, tuples, sets,
    namedtuples and the attributes of plain objects (an ``argparse.Namespace``, a
    module's parameters)."""
    oid = id(obj)
    if oid in seen:
        return
    seen.add(oid)
    if isinstance(obj, tensor_type):
        out.append(obj)
    elif isinstance(obj, dict):
        for v in obj.values():
            _walk(v, out, seen, tensor_type)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            _walk(v, out, seen, tensor_type)
    elif isinstance(obj, (str, bytes, int, float, complex, bool, type(None), type, types.ModuleType, types.FunctionType)):
        return
    else:
        try:
            d = vars(obj)
        except TypeError:
            return
        if isinstance(d, dict):
            for v in d.values():
                _walk(v, out, seen, tensor_type)


def estimate_bytes(obj):
    """Bytes of tensor data ``torch.save(obj)`` writes (each storage once), plus a
    little for the pickle: the size the free-space preflight asks for."""
    import torch

    leaves = []
    _walk(obj, leaves, set(), torch.Tensor)
    seen = set()
    total = 0
    for t in leaves:
        try:
            st = t.untyped_storage()
        except (RuntimeError, NotImplementedError):
            continue
        key = (st.data_ptr(), str(st.device))
        if key not in seen:
            seen.add(key)
            total += st.nbytes()
    return total + (64 << 10) + 1024 * len(leaves)


def stage(obj, pool):
    """Return ``(staged_object, storages_used)``: a deep copy of ``obj`` whose tensors
    live in storages the save owns. Tensors hidden in objects the walk does not enter
    are copied by ``copy.deepcopy`` (correct, just not pooled)."""
    import torch

    leaves = []
    _walk(obj, leaves, set(), torch.Tensor)
    memo = {}
    staged_storages = {}
    used = []
    with torch.no_grad():
        for t in leaves:
            if not isinstance(t, torch.Tensor) or not _is_plain_tensor(torch, t):
                continue
            if id(t) in memo or t.is_sparse or t.layout != torch.strided:
                continue
            src = t.untyped_storage()
            key = (src.data_ptr(), str(src.device), src.nbytes())
            dst = staged_storages.get(key)
            if dst is None:
                dst = pool.take(torch, src.nbytes())
                if src.nbytes():
                    dst.copy_(src)
                staged_storages[key] = dst
                used.append(dst)
            new = torch.empty((0,), dtype=t.dtype, device="cpu")
            new.set_(dst, t.storage_offset(), t.size(), t.stride())
            if type(t) is torch.nn.Parameter:
                new = torch.nn.Parameter(new, requires_grad=t.requires_grad)
            elif t.requires_grad:
                new.requires_grad_(True)
            memo[id(t)] = new
    # deepcopy copies the containers (and anything else) and substitutes staged tensors.
    staged = copy.deepcopy(obj, memo)
    return staged, used
