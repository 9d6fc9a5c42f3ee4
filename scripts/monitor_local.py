"""The shipped Prometheus (rules included) and Alertmanager on 127.0.0.1, beside `make run`.

    python -m scripts.monitor_local foreground   # make monitor: Ctrl-C stops all three
    python -m scripts.monitor_local up           # make monitor-up: in the background
    python -m scripts.monitor_local down         # make monitor-down

Prometheus on :9090 scrapes the service where `make run` serves it (the ports it wrote
beside its pid file, `.run/glassbox.serving.json`: PORT, or METRICS_PORT when set; :8000
when nothing serves yet) and sends alerts to Alertmanager on :9093. Alertmanager runs the
shipped routing and inhibitions (monitoring/alertmanager/) with every receiver pointed at a
printer on :9094, which writes each notification it gets as one line to the terminal
(foreground) and to .monitoring/alerts.log: the shipped receivers are in-cluster webhooks,
unreachable from a laptop. group_wait is 5 s here, not 30 s, and group_interval 30 s, not
5 min, so an alert shows moments after it fires and its resolution within a minute of it.
The pid files it writes (.monitoring/*.pid) are the only way `down` finds what to stop.
Variables (`make help` lists them): SERVICE_PORT (overrides what the service wrote),
PID_FILE, PROMETHEUS_PORT, ALERTMANAGER_PORT, ALERT_PRINTER_PORT, MONITOR_DIR.
"""

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from app.core.lifecycle import DEFAULT_PID_FILE, serving, serving_file

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "monitoring"
LOCAL_GROUP_WAIT = "5s"
# Resolved notifications wait for the group's next interval: the shipped 5 min made a
# local TargetDown resolve 4.5 min after the service was back.
LOCAL_GROUP_INTERVAL = "30s"
DEFAULT_SERVICE_PORT = 8000


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def state_dir() -> Path:
    return Path(os.environ.get("MONITOR_DIR", ROOT / ".monitoring"))


def service_port() -> tuple[int, str]:
    """The port to scrape and where it came from: SERVICE_PORT, else the ports the running
    `make run` wrote beside its pid file (its metrics port), else the default."""
    if os.environ.get("SERVICE_PORT"):
        return int(os.environ["SERVICE_PORT"]), "SERVICE_PORT"
    pid_file = os.environ.get("PID_FILE") or str(ROOT / DEFAULT_PID_FILE)
    written = serving(pid_file)
    if written is None:
        return DEFAULT_SERVICE_PORT, "the default: no `make run` serving from this checkout"
    return int(written["metrics_port"]), f"{serving_file(pid_file)}, pid {written['pid']}"


def local_alertmanager_config(printer_url: str) -> dict[str, Any]:
    """The shipped config with each webhook receiver sent to the local printer."""
    config: dict[str, Any] = yaml.safe_load(
        (MONITORING / "alertmanager" / "alertmanager.yaml").read_text()
    )
    config["route"]["group_wait"] = LOCAL_GROUP_WAIT
    config["route"]["group_interval"] = LOCAL_GROUP_INTERVAL
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{printer_url}/{receiver['name']}"
    return config


def local_prometheus_config(service_port: int, alertmanager_port: int) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(
        (MONITORING / "prometheus" / "prometheus.yaml").read_text()
    )
    config["rule_files"] = [str(MONITORING / "prometheus" / rule) for rule in config["rule_files"]]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [
        f"127.0.0.1:{alertmanager_port}"
    ]
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            static["targets"] = [f"127.0.0.1:{service_port}"]
    return config


class _Printer(BaseHTTPRequestHandler):
    log_path: Path

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with self.log_path.open("a") as log:
            for alert in body.get("alerts", []):
                line = {
                    "received": datetime.now(UTC).isoformat(timespec="seconds"),
                    "receiver": self.path.strip("/"),
                    "status": alert.get("status"),
                    "alertname": alert.get("labels", {}).get("alertname"),
                    "severity": alert.get("labels", {}).get("severity"),
                    "summary": alert.get("annotations", {}).get("summary"),
                    "runbook_url": alert.get("annotations", {}).get("runbook_url"),
                }
                log.write(json.dumps(line) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the alerts are the output."""


def serve_printer(port: int, log_path: Path) -> None:
    handler = type("Printer", (_Printer,), {"log_path": log_path})
    ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()


def _wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=1) as response,  # noqa: S310 (loopback)
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} not ready after {timeout:.0f} s; see the logs in {state_dir()}")


def start() -> dict[str, subprocess.Popen[bytes]]:
    """Start printer, Alertmanager and Prometheus; each one's pid in <dir>/<name>.pid."""
    data = state_dir()
    for sub in ("prometheus", "alertmanager"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    ports = {
        "prometheus": _port("PROMETHEUS_PORT", 9090),
        "alertmanager": _port("ALERTMANAGER_PORT", 9093),
        "printer": _port("ALERT_PRINTER_PORT", 9094),
    }
    am_config, prom_config = data / "alertmanager.yaml", data / "prometheus.yaml"
    am_config.write_text(
        yaml.safe_dump(local_alertmanager_config(f"http://127.0.0.1:{ports['printer']}"))
    )
    scraped, source = service_port()
    prom_config.write_text(yaml.safe_dump(local_prometheus_config(scraped, ports["alertmanager"])))
    commands = {
        "printer": [sys.executable, "-m", "scripts.monitor_local", "printer"],
        "alertmanager": [
            "prometheus-alertmanager", f"--config.file={am_config}",
            f"--storage.path={data / 'alertmanager'}",
            f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
            "--cluster.listen-address=", "--log.level=warn",
        ],
        "prometheus": [
            "prometheus", f"--config.file={prom_config}",
            f"--storage.tsdb.path={data / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            "--log.level=warn", "--enable-feature=exemplar-storage",
        ],
    }  # fmt: skip
    processes = {}
    for name, command in commands.items():
        with (data / f"{name}.log").open("ab") as log:
            processes[name] = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        (data / f"{name}.pid").write_text(f"{processes[name].pid}\n")
    _wait_ready(f"http://127.0.0.1:{ports['alertmanager']}/-/ready")
    _wait_ready(f"http://127.0.0.1:{ports['prometheus']}/-/ready")
    print(
        f"Prometheus http://127.0.0.1:{ports['prometheus']}  "
        f"Alertmanager http://127.0.0.1:{ports['alertmanager']}  "
        f"alerts -> {data / 'alerts.log'}\n"
        f"scraping the service on 127.0.0.1:{scraped} ({source})",
        flush=True,
    )
    return processes


def stop() -> list[str]:
    """Stop each process a pid file names; the names of those stopped."""
    stopped = []
    for pid_file in sorted(state_dir().glob("*.pid")):
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGTERM)
            stopped.append(pid_file.stem)
        pid_file.unlink()
    return stopped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["foreground", "up", "down", "printer"])
    command = parser.parse_args().command
    data = state_dir()
    if command == "printer":  # the child `start` runs
        serve_printer(_port("ALERT_PRINTER_PORT", 9094), data / "alerts.log")
        return 0
    if command == "down":
        print("stopped: " + (", ".join(stop()) or "nothing was running"))
        return 0
    if any(data.glob("*.pid")):
        raise SystemExit(f"already running (pid files in {data}); `make monitor-down` first")
    processes = start()
    if command == "up":
        print("running in the background; `make monitor-down` stops it")
        return 0
    print("Ctrl-C stops all three; alerts print here", flush=True)
    try:
        with subprocess.Popen(["tail", "-n", "0", "-F", str(data / "alerts.log")]) as tail:
            while all(p.poll() is None for p in processes.values()):
                time.sleep(1)
            tail.terminate()
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
