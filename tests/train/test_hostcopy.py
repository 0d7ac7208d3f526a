"""Host copies of the weights off CUDA: an accelerator that is not CUDA (mps, xpu) must never reach
torch.cuda.Event.  No such device here, so a fake one: a CPU tensor that reports device mps."""

from __future__ import annotations

import torch

from glasslab.core.train import hostcopy
from glasslab.core.train.hostcopy import HostPool


class FakeAccelTensor:
    """What HostPool.copy touches of a device tensor: .device and .detach()."""

    def __init__(self, t: torch.Tensor, kind: str):
        self._t, self.device = t, torch.device(kind)

    def detach(self) -> torch.Tensor:
        return self._t.detach()


def test_a_non_cuda_accelerator_gets_a_synchronous_copy_without_cuda_events(monkeypatch):
    def no_cuda_event(*a, **k):
        raise AssertionError("torch.cuda.Event used for a non-CUDA device")

    monkeypatch.setattr(hostcopy.torch.cuda, "Event", no_cuda_event)
    for kind in ("mps", "xpu"):
        pool = HostPool(1000, torch.float32, torch.device(kind))
        assert not pool.pinned
        w = torch.randn(1000)
        before = w.clone()
        c = pool.copy(FakeAccelTensor(w, kind))
        w.add_(1.0)  # training goes on: the copy must not change
        assert torch.equal(c.tensor(), before)
        buf = c.tensor()
        c.release()
        c2 = pool.copy(FakeAccelTensor(w, kind))  # the released buffer is reused, refilled
        assert c2.tensor().data_ptr() == buf.data_ptr() and torch.equal(c2.tensor(), w)


def test_cpu_snapshots_are_clones():
    w = torch.randn(10)
    c = HostPool(10, torch.float32, torch.device("cpu")).copy(w)
    w.zero_()
    assert not torch.equal(c.tensor(), w)
