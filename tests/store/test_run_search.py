"""Searching runs in SQL (``MetadataStore.search_runs``): the filter grammar, ordering by a
metric or a param, pages and their count, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from keel.errors import UsageError
from keel.store import MetadataStore, Metric


@pytest.fixture
def store(store_url: str) -> Iterator[MetadataStore]:
    with MetadataStore(store_url) as store:
        _fill(store)
        yield store


def _fill(store: MetadataStore) -> None:
    models = ["rf", "lr", "rf", "gbm", "lr", "rf"]
    for i, model in enumerate(models):
        run_id = store.create_run(
            f"run-{i}",
            experiment="churn" if i % 2 else "fraud",
            tags={"team": "risk" if i < 3 else "growth"},
            params={"model": model, "depth": [2, 10, 3, 7, 1, 12][i], "lr": 0.1 * (i + 1)},
        )
        history = [Metric("loss", 1.0 / (s + 1 + i), step=s) for s in range(3)]
        history.append(Metric("auc", 0.5 + i / 20))
        if i == 4:
            history.append(Metric("auc", math.nan, step=1))  # its latest auc is NaN
        store.log_metrics(run_id, history)
        store.finish_run(run_id, "failed" if i == 5 else "finished")


def names(page: object) -> list[str]:
    return [r.name for r in page.runs]  # type: ignore[attr-defined]


def test_a_page_of_runs_newest_first_counts_every_match(store: MetadataStore) -> None:
    page = store.search_runs(limit=4)
    assert page.total == 6
    assert names(page) == ["run-5", "run-4", "run-3", "run-2"]
    assert names(store.search_runs(offset=4, limit=4)) == ["run-1", "run-0"]
    assert page.runs[0].params["model"] == "rf"  # a run of a page is a whole Run
    assert page.runs[0].metrics["loss"] == pytest.approx(1 / 8)  # latest step's value


def test_filters_combine_metrics_params_tags_and_attributes(store: MetadataStore) -> None:
    assert names(store.search_runs("metrics.auc > 0.6", order_by="name", descending=False)) == [
        "run-3",
        "run-5",
    ]  # run-4's latest auc is NaN: no comparison holds for it
    assert sorted(names(store.search_runs("params.model = rf"))) == ["run-0", "run-2", "run-5"]
    assert sorted(names(store.search_runs("params.model != rf and tags.team = growth"))) == [
        "run-3",
        "run-4",
    ]
    assert names(store.search_runs("params.depth = 12")) == ["run-5"]  # a number as logged
    assert names(store.search_runs("status = failed")) == ["run-5"]
    assert sorted(names(store.search_runs("experiment = churn and name ~ 'run-'"))) == [
        "run-1",
        "run-3",
        "run-5",
    ]
    assert store.search_runs("started >= 2000-01-01").total == 6
    assert store.search_runs("started < 2000-01-01").total == 0


def test_order_by_a_metric_or_a_numeric_param_puts_runs_without_it_last(
    store: MetadataStore,
) -> None:
    by_auc = names(store.search_runs(order_by="metrics.auc"))
    assert by_auc[:4] == ["run-5", "run-3", "run-2", "run-1"]
    assert set(by_auc[4:]) == {"run-0", "run-4"}  # NaN (NULL on SQLite) sorts apart
    by_depth = names(store.search_runs(order_by="params.depth", descending=False))
    assert by_depth == ["run-4", "run-0", "run-2", "run-3", "run-1", "run-5"]  # 1 2 3 7 10 12


@pytest.mark.parametrize(
    ("where", "says"),
    [
        ("metrics.auc >", "cannot read the run filter"),
        ("metrics.auc > high", "compare it with a number"),
        ("params.model > rf", "compares with =, != or ~"),
        ("color = red", "no field 'color'"),
        ("status = finished or status = failed", "expected 'and'"),
        ("started > yesterday", "date or ISO time"),
    ],
)
def test_a_filter_that_does_not_parse_says_what_and_how(
    store: MetadataStore, where: str, says: str
) -> None:
    with pytest.raises(UsageError, match=says) as caught:
        store.search_runs(where)
    assert caught.value.hint


def test_an_unknown_order_is_refused(store: MetadataStore) -> None:
    with pytest.raises(UsageError, match="cannot order runs by 'color'"):
        store.search_runs(order_by="color")


def test_metric_histories_of_many_runs_in_one_read(store: MetadataStore) -> None:
    ids = [r.id for r in store.search_runs(order_by="name", descending=False).runs]
    found = store.metric_histories(ids[:2])
    assert set(found) == set(ids[:2])
    assert [m.step for m in found[ids[0]]["loss"]] == [0, 1, 2]
    assert found[ids[1]]["loss"][0].value == pytest.approx(0.5)


def test_runs_read_together_come_back_in_the_order_asked(store: MetadataStore) -> None:
    ids = [r.id for r in store.search_runs().runs]
    picked = [ids[3], ids[0], ids[5]]
    assert [r.id for r in store.get_runs(picked)] == picked
    with pytest.raises(UsageError, match=r"run 'f+' is not in the metadata store"):
        store.get_runs([ids[0], "f" * 32])


# -- ordering by a metric through the latest values' index (revision 0008) -----------------
def _expected(
    store: MetadataStore, key: str, *, descending: bool, keep: object = None
) -> list[str]:
    """Every run in the documented order, worked out in Python from ``Run.metrics``: by the
    latest value (runs without one, or whose latest is NaN, last), ties newest first."""
    every = [r for r in store.list_runs() if keep is None or keep(r)]  # type: ignore[operator]
    every.sort(key=lambda r: r.id)
    every.sort(key=lambda r: r.started_at, reverse=True)  # stable sorts: the last key is first
    valued = [r for r in every if not math.isnan(r.metrics.get(key, math.nan))]
    valued.sort(key=lambda r: r.metrics[key], reverse=descending)
    if descending:  # reverse=True also reversed ties: sort them newest first again
        valued.sort(key=lambda r: -r.metrics[key])
    lacking = [r for r in every if r not in valued]
    return [r.id for r in valued + lacking]


@pytest.fixture
def ties(store_url: str) -> Iterator[MetadataStore]:
    """23 runs whose scores repeat (ties), with NaN, missing and infinite values, and
    histories logged out of order."""
    with MetadataStore(store_url) as store:
        for i in range(23):
            run_id = store.create_run(f"t{i}", params={"model": ("rf", "lr")[i % 2]})
            if i % 7 == 3:
                continue  # never logs a score
            score = math.nan if i % 7 == 5 else (i * 5) % 4 / 4
            score = math.inf if i == 20 else score
            store.log_metrics(run_id, [Metric("score", score, step=2)])
            store.log_metrics(run_id, [Metric("score", 99.0, step=1)])  # an older step, later
        yield store


@pytest.mark.parametrize("descending", [False, True])
def test_every_page_by_a_metric_is_the_order_python_finds(
    ties: MetadataStore, descending: bool
) -> None:
    expected = _expected(ties, "score", descending=descending)
    for limit in (1, 5, 50):
        pages = [
            [r.id for r in ties.search_runs(order_by="metrics.score", descending=descending,
                                            offset=offset, limit=limit).runs]
            for offset in range(0, 25, limit)
        ]  # fmt: skip
        assert [run_id for page in pages for run_id in page] == expected
    page = ties.search_runs(order_by="metrics.score", descending=descending, offset=15, limit=5)
    assert (page.total, len(page.runs)) == (23, 5)  # a page past the last value: runs without


def test_a_filter_on_the_ordered_metric_and_a_param_keeps_the_order(ties: MetadataStore) -> None:
    where = "metrics.score >= 0.25 and metrics.score < 1 and params.model = lr"
    page = ties.search_runs(where, order_by="metrics.score", descending=True)
    expected = _expected(
        ties,
        "score",
        descending=True,
        keep=lambda r: 0.25 <= r.metrics.get("score", math.nan) < 1 and r.params["model"] == "lr",
    )
    assert [r.id for r in page.runs] == expected
    assert page.total == len(expected) > 2
    assert {r.metrics["score"] for r in page.runs} == {0.75, 0.25}  # ties among them
    assert ties.search_runs("metrics.score != 0.5").total == 12  # NaN and missing never match
    assert names(ties.search_runs("metrics.score > 1")) == ["t20"]  # inf is a number


def test_equal_values_come_newest_first(ties: MetadataStore) -> None:
    half = [
        r for r in ties.search_runs(order_by="metrics.score").runs if r.metrics.get("score") == 0.5
    ]
    assert [r.name for r in half] == ["t22", "t18", "t14", "t6", "t2"]


def test_the_latest_value_is_the_highest_step_then_the_latest_time_then_the_last_logged(
    store: MetadataStore,
) -> None:
    run_id = store.create_run("steps")
    store.log_metrics(run_id, [Metric("a", 1.0, step=5, timestamp=100.0)])
    store.log_metrics(run_id, [Metric("a", 2.0, step=4, timestamp=200.0)])  # lower step
    store.log_metrics(run_id, [Metric("b", 1.0, 0, 100.0), Metric("b", 2.0, 0, 50.0)])
    store.log_metrics(run_id, [Metric("c", 1.0, 0, 100.0), Metric("c", 2.0, 0, 100.0)])
    store.log_metrics(run_id, [Metric("c", 3.0, 0, 100.0)])  # a tie: the last logged wins
    store.finish_run(run_id, metrics=[("d", 4.0, 1), ("d", math.nan, 2)])
    found = store.get_run(run_id).metrics
    assert {k: found[k] for k in "abc"} == {"a": 1.0, "b": 1.0, "c": 3.0}
    assert math.isnan(found["d"])
    for key, value in found.items():  # the same value the full history gives
        history = store.metric_history(run_id, key)
        latest = max(enumerate(history), key=lambda p: (p[1].step, p[1].timestamp, p[0]))[1]
        assert latest.value == value or (math.isnan(latest.value) and math.isnan(value))
    assert store.search_runs("metrics.c = 3 and metrics.a > 0.5").total == 1
    assert store.search_runs("metrics.d < 10").total == 0  # its latest is NaN
