"""What a dynamics is: its kinds, which fields mean something for each, and the facts derived from them.

The preset's `[dynamics]` table (core/config/presets.py, DynamicsConfig) holds the
values; this module says, once, what they mean, and every other module asks it:

- the kinds (GD, SGD, Langevin), their labels, which use minibatches, which carry
  momentum (Langevin is overdamped) or a temperature;
- the samplers, how minibatches are drawn: reshuffled epochs (each epoch a fresh
  permutation cut into batches, without replacement: the default, and what a store
  without the field did) or independent batches of B samples drawn with replacement
  each step;
- which fields apply to a dynamics (the preset browser hides the others);
- the checks a dynamics must pass against the training set (batch size <= P, ...);
- steps per epoch, the noise-off counterpart (`glasslab control`'s control), and the
  variance of a minibatch's mean gradient per unit of per-sample variance (the
  sampling correction of the noise-size prediction, core/analysis/checks.py);
- the one-line description (preset list, status line, ps, the printer's switch line);
- a switch: the one rule for what it sets (switch_values: a new kind takes the preset's values
  for the fields not given), the dynamics a run continues with, validated as a preset is.

Every function takes a DynamicsConfig or the same fields as a mapping (a store's
`preset.dynamics` attribute, a switch event's old/new): a missing field reads as
its default, so stores written before a field existed read as that default.
Pure Python, no torch.  docs/science.md, section 2, gives the update rules.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

from glasslab.core.errors import BadInput

GD, SGD, LANGEVIN = "gd", "sgd", "langevin"
KINDS = (GD, SGD, LANGEVIN)
LABELS = {GD: "GD", SGD: "SGD", LANGEVIN: "Langevin"}
KIND_HELP = " | ".join(KINDS)

RESHUFFLE, REPLACEMENT = "reshuffle", "replacement"
SAMPLERS = (RESHUFFLE, REPLACEMENT)
SAMPLER_LABELS = {RESHUFFLE: "reshuffled", REPLACEMENT: "with replacement"}
SAMPLER_HELP = ("how minibatches are drawn: reshuffle (a fresh permutation each epoch, cut into batches "
                "without replacement) | replacement (B samples drawn with replacement, independently each step)")

# The fields the console's dynamics dialog edits, with its labels, in its order.
DIALOG_FIELDS = (("lr", "learning rate"), ("temperature", "temperature T"), ("momentum", "momentum"))
# ... and the fields it offers as a choice: (field, label, {value: label}).
DIALOG_CHOICES = (("sampler", "minibatches", SAMPLER_LABELS),)

# A field's value when a mapping lacks it (a store written before the field existed).
_DEFAULTS = {"kind": SGD, "lr": 0.1, "batch_size": 100, "momentum": 0.0, "weight_decay": 0.0,
             "temperature": 0.0, "minibatch_drift": False, "gd_chunk": 0, "sampler": RESHUFFLE}


def value(d, key: str, default: Any = None) -> Any:
    """Field `key` of a DynamicsConfig or a mapping of its fields (the field's default when absent)."""
    if isinstance(d, Mapping):
        return d.get(key, _DEFAULTS.get(key) if default is None else default)
    return getattr(d, key)


def kind_of(d) -> str:
    return value(d, "kind")


# ------------------------------------------------------------------ the kinds

def has_momentum(kind: str) -> bool:
    """Heavy-ball momentum applies (GD, SGD); Langevin here is overdamped."""
    return kind != LANGEVIN


def has_temperature(kind: str) -> bool:
    """A thermal noise sqrt(2 eta T) xi is added (Langevin)."""
    return kind == LANGEVIN


def uses_minibatches(d) -> bool:
    """Whether the gradient comes from minibatches of B samples (SGD; Langevin with minibatch drift)."""
    kind = kind_of(d)
    return kind == SGD or (kind == LANGEVIN and bool(value(d, "minibatch_drift")))


def sampler_of(d) -> str | None:
    """How the dynamics draws its minibatches (RESHUFFLE or REPLACEMENT); None without minibatches."""
    return str(value(d, "sampler")) if uses_minibatches(d) else None


def noise_cancels_each_epoch(d) -> bool:
    """Whether each sample is seen once per epoch, so the minibatch noise of a whole epoch sums to zero
    at fixed weights (reshuffled epochs; not independent draws with replacement)."""
    return sampler_of(d) == RESHUFFLE


def full_batch(d) -> bool:
    """Whether the gradient is the full-batch one (GD; Langevin without minibatch drift)."""
    return not uses_minibatches(d)


def applies(d, key: str) -> bool:
    """Whether field `key` means anything for this dynamics (B for GD, T for SGD ... do not)."""
    kind = kind_of(d)
    only = {
        "batch_size": uses_minibatches(d),
        "momentum": has_momentum(kind),
        "temperature": has_temperature(kind),
        "minibatch_drift": kind == LANGEVIN,
        "gd_chunk": full_batch(d),
        "sampler": uses_minibatches(d),
    }
    return only.get(key, True)


def check(d, train_size: int) -> None:
    """The cross-field checks of a dynamics against a training set of `train_size` samples (BadInput)."""
    B, chunk = int(value(d, "batch_size")), int(value(d, "gd_chunk"))
    if uses_minibatches(d) and B > train_size:
        raise BadInput(f"dynamics.batch_size = {B} is larger than the training set ({train_size}): "
                       "lower it or raise data.train_size")
    if chunk > train_size:
        raise BadInput(f"dynamics.gd_chunk = {chunk} is larger than the training set ({train_size}): "
                       "lower it, or 0 for one pass")
    if not has_momentum(kind_of(d)) and value(d, "momentum"):
        raise BadInput(f"{kind_of(d)} dynamics is overdamped: set dynamics.momentum = 0")


# ------------------------------------------------------------------ derived facts

def steps_per_epoch(d, train_size: int) -> int | None:
    """ceil(P / B): the steps of one epoch of SGD, over which its minibatch noise cancels to first order
    (docs/science.md, Controls); None for dynamics without epochs (GD, Langevin)."""
    if kind_of(d) != SGD:
        return None
    return max(1, math.ceil(int(train_size) / int(value(d, "batch_size"))))


def predicts_noise_size(d) -> bool:
    """Whether the uncorrelated-minibatch-noise prediction of Delta applies (SGD; Langevin adds its own noise)."""
    return kind_of(d) == SGD


def batch_mean_variance(d, train_size: int) -> float:
    """Var(mean gradient of one minibatch) / Var(one sample's gradient), for P samples and batches of B.

    With replacement (B independent uniform draws): 1 / B.  Without (a reshuffled epoch cut into
    batches, each batch a uniform B-subset): (P - B) / (B (P - 1)), the finite-population correction
    (P - B)/(P - 1) on 1 / B, which is 0 when B >= P (the batch is the whole set: no noise).
    0 for P <= 1.  Covariance matrices scale alike: Cov(g_B) = this * Sigma, Sigma the per-sample one."""
    P, B = float(train_size), float(value(d, "batch_size"))
    if P <= 1:
        return 0.0
    if value(d, "sampler") == REPLACEMENT:
        return 1.0 / B
    if B >= P:
        return 0.0
    return (P - B) / (B * (P - 1))


def noise_size_formula(d) -> str:
    """The noise-size prediction of Delta written out for this dynamics' minibatches (`glasslab analyze`)."""
    if value(d, "sampler") == REPLACEMENT:
        return "Delta_pred = eta^2 D(t_w) t / ((1 - m)^2 B N)   (minibatches drawn with replacement)"
    return "Delta_pred = eta^2 D(t_w) t (P - B) / ((1 - m)^2 B (P - 1) N)"


def noise_off(d):
    """The same dynamics with its noise removed (same lr, momentum, weight decay): SGD -> GD; Langevin
    -> T = 0 with the full-batch drift.  BadInput for GD (there is no noise to remove).  Returns the
    type it is given (a DynamicsConfig, or a dict)."""
    kind = kind_of(d)
    if kind == SGD:
        changes = {"kind": GD}
    elif kind == LANGEVIN:
        changes = {"temperature": 0.0, "minibatch_drift": False}
    else:
        raise BadInput("the run trains with full-batch GD at that snapshot: there is no noise to switch off "
                       "(glasslab control compares SGD or Langevin runs with their noise-off control)")
    return {**d, **changes} if isinstance(d, Mapping) else dataclasses.replace(d, **changes)


# ------------------------------------------------------------------ description

def describe(d, style: str = "symbols") -> str:
    """The dynamics on one line.

    style "symbols" (the console's status line): 'sgd lr 0.1 B 100 m 0.5', 'langevin lr 0.01 T 0.001',
    every field of the kind named by its symbol, and ' with replacement' when minibatches are drawn so
    (reshuffled epochs, the default and what every older run did, go unsaid: the line stays short);
    "compact" (the preset list): 'sgd 0.1/100 m0.5', defaults left out (a sampler with replacement
    shows as ' repl.'); "kind" (ps): the kind, and ' with replacement' for that sampler.
    "" for no dynamics."""
    if not d:
        return ""
    kind, lr = kind_of(d), value(d, "lr")
    replacement = sampler_of(d) == REPLACEMENT
    if style == "kind":
        return kind + (f" {SAMPLER_LABELS[REPLACEMENT]}" if replacement else "")
    if style == "compact":
        if kind == SGD:
            m = value(d, "momentum")
            text = f"{kind} {lr:g}/{value(d, 'batch_size')}" + (f" m{m:g}" if m else "")
        elif has_temperature(kind):
            text = f"{kind} {lr:g} T{value(d, 'temperature'):g}"
        else:
            text = f"{kind} {lr:g}"
        return text + (" repl." if replacement else "")
    text = f"{kind} lr {lr:g}"
    if has_temperature(kind):
        text += f" T {value(d, 'temperature'):g}"
    elif kind == SGD:
        text += f" B {value(d, 'batch_size')}"
    if has_momentum(kind):
        text += f" m {value(d, 'momentum'):g}"
    return text + (f" {SAMPLER_LABELS[REPLACEMENT]}" if replacement else "")


def describe_switch(old, new) -> str:
    """A switch on one line (the headless printer): 'sgd -> langevin (lr 0.01, T 0.001)', and the
    minibatches when the switch changes how they are drawn: ', minibatches with replacement'."""
    text = f"{kind_of(old)} -> {kind_of(new)} (lr {value(new, 'lr'):g}, T {value(new, 'temperature'):g}"
    if value(old, "sampler") != value(new, "sampler"):
        text += f", minibatches {SAMPLER_LABELS.get(value(new, 'sampler'), value(new, 'sampler'))}"
    return text + ")"


# ------------------------------------------------------------------ switching

def switched(preset, current, changes: Mapping[str, Any]):
    """The dynamics a run continues with after `changes` ({field: value}) on its `current` dynamics,
    under the one rule of switch_values, checked as a preset is (types, ranges, the checks above):
    a Preset's dynamics section.

    preset: the run's Preset (its dynamics give the values of a newly picked kind; its other sections
    decide the training set the checks use).  BadInput, one line, on an unknown field or a bad value."""
    from glasslab.core.config import presets

    filled = switch_values(preset.dynamics, current, changes)
    trial = presets.with_overrides(preset.replace(dynamics=current),
                                   {f"dynamics.{k}": v for k, v in filled.items()})
    return trial.dynamics


def switch_values(preset, current, changes: Mapping[str, Any]) -> dict[str, Any]:
    """The one rule for what a switch sets, for `glasslab switch` and the console's dialog alike
    (issue 31 item 11): a switch to another kind than the run's present one takes the preset's values
    for that kind (values_for_kind) for the fields it does not give; a switch that keeps the kind
    changes only what it gives.  The fields given always win.  preset, current: DynamicsConfig or
    mappings (the run's preset dynamics, its present ones).

    So `--set dynamics.kind=sgd` after Langevin brings back the preset's momentum and T = 0 (it kept
    momentum 0 and the old T before), and a switch to Langevin is overdamped (momentum 0)."""
    out = dict(changes)
    kind = out.get("kind", kind_of(current))
    if kind != kind_of(current):
        for key, v in values_for_kind(kind, preset, current).items():
            out.setdefault(key, v)
    return out


def values_for_kind(kind: str, preset, current) -> dict[str, Any]:
    """The values of DIALOG_FIELDS and DIALOG_CHOICES when `kind` is picked anew, from the preset's
    dynamics, not from the run's present one (back from Langevin to SGD, the preset's momentum returns
    and T goes to 0).  Langevin is overdamped (momentum 0); its T is the preset's, or the run's present
    T when the preset has none.  The sampler is the preset's.  preset, current: DynamicsConfig or mappings."""
    lr = float(value(preset, "lr", value(current, "lr")))
    sampler = {"sampler": value(preset, "sampler")}
    if has_temperature(kind):
        t = float(value(preset, "temperature") or 0.0) or float(value(current, "temperature") or 0.0)
        return {"lr": lr, "temperature": t, "momentum": 0.0, **sampler}
    return {"lr": lr, "temperature": 0.0, "momentum": float(value(preset, "momentum", 0.0)), **sampler}


def describe_full(d) -> str:
    """Every field of a dynamics as --set would give it, as `glasslab switch` echoes the result:
    'kind=sgd lr=0.1 batch_size=100 momentum=0.5 weight_decay=0 temperature=0 minibatch_drift=false ...'."""
    def text(v) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        return f"{v:g}" if isinstance(v, float) else str(v)

    return " ".join(f"{k}={text(value(d, k))}" for k in _DEFAULTS)
