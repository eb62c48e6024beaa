"""``@keel.check_types`` guards function boundaries at run time."""

from __future__ import annotations

import polars as pl
import pytest

import keel
from keel.errors import ContractError


class Raw(keel.Schema):
    x: int = keel.Field(ge=0)


class Features(keel.Schema):
    x: int
    x2: int = keel.Field(ge=0)


@keel.check_types
def featurize(data: keel.Frame[Raw]) -> keel.Frame[Features]:
    df = data.to_polars()
    return df.with_columns(x2=pl.col("x") * pl.col("x"))  # type: ignore[return-value]


def test_raw_input_is_validated_and_the_output_is_wrapped() -> None:
    result = featurize(pl.DataFrame({"x": [1, 2]}))  # type: ignore[arg-type]
    assert isinstance(result, keel.Frame)
    assert result.schema is Features
    assert result.to_polars()["x2"].to_list() == [1, 4]


def test_a_validated_frame_passes_without_a_second_check() -> None:
    frame = Raw.validate(pl.DataFrame({"x": [3]}))
    assert featurize(frame).to_polars()["x2"].to_list() == [9]


def test_violations_name_the_function_and_argument() -> None:
    with pytest.raises(ContractError) as caught:
        featurize(pl.DataFrame({"x": [-1]}))  # type: ignore[arg-type]
    assert "argument 'data' of featurize()" in str(caught.value)
    assert caught.value.report.errors[0].name == "x: >= 0"
