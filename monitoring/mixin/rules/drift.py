"""Feature drift: each input's population stability index against the training deciles,
and the alert when one shifts."""

from monitoring.mixin import config as c
from monitoring.mixin.rules.common import Rule, alert, seconds, sel

FEATURE_RATE = f"job_model_feature:model_feature_values:rate{c.DRIFT_WINDOW}"
FEATURE_PSI = f"job_model_feature:model_feature_values:psi_{c.DRIFT_WINDOW}"
BUCKET_SHARE = f"job_model_feature_bucket:model_feature_values:share_{c.DRIFT_WINDOW}"
BUCKET_EXPECTED = "job_model_feature_bucket:model_feature_expected_share:max"


def drift_rules() -> list[Rule]:
    """Population stability index per feature: sum over buckets of
    (live - training) * ln(live / training), both shares floored so no term is infinite."""
    values = f"model_feature_values_total{sel()}"
    by = "job, model_version, feature"
    floor = c.DRIFT_SHARE_FLOOR
    live, expected = f"clamp_min({BUCKET_SHARE}, {floor})", f"clamp_min({BUCKET_EXPECTED}, {floor})"
    return [
        {
            "record": FEATURE_RATE,
            "expr": f"sum by ({by}) (rate({values}[{c.DRIFT_WINDOW}]))",
        },
        {
            "record": BUCKET_SHARE,
            "expr": f"sum by ({by}, bucket) (rate({values}[{c.DRIFT_WINDOW}]))\n"
            f"/ on ({by}) group_left\n{FEATURE_RATE}",
        },
        {
            "record": BUCKET_EXPECTED,
            "expr": f"max by ({by}, bucket) (model_feature_expected_share{sel()})",
        },
        {
            "record": FEATURE_PSI,
            "expr": f"sum by ({by}) (\n  ({live} - {expected})\n  * ln({live} / {expected})\n)",
        },
    ]


def drift_alerts() -> list[Rule]:
    by = "job, model_version, feature"
    return [
        alert(
            "GlassboxFeatureDrift",
            f"{FEATURE_PSI} > {c.DRIFT_PSI_THRESHOLD}\n"
            f"and on ({by})\n"
            f"{FEATURE_RATE} * {seconds(c.DRIFT_WINDOW)} >= {c.DRIFT_MIN_ROWS}",
            c.DRIFT_FOR,
            "warning",
            "An input feature no longer looks like the training data.",
            "Over the last hour {{ $labels.feature }} sent to model {{ $labels.model_version }} "
            'has a population stability index of {{ $value | printf "%.2f" }} against the '
            f"training deciles (threshold {c.DRIFT_PSI_THRESHOLD}): its values have shifted.",
        ),
    ]
