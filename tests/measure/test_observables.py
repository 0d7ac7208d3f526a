"""core/measure/observables.py against independent references and exact results.

Tolerances are derived, not tuned.  u = 2^-53 = 1.1e-16 is the float64 unit
roundoff.  A float64 sum of N non-negative terms has relative error at most
N u (recursive summation; numpy's pairwise and BLAS's blocked sums do better),
so two routes that differ only in summation order agree to 2 N u.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
import torch
import zarr

from glasslab.core.measure import observables as ob

U = 2.0**-53


def gram_msd_float32(x: np.ndarray) -> np.ndarray:
    """The WRONG route, kept only to show it fails: (G_ii + G_jj - 2 G_ij)/N in float32."""
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    g = t @ t.T
    d = torch.diagonal(g)
    return ((d[:, None] + d[None, :] - 2 * g) / t.shape[1]).numpy()


def naive_all(x: np.ndarray, f: float):
    """Plain float64 loops over pairs: msd, overlap (eps_i = np.std(x_i)/f), alpha2, participation."""
    x = np.asarray(x, dtype=np.float64)
    k, n = x.shape
    out = {name: np.full((k, k), np.nan) for name in ("msd", "overlap", "alpha2", "participation")}
    for i in range(k):
        eps = np.std(x[i]) / f
        out["msd"][i, i], out["overlap"][i, i] = 0.0, 1.0
        for j in range(i + 1, k):
            d = x[j] - x[i]
            m2, m4 = np.mean(d**2), np.mean(d**4)
            out["msd"][i, j] = m2
            out["overlap"][i, j] = np.count_nonzero(np.abs(d) < eps) / n
            out["alpha2"][i, j] = m4 / (3 * m2**2) - 1
            out["participation"][i, j] = np.sum(d**4) / np.sum(d**2) ** 2
    return out


class RowRecorder:
    """Wraps a zarr array and records the highest row each read touches."""

    def __init__(self, arr):
        self.arr, self.shape, self.chunks, self.max_row = arr, arr.shape, arr.chunks, -1

    def _note(self, rows):
        top = rows.stop - 1 if isinstance(rows, slice) else int(np.max(rows))
        self.max_row = max(self.max_row, top)

    def __getitem__(self, key):
        self._note(key[0])
        return self.arr[key]

    @property
    def oindex(self):
        rec = self

        class _O:
            def __getitem__(self, key):
                rec._note(key[0])
                return rec.arr.oindex[key]
        return _O()


def random_walk(k: int, n: int, seed: int = 0, step: float = 2e-3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, step, (k, n))
    steps[0] = rng.normal(0.0, 0.05, n)
    return np.cumsum(steps, axis=0).astype(np.float32)


def assert_matches(res, ref, n_terms: int):
    """msd and participation: relative 2 N u, rounded up to 1e-12 for N = 5000 (2 N u = 1.1e-12
    is the worst case; pairwise/blocked sums stay near 1e-15).  alpha2 = R - 1 with
    R = N s4 / (3 s2^2): R carries relative error <= 3 * 2 N u, so |d alpha2| <= 6 N u (1 + alpha2).
    overlap: the same counts of the same float64 differences, equal exactly."""
    iu = np.triu_indices(res.msd.shape[0], 1)
    il = np.tril_indices(res.msd.shape[0], -1)
    for name in ("msd", "participation"):
        got, want = getattr(res, name), ref[name]
        np.testing.assert_allclose(got[iu], want[iu], rtol=1e-12, atol=0)
        assert np.isnan(got[il]).all()
    tol = 6 * n_terms * U * (1 + np.abs(ref["alpha2"][iu]))
    assert (np.abs(res.alpha2[iu] - ref["alpha2"][iu]) <= tol).all()
    np.testing.assert_array_equal(res.overlap[iu], ref["overlap"][iu])
    assert (np.diag(res.msd) == 0).all() and (np.diag(res.overlap) == 1).all()
    assert np.isnan(np.diag(res.alpha2)).all() and np.isnan(np.diag(res.participation)).all()


@pytest.mark.parametrize("threads,max_inner", [(1, None), (2, 100)])
def test_two_time_matches_naive_loops(monkeypatch, threads, max_inner):
    # block = 777 < N: 7 strips, the last one partial; max_inner = 100 splits each strip
    # into blocks dealt to two threads, so both the strip and the thread paths are exercised.
    if max_inner:
        monkeypatch.setattr(ob, "_MAX_INNER", max_inner)
    k, n, f = 12, 5000, 20.0  # eps = 0.05/20 against steps of 2e-3: Q runs from 0.8 down to 0.3
    x = random_walk(k, n)
    res = ob.two_time_from_weights(x, block=777, f=f, threads=threads)
    ref = naive_all(x, f)
    q = ref["overlap"][np.triu_indices(k, 1)]
    assert 0.1 < q.min() and q.max() < 0.9  # counts that neither all nor no coordinates pass
    assert_matches(res, ref, n)
    np.testing.assert_allclose(ob.naive_msd(x), ref["msd"], rtol=1e-12, equal_nan=True)
    # eps from the streamed (Chan-combined) std equals the direct one to a few u.
    eps = [ob.overlap_eps(torch.from_numpy(x[i]), f) for i in range(k)]
    np.testing.assert_allclose(res.eps, eps, rtol=1e-13)
    np.testing.assert_allclose(res.stats(2, 9).delta, ref["msd"][2, 9], rtol=1e-12)


def test_rows_and_msd_only_agree_with_the_full_computation():
    x = random_walk(10, 3000, seed=1)
    full = ob.two_time_from_weights(x, block=500)
    part = ob.two_time_from_weights(x, block=500, rows=[7, 3])
    for name in ("msd", "overlap", "alpha2", "participation"):
        got, want = getattr(part, name), getattr(full, name)
        np.testing.assert_allclose(got[[3, 7]], want[[3, 7]], rtol=1e-14, equal_nan=True)
        assert np.isnan(np.delete(got, [3, 7], axis=0)).all()
    # msd_only runs the same sums in the same order: identical to the last bit.
    only = ob.two_time_from_weights(x, block=500, msd_only=True)
    np.testing.assert_array_equal(only.msd, full.msd)
    assert only.overlap is None and only.eps is None
    calls = []
    ob.two_time_from_weights(x, block=500, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (2 * 3000, 2 * 3000) and len(calls) == 2 * 6


def test_zarr_store_reads_only_committed_rows(tmp_path):
    # K = 12 rows allocated, n = 8 committed (written); the rest read back as the NaN fill.
    # C = 1000 gives 5 chunks per row; block = 1500 cuts across chunk boundaries.
    k, n, big_n, c, f = 12, 8, 5000, 1000, 20.0
    x = random_walk(k, big_n, seed=2)
    arr = zarr.create_array(store=tmp_path / "w.zarr", shape=(k, big_n), chunks=(1, c), dtype="float32",
                            fill_value=float("nan"), compressors=None, zarr_format=3)
    arr[:n] = x[:n]
    arr = zarr.open_array(tmp_path / "w.zarr", mode="r")
    rec = RowRecorder(arr)
    # a 64 KiB budget reads 2 rows per zarr call: the grouped strip reader is exercised
    res = ob.two_time_from_weights(rec, n=n, block=1500, f=f, budget_bytes=1 << 16)
    assert res.msd.shape == (n, n) and rec.max_row == n - 1  # never a row past the committed count
    assert_matches(res, naive_all(x[:n], f), big_n)
    # rows given out of order and not contiguous: the std pass reads them by orthogonal selection
    part = ob.two_time_from_weights(rec, n=n, block=1500, f=f, rows=[5, 1], budget_bytes=1 << 16)
    assert rec.max_row == n - 1
    np.testing.assert_allclose(part.overlap[[1, 5]], res.overlap[[1, 5]], equal_nan=True)
    np.testing.assert_allclose(part.eps[[1, 5]], res.eps[[1, 5]], rtol=1e-15)
    # the premise: reading past the committed count would poison the results with NaN
    assert np.isnan(ob.two_time_from_weights(arr, block=1500).msd[0, k - 1])


def test_float32_gram_cancels_but_differences_do_not():
    # w ~ N(0, 0.05^2), perturbation s = 0.05 * sqrt(1e-9): Delta / <w^2> = 1e-9.
    # Gram route: G_ii ~ N <w^2> = 5e3 is rounded to float32 (u32 = 6e-8) at least once, an
    # error ~3e-4 in N Delta = 5e-6 : off by orders of magnitude, > 10% is a safe floor.
    # Ours: exact float64 differences of the stored float32 values (a float32 converts exactly),
    # then a sum of N positive terms: relative error <= N u = 2.2e-10 against math.fsum.
    n = 2_000_000
    rng = np.random.default_rng(3)
    a = rng.normal(0.0, 0.05, n).astype(np.float32)
    b = (a + rng.normal(0.0, 0.05 * math.sqrt(1e-9), n)).astype(np.float32)
    d = b.astype(np.float64) - a.astype(np.float64)
    exact = math.fsum(d * d) / n
    assert 0.5e-9 < exact / np.mean(a.astype(np.float64) ** 2) < 2e-9
    gram = gram_msd_float32(np.stack([a, b]))[0, 1]
    assert abs(gram / exact - 1) > 0.1
    ours = ob.displacement(torch.from_numpy(a), torch.from_numpy(b)).delta
    assert abs(ours / exact - 1) < n * U
    two = ob.two_time_from_weights(np.stack([a, b]), block=300_000, msd_only=True).msd[0, 1]
    assert abs(two / exact - 1) < n * U


def test_gaussian_and_single_coordinate_displacement():
    # For Gaussian d the estimator alpha2 = g2 / 3 (g2 the sample excess kurtosis) has
    # std sqrt(24 / N) / 3 = sqrt(8 / (3 N)) = 1.6e-3 at N = 1e6; accept 5 std.
    # Y = 3 (1 + alpha2) / N identically, so N Y / 3 - 1 carries the same bound.
    n = 1_000_000
    bound = 5 * math.sqrt(8 / (3 * n))
    rng = np.random.default_rng(4)
    w_a = torch.from_numpy(rng.normal(0, 0.05, n))
    s = ob.displacement(w_a, w_a + torch.from_numpy(rng.normal(0, 1e-3, n)))
    assert abs(s.alpha2) < bound
    assert abs(n * s.participation / 3 - 1) < bound
    assert s.participation == pytest.approx(3 * (1 + s.alpha2) / n, rel=1e-12)
    # the test can fail: Laplace displacements (kurtosis 6) have alpha2 = 1.
    lap = ob.displacement(w_a, w_a + torch.from_numpy(rng.laplace(0, 1e-3, n)))
    assert abs(lap.alpha2 - 1) < 0.05 and lap.alpha2 > 20 * bound
    # a single coordinate moves: Y = 1 and alpha2 = N / 3 - 1 exactly (up to rounding)
    w_b = w_a.clone()
    w_b[12345] += 0.7
    one = ob.displacement(w_a, w_b)
    assert one.participation == pytest.approx(1.0, rel=1e-14)
    assert one.alpha2 == pytest.approx(n / 3 - 1, rel=1e-14)
    zero = ob.displacement(w_a, w_a, eps=0.1)
    assert zero.delta == 0 and math.isnan(zero.alpha2) and math.isnan(zero.participation) and zero.overlap == 1


def test_overlap_counts_coordinates_that_moved_less_than_eps():
    n, k, f = 10_000, 37, 100.0
    rng = np.random.default_rng(5)
    w_a = rng.normal(0, 0.05, n)
    w_a[:5] = 0.0  # coordinates that will move by exactly eps (|d| < eps is strict)
    eps = ob.overlap_eps(torch.from_numpy(w_a), f)
    d = 0.5 * eps * rng.choice([-1.0, 1.0], n)  # |d| = eps/2: close
    moved = rng.choice(np.arange(5, n), k, replace=False)
    d[moved] = 3 * eps * rng.choice([-1.0, 1.0], k)
    w_b = w_a + d
    w_b[:5] = eps
    s = ob.displacement(torch.from_numpy(w_a), torch.from_numpy(w_b), eps)
    assert s.overlap == (n - k - 5) / n
    # two_time_from_weights computes its own eps (streamed std, equal to a few u, not to the
    # bit): move the 5 boundary coordinates by exactly that eps.
    eps_streamed = ob.two_time_from_weights(w_a[None], f=f, block=999).eps[0]
    assert eps_streamed == pytest.approx(eps, rel=1e-14)
    w_b[:5] = eps_streamed
    res = ob.two_time_from_weights(np.stack([w_a, w_b]), f=f, block=999)
    assert res.overlap[0, 1] == (n - k - 5) / n


def test_blockwise_sums_and_simple_observables():
    rng = np.random.default_rng(6)
    a = torch.from_numpy(rng.normal(0, 0.05, 10_001).astype(np.float32))
    b = a + torch.from_numpy(rng.normal(0, 0.01, 10_001).astype(np.float32))
    whole = ob.displacement(a, b, eps=0.01)
    cuts = [0, 1234, 7000, 10_001]
    parts = [ob.DisplacementSums.of(a[c0:c1], b[c0:c1], eps=0.01) for c0, c1 in zip(cuts, cuts[1:])]
    blocked = (parts[0] + parts[1] + parts[2]).stats()
    assert blocked.n == whole.n and blocked.overlap == whole.overlap
    for name in ("delta", "alpha2", "participation"):
        assert getattr(blocked, name) == pytest.approx(getattr(whole, name), rel=1e-12)
    d = b.double() - a.double()
    assert whole.delta == pytest.approx(torch.mean(d**2).item(), rel=1e-12)
    assert math.isnan(ob.displacement(a, b).overlap)
    # float32 input, float64 result: the float32 mean of squares would differ at ~1e-7
    assert ob.weight_norm2(a) == pytest.approx(np.mean(a.numpy().astype(np.float64) ** 2), rel=1e-12)
    assert ob.overlap_eps(a, 150.0) == pytest.approx(np.std(a.numpy().astype(np.float64)) / 150.0, rel=1e-12)
    with pytest.raises(ValueError):
        ob.overlap_eps(a, 0.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_displacement_on_cuda_matches_cpu():
    rng = np.random.default_rng(7)
    a = torch.from_numpy(rng.normal(0, 0.05, 100_000).astype(np.float32))
    b = a + 1e-4
    cpu, gpu = ob.displacement(a, b, 1e-3), ob.displacement(a.cuda(), b.cuda(), 1e-3)
    assert gpu.overlap == cpu.overlap and gpu.delta == pytest.approx(cpu.delta, rel=1e-12)


def test_memory_follows_the_budget_not_n(tmp_path):
    # K = 20 rows of N = 3e6 float32 (229 MiB on disk), chunks (1, C = 2^18) (1 MiB).
    # The budget covers the float32 strip (K x width x 4), zarr's decoded chunks in flight
    # (async.concurrency = 10 of C x 4 bytes) and the per-thread float64 buffers; 2 MiB more
    # for Python objects and the K x K sums.  That bound, 66 MiB, is independent of N and
    # below a third of the data: loading whole rows, keeping two strips alive at once, or
    # ignoring the budget (block = 2^20 columns: an 80 MiB strip alone) breaks it.
    k, n, c, budget = 20, 3_000_000, 2**18, 64 << 20
    arr = zarr.create_array(store=tmp_path / "big.zarr", shape=(k, n), chunks=(1, c), dtype="float32",
                            fill_value=float("nan"), compressors=None, zarr_format=3)
    rng = np.random.default_rng(8)
    w = rng.standard_normal(n, dtype=np.float32) * 0.05
    for i in range(k):
        arr[i] = w
        w += rng.standard_normal(n, dtype=np.float32) * 1e-3
    del w
    arr = zarr.open_array(tmp_path / "big.zarr", mode="r")
    tracemalloc.start()
    try:
        res = ob.two_time_from_weights(arr, budget_bytes=budget, threads=2)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    bound = budget + (2 << 20)
    assert peak < bound < k * n * 4 / 3
    # steps of 1e-3 per coordinate and per snapshot: Delta(0, j) = j * 1e-6; the sample mean
    # over N has relative std sqrt(2 / N) = 8e-4, and 5e-3 is 6 of those.
    assert res.msd[0, 1] == pytest.approx(1e-6, rel=5e-3) and res.msd[0, 10] == pytest.approx(1e-5, rel=5e-3)
