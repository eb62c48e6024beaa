"""Run tracking: ``with keel.start_run(...) as run:`` records params, metrics, artifacts and
the run's fingerprint (code, environment, seed) in the project's stores."""

from keel.tracking._compare import RunComparison as RunComparison
from keel.tracking._compare import compare_runs as compare_runs
from keel.tracking._compare import run_to_dict as run_to_dict
from keel.tracking._datasets import ProfileWarning as ProfileWarning
from keel.tracking._datasets import add_dataset as add_dataset
from keel.tracking._datasets import diff_datasets as diff_datasets
from keel.tracking._datasets import get_dataset as get_dataset
from keel.tracking._gc import GarbageReport as GarbageReport
from keel.tracking._gc import collect_garbage as collect_garbage
from keel.tracking._project import Project as Project
from keel.tracking._project import open_project as open_project
from keel.tracking._refs import dataset_version as dataset_version
from keel.tracking._refs import dataset_version_to_dict as dataset_version_to_dict
from keel.tracking._run import ActiveRun as ActiveRun
from keel.tracking._run import active_run as active_run
from keel.tracking._run import start_run as start_run
from keel.tracking._sources import dataset_reference as dataset_reference
from keel.tracking._sources import local_source as local_source
from keel.tracking._sources import open_source as open_source

__all__ = [
    "ActiveRun",
    "GarbageReport",
    "ProfileWarning",
    "Project",
    "RunComparison",
    "active_run",
    "add_dataset",
    "collect_garbage",
    "compare_runs",
    "dataset_reference",
    "dataset_version",
    "dataset_version_to_dict",
    "diff_datasets",
    "get_dataset",
    "local_source",
    "open_project",
    "open_source",
    "run_to_dict",
    "start_run",
]
