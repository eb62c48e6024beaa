"""PyTorch models: stored with torch.export (no pickled code), loaded back with equal outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import keel
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
