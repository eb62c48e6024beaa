"""A project with feature definitions (tests/features' two views, a derived feature and a
service), both views materialized, then the bureau data changed (its snapshot is stale), and
one training set recorded; every step through the CLI, whose JSON the tests keep."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from keel.config import init_project
from tests.features.conftest import DEFINITIONS, T0, write_data
from tests.ui.conftest import cli_json


@dataclass(frozen=True)
class FeatureProject:
    root: Path
    materialized: Any
    """``keel features materialize --format json``."""
    training_set: Any
    """``keel features training-set --format json``."""


def build_features(root: Path) -> FeatureProject:
    init_project(root, name="features-ui")
    toml = root / "keel.toml"
    toml.write_text(
        toml.read_text().replace('# definitions = "features.py"', 'definitions = "features.py"')
    )
    (root / "features.py").write_text(DEFINITIONS)
    write_data(root)
    materialized = cli_json(root, "features", "materialize", "--as-of", "2024-01-06T00:00:00")
    pl.DataFrame(  # new bureau data: its snapshot in the online store is now stale
        {"applicant_id": [1, 2, 3], "reported": [T0, T0, T0], "delinquencies": [1, 2, 0]}
    ).write_csv(root / "data" / "bureau.csv")
    built = cli_json(
        root, "features", "training-set", "entities.parquet", "--service", "loans",
        "--output", "train.parquet",
    )  # fmt: skip
    return FeatureProject(root, materialized, built)
