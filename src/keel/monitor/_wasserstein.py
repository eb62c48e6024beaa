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

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["BinSide", "bin_fallback", "bin_integrals", "centre", "draw_windows", "side_of"]

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
