"""Feature drift: each input's population stability index against the training deciles,
and the alert when one shifts."""

from monitoring.mixin import config as c
from monitoring.mixin.rules.common import Rule, alert, seconds, sel

FEATURE_RATE = f"job_model_feature:model_feature_values:rate{c.DRIFT_WINDOW}"
FEATURE_PSI = f"job_model_feature:model_feature_values:psi_{c.DRIFT_WINDOW}"
BUCKET_SHARE = f"job_model_feature_bucket:model_feature_values:share_{c.DRIFT_WINDOW}"
BUCKET_EXPECTED = "job_model_feature_bucket:model_feature_expected_share:max"
# The share of a version's input values outside the training support (below or above the
# training range, or a category training never saw), over all its features.
OUTSIDE_SUPPORT = f"job_model:model_feature_out_of_support:ratio_rate{c.DRIFT_WINDOW}"
VALUES_RATE = f"job_model:model_feature_values:rate{c.DRIFT_WINDOW}"


MODEL_BY = "job, model_name, model_version"


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
            "record": VALUES_RATE,
            "expr": f"sum by ({MODEL_BY}) (rate({values}[{c.DRIFT_WINDOW}]))",
        },
        {
            "record": OUTSIDE_SUPPORT,
            "expr": f"sum by ({MODEL_BY}) (rate(model_feature_out_of_range_total{sel()}"
            f"[{c.DRIFT_WINDOW}]))\n/\n{VALUES_RATE}",
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
        alert(
            "GlassboxInputsOutsideTraining",
            f"{OUTSIDE_SUPPORT} > {c.ESTIMATE_SUPPORT_MAX_OUTSIDE}\n"
            f"and on ({MODEL_BY})\n"
            f"sum by ({MODEL_BY}) (increase(model_predictions_total{sel()}[{c.DRIFT_WINDOW}]))"
            f" >= {c.DRIFT_MIN_ROWS}\n"
            f"and on ({MODEL_BY})\n"
            f"max by ({MODEL_BY}) (model_info{sel()} == 1)",
            c.DRIFT_FOR,
            "warning",
            "The served model is answering inputs outside its training data; its estimated "
            "quality cannot be trusted.",
            "Over the last hour {{ $value | humanizePercentage }} of the input values sent to "
            "model {{ $labels.model_name }} version {{ $labels.model_version }} were outside "
            "the training range or categories training never saw "
            f"(threshold {c.ESTIMATE_SUPPORT_MAX_OUTSIDE:.0%}). The estimated accuracy or MAE "
            "is blind there (it can say the model is fine while it is not), so its alerts are "
            "held back: the drift panels and labels from /feedback are what to trust.",
        ),
    ]
