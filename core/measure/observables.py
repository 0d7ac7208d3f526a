"""Displacement observables between weight snapshots, and their two-time matrices.

This module owns what glasslab measures *between* two snapshots w(t_w) and
w(t_w + t) of all N trainable parameters (docs/science.md, section 4):

- the mean square displacement Delta [BJ18], the overlap Q [KWJ24], the
  non-Gaussian parameter alpha_2 [KWJ24], the participation Y of the
  displacement ([BJ18] code) and the weight norm |w|^2/N: pure functions over
  torch tensors (`displacement`, `overlap_eps`, `weight_norm2`);
- the same four as [K, K] two-time matrices streamed from a [K, N] store of
  snapshots (a zarr array or anything indexable like one) in column blocks,
  so memory follows a budget and never N (`two_time_from_weights`).

Numerics (NOTES.md, "Delta numerics"): every sum is over the float64
difference d = w_b - w_a, formed once per element.  Nothing goes through a Gram
matrix, G_ii + G_jj - 2 G_ij, which cancels catastrophically in float32 (68%
error at Delta = 1e-8, N = 1.1e7) and loses digits even in float64; with no
matmul, TF32 cannot touch these sums either.  All the observables of a pair
come from three sums, sum d^2, sum d^4 and #{|d| < eps}, which add over column
blocks (`DisplacementSums`).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

DEFAULT_F = 100.0          # eps = std(w)/f; [KWJ24] used f from 150 to 6000
DEFAULT_BUDGET = 512 << 20  # bytes of working memory for two_time_from_weights
_INNER_BYTES = 2 << 20     # one worker's float64 block, K x b x 8 bytes: cache-sized (flat from 1 to 8 MiB here)
_MAX_INNER = 8192          # < 65536, so a row of booleans is counted exactly in uint16

# Row-wise dot product (sum of squares of a difference, not a Gram matrix): np.vecdot
# (numpy >= 2) is 2.5x faster than einsum here.
_rowdot = getattr(np, "vecdot", None) or (lambda a, b: np.einsum("ij,ij->i", a, b))


# --------------------------------------------------------------------------- one pair

@dataclass(frozen=True)
class DisplacementStats:
    """The observables of one pair of snapshots (python floats; overlap NaN without eps)."""

    n: int
    delta: float
    alpha2: float
    participation: float
    overlap: float


def _finish(n, s2, s4, close):
    """Observables from the sums (scalars or arrays): see `displacement` for the formulas."""
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = np.asarray(s2, dtype=np.float64)
        s4 = np.asarray(s4, dtype=np.float64)
        delta = s2 / n
        alpha2 = np.where(s2 > 0, n * s4 / (3.0 * s2 * s2) - 1.0, np.nan)
        participation = np.where(s2 > 0, s4 / (s2 * s2), np.nan)
        overlap = np.nan if close is None else np.asarray(close, dtype=np.float64) / n
    return delta, alpha2, participation, overlap


def _diff64(w_a, w_b) -> torch.Tensor:
    """d = w_b - w_a as one flat float64 tensor: one cast, then an in-place subtraction
    that promotes w_a to float64 on the fly (float32 values convert exactly)."""
    a, b = torch.as_tensor(w_a), torch.as_tensor(w_b)
    if a.numel() != b.numel():
        raise ValueError(f"snapshots differ in size: {a.numel()} vs {b.numel()}")
    if b.device.type == "mps":  # MPS has no float64
        a, b = a.cpu(), b.cpu()
    d = b.reshape(-1).to(dtype=torch.float64, copy=True)
    return d.sub_(a.reshape(-1).to(d.device))


@dataclass(frozen=True)
class DisplacementSums:
    """Additive sums of a displacement d = w_b - w_a over some coordinates.

    n = #coordinates, s2 = sum d^2, s4 = sum d^4, close = #{|d| < eps} (None without
    eps).  Sums of disjoint column blocks add (`a + b`), so a vector too large for
    memory is processed block by block and `stats()` gives the same observables
    as `displacement` on the whole vector [BJ18], [KWJ24].
    """

    n: int
    s2: float
    s4: float
    close: int | None = None

    @classmethod
    def of(cls, w_a, w_b, eps: float | None = None) -> DisplacementSums:
        """s2 = sum d^2, s4 = sum d^4, close = #{|d| < eps} of one block, d = w_b - w_a in
        float64 (cost: one float64 copy of the block; the dots are float64 BLAS sums of
        positive terms, relative error below N u, u = 1.1e-16) [BJ18], [KWJ24]."""
        d = _diff64(w_a, w_b)
        s2 = torch.dot(d, d).item()
        close = None if eps is None else int(torch.count_nonzero(d.abs_() < eps).item())
        d.square_()
        return cls(d.numel(), s2, torch.dot(d, d).item(), close)

    def __add__(self, other: DisplacementSums) -> DisplacementSums:
        close = None if self.close is None or other.close is None else self.close + other.close
        return DisplacementSums(self.n + other.n, self.s2 + other.s2, self.s4 + other.s4, close)

    def stats(self) -> DisplacementStats:
        """Delta = s2/n, alpha2 = n s4/(3 s2^2) - 1, Y = s4/s2^2, Q = close/n [BJ18], [KWJ24]."""
        delta, alpha2, y, q = _finish(self.n, self.s2, self.s4, self.close)
        return DisplacementStats(self.n, float(delta), float(alpha2), float(y), float(q))


def displacement(w_a, w_b, eps: float | None = None) -> DisplacementStats:
    """Displacement statistics between snapshots w_a = w(t_w) and w_b = w(t_w + t).

    With d = w_b - w_a over all N parameters, computed in float64:
        delta         = (1/N) sum_i d_i^2                       (MSD Delta [BJ18])
        alpha2        = <d^4> / (3 <d^2>^2) - 1                  ([KWJ24]; NaN if delta = 0)
        participation = Y = sum d^4 / (sum d^2)^2                ([BJ18] code; ~3/N for
                        Gaussian d, 1 when a single coordinate moves; NaN if delta = 0)
        overlap       = Q = (1/N) #{ i : |d_i| < eps }           ([KWJ24]; NaN if eps is None)
    Inputs: tensors (or arrays) of any shape, float32 or float64, on any device.
    """
    return DisplacementSums.of(w_a, w_b, eps).stats()


def overlap_eps(w, f: float = DEFAULT_F) -> float:
    """Overlap threshold eps = std(w) / f [KWJ24], w the weights at the waiting time.

    std is the population standard deviation over all N parameters, in float64.
    [KWJ24] used f between 150 and 6000; glasslab's default is f = 100.
    """
    if not f > 0:
        raise ValueError(f"f must be positive, got {f}")
    t = torch.as_tensor(w).reshape(-1)
    t = t.cpu() if t.device.type == "mps" else t
    return torch.std(t.to(torch.float64), correction=0).item() / f


def weight_norm2(w) -> float:
    """Squared weight norm per parameter |w|^2 / N = (1/N) sum_i w_i^2, in float64.

    Separates growth of the weights from their decorrelation ([BJ18], docs/science.md).
    """
    t = torch.as_tensor(w).reshape(-1)
    t = (t.cpu() if t.device.type == "mps" else t).to(torch.float64)
    return torch.dot(t, t).item() / t.numel()


# --------------------------------------------------------------------------- two-time matrices

@dataclass(frozen=True)
class TwoTimeResult:
    """Two-time matrices over snapshots 0..n-1: [i, j] is the pair (t_i, t_j), j >= i.

    float64 [n, n]; NaN below the diagonal and in rows not computed.  Diagonal:
    msd 0, overlap 1, alpha2 and participation NaN.  With msd_only the other
    three (and eps) are None.  eps[i] = std(w_i)/f is the overlap threshold of row i.
    """

    msd: np.ndarray
    overlap: np.ndarray | None
    alpha2: np.ndarray | None
    participation: np.ndarray | None
    eps: np.ndarray | None
    n_params: int
    f: float

    def stats(self, i: int, j: int) -> DisplacementStats:
        """The pair (t_i, t_j) as `displacement` would report it [BJ18], [KWJ24]."""
        o = self.overlap[i, j] if self.overlap is not None else math.nan
        a = self.alpha2[i, j] if self.alpha2 is not None else math.nan
        y = self.participation[i, j] if self.participation is not None else math.nan
        return DisplacementStats(self.n_params, float(self.msd[i, j]), float(a), float(y), float(o))


class _Reader:
    """Strips [rows, c0:c1] of a 2-D array-like, read within a memory budget.

    A strip costs rows x width x itemsize; a zarr read also holds whole decoded chunks,
    at most zarr's async.concurrency (10) at a time, C x itemsize each.  A numpy array
    is sliced (a view, no copy).
    """

    def __init__(self, weights, budget: int, block: int):
        self.w, self.budget = weights, budget
        self.n_cols = int(weights.shape[1])
        self.itemsize = np.dtype(getattr(weights, "dtype", np.float32)).itemsize
        chunks = getattr(weights, "chunks", None)
        self.chunk = int(chunks[1]) if chunks is not None and len(chunks) == 2 and chunks[1] < self.n_cols else None
        self.block = max(1, min(block, self.n_cols))
        self.transient = 0
        if not isinstance(weights, np.ndarray):
            try:
                import zarr
                in_flight = int(zarr.config.get("async.concurrency") or 10)
            except ImportError:
                in_flight = 10
            self.transient = in_flight * (self.chunk or self.block) * self.itemsize

    def width(self, n_rows: int, fixed: int) -> int:
        """Columns per strip: what the budget leaves after `fixed` bytes, at most `block`,
        aligned to chunks (a strip narrower than a chunk divides it evenly, since every
        read of part of a chunk decodes all of it).  Floor: C/16 columns (1024 without
        chunks); a budget too small for that is exceeded rather than decoding each chunk
        hundreds of times."""
        floor = max(1024, (self.chunk or 0) // 16)
        width = max(floor, (self.budget - fixed - self.transient) // (self.itemsize * n_rows))
        width = min(width, self.block)
        if self.chunk:
            if width >= self.chunk:
                width = width // self.chunk * self.chunk
            else:
                width = -(-self.chunk // -(-self.chunk // width))  # ceil(C / ceil(C / width))
        return width

    def strip(self, rows: np.ndarray, c0: int, c1: int) -> np.ndarray:
        """Rows `rows` (sorted), columns [c0, c1), in the array's own dtype."""
        if rows[-1] - rows[0] + 1 == len(rows):  # contiguous: a plain slice
            return np.asarray(self.w[int(rows[0]):int(rows[-1]) + 1, c0:c1])
        if hasattr(self.w, "oindex"):  # zarr: an orthogonal selection reads only these rows
            return np.asarray(self.w.oindex[rows, c0:c1])
        return np.asarray(self.w[rows, c0:c1])


def _usable_cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(8, cores))


def _row_std(reader: _Reader, rows, inner, tick) -> np.ndarray:
    """Population std over all columns of each row in `rows`, float64.

    Block means and centred sums of squares M2 are combined with Chan et al.'s
    pairwise update (no E[w^2] - E[w]^2 cancellation):
        mean = mean_a + dm * n_b / n,  M2 = M2_a + M2_b + dm^2 n_a n_b / n,  dm = mean_b - mean_a.
    """
    k, n_cols = len(rows), reader.n_cols
    width = reader.width(k, fixed=k * inner * 16)  # a float64 block and its centred copy
    cnt, mean, m2 = 0, np.zeros(k), np.zeros(k)
    for c0 in range(0, n_cols, width):
        strip = reader.strip(rows, c0, min(c0 + width, n_cols))
        for s0 in range(0, strip.shape[1], inner):
            x = strip[:, s0:s0 + inner].astype(np.float64)
            nb = x.shape[1]
            mb = x.mean(axis=1)
            x -= mb[:, None]
            m2b = _rowdot(x, x)
            dm, tot = mb - mean, cnt + nb
            mean = mean + dm * (nb / tot)
            m2 = m2 + m2b + dm * dm * (cnt * nb / tot)
            cnt = tot
        tick(strip.shape[1])
        del strip  # before the next read: two live strips would double the peak
    return np.sqrt(m2 / n_cols)


class _Worker:
    """One thread's buffers and per-pair accumulators (local row indices 0..k-1)."""

    def __init__(self, k: int, inner: int, msd_only: bool):
        self.x = np.empty(k * inner)
        self.d = np.empty(k * inner)
        self.b = np.empty(k * inner, dtype=bool)
        self.s2 = np.zeros((k, k))
        self.s4 = None if msd_only else np.zeros((k, k))
        self.close = None if msd_only else np.zeros((k, k), dtype=np.int64)

    def add(self, block: np.ndarray, rows_local, eps_local) -> None:
        """Accumulate sum d^2, sum d^4 and #{|d| < eps_i} for pairs (i, j > i), i in rows_local."""
        k, w = block.shape
        x = self.x[:k * w].reshape(k, w)
        np.copyto(x, block)  # float32 -> float64, exact
        for i in rows_local:
            m = k - 1 - i
            if m == 0:
                continue
            d = np.subtract(x[i + 1:], x[i], out=self.d[:m * w].reshape(m, w))
            self.s2[i, i + 1:] += _rowdot(d, d)
            if self.s4 is None:
                continue
            np.abs(d, out=d)
            below = np.less(d, eps_local[i], out=self.b[:m * w].reshape(m, w))
            # booleans summed as uint8 into uint16: exact since w <= _MAX_INNER < 65536
            self.close[i, i + 1:] += below.view(np.uint8).sum(axis=1, dtype=np.uint16)
            np.multiply(d, d, out=d)
            self.s4[i, i + 1:] += _rowdot(d, d)


def two_time_from_weights(weights, n: int | None = None, block: int = 2**20, f: float = DEFAULT_F,
                          progress: Callable[[int, int], Any] | None = None, *,
                          rows: Sequence[int] | None = None, msd_only: bool = False,
                          budget_bytes: int = DEFAULT_BUDGET, threads: int | None = None) -> TwoTimeResult:
    """Two-time Delta, Q, alpha_2 and Y for all pairs of the first n snapshots [BJ18], [KWJ24].

    For i <= j < n, with d = w_j - w_i over the N columns of `weights` [K, N]:
        msd[i, j]           = (1/N) sum d^2
        overlap[i, j]       = (1/N) #{ |d| < eps_i },  eps_i = std(w_i) / f
        alpha2[i, j]        = N sum d^4 / (3 (sum d^2)^2) - 1
        participation[i, j] = sum d^4 / (sum d^2)^2
    `weights`: a zarr.Array chunked (1, C), a numpy array, anything 2-D that slices
    like one.  Only rows < n are read (n = committed snapshots, default all).
    `rows`: compute only these waiting-time rows i (others stay NaN).
    `msd_only`: skip the std pass and the other three (about 2x faster).
    `progress(done, total)`: called after each strip read, in columns over all passes.

    Cost and memory: the std pass (for eps) reads the rows once, the pair pass reads
    rows min(rows)..n-1 once, in strips of `block` columns or fewer, all in float64
    from differences (never a Gram matrix).  Working memory stays near `budget_bytes`
    whatever N: a strip of the stored dtype, the chunks a zarr read holds while it
    decodes (10 x C x 4 bytes) and per thread a float64 block, a difference buffer
    and booleans, cache-sized.  A budget below K x C x 4 bytes costs speed, not
    memory: strips narrower than a chunk C decode each chunk several times.
    Pairs are split across `threads` (default: the usable cores) by column blocks;
    numpy releases the GIL in these loops.
    """
    n_all, n_cols = (int(s) for s in weights.shape)
    n = n_all if n is None else int(n)
    if not 0 <= n <= n_all:
        raise ValueError(f"n = {n} outside 0..{n_all}")
    wanted = np.unique(np.asarray(range(n) if rows is None else rows, dtype=np.int64))
    if len(wanted) and (wanted[0] < 0 or wanted[-1] >= n):
        raise ValueError(f"rows must lie in 0..{n - 1}")
    if not msd_only and not f > 0:
        raise ValueError(f"f must be positive, got {f}")
    threads = threads or _usable_cores()

    nan = np.full((n, n), np.nan)
    msd = nan.copy()
    out = dict(overlap=None, alpha2=None, participation=None, eps=None)
    if not msd_only:
        out = dict(overlap=nan.copy(), alpha2=nan.copy(), participation=nan.copy(), eps=np.full(n, np.nan))
    if len(wanted) == 0 or n_cols == 0:
        return TwoTimeResult(msd, **out, n_params=n_cols, f=f)

    r0 = int(wanted[0])
    k = n - r0                                  # rows read in the pair pass: r0..n-1
    inner = int(min(_MAX_INNER, n_cols, max(256, _INNER_BYTES // (8 * k))))
    reader = _Reader(weights, budget_bytes, block)
    width = reader.width(k, fixed=threads * k * inner * 17)  # per worker: x, d (float64), booleans

    passes = 1 if msd_only else 2
    done = [0]

    def tick(cols):
        done[0] += cols
        if progress is not None:
            progress(done[0], passes * n_cols)

    local = wanted - r0
    eps_local = np.zeros(k)
    if not msd_only:
        std = _row_std(reader, wanted, inner, tick)
        out["eps"][wanted] = std / f
        eps_local[local] = std / f

    workers = [_Worker(k, inner, msd_only) for _ in range(threads)]
    all_rows = np.arange(r0, n)

    def run(wi, strip):
        for s0 in range(wi * inner, strip.shape[1], threads * inner):
            workers[wi].add(strip[:, s0:s0 + inner], local, eps_local)

    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    try:
        for c0 in range(0, n_cols, width):
            strip = reader.strip(all_rows, c0, min(c0 + width, n_cols))
            if pool is None:
                run(0, strip)
            else:
                list(pool.map(run, range(threads), [strip] * threads))
            tick(strip.shape[1])
            del strip  # before the next read: two live strips would double the peak
    finally:
        if pool is not None:
            pool.shutdown()

    s2 = sum(w.s2 for w in workers)
    ii, jj = np.triu_indices(k, 1)
    keep = np.isin(ii, local)
    ii, jj = ii[keep], jj[keep]
    gi, gj = ii + r0, jj + r0
    msd[wanted, wanted] = 0.0
    if msd_only:
        msd[gi, gj] = s2[ii, jj] / n_cols
        return TwoTimeResult(msd, **out, n_params=n_cols, f=f)
    s4 = sum(w.s4 for w in workers)
    close = sum(w.close for w in workers)
    delta, a2, y, q = _finish(n_cols, s2[ii, jj], s4[ii, jj], close[ii, jj])
    msd[gi, gj], out["alpha2"][gi, gj], out["participation"][gi, gj], out["overlap"][gi, gj] = delta, a2, y, q
    out["overlap"][wanted, wanted] = 1.0
    return TwoTimeResult(msd, **out, n_params=n_cols, f=f)


def naive_msd(weights, n: int | None = None) -> np.ndarray:
    """Reference Delta[i, j] = (1/N) sum (w_j - w_i)^2 [BJ18] by a plain float64 double loop.

    Loads the first n rows whole: for tests and small stores only.
    """
    x = np.asarray(weights[: weights.shape[0] if n is None else n], dtype=np.float64)
    k = x.shape[0]
    out = np.full((k, k), np.nan)
    for i in range(k):
        out[i, i] = 0.0
        for j in range(i + 1, k):
            out[i, j] = np.mean((x[j] - x[i]) ** 2)
    return out
