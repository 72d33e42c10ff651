"""What an anonymous caller of the public entry point (the stack's real NGINX in front of the
real ingest instances) can learn: readiness and metrics are not served there, every error
NGINX answers itself is problem details like the API's, and an instance's own /ready names
no host or exception text (those go to its log)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from stack.orchestrator import LocalStack
from stack.process import wait_until
from stack.services.ingest import IngestInstance
from stack.services.nginx import HEALTH_PATH, TEMPLATE, nginx_binary, render
from tests.support.ingest import ingest_api
from tests.support.network import free_port

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def balancer(stack_env) -> str:
    return stack_env["HOVER_INGEST_URL"]


@pytest.fixture(scope="module")
def instance_urls(stack: LocalStack) -> list[str]:
    return [svc.url for svc in stack.services.values() if isinstance(svc, IngestInstance)]


def assert_problem(status: int, content_type: str, body: bytes, expected: int, slug: str):
    assert status == expected, body[:500]
    assert content_type.split(";")[0].strip() == PROBLEM_JSON, (content_type, body[:500])
    import json

    problem = json.loads(body)
    assert problem["status"] == expected
    assert problem["type"] == f"https://hoverboard-platform.invalid/problems/{slug}"
    assert problem["title"] and problem["detail"]
    return problem


def raw_exchange(url: str, request: bytes) -> tuple[int, str, bytes]:
    """Send bytes no HTTP client would send; the status, Content-Type and body of the answer."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):  # nginx closes the connection after these errors
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers.get("Content-Type", ""), body


@pytest.mark.parametrize("path", ["/ready", "/metrics", "/re%61dy", "//metrics", "/metrics/",
                                  "/ready?verbose=1", "/READY"])
def test_ready_and_metrics_are_not_served_through_the_balancer(balancer, instance_urls,
                                                               path) -> None:
    response = requests.get(balancer + path, timeout=10)
    assert_problem(response.status_code, response.headers["Content-Type"], response.content,
                   404, "not-found")
    assert "# TYPE" not in response.text and "message_types" not in response.text
    # The API is still served there; monitoring reads each instance on its own address.
    assert requests.get(f"{balancer}/health", timeout=10).json() == {"status": "ok"}
    for url in instance_urls:
        assert requests.get(f"{url}/ready", timeout=10).status_code == 200
        assert "# TYPE ingest_" in requests.get(f"{url}/metrics", timeout=10).text


@pytest.mark.parametrize(("request_bytes", "status", "slug"), [
    (b"GARBAGE\r\n\r\n", 400, "bad-request"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nnot a header line\r\n\r\n", 400, "bad-request"),
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 400,
     "header-too-large"),
    (b"POST /ingest/hoverboard?" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n"
     b"Content-Length: 2\r\n\r\n{}", 414, "uri-too-long"),
    (b"POST /ingest/hoverboard HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Content-Length: 5000000\r\n\r\n", 413, "payload-too-large"),
    (b"GET /hover-errors/uri_too_long HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404,
     "not-found"),  # the error pages' own locations are not reachable from outside
])
def test_errors_nginx_answers_itself_are_problem_details(balancer, request_bytes, status,
                                                         slug) -> None:
    assert_problem(*raw_exchange(balancer, request_bytes), status, slug)


@pytest.fixture
def balancer_without_instances(tmp_path) -> str:
    """The same template, rendered for an instance that is not listening, in its own nginx."""
    port, dead = free_port(), free_port()
    conf = tmp_path / "ingest.conf"
    (tmp_path / "temp").mkdir()
    conf.write_text(render(TEMPLATE.read_text(), {
        "LISTEN_ADDRESS": f"127.0.0.1:{port}", "PID_FILE": str(tmp_path / "nginx.pid"),
        "TEMP_DIR": str(tmp_path / "temp")}, [f"127.0.0.1:{dead}"]))
    argv = [nginx_binary(), "-p", f"{tmp_path}/", "-e", "stderr", "-c", str(conf)]
    if os.geteuid() == 0:  # workers would drop to nobody, who cannot read pytest's tmp_path
        argv += ["-g", "user root;"]
    log = (tmp_path / "nginx.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(url + HEALTH_PATH, timeout=2).status_code == 200
        except requests.ConnectionError:
            return process.poll() is not None  # exited: the assertion below says so
    try:
        assert wait_until(up, 30) and process.poll() is None, Path(log.name).read_text()
        yield url
    finally:
        process.send_signal(signal.SIGQUIT)
        process.wait(30)
        log.close()


def test_no_reachable_instance_is_a_problem_with_retry_after(balancer_without_instances) -> None:
    response = requests.post(f"{balancer_without_instances}/ingest/hoverboard", json={},
                             timeout=30)
    assert_problem(response.status_code, response.headers["Content-Type"], response.content,
                   502, "ingest-unreachable")
    assert response.headers["Retry-After"] == "5"


def test_an_instance_not_ready_names_no_host_or_exception(stack_env, tmp_path) -> None:
    """Kafka at a port nobody listens on: the answer says which sink is not ready; the
    reason (the client library's error) is in the instance's log, under the request id."""
    kafka_port = free_port()
    log = tmp_path / "gunicorn.log"
    with ingest_api(stack_env, log, ready_path="/health",
                    HOVER_INGEST_KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka_port}") as url:
        response = requests.get(f"{url}/ready", timeout=30)
    problem = assert_problem(response.status_code, response.headers["Content-Type"],
                             response.content, 503, "not-ready")
    assert problem["checks"] == {"kafka": "not ready"}
    for detail in ("127.0.0.1", str(kafka_port), "Error", "_TRANSPORT", "metadata"):
        assert detail not in response.text, (detail, response.text)
    logged = [line for line in log.read_text().splitlines()
              if problem["request_id"] in line and "not ready" in line]
    assert any("kafka sink: Kafka unreachable: KafkaError" in line for line in logged), logged
