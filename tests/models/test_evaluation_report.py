"""The evaluation report's classifier views: ROC and precision-recall curves, the confusion
matrix at the stated threshold and the score distribution of each class, read back from
the HTML page where they are drawn and from ``to_dict``."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm  # type: ignore[import-untyped]

from keel.models import evaluate

_SIZE, _MARGIN = 300, 44  # the unit-square charts' geometry


def _binary(n: int, seed: int = 0, *, ties: bool = False) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = np.clip(0.35 * y + 0.65 * rng.random(n), 0, 1)
    return y, (np.round(score, 1) if ties else score)


def _drawn(page: str, label: str) -> list[tuple[float, float]]:
    """The curve of the chart ``label`` as the page draws it, back in data units."""
    svg = page.split(f'aria-label="{label}"', 1)[1].split("</svg>", 1)[0]
    found = re.search(r'<polyline class="curve" points="([^"]+)"', svg)
    assert found is not None
    span = _SIZE - 2 * _MARGIN
    points = []
    for pair in found.group(1).split():
        px, py = map(float, pair.split(","))
        points.append(((px - _MARGIN) / span, (_SIZE - _MARGIN - py) / span))
    return points


def _trapezoid(points: list[tuple[float, float]]) -> float:
    xs, ys = np.array(points).T
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2))


@pytest.mark.parametrize("ties", [False, True])
def test_the_drawn_roc_runs_corner_to_corner_and_its_area_is_the_reported_auc(
    ties: bool,
) -> None:
    y, score = _binary(20_000, ties=ties)
    result = evaluate(y, y_score=score, n_boot=0)
    roc = _drawn(result.to_html(), "ROC curve")
    assert roc[0] == pytest.approx((0, 0), abs=1e-4)
    assert roc[-1] == pytest.approx((1, 1), abs=1e-4)
    assert len(roc) <= 101  # thinned: 20,000 distinct scores, a compact stored curve
    assert all(b >= a for a, b in itertools.pairwise(roc))  # monotone
    auc = result.metrics["auc"].value
    assert auc == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert _trapezoid(roc) == pytest.approx(auc, abs=0.003)


def test_the_precision_recall_curve_matches_scikit_learn_and_spans_recall() -> None:
    y, score = _binary(3000, seed=3, ties=True)
    curves = evaluate(y, y_score=score, n_boot=0).curves
    assert curves is not None
    recall, precision = np.array(curves.pr).T
    assert recall[0] == 0
    assert precision[0] == 1
    assert recall[-1] == 1
    assert precision[-1] == pytest.approx(y.mean(), abs=1e-6)  # everything predicted positive
    sk_precision, sk_recall, _ = skm.precision_recall_curve(y, score)
    # 11 distinct scores: every threshold is kept; scikit-learn lists them low to high
    assert recall == pytest.approx(sk_recall[::-1], abs=1e-6)
    assert precision == pytest.approx(sk_precision[::-1], abs=1e-6)


def test_confusion_at_threshold_half_is_a_manual_count_and_the_page_says_so() -> None:
    y, score = _binary(1000, seed=4)
    result = evaluate(y, y_score=score, n_boot=0)
    confusion = result.confusion
    assert confusion is not None
    assert confusion.basis == "threshold 0.5"
    assert confusion.labels == ["0", "1"]
    pred = score >= 0.5
    expected = [
        [int(((y == 0) & ~pred).sum()), int(((y == 0) & pred).sum())],
        [int(((y == 1) & ~pred).sum()), int(((y == 1) & pred).sum())],
    ]
    assert confusion.matrix == expected
    assert sum(map(sum, confusion.matrix)) == result.rows
    page = result.to_html()
    assert "Confusion matrix (threshold 0.5)" in page
    assert f"{expected[1][1]:,}" in page


def test_confusion_counts_the_models_own_labels_when_given() -> None:
    rng = np.random.default_rng(5)
    y = rng.choice(["cat", "dog", "eel"], 600)
    pred = np.where(rng.random(600) < 0.7, y, rng.choice(["cat", "dog", "eel"], 600))
    confusion = evaluate(y, y_pred=pred, n_boot=0).confusion
    assert confusion is not None
    assert confusion.basis == "predicted labels"
    assert confusion.labels == ["cat", "dog", "eel"]
    for i, true in enumerate(confusion.labels):
        assert sum(confusion.matrix[i]) == int((y == true).sum())  # rows sum to the class
        for j, guess in enumerate(confusion.labels):
            assert confusion.matrix[i][j] == int(((y == true) & (pred == guess)).sum())
    assert "Confusion matrix (predicted labels)" in evaluate(y, y_pred=pred, n_boot=0).to_html()


def test_score_distributions_per_class_are_histograms_of_each_class() -> None:
    y, score = _binary(2000, seed=6)
    curves = evaluate(y, y_score=score, n_boot=0).curves
    assert curves is not None
    assert curves.score_edges[0] == 0
    assert curves.score_edges[-1] == 1
    for label, counts in ((0, curves.negative), (1, curves.positive)):
        expected, _ = np.histogram(score[y == label], bins=np.array(curves.score_edges))
        assert counts == expected.tolist()
    assert 'aria-label="Score distribution per class"' in evaluate(y, y_score=score).to_html()


def test_the_stored_curves_stay_small_and_json_safe() -> None:
    y, score = _binary(100_000, seed=7)
    data = json.loads(json.dumps(evaluate(y, y_score=score, n_boot=0).to_dict(), allow_nan=False))
    assert len(data["curves"]["roc"]) <= 101
    assert len(data["curves"]["pr"]) <= 101
    assert len(json.dumps(data)) < 12_000


def test_a_regression_has_no_curves_and_no_confusion_matrix() -> None:
    rng = np.random.default_rng(8)
    y = rng.normal(size=200)
    result = evaluate(y, y_pred=y + rng.normal(size=200), n_boot=0)
    assert result.curves is None
    assert result.confusion is None
    data = result.to_dict()
    assert data["curves"] is None
    assert data["confusion"] is None
    assert "Confusion matrix" not in result.to_html()


def test_rows_of_one_class_have_no_roc_and_the_page_says_so() -> None:
    result = evaluate([1, 1, 1], y_score=[0.2, 0.5, 0.9], n_boot=0)
    assert result.curves is not None
    assert result.curves.roc == []
    assert result.confusion is not None
    assert result.confusion.matrix == [[0, 0], [1, 2]]  # 0.2 < 0.5: one false negative
    assert "n/a: the rows hold one class" in result.to_html()
