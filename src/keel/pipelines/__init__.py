"""Pipelines: typed steps, wiring checked before anything runs, a content-addressed cache,
OpenLineage lineage, and execution in-process, on a process pool or on Dask."""

from keel.pipelines._graph import Graph as Graph
from keel.pipelines._graph import contract_gaps as contract_gaps
from keel.pipelines._graph import param as param
from keel.pipelines._graph import ref as ref
from keel.pipelines._lineage import LineageNode as LineageNode
from keel.pipelines._lineage import lineage_tree as lineage_tree
from keel.pipelines._lineage import to_dot as lineage_dot
from keel.pipelines._lineage import to_rich as lineage_rich
from keel.pipelines._lineage_down import lineage_downstream as lineage_downstream
from keel.pipelines._load import load_pipeline as load_pipeline
from keel.pipelines._pipeline import Pipeline as Pipeline
from keel.pipelines._pipeline import pipeline as pipeline
from keel.pipelines._reproduce import OutputCheck as OutputCheck
from keel.pipelines._reproduce import ReproduceReport as ReproduceReport
from keel.pipelines._reproduce import reproduce_run as reproduce_run
from keel.pipelines._runner import PipelineResult as PipelineResult
from keel.pipelines._runner import StepEvent as StepEvent
from keel.pipelines._runner import run_pipeline as run_pipeline
from keel.pipelines._step import Step as Step
from keel.pipelines._step import step as step

__all__ = [
    "Graph",
    "LineageNode",
    "OutputCheck",
    "Pipeline",
    "PipelineResult",
    "ReproduceReport",
    "Step",
    "StepEvent",
    "contract_gaps",
    "lineage_dot",
    "lineage_downstream",
    "lineage_rich",
    "lineage_tree",
    "load_pipeline",
    "param",
    "pipeline",
    "ref",
    "reproduce_run",
    "run_pipeline",
    "step",
]
