"""Exemplars across worker processes (app/observability/exemplars.py), without the workers:
each worker's file, written by the deferred owner's "exemplars" stage, and the merge that
keeps each bucket's newest."""

import json
from pathlib import Path

from app.observability.exemplars import WorkerExemplars, exemplar_labels, newest_exemplars


def test_the_newest_exemplar_of_a_bucket_wins_across_worker_files(tmp_path: Path) -> None:
    bucket = {"handler": "/predict", "method": "POST", "le": "0.005"}
    ids = {"request_id": "a"}
    older = {"name": "h_bucket", "labels": bucket, "exemplar": ids, "value": 0.004, "time": 10}
    newer = {**older, "exemplar": {"request_id": "b", "trace_id": "c" * 32}, "value": 0.003,
             "time": 20}  # fmt: skip
    (tmp_path / "exemplars_1.json").write_text(json.dumps([newer]))
    (tmp_path / "exemplars_2.json").write_text(json.dumps([older]))
    (tmp_path / "exemplars_3.json").write_text("[{")  # caught mid-write: ignored
    (tmp_path / ".exemplars_4.json.tmp").write_text(json.dumps([{**older, "time": 99}]))

    merged = newest_exemplars(tmp_path)

    ((_, exemplar),) = merged.items()
    assert exemplar.labels == {"request_id": "b", "trace_id": "c" * 32}
    assert (exemplar.value, exemplar.timestamp) == (0.003, 20)


def test_a_worker_writes_its_file_when_it_has_new_exemplars_only(tmp_path: Path) -> None:
    worker = WorkerExemplars(tmp_path)
    worker.flush()
    assert list(tmp_path.iterdir()) == []  # nothing recorded: no file
    key = ("h_bucket", (("le", "0.005"),))
    worker.record(key, {"request_id": "r-1"}, 0.004)
    worker.flush()
    (written,) = tmp_path.glob("exemplars_*.json")
    assert [entry["exemplar"] for entry in json.loads(written.read_text())] == [
        {"request_id": "r-1"}
    ]
    stamp = written.stat().st_mtime_ns
    worker.flush()  # nothing new since: the file stays as it is
    assert written.stat().st_mtime_ns == stamp
    assert newest_exemplars(tmp_path)[key].labels == {"request_id": "r-1"}


def test_an_exemplar_keeps_both_ids_while_they_fit_openmetrics_128_characters() -> None:
    trace = "d" * 32
    fits = "r" * (128 - len("request_id") - len("trace_id") - 32)
    assert exemplar_labels(fits, trace) == {"request_id": fits, "trace_id": trace}
    assert exemplar_labels(fits + "r", trace) == {"trace_id": trace}  # Tempo finds the rest
    assert exemplar_labels("r" * 118, None) == {"request_id": "r" * 118}
    assert exemplar_labels("r" * 119, None) is None
    assert exemplar_labels(None, trace) == {"trace_id": trace}
