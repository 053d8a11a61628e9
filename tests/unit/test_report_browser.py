"""The report opened offline in headless Debian Chromium, driven over the DevTools protocol.

Chromium is started with ``--remote-debugging-pipe``: DevTools messages are NUL-terminated
JSON on file descriptors 3 (to the browser) and 4 (from it), so no websocket library and no
network port are needed. The test fails (not skips) when CI is set and chromium is missing.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM_NAMES = ("chromium", "chromium-browser")
PAGE_TIMEOUT_S = 60


def find_chromium() -> str | None:
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


def require_chromium() -> str:
    """Chromium's path; a missing browser fails the test under CI and skips it elsewhere."""
    path = find_chromium()
    if path is None:
        message = "Debian chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


def test_missing_chromium_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        require_chromium()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_chromium()


class DevToolsPipe:
    """A minimal Chrome DevTools Protocol client over --remote-debugging-pipe."""

    def __init__(self, executable: str, profile_dir: Path, log_path: Path):
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def map_pipes_to_fds_3_and_4():
            # Duplicate above 10 first so that dup2 onto 3/4 cannot clobber a source fd
            # (and always clears close-on-exec).
            read_end = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self._log = open(log_path, "wb")  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(
            [
                executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--no-default-browser-check",
                f"--user-data-dir={profile_dir}",
                "--remote-debugging-pipe",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            preexec_fn=map_pipes_to_fds_3_and_4,
            close_fds=False,  # fds 3 and 4 must survive exec; Python's own fds are not inheritable
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium closed the pipe (exit code {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for(self, predicate, timeout: float = PAGE_TIMEOUT_S) -> dict:
        for event in self.events:
            if predicate(event):
                return event
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if "id" not in message:
                self.events.append(message)
            if predicate(message):
                return message

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self._next_id += 1
        request = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            request["sessionId"] = session
        os.write(self._to_browser, json.dumps(request).encode() + b"\0")
        answer = self.wait_for(lambda m, i=self._next_id: m.get("id") == i)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        self._log.close()


def page_state_after_load(chromium: str, page: Path, work_dir: Path, expression: str):
    """(value of ``expression`` in the loaded page, the closed browser with its events).

    Waits a moment after evaluating so that late console messages and failed loads arrive."""
    browser, session = open_page(chromium, page, work_dir)
    try:
        state = evaluate(browser, session, expression)
        evaluate(browser, session, "new Promise(r => setTimeout(r, 300))")
    finally:
        browser.close()
    return state, browser


def console_errors(browser: DevToolsPipe) -> list:
    """Console errors, uncaught exceptions and error log entries the page produced."""
    return [
        e["params"]
        for e in browser.events
        if (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]


def requested_urls(browser: DevToolsPipe) -> list[str]:
    """Every URL the page asked for."""
    return [
        e["params"]["request"]["url"]
        for e in browser.events
        if e.get("method") == "Network.requestWillBeSent"
    ]


def open_page(chromium: str, page: Path, work_dir: Path) -> tuple[DevToolsPipe, str]:
    browser = DevToolsPipe(chromium, work_dir / "profile", work_dir / "chromium.log")
    target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    for domain in ("Runtime", "Log", "Page", "Network"):
        browser.call(f"{domain}.enable", session=session)
    # Offline: any request that would leave the machine fails instead of hanging.
    browser.call(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        session=session,
    )
    browser.call("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
    browser.wait_for(lambda m: m.get("method") == "Page.loadEventFired")
    return browser, session


def evaluate(browser: DevToolsPipe, session: str, expression: str):
    result = browser.call(
        "Runtime.evaluate",
        {"expression": expression, "returnByValue": True, "awaitPromise": True},
        session=session,
    )
    if "exceptionDetails" in result:
        raise RuntimeError(result["exceptionDetails"])
    return result["result"].get("value")


PAGE_STATE = """
(async () => {
  await Promise.all([...document.images].map(i => i.decode().catch(() => null)));
  const text = s => (document.querySelector(s) || {}).textContent || "";
  return {
    sections: [...document.querySelectorAll("section[id]")].map(s => s.id),
    headings: [...document.querySelectorAll("h2")].map(h => h.textContent.trim()),
    metricsHeader: [...document.querySelectorAll("#metrics-table thead th")]
      .map(th => th.textContent.trim()),
    metricsRows: [...document.querySelectorAll("#metrics-table tbody tr")]
      .map(tr => tr.querySelector("th").textContent.trim()),
    markedCells: document.querySelectorAll("[data-metric]").length,
    modelMap: text('[data-metric="test.model.map"]'),
    bandCells: [...document.querySelectorAll("#homology-band-table [data-metric]")]
      .map(td => [td.dataset.metric, td.textContent.trim()]),
    honestyCells: [...document.querySelectorAll("#homology-honesty-table [data-metric]")]
      .map(td => [td.dataset.metric, td.textContent.trim()]),
    banner: text("#plm-banner"),
    images: [...document.images].map(i => ({
      alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight,
      scheme: i.src.split(":")[0]})),
    scripts: document.scripts.length,
  };
})()
"""


@pytest.fixture(scope="module")
def rendered_report(tmp_path_factory) -> tuple[Path, dict]:
    from test_report import make_report_inputs, render

    root = tmp_path_factory.mktemp("browser_results")
    paths = make_report_inputs(root)
    page = root / "report" / "report.html"
    page.write_text(render(paths), encoding="utf-8")
    return page, json.loads(paths["metrics"].read_text())


def test_report_opens_offline_without_errors(chromium, rendered_report, tmp_path):
    page, metrics = rendered_report
    state, browser = page_state_after_load(chromium, page, tmp_path, PAGE_STATE)
    errors = console_errors(browser)
    assert errors == []
    requested = requested_urls(browser)
    assert requested and all(url.startswith(("file:", "data:")) for url in requested), requested
    failed = [e["params"] for e in browser.events if e.get("method") == "Network.loadingFailed"]
    assert failed == []

    assert state["sections"] == ["run", "data", "split", "results", "cv"]
    assert state["scripts"] == 0
    assert "RANDOM weights" in state["banner"]
    assert state["metricsHeader"][:4] == ["predictor", "mAP", "macro-F1", "micro-F1"]
    assert state["metricsRows"][0] == "model"
    components = {f"{c} (model component)" for c in metrics["test"]["components"]}
    assert set(state["metricsRows"]) == {"model", *components, *metrics["test"]["baselines"]}
    assert state["markedCells"] > 100
    assert state["modelMap"] == f"{metrics['test']['model']['map']:.3f}"
    # The homology-band table and its honesty check: every cell is metrics.json's number,
    # the model's and the homology baseline's rows for every band.
    from terpene_ensembles.report.html import format_number, lookup

    for cells in (state["bandCells"], state["honestyCells"]):
        assert cells
        assert all(text == format_number(lookup(metrics, path)) for path, text in cells)
    band_paths = {path for path, _ in state["bandCells"]}
    for name in ("model", metrics["training"]["homology_baseline"]):
        for i, _ in enumerate(metrics["reliability"]["bands"]):
            assert f"reliability.predictors.{name}.{i}.top_precision" in band_paths
    # The enzymes and the expected precision are the model's, whatever the key order.
    for i, _ in enumerate(metrics["reliability"]["bands"]):
        assert f"reliability.predictors.model.{i}.n" in band_paths
        assert f"reliability.predictors.model.{i}.expected_top_precision" in band_paths
    assert not any(path.endswith(".n") and ".knn_identity." in path for path in band_paths)
    images = state["images"]
    assert len(images) >= 8
    assert all(i["scheme"] == "data" for i in images)
    broken = [
        i["alt"] for i in images if not (i["complete"] and i["width"] > 0 and i["height"] > 0)
    ]
    assert broken == []
    alts = {i["alt"] for i in images}
    assert {
        "precision-recall curves",
        "reliability diagram",
        "label co-occurrence",
        "top-call precision by homology band",
    } <= alts
    assert any(alt.startswith("skeleton of") for alt in alts)


def test_report_prints_to_pdf(chromium, rendered_report, tmp_path):
    page, _ = rendered_report
    browser, session = open_page(chromium, page, tmp_path)
    try:
        pdf = browser.call("Page.printToPDF", {"printBackground": True}, session=session)
    finally:
        browser.close()
    import base64

    document = base64.b64decode(pdf["data"])
    assert document.startswith(b"%PDF")
    # One section per printed page at least (sections start on a new page when printed).
    assert document.count(b"/Type /Page") - document.count(b"/Type /Pages") >= 5
