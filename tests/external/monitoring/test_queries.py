"""Every PromQL and LogQL query the project ships parses."""

import pytest

from tests.external.monitoring.queries import (
    LOKI_RULE_FILES,
    dashboard_targets,
    dashboard_variable_queries,
    fenced_blocks,
    logql_errors,
    promql_error,
    provisioning_logql,
    rule_expressions,
    substitute,
)

PROMQL = [
    *(pytest.param(expr, id=f"rule:{name}") for name, expr in rule_expressions()),
    *(
        pytest.param(substitute(expr), id=f"{file}:{title}")
        for file, title, expr in dashboard_targets("prometheus")
    ),
    *(pytest.param(expr, id=f"{doc}:promql") for doc, expr in fenced_blocks("promql")),
]


@pytest.mark.parametrize("query", PROMQL)
def test_promql_parses(query: str) -> None:
    assert promql_error(query) is None, promql_error(query)


def test_variable_queries_use_label_values_of_real_metrics() -> None:
    queries = list(dashboard_variable_queries("prometheus"))
    assert queries
    for query in queries:
        assert query.startswith("label_values(")
        selector = query[len("label_values(") : query.rindex(",")]
        assert promql_error(substitute(selector)) is None, query


def test_all_logql_parses_with_grafanas_grammar() -> None:
    queries = [
        *(substitute(expr) for _, _, expr in dashboard_targets("loki")),
        *(expr for _, expr in fenced_blocks("logql")),
        *(substitute(query) for query in provisioning_logql().values()),
        *(expr for _, expr in rule_expressions(LOKI_RULE_FILES)),
    ]
    assert len(queries) >= 10
    assert logql_errors(queries) == []


def test_loki_rules_are_logql_metric_queries() -> None:
    """A ruler expression must be a metric query with a comparison, never a log query."""
    expressions = dict(rule_expressions(LOKI_RULE_FILES))
    assert expressions
    assert logql_errors(list(expressions.values())) == []
    for name, expr in expressions.items():
        assert expr.startswith("sum by ("), name
        assert "| json " in expr, f"{name}: extract only the keys it needs, never `| json |`"
        assert expr.rstrip().split()[-2] in {">", ">=", "<", "=="}, name


def test_the_logql_checker_rejects_broken_queries() -> None:
    broken = ['{app="glassbox" | json', 'sum(count_over_time({app="glassbox"}[5m])']
    assert [failure["query"] for failure in logql_errors(broken)] == broken


def test_the_promql_checker_rejects_broken_queries() -> None:
    assert promql_error("sum(rate(http_requests_total[5m])") is not None
    assert promql_error("histogram_quantile(rate(x[5m]))") is not None
