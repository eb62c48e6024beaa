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
