"""The dashboard in a real headless Chromium: log in, the path view's drop link, history, upload.

Playwright for Python drives Debian's `chromium` package through
`executable_path` (no browser is ever downloaded); `mtuscope serve` runs as its
own process on loopback. Two agents post real lab reports to one target (the
`mtu-drop` scenario: 1500 -> 1400 at hop 2, and the `vxlan` one: 1500 -> 1450,
likely VXLAN), so the path view merges two paths that share their first hop; a
third agent's black hole and MSS clamp (the `blackhole` and `clamp` scenarios)
are drawn on targets of their own.
A screenshot of the path view is saved in the test's tmp dir (path-view.png), and
copied into $MTUSCOPE_SCREENSHOTS when that is set.
Skipped, saying why, off Linux, without Debian's chromium, or without playwright.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from server.fill import EXAMPLES, admin_token, agent, lab_report, post, target  # noqa: E402
from server.running import Running, running_server  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")


def _why_not() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the browser test runs on Linux (Debian's chromium)"
    if not CHROMIUM.exists():
        return "Debian's chromium is not installed (apt-get install chromium; make test does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright for Python is not installed (pip install playwright)"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Running]:
    with running_server(f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "log") as running:
        yield running


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            # Root in a container: Chromium's sandbox needs user namespaces it may not get.
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(20_000)
            yield context.new_page()
        finally:
            browser.close()


def test_login_path_view_history_and_upload(server: Running, page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    berlin, paris = agent(server, "berlin"), agent(server, "paris")
    t = target(server, ["berlin", "paris"])
    post(server, berlin, t, [lab_report("mtu-drop")] * 4)
    post(server, paris, t, [lab_report("vxlan-responder")] * 4)

    # Without a session the path view sends us to the login form, and back after it.
    page.goto(f"{server.url}/targets/{t}")
    expect(page).to_have_url(re.compile(r"/login\?next=/targets/\d+$"))
    page.fill("#token", "not the token")
    page.click("#login")
    expect(page.locator("#error")).to_have_text("token: not the admin token")
    page.fill("#token", admin_token(server))
    page.click("#login")
    expect(page).to_have_url(re.compile(rf"/targets/{t}$"))

    # The drop link: highlighted (its own class, thick and red), labelled with its MTU.
    graph = page.locator("svg#path-graph")
    expect(graph).to_be_visible()
    links = graph.locator("g.link")
    expect(links).to_have_count(6)
    for i in range(6):
        expect(links.nth(i).locator("text.mtu-label")).to_have_text(re.compile(r"^\d{4}"))
    drop = graph.locator('g.link.drop[data-to="addr:198.51.100.2"]')
    expect(drop).to_have_count(1)
    expect(drop.locator("text.mtu-label")).to_have_text("1400")
    expect(drop.locator("text.drop-label")).to_have_text("drop 1500 → 1400")
    line = drop.locator("line")
    assert line.get_attribute("stroke") == "#c0392b" and line.get_attribute("stroke-width") == "5"
    plain = graph.locator('g.link:not(.drop)[data-from="agent:berlin"] line')
    assert plain.get_attribute("stroke-width") == "2"
    expect(drop.locator("text.mtu-label")).to_have_css("fill", "rgb(192, 57, 43)")
    vxlan = graph.locator('g.link.drop[data-to="addr:198.51.100.130"]')
    expect(vxlan.locator("text.mtu-label")).to_have_text("1450")
    expect(vxlan.locator("text.encap")).to_contain_text("likely VXLAN over IPv4")
    # One node per address: the first hop both agents share is drawn once.
    expect(graph.locator('g.node[data-key="addr:192.0.2.2"]')).to_have_count(1)
    shot = tmp_path / "path-view.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if keep := os.environ.get("MTUSCOPE_SCREENSHOTS"):  # a copy that outlives pytest's tmp dirs
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / "path-view.png").write_bytes(shot.read_bytes())

    # A black hole and a clamp, each on a target of its own.
    tokyo = agent(server, "tokyo")
    hole, clamp = target(server, ["tokyo"], port=5002), target(server, ["tokyo"], port=5003)
    post(server, tokyo, hole, [lab_report("blackhole")] * 3)
    post(server, tokyo, clamp, [lab_report("clamp-responder")] * 3)
    page.goto(f"{server.url}/targets/{hole}")
    silent = page.locator("svg#path-graph g.link.drop.blackhole")
    expect(silent).to_have_count(1)
    expect(silent.locator("text.mtu-label")).to_have_text("1400")
    expect(silent.locator("text.blackhole-label")).to_have_text("silent drop: no too-big message")
    assert silent.locator("line").get_attribute("stroke-dasharray") == "9 6"
    page.goto(f"{server.url}/targets/{clamp}")
    marks = page.locator('svg#path-graph g.node.target g.clamp[data-before="1460"]')
    expect(marks).to_have_count(2)
    expect(marks.first).to_contain_text("MSS 1460 → 1300")
    page.goto(f"{server.url}/targets/{t}")

    # History: both charts, the events marked on them, the findings with their advice.
    page.click("text=History")
    expect(page).to_have_url(re.compile(rf"/targets/{t}/history$"))
    expect(page.locator("svg#chart-pmtu")).to_be_visible()
    expect(page.locator("svg#chart-pmtu g.series")).to_have_count(2)
    assert page.locator('svg#chart-pmtu g.event[data-kind="finding-raised"]').count() >= 2
    blackhole = page.locator('#findings .finding[data-kind="mtu-drop"]').first
    expect(blackhole).to_contain_text("MTU drops to 1400")
    expect(blackhole.locator("pre.advice")).to_contain_text("ip link set dev <iface> mtu 1400")

    # Upload a capture: the analyze report, rendered, with its findings.
    page.click("text=Upload a capture")
    page.set_input_files("#capture", str(EXAMPLES / "blackhole-client.pcap"))
    page.select_option("#platform", "linux")
    page.click("#analyze")
    report = page.locator("#report")
    expect(report).to_contain_text("blackhole-client.pcap: 5 frames")
    finding = report.locator('.finding[data-kind="pmtud-blackhole"]')
    expect(finding).to_be_visible()
    expect(finding.locator(".summary")).to_contain_text("likely black hole")
    # A file that is no capture: one line, and the form again.
    bad = tmp_path / "notes.pcap"
    bad.write_text("these are not packets\n" * 4)
    page.set_input_files("#capture", str(bad))
    page.click("#analyze")
    expect(page.locator("#error")).to_have_text(
        re.compile(r"^notes\.pcap, offset 0: not a pcap or pcapng file")
    )

    # Logging out ends the session.
    page.click("#logout")
    expect(page).to_have_url(re.compile(r"/login$"))
    page.goto(f"{server.url}/")
    expect(page).to_have_url(re.compile(r"/login\?next=/$"))
