"""PyTorch models: stored with torch.export (no pickled code), loaded back with equal outputs."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import keel
from keel.errors import UsageError
from keel.models import adapter_for, load_model, save_model

torch = pytest.importorskip("torch")  # a dev dependency; the adapter itself is optional


class Net(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.linear(x), dim=1)


class Inputs(keel.Schema):
    a: float
    b: float
    c: float


def test_a_module_round_trips_as_an_exported_program(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = Net()
    assert adapter_for(net).name == "torch"
    manifest = save_model(net, tmp_path / "pkg", contract=Inputs)
    assert list(manifest.files) == ["model.pt2"]
    assert "torch" in manifest.frameworks
    loaded = load_model(tmp_path / "pkg")
    x = np.random.default_rng(0).normal(size=(5, 3))
    expected = net(torch.as_tensor(x, dtype=torch.float32)).detach().numpy()
    np.testing.assert_allclose(loaded.predict(x), expected, rtol=1e-6)
    proba = loaded.predict_proba(x)  # rows summing to one are probabilities
    assert proba is not None
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_a_registered_torch_model_loads_by_alias(tmp_path: Path) -> None:
    from keel.config import init_project
    from keel.registry import set_alias
    from keel.tracking import open_project

    init_project(tmp_path)
    project = open_project(tmp_path)
    keel.register(Net(), "net", contract=Inputs, project=project)
    set_alias("net", "champion", 1, project=project)
    assert keel.load("net@champion", project=project).adapter.name == "torch"


class _Payload:
    """Unpickling this writes a marker file: what a crafted archive would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def _tamper(folder: Path, change: Callable[[str, bytes], bytes]) -> None:
    """Rewrite model.pt2 entry by entry and its manifest digest, as a package's author can."""
    import yaml

    from keel.store import hash_file

    archive = folder / "model.pt2"
    entries = []
    with zipfile.ZipFile(archive) as source:
        entries = [(info, change(info.filename, source.read(info))) for info in source.infolist()]
    with zipfile.ZipFile(archive, "w") as out:
        for info, data in entries:
            out.writestr(info, data)
    manifest = yaml.safe_load((folder / "keel-model.yaml").read_text())
    manifest["files"]["model.pt2"] = {"digest": hash_file(archive), "size": archive.stat().st_size}
    (folder / "keel-model.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))


def test_an_archive_declaring_pickled_weights_is_refused_without_trusted(tmp_path: Path) -> None:
    save_model(Net(), tmp_path / "pkg", contract=Inputs)
    marker = tmp_path / "marker"

    def poison(name: str, data: bytes) -> bytes:
        if name.endswith("data/weights/model_weights_config.json"):
            config = json.loads(data)
            for entry in config["config"].values():
                entry["use_pickle"] = True
            return json.dumps(config).encode()
        if "/data/weights/weight_" in name:
            return pickle.dumps(_Payload(marker))
        return data

    _tamper(tmp_path / "pkg", poison)
    with pytest.raises(UsageError, match="holds pickled parts") as caught:
        load_model(tmp_path / "pkg")
    assert "trusted=True" in str(caught.value.hint)
    assert not marker.exists()


def test_every_torch_load_is_weights_only_without_trusted(tmp_path: Path) -> None:
    save_model(Net(), tmp_path / "pkg", contract=Inputs)
    marker = tmp_path / "marker"

    def poison(name: str, data: bytes) -> bytes:  # a part torch reads with torch.load
        return pickle.dumps(_Payload(marker)) if "/data/sample_inputs/" in name else data

    _tamper(tmp_path / "pkg", poison)
    with contextlib.suppress(Exception):  # whether torch then fails is torch's business
        load_model(tmp_path / "pkg")
    assert not marker.exists()
    assert "TORCH_FORCE_WEIGHTS_ONLY_LOAD" not in os.environ  # restored afterwards
