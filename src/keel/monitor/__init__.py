"""Monitoring: mergeable profiles, drift that means something (effect sizes with intervals,
bias-corrected and calibrated per window size, false alarms controlled across columns), and
``keel monitor compare`` with JSON and a self-contained HTML report."""

from keel.monitor._alerts import Alert as Alert
from keel.monitor._alerts import Thresholds as Thresholds
from keel.monitor._alerts import WebhookError as WebhookError
from keel.monitor._alerts import alert_payload as alert_payload
from keel.monitor._alerts import check as check
from keel.monitor._alerts import post_alerts as post_alerts
from keel.monitor._compare import Comparison as Comparison
from keel.monitor._compare import QualityFinding as QualityFinding
from keel.monitor._compare import compare as compare
from keel.monitor._drift import DriftResult as DriftResult
from keel.monitor._drift import bin_centers as bin_centers
from keel.monitor._drift import column_drift as column_drift
from keel.monitor._drift import dataset_drift as dataset_drift
from keel.monitor._predlog import FEEDBACK_COLUMNS as FEEDBACK_COLUMNS
from keel.monitor._predlog import PREDICTION_COLUMNS as PREDICTION_COLUMNS
from keel.monitor._predlog import FeedbackLog as FeedbackLog
from keel.monitor._predlog import PredictionLog as PredictionLog
from keel.monitor._predlog import column_type as log_column_type
from keel.monitor._profile import Bins as Bins
from keel.monitor._profile import ColumnProfile as ColumnProfile
from keel.monitor._profile import Profile as Profile
from keel.monitor._profile import profile as profile
from keel.monitor._profile import profile_reference as profile_reference
from keel.monitor._profile import reference_bins as reference_bins
from keel.monitor._profile_drift import column_profile_drift as column_profile_drift
from keel.monitor._reference import PreparedReference as PreparedReference
from keel.monitor._reference import StoredReference as StoredReference
from keel.monitor._reference import dataset_reference as dataset_reference
from keel.monitor._reference import find_reference as find_reference
from keel.monitor._reference import get_reference as get_reference
from keel.monitor._reference import model_reference as model_reference
from keel.monitor._reference import prepare_reference as prepare_reference
from keel.monitor._reference import set_reference as set_reference
from keel.monitor._reference import store_dataset_reference as store_dataset_reference
from keel.monitor._reference import store_model_reference as store_model_reference
from keel.monitor._reference import store_prepared_reference as store_prepared_reference
from keel.monitor._report import MonitorReport as MonitorReport
from keel.monitor._report import WindowReport as WindowReport
from keel.monitor._report import report as report
from keel.monitor._report_html import comparison_html as comparison_html
from keel.monitor._report_html import monitor_report_html as monitor_report_html
from keel.monitor._skew import skew as skew
from keel.monitor._skew_html import skew_html as skew_html
from keel.monitor._windows import parse_time as parse_time

__all__ = [
    "FEEDBACK_COLUMNS",
    "PREDICTION_COLUMNS",
    "Alert",
    "Bins",
    "ColumnProfile",
    "Comparison",
    "DriftResult",
    "FeedbackLog",
    "MonitorReport",
    "PredictionLog",
    "PreparedReference",
    "Profile",
    "QualityFinding",
    "StoredReference",
    "Thresholds",
    "WebhookError",
    "WindowReport",
    "alert_payload",
    "bin_centers",
    "check",
    "column_drift",
    "column_profile_drift",
    "compare",
    "comparison_html",
    "dataset_drift",
    "dataset_reference",
    "find_reference",
    "get_reference",
    "log_column_type",
    "model_reference",
    "monitor_report_html",
    "parse_time",
    "post_alerts",
    "prepare_reference",
    "profile",
    "profile_reference",
    "reference_bins",
    "report",
    "set_reference",
    "skew",
    "skew_html",
    "store_dataset_reference",
    "store_model_reference",
    "store_prepared_reference",
]
