"""Shared by the serving tests: a project with a registered classifier, and an in-process
client that runs the app's lifespan (startup, background flushes, shutdown)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import polars as pl
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

import keel
from keel.config import init_project
from keel.registry import set_alias
from keel.tracking import Project, open_project


class Features(keel.Schema):
    age: int = keel.Field(ge=18, le=100)
    income: float = keel.Field(ge=0)
    rate: float = keel.Field(ge=0, le=1)


COLUMNS = ("age", "income", "rate")


def training(rows: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack(
        [rng.integers(18, 90, rows), rng.uniform(0, 100_000, rows), rng.uniform(0, 1, rows)]
    )
    y = (x[:, 2] + rng.normal(0, 0.2, rows) > 0.5).astype(int)
    return x, y


def model(c: float = 1.0) -> Pipeline:
    x, y = training()
    return make_pipeline(StandardScaler(), LogisticRegression(C=c)).fit(x, y)


def make_project(root: Path, *, versions: int = 1) -> Project:
    """A project where ``churn`` has ``versions`` versions and ``champion`` -> version 1."""
    init_project(root)
    project = open_project(root)
    for i in range(versions):
        keel.register(model(c=10.0**-i), "churn", contract=Features, project=project)
    set_alias("churn", "champion", 1, project=project)
    return project


def rollout_project(root: Path, challenger: Any) -> Project:
    """A project where ``churn`` version 1 (the champion) guesses (it learned shuffled
    labels) and version 2 (the challenger) is ``challenger(x, y)``, fitted to the truth."""
    init_project(root)
    project = open_project(root)
    x, y = training(400)
    shuffled = np.random.default_rng(9).permutation(y)
    champion = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, shuffled)
    for fitted in (champion, challenger(x, y)):
        keel.register(fitted, "churn", contract=Features, project=project)
    set_alias("churn", "champion", 1, project=project)
    set_alias("churn", "challenger", 2, project=project)
    return project


def records(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "age": int(rng.integers(18, 90)),
            "income": float(rng.uniform(0, 100_000)),
            "rate": float(rng.uniform(0, 1)),
        }
        for _ in range(n)
    ]


def expected(project: Project, rows: list[dict[str, Any]], ref: str = "churn/1") -> list[Any]:
    loaded = keel.load(ref, project=project)
    return list(loaded.predict(pl.DataFrame(rows)).tolist())


@contextlib.asynccontextmanager
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on ``app`` with its lifespan running (as under uvicorn)."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://keel") as http:
            yield http
