"""Deployment: what ``keel serve NAME`` serves and how traffic moves between models.

``deploy/NAME.yaml`` is a :class:`DeploySpec` (:func:`load_spec`, :func:`parse_spec`); the
:class:`Router` picks the model that answers a request (shadow, canary); :class:`Guardrails`
compare the challenger with the champion on live traffic; the :class:`Controller` advances,
promotes or rolls back a rollout; :func:`render` writes the spec as Argo Rollouts manifests
(:func:`unmapped` lists what they cannot carry).
By name, :func:`rollout_status` says where a deployment's rollout stands and
:func:`open_rollout` gives its controller to advance, promote or roll back by hand.
Serving (:mod:`keel.serve`) uses this package; this package never imports serving.
"""

from keel.deploy._controller import Controller as Controller
from keel.deploy._controller import RolloutState as RolloutState
from keel.deploy._controller import phase as phase
from keel.deploy._guardrails import Decision as Decision
from keel.deploy._guardrails import Guardrails as Guardrails
from keel.deploy._lineage import with_deployments as with_deployments
from keel.deploy._render import UNMAPPED_ANNOTATION as UNMAPPED_ANNOTATION
from keel.deploy._render import render as render
from keel.deploy._render import unmapped as unmapped
from keel.deploy._render import write_manifests as write_manifests
from keel.deploy._rollout import DECISION_KINDS as DECISION_KINDS
from keel.deploy._rollout import RolloutStatus as RolloutStatus
from keel.deploy._rollout import deployment_names as deployment_names
from keel.deploy._rollout import open_rollout as open_rollout
from keel.deploy._rollout import rollout_status as rollout_status
from keel.deploy._rollout import spec_file as spec_file
from keel.deploy._router import Router as Router
from keel.deploy._spec import DeploySpec as DeploySpec
from keel.deploy._spec import DeploySpecError as DeploySpecError
from keel.deploy._spec import load_spec as load_spec
from keel.deploy._spec import parse_spec as parse_spec
from keel.deploy._spec import spec_path as spec_path

__all__ = [
    "DECISION_KINDS",
    "UNMAPPED_ANNOTATION",
    "Controller",
    "Decision",
    "DeploySpec",
    "DeploySpecError",
    "Guardrails",
    "RolloutState",
    "RolloutStatus",
    "Router",
    "deployment_names",
    "load_spec",
    "open_rollout",
    "parse_spec",
    "phase",
    "render",
    "rollout_status",
    "spec_file",
    "spec_path",
    "unmapped",
    "with_deployments",
    "write_manifests",
]
