"""Glassbox / Model: what the served model answers, how fast, and how its inputs drift.

One dashboard per task, so none has a panel that can only say "No data": the
classification one shows classes, class mix against the priors and confidence; the
regression one the predicted values' distribution and mean. Both show inference latency,
batch size and the drift of every input (numbers and categories alike)."""

from typing import Any

from monitoring.mixin import config
from monitoring.mixin.dashboards.panels import (
    FEATURE_VAR,
    MODEL,
    MODEL_SWAPS,
    MODEL_VERSION_VAR,
    PROMETHEUS_VARS,
    RATE,
    SERVICE,
    Panel,
    dashboard,
    green_amber_red,
    heatmap,
    instant_table,
    panel,
    quantile,
    red_amber_green,
    target,
    timeseries,
)
from monitoring.mixin.rules.drift import (
    BUCKET_EXPECTED,
    BUCKET_SHARE,
    FEATURE_PSI,
    OUTSIDE_SUPPORT,
)
from monitoring.mixin.rules.quality import (
    ACCURACY,
    AGREEMENT,
    COVERAGE,
    ESTIMATED_ACCURACY,
    ESTIMATED_MAE,
    ESTIMATED_PRECISION,
    ESTIMATED_RECALL,
    MAE,
    PRECISION,
    RECALL,
    RMSE,
)

# Recorded series keep job and the model labels only; the shadow's version is not a served
# one, so its panels do not filter by $model_version.
RECORDED = config.SELECTOR
RECORDED_MODEL = f'{config.SELECTOR}, model_version=~"$model_version"'


def build() -> dict[str, Any]:
    """The classification dashboard (uid glassbox-model, as before regression existed)."""
    return dashboard(
        "glassbox-model",
        "Glassbox / Model (classification)",
        "What a classifier predicts, how sure it is, how fast, and how the served class mix "
        "and the inputs compare with the training data.",
        [*classification_panels(), *classification_quality_panels(), *shared_panels()],
        [*PROMETHEUS_VARS, MODEL_VERSION_VAR, FEATURE_VAR],
        annotations=[MODEL_SWAPS],
    )


def build_regression() -> dict[str, Any]:
    return dashboard(
        "glassbox-model-regression",
        "Glassbox / Model (regression)",
        "What a regressor predicts (distribution and mean of its values), how fast, and how "
        "its inputs compare with the training data.",
        [*regression_panels(), *regression_quality_panels(), *shared_panels()],
        [*PROMETHEUS_VARS, MODEL_VERSION_VAR, FEATURE_VAR],
        annotations=[MODEL_SWAPS],
    )


def regression_panels() -> list[Panel]:
    values = "model_prediction_value"
    return [
        timeseries(
            "Predicted rows per second",
            "Rows the regressor answered per second, single and batch requests alike.",
            target(f"sum(rate(model_predictions_total{{{MODEL}}}[{RATE}]))", "rows/s"),
            unit="ops",
        ),
        timeseries(
            "Predicted value p10 / p50 / p90",
            "Quantiles of the predicted values (to within the histogram's 1-2.5-5 steps; "
            "negative values all count as 0).",
            *(
                target(quantile(q, values, "model_version", MODEL), f"p{int(float(q) * 100)}")
                for q in ("0.1", "0.5", "0.9")
            ),
        ),
        timeseries(
            "Mean predicted value",
            "Exact mean of the predicted values, per model version: a lasting shift with "
            "stable inputs is the model changing its answers.",
            target(
                f"sum by (model_version) (rate({values}_sum{{{MODEL}}}[{RATE}])) "
                f"/ sum by (model_version) (rate({values}_count{{{MODEL}}}[{RATE}]))",
                "{{model_version}}",
            ),
        ),
        heatmap(
            "Predicted value distribution",
            "Predicted values per histogram bucket.",
            f"increase({values}_bucket{{{MODEL}}}[{RATE}])",
            unit="none",
            color={"scheme": "Blues"},
        ),
    ]


def classification_panels() -> list[Panel]:
    predictions = f"model_predictions_total{{{MODEL}}}"
    return [
        timeseries(
            "Predictions per class",
            "Predicted rows per second by class, single and batch requests alike.",
            target(
                f"sum by (predicted_class) (rate({predictions}[{RATE}]))", "{{predicted_class}}"
            ),
            unit="ops",
        ),
        timeseries(
            "Class mix against training priors",
            "Share of predictions per class (solid) and that class's share of the training "
            "data (dashed). A lasting gap is what GlassboxPredictionClassDrift alerts on.",
            target(
                f"sum by (predicted_class) (rate({predictions}[{RATE}])) "
                f"/ scalar(sum(rate({predictions}[{RATE}])))",
                "{{predicted_class}} served",
            ),
            target(
                f"max by (class) (model_class_prior{{{MODEL}}})",
                "{{class}} training prior",
            ),
            unit="percentunit",
        ),
        heatmap(
            "Confidence distribution",
            "Probability of the predicted class, per row.",
            f"increase(model_prediction_confidence_bucket{{{MODEL}}}[{RATE}])",
            unit="percentunit",
            color={"scheme": "Blues"},
        ),
        timeseries(
            "Mean confidence and low-confidence share",
            "Mean top-class probability, and the share of rows predicted with at most 60 % confidence.",
            target(
                f"sum(rate(model_prediction_confidence_sum{{{MODEL}}}[{RATE}])) "
                f"/ sum(rate(model_prediction_confidence_count{{{MODEL}}}[{RATE}]))",
                "mean confidence",
            ),
            target(
                f'sum(rate(model_prediction_confidence_bucket{{{MODEL}, le="0.6"}}[{RATE}])) '
                f"/ sum(rate(model_prediction_confidence_count{{{MODEL}}}[{RATE}]))",
                "confidence <= 0.6",
            ),
            unit="percentunit",
        ),
    ]


def _training(metric: str) -> dict[str, Any]:
    return target(
        f'max by (model_version, role) (model_training_metric{{{SERVICE}, metric="{metric}"}})',
        "{{model_version}} {{role}} held-out",
    )


def _estimated(series: str) -> list[dict[str, Any]]:
    """An estimate as two series: trusted, and "blind" while the model's inputs are outside
    the training support (every version and role of the model sees the same inputs)."""
    outside = f"{OUTSIDE_SUPPORT}{{{RECORDED}}} > {config.ESTIMATE_SUPPORT_MAX_OUTSIDE}"
    return [
        target(
            f"{series}{{{RECORDED}}}\nunless on (job, model_name)\n{outside}",
            "{{model_version}} {{role}} estimated",
        ),
        target(
            f"{series}{{{RECORDED}}}\nand on (job, model_name)\n{outside}",
            "{{model_version}} {{role}} estimated (BLIND: inputs outside training)",
        ),
    ]


def support_panel() -> Panel:
    return timeseries(
        f"Inputs outside the training support ({config.DRIFT_WINDOW})",
        "Share of the input values answered that were below or above their training range, "
        "or categories training never saw. Above "
        f"{config.ESTIMATE_SUPPORT_MAX_OUTSIDE:.0%} the estimated quality is blind (it can "
        "say the model is fine while it is not: docs/quality.md), the panels mark it BLIND, "
        "its alert is held back and GlassboxInputsOutsideTraining warns instead.",
        target(f"{OUTSIDE_SUPPORT}{{{RECORDED}}}", "{{model_version}}"),
        unit="percentunit",
        thresholds=green_amber_red(config.ESTIMATE_SUPPORT_MAX_OUTSIDE, 0.05),
    )


def classification_quality_panels() -> list[Panel]:
    window = config.QUALITY_WINDOW
    return [
        timeseries(
            f"Accuracy: live, estimated and held-out ({window})",
            "Live: the share of predictions labelled through POST /feedback that were right. "
            "Estimated: every answered row's confidence, calibrated at training, before any "
            "label (blind to concept drift, and marked BLIND while inputs are outside the "
            "training support: next panel). Held-out: what the artifact measured. Per version "
            "and role (primary: the served model; shadow: the candidate scored beside it). "
            "GlassboxModelQualityDrop pages on live, GlassboxEstimatedQualityDrop warns on "
            "estimated.",
            target(f"{ACCURACY}{{{RECORDED}}}", "{{model_version}} {{role}} live"),
            *_estimated(ESTIMATED_ACCURACY),
            _training("accuracy"),
            unit="percentunit",
        ),
        support_panel(),
        timeseries(
            f"Estimated precision and recall per class ({window})",
            "From the expected confusion of every answered row (calibrated confidence, no "
            "labels): the served model's, next to the live figures above once labels come.",
            target(
                f'{ESTIMATED_PRECISION}{{{RECORDED_MODEL}, role="primary"}}',
                "{{class}} precision (estimated)",
            ),
            target(
                f'{ESTIMATED_RECALL}{{{RECORDED_MODEL}, role="primary"}}',
                "{{class}} recall (estimated)",
            ),
            unit="percentunit",
        ),
        timeseries(
            f"Live precision and recall per class ({window})",
            "Of the labelled rows predicted as a class, the share that were that class "
            "(precision); of the labelled rows of a class, the share predicted as it (recall); "
            "the served model's.",
            target(f'{PRECISION}{{{RECORDED_MODEL}, role="primary"}}', "{{class}} precision"),
            target(f'{RECALL}{{{RECORDED_MODEL}, role="primary"}}', "{{class}} recall"),
            unit="percentunit",
        ),
    ]


def regression_quality_panels() -> list[Panel]:
    window = config.QUALITY_WINDOW
    return [
        timeseries(
            f"MAE: live, estimated and held-out ({window})",
            "Live: the error of the predictions labelled through POST /feedback. Estimated: "
            "every answered row's error as the loss model fitted at training predicts it, "
            "before any label (blind to concept drift, and marked BLIND while inputs are "
            "outside the training support: next panel). Held-out: what the artifact measured. "
            "Per version and role (primary: served; shadow: the candidate). "
            "GlassboxModelQualityDrop pages on live, GlassboxEstimatedQualityDrop warns on "
            "estimated.",
            target(f"{MAE}{{{RECORDED}}}", "{{model_version}} {{role}} live MAE"),
            target(f"{RMSE}{{{RECORDED}}}", "{{model_version}} {{role}} live RMSE"),
            *_estimated(ESTIMATED_MAE),
            _training("mae"),
            unit="none",
        ),
        support_panel(),
    ]


def feedback_and_shadow_panels() -> list[Panel]:
    window = config.QUALITY_WINDOW
    return [
        timeseries(
            f"Feedback coverage ({window})",
            "Share of predicted rows that got a recorded label: how much the live quality "
            "panels stand on. Labels for predictions another worker or replica made, or that "
            "were forgotten, count as unknown (next panel).",
            target(f"{COVERAGE}{{{RECORDED_MODEL}}}", "{{model_version}}"),
            unit="percentunit",
        ),
        timeseries(
            "Feedback by outcome",
            "Labels received per second: recorded, unknown (no such prediction in that "
            "worker's memory), duplicate, late.",
            target(
                f"sum by (status) (rate(model_feedback_total{{{SERVICE}}}[{RATE}]))",
                "{{status}}",
            ),
            unit="ops",
        ),
        timeseries(
            f"Shadow agreement with the served model ({window})",
            "Share of rows on which the shadow candidate (SHADOW_MODEL_DIR) answered as the "
            f"served model did. `make promote` refuses a candidate below "
            f"{config.SHADOW_MIN_AGREEMENT:.0%} unless forced.",
            target(f"{AGREEMENT}{{{RECORDED}}}", "{{model_version}} vs {{primary_version}}"),
            unit="percentunit",
            thresholds=red_amber_green(config.SHADOW_MIN_AGREEMENT, 0.97),
        ),
        timeseries(
            "Shadow rows scored and dropped",
            "Rows the shadow candidate scored per second, and rows it skipped because its "
            "queue was full (SHADOW_QUEUE_SIZE): the served model never waits for it.",
            target(
                f"sum by (model_version) (rate(model_shadow_rows_total{{{SERVICE}}}[{RATE}]))",
                "scored {{model_version}}",
            ),
            target(
                f"sum by (model_version) (rate(model_shadow_dropped_total{{{SERVICE}}}[{RATE}]))",
                "dropped {{model_version}}",
            ),
            unit="ops",
        ),
        timeseries(
            "Shadow inference latency p99",
            "One shadow model call, which scores every row queued since the last one.",
            target(
                quantile(
                    "0.99", "model_shadow_inference_duration_seconds", "model_version", SERVICE
                ),
                "p99 {{model_version}}",
            ),
            unit="s",
        ),
    ]


def shared_panels() -> list[Panel]:
    return [
        *feedback_and_shadow_panels(),
        timeseries(
            "Inference latency p50 / p99",
            "The predict_proba call alone, without HTTP, validation or serialisation.",
            target(
                quantile("0.5", "model_inference_duration_seconds", "model_version", MODEL),
                "p50 {{model_version}}",
            ),
            target(
                quantile("0.99", "model_inference_duration_seconds", "model_version", MODEL),
                "p99 {{model_version}}",
                exemplar=True,
            ),
            unit="s",
        ),
        timeseries(
            "Batch size",
            "Rows per model call: mean and p99 (1 for /predict).",
            target(
                f"sum(rate(model_batch_size_sum{{{MODEL}}}[{RATE}])) "
                f"/ sum(rate(model_batch_size_count{{{MODEL}}}[{RATE}]))",
                "mean",
            ),
            target(quantile("0.99", "model_batch_size", "model_version", MODEL), "p99"),
        ),
        timeseries(
            f"Feature drift: PSI over {config.DRIFT_WINDOW}",
            "Population stability index of each input against the training split: over its "
            f"deciles (numbers) or its categories plus an unseen bucket (categories). Below {config.DRIFT_PSI_MODERATE}: stable (green); up to "
            f"{config.DRIFT_PSI_THRESHOLD}: moderate (amber); above: significant (red, "
            "GlassboxFeatureDrift).",
            target(
                f'max by (feature) ({FEATURE_PSI}{{{config.SELECTOR}, model_version=~"$model_version"}})',
                "{{feature}}",
            ),
            unit="none",
            thresholds=green_amber_red(config.DRIFT_PSI_MODERATE, config.DRIFT_PSI_THRESHOLD),
        ),
        timeseries(
            "Values outside the training range",
            "Numbers below the training minimum or above its maximum, and categories "
            "training never saw (side=unseen), per second.",
            target(
                f"sum by (feature, side) "
                f"(rate(model_feature_out_of_range_total{{{MODEL}}}[{RATE}]))",
                "{{feature}} {{side}}",
            ),
            unit="cps",  # values, not requests: a batch request brings many
        ),
        panel(
            "bargauge",
            f"Live vs training share per bucket ($feature, {config.DRIFT_WINDOW})",
            "Share of the input's values in each bucket, live over the last hour against the "
            "training split. A number's buckets lie between the training deciles (bucket 0 "
            "up to the first decile, the last above the last); a category's are its training "
            "categories in sorted order, the last one the categories training never saw.",
            [
                {
                    "expr": f"max by (bucket) ({BUCKET_SHARE}"
                    f'{{{config.SELECTOR}, model_version=~"$model_version", feature="$feature"}})',
                    "legendFormat": "bucket {{bucket}} live",
                    "instant": True,
                },
                {
                    "expr": f"max by (bucket) ({BUCKET_EXPECTED}"
                    f'{{{config.SELECTOR}, model_version=~"$model_version", feature="$feature"}})',
                    "legendFormat": "bucket {{bucket}} training",
                    "instant": True,
                },
            ],
            unit="percentunit",
            width=24,
            height=10,
            options={"orientation": "horizontal", "displayMode": "basic"},
        ),
        instant_table(
            "Model versions in service",
            "Pods per model version served now (a version swapped out by a reload reports 0), "
            "its task and the scikit-learn version it was trained with.",
            f"count by (model_name, model_version, task, sklearn_version) "
            f"(model_info{{{SERVICE}}} == 1)",
            width=24,
            height=6,
        ),
    ]
