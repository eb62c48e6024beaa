"""Models: one protocol for every framework, adapters by composition, safe model packages,
the metric vocabulary and evaluation per slice."""

from keel.models._adapters import Adapter as Adapter
from keel.models._adapters import Model as Model
from keel.models._adapters import ProbabilisticModel as ProbabilisticModel
from keel.models._adapters import adapter_for as adapter_for
from keel.models._adapters import adapters as adapters
from keel.models._adapters import get_adapter as get_adapter
from keel.models._evaluate import Evaluation as Evaluation
from keel.models._evaluate import evaluate as evaluate
from keel.models._metrics import METRICS as METRICS
from keel.models._metrics import Metric as Metric
from keel.models._metrics import MetricKind as MetricKind
from keel.models._metrics import metric as metric
from keel.models._metrics import metric_not_usable as metric_not_usable
from keel.models._metrics import unknown_metric as unknown_metric
from keel.models._package import KeelModel as KeelModel
from keel.models._package import Manifest as Manifest
from keel.models._package import ModelPackageError as ModelPackageError
from keel.models._package import ModelVersionWarning as ModelVersionWarning
from keel.models._package import load_model as load_model
from keel.models._package import sample_rows as sample_rows
from keel.models._package import save_model as save_model

__all__ = [
    "METRICS",
    "Adapter",
    "Evaluation",
    "KeelModel",
    "Manifest",
    "Metric",
    "MetricKind",
    "Model",
    "ModelPackageError",
    "ModelVersionWarning",
    "ProbabilisticModel",
    "adapter_for",
    "adapters",
    "evaluate",
    "get_adapter",
    "load_model",
    "metric",
    "metric_not_usable",
    "sample_rows",
    "save_model",
    "unknown_metric",
]
