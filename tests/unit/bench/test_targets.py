"""`make bench`'s targets as data (bench/targets.py): a ratio is the median of the rounds'
back-to-back pairs, the bound is written once and shown with the value, and a fast path
passes only when its gain clears the A/A pair's noise."""

from bench.servers import Measurement
from bench.targets import Results, Target, fast_path_gain, fast_path_margin, noise, paired_ratio


def _m(
    server: str, rps: float, round_number: int, model: str = "iris", rows: int = 1
) -> Measurement:
    m = Measurement(server, 16, 1, int(rps), 1.0, rps, 1.0, 2.0, 0, 0, 0.1, model=model)
    m.round = round_number
    return m


def test_a_ratio_is_the_median_of_the_rounds_pairs_not_of_the_best_rounds() -> None:
    runs = [
        _m("glassbox", 100, 1), _m("bare", 100, 1),
        _m("glassbox", 90, 2), _m("bare", 100, 2),
        _m("glassbox", 200, 3), _m("bare", 100, 3),  # one lucky round
    ]  # fmt: skip
    assert paired_ratio(runs, "bare", 16, 1) == 1.0  # the median pair, not 200 / 100


def test_a_target_writes_its_bound_once_and_compares_both_ways() -> None:
    results = Results(connections=[16])
    at_least = Target("x {bound} y", lambda _r: 0.95, 1.0)
    at_most = Target("p99 {bound} y", lambda _r: 0.95, 1.1, at_least=False)
    assert at_least.check(results) == ("x >= 1x y (0.95x)", False)
    assert at_most.check(results) == ("p99 <= 1.1x y (0.95x)", True)


def test_a_fast_path_must_gain_more_than_two_identical_servers_differ() -> None:
    runs = []
    for r, (same, on, off) in enumerate([(98, 100, 80), (103, 100, 82), (100, 100, 79)], 1):
        runs += [
            _m("glassbox", 100, r, "fast:control"),
            _m("glassbox-same", same, r, "fast:control"),
            _m("glassbox", on, r, "fast:v2-plain-tensor"),
            _m("glassbox-no-v2-plain-tensor", off, r, "fast:v2-plain-tensor"),
            _m("glassbox", 100, r, "fast:direct-dispatch"),
            _m("glassbox-no-direct-dispatch", 99, r, "fast:direct-dispatch"),
        ]
    assert round(noise(runs), 3) == round(1 - 100 / 103, 3)  # the widest A/A round
    assert fast_path_gain(runs, "v2-plain-tensor") == 100 / 80 - 1
    assert fast_path_margin(runs, "v2-plain-tensor") > 1  # pays for its place
    assert fast_path_margin(runs, "direct-dispatch") < 1  # inside the noise: goes
