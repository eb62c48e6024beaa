"""One loaded model version as the server uses it: checker, predictor, output shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from keel.contracts import record_checker
from keel.models import KeelModel, sample_rows
from keel.serve._batching import Prediction
from keel.serve._features import FeatureLookup
from keel.serve._oip import datatype_of

__all__ = ["ServedModel"]


class ServedModel:
    """A registered version, loaded, with its contract compiled for requests."""

    def __init__(
        self, name: str, version: int, model: KeelModel, *, inputs_mode: str = "reject"
    ) -> None:
        self.name = name
        self.version = version
        self.model = model
        self.checker = record_checker(model.input_contract, mode=inputs_mode)
        self.columns = self.checker.names
        self.features: FeatureLookup | None = None
        """Set for a version trained on a feature service: requests carry keys, not features."""
        self.request_columns: tuple[str, ...] = tuple(self.columns)
        """What a request's records hold, in order (the model's columns, or the keys and
        request fields of its feature service)."""
        classes = model.classes
        self.classes: list[Any] | None = list(classes) if classes is not None else None
        self.classifier = self.classes is not None
        self._positive = 1 if self.classes is not None and len(self.classes) == 2 else None
        self.outputs = ("predict", "predict_proba") if self.classifier else ("predict",)
        # the Open Inference Protocol datatype and shape of each output, from the arrays
        # the model returns (known after warm-up; a model without a contract learns them
        # from its first prediction)
        self.datatypes: dict[str, str] = {}
        self.widths: dict[str, int] = {}
        self._frame: Callable[[list[list[Any]]], Any] | None = None
        if not self.checker.numeric:
            self._frame = self._as_frame

    def use_features(self, lookup: FeatureLookup) -> None:
        """Serve from entity keys and request fields, the features looked up online."""
        self.features = lookup
        self.request_columns = lookup.request_columns

    def warm_up(self) -> None:
        """Predict once on contract-shaped rows, so that the first request does not pay
        for lazy imports and caches (and a model that cannot predict fails here)."""
        contract = self.model.input_contract
        if contract is None:
            return
        sample = sample_rows(contract, rows=2)
        predicted, found = self._predict(
            [list(row) for row in sample.select(list(self.columns)).rows()]
        )
        for name, array in (("predict", predicted), ("predict_proba", found)):
            if array is not None:
                self.datatypes[name] = datatype_of(array.dtype)
                if array.ndim == 2:
                    self.widths[name] = int(array.shape[1])

    def predict_rows(self, rows: list[list[Any]]) -> Prediction:
        """Predict checked rows (contract column order); probabilities for classifiers."""
        predicted, found = self._predict(rows)
        probabilities = found.tolist() if found is not None else None
        return Prediction(predicted.tolist(), probabilities, self.version)

    def _predict(self, rows: list[list[Any]]) -> tuple[Any, Any]:
        data: Any
        if self._frame is None:
            data = np.array(rows, dtype=float)
            if data.ndim == 1:  # a contract without columns: nothing to order
                data = data.reshape(len(rows), -1)
        else:
            data = self._frame(rows)
        predicted = self.model.predict(data)
        if len(predicted) != len(rows):
            raise RuntimeError(
                f"model {self.name}/{self.version} returned {len(predicted)} predictions "
                f"for {len(rows)} rows"
            )
        found = self.model.predict_proba(data) if self.classifier else None
        return np.asarray(predicted), None if found is None else np.asarray(found)

    def scores(
        self, probabilities: list[list[float]] | None, predictions: list[Any]
    ) -> tuple[list[float | None], list[float | None]]:
        """Per record: the positive-class probability (binary) and the predicted class's."""
        n = len(predictions)
        if probabilities is None or self.classes is None:
            return [None] * n, [None] * n
        positive = self._positive
        score: list[float | None] = (
            [p[positive] for p in probabilities] if positive is not None else [None] * n
        )
        confidence: list[float | None] = [max(p) if p else None for p in probabilities]
        return score, confidence

    def _as_frame(self, rows: list[list[Any]]) -> Any:
        import polars as pl

        return pl.DataFrame(rows, schema=list(self.columns), orient="row")
