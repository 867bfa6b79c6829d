"""`mtuscope lab demo`, run for real as a newcomer runs it: a subprocess, then SIGTERM.

The demo builds the `mtu-drop` lab, starts `mtuscope serve` (uvicorn) on a
loopback port of this host, enrolls an agent and the lab's server, runs
`mtuscope agent` in the client namespace (reaching the server through the
relay in that namespace), and prints the dashboard URL and the admin token
once the first result is stored. The test uses only what it printed: it logs
in to the dashboard with the token, opens the target's path view (the r1-r2
link labelled 1400 and drawn as the drop), reads the API and /metrics, waits
for the `pmtu-changed` event `--lower-mtu-after` causes, stops the demo with
SIGTERM and checks that nothing is left: no namespace of the lab, no process
of the demo (server, agent), no state directory, the port free again.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from e2e.lablib import SRC, until, why_not  # noqa: E402
from mtuscope.lab.netns import list_namespaces
from mtuscope.lab.schema import validate_lab_document

pytestmark = pytest.mark.raw_socket

ENV = {**os.environ, "PYTHONPATH": SRC}
TIMEOUT = 30.0
"""Seconds an HTTP call may take: the machine is shared, and SQLite writes wait their turn."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _lines(stream: IO[str]) -> tuple[queue.Queue[str | None], threading.Thread]:
    """The lines of `stream` as they come (None at its end), read by a thread."""
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return lines, thread


def _read_until(lines: queue.Queue[str | None], done: Callable[[str], bool], seconds: float) -> str:
    text = ""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        if line is None:
            break
        text += line
        if done(text):
            return text
    raise AssertionError(f"the demo did not print what was expected in {seconds:.0f} s: {text!r}")


@contextmanager
def _demo(args: list[str], err: Path) -> Iterator[subprocess.Popen[str]]:
    why = why_not()
    if why is not None:
        pytest.skip(why)
    argv = [sys.executable, "-m", "mtuscope", "lab", "demo", *args]
    with err.open("w") as errors:
        proc = subprocess.Popen(
            argv, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
            text=True,
        )  # fmt: skip
    try:
        yield proc
    finally:
        if proc.poll() is None:  # the test failed before stopping it: stop it as a user would
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _nothing_left(run_id: str, state: str, port: int) -> None:
    assert not [ns for ns in list_namespaces() if ns.startswith(f"mtus-{run_id}-")]
    assert not Path(state).exists(), "the temporary state directory is removed"
    mine = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(state.encode() in w for w in words):
            mine.append(b" ".join(words).decode(errors="replace"))
    assert not mine, f"processes of the demo left: {mine}"
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no listener
        s.bind(("127.0.0.1", port))  # nothing listens on the server's port any more
        s.listen(1)


def test_the_demo_serves_the_dashboard_and_removes_everything(tmp_path: Path) -> None:
    port = _free_port()
    err = tmp_path / "demo.err"
    with (
        ExitStack() as stack,
        _demo(["--listen", f"127.0.0.1:{port}", "--lower-mtu-after", "15"], err) as proc,
    ):
        assert proc.stdout is not None
        lines, reader = _lines(proc.stdout)
        text = _read_until(lines, lambda t: "stop:" in t, seconds=240)
        url = re.search(r"dashboard: +(http://\S+)", text)
        token = re.search(r"admin token: +(\S+)", text)
        run_id = re.search(r"lab ([0-9a-f]+) \(mtu-drop\)", text)
        state = re.search(r"logs, store: +(\S+)", text)
        assert url and token and run_id and state, text
        assert url.group(1) == f"http://127.0.0.1:{port}/"
        assert "path MTU 1400 (the lab's truth: 1400)" in text
        assert f"kill -TERM {proc.pid}" in text
        base, admin = url.group(1).rstrip("/"), {"Authorization": f"Bearer {token.group(1)}"}

        # The dashboard: log in with the printed token, open the target's path view.
        web = _logged_in(url.group(1), token.group(1))
        stack.callback(web.close)
        api = httpx.Client(timeout=TIMEOUT)  # the API as curl would use it, without a session
        stack.callback(api.close)
        assert "lab-client" in web.get("/").text
        targets = api.get(f"{base}/api/v1/targets", headers=admin).json()["targets"]
        assert [t["host"] for t in targets] == ["203.0.113.2"]
        target = targets[0]["id"]
        view = web.get(f"/targets/{target}").text
        drops = re.findall(r'<g class="link drop[^"]*"[^>]*data-mtu="([^"]+)"', view)
        assert drops and all("1400" in d for d in drops), view[:3000]

        # The API and /metrics, with the token it printed.
        results = api.get(f"{base}/api/v1/targets/{target}/results", headers=admin)
        assert results.status_code == 200
        first = results.json()["results"]
        assert first and first[0]["agent"] == "lab-client"
        assert first[0]["report"]["pmtu"] == 1400
        assert api.get(f"{base}/api/v1/targets").status_code == 401
        metrics = api.get(f"{base}/metrics").text
        assert re.search(r'mtuscope_path_mtu_bytes\{[^}]*agent="lab-client"[^}]*\} 1400', metrics)

        # --lower-mtu-after 15: r1-r2 goes from 1400 to 1300, and the event follows
        # (instant tests make the rounds come faster than every 10 s).
        def changed() -> list[dict[str, Any]]:
            assert proc.poll() is None, err.read_text()[-2000:]
            api.post(f"{base}/api/v1/targets/{target}/instant", headers=admin)
            events = api.get(f"{base}/api/v1/events", headers=admin).json()["events"]
            return [e for e in events if e["kind"] == "pmtu-changed"]

        events = until("a pmtu-changed event", changed, seconds=90, every=2.0)
        assert {(e["before"], e["after"]) for e in events} == {(1400, 1300)}
        assert "lowered the MTU of r1-r2 (r1 - r2) from 1400 to 1300" in err.read_text()

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=90) == 0, err.read_text()[-2000:]
        reader.join(timeout=10)
    said = err.read_text()
    assert f"lab {run_id.group(1)} removed" in said
    assert "Traceback" not in said
    _nothing_left(run_id.group(1), state.group(1), port)


def test_two_agents_merge_into_one_path_view_and_json_says_so(tmp_path: Path) -> None:
    port = _free_port()
    err = tmp_path / "demo.err"
    args = ["--listen", f"127.0.0.1:{port}", "--json", "--two-agents", "--for", "20"]
    with ExitStack() as stack, _demo(args, err) as proc:
        assert proc.stdout is not None
        lines, reader = _lines(proc.stdout)
        out = _read_until(lines, _is_json, seconds=240)
        doc = json.loads(out)
        validate_lab_document(doc)
        assert doc["verb"] == "demo" and doc["scenario"] == "mtu-drop"
        assert doc["dashboard"] == f"http://127.0.0.1:{port}/"
        assert doc["first_result"]["pmtu"] == 1400 and doc["target"]["host"] == "203.0.113.2"
        assert doc["agents"] == [
            {"name": "lab-client", "node": "client", "pmtu": 1400},
            {"name": "lab-r1", "node": "r1", "pmtu": 1400},
        ]
        assert doc["pid"] == proc.pid
        web = _logged_in(doc["dashboard"], doc["admin_token"])
        stack.callback(web.close)
        view = web.get(f"/targets/{doc['target']['id']}").text
        agents = re.findall(r'<g class="node agent"[^>]*data-key="([^"]+)"', view)
        hops = re.findall(r'<g class="node (?:hop|target)"[^>]*data-key="([^"]+)"', view)
        assert sorted(agents) == ["agent:lab-client", "agent:lab-r1"]
        # r2 and the server are one node each, on both agents' paths.
        assert sorted(hops) == ["addr:192.0.2.2", "addr:198.51.100.2", "addr:203.0.113.2"]
        links = set(
            re.findall(r'<g class="link[^"]*"[^>]*data-from="([^"]+)" data-to="([^"]+)"', view)
        )
        assert {("agent:lab-client", "addr:192.0.2.2"), ("addr:192.0.2.2", "addr:198.51.100.2"),
                ("agent:lab-r1", "addr:198.51.100.2")} <= links, links  # fmt: skip
        assert proc.wait(timeout=120) == 0, err.read_text()[-2000:]  # --for 20 ends it
        reader.join(timeout=10)
    _nothing_left(doc["run_id"], doc["state_dir"], port)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _logged_in(dashboard: str, token: str) -> httpx.Client:
    web = httpx.Client(base_url=dashboard.rstrip("/"), follow_redirects=False, timeout=TIMEOUT)
    login = web.get("/login")
    assert login.status_code == 200 and 'name="token"' in login.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
    assert csrf is not None
    r = web.post("/login", data={"token": token, "csrf": csrf.group(1), "next": "/"})
    assert r.status_code == 303, r.text
    return web


def test_a_signal_before_it_is_ready_still_removes_everything(tmp_path: Path) -> None:
    port = _free_port()
    err = tmp_path / "demo.err"
    with _demo(["--listen", f"127.0.0.1:{port}"], err) as proc:
        said = until(
            "the agent starting",
            lambda: (t := err.read_text()) and "starting mtuscope agent" in t and t,
            seconds=120,
            every=0.2,
        )
        run_id = re.search(r"mtuscope-demo-([0-9a-f]+)-", said)
        state = re.search(r"store (\S+)/demo\.db", said)
        assert run_id and state, said
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)  # a second one does not cut the teardown short
        assert proc.wait(timeout=90) == 130
    said = err.read_text()
    assert "stopped before it was ready" in said and "Traceback" not in said
    _nothing_left(run_id.group(1), state.group(1), port)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--scenario", "nope"], "unknown lab scenario 'nope'"),
        (["--listen", "localhost:8077"], "--listen 'localhost:8077': want an IP address"),
        (["--listen", "127.0.0.1"], "expected HOST:PORT"),
        (["--for", "0"], "--for 0: want 0 < SECONDS"),
        (["--listen", "192.0.2.99:8077"], "Cannot assign requested address (an address of this"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], said: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mtuscope", "lab", "demo", *args],
        env=ENV, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("mtuscope lab demo: ")
    assert said in r.stderr


def test_a_port_in_use_is_refused_before_anything_is_built() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "mtuscope", "lab", "demo", "--listen", f"127.0.0.1:{port}"],
            env=ENV, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    assert r.returncode == 2, r.stderr
    # One line, and it came before the lab was built (that would have said "building").
    assert "Address already in use" in r.stderr and r.stderr.count("\n") == 1
