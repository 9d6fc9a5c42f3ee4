"""The HTTP edge against hostile clients: head limits, slow heads, parser errors, connection
caps. Each refusal is JSON with a request id, closes the connection, and is accounted."""

import http.client
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.service import VALID_FLOWER, Service, running_service, sample


@pytest.fixture(scope="module")
def edge(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(
        model_dir,
        tmp_path_factory.mktemp("edge"),
        MAX_HEADER_BYTES="2048",
        HEADER_TIMEOUT_SECONDS="2",
        MAX_CONNECTIONS="40",
    ) as service:
        yield service


def split(response: bytes) -> tuple[int, dict[str, str], dict[str, object]]:
    head, _, body = response.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {
        name.lower(): value.strip() for name, value in (line.split(":", 1) for line in header_lines)
    }
    return int(status_line.split()[1]), headers, json.loads(body)


def refused_count(service: Service, status: int) -> float:
    return sample(
        service.metrics(), "http_requests_total", handler="none", method="GET", status=str(status)
    )


def assert_refusal(response: bytes, status: int, code: str) -> str:
    got, headers, body = split(response)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert body["error"]["code"] == code  # type: ignore[index]
    assert body["request_id"] == headers["x-request-id"]
    return str(body["request_id"])


def test_a_head_over_the_limit_is_431_logged_and_counted(edge: Service) -> None:
    before = refused_count(edge, 431)
    response = edge.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 5000 + b"\r\n\r\n")
    request_id = assert_refusal(response, 431, "request_header_fields_too_large")
    (line,) = edge.lines_for(request_id)
    assert (line["event"], line["status"], line["path"]) == ("http_request", 431, "none")
    assert refused_count(edge, 431) == before + 1


def test_a_head_that_never_ends_is_cut_off_at_the_limit(edge: Service) -> None:
    with socket.create_connection(("127.0.0.1", edge.port), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        for _ in range(10):  # 10 KB of headers in 1 KB pieces, never the blank line
            if select.select([sock], [], [], 0.05)[0]:
                break  # the server answered: stop sending before it resets us
            sock.sendall(b"X-Filler: " + b"b" * 1000 + b"\r\n")
        response = b""
        while chunk := sock.recv(65_536):
            response += chunk
    assert_refusal(response, 431, "request_header_fields_too_large")


def test_ten_50_mb_headers_leave_memory_bounded_and_predict_answering(
    model_dir: Path, tmp_path: Path
) -> None:
    """Issue 9's attack, at the default limit: the pod stays within 100 MB of idle."""

    def peak_rss_mb(pid: int) -> float:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024

    def attack() -> None:
        try:
            with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bomb: ")
                piece = b"c" * 65_536
                for _ in range(800):  # 50 MB
                    sock.sendall(piece)
        except OSError:
            pass  # the server closed the connection: what we want

    with running_service(model_dir, tmp_path) as service:
        service.post("/predict", VALID_FLOWER)
        idle = peak_rss_mb(service.process.pid)
        attackers = [threading.Thread(target=attack) for _ in range(10)]
        for thread in attackers:
            thread.start()
        answered = [service.post("/predict", VALID_FLOWER).status_code for _ in range(20)]
        for thread in attackers:
            thread.join(timeout=30)
        assert answered == [200] * 20
        assert peak_rss_mb(service.process.pid) - idle < 100
        refused = [line for line in service.log_lines() if line.get("status") == 431]
        assert len(refused) == 10


def test_what_the_parser_rejects_is_a_json_400_with_a_request_id(edge: Service) -> None:
    response = edge.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-ID: a\rb\r\n\r\n")
    request_id = assert_refusal(response, 400, "malformed_request")
    (line,) = edge.lines_for(request_id)
    assert line["error_code"] == "malformed_request"


def test_300_slowloris_connections_are_closed_while_predict_answers(
    model_dir: Path, tmp_path: Path
) -> None:
    """Issue 9's slowloris: 300 connections sending a byte a second, all closed by the head
    timeout (3 s here, 10 s by default) while /predict answers within 1 s throughout."""
    with running_service(model_dir, tmp_path, HEADER_TIMEOUT_SECONDS="3") as service:
        sockets = [socket.create_connection(("127.0.0.1", service.port)) for _ in range(300)]
        for sock in sockets:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
        started = time.monotonic()
        closed: set[int] = set()
        try:
            while len(closed) < len(sockets) and time.monotonic() - started < 15:
                for index, sock in enumerate(sockets):
                    if index in closed:
                        continue
                    try:
                        sock.sendall(b"s")  # one more byte of the header value
                    except OSError:
                        closed.add(index)
                assert requests.post(f"{service.url}/predict", json=VALID_FLOWER, timeout=1).ok
                time.sleep(1.0)
        finally:
            for sock in sockets:
                sock.close()
        assert len(closed) == len(sockets)
        assert time.monotonic() - started < 3 + 4  # the timeout plus a few seconds' sends
        timed_out = [line for line in service.log_lines() if line.get("status") == 408]
        assert len(timed_out) == 300


def test_a_connection_that_sends_nothing_is_closed_at_the_timeout(edge: Service) -> None:
    with socket.create_connection(("127.0.0.1", edge.port), timeout=10) as sock:
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed, no response: there was no request
        assert 1.5 < time.monotonic() - started < 5


def test_connections_over_the_cap_get_503_with_retry_after(edge: Service) -> None:
    held = [socket.create_connection(("127.0.0.1", edge.port)) for _ in range(40)]
    try:
        time.sleep(0.2)
        response = edge.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        request_id = assert_refusal(response, 503, "too_many_connections")
        assert split(response)[1]["retry-after"] == "1"
        assert edge.lines_for(request_id)[0]["status"] == 503
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    assert requests.get(f"{edge.url}/healthz", timeout=5).ok


def test_the_open_files_soft_limit_is_raised_to_the_hard_limit(edge: Service) -> None:
    limits = Path(f"/proc/{edge.process.pid}/limits").read_text()
    (line,) = [row for row in limits.splitlines() if row.startswith("Max open files")]
    soft, hard = line.split()[3:5]
    assert soft == hard


def test_forwarded_headers_are_ignored_unless_the_proxy_is_configured(
    edge: Service, model_dir: Path, tmp_path: Path
) -> None:
    forged = {"X-Forwarded-For": "6.6.6.6"}
    request_id = edge.post("/predict", VALID_FLOWER, headers=forged).headers["x-request-id"]
    assert edge.lines_for(request_id)[-1]["client"].startswith("127.0.0.1:")
    with running_service(model_dir, tmp_path, FORWARDED_ALLOW_IPS="127.0.0.1") as proxied:
        request_id = proxied.post("/predict", VALID_FLOWER, headers=forged).headers["x-request-id"]
        assert proxied.lines_for(request_id)[-1]["client"].startswith("6.6.6.6")


def test_keep_alive_requests_are_not_held_back_by_nagle(edge: Service) -> None:
    """uvicorn writes a response as head + body; without TCP_NODELAY on the pre-bound
    sockets every request on a kept-alive connection waited ~40 ms for a delayed ACK."""
    connection = http.client.HTTPConnection("127.0.0.1", edge.port, timeout=5)
    body = json.dumps(VALID_FLOWER).encode()
    started = time.monotonic()
    for _ in range(20):
        connection.request("POST", "/predict", body, {"content-type": "application/json"})
        assert connection.getresponse().read()
    connection.close()
    assert time.monotonic() - started < 0.4  # 20 x 40 ms = 0.8 s with the stall
