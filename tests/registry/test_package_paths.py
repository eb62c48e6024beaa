"""The attack on model packages, performed: a manifest or a stored listing naming a path through
a symbolic link or ``..`` (reproduced: a ``.pth`` file written into another virtual environment,
which ran code at its next start) is refused at import, load, export and serve, naming the
entry, and nothing is written outside the destination."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import keel
from keel.cli import app
from keel.config import init_project
from keel.models import ModelPackageError, load_model
from keel.registry import set_alias
from keel.registry._mlflow import export_mlflow
from keel.serve import create_app
from keel.store import hash_file
from keel.tracking import Project, open_project

runner = CliRunner()
PAYLOAD = b"import os; os.system('touch /tmp/keel-pwned')\n"


class Features(keel.Schema):
    x1: float = keel.Field(ge=0, le=1)
    x2: float = keel.Field(ge=0, le=1)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    root = tmp_path / "proj"
    root.mkdir()
    init_project(root)
    monkeypatch.chdir(root)
    project = open_project(root)
    x = np.random.default_rng(0).uniform(0, 1, (40, 2))
    keel.register(
        LogisticRegression().fit(x, (x[:, 0] > 0.5).astype(int)),
        "churn",
        contract=Features,
        project=project,
    )
    return project


def _tree(root: Path) -> set[str]:
    """Every path under ``root`` (the SQLite database's own files aside)."""
    return {
        p.relative_to(root).as_posix() for p in root.rglob("*") if not p.name.startswith("keel.db")
    }


def _names(output: str, entry: str) -> bool:
    """Whether the output names ``entry`` (the terminal folds long lines anywhere)."""
    return "".join(repr(entry).split()) in "".join(output.split())


def _list(pkg: Path, entry: str, file: Path) -> None:
    """Add ``entry`` to the package's manifest with the digest of ``file``."""
    manifest = yaml.safe_load((pkg / "keel-model.yaml").read_text())
    manifest["files"][entry] = {"digest": hash_file(file), "size": file.stat().st_size}
    (pkg / "keel-model.yaml").write_text(yaml.safe_dump(manifest))


def _link_then_dotdot(pkg: Path, outside: Path) -> str:
    """The reported attack: link -> a/b/c/d, then four '..' back to the package's root."""
    (pkg / "a" / "b" / "c" / "d").mkdir(parents=True)
    (pkg / "link").symlink_to("a/b/c/d")
    (pkg / "venv" / "site-packages").mkdir(parents=True)
    (pkg / "venv" / "site-packages" / "evil.pth").write_bytes(PAYLOAD)
    entry = "link/../../../../venv/site-packages/evil.pth"
    _list(pkg, entry, pkg / entry)
    return entry


def _link_out(pkg: Path, outside: Path) -> str:
    """A folder of the package is a link to a folder outside it (read through the link)."""
    (outside / "evil.pth").write_bytes(PAYLOAD)
    (pkg / "site").symlink_to(outside)
    _list(pkg, "site/evil.pth", outside / "evil.pth")
    return "site/evil.pth"


def _dotdot(pkg: Path, outside: Path) -> str:
    (pkg.parent / "evil.pth").write_bytes(PAYLOAD)
    _list(pkg, "../evil.pth", pkg.parent / "evil.pth")
    return "../evil.pth"


def _absolute(pkg: Path, outside: Path) -> str:
    (outside / "evil.pth").write_bytes(PAYLOAD)
    _list(pkg, "/tmp/evil.pth", outside / "evil.pth")
    return "/tmp/evil.pth"


def _linked_model_file(pkg: Path, outside: Path) -> str:
    """The model file itself is a link to a file outside the package (same bytes)."""
    (outside / "model.skops").write_bytes((pkg / "model.skops").read_bytes())
    (pkg / "model.skops").unlink()
    (pkg / "model.skops").symlink_to(outside / "model.skops")
    return "model.skops"


ATTACKS: dict[str, Callable[[Path, Path], str]] = {
    "link then ..": _link_then_dotdot,
    "link out": _link_out,
    "..": _dotdot,
    "absolute": _absolute,
    "linked model file": _linked_model_file,
}


@pytest.mark.parametrize("attack", ATTACKS)
def test_import_refuses_a_package_naming_a_path_out_of_it(
    project: Project, tmp_path: Path, attack: str
) -> None:
    export = export_mlflow("churn", tmp_path / "export", project=project, flavour="keel")
    outside = tmp_path / "other-venv"
    outside.mkdir()
    entry = ATTACKS[attack](export / "keel-model", outside)
    before = _tree(tmp_path)

    result = runner.invoke(app, ["models", "import", str(export), "--name", "evil"])

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert _names(result.output, entry)
    assert "evil" not in {m.name for m in project.metadata.models.models()}
    assert _tree(tmp_path) == before  # nothing stored, nothing written
    with pytest.raises(ModelPackageError, match="names the path"):
        load_model(export / "keel-model")  # the same folder, loaded directly


def _store_version(project: Project, entries: list[str]) -> None:
    """Register ``evil`` 1 by writing the stores directly: churn/1's files plus ``entries``
    (each holding a .pth payload) in its stored listing, as a crafted store would hold."""
    churn = project.metadata.models.get_version("churn", 1)
    listing = json.loads(project.artifacts.get_bytes(churn.listing))
    payload = project.artifacts.put_bytes(PAYLOAD)
    for entry in entries:
        listing["files"].append({"path": entry, "digest": payload.digest, "size": payload.size})
    crafted = project.artifacts.put_bytes(json.dumps(listing).encode())
    project.metadata.models.add_version(
        "evil", manifest=churn.manifest, listing=crafted.digest, adapter=churn.adapter, actor="x"
    )
    set_alias("evil", "champion", 1, project=project)


# the model cache's scratch folder is .keel/models/<digest>.<pid>.part: four '..' reach tmp_path
STORED = [
    "../../../../outside/evil.pth",
    "a/../../../../../outside/evil.pth",
    "{tmp}/outside/evil.pth",
]


@pytest.mark.parametrize("entry", STORED)
def test_a_crafted_stored_listing_is_refused_by_load_export_and_serve(
    project: Project, tmp_path: Path, entry: str
) -> None:
    entry = entry.format(tmp=tmp_path)
    _store_version(project, [entry])
    before = _tree(tmp_path)

    with pytest.raises(ModelPackageError) as caught:
        keel.load("evil", project=project)
    assert f"stored file listing of model evil/1 names the path {entry!r}" in caught.value.message
    with pytest.raises(ModelPackageError, match="names the path"):
        create_app("evil", project=project)  # keel serve loads through keel.load
    exported = runner.invoke(app, ["models", "export", "evil", str(tmp_path / "out")])
    assert exported.exit_code == 2, exported.output
    assert _names(exported.output, entry)

    assert _tree(tmp_path) == before  # no tmp_path/outside/evil.pth, no .part folder


def test_a_crafted_manifest_digest_in_the_metadata_store_cannot_name_a_folder_outside(
    project: Project, tmp_path: Path
) -> None:
    database = project.config.state_dir / "keel.db"
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE model_versions SET manifest = '../../../outside'")
    before = _tree(tmp_path)
    with pytest.raises(ModelPackageError, match=re.escape("'../../../outside'")):
        keel.load("churn/1", project=project)
    assert _tree(tmp_path) == before


def test_an_honest_package_still_round_trips(project: Project, tmp_path: Path) -> None:
    export = export_mlflow("churn", tmp_path / "export", project=project, flavour="keel")
    assert sorted(os.listdir(export / "keel-model")) == ["keel-model.yaml", "model.skops"]
    result = runner.invoke(app, ["models", "import", str(export), "--name", "back"])
    assert result.exit_code == 0, result.output
    rows = np.array([[0.2, 0.4], [0.9, 0.1]])
    back = keel.load("back", project=project).predict(rows)
    assert back.tolist() == keel.load("churn", project=project).predict(rows).tolist()


def _mlflow_dir(root: Path, flavour: dict[str, object]) -> Path:
    root.mkdir()
    (root / "MLmodel").write_text(yaml.safe_dump({"flavors": flavour}))
    return root


FIELDS = {"sklearn": "pickled_model", "xgboost": "data", "lightgbm": "data", "onnx": "data"}


@pytest.mark.parametrize("flavour", FIELDS)
@pytest.mark.parametrize("linked", [False, True])
def test_an_mlmodel_field_naming_a_file_out_of_the_directory_is_refused(
    project: Project, tmp_path: Path, linked: bool, flavour: str
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "model.bin").write_bytes(b"not read")
    field = "model.bin" if linked else "../elsewhere/model.bin"
    source = _mlflow_dir(
        tmp_path / "mlflow-model",
        {flavour: {FIELDS[flavour]: field, "serialization_format": "skops"}},
    )
    if linked:
        (source / "model.bin").symlink_to(outside / "model.bin")
    result = runner.invoke(app, ["models", "import", str(source), "--name", "evil", "--trusted"])
    assert result.exit_code == 2, result.output
    assert _names(result.output, field)
    assert "evil" not in {m.name for m in project.metadata.models.models()}


@pytest.mark.parametrize("key", ["contract", "output_contract"])
def test_a_contract_named_out_of_the_directory_is_refused(
    project: Project, tmp_path: Path, key: str
) -> None:
    (tmp_path / "contract.yaml").write_text("name: outside\ncolumns: []\n")
    source = tmp_path / "mlflow-model"
    source.mkdir()
    mlmodel = {
        "flavors": {"sklearn": {"pickled_model": "model.skops", "serialization_format": "skops"}},
        "metadata": {key: "../contract.yaml"},
    }
    (source / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    result = runner.invoke(app, ["models", "import", str(source), "--name", "evil"])
    assert result.exit_code == 2, result.output
    assert _names(result.output, "../contract.yaml")
    assert "evil" not in {m.name for m in project.metadata.models.models()}


def test_a_pyfunc_directory_with_a_link_is_refused_before_anything_is_read(
    project: Project, tmp_path: Path
) -> None:
    (tmp_path / "secret").write_text("a private key")
    source = _mlflow_dir(tmp_path / "pyfunc", {"python_function": {"loader_module": "x"}})
    (source / "data").mkdir()
    (source / "data" / "key").symlink_to(tmp_path / "secret")
    result = runner.invoke(app, ["models", "import", str(source), "--name", "evil", "--trusted"])
    assert result.exit_code == 2, result.output
    assert _names(result.output, "data/key")
    assert "symbolic link" in " ".join(result.output.split())
