"""The feature store: entities, feature views typed by contracts, and point-in-time correct
training sets from one engine (Polars, or DuckDB's ``ASOF JOIN``).

Definitions live in code (``keel.toml`` ``[features] definitions = "features.py"``), so there
is no registry to apply: a view's fingerprint is its definition, its contract and its
source's content version. See docs/features.md for the semantics and a worked example.
"""

from keel.features._definitions import Definitions as Definitions
from keel.features._definitions import load_definitions as load_definitions
from keel.features._derived import DerivedFeature as DerivedFeature
from keel.features._derived import derived as derived
from keel.features._entity import Entity as Entity
from keel.features._materialize import OnlineFeatures as OnlineFeatures
from keel.features._materialize import get_online as get_online
from keel.features._materialize import materialize as materialize
from keel.features._online import Materialization as Materialization
from keel.features._online import OnlineStore as OnlineStore
from keel.features._online import OnlineStoreUnavailableError as OnlineStoreUnavailableError
from keel.features._online import open_online_store as open_online_store
from keel.features._service import FeatureLike as FeatureLike
from keel.features._service import FeatureService as FeatureService
from keel.features._service import Plan as Plan
from keel.features._service import ViewPart as ViewPart
from keel.features._skew import FEATURE_STATUS_COLUMN as FEATURE_STATUS_COLUMN
from keel.features._skew import SKEW_REASONS as SKEW_REASONS
from keel.features._skew import SKEW_TOLERANCE as SKEW_TOLERANCE
from keel.features._skew import FeatureSkew as FeatureSkew
from keel.features._skew import SkewReport as SkewReport
from keel.features._skew import skew_of as skew_of
from keel.features._snapshot import service_plan as service_plan
from keel.features._snapshot import service_snapshot as service_snapshot
from keel.features._source import SqlQuery as SqlQuery
from keel.features._source import sql as sql
from keel.features._training import Coverage as Coverage
from keel.features._training import Engine as Engine
from keel.features._training import TrainingSet as TrainingSet
from keel.features._training import training_set as training_set
from keel.features._view import FeatureRef as FeatureRef
from keel.features._view import FeatureView as FeatureView

__all__ = [
    "FEATURE_STATUS_COLUMN",
    "SKEW_REASONS",
    "SKEW_TOLERANCE",
    "Coverage",
    "Definitions",
    "DerivedFeature",
    "Engine",
    "Entity",
    "FeatureLike",
    "FeatureRef",
    "FeatureService",
    "FeatureSkew",
    "FeatureView",
    "Materialization",
    "OnlineFeatures",
    "OnlineStore",
    "OnlineStoreUnavailableError",
    "Plan",
    "SkewReport",
    "SqlQuery",
    "TrainingSet",
    "ViewPart",
    "derived",
    "get_online",
    "load_definitions",
    "materialize",
    "open_online_store",
    "service_plan",
    "service_snapshot",
    "skew_of",
    "sql",
    "training_set",
]
