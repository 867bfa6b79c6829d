"""The dashboard over HTTP, against a real `mtuscope serve`: login, sessions, CSRF, pages, upload.

The server runs as its own process (uvicorn on loopback) on a SQLite store, then
on Debian's PostgreSQL in a temporary cluster (skipped, saying why, without it),
with a small upload limit and its own temporary directory, so that the 413 and
the removal of uploaded files can be checked. Results are real lab reports
(tests/data/monitoring) posted through the agent API.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mtuscope.store.database import engine_for  # noqa: E402
from server.fill import (  # noqa: E402
    EXAMPLES,
    admin_token,
    agent,
    form_csrf,
    lab_report,
    logged_in,
    post,
    target,
)
from server.running import Running, running_server  # noqa: E402
from store.postgres import temporary_cluster, why_not  # noqa: E402

UPLOAD_LIMIT = 200_000


@pytest.fixture(scope="module")
def top(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dashboard")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, top: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{top / 'store.db'}"
        return
    why = why_not()
    if why is not None:
        pytest.skip(why)
    with temporary_cluster() as url:
        yield url


@pytest.fixture(scope="module")
def server(top: Path, db_url: str) -> Iterator[Running]:
    spool = top / f"tmp-{db_url.split(':')[0]}"
    spool.mkdir()
    with running_server(
        db_url,
        top / "log",
        extra_args=("--upload-limit", str(UPLOAD_LIMIT)),
        extra_env={"TMPDIR": str(spool)},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def filled(server: Running) -> dict[str, int]:
    berlin, paris, tokyo = agent(server, "berlin"), agent(server, "paris"), agent(server, "tokyo")
    drop = target(server, ["berlin", "paris"])
    post(server, berlin, drop, [lab_report("mtu-drop")] * 4)
    post(server, paris, drop, [lab_report("vxlan-responder")] * 4)
    hole = target(server, ["tokyo"], port=5002)
    cut = lab_report("clean") | {
        "pmtu": None,
        "pmtu_bounds": {"lo": 1280, "hi": 1500},
        "stop_reason": "budget",
    }
    post(server, tokyo, hole, [cut] + [lab_report("blackhole")] * 3)
    short = target(server, ["tokyo"], port=5003)
    post(server, tokyo, short, [lab_report("blackhole")] * 3 + [cut])
    return {"drop": drop, "hole": hole, "short": short}


def test_every_page_needs_a_session(server: Running, filled: dict[str, int]) -> None:
    t = filled["drop"]
    for path in ("/", f"/targets/{t}", f"/targets/{t}/history", "/upload"):
        r = httpx.get(f"{server.url}{path}", follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next=/"), r.headers["location"]
    # A forged or tampered cookie is no session.
    with logged_in(server) as client:
        good = client.cookies["mtuscope_session"]
    payload, _, sig = good.partition(".")
    for forged in (f"{payload}.{sig[:-2]}AA", f"{payload[:-2]}AA.{sig}", "x.y", ""):
        r = httpx.get(
            f"{server.url}/", cookies={"mtuscope_session": forged}, follow_redirects=False
        )
        assert r.status_code == 303, forged
    # The bearer token is not a dashboard session either.
    r = httpx.get(f"{server.url}/", headers=server.admin, follow_redirects=False)
    assert r.status_code == 303


def test_login_sets_a_strict_http_only_signed_cookie(server: Running, db_url: str) -> None:
    client = httpx.Client(base_url=server.url, follow_redirects=False)
    page = client.get("/login?next=/upload")
    nonce = form_csrf(page.text)
    wrong = client.post("/login", data={"token": "not-it", "csrf": nonce, "next": "/upload"})
    assert wrong.status_code == 401 and "token: not the admin token" in wrong.text
    no_csrf = client.post("/login", data={"token": admin_token(server), "next": "/"})
    assert no_csrf.status_code == 403 and "mtuscope_session" not in no_csrf.headers.get(
        "set-cookie", ""
    )
    nonce = form_csrf(client.get("/login").text)
    good = client.post(
        "/login", data={"token": admin_token(server), "csrf": nonce, "next": "//evil.example/"}
    )
    assert good.status_code == 303 and good.headers["location"] == "/"
    cookie = next(
        v for k, v in good.headers.multi_items() if k == "set-cookie" and "mtuscope_session" in v
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert admin_token(server) not in cookie
    home = client.get("/")
    assert home.status_code == 200
    assert "script-src" not in home.headers["content-security-policy"]  # none: default-src
    assert "default-src 'none'" in home.headers["content-security-policy"]
    assert "<script" not in home.text
    # The signing secret was made once and kept in the settings table.
    engine = engine_for(db_url)
    try:
        with engine.connect() as db:
            rows = db.execute(
                text("SELECT value FROM settings WHERE key = 'dashboard_secret'")
            ).all()
    finally:
        engine.dispose()
    assert len(rows) == 1 and len(rows[0][0]) == 64
    # Logout needs the session's CSRF token, then ends the session.
    assert client.post("/logout", data={"csrf": "nope"}).status_code == 403
    out = client.post("/logout", data={"csrf": form_csrf(client.get("/").text)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert client.get("/").status_code == 303
    client.close()
    assert admin_token(server) not in server.log.read_text()


def test_overview_reads_each_agents_newest_result(server: Running, filled: dict[str, int]) -> None:
    with logged_in(server) as client:
        html = client.get("/").text
    rows = {
        (int(t), a): body
        for t, a, body in re.findall(
            r'<tr class="cell[^"]*" data-target="(\d+)" data-agent="([^"]+)">(.*?)</tr>', html, re.S
        )
    }
    berlin = rows[filled["drop"], "berlin"]
    assert '<td class="pmtu">1400' in berlin and "<td>1460</td>" in berlin
    assert "<td>1348</td>" in berlin and 'status ok">ok' in berlin
    paris = rows[filled["drop"], "paris"]
    assert '<td class="pmtu">1450' in paris and "<td>1398</td>" in paris
    # tokyo's newest search was cut short: its bounds, and inconclusive, not a PMTU.
    tokyo = rows[filled["short"], "tokyo"]
    assert "1280–1500" in tokyo and 'status inconclusive">inconclusive' in tokyo
    hole = rows[filled["hole"], "tokyo"]
    assert '<td class="pmtu">1400' in hole and 'status error">error' in hole


def test_path_view_labels_every_link_and_the_drop(server: Running, filled: dict[str, int]) -> None:
    with logged_in(server) as client:
        html = client.get(f"/targets/{filled['drop']}").text
        hole = client.get(f"/targets/{filled['hole']}").text
    links = re.findall(r'<g class="(link[^"]*)" id="link-\d+" data-from="([^"]+)" '
                       r'data-to="([^"]+)" data-mtu="(\d*)">', html)  # fmt: skip
    assert len(links) == 6  # two agents -> shared hop 1, two branches, both to the target
    assert all(mtu for *_, mtu in links), "every link carries its MTU"
    drops = {(src, dst, mtu) for cls, src, dst, mtu in links if "drop" in cls.split()}
    assert drops == {
        ("addr:192.0.2.2", "addr:198.51.100.2", "1400"),
        ("addr:192.0.2.2", "addr:198.51.100.130", "1450"),
    }
    assert "likely VXLAN over IPv4" in html and "drop 1500 → 1400" in html
    assert "blackhole" not in re.findall(r'<g class="(link[^"]*)"', html)[0]
    assert re.search(r'<g class="link drop blackhole"[^>]*data-mtu="1400"', hole)
    assert "silent drop: no too-big message" in hole


def test_history_has_charts_events_and_findings(server: Running, filled: dict[str, int]) -> None:
    with logged_in(server) as client:
        short = client.get(f"/targets/{filled['drop']}/history?range=1h")
        week = client.get(f"/targets/{filled['drop']}/history")
        bad = client.get(f"/targets/{filled['drop']}/history?range=3y")
        missing = client.get("/targets/999/history")
    assert short.status_code == 200 and "raw results, 8 points" in short.text
    assert week.status_code == 200 and "hourly rollups" in week.text
    for page in (short.text, week.text):
        assert 'id="chart-pmtu"' in page and 'id="chart-mss"' in page
        assert page.count('<g class="series"') == 4  # two agents, two charts
        assert '<g class="event" data-kind="finding-raised">' in page
    # Findings with their advice, and the platform snippet the agent asked for.
    assert 'data-kind="mtu-drop"' in short.text and "ip link set dev &lt;iface&gt; mtu 1400" in (
        short.text
    )
    assert bad.status_code == 422 and bad.json()["detail"].startswith("range: want one of")
    assert missing.status_code == 404


def test_upload_analyze_compare_and_bad_files(server: Running, top: Path, db_url: str) -> None:
    with logged_in(server) as client:
        csrf = form_csrf(client.get("/upload").text)
        pcap = (EXAMPLES / "blackhole-client.pcap").read_bytes()
        one = client.post(
            "/upload",
            data={"csrf": csrf, "platform": "linux"},
            files={"capture": ("blackhole-client.pcap", pcap)},
        )
        assert one.status_code == 200, one.text
        assert 'data-kind="pmtud-blackhole"' in one.text and "blackhole-client.pcap" in one.text
        two = client.post(
            "/upload",
            data={"csrf": csrf},
            files={
                "capture": ("clamp-client.pcap", (EXAMPLES / "clamp-client.pcap").read_bytes()),
                "second": ("clamp-server.pcap", (EXAMPLES / "clamp-server.pcap").read_bytes()),
            },
        )
        assert two.status_code == 200 and 'class="story">A = clamp-client.pcap' in two.text
        bad = client.post(
            "/upload",
            data={"csrf": csrf},
            files={"capture": ("notes.pcap", b"these are not packets\n" * 4)},
            headers={"Accept": "application/json"},
        )
        assert bad.status_code == 422
        assert bad.json()["detail"].startswith("notes.pcap, offset 0: not a pcap or pcapng file")
        big = client.post(
            "/upload",
            data={"csrf": csrf},
            files={"capture": ("big.pcap", b"\0" * (UPLOAD_LIMIT + 70_000))},
            headers={"Accept": "application/json"},
        )
        assert big.status_code == 413 and "over the limit of 200000 bytes" in big.json()["detail"]
        forged = client.post("/upload", data={"csrf": "x"}, files={"capture": ("a.pcap", pcap)})
        assert forged.status_code == 403
    spool = top / f"tmp-{db_url.split(':')[0]}"
    assert list(spool.iterdir()) == [], "uploaded files are removed"


def test_instant_test_from_the_path_view(server: Running) -> None:
    who = agent(server, "instant")
    t = target(server, ["instant"], port=5004)
    with logged_in(server) as client:
        overview = client.get("/").text
        cell = re.search(rf'data-target="{t}" data-agent="instant">(.*?)</tr>', overview, re.S)
        assert cell is not None and "no result yet" in cell.group(1)
        page = client.get(f"/targets/{t}")
        assert "No result yet for this target." in page.text
        assert client.post(f"/targets/{t}/instant", data={"csrf": "x"}).status_code == 403
        r = client.post(f"/targets/{t}/instant", data={"csrf": form_csrf(page.text)})
        assert r.status_code == 303 and r.headers["location"].startswith(f"/targets/{t}?message=")
    # The agent takes it at its next pull, once.
    first = httpx.get(f"{server.url}/api/v1/agent/schedule", headers=who).json()
    again = httpx.get(f"{server.url}/api/v1/agent/schedule", headers=who).json()
    assert [i["target"] for i in first["instant"]] == [t] and again["instant"] == []


def test_a_new_admin_token_ends_every_session(tmp_path: Path) -> None:
    with running_server(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "log") as server:
        with logged_in(server) as client:
            assert client.get("/").status_code == 200
            cookie = client.cookies["mtuscope_session"]
        server.kill()
        server.env["MTUSCOPE_ADMIN_TOKEN"] = "a-new-admin-token-for-this-test"
        server.restart()
        r = httpx.get(
            f"{server.url}/", cookies={"mtuscope_session": cookie}, follow_redirects=False
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
