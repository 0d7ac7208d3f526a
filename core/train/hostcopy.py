"""Device-to-host copies of the weight vector for the writer thread.

On CPU a snapshot is a plain clone.  On CUDA the copy goes into a pinned buffer
with `copy_(non_blocking=True)` and an event: training continues while the DMA
runs, and the writer thread waits on the event before it reads the buffer
(reading before the event would yield garbage).  Any other accelerator (mps, xpu ...)
gets a plain synchronous copy into a pool buffer: torch.cuda.Event exists only for CUDA,
and a blocking copy is always correct.  Its cost: the training loop waits for one
device-to-host copy of N floats per snapshot (a few ms for N ~ 1e7; snapshots are
log-spaced, so a few hundred per run).  Buffers come from a small
pool and go back after the write; if the writer lags behind, the pool grows
rather than blocking training (the writer's bounded queue is what throttles).
"""

from __future__ import annotations

import queue

import torch


class HostPool:
    def __init__(self, n: int, dtype: torch.dtype, device: torch.device):
        self.n, self.dtype = n, dtype
        self.pinned = device.type == "cuda"  # pinned memory (and the async copy) is a CUDA thing
        self.free: queue.SimpleQueue = queue.SimpleQueue()

    def _take(self) -> torch.Tensor:
        try:
            return self.free.get_nowait()
        except queue.Empty:
            return torch.empty(self.n, dtype=self.dtype, pin_memory=self.pinned)

    def copy(self, src: torch.Tensor) -> "HostCopy":
        if src.device.type == "cpu":
            return HostCopy(src.detach().clone(), None, None)
        buf = self._take()
        if src.device.type != "cuda":
            buf.copy_(src.detach())  # synchronous: the data is on the host when copy_ returns
            return HostCopy(buf, None, self)
        buf.copy_(src.detach(), non_blocking=True)
        event = torch.cuda.Event()
        event.record()
        return HostCopy(buf, event, self)


class HostCopy:
    """A host tensor that may still be in flight; `.tensor()` waits for it."""

    def __init__(self, t: torch.Tensor, event, pool: HostPool | None):
        self._t, self._event, self._pool = t, event, pool

    def tensor(self) -> torch.Tensor:
        if self._event is not None:
            self._event.synchronize()
            self._event = None
        return self._t

    def release(self) -> None:
        """Give the buffer back for reuse; the tensor must not be read afterwards."""
        if self._pool is not None:
            self.tensor()
            self._pool.free.put(self._t)
            self._pool = None
