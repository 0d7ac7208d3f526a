"""Gradient-noise strength: per-sample gradient norms, D and the minibatch variance D_B.

This module owns the noise measurements of docs/science.md (section 4, the noise strength), on a
probe set of M training samples with per-sample losses l_alpha and L their mean:

    D   = (1/M) sum_alpha |grad l_alpha - grad L|^2
        = (1/M) sum_alpha |grad l_alpha|^2 - |grad L|^2              [BJ18]
    D_B = sum_params ( <g_b^2>_b - <g_b>_b^2 )  over the minibatches b of one epoch
                                                                      ([BJ18]'s code)

Only the per-sample squared norms |grad l_alpha|^2 are needed, and they come
from one forward and one backward pass of sum_alpha l_alpha, without per-sample
gradients of the whole model (Goodfellow 2015, arXiv:1510.01799; the "ghost
norm" of Opacus' ghost clipping):

- Linear: the per-sample weight gradient is sum_t g_t a_t^T (t over sequence
  positions, a single t for 2-D inputs), so |grad_W l|^2 = |g|^2 |a|^2 for one
  position and sum_{t,t'} (a_t . a_t')(g_t . g_t') ("ghost norm") otherwise;
  bias: |sum_t g_t|^2.
- Conv2d: the same with a_s the unfolded input patches at output position s;
  per layer the cheaper of the ghost norm (B L^2 numbers) and the materialised
  per-sample weight gradient (B out in k^2 numbers) is used.
- Any other module with parameters (GroupNorm, BatchNorm in eval mode,
  Harmonic's bare parameter, ...): per-sample vector-Jacobian products of that
  module alone (torch.func vmap over functional_call), fed with its captured
  input and output gradient.
- Parameters not used through exactly one call of their module (tied weights, a
  module called twice, weights used by a parent's forward): torch.func over the
  whole model, with only those parameters as differentiated inputs.

Here a is a layer's input captured by a forward hook and g = d(sum_beta l_beta)/d(output),
captured by a tensor hook on the output; g_alpha is the gradient of l_alpha
alone because sample alpha's output enters no other l_beta.  This needs the
usual assumption of per-sample gradients: no module mixes samples, and a
parameter is only used inside its own module's forward.

BatchNorm in train mode mixes the samples of a batch, so such models have no
per-sample gradients: every measurement here runs models with BatchNorm in eval
mode (running statistics) and restores the previous modes afterwards;
`uses_eval_mode` and `NoiseResult.eval_mode` report it.  Nothing here writes
p.grad (all gradients come from torch.autograd.grad), the weights, the buffers
or the RNG state.

[BJ18] M. Baity-Jesi et al., "Comparing dynamics: deep neural networks versus
glassy systems", ICML 2018.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from glasslab.core.system.models import mean_loss, per_sample_loss

__all__ = [
    "NoiseResult",
    "minibatch_variance",
    "noise_strength",
    "per_sample_sq_norms",
    "per_sample_sq_norms_loop",
    "per_sample_sq_norms_vmap",
    "probe_indices",
    "uses_eval_mode",
]


@dataclass(frozen=True)
class NoiseResult:
    """D = mean_sq_norm - grad_norm2 over a probe set of M samples ([BJ18]).

    mean_sq_norm = (1/M) sum_alpha |grad l_alpha|^2, grad_norm2 = |grad L|^2;
    eval_mode: the model has BatchNorm and was measured in eval mode.
    D is a difference of two float64 numbers; when the gradients of all samples
    agree it is 0 up to rounding of order eps(model dtype) * mean_sq_norm.
    """

    D: float
    mean_sq_norm: float
    grad_norm2: float
    M: int
    eval_mode: bool


def uses_eval_mode(model: nn.Module) -> bool:
    """Whether the noise measurements run `model` in eval mode: True when it has BatchNorm.

    Per-sample gradients |grad l_alpha|^2 (Goodfellow 2015, arXiv:1510.01799) and
    hence D = (1/M) sum_alpha |grad l_alpha|^2 - |grad L|^2 ([BJ18]) need each
    l_alpha to depend on sample alpha alone, which BatchNorm in train mode breaks.
    """
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def probe_indices(P: int, size: int, seed: int) -> torch.Tensor:
    """The probe set of D ([BJ18]; norms as in Goodfellow 2015, arXiv:1510.01799).

    D = (1/M) sum_{alpha in probe} |grad l_alpha|^2 - |grad L|^2 is measured on
    all P training samples when P <= size (M = P), else on a fixed random subset
    of M = size of them, drawn from `seed` alone, in increasing order.
    """
    if P <= size:
        return torch.arange(P)
    gen = torch.Generator().manual_seed(seed)
    return torch.randperm(P, generator=gen)[:size].sort().values


def per_sample_sq_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """|grad_w l_alpha|^2 over all trainable parameters, for each sample: float64 [B].

    Exact, from one forward and one backward pass of sum_alpha l_alpha with hooked
    layer inputs a and output gradients g (Goodfellow 2015, arXiv:1510.01799):
    Linear |g|^2 |a|^2 (ghost norm sum_{t,t'} (a_t.a_t')(g_t.g_t') over positions),
    Conv2d ghost norm or materialised per-layer gradient, other layers by
    per-sample vjps of that layer (see the module docstring).  These are the
    terms of D = (1/M) sum_alpha |grad l_alpha|^2 - |grad L|^2 ([BJ18]).
    Models with BatchNorm run in eval mode (`uses_eval_mode`).
    """
    with _measuring(model):
        return _chunk(model, x, y, want_grad=False)[0]


def noise_strength(model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk: int = 256) -> NoiseResult:
    """D = (1/M) sum_alpha |grad l_alpha|^2 - |grad L|^2 over the M samples (x, y) ([BJ18]).

    grad L is the mean gradient over the same M samples.  The probe set is
    processed `chunk` samples at a time (memory stays bounded; x may stay on the
    CPU while the model is elsewhere) and both terms are accumulated in float64.
    Per-sample norms as in `per_sample_sq_norms` (Goodfellow 2015, arXiv:1510.01799).
    Leaves p.grad, the weights, the buffers, the modes and the RNG state as they were.
    """
    M = len(x)
    if M == 0:
        raise ValueError("noise_strength needs at least one sample")
    sq_sum, grad_sum = 0.0, None
    with _measuring(model):
        for i in range(0, M, chunk):
            sq, grads = _chunk(model, x[i:i + chunk], y[i:i + chunk], want_grad=True)
            sq_sum += sq.sum().item()
            grad_sum = grads if grad_sum is None else [s + g for s, g in zip(grad_sum, grads)]
    mean_sq = sq_sum / M
    grad_norm2 = sum((s / M).square().sum().item() for s in grad_sum)
    return NoiseResult(D=mean_sq - grad_norm2, mean_sq_norm=mean_sq, grad_norm2=grad_norm2,
                       M=M, eval_mode=uses_eval_mode(model))


def minibatch_variance(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batches: list[torch.Tensor]) -> float:
    """[BJ18]'s D_B = sum_params ( <g_b^2>_b - <g_b>_b^2 ), in float64.

    g_b is the gradient of the mean loss over minibatch b, and <.>_b averages over
    `batches`, index tensors into (x, y) of one size B: one epoch of the probe set drawn
    as the run draws its minibatches (core/system/dynamics.one_epoch).  For B = 1 over a
    whole epoch this is D (per-sample norms: Goodfellow 2015, arXiv:1510.01799).  Models
    with BatchNorm run in eval mode, as for D.
    """
    n_batches = len(batches)
    params = _params(model)
    s1 = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    s2 = [torch.zeros_like(p, dtype=torch.float64) for p in params]
    with _measuring(model):
        for idx in batches:
            xb, yb = _to(x[idx], y[idx], params[0].device)
            grads = _grads(mean_loss(model, model(xb), yb), params)
            for a1, a2, g in zip(s1, s2, grads):
                g = g.double()
                a1 += g
                a2 += g * g
    return sum((a2 / n_batches - (a1 / n_batches).square()).sum().item() for a1, a2 in zip(s1, s2))


def per_sample_sq_norms_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Reference |grad_w l_alpha|^2, float64 [B]: one backward pass per sample.

    The plain definition behind D = (1/M) sum_alpha |grad l_alpha|^2 - |grad L|^2
    ([BJ18]); slow, for tests and benchmarks of the Goodfellow 2015
    (arXiv:1510.01799) route in `per_sample_sq_norms`.  Same mode policy.
    """
    params = _params(model)
    out = torch.empty(len(x), dtype=torch.float64, device=params[0].device)
    with _measuring(model):
        for i in range(len(x)):
            xi, yi = _to(x[i:i + 1], y[i:i + 1], params[0].device)
            grads = _grads(per_sample_loss(model, model(xi), yi).sum(), params)
            out[i] = sum(g.double().square().sum() for g in grads)
    return out


def per_sample_sq_norms_vmap(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Reference |grad_w l_alpha|^2, float64 [B]: torch.func vmap(grad) over the whole model.

    d l_alpha/dw = g_alpha . d f(x_alpha)/dw with g_alpha = dl_alpha/d f(x_alpha) from a
    batched pass.  Materialises all B x N per-sample gradients (what Goodfellow 2015,
    arXiv:1510.01799, avoids); for benchmarks of D = (1/M) sum_alpha |grad l_alpha|^2
    - |grad L|^2 ([BJ18]).  Same mode policy.
    """
    named = {n: p for n, p in model.named_parameters() if p.requires_grad}
    x, y = _to(x, y, next(iter(named.values())).device)
    with _measuring(model):
        # the loss enters as its output gradient: F.one_hot (toy's loss) does not vmap
        out = model(x)
        g_out = torch.autograd.grad(per_sample_loss(model, out, y).sum(), out)[0]
        return _vjp_sq_norms(model, named, _Call((x,), {}, [x._version], g_out), len(x))


# ---------------------------------------------------------------------------- internals


def _params(model: nn.Module) -> list[nn.Parameter]:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters: no gradient noise to measure")
    return params


def _to(x, y, device):
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def _grads(loss: torch.Tensor, params) -> list[torch.Tensor]:
    """d loss / d params without touching p.grad (unused parameters get zeros)."""
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def _sq_sum(tensors, B: int) -> torch.Tensor:
    """sum over tensors of |t_alpha|^2 for tensors of leading dimension B, as float64 [B]."""
    total = None
    for t in tensors:
        sq = t.reshape(B, -1).square().sum(1).double()
        total = sq if total is None else total + sq
    return total


@contextlib.contextmanager
def _measuring(model: nn.Module):
    """Eval mode for models with BatchNorm, gradients enabled, RNG state and module modes restored."""
    modes = [(m, m.training) for m in model.modules()]
    cuda = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    try:
        with torch.random.fork_rng(devices=cuda), torch.enable_grad():
            if uses_eval_mode(model):
                model.eval()
            yield
    finally:
        for m, training in modes:
            m.training = training


@dataclass
class _Call:
    """One call of a module during the forward pass: its inputs and (later) its output gradient."""

    args: tuple
    kwargs: dict
    versions: list[int]
    grad: torch.Tensor | None = None

    def check_inputs(self) -> None:
        if [a._version for a in self.args if isinstance(a, torch.Tensor)] != self.versions:
            raise RuntimeError("a layer input was modified in place after the layer used it; "
                               "per-sample norms need its value")


class _Capture:
    """Forward hooks on the modules that own trainable parameters, for one forward pass.

    Each call records the module's inputs (detached) and puts a hook on its output
    tensor that records d(sum l)/d(output).  A tensor hook registered before an
    in-place change of the output (ResNet's ReLU(inplace=True)) receives the
    gradient with respect to the value the module returned.
    """

    def __init__(self, model: nn.Module):
        owners = {}
        for m in model.modules():
            local = [(n, p) for n, p in m.named_parameters(recurse=False) if p.requires_grad]
            if local:
                owners[m] = local
        seen: dict[int, int] = {}
        for local in owners.values():
            for _, p in local:
                seen[id(p)] = seen.get(id(p), 0) + 1
        self.owners = owners
        self.shared = {pid for pid, k in seen.items() if k > 1}  # tied weights
        self.calls: dict[nn.Module, list[_Call]] = {m: [] for m in owners}
        self.active = False
        self.handles = [m.register_forward_hook(self._hook, with_kwargs=True) for m in owners]

    def _hook(self, module, args, kwargs, out):
        if not self.active:
            return
        args = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
        call = _Call(args, kwargs, [a._version for a in args if isinstance(a, torch.Tensor)])
        self.calls[module].append(call)
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(lambda g: setattr(call, "grad", g.detach()))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _chunk(model, x, y, want_grad: bool):
    """Per-sample squared norms (float64 [B]) and, if wanted, sum_alpha grad l_alpha (float64)."""
    params = _params(model)
    x, y = _to(x, y, params[0].device)
    B = len(x)
    cap = _Capture(model)
    try:
        cap.active = True
        out = model(x)
        cap.active = False
        grads = _grads(per_sample_loss(model, out, y).sum(), [out] + params)
        g_out, grads = grads[0].detach(), grads[1:]
        sq = torch.zeros(B, dtype=torch.float64, device=x.device)
        rest = {}  # parameters for the whole-model route, by id
        for module, local in cap.owners.items():
            own = [(n, p) for n, p in local if id(p) not in cap.shared]
            rest.update((id(p), p) for n, p in local if id(p) in cap.shared)
            calls = cap.calls[module]
            if own and len(calls) == 1 and _batched(calls[0], B):
                sq += _module_sq_norms(module, dict(own), calls[0], B)
            else:
                rest.update((id(p), p) for _, p in own)
        if rest:
            named = {n: p for n, p in model.named_parameters() if id(p) in rest}
            sq += _vjp_sq_norms(model, named, _Call((x,), {}, [x._version], g_out), B)
    finally:
        cap.remove()
    return sq, ([g.double() for g in grads] if want_grad else None)


def _batched(call: _Call, B: int) -> bool:
    """Whether a call's inputs are tensors with the batch as leading dimension (per-layer route)."""
    return bool(call.args) and all(isinstance(a, torch.Tensor) and a.dim() >= 1 and len(a) == B
                                   for a in call.args)


def _is_plain(module: nn.Module, cls: type) -> bool:
    """An instance of cls whose forward is cls.forward (a subclass may compute something else)."""
    return isinstance(module, cls) and type(module).forward is cls.forward


def _module_sq_norms(module: nn.Module, own: dict, call: _Call, B: int) -> torch.Tensor:
    """sum over the module's own parameters of |grad l_alpha|^2, float64 [B]."""
    call.check_inputs()
    g = call.grad
    if g is None:  # the output never reached the loss: zero gradients
        return torch.zeros(B, dtype=torch.float64, device=call.args[0].device)
    a = call.args[0]
    if _is_plain(module, nn.Linear) and len(call.args) == 1 and a.dim() >= 2:
        a = a.reshape(B, -1, a.shape[-1])  # [B, T, in]
        g = g.reshape(B, -1, g.shape[-1])  # [B, T, out]
        return _weight_bias_sq_norms(own, a, g)
    if (_is_plain(module, nn.Conv2d) and len(call.args) == 1 and a.dim() == 4 and module.groups == 1
            and module.padding_mode == "zeros" and not isinstance(module.padding, str)):
        a = _patches(a, module.kernel_size, module.dilation, module.padding, module.stride)
        return _weight_bias_sq_norms(own, a.transpose(1, 2), g.flatten(2).transpose(1, 2))
    return _vjp_sq_norms(module, own, call, B)


def _patches(a: torch.Tensor, kernel, dilation, padding, stride) -> torch.Tensor:
    """The input patch of every output position of a Conv2d, [B, C kh kw, H'W'] (as F.unfold).

    One strided copy of the padded input, rows of output positions innermost: on the CPU
    F.unfold (im2col) is 10-20x slower (about 7 s against 0.4 s for 1000 CIFAR images
    through a 5x5 kernel, 2 cores).
    """
    a = F.pad(a, (padding[1], padding[1], padding[0], padding[0]))
    B, C, H, W = a.shape
    Ho = (H - dilation[0] * (kernel[0] - 1) - 1) // stride[0] + 1
    Wo = (W - dilation[1] * (kernel[1] - 1) - 1) // stride[1] + 1
    sB, sC, sH, sW = a.stride()
    p = a.as_strided((B, C, kernel[0], kernel[1], Ho, Wo),
                     (sB, sC, sH * dilation[0], sW * dilation[1], sH * stride[0], sW * stride[1]))
    return p.reshape(B, C * kernel[0] * kernel[1], Ho * Wo)


def _weight_bias_sq_norms(own: dict, a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """|sum_t g_t a_t^T|^2 (if "weight" is own) + |sum_t g_t|^2 (if "bias" is own), float64 [B].

    a: [B, T, K] inputs (unfolded patches for a convolution), g: [B, T, O] output gradients.
    Each sample's sum runs in the model's dtype (a float64 copy of the activations would
    cost as much as the backward pass); layers and samples are accumulated in float64.
    """
    B, T, K = a.shape
    O = g.shape[2]
    sq = torch.zeros(B, dtype=torch.float64, device=a.device)
    if "weight" in own:
        if T == 1:  # Goodfellow's |g|^2 |a|^2
            sq += a.square().sum((1, 2)).double() * g.square().sum((1, 2)).double()
        elif 2 * T * T <= K * O:  # ghost norm: two [B, T, T] Gram matrices
            sq += (a @ a.transpose(1, 2) * (g @ g.transpose(1, 2))).sum((1, 2)).double()
        else:  # this layer's per-sample gradient, [B, O, K]
            sq += (g.transpose(1, 2) @ a).square().sum((1, 2)).double()
    if "bias" in own:
        sq += g.sum(1).square().sum(1).double()
    return sq


def _vjp_sq_norms(module: nn.Module, own: dict, call: _Call, B: int) -> torch.Tensor:
    """|d l_alpha / d own|^2 from per-sample vjps of `module` alone, float64 [B].

    d l_alpha/d p = g_alpha . d module(a_alpha)/d p, with g_alpha the captured output gradient.
    """
    call.check_inputs()
    if call.grad is None:
        return torch.zeros(B, dtype=torch.float64, device=call.args[0].device)
    params = {n: p.detach() for n, p in own.items()}

    def pulled(p, args, g):
        out = functional_call(module, p, tuple(a.unsqueeze(0) for a in args), call.kwargs)
        return (out * g.unsqueeze(0)).sum()

    grads = vmap(grad(pulled), in_dims=(None, 0, 0))(params, call.args, call.grad)
    return _sq_sum(grads.values(), B)
