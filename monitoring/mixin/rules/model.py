"""Model recording rules: predictions by class and version, the predicted-class mix against
the training prior, and the model call's latency quantiles."""

from monitoring.mixin.rules.common import Rule, sel


def model_rules() -> list[Rule]:
    predictions = f"model_predictions_total{sel()}"
    rules: list[Rule] = [
        {
            "record": "job_model_class:model_predictions:rate5m",
            "expr": f"sum by (job, model_name, model_version, predicted_class) "
            f"(rate({predictions}[5m]))",
        },
        {
            "record": "job_model:model_predictions:rate5m",
            "expr": f"sum by (job, model_name, model_version) (rate({predictions}[5m]))",
        },
        {
            # The label is renamed to `class` so the share joins the training prior.
            "record": "job_model_class:model_predictions:share_rate1h",
            "expr": (
                f"sum by (job, model_version, class) (\n"
                f'  label_replace(rate({predictions}[1h]), "class", "$1", "predicted_class", "(.*)")\n'
                f")\n/ on (job, model_version) group_left\n"
                f"sum by (job, model_version) (rate({predictions}[1h]))"
            ),
        },
        {
            "record": "job_model_class:model_class_prior:max",
            "expr": f"max by (job, model_version, class) (model_class_prior{sel()})",
        },
    ]
    for quantile in ("50", "99"):
        rules.append(
            {
                "record": f"job_model:model_inference_duration_seconds:p{quantile}_5m",
                "expr": f"histogram_quantile(0.{quantile}, sum by (job, model_version, le) "
                f"(rate(model_inference_duration_seconds_bucket{sel()}[5m])))",
            }
        )
    return rules
