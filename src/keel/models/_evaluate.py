"""Model evaluation: quality metrics overall and per slice, with bootstrap confidence intervals.

:func:`evaluate` takes row-aligned arrays (true values, predictions, and for a binary
classifier the predicted probability of the positive class) and returns an
:class:`Evaluation`: every metric of :data:`keel.models._metrics.METRICS` that applies,
overall and for each slice of the data, each with a percentile bootstrap interval.

Labels. Classification labels may be bools, integers or strings. They are ordered
(sorted) and, for two classes, the *greater* label is the positive one: ``True`` over
``False``, ``1`` over ``0``, ``"yes"`` over ``"no"``; ``y_score`` is the probability of
that label. When only one label occurs it is the negative class if it equals ``0``
(``0``, ``0.0``, ``False``) and the positive class otherwise. With more than two classes
only accuracy and macro F1 apply (AUC, log loss and calibration error are binary).

Bootstrap. Rows are resampled with replacement ``n_boot`` times from
``numpy.random.Generator(seed)``; the interval is the central ``confidence`` share of the
resampled values (percentile method). Resamples on which a metric is undefined (an AUC
with one class drawn) are left out of its interval. The resamples are drawn as index
matrices, turned into per-row counts, and every metric is computed from the counts at once
(sums by matrix product; AUC by cumulative sums over the rows ordered by score), so 1,000
resamples of 100,000 rows take about two seconds. A metric without such a vectorized form is
computed on each resample with its ``METRICS`` function. Every slice draws its own stream,
derived from ``seed`` and the slice's name, so results are deterministic and adding a
slice column does not change the others' intervals.

Slices. A numeric column with more than ``2 * bins`` distinct values is cut into ``bins``
quantile bins labelled ``"[a, b)"`` (the last ``"[a, b]"``; edges to 4 significant
digits, more when needed to tell them apart); any other column is sliced by value. Missing
values (``None``, NaN) form their own ``"(null)"`` slice, listed last.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt

from keel._json import nulled
from keel.errors import UsageError, did_you_mean
from keel.models._metrics import METRICS, Array, Task, metric
from keel.models._report_html import evaluation_html

__all__ = [
    "NULL_LABEL",
    "Confusion",
    "Curves",
    "Evaluation",
    "MetricValue",
    "SliceResult",
    "evaluate",
]

NULL_LABEL = "(null)"
_MAX_CLASSES = 20  # an inferred task is classification up to this many distinct labels
_CALIBRATION_BINS = 10  # as in ``expected_calibration_error``
_CHUNK_ELEMENTS = 2_000_000  # resamples x rows drawn at once (bounds memory to ~100 MB)
_TASKS: tuple[Task, ...] = ("classification", "regression")
_CURVE_POINTS = 101  # at most this many points per stored curve (kept in the model's events)
_SCORE_BINS = 20  # equal-width score bins of the per-class score distributions


@dataclass(frozen=True)
class MetricValue:
    """A metric's value and its bootstrap interval (``nan`` bounds when not computable)."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        return {
            "value": nulled(self.value),
            "low": nulled(self.low),
            "high": nulled(self.high),
        }


@dataclass(frozen=True)
class SliceResult:
    """The metrics on the rows where ``column`` has the value (or falls in the bin) ``label``."""

    column: str
    label: str
    rows: int
    metrics: dict[str, MetricValue]

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "label": self.label,
            "rows": self.rows,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
        }


@dataclass(frozen=True)
class Curves:
    """A binary classifier's curves on the evaluated rows, kept compact (at most 101 points
    each, always including both ends) so they fit in the model's stored events.

    ``roc`` is ``(false positive rate, true positive rate)`` from ``(0, 0)`` to ``(1, 1)``;
    ``pr`` is ``(recall, precision)`` from recall 0 (precision 1) to recall 1;
    ``score_edges`` are the 21 edges of 20 equal-width bins over [0, 1] and ``negative`` /
    ``positive`` the rows of each class per bin (the score distributions per class).
    """

    roc: list[tuple[float, float]]
    pr: list[tuple[float, float]]
    score_edges: list[float]
    negative: list[int]
    positive: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "roc": [[x, y] for x, y in self.roc],
            "pr": [[x, y] for x, y in self.pr],
            "scores": {
                "edges": self.score_edges,
                "negative": self.negative,
                "positive": self.positive,
            },
        }


@dataclass(frozen=True)
class Confusion:
    """Counts of true label (row) against predicted label (column), both ordered as
    ``labels``. ``basis`` says which predictions were counted: ``"predicted labels"`` (the
    model's own ``y_pred``) or ``"threshold 0.5"`` (``y_score >= 0.5``)."""

    labels: list[str]
    matrix: list[list[int]]
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return {"labels": self.labels, "matrix": self.matrix, "basis": self.basis}


@dataclass(frozen=True)
class Evaluation:
    """The result of :func:`evaluate`.

    ``calibration`` (binary classification with a score, else empty) lists the non-empty
    of 10 equal-width probability bins as ``(mean predicted, observed positive rate, rows)``.
    ``curves`` (binary classification with a score, else ``None``): ROC, precision-recall
    and the score distributions per class. ``confusion`` (classification, else ``None``):
    the confusion matrix of all rows.
    """

    task: Task
    rows: int
    metrics: dict[str, MetricValue]
    slices: list[SliceResult]
    confidence: float
    n_boot: int
    calibration: list[tuple[float, float, int]] = field(default_factory=list)
    curves: Curves | None = None
    confusion: Confusion | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (``nan`` becomes ``None``)::

        {"task", "rows", "confidence", "n_boot",
         "metrics": {name: {"value", "low", "high"}},
         "slices": [{"column", "label", "rows", "metrics": {name: {...}}}],
         "calibration": [{"predicted", "observed", "rows"}],
         "curves": {"roc": [[fpr, tpr]], "pr": [[recall, precision]],
                    "scores": {"edges", "negative", "positive"}} or None,
         "confusion": {"labels", "matrix": [[count]], "basis"} or None}
        """
        return {
            "task": self.task,
            "rows": self.rows,
            "confidence": self.confidence,
            "n_boot": self.n_boot,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
            "slices": [s.to_dict() for s in self.slices],
            "calibration": [
                {"predicted": nulled(p), "observed": nulled(o), "rows": n}
                for p, o, n in self.calibration
            ],
            "curves": None if self.curves is None else self.curves.to_dict(),
            "confusion": None if self.confusion is None else self.confusion.to_dict(),
        }

    def to_html(self, *, title: str = "Evaluation", subtitle: str = "") -> str:
        """The report of ``keel models evaluate --html``: a self-contained HTML page (the
        metrics with their intervals, calibration, every slice)."""
        return evaluation_html(self, title=title, subtitle=subtitle)

    def _repr_html_(self) -> str:
        from keel._html import fragment

        return fragment(self.to_html())

    def __repr__(self) -> str:
        shown = list(self.metrics.items())[:4]
        figures = ", ".join(f"{k} {m.value:.4g} [{m.low:.3g}, {m.high:.3g}]" for k, m in shown)
        hidden = len(self.metrics) - len(shown)
        more = f" (+{hidden} more)" if hidden else ""
        slices = f"; {len(self.slices)} slices" if self.slices else ""
        return (
            f"<Evaluation {self.task} on {self.rows:,} rows, {self.confidence:.0%} CI: "
            f"{figures}{more}{slices}>"
        )


def evaluate(
    y_true: npt.ArrayLike,
    *,
    y_pred: npt.ArrayLike | None = None,
    y_score: npt.ArrayLike | None = None,
    task: Task | None = None,
    slices: Mapping[str, npt.ArrayLike] | None = None,
    bins: int = 4,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    metrics: Sequence[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """Compute quality metrics overall and per slice, with bootstrap confidence intervals.

    ``y_score`` is the probability of the positive (greater) label of a binary classifier;
    without ``y_pred`` the predicted label is ``y_score >= 0.5``. ``task`` is inferred when
    ``None``: classification if ``y_score`` is given or ``y_true`` holds at most 20
    distinct integer, bool or string values, else regression. ``slices`` maps a column name
    to row-aligned values. ``metrics`` defaults to every metric of the task that can be
    computed (those needing a probability only with ``y_score``). ``on_progress(done, total)``
    is called as the bootstrap advances, in resamples over the whole data and every slice
    (``keel models evaluate`` draws its progress bar from it).

    Raises ``UsageError`` for inputs that cannot be evaluated: mismatched lengths, no rows,
    a ``y_score`` outside [0, 1], a regression without ``y_pred``.
    """
    _check_options(bins=bins, n_boot=n_boot, confidence=confidence, seed=seed)
    rows = _prepare(y_true, y_pred, y_score, task)
    chosen = _metric_names(metrics, rows)
    columns = [_slice_column(name, values, rows.n, bins) for name, values in (slices or {}).items()]
    groups = 1 + sum(int(np.count_nonzero(np.bincount(c.codes))) for c in columns)
    counter = _Counter(n_boot * groups if n_boot else 0, on_progress)
    overall = _measure(rows, chosen, n_boot, confidence, _rng(seed, ""), counter=counter)
    results: list[SliceResult] = []
    for column in sorted(columns, key=lambda c: c.name):
        order = np.argsort(column.codes, kind="stable")
        bounds = np.searchsorted(column.codes[order], np.arange(len(column.labels) + 1))
        for code, label in enumerate(column.labels):
            index = order[bounds[code] : bounds[code + 1]]
            if not len(index):
                continue
            subset = rows.take(index)
            rng = _rng(seed, f"{column.name}\0{label}")
            measured = _measure(subset, chosen, n_boot, confidence, rng, counter=counter)
            results.append(SliceResult(column.name, label, len(index), measured))
    return Evaluation(
        task=rows.task,
        rows=rows.n,
        metrics=overall,
        slices=results,
        confidence=confidence,
        n_boot=n_boot,
        calibration=_calibration(rows),
        curves=_curves(rows),
        confusion=_confusion(rows),
    )


def _check_options(*, bins: int, n_boot: int, confidence: float, seed: int) -> None:
    if bins < 1:
        raise UsageError(f"bins must be at least 1; got {bins}.", hint="The default is 4.")
    if n_boot < 0:
        raise UsageError(
            f"n_boot must be 0 (no intervals) or more; got {n_boot}.", hint="The default is 1000."
        )
    if not 0 < confidence < 1:
        raise UsageError(
            f"confidence must be between 0 and 1 (exclusive); got {confidence}.",
            hint="Pass a share such as 0.95, not a percentage.",
        )
    if seed < 0:
        raise UsageError(
            f"seed must be a non-negative integer; got {seed}.", hint="The default is 0."
        )


def _rng(seed: int, key: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(key.encode())])


# --- inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rows:
    """Validated rows: class codes (0..k-1, ordered as the labels) or float targets."""

    task: Task
    true: Array
    pred: Array
    score: Array | None
    n_classes: int  # 0 for regression; 2 for binary even when one label occurs
    labels: tuple[str, ...] = ()  # the class of each code, as text (classification)
    thresholded: bool = False  # pred is ``score >= 0.5`` (no y_pred was given)

    @property
    def n(self) -> int:
        return len(self.true)

    def take(self, index: Array) -> _Rows:
        score = None if self.score is None else self.score[index]
        return _Rows(
            self.task,
            self.true[index],
            self.pred[index],
            score,
            self.n_classes,
            self.labels,
            self.thresholded,
        )


def _prepare(
    y_true: npt.ArrayLike,
    y_pred: npt.ArrayLike | None,
    y_score: npt.ArrayLike | None,
    task: Task | None,
) -> _Rows:
    true = _vector(y_true, "y_true")
    pred = None if y_pred is None else _vector(y_pred, "y_pred")
    score = None if y_score is None else _scores(y_score)
    if not len(true):
        raise UsageError(
            "nothing to evaluate: y_true has no rows.", hint="Pass a non-empty dataset."
        )
    for name, other in (("y_pred", pred), ("y_score", score)):
        if other is not None and len(other) != len(true):
            raise UsageError(
                f"{name} has {len(other)} rows but y_true has {len(true)}.",
                hint="Pass row-aligned arrays: one prediction per true value.",
            )
    if task is None:
        task = _infer_task(true, score)
    elif task not in _TASKS:
        raise UsageError(f"unknown task {task!r}.", hint=did_you_mean(str(task), _TASKS))
    if task == "regression":
        return _regression_rows(true, pred, score)
    return _classification_rows(true, pred, score)


def _vector(values: npt.ArrayLike, name: str) -> Array:
    array = np.asarray(values)
    if array.ndim != 1:
        raise UsageError(
            f"{name} must be one-dimensional; got shape {array.shape}.",
            hint="For a binary classifier pass y_score=proba[:, 1], the positive class's column."
            if name == "y_score"
            else "Pass one value per row.",
        )
    return array


def _scores(y_score: npt.ArrayLike) -> Array:
    array = _vector(y_score, "y_score")
    try:
        score = array.astype(float)
    except (TypeError, ValueError):
        raise UsageError(
            f"y_score must hold probabilities; got values of type {array.dtype}.",
            hint="Pass the predicted probability of the positive class.",
        ) from None
    outside = ~((score >= 0) & (score <= 1))  # also catches NaN
    if outside.any():
        first = score[outside][0]
        raise UsageError(
            f"y_score must be probabilities in [0, 1]; {int(outside.sum())} value(s) are not "
            f"(first: {first!r}).",
            hint="Pass predict_proba(X)[:, 1], not a decision function or a logit.",
        )
    return score


def _infer_task(true: Array, score: Array | None) -> Task:
    if score is not None:
        return "classification"
    values = [v for v in set(true.tolist()) if not _is_null(v)]
    discrete = len(values) <= _MAX_CLASSES and all(map(_is_label, values))
    return "classification" if discrete else "regression"


def _is_label(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, str | bytes | int | np.integer | np.bool_)


def _regression_rows(true: Array, pred: Array | None, score: Array | None) -> _Rows:
    if pred is None:
        raise UsageError(
            "a regression evaluation needs y_pred (the predicted values).",
            hint="Pass y_pred=model.predict(X); or task='classification' for a classifier.",
        )
    if score is not None:
        raise UsageError(
            "y_score (a probability) is for binary classifiers, not regression.",
            hint="Drop y_score, or pass task='classification'.",
        )
    return _Rows("regression", _floats(true, "y_true"), _floats(pred, "y_pred"), None, 0)


def _floats(array: Array, name: str) -> Array:
    try:
        values = array.astype(float)
    except (TypeError, ValueError):
        raise UsageError(
            f"{name} must be numeric for a regression; got values of type {array.dtype}.",
            hint="For labels pass task='classification'.",
        ) from None
    bad = ~np.isfinite(values)
    if bad.any():
        raise UsageError(
            f"{name} has {int(bad.sum())} missing or infinite value(s).",
            hint="Drop or impute those rows before evaluating.",
        )
    return values


def _classification_rows(true: Array, pred: Array | None, score: Array | None) -> _Rows:
    for name, array in (("y_true", true), ("y_pred", pred)):
        if array is not None and _missing(array).any():
            raise UsageError(
                f"{name} has {int(_missing(array).sum())} missing label(s).",
                hint="Drop those rows before evaluating.",
            )
    if pred is not None:
        _check_labels(true, pred)
    pool = true if pred is None else np.concatenate([true, pred])
    try:
        classes, codes = np.unique(pool, return_inverse=True)
    except TypeError:
        raise UsageError(
            "the labels mix types that cannot be ordered (e.g. numbers and strings).",
            hint="Give y_true and y_pred labels of one type.",
        ) from None
    codes = codes.astype(np.int64)
    if len(classes) == 1 and not _is_zero(classes[0]):
        codes = codes + 1  # a lone label is the positive class unless it is 0/False
    n_classes = max(len(classes), 2)
    if score is not None and n_classes > 2:
        raise UsageError(
            f"y_score is the probability of the positive class, which needs two classes; "
            f"got {len(classes)}: {_shown(classes)}.",
            hint="For more than two classes pass y_pred only (accuracy and macro F1).",
        )
    true_codes = codes[: len(true)]
    if pred is not None:
        pred_codes = codes[len(true) :]
    elif score is not None:
        pred_codes = (score >= 0.5).astype(np.int64)
    else:
        raise UsageError(
            "a classification evaluation needs y_pred (labels) or y_score (probabilities).",
            hint="Pass y_pred=model.predict(X) and, for a binary classifier, "
            "y_score=model.predict_proba(X)[:, 1].",
        )
    labels = [str(c) for c in classes.tolist()]
    if len(labels) == 1:  # the lone label takes its side; name the other by the convention
        labels = ["(other)", labels[0]] if not _is_zero(classes[0]) else [labels[0], "(other)"]
    thresholded = pred is None
    return _Rows(
        "classification", true_codes, pred_codes, score, n_classes, tuple(labels), thresholded
    )


def _check_labels(true: Array, pred: Array) -> None:
    if pred.dtype.kind == "f" and true.dtype.kind != "f":
        finite = pred[np.isfinite(pred)]
        if not np.all(finite == np.round(finite)):
            raise UsageError(
                "y_pred holds fractional numbers but y_true holds labels.",
                hint="Probabilities go in y_score; y_pred takes predicted labels.",
            )
    text = {k for k in (true.dtype.kind, pred.dtype.kind) if k in "US"}
    numbers = {k for k in (true.dtype.kind, pred.dtype.kind) if k in "biuf"}
    if text and numbers:
        raise UsageError(
            f"y_true and y_pred hold labels of different types ({true.dtype} and {pred.dtype}).",
            hint="Give both the same label type, e.g. map the predictions back to the labels.",
        )


def _is_zero(label: Any) -> bool:
    return not isinstance(label, str | bytes | np.str_ | np.bytes_) and bool(label == 0)


def _shown(classes: Array) -> str:
    items = [repr(c.item() if isinstance(c, np.generic) else c) for c in classes[:5]]
    return ", ".join(items) + (", ..." if len(classes) > 5 else "")


def _missing(array: Array) -> npt.NDArray[np.bool_]:
    kind = array.dtype.kind
    if kind == "f":
        return np.isnan(array)
    if kind in "mM":
        return np.isnat(array)
    if kind == "O":
        return np.array([_is_null(v) for v in array.tolist()], dtype=bool)
    return np.zeros(len(array), dtype=bool)


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return type(value).__name__ in ("NAType", "NaTType")  # pandas' missing markers


def _metric_names(requested: Sequence[str] | None, rows: _Rows) -> list[str]:
    task = rows.task
    usable = [name for name, m in METRICS.items() if m.task == task]
    if requested is None:
        return [
            n
            for n in usable
            if METRICS[n].default and (rows.score is not None or not METRICS[n].needs_score)
        ]
    if isinstance(requested, str):
        requested = [requested]
    if not requested:
        raise UsageError("no metrics requested.", hint=f"Choose from: {', '.join(usable)}.")
    for name in requested:
        spec = metric(name)
        if spec.task != task:
            raise UsageError(
                f"metric {name!r} is for {spec.task}, but this evaluation is {task}.",
                hint=f"Metrics for {task}: {', '.join(usable)}.",
            )
        if spec.needs_score and rows.score is None:
            raise UsageError(
                f"metric {name!r} needs predicted probabilities (y_score).",
                hint="Pass y_score=model.predict_proba(X)[:, 1] for a binary classifier.",
            )
    return list(dict.fromkeys(requested))


# --- slices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SliceColumn:
    name: str
    labels: list[str]
    codes: Array  # per row, the index of its label


def _slice_column(name: str, values: npt.ArrayLike, n: int, bins: int) -> _SliceColumn:
    array = np.asarray(values)
    if array.ndim != 1 or len(array) != n:
        raise UsageError(
            f"slice column {name!r} has shape {array.shape}, but there are {n} rows.",
            hint="Pass one value per row for every slice column.",
        )
    missing = _missing(array)
    present = array[~missing]
    numeric = array.dtype.kind in "iuf"
    if numeric and len(np.unique(present)) > 2 * bins:
        labels, codes = _bins(present.astype(float), bins)
    else:
        labels, codes = _categories(present)
    all_codes = np.full(n, len(labels), dtype=np.int64)
    all_codes[~missing] = codes
    if missing.any():
        labels = [*labels, NULL_LABEL]
    return _SliceColumn(name, labels, all_codes)


def _bins(values: Array, bins: int) -> tuple[list[str], Array]:
    edges = np.unique(np.quantile(values, np.linspace(0, 1, bins + 1)))
    codes = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    texts = _edge_texts(edges)
    last = len(edges) - 2
    labels = [
        f"[{texts[i]}, {texts[i + 1]}{']' if i == last else ')'}" for i in range(len(edges) - 1)
    ]
    return labels, codes


def _edge_texts(edges: Array) -> list[str]:
    for digits in range(4, 18):
        texts = [f"{float(e):.{digits}g}" for e in edges]
        if len(set(texts)) == len(texts):
            return texts
    return [repr(float(e)) for e in edges]


def _categories(values: Array) -> tuple[list[str], Array]:
    try:
        uniques, codes = np.unique(values, return_inverse=True)
    except TypeError:  # mixed types: order by their text
        uniques, codes = np.unique(np.array([str(v) for v in values.tolist()]), return_inverse=True)
    labels = [str(v.item() if isinstance(v, np.generic) else v) for v in uniques]
    return labels, codes.astype(np.int64)


# --- metrics and intervals ----------------------------------------------------------------


class _Counter:
    """Resamples drawn so far, reported to ``on_progress`` (if any) as ``(done, total)``."""

    def __init__(self, total: int, report: Callable[[int, int], None] | None) -> None:
        self.total = total
        self.done = 0
        self.report = report

    def add(self, count: int) -> None:
        self.done += count
        if self.report is not None:
            self.report(self.done, self.total)


def _measure(
    rows: _Rows,
    names: list[str],
    n_boot: int,
    confidence: float,
    rng: np.random.Generator,
    *,
    counter: _Counter,
) -> dict[str, MetricValue]:
    values = {name: _point(name, rows) for name in names}
    if rows.n < 2 or n_boot == 0:
        counter.add(n_boot)  # no interval for this group: its share of the work is done
        return {name: MetricValue(v, math.nan, math.nan) for name, v in values.items()}
    replicates = _bootstrap(rows, names, n_boot, rng, counter)
    alpha = (1 - confidence) / 2
    result = {}
    for name in names:
        drawn = replicates[name]
        drawn = drawn[np.isfinite(drawn)]
        if len(drawn):
            low, high = np.quantile(drawn, [alpha, 1 - alpha])
            result[name] = MetricValue(values[name], float(low), float(high))
        else:
            result[name] = MetricValue(values[name], math.nan, math.nan)
    return result


def _point(name: str, rows: _Rows) -> float:
    return float(METRICS[name].fn(rows.true, rows.pred, rows.score))


def _bootstrap(
    rows: _Rows, names: list[str], n_boot: int, rng: np.random.Generator, counter: _Counter
) -> dict[str, Array]:
    replicate = _Replicates(rows, names)
    out = {name: np.empty(n_boot) for name in names}
    chunk = max(1, _CHUNK_ELEMENTS // rows.n)
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        drawn = replicate(rng.integers(0, rows.n, size=(size, rows.n)))
        for name in names:
            out[name][start : start + size] = drawn[name]
        counter.add(size)
    return out


Columns = Callable[[_Rows], Array]
Finish = Callable[[Array, Array, _Rows], Array]


class _Replicates:
    """Metric values on resamples given as an index matrix (one resample per row).

    The resamples become per-row counts; a metric with a kernel in ``_KERNELS`` is then
    computed from the counts (its per-row columns are summed by one matrix product), any
    other by calling its ``METRICS`` function on each resample.

    The product is ``np.einsum``, not ``@``: OpenBLAS's worker threads spin between calls
    and, competing with the single-threaded work that follows (the AUC's cumulative sums),
    made a busy two-core machine up to ten times slower.
    """

    def __init__(self, rows: _Rows, names: list[str]) -> None:
        if rows.score is not None:  # the AUC kernel needs the rows ordered by score
            rows = rows.take(np.argsort(rows.score, kind="stable"))
        self.rows = rows
        self.names = names
        blocks: list[Array] = []
        self.spans: dict[str, slice] = {}
        offset = 0
        for name in names:
            if name in _KERNELS:
                block = _KERNELS[name][0](rows)
                self.spans[name] = slice(offset, offset + block.shape[1])
                blocks.append(block)
                offset += block.shape[1]
        matrix = np.hstack(blocks) if blocks else np.zeros((rows.n, 0))
        self.matrix_t = np.ascontiguousarray(matrix.T)

    def __call__(self, index: Array) -> dict[str, Array]:
        size, n = index.shape
        flat = (index + (np.arange(size) * n)[:, None]).ravel()
        counts = np.bincount(flat, minlength=size * n).reshape(size, n).astype(float)
        sums = np.einsum("ij,kj->ik", counts, self.matrix_t)
        out: dict[str, Array] = {}
        for name in self.names:
            if name in _KERNELS:
                out[name] = _KERNELS[name][1](counts, sums[:, self.spans[name]], self.rows)
            else:
                out[name] = self._each(name, index)
        return out

    def _each(self, name: str, index: Array) -> Array:
        fn, rows = METRICS[name].fn, self.rows
        scores = [None if rows.score is None else rows.score[i] for i in index]
        return np.array(
            [fn(rows.true[i], rows.pred[i], s) for i, s in zip(index, scores, strict=True)]
        )


def _mean(counts: Array, sums: Array, rows: _Rows) -> Array:
    return cast(Array, sums[:, 0] / rows.n)


def _accuracy_columns(rows: _Rows) -> Array:
    return cast(Array, (rows.true == rows.pred).astype(float)[:, None])


def _log_loss_columns(rows: _Rows) -> Array:
    assert rows.score is not None
    p = np.clip(rows.score, 1e-15, 1 - 1e-15)
    y = rows.true.astype(float)
    return cast(Array, -(y * np.log(p) + (1 - y) * np.log(1 - p)))[:, None]


def _f1_columns(rows: _Rows) -> Array:
    classes = np.arange(rows.n_classes)
    t = rows.true[:, None] == classes
    p = rows.pred[:, None] == classes
    return np.hstack([t & p, p & ~t, t & ~p, t | p]).astype(float)


def _f1_finish(counts: Array, sums: Array, rows: _Rows) -> Array:
    # as ``f1``: the F1 of the greatest class drawn when at most two are, else the macro mean
    k = sums.shape[1] // 4
    tp, fp, fn = sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k : 3 * k]
    present = sums[:, 3 * k :] > 0
    per_class = np.where(tp > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)
    n_present = present.sum(axis=1)
    top = k - 1 - np.argmax(present[:, ::-1], axis=1)
    single = per_class[np.arange(len(sums)), top]
    macro = (per_class * present).sum(axis=1) / np.maximum(n_present, 1)
    return cast(Array, np.where(n_present <= 2, single, macro))


def _precision_finish(counts: Array, sums: Array, rows: _Rows) -> Array:
    return _one_class_finish(sums, lambda tp, fp, fn: (tp, tp + fp))


def _recall_finish(counts: Array, sums: Array, rows: _Rows) -> Array:
    return _one_class_finish(sums, lambda tp, fp, fn: (tp, tp + fn))


def _one_class_finish(
    sums: Array, ratio: Callable[[Array, Array, Array], tuple[Array, Array]]
) -> Array:
    # as ``precision``/``recall``: of the greatest class drawn when at most two are (nan when
    # its denominator is 0), else the macro mean over the classes drawn (0 for such a class)
    k = sums.shape[1] // 4
    top_num, den = ratio(sums[:, :k], sums[:, k : 2 * k], sums[:, 2 * k : 3 * k])
    present = sums[:, 3 * k :] > 0
    per_class = top_num / np.where(den > 0, den, 1)
    n_present = present.sum(axis=1)
    top = k - 1 - np.argmax(present[:, ::-1], axis=1)
    picked = np.arange(len(sums)), top
    single = np.where(den[picked] > 0, per_class[picked], np.nan)
    macro = (per_class * present).sum(axis=1) / np.maximum(n_present, 1)
    return np.where(n_present <= 2, single, macro)


def _ece_columns(rows: _Rows) -> Array:
    assert rows.score is not None
    index = np.minimum((rows.score * _CALIBRATION_BINS).astype(int), _CALIBRATION_BINS - 1)
    columns = np.zeros((rows.n, _CALIBRATION_BINS))
    columns[np.arange(rows.n), index] = rows.true - rows.score
    return columns


def _ece_finish(counts: Array, sums: Array, rows: _Rows) -> Array:
    # per bin, rows x |observed rate - mean probability| = |sum(y) - sum(p)|
    return cast(Array, np.abs(sums).sum(axis=1) / rows.n)


def _auc_finish(counts: Array, sums: Array, rows: _Rows) -> Array:
    # Mann-Whitney: each positive counts the negatives scored below it, ties as one half.
    # Rows are ordered by score; tied scores are merged into one group first.
    assert rows.score is not None
    positives = counts * (rows.true == 1)
    negatives = counts - positives
    starts = np.concatenate([[0], np.flatnonzero(np.diff(rows.score)) + 1])
    if len(starts) < rows.n:
        positives = np.add.reduceat(positives, starts, axis=1)
        negatives = np.add.reduceat(negatives, starts, axis=1)
    below = np.cumsum(negatives, axis=1) - 0.5 * negatives
    pairs = np.einsum("ij,ij->i", positives, below)
    total = positives.sum(axis=1) * negatives.sum(axis=1)
    return np.where(total > 0, pairs / np.where(total > 0, total, 1), np.nan)


def _no_columns(rows: _Rows) -> Array:
    return np.zeros((rows.n, 0))


def _error_columns(power: int) -> Columns:
    def columns(rows: _Rows) -> Array:
        return cast(Array, np.abs(rows.true - rows.pred) ** power)[:, None]

    return columns


def _rmse_finish(counts: Array, sums: Array, rows: _Rows) -> Array:
    return np.sqrt(sums[:, 0] / rows.n)


def _r2_columns(rows: _Rows) -> Array:
    centred = rows.true - rows.true.mean()  # keeps the sums of squares accurate
    return np.column_stack([centred, centred**2, (rows.true - rows.pred) ** 2])


def _r2_finish(counts: Array, sums: Array, rows: _Rows) -> Array:
    total = sums[:, 1] - sums[:, 0] ** 2 / rows.n
    defined = total > 1e-12 * np.maximum(sums[:, 1], np.finfo(float).tiny)
    return np.where(defined, 1 - sums[:, 2] / np.where(defined, total, 1), np.nan)


_KERNELS: dict[str, tuple[Columns, Finish]] = {
    "accuracy": (_accuracy_columns, _mean),
    "f1": (_f1_columns, _f1_finish),
    "log_loss": (_log_loss_columns, _mean),
    "precision": (_f1_columns, _precision_finish),
    "recall": (_f1_columns, _recall_finish),
    "ece": (_ece_columns, _ece_finish),
    "auc": (_no_columns, _auc_finish),
    "rmse": (_error_columns(2), _rmse_finish),
    "mae": (_error_columns(1), _mean),
    "mse": (_error_columns(2), _mean),
    "r2": (_r2_columns, _r2_finish),
}


def _calibration(rows: _Rows) -> list[tuple[float, float, int]]:
    if rows.score is None:
        return []
    index = np.minimum((rows.score * _CALIBRATION_BINS).astype(int), _CALIBRATION_BINS - 1)
    result = []
    for b in range(_CALIBRATION_BINS):
        chosen = index == b
        if chosen.any():
            predicted = float(rows.score[chosen].mean())
            observed = float(rows.true[chosen].mean())
            result.append((predicted, observed, int(chosen.sum())))
    return result


def _curves(rows: _Rows) -> Curves | None:
    """ROC and precision-recall points at every distinct score (thinned to at most
    ``_CURVE_POINTS``), and the score histogram of each class."""
    if rows.score is None or rows.n_classes != 2:
        return None
    order = np.argsort(-rows.score, kind="stable")
    score = rows.score[order]
    positive = (rows.true[order] == 1).astype(np.int64)
    last = np.r_[np.flatnonzero(np.diff(score)), len(score) - 1]  # end of each tied group
    tp = np.cumsum(positive)[last]
    fp = (last + 1) - tp
    n_pos, n_neg = int(positive.sum()), len(score) - int(positive.sum())
    tpr = np.r_[0.0, tp / n_pos] if n_pos else np.r_[0.0, np.full(len(tp), np.nan)]
    fpr = np.r_[0.0, fp / n_neg] if n_neg else np.r_[0.0, np.full(len(fp), np.nan)]
    recall = tpr
    precision = np.r_[1.0, tp / (tp + fp)]
    edges = np.linspace(0.0, 1.0, _SCORE_BINS + 1)
    index = np.minimum((rows.score * _SCORE_BINS).astype(int), _SCORE_BINS - 1)
    counts = np.zeros((2, _SCORE_BINS), dtype=np.int64)
    np.add.at(counts, (rows.true.astype(np.int64).clip(0, 1), index), 1)
    return Curves(
        roc=_thin(fpr, tpr),
        pr=_thin(recall, precision),
        score_edges=[round(float(e), 6) for e in edges],
        negative=[int(c) for c in counts[0]],
        positive=[int(c) for c in counts[1]],
    )


def _thin(xs: Array, ys: Array) -> list[tuple[float, float]]:
    """At most ``_CURVE_POINTS`` of the points, evenly spread and keeping both ends; ``nan``
    (a class absent) leaves the curve empty."""
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return []
    keep = np.arange(len(xs))
    if len(xs) > _CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(xs) - 1, _CURVE_POINTS).round().astype(int))
    return [(round(float(xs[i]), 6), round(float(ys[i]), 6)) for i in keep]


def _confusion(rows: _Rows) -> Confusion | None:
    if rows.task != "classification":
        return None
    k = rows.n_classes
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (rows.true.astype(np.int64), rows.pred.astype(np.int64)), 1)
    basis = "threshold 0.5" if rows.thresholded else "predicted labels"
    labels = list(rows.labels) or [str(i) for i in range(k)]
    return Confusion(labels, [[int(c) for c in row] for row in matrix.tolist()], basis)
