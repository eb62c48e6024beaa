"""Monitoring: mergeable profiles, drift that means something (effect sizes with intervals,
bias-corrected and calibrated per window size, false alarms controlled across columns), and
``keel monitor compare`` with JSON and a self-contained HTML report."""

from keel.monitor._alerts import Alert as Alert
from keel.monitor._alerts import Thresholds as Thresholds
from keel.monitor._alerts import WebhookError as WebhookError
from keel.monitor._alerts import check as check
from keel.monitor._alerts import post_alerts as post_alerts
from keel.monitor._compare import Comparison as Comparison
from keel.monitor._compare import QualityFinding as QualityFinding
from keel.monitor._compare import compare as compare
from keel.monitor._drift import DriftResult as DriftResult
from keel.monitor._drift import bin_centers as bin_centers
from keel.monitor._drift import column_drift as column_drift
from keel.monitor._drift import dataset_drift as dataset_drift
from keel.monitor._predlog import FeedbackLog as FeedbackLog
from keel.monitor._predlog import PredictionLog as PredictionLog
from keel.monitor._profile import Bins as Bins
from keel.monitor._profile import ColumnProfile as ColumnProfile
from keel.monitor._profile import Profile as Profile
from keel.monitor._profile import profile as profile
from keel.monitor._profile import profile_reference as profile_reference
from keel.monitor._profile import reference_bins as reference_bins
from keel.monitor._reference import dataset_reference as dataset_reference
from keel.monitor._reference import model_reference as model_reference
from keel.monitor._reference import store_dataset_reference as store_dataset_reference
from keel.monitor._reference import store_model_reference as store_model_reference
from keel.monitor._report import MonitorReport as MonitorReport
from keel.monitor._report import WindowReport as WindowReport
from keel.monitor._report import report as report

__all__ = [
    "Alert",
    "Bins",
    "ColumnProfile",
    "Comparison",
    "DriftResult",
    "FeedbackLog",
    "MonitorReport",
    "PredictionLog",
    "Profile",
    "QualityFinding",
    "Thresholds",
    "WebhookError",
    "WindowReport",
    "bin_centers",
    "check",
    "column_drift",
    "compare",
    "dataset_drift",
    "dataset_reference",
    "model_reference",
    "post_alerts",
    "profile",
    "profile_reference",
    "reference_bins",
    "report",
    "store_dataset_reference",
    "store_model_reference",
]
