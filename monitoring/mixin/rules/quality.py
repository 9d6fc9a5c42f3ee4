"""Live quality from ground truth (/feedback): accuracy, precision, recall, MAE, RMSE per
version and role, coverage, the shadow's agreement, the held-out metrics they are held
against, and the quality-drop alert."""

from monitoring.mixin import config as c
from monitoring.mixin.rules.common import Rule, alert, ratio, sel
from monitoring.mixin.rules.drift import OUTSIDE_SUPPORT

QUALITY_BY = "job, model_name, model_version, role"
W = c.QUALITY_WINDOW
LABELS = f"job_model_role:model_feedback_labels:increase{W}"
ACCURACY = f"job_model_role:model_feedback_accuracy:ratio_rate{W}"
PRECISION = f"job_model_role_class:model_feedback_precision:ratio_rate{W}"
RECALL = f"job_model_role_class:model_feedback_recall:ratio_rate{W}"
MAE = f"job_model_role:model_feedback_mae:rate{W}"
RMSE = f"job_model_role:model_feedback_rmse:rate{W}"
COVERAGE = f"job_model:model_feedback_coverage:ratio_rate{W}"
AGREEMENT = f"job_model:model_shadow_agreement:ratio_rate{W}"
# Estimated before any label (app/ml/quality/estimation.py): the calibrated confidence.
ESTIMATED_ROWS = f"job_model_role:model_estimated_rows:increase{W}"
ESTIMATED_ACCURACY = f"job_model_role:model_estimated_accuracy:ratio_rate{W}"
ESTIMATED_PRECISION = f"job_model_role_class:model_estimated_precision:ratio_rate{W}"
ESTIMATED_RECALL = f"job_model_role_class:model_estimated_recall:ratio_rate{W}"
ESTIMATED_MAE = f"job_model_role:model_estimated_mae:rate{W}"
BEST_ACCURACY = "job_model_name:model_training_accuracy:max"
BEST_MAE = "job_model_name:model_training_mae:min"
CORRECT, RECORDED, AGREED = 'correct="true"', 'status="recorded"', 'agreement="true"'


def _per_class(kind: str, counter: str = "model_feedback_confusion_total") -> str:
    """Precision (by predicted class) or recall (by actual class), with the label `class`,
    from a confusion counter: the labels' (feedback) or the expected one (estimated)."""
    column = "predicted_class" if kind == "precision" else "actual_class"
    confusion = f"{counter}{sel()}"
    by = f"{QUALITY_BY}, {column}"
    share = ratio(
        f"rate({counter}{sel(CORRECT)}[{W}])",
        f"rate({confusion}[{W}])",
        by,
    )
    return (
        f"sum by ({QUALITY_BY}, class) (\n"
        f'  label_replace(\n{share}\n, "class", "$1", "{column}", "(.*)")\n)'
    )


def quality_rules() -> list[Rule]:
    """Live quality per version and role (primary: the served model; shadow: the candidate)
    from ground truth, the training metrics it is held against, the shadow's agreement."""
    confusion = f"model_feedback_confusion_total{sel()}"
    errors = f"model_feedback_absolute_error_count{sel()}"

    def training(metric: str) -> str:
        return "model_training_metric" + sel('role="primary"', f'metric="{metric}"')

    return [
        {
            "record": LABELS,
            "expr": f"sum by ({QUALITY_BY}) (increase({confusion}[{W}]))\nor\n"
            f"sum by ({QUALITY_BY}) (increase({errors}[{W}]))",
        },
        {
            "record": ACCURACY,
            "expr": ratio(
                f"rate(model_feedback_confusion_total{sel(CORRECT)}[{W}])",
                f"rate({confusion}[{W}])",
                QUALITY_BY,
            ),
        },
        {"record": PRECISION, "expr": _per_class("precision")},
        {"record": RECALL, "expr": _per_class("recall")},
        {
            "record": ESTIMATED_ROWS,
            "expr": f"sum by ({QUALITY_BY}) (increase(model_estimated_rows_total{sel()}[{W}]))",
        },
        {
            "record": ESTIMATED_ACCURACY,
            "expr": f"sum by ({QUALITY_BY}) (rate(model_estimated_correct_total{sel()}[{W}]))"
            f"\n/\nsum by ({QUALITY_BY}) (rate(model_estimated_rows_total{sel()}[{W}]))",
        },
        {
            "record": ESTIMATED_PRECISION,
            "expr": _per_class("precision", "model_estimated_confusion_total"),
        },
        {
            "record": ESTIMATED_RECALL,
            "expr": _per_class("recall", "model_estimated_confusion_total"),
        },
        {
            "record": ESTIMATED_MAE,
            "expr": f"sum by ({QUALITY_BY}) (rate(model_estimated_absolute_error_total{sel()}"
            f"[{W}]))\n/\nsum by ({QUALITY_BY}) (rate(model_estimated_rows_total{sel()}[{W}]))",
        },
        {
            "record": MAE,
            "expr": f"sum by ({QUALITY_BY}) (rate(model_feedback_absolute_error_sum{sel()}[{W}]))"
            f"\n/\nsum by ({QUALITY_BY}) (rate({errors}[{W}]))",
        },
        {
            "record": RMSE,
            "expr": f"sqrt(\n  sum by ({QUALITY_BY}) (rate(model_feedback_squared_error_total"
            f"{sel()}[{W}]))\n  /\n  sum by ({QUALITY_BY}) (rate({errors}[{W}]))\n)",
        },
        {
            "record": COVERAGE,
            "expr": ratio(
                f"rate(model_feedback_total{sel(RECORDED)}[{W}])",
                f"rate(model_predictions_total{sel()}[{W}])",
                "job, model_name, model_version",
            ),
        },
        {
            "record": AGREEMENT,
            "expr": ratio(
                f"rate(model_shadow_rows_total{sel(AGREED)}[{W}])",
                f"rate(model_shadow_rows_total{sel()}[{W}])",
                "job, model_name, model_version, primary_version",
            ),
        },
        {
            "record": BEST_ACCURACY,
            "expr": f"max by (job, model_name) ({training('accuracy')})",
        },
        {
            "record": BEST_MAE,
            "expr": f"min by (job, model_name) ({training('mae')})",
        },
    ]


def store_alerts() -> list[Rule]:
    """The shared prediction store losing answers: labels for them will be `unknown`."""
    dropped = f"rate(model_prediction_store_rows_dropped_total{sel()}[5m])"
    return [
        alert(
            "GlassboxPredictionStoreDroppingWrites",
            f"sum by (job) ({dropped}) > 0",
            c.STORE_DROPPING_FOR,
            "warning",
            "Glassbox cannot keep answers in the shared prediction store.",
            "{{ $labels.job }} dropped {{ $value | humanize }} predicted rows per second over "
            "5 minutes instead of writing them to the prediction store (PREDICTION_STORE_URL): "
            "predictions are served, but labels for them will come back `unknown`, and "
            "/feedback answers 503 while the store is down.",
        ),
    ]


def estimate_alerts() -> list[Rule]:
    """The served version's estimated quality (before labels) worse than what its training
    promised: a warning, because it is an estimate; held back while the inputs are outside
    the training support, where the estimate is blind (GlassboxInputsOutsideTraining speaks
    then). And, where labels exist, live quality and the estimate apart by more than the
    estimate's own held-out error: the sign of concept drift."""
    on = "on (job, model_name, model_version)"
    serving = f"max by (job, model_name, model_version) (model_info{sel()} == 1)"

    def held_out(metric: str) -> str:
        return (
            "max by (job, model_name, model_version) (model_training_metric"
            + sel('role="primary"', f'metric="{metric}"')
            + ")"
        )

    trusted = (
        f"and {on}\n"
        f'{ESTIMATED_ROWS}{{role="primary"}} >= {c.ESTIMATE_MIN_ROWS}\n'
        f"and {on}\n{serving}\n"
        f"unless {on}\n{OUTSIDE_SUPPORT} > {c.ESTIMATE_SUPPORT_MAX_OUTSIDE}"
    )
    labelled = (
        f'and {on}\n{LABELS}{{role="primary"}} >= {c.QUALITY_MIN_LABELS}\nand {on}\n{serving}'
    )
    summary = "The served model's estimated quality has dropped below what training promised."
    blind = (
        "An estimate: the traffic has moved to where the model is less sure; labels, when "
        "they come, say whether it is really wrong."
    )
    disagree = (
        "Live quality and the estimated quality disagree: the right answers may have changed."
    )
    drift = (
        "The estimate cannot see concept drift (the same inputs now having other right "
        "answers): trust the labels, and look for what changed in the world."
    )
    return [
        alert(
            "GlassboxEstimatedQualityDrop",
            f'{ESTIMATED_ACCURACY}{{role="primary"}}\n< {on} group_left ()\n'
            f"({held_out('accuracy')} - {c.ESTIMATE_ACCURACY_MARGIN})\n{trusted}",
            c.ESTIMATE_DROP_FOR,
            "warning",
            summary,
            "Model {{ $labels.model_name }} version {{ $labels.model_version }} is estimated "
            "right on {{ $value | humanizePercentage }} of the rows it answered over the last "
            f"{W} (its confidence, calibrated at training; no labels): more than "
            f"{c.ESTIMATE_ACCURACY_MARGIN:.0%} below its held-out accuracy. {blind}",
            task="classification",
        ),
        alert(
            "GlassboxEstimatedQualityDrop",
            f'{ESTIMATED_MAE}{{role="primary"}}\n> {on} group_left ()\n'
            f"({held_out('mae')} * {1 + c.ESTIMATE_MAE_MARGIN_RATIO:g})\n{trusted}",
            c.ESTIMATE_DROP_FOR,
            "warning",
            summary,
            "Model {{ $labels.model_name }} version {{ $labels.model_version }} is estimated "
            '{{ $value | printf "%.4g" }} off on average over the last '
            f"{W} (its loss model, fitted at training; no labels): more than "
            f"{c.ESTIMATE_MAE_MARGIN_RATIO:.0%} above its held-out MAE. {blind}",
            task="regression",
        ),
        alert(
            "GlassboxEstimateDisagreesWithLabels",
            f'abs(\n  {ACCURACY}{{role="primary"}}\n  - on (job, model_name, model_version, role)\n'
            f'  {ESTIMATED_ACCURACY}{{role="primary"}}\n)\n'
            f"> {on} group_left ()\n"
            f"clamp_min({held_out('estimated_accuracy_error')}, {c.ESTIMATE_DISAGREEMENT_MIN})\n"
            f"{labelled}",
            c.ESTIMATE_DROP_FOR,
            "warning",
            disagree,
            "Model {{ $labels.model_name }} version {{ $labels.model_version }}: its accuracy "
            f"from /feedback labels and its estimate (calibrated confidence) over the last {W} "
            "are {{ $value | humanizePercentage }} apart, more than the estimate's error on "
            f"held-out rows. {drift}",
            task="classification",
        ),
        alert(
            "GlassboxEstimateDisagreesWithLabels",
            f'abs(\n  {MAE}{{role="primary"}}\n  - on (job, model_name, model_version, role)\n'
            f'  {ESTIMATED_MAE}{{role="primary"}}\n)\n'
            f'/ on (job, model_name, model_version, role) {MAE}{{role="primary"}}\n'
            f"> {on} group_left ()\n"
            f"clamp_min({held_out('estimated_mae_error')}, {c.ESTIMATE_MAE_DISAGREEMENT_MIN})\n"
            f"{labelled}",
            c.ESTIMATE_DROP_FOR,
            "warning",
            disagree,
            "Model {{ $labels.model_name }} version {{ $labels.model_version }}: its MAE from "
            f"/feedback labels and its estimate (its loss model) over the last {W} are "
            "{{ $value | humanizePercentage }} apart (of the live MAE), more than the "
            f"estimate's error on held-out rows. {drift}",
            task="regression",
        ),
    ]


def quality_alerts() -> list[Rule]:
    serving = f"max by (job, model_name, model_version) (model_info{sel()} == 1)"
    enough = (
        f"and on (job, model_name, model_version)\n"
        f'{LABELS}{{role="primary"}} >= {c.QUALITY_MIN_LABELS}\n'
        f"and on (job, model_name, model_version)\n{serving}"
    )
    window, baseline = c.QUALITY_WINDOW, c.QUALITY_BASELINE_WINDOW
    summary = "The served model's live quality has dropped below what training promised."
    return [
        alert(
            "GlassboxModelQualityDrop",
            f'{ACCURACY}{{role="primary"}}\n< on (job, model_name) group_left ()\n('
            f"max_over_time({BEST_ACCURACY}[{baseline}]) - {c.QUALITY_ACCURACY_MARGIN})\n" + enough,
            c.QUALITY_DROP_FOR,
            "critical",
            summary,
            "Model {{ $labels.model_name }} version {{ $labels.model_version }} was right on "
            "{{ $value | humanizePercentage }} of the predictions labelled through /feedback "
            f"over the last {window}: more than {c.QUALITY_ACCURACY_MARGIN:.0%} below the best "
            f"held-out accuracy of its versions served in the last {baseline}. Its inputs may "
            "look normal: the answers are what changed.",
            task="classification",
        ),
        alert(
            "GlassboxModelQualityDrop",
            f'{MAE}{{role="primary"}}\n> on (job, model_name) group_left ()\n('
            f"min_over_time({BEST_MAE}[{baseline}]) * {1 + c.QUALITY_MAE_MARGIN_RATIO:g})\n"
            + enough,
            c.QUALITY_DROP_FOR,
            "critical",
            summary,
            "Model {{ $labels.model_name }} version {{ $labels.model_version }} is off by "
            '{{ $value | printf "%.4g" }} on average (live MAE from /feedback over the last '
            f"{window}): more than {c.QUALITY_MAE_MARGIN_RATIO:.0%} above the best held-out MAE "
            f"of its versions served in the last {baseline}.",
            task="regression",
        ),
    ]
