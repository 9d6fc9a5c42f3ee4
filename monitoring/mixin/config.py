"""Every tunable of the rules and dashboards, in one place.

Change a value here, run `make monitoring`, and the rules, their promtool tests'
expectations (by hand) and the dashboards follow.
"""

from dataclasses import dataclass

# Which series are Glassbox's. The local config, the Kubernetes scrape config and
# the chart's ServiceMonitor all set job="glassbox".
JOB = "glassbox"
SELECTOR = f'job="{JOB}"'
# Which log streams are Glassbox's: Promtail and Alloy set app from the pod's
# app.kubernetes.io/name (the compose service name under compose).
LOG_MATCHER = f'app="{JOB}"'
LOG_SELECTOR = "{" + LOG_MATCHER + "}"
# Container name in the chart's pods, for kube-state-metrics and cAdvisor series.
CONTAINER = "glassbox"
# Deployments and HPAs are named after the release: any name containing "glassbox".
WORKLOAD_NAME_REGEX = f".*{JOB}.*"

RUNBOOK_URL = "https://github.com/glassbox-ml/glassbox/blob/main/monitoring/runbook.md"


@dataclass(frozen=True)
class Slo:
    name: str
    objective: float  # fraction of good requests, e.g. 0.999
    description: str


SLO_HANDLER = "/predict"
SLO_PERIOD = "30d"
# Prometheus must keep at least the SLO period (a test reads compose.yaml and the Helm stack
# values): a 30-day budget over 7 days of data would silently cover a quarter of it.
PROMETHEUS_RETENTION = "31d"
AVAILABILITY = Slo("availability", 0.999, f"{SLO_HANDLER} requests that are not 5xx")
LATENCY = Slo("latency", 0.99, f"{SLO_HANDLER} requests answered within 100 ms")
# Must be a bucket edge of http_request_duration_seconds (app/observability/metrics.py).
LATENCY_THRESHOLD_SECONDS = "0.1"


@dataclass(frozen=True)
class BurnWindow:
    """Multiwindow, multi-burn-rate alerting (Google SRE workbook, chapter 5)."""

    long: str
    short: str
    factor: float
    severity: str


# Page: 2 % of a 30-day budget in 1 h, or 5 % in 6 h. Ticket: 10 % in 3 days.
FAST_BURN = (BurnWindow("1h", "5m", 14.4, "critical"), BurnWindow("6h", "30m", 6, "critical"))
SLOW_BURN = (BurnWindow("3d", "6h", 1, "warning"),)
RATE_WINDOWS = ("5m", "30m", "1h", "6h", "3d")
# A burn-rate alert also needs this many /predict requests in its long window: on a trickle
# of traffic one failed request is a 100 % error ratio, and that is no reason to page.
BURN_MIN_REQUESTS = 100

# Symptom thresholds.
HIGH_5XX_RATIO = 0.05
HIGH_5XX_FOR = "5m"
HIGH_P99_SECONDS = 0.5
HIGH_P99_FOR = "10m"
TARGET_DOWN_FOR = "2m"
MODEL_NOT_LOADED_FOR = "5m"
NO_TRAFFIC_FOR = "30m"
# Predicted-class share differing from its training prior by more than this, over 1 h.
CLASS_DRIFT_MAX_DIFFERENCE = 0.25
CLASS_DRIFT_MIN_PREDICTIONS_PER_SECOND = 0.05  # ignore drift on a trickle of traffic
CLASS_DRIFT_FOR = "30m"
# Feature drift: population stability index of each input feature over DRIFT_WINDOW against
# the training split's deciles. 0.1-0.2 is the usual "moderate", above 0.2 "significant".
DRIFT_WINDOW = "1h"
DRIFT_PSI_MODERATE = 0.1
DRIFT_PSI_THRESHOLD = 0.2
DRIFT_MIN_ROWS = 100  # rows in the window before a PSI means anything
DRIFT_FOR = "30m"
# Shares are floored here before the logarithm: an empty bucket would make the PSI infinite.
DRIFT_SHARE_FLOOR = 0.0001
RESTARTS_PER_HOUR = 3
CRASHLOOP_FOR = "15m"
HPA_MAXED_FOR = "15m"

# Log alerts (Loki ruler): lines the metrics cannot tell apart.
UNHANDLED_EXCEPTIONS_BURST = 3  # unhandled_exception lines in 5 min, per pod
EDGE_REFUSALS_BURST = 100  # refused requests (malformed HTTP, limits, bad ids) in 10 min

DASHBOARD_TAG = "glassbox"
# Dashboard colours by these documented levels (docs/monitoring.md): an SLO or its budget
# is amber once less than this share of the budget remains, red once it is spent.
BUDGET_LOW_REMAINING = 0.5

# Live quality (POST /feedback, app/ml/quality/feedback.py), over this window.
QUALITY_WINDOW = "1h"
# The alert needs this many labelled predictions of the served version in the window.
QUALITY_MIN_LABELS = 50
# GlassboxModelQualityDrop: live accuracy this far below the best training accuracy stored
# in the artifacts of this model's versions served in QUALITY_BASELINE_WINDOW (the served
# one's included), or live MAE this share above the best training MAE.
QUALITY_ACCURACY_MARGIN = 0.05
QUALITY_MAE_MARGIN_RATIO = 0.25
QUALITY_BASELINE_WINDOW = "7d"
QUALITY_DROP_FOR = "15m"
# GlassboxEstimatedQualityDrop: the served version's estimated accuracy (calibrated
# confidence, no labels) this far below its own held-out accuracy, on at least this many
# estimated rows in the quality window. A warning: it is an estimate.
ESTIMATE_ACCURACY_MARGIN = 0.05
# ... or its estimated MAE (a regressor's loss model) this share above its held-out MAE.
ESTIMATE_MAE_MARGIN_RATIO = 0.25
ESTIMATE_MIN_ROWS = 500
ESTIMATE_DROP_FOR = "15m"
# GlassboxEstimateDisagreesWithLabels: live accuracy (labels) and the estimate further apart
# than the estimate's own held-out error, and never less than this (a small held-out split
# can claim a tiny error), on QUALITY_MIN_LABELS labels.
ESTIMATE_DISAGREEMENT_MIN = 0.05
# ... and for MAE, relative to the live MAE.
ESTIMATE_MAE_DISAGREEMENT_MIN = 0.25
# Outside the training support the estimate is blind (docs/quality.md: digits with noise,
# truth 0.78, estimate 0.92): above this share of input values outside the training range
# or of categories training never saw, the estimate alerts are held back and
# GlassboxInputsOutsideTraining speaks instead. Rows from the training population fall
# outside an input's range of n training rows with probability 2/(n+1): 1.6 % for wine's
# 124 (measured on its unseen rows: 1.4 %), so 1 % would cry wolf on small training sets.
# In-support shifts (rows from where the model is weaker) add nothing to this share; they
# are where the estimate works.
ESTIMATE_SUPPORT_MAX_OUTSIDE = 0.05
# `make promote` (promotion/) and the dashboards: the shadow candidate must agree
# with the served model on at least this share of rows, and its live accuracy be no more
# than this below the served model's, over the quality window.
SHADOW_MIN_AGREEMENT = 0.9
SHADOW_MAX_ACCURACY_LOSS = 0.02

# The shared prediction store (PREDICTION_STORE_URL) dropping answers' rows: labels for them
# will come back `unknown`. Any drop for this long pages a warning.
STORE_DROPPING_FOR = "5m"
# Spans dropped (the SDK's queue full) or refused by the collector (OTEL_EXPORTER_OTLP_*):
# traces go missing, requests are not affected. Longer than a collector's rolling restart.
SPANS_LOST_FOR = "15m"
