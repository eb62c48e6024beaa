"""Models: one protocol for every framework, adapters by composition, safe model packages,
the metric vocabulary and evaluation per slice.

The package format (``MANIFEST``, :func:`read_manifest`, :func:`package_path`) and the
metrics (:data:`METRICS` by name, each a :class:`Metric`) are public because the registry,
gates and monitoring build on them; they are the same for a user's own tooling.
"""

from keel.models._adapters import XGBOOST_CLASSES as XGBOOST_CLASSES
from keel.models._adapters import Adapter as Adapter
from keel.models._adapters import Model as Model
from keel.models._adapters import ProbabilisticModel as ProbabilisticModel
from keel.models._adapters import adapter_for as adapter_for
from keel.models._adapters import adapters as adapters
from keel.models._adapters import get_adapter as get_adapter
from keel.models._adapters import read_skops as read_skops
from keel.models._evaluate import Evaluation as Evaluation
from keel.models._evaluate import evaluate as evaluate
from keel.models._metrics import METRICS as METRICS
from keel.models._metrics import Metric as Metric
from keel.models._metrics import MetricKind as MetricKind
from keel.models._metrics import Task as Task
from keel.models._metrics import accuracy as accuracy
from keel.models._metrics import auc as auc
from keel.models._metrics import expected_calibration_error as expected_calibration_error
from keel.models._metrics import f1 as f1
from keel.models._metrics import log_loss as log_loss
from keel.models._metrics import mae as mae
from keel.models._metrics import metric as metric
from keel.models._metrics import metric_not_usable as metric_not_usable
from keel.models._metrics import mse as mse
from keel.models._metrics import one_class_metrics as one_class_metrics
from keel.models._metrics import precision as precision
from keel.models._metrics import r2 as r2
from keel.models._metrics import recall as recall
from keel.models._metrics import rmse as rmse
from keel.models._metrics import unknown_metric as unknown_metric
from keel.models._package import MANIFEST as MANIFEST
from keel.models._package import KeelModel as KeelModel
from keel.models._package import Manifest as Manifest
from keel.models._package import ModelPackageError as ModelPackageError
from keel.models._package import ModelVersionWarning as ModelVersionWarning
from keel.models._package import load_model as load_model
from keel.models._package import package_path as package_path
from keel.models._package import read_manifest as read_manifest
from keel.models._package import sample_rows as sample_rows
from keel.models._package import save_model as save_model
from keel.models._report_html import evaluation_html as evaluation_html

__all__ = [
    "MANIFEST",
    "METRICS",
    "XGBOOST_CLASSES",
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
    "Task",
    "accuracy",
    "adapter_for",
    "adapters",
    "auc",
    "evaluate",
    "evaluation_html",
    "expected_calibration_error",
    "f1",
    "get_adapter",
    "load_model",
    "log_loss",
    "mae",
    "metric",
    "metric_not_usable",
    "mse",
    "one_class_metrics",
    "package_path",
    "precision",
    "r2",
    "read_manifest",
    "read_skops",
    "recall",
    "rmse",
    "sample_rows",
    "save_model",
    "unknown_metric",
]
