"""``keel validate`` and ``keel monitor compare`` on CSV that is not a table: exit 2, not a
traceback and not a silent pass; the message names the file and the line or the columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from keel.cli import app
from keel.errors import InputError
from keel.monitor import compare

runner = CliRunner()

CONTRACT = """\
keel: 1
name: loans
columns:
  id: {type: int}
  age: {type: int}
"""
GOOD = "id,age\n" + "".join(f"{i},{20 + i % 50}\n" for i in range(200))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "contract.yaml").write_text(CONTRACT)
    (tmp_path / "good.csv").write_text(GOOD)
    (tmp_path / "ragged.csv").write_text(GOOD + "201,30,7\n")  # line 202: one field too many
    (tmp_path / "short.csv").write_text(GOOD.replace("\n5,25\n", "\n5\n"))  # line 7
    (tmp_path / "dupes.csv").write_text("id,age,id\n1,30,2\n")
    return tmp_path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("ragged.csv", "ragged.csv line 202: 3 fields where the header has 2"),
        ("short.csv", "short.csv line 7: 1 field where the header has 2"),
        ("dupes.csv", "dupes.csv has duplicate column names: 'id' (2 times)"),
    ],
)
def test_validate_and_compare_refuse_with_exit_2(folder: Path, data: str, message: str) -> None:
    for args in (
        ["validate", "contract.yaml", data],
        ["monitor", "compare", "good.csv", data],
        ["monitor", "compare", data, "good.csv"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
        assert f"error: {message}" in " ".join(result.stderr.split()), (args, result.stderr)
        assert "Hint:" in result.stderr


def test_compare_refuses_a_pandas_frame_with_two_columns_of_one_name(folder: Path) -> None:
    doubled = pd.DataFrame([[1, 30, 2]] * 10, columns=["id", "age", "id"])
    with pytest.raises(InputError, match=r"duplicate column names: 'id' \(2 times\)"):
        compare("good.csv", doubled)


def test_good_csv_still_validates_and_compares(folder: Path) -> None:
    assert runner.invoke(app, ["validate", "contract.yaml", "good.csv"]).exit_code == 0
    assert runner.invoke(app, ["monitor", "compare", "good.csv", "good.csv"]).exit_code == 0
