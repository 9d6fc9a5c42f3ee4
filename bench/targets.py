"""`make bench`'s targets, as data: each a ratio the run measured, one threshold, one way to
compare. The text shows the threshold and the value, so a target's bound is written once.

Ratios take the median over rounds of pairs measured back to back (best-of-rounds per
server, as the tables show, let one server's lucky round decide a ratio: on a shared
2-core machine one round's pair read 0.66x, the next 0.99x).
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from bench.scenarios import FAST_PATH_LOADS
from bench.servers import BATCH_ROWS, Measurement


@dataclass
class Results:
    """Everything one run measured, each section's every round."""

    connections: list[int]
    runs: list[Measurement] = field(default_factory=list)  # Iris and breast cancer sections
    best: list[Measurement] = field(default_factory=list)  # their best round per cell
    tails: list[Measurement] = field(default_factory=list)
    model_call_us: dict[str, dict[str, float]] = field(default_factory=dict)
    stall: dict[str, float] = field(default_factory=dict)
    wide: list[Measurement] = field(default_factory=list)
    v2_runs: list[Measurement] = field(default_factory=list)
    v2: list[Measurement] = field(default_factory=list)
    shadow_runs: list[Measurement] = field(default_factory=list)
    shadow: list[Measurement] = field(default_factory=list)
    trace_runs: list[Measurement] = field(default_factory=list)
    traced: list[Measurement] = field(default_factory=list)
    estimate_runs: list[Measurement] = field(default_factory=list)
    estimated: list[Measurement] = field(default_factory=list)
    fast_runs: list[Measurement] = field(default_factory=list)
    store_written_share: float = 0.0  # rows the shared store got per row answered
    body_us: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Target:
    """`text` with `{bound}` where the threshold goes (">= 1.0x")."""

    text: str
    measure: Callable[[Results], float]
    threshold: float
    at_least: bool = True
    unit: str = "x"
    digits: int = 2

    def check(self, results: Results) -> tuple[str, bool]:
        value = self.measure(results)
        ok = value >= self.threshold if self.at_least else value <= self.threshold
        bound = f"{'>=' if self.at_least else '<='} {self.threshold:g}{self.unit}"
        return f"{self.text.format(bound=bound)} ({value:.{self.digits}f}{self.unit})", ok


def paired_ratio(
    runs: list[Measurement],
    other: str,
    connections: int,
    rows: int,
    model: str = "iris",
    metric: str = "requests_per_second",
    server: str = "glassbox",
) -> float:
    """`server`'s `metric` over `other`'s, each round's pair measured back to back, the
    median of the rounds."""
    by_round: dict[tuple[str, int], float] = {
        (m.server, m.round): getattr(m, metric)
        for m in runs
        if (m.model, m.connections, m.rows) == (model, connections, rows)
    }
    rounds = sorted({r for (name, r) in by_round if name == other})
    return statistics.median(by_round[(server, r)] / by_round[(other, r)] for r in rounds)


def batch_gain(runs: list[Measurement], connections: int) -> float:
    """Glassbox's rows/s in batches of BATCH_ROWS over its rows/s one row per request, the
    same round, median of the rounds: what batching buys on this machine."""
    rows_per_second = {
        (m.rows, m.round): m.rows_per_second
        for m in runs
        if (m.server, m.model, m.connections) == ("glassbox", "iris", connections)
    }
    rounds = sorted({r for (rows, r) in rows_per_second if rows == BATCH_ROWS})
    return statistics.median(
        rows_per_second[(BATCH_ROWS, r)] / rows_per_second[(1, r)] for r in rounds
    )


def shadow_ratio(runs: list[Measurement], server: str, connections: int, metric: str) -> float:
    """`server` over plain glassbox in the shadow and events section, median of the rounds."""
    return paired_ratio(runs, "glassbox", connections, 1, "iris-shadow", metric, server)


def trace_ratio(runs: list[Measurement], server: str, metric: str = "requests_per_second") -> float:
    """`server` over its untraced twin in the tracing section (bare-glassbox-otel over
    bare-glassbox, every glassbox-* over glassbox), median of the rounds."""
    other = "bare-glassbox" if server.startswith("bare-") else "glassbox"
    (connections,) = {m.connections for m in runs}
    return paired_ratio(runs, other, connections, 1, "iris-traced", metric, server)


def estimate_ratio(
    runs: list[Measurement], server: str, metric: str = "requests_per_second"
) -> float:
    """`server` over its unestimated twin in the estimation section, median of the rounds."""
    model, other = (
        ("diabetes", "glassbox-no-nanny") if server == "glassbox-nanny"
        else ("iris-estimated", "glassbox-unestimated")
    )  # fmt: skip
    (connections,) = {m.connections for m in runs}
    return paired_ratio(runs, other, connections, 1, model, metric, server)


def estimate_targets(results: Results) -> list[Target]:
    """Estimated quality's cost: a lookup for a classifier, a small model call per loop
    turn for a regressor."""
    if not results.estimate_runs:
        return []
    return [
        Target(
            "/predict with estimated accuracy (calibration) {bound} the same model without",
            lambda r: estimate_ratio(r.estimate_runs, "glassbox"),
            0.97,
        ),
        Target(
            "/predict with estimated accuracy p99 {bound} the same model without",
            lambda r: estimate_ratio(r.estimate_runs, "glassbox", "p99_ms"),
            1.2,
            at_least=False,
        ),
        Target(
            "a regressor's /predict with its loss model {bound} the same regressor without",
            lambda r: estimate_ratio(r.estimate_runs, "glassbox-nanny"),
            0.9,
        ),
        Target(
            "a regressor's /predict with its loss model p99 {bound} the same regressor without",
            lambda r: estimate_ratio(r.estimate_runs, "glassbox-nanny", "p99_ms"),
            1.2,
            at_least=False,
        ),
    ]


def v2_ratio(runs: list[Measurement], rows: int, connections: int) -> float:
    """Glassbox's V2 infer over its own /predict (or /predict/batch), the same rows."""
    by_round = {
        (m.model, m.round): m.requests_per_second
        for m in runs
        if m.server == "glassbox" and m.rows == rows and m.connections == connections
    }
    rounds = sorted({r for (model, r) in by_round if model == "iris-v2"})
    return statistics.median(by_round[("iris-v2", r)] / by_round[("iris", r)] for r in rounds)


def v2_binary_ratio(runs: list[Measurement], rows: int, connections: int) -> float:
    """Glassbox's V2 infer with binary tensors both ways over JSON tensors, req/s, the same
    rows, the median of the rounds' pairs."""
    by_round = {
        (m.model, m.round): m.requests_per_second
        for m in runs
        if m.server == "glassbox" and m.rows == rows and m.connections == connections
    }
    rounds = sorted({r for (model, r) in by_round if model == "iris-v2-binary"})
    return statistics.median(
        by_round[("iris-v2-binary", r)] / by_round[("iris-v2", r)] for r in rounds
    )


def v2_peer_ratio(runs: list[Measurement], rows: int, connections: int) -> float:
    """Glassbox's V2 infer over MLServer's, req/s, the median of the rounds' pairs."""
    return paired_ratio(runs, "mlserver", connections, rows, "iris-v2")


def fast_path_gain(runs: list[Measurement], name: str) -> float:
    """Glassbox with every fast path on over Glassbox with `name` off, on the request that
    takes it: the median of the rounds' pairs, less 1 (0.05: 5 % more requests/s)."""
    picked = [m for m in runs if m.model in (f"fast:{name}", f"fast:{name}-v2")]
    rows = FAST_PATH_LOADS[name]["rows"]
    connections = picked[0].connections
    ratio = paired_ratio(picked, f"glassbox-no-{name}", connections, rows, picked[0].model)
    return ratio - 1


def noise(runs: list[Measurement]) -> float:
    """The A/A pair's widest round: |glassbox / glassbox-same - 1|, the most two identical
    servers differed by in this run."""
    control = [m for m in runs if m.model == "fast:control"]
    by_round = {(m.server, m.round): m.requests_per_second for m in control}
    rounds = sorted({r for (_, r) in by_round})
    return max(abs(by_round[("glassbox", r)] / by_round[("glassbox-same", r)] - 1) for r in rounds)


def fast_path_margin(runs: list[Measurement], name: str) -> float:
    """A fast path's gain over the noise: above 1, it pays for its place."""
    return fast_path_gain(runs, name) / max(noise(runs), 1e-9)


def _predict_targets(c: int) -> list[Target]:
    return [
        Target(
            f"/predict at {c} conns {{bound}} bare-sklearn req/s",
            lambda r: paired_ratio(r.runs, "bare-sklearn", c, 1),
            1.0,
        ),
        Target(
            f"/predict at {c} conns p99 {{bound}} bare-sklearn",
            lambda r: _best(r, "glassbox", c).p99_ms / _best(r, "bare-sklearn", c).p99_ms,
            1.1,
            at_least=False,
        ),
        Target(
            f"/predict at {c} conns {{bound}} bare-glassbox req/s",
            lambda r: paired_ratio(r.runs, "bare-glassbox", c, 1),
            1.0,
        ),
        Target(
            f"/predict at {c} conns p99 {{bound}} bare-glassbox",
            lambda r: paired_ratio(r.runs, "bare-glassbox", c, 1, metric="p99_ms"),
            1.1,
            at_least=False,
        ),
        Target(
            f"/predict at {c} conns {{bound}} raw-asgi req/s",
            lambda r: paired_ratio(r.runs, "raw-asgi", c, 1),
            0.6,
        ),
        # Ratios, not rows/s: an absolute target passed or failed with the machine's speed.
        Target(
            f"/predict/batch of {BATCH_ROWS} at {c} conns {{bound}} bare-glassbox rows/s",
            lambda r: paired_ratio(
                r.runs, "bare-glassbox", c, BATCH_ROWS, metric="rows_per_second"
            ),
            1.0,
        ),
        Target(
            f"/predict/batch of {BATCH_ROWS} at {c} conns {{bound}} Glassbox's one-row rows/s",
            lambda r: batch_gain(r.runs, c),
            25,
            digits=1,
        ),
    ]


def _best(results: Results, server: str, connections: int) -> Measurement:
    return next(
        m for m in results.best if (m.server, m.connections, m.rows) == (server, connections, 1)
    )


def _wide(r: Results, other: str, rows: int, connections: int) -> float:
    return paired_ratio(r.runs, other, connections, rows, "breast_cancer")


def _v2(r: Results, rows: int, connections: int) -> float:
    return v2_ratio(r.v2_runs, rows, connections)


def _shadow(r: Results, connections: int, metric: str) -> float:
    return shadow_ratio(r.shadow_runs, "glassbox-shadow", connections, metric)


def _store(r: Results, connections: int, metric: str) -> float:
    return shadow_ratio(r.shadow_runs, "glassbox-store", connections, metric)


def _fast(r: Results, name: str) -> float:
    return fast_path_margin(r.fast_runs, name)


def _tail_ratios(results: Results) -> list[float]:
    pairs = zip(results.tails[::2], results.tails[1::2], strict=True)
    return [glassbox.p99_ms / bare.p99_ms for bare, glassbox in pairs]


def targets(results: Results) -> list[Target]:
    """Every target of this run (some exist per connection count, or only when a section
    ran)."""
    c0 = results.connections[0]
    found = [target for c in results.connections for target in _predict_targets(c)]
    found.append(
        Target(
            "model call for one row (model_inference_duration_seconds) {bound} the NumPy floor "
            "timed the same way",
            lambda r: (
                r.model_call_us["in_situ"]["glassbox"] / r.model_call_us["in_situ"]["bare-numpy"]
            ),
            3,
            at_least=False,
            digits=1,
        )
    )
    if results.stall:
        found.append(
            Target(
                "/predict p50 beside 4 connections of 11,500-row batches {bound} alone",
                lambda r: r.stall["p50_beside_oversize_ms"] / r.stall["p50_alone_ms"],
                5,
                at_least=False,
                digits=1,
            )
        )
    if results.tails:
        found.append(
            Target(
                "tail: every fresh 64-conn run p99 {bound} bare-sklearn's (the worst)",
                lambda r: max(_tail_ratios(r)),
                1.1,
                at_least=False,
            )
        )
        found.append(
            Target(
                "tail: wrk timeouts {bound}",
                lambda r: sum(m.timeouts for m in r.tails if m.server == "glassbox"),
                0,
                at_least=False,
                unit="",
                digits=0,
            )
        )
    for rows in (1, BATCH_ROWS):
        route = "/predict" if rows == 1 else f"/predict/batch of {rows}"
        found += [
            Target(
                f"breast cancer (30 inputs) {route} at {c0} conns {{bound}} bare-sklearn req/s",
                partial(_wide, other="bare-sklearn", rows=rows, connections=c0),
                1.0,
            ),
            Target(
                f"breast cancer (30 inputs) {route} at {c0} conns {{bound}} bare-glassbox req/s",
                partial(_wide, other="bare-glassbox", rows=rows, connections=c0),
                0.85,
            ),
        ]
    for rows in (1, BATCH_ROWS):
        route = "infer, 1 row" if rows == 1 else f"infer, {rows} rows"
        native = "/predict" if rows == 1 else "/predict/batch"
        found.append(
            Target(
                f"Open Inference Protocol {route} {{bound}} {native} req/s",
                partial(_v2, rows=rows, connections=c0),
                0.9,
            )
        )
    for c in sorted({m.connections for m in results.shadow_runs}):
        found += [
            Target(
                f"/predict with a shadow at {c} conns {{bound}} without req/s",
                partial(_shadow, connections=c, metric="requests_per_second"),
                0.8,
            ),
            Target(
                f"/predict with a shadow at {c} conns p99 {{bound}} without",
                partial(_shadow, connections=c, metric="p99_ms"),
                1.2,
                at_least=False,
            ),
        ]
    for c in sorted({m.connections for m in results.shadow_runs if m.server == "glassbox-store"}):
        found += [
            Target(
                f"/predict with the shared prediction store at {c} conns {{bound}} the memory's req/s",
                partial(_store, connections=c, metric="requests_per_second"),
                0.9,
            ),
            Target(
                f"/predict with the shared prediction store at {c} conns p99 {{bound}} the memory's",
                partial(_store, connections=c, metric="p99_ms"),
                1.2,
                at_least=False,
            ),
        ]
    if results.trace_runs:
        found += [
            Target(
                "/predict with a caller's traceparent, no exporter {bound} without req/s",
                lambda r: trace_ratio(r.trace_runs, "glassbox-context"),
                0.97,
            ),
            Target(
                "/predict with spans exported, 1 % sampled {bound} without req/s",
                lambda r: trace_ratio(r.trace_runs, "glassbox-spans-1"),
                0.95,
            ),
        ]
    found += [
        Target(
            "generated Iris body validates {bound} the hand-written one's time",
            lambda r: r.body_us["generated"] / r.body_us["hand-written"],
            1.1,
            at_least=False,
        ),
        Target(
            f"generated batch of {BATCH_ROWS} validates {{bound}} the hand-written one's time",
            lambda r: r.body_us["generated batch"] / r.body_us["hand-written batch"],
            1.1,
            at_least=False,
        ),
    ]
    if results.fast_runs:
        found += [
            Target(
                f"fast path {name}: its gain over its slow twin {{bound}} the A/A noise",
                partial(_fast, name=name),
                1.0,
            )
            for name in FAST_PATH_LOADS
        ]
    return found


def checks(results: Results) -> list[tuple[str, bool]]:
    return [target.check(results) for target in [*targets(results), *estimate_targets(results)]]
