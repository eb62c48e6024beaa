"""The Dask engine on a real cluster, and its own refusals.

A ``dask scheduler`` and a ``dask worker`` run as separate processes in another folder (the
pipelines' fixture): the entity rows are a glob of Parquet files read partition by
partition, the joins run on the worker, and the rows equal the Polars engine's. Without
``distributed`` these tests skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import datetime as dt
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

import keel
from keel.errors import InputError, MissingDependencyError, UsageError
from keel.features import training_set
from tests.features.conftest import T0
from tests.pipelines.test_dask_paths import cluster  # noqa: F401  # the real scheduler + worker

dd = pytest.importorskip("dask.dataframe")


def _entities(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    hours = rng.integers(-24, 24 * 12, rows)
    return pl.DataFrame(
        {
            "applicant_id": rng.integers(1, 6, rows),  # 1-3 have features, 4-5 have none
            "timestamp": [T0 + dt.timedelta(hours=int(h)) for h in hours],
            "label": rng.integers(0, 2, rows),
        }
    )


def _dask(frame: pl.DataFrame, partitions: int, *, arrow: bool = False) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        pandas = frame.to_pandas(use_pyarrow_extension_array=arrow)
        return dd.from_pandas(pandas, npartitions=partitions)


@pytest.mark.slow
def test_a_glob_of_entity_files_is_joined_on_a_remote_worker(
    project: Path,
    cluster: tuple[str, Path],  # noqa: F811  # the fixture imported above
) -> None:
    import distributed

    address, _ = cluster
    frame = _entities(600, 1)
    (project / "parts").mkdir()
    for i, piece in enumerate(frame.iter_slices(200)):
        piece.write_parquet(project / "parts" / f"part-{i}.parquet")

    with distributed.Client(address) as client, distributed.get_task_stream(client) as tasks:
        built = training_set("parts/*.parquet", "loans", engine="dask")  # relative: the caller's
        got = pl.from_pandas(built.frame.compute())
        workers = set(client.scheduler_info()["workers"])
    want = training_set(frame, "loans")

    assert got.columns == want.frame.columns  # the derived feature `risky` came along too
    assert got.to_dicts() == want.frame.to_dicts()  # the same rows, in the input's order
    assert built.coverage == want.coverage
    assert built.rows == 600
    ran = {str(t["key"]) for t in tasks.data}
    assert any("keel-training-set" in key for key in ran)  # the joins ran on the cluster
    assert {t["worker"] for t in tasks.data} <= workers  # on the separate worker process


def test_a_dask_frame_picks_the_dask_engine_and_keeps_index_and_partitions(project: Path) -> None:
    frame = _entities(250, 2)
    data = _dask(frame, 4)

    built = training_set(data, "loans")
    out = built.frame.compute()

    assert built.frame.npartitions == 4  # lazy, partitioned as given
    assert list(out.index) == list(data.compute().index)
    assert pl.from_pandas(out).to_dicts() == training_set(frame, "loans").frame.to_dicts()
    assert built.to_dict()["rows"] == 250
    found = built.coverage[0]
    assert found.found + found.expired + found.missing == 250
    assert found.missing > 0  # applicants 4 and 5 have no rows: null, never dropped


def test_as_known_at_on_dask_matches_polars(project: Path) -> None:
    frame = _entities(120, 3)
    want = training_set(frame, "loans", as_known_at=True).frame
    got = training_set(_dask(frame, 3), "loans", as_known_at=True).frame.compute()
    assert pl.from_pandas(got).to_dicts() == want.to_dicts()


def test_a_null_key_in_a_partition_is_refused_with_its_row(project: Path) -> None:
    frame = _entities(30, 4).with_columns(
        pl.when(pl.int_range(pl.len()) == 25)
        .then(None)
        .otherwise("applicant_id")
        .alias("applicant_id")
    )
    data = _dask(frame, 3, arrow=True)  # an integer column with a null
    with pytest.raises(InputError, match=r"partition of the entity frame") as caught:
        training_set(data, "loans")  # refused while the coverage is counted, before any output
    assert "index 20 to 29" in str(caught.value)  # the third partition
    assert "null key 'applicant_id' (rows [5])" in str(caught.value)


def test_a_key_of_the_wrong_type_is_refused_before_any_join(project: Path) -> None:
    frame = _entities(10, 5).with_columns(pl.col("applicant_id").cast(pl.String))
    with pytest.raises(InputError, match=r"applicant_id.*declares it int"):
        training_set(_dask(frame, 2), "loans")


def test_recording_a_dask_training_set_is_refused_with_the_way_out(project: Path) -> None:
    with pytest.raises(UsageError, match="not recorded") as caught:
        training_set(_dask(_entities(10, 6), 2), "loans", name="loans-train")
    assert "to_parquet" in (caught.value.hint or "")


def test_without_dask_the_engine_says_which_extra_to_install(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)  # as if not installed
    with pytest.raises(MissingDependencyError, match="Dask feature engine") as caught:
        training_set("entities.parquet", "loans", engine="dask")
    assert caught.value.hint == "pip install 'mlkeel[dask]'"


def test_a_folder_of_entity_files_is_read_partition_by_partition(project: Path) -> None:
    frame = _entities(90, 7)
    (project / "ents").mkdir()
    for i, piece in enumerate(frame.iter_slices(30)):
        piece.write_parquet(project / "ents" / f"part-{i}.parquet")

    built = training_set("ents", "loans", engine="dask")

    assert built.frame.npartitions == 3  # one per file, none loaded by the caller
    got = pl.from_pandas(built.frame.compute())
    assert got.to_dicts() == training_set(frame, "loans").frame.to_dicts()


class Sales(keel.Schema):
    shop: str
    till: int
    event_time: dt.datetime
    sales: float


@pytest.mark.parametrize("keys", [{"shop": str}, {"shop": str, "till": int}])
def test_text_and_compound_keys_give_the_polars_rows(tmp_path: Path, keys: dict[str, type]) -> None:
    """One text key goes through the search index, two keys through the as-of join."""
    rng = np.random.default_rng(8)
    n = 400
    minutes = rng.permutation(n * 10)[:n]  # distinct times: no ambiguous rows
    pl.DataFrame(
        {
            "shop": rng.choice(["a", "b", "c", "d"], n),
            "till": rng.integers(0, 3, n),
            "event_time": [T0 + dt.timedelta(minutes=int(m)) for m in minutes],
            "sales": rng.normal(size=n),
        }
    ).write_parquet(tmp_path / "sales.parquet")
    view = keel.FeatureView(
        "sales",
        entity=keel.Entity("till", keys=keys),
        source=str(tmp_path / "sales.parquet"),
        schema=Sales,
        event_time="event_time",
        ttl="2h",
    )
    times = rng.integers(-60, 5000, 200)
    entities = pl.DataFrame(
        {
            "shop": rng.choice(["a", "b", "c", "e"], 200),  # e: no rows
            "till": rng.integers(0, 3, 200),
            "timestamp": [T0 + dt.timedelta(minutes=int(m)) for m in times],
        }
    ).select(*keys, "timestamp")  # with one key, `till` is a feature
    want = training_set(entities, [view]).frame
    got = training_set(_dask(entities, 4), [view]).frame.compute()
    assert pl.from_pandas(got).to_dicts() == want.to_dicts()
    assert want.get_column("sales").null_count() not in (0, want.height)  # found and not


def test_an_in_memory_frame_can_ask_for_the_dask_engine(project: Path) -> None:
    frame = _entities(50, 9)
    built = training_set(frame, "loans", engine="dask")
    assert built.frame.npartitions == 1  # up to a million rows per partition
    assert pl.from_pandas(built.frame.compute()).to_dicts() == (
        training_set(frame, "loans").frame.to_dicts()
    )
