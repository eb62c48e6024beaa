"""Monitoring: mergeable profiles, drift that means something (effect sizes with intervals,
bias-corrected and calibrated per window size, false alarms controlled across columns), and
``keel monitor compare`` with JSON and a self-contained HTML report."""

from keel.monitor._compare import Comparison as Comparison
from keel.monitor._compare import compare as compare
from keel.monitor._drift import DriftResult as DriftResult
from keel.monitor._drift import column_drift as column_drift
from keel.monitor._drift import dataset_drift as dataset_drift
from keel.monitor._predlog import FeedbackLog as FeedbackLog
from keel.monitor._predlog import PredictionLog as PredictionLog
from keel.monitor._profile import Bins as Bins
from keel.monitor._profile import ColumnProfile as ColumnProfile
from keel.monitor._profile import Profile as Profile
from keel.monitor._profile import profile as profile
from keel.monitor._profile import reference_bins as reference_bins

__all__ = [
    "Bins",
    "ColumnProfile",
    "Comparison",
    "DriftResult",
    "FeedbackLog",
    "PredictionLog",
    "Profile",
    "column_drift",
    "compare",
    "dataset_drift",
    "profile",
    "reference_bins",
]
