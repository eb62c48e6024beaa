"""Deployment: what ``keel serve NAME`` serves and how traffic moves between models.

``deploy/NAME.yaml`` is a :class:`DeploySpec` (:func:`load_spec`, :func:`parse_spec`); the
:class:`Router` picks the model that answers a request (shadow, canary); :class:`Guardrails`
compare the challenger with the champion on live traffic; the :class:`Controller` advances,
promotes or rolls back a rollout; :func:`render` writes the spec as Argo Rollouts manifests.
Serving (:mod:`keel.serve`) uses this package; this package never imports serving.
"""

from keel.deploy._controller import Controller as Controller
from keel.deploy._guardrails import Decision as Decision
from keel.deploy._guardrails import Guardrails as Guardrails
from keel.deploy._render import render as render
from keel.deploy._render import write_manifests as write_manifests
from keel.deploy._router import Router as Router
from keel.deploy._spec import DeploySpec as DeploySpec
from keel.deploy._spec import load_spec as load_spec
from keel.deploy._spec import parse_spec as parse_spec

__all__ = [
    "Controller",
    "Decision",
    "DeploySpec",
    "Guardrails",
    "Router",
    "load_spec",
    "parse_spec",
    "render",
    "write_manifests",
]
