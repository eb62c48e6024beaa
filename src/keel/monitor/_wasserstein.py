"""Wasserstein-1 from bin counts and bin sums: the exact distance between two binned samples.

The Wasserstein-1 distance of two distributions on the line is ``integral |F_q - F_p|``
over their cumulative distribution functions. A profile keeps, per bin ``[a, b)``, the count
and (since profiles keep it) the sum of the values in the bin, and from those two numbers
the integral of a sample's ``F`` over the bin follows exactly::

    integral_a^b F(x) dx = b F(b) - a F(a) - (sum of the values in [a, b)) / n

(integration by parts; the open outer bins work the same way with ``F(-inf) = 0`` and
``1 - F(+inf) = 0``). So each bin's *signed* integral ``I = integral_bin (F_q - F_p)`` is
exact, and ``sum |I|`` is the distance itself wherever ``F_q - F_p`` keeps its sign inside
each bin: any shift of location, most changes of scale, and discrete data whose values sit
on the bins' edges. Where the sign changes inside a bin (two crossing distributions, or
noise around a distribution that did not move) the bin's positive and negative parts
cancel, and ``sum |I|`` is below the sample distance, never above it.

Windows are drawn (for the calibrated null and the bootstrap) bin by bin: the counts as a
multinomial, and each bin's sum as ``count x mean + noise``, the noise normal with variance
``count x`` the bin's within-bin variance. A profile has no per-bin variance, but it has the
column's variance, and the variance of the bin means accounts for part of it; the rest
(the within-bin sum of squares) is spread over the bins: an inner bin ``[a, b)`` with mean
``m`` gets ``(m - a)(b - m) / 3`` (a third of the largest variance a bin of that mean can
have, exact for uniform values, 0 for a point mass on an edge), the two open outer bins
share what is left. Only the total matters for a sum of same-signed bins (the noise of a
mean shift is then the noise of the difference of means, as it should be).

Everything is computed on values centred at the middle edge, so that dates (epoch
microseconds, about 1.7e15) lose no precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keel.errors import UsageError

__all__ = [
    "BinSide",
    "Binned",
    "bin_fallback",
    "bin_integrals",
    "centre",
    "draw_windows",
    "prepare",
    "side_of",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BinSide:
    """One side's bins as windows are drawn from them: centred bin means and within-bin
    variances."""

    means: FloatArray
    variances: FloatArray


def centre(edges: FloatArray) -> float:
    """The point values are centred at: the middle edge (0 with no edge)."""
    return float(edges[edges.size // 2]) if edges.size else 0.0


def bin_integrals(p: FloatArray, q: FloatArray, edges: FloatArray) -> FloatArray:
    """``integral (F_q - F_p)`` over each bin, one row per pair of windows.

    ``p`` and ``q`` hold, per row, the ``k`` bin proportions followed by the ``k`` bin
    sums divided by the window's row count (values centred like ``edges``, the ``k - 1``
    inner edges).
    """
    k = edges.size + 1
    gap = np.cumsum(q[:, :k] - p[:, :k], axis=1)[:, :-1] * edges  # e (F_q - F_p)(e)
    zero = np.zeros((gap.shape[0], 1))
    return np.asarray(
        np.hstack([gap, zero]) - np.hstack([zero, gap]) - (q[:, k:] - p[:, k:]),
        dtype=np.float64,
    )


def side_of(
    counts: npt.NDArray[np.int64],
    sums: FloatArray,
    m2: float | None,
    edges: FloatArray,
    fallback: FloatArray,
) -> BinSide:
    """The bin means (``fallback``'s where a bin is empty) and within-bin variances of one
    side, from its counts, centred sums and sum of squared deviations ``m2`` (``None``:
    unknown, and the outer bins get no within-bin noise)."""
    filled = counts > 0
    means = np.where(filled, sums / np.where(filled, counts, 1), fallback)
    variances = np.zeros(counts.size)
    if counts.size < 2:
        return BinSide(means, variances)
    inner = np.clip((means[1:-1] - edges[:-1]) * (edges[1:] - means[1:-1]) / 3, 0.0, None)
    variances[1:-1] = inner
    n = int(counts.sum())
    if m2 is None or n == 0:
        return BinSide(means, variances)
    mean = float(sums.sum()) / n
    within = max(m2 - float(np.sum(counts * (means - mean) ** 2)), 0.0)
    spread = float(np.sum(counts[1:-1] * inner))
    outer = int(counts[0] + counts[-1])
    if spread >= within or outer == 0:  # the inner bins' share is all there is
        variances[1:-1] = inner * (within / spread if spread > 0 else 0.0)
    else:
        variances[0] = variances[-1] = (within - spread) / outer
    return BinSide(means, variances)


def bin_fallback(edges: FloatArray) -> FloatArray:
    """A representative value for bins a side holds no value in: inner midpoints, the outer
    bins half an average bin width beyond their edge."""
    if edges.size == 0:
        return np.zeros(1)
    width = float(edges[-1] - edges[0]) / max(edges.size - 1, 1) or 1.0
    points = np.concatenate([[edges[0] - width], edges, [edges[-1] + width]])
    return np.asarray((points[:-1] + points[1:]) / 2, dtype=np.float64)


def draw_windows(
    rng: np.random.Generator, n: int, probs: FloatArray, size: int, side: BinSide
) -> FloatArray:
    """``size`` windows of ``n`` rows: multinomial bin counts, and each bin's sum drawn as
    ``count x mean`` plus normal noise of variance ``count x`` the within-bin variance;
    as proportions and sums over ``n`` (the layout :func:`bin_integrals` reads)."""
    counts = rng.multinomial(n, probs, size=size).astype(np.float64)
    sums = counts * side.means + rng.standard_normal(counts.shape) * np.sqrt(
        counts * side.variances
    )
    return np.hstack([counts / n, sums / n])


@dataclass(frozen=True)
class Binned:
    """Both sides ready for the statistic: centred inner edges, centred bin sums (reference,
    current), how each side's windows are drawn, and the scale."""

    edges: FloatArray
    sums: tuple[FloatArray, FloatArray]
    sides: tuple[BinSide, BinSide]
    scale: float


def prepare(
    column: str,
    ref: npt.NDArray[np.int64],
    cur: npt.NDArray[np.int64],
    *,
    edges: npt.ArrayLike | None,
    sums: tuple[npt.ArrayLike, npt.ArrayLike],
    variances: tuple[float, float] | None,
    scale: float | None,
) -> Binned:
    """Check ``column_drift``'s bin-sum arguments and centre them (see the module doc)."""
    e = _vector(() if edges is None else edges, ref.size - 1, "edges", column)
    if np.any(np.diff(e) <= 0):
        raise UsageError(
            f"column_drift({column!r}): edges must be strictly increasing, got {e[:12].tolist()}.",
            hint="Pass the inner edges of the reference's bins (Bins.edges).",
        )
    at = centre(e)
    e = e - at  # centred: dates in epoch microseconds keep their precision
    s_ref = _vector(sums[0], ref.size, "reference sums", column) - at * ref
    s_cur = _vector(sums[1], cur.size, "current sums", column) - at * cur
    n_ref, n_cur = int(ref.sum()), int(cur.sum())
    m2 = (None, None) if variances is None else (_m2(variances[0], n_ref), _m2(variances[1], n_cur))
    fallback = bin_fallback(e)
    ref_side = side_of(ref, s_ref, m2[0], e, _means(cur, s_cur, fallback))
    cur_side = side_of(cur, s_cur, m2[1], e, _means(ref, s_ref, fallback))
    if scale is None or not math.isfinite(scale) or scale <= 0:
        scale = _default_scale(ref, ref_side, m2[0], fallback)
    return Binned(e, (s_ref, s_cur), (ref_side, cur_side), scale)


def _vector(values: npt.ArrayLike, size: int, what: str, column: str) -> FloatArray:
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.shape != (size,) or not np.all(np.isfinite(a)):
        raise UsageError(
            f"column_drift({column!r}): {what} must be {size} finite numbers, got "
            f"{a[:12].tolist()}.",
            hint="Pass the bins' inner edges and each side's bin sums from profiles "
            "(ColumnProfile.sums), or use column_profile_drift.",
        )
    return a


def _m2(variance: float, n: int) -> float | None:
    """The sum of squared deviations from a sample variance (``None`` when undefined)."""
    return variance * (n - 1) if n > 1 and math.isfinite(variance) and variance >= 0 else None


def _means(counts: npt.NDArray[np.int64], sums: FloatArray, fallback: FloatArray) -> FloatArray:
    """Each bin's mean, ``fallback``'s where the bin is empty."""
    filled = counts > 0
    return np.asarray(np.where(filled, sums / np.where(filled, counts, 1), fallback))


def _default_scale(
    ref: npt.NDArray[np.int64], side: BinSide, m2: float | None, fallback: FloatArray
) -> float:
    """The reference sd: from its variance, else its bin means; bin widths if constant."""
    n = int(ref.sum())
    if m2 is not None and m2 > 0:
        return math.sqrt(m2 / (n - 1))
    p = ref / n
    mean = float(p @ side.means)
    spread = math.sqrt(float(p @ (side.means - mean) ** 2))
    if spread > 0:
        return spread
    return float(np.mean(np.diff(fallback))) if fallback.size > 1 else 1.0
