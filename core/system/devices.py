"""Which device a run trains on: auto, cpu, cuda, cuda:N or mps, checked against what is here.

On a shared GPU server the user picks the GPU (`--device cuda:1`, `run.device = "cuda:1"`); a GPU
that is not there is one line of bad input naming the ones that are.  gpu_info is what the store's
provenance records of a CUDA device, memory_in_use what the heartbeat, ps and the status line show.
"""

from __future__ import annotations

import re

import torch

from glasslab.core.errors import BadInput

CUDA_INDEX = re.compile(r"cuda:(\d+)")


def _has_mps() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def resolve(name: str) -> torch.device:
    """auto: cuda (the current GPU), then mps, then cpu.  cuda:N: the N-th GPU torch sees (after
    CUDA_VISIBLE_DEVICES).  Raises BadInput, one line, for a device that is absent or unknown."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _has_mps() else "cpu")
    index = CUDA_INDEX.fullmatch(name)
    if name == "cuda" or index:
        if not torch.cuda.is_available():
            raise BadInput(f"device {name} asked for, but torch {torch.__version__} sees no CUDA GPU here: "
                           "use --device cpu (or auto)")
        if index and int(index.group(1)) >= torch.cuda.device_count():
            raise BadInput(f"device {name} asked for, but this machine has {present()}")
        return torch.device(name)
    if name == "mps" and not _has_mps():
        raise BadInput("device mps asked for, but this machine has no Apple GPU: use --device cpu (or auto)")
    if name not in ("cpu", "mps"):
        raise BadInput(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps")
    return torch.device(name)


def present() -> str:
    """The CUDA GPUs here, for an error line: '2 CUDA GPUs: cuda:0 (NVIDIA H100), cuda:1 (NVIDIA H100)'."""
    n = torch.cuda.device_count()
    names = ", ".join(f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(n))
    return f"{n} CUDA GPU{'s' if n != 1 else ''}: {names}" if n else "no CUDA GPU"


def available() -> list[str]:
    """The devices a run may ask for here (the console's start dialog): cuda:N for each GPU when several."""
    out = ["auto", "cpu"]
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        out += ["cuda"] + ([f"cuda:{i}" for i in range(n)] if n > 1 else [])
    if _has_mps():
        out.append("mps")
    return out


def _index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()


def gpu_info(device: torch.device) -> dict:
    """What the store records of a CUDA device: {"index", "name", "memory_total_bytes"}; {} off CUDA."""
    if device.type != "cuda":
        return {}
    i = _index(device)
    return {"index": i, "name": torch.cuda.get_device_name(i),
            "memory_total_bytes": int(torch.cuda.get_device_properties(i).total_memory)}


def memory_in_use(device: torch.device) -> int | None:
    """Bytes this process's tensors hold on a CUDA device (torch's allocator; a host-side counter, not
    a sync point); None off CUDA."""
    if device.type != "cuda":
        return None
    return int(torch.cuda.memory_allocated(_index(device)))
