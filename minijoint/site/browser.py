"""Looking at a built page in a real headless browser, with the standard library only.

Chromium is driven through the Chrome DevTools Protocol over ``--remote-debugging-pipe``:
it reads JSON commands, each ending in a NUL byte, from file descriptor 3 and writes its
answers and events the same way to descriptor 4; two ``os.pipe()`` pairs are all it takes
(no websocket, no selenium). :func:`inspect_page` opens one page, waits for its load event
and for MathJax to finish typesetting, and reports what a reader would see: whether every
picture loaded, how many formulas were typeset, any math left raw in the text, and any
request that left the machine. It can also save a screenshot.
"""
from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--host-resolver-rules=MAP * ~NOTFOUND")

# Runs in the page: wait for MathJax (if the page loads it), then describe the page.
_REPORT_JS = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, mjx-container, .highlight, textarea')
      .forEach(e => e.remove());
  const text = body.textContent;
  const raw = (text.match(/\$\$[^$]+\$\$|\$[^$\s](?:[^$\n]*?[^$\s\\])?\$|\\\(.+?\\\)|\\\[.+?\\\]/gs) || [])
      .map(s => s.slice(0, 80));
  const own = location.protocol + '//' + location.host;
  return {
    title: document.title,
    images: [...document.images].map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth})),
    math: document.querySelectorAll('mjx-container').length,
    mathjax_version: window.MathJax && MathJax.version || null,
    raw_math: raw,
    external: performance.getEntriesByType('resource').map(e => e.name)
      .filter(u => !u.startsWith(own) && !u.startsWith('file:') && !u.startsWith('data:')),
    text: document.body.innerText,
  };
})()
"""


@dataclass
class PageReport:
    """What :func:`inspect_page` saw on one page."""
    url: str
    title: str
    images: list                 # [{"src", "width"}]: naturalWidth 0 means it did not load
    math: int                    # typeset formulas (MathJax's mjx-container elements)
    mathjax_version: str | None  # None when the page does not load MathJax
    raw_math: list               # $...$, \(...\) or \[...\] left untypeset in the text
    external: list               # resources requested from other hosts (should be none)
    text: str = field(repr=False, default="")

    @property
    def broken_images(self) -> list:
        return [i["src"] for i in self.images if not i["width"]]


class _Pipe:
    """One Chromium, talked to over its DevTools pipe (commands in, answers and events out)."""

    def __init__(self, chromium: str, profile: str, size: tuple):
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire():   # in the child: the protocol's descriptors 3 (commands) and 4 (answers)
            commands, answers = os.dup(to_browser_r), os.dup(from_browser_w)  # free 3 and 4 first
            os.dup2(commands, 3)
            os.dup2(answers, 4)

        self.proc = subprocess.Popen(
            [chromium, *FLAGS, f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
             "about:blank"], preexec_fn=wire, close_fds=False,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer, self._next_id, self.events = b"", 0, []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline, f"{method} got no answer in {timeout:.0f} s")
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"chromium refused {method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30.0) -> dict:
        """The first event named ``method`` (already received, or arriving within timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self.events):
                if event.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self._read(deadline, f"no {method} event in {timeout:.0f} s"))

    def _read(self, deadline: float, why: str) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError(f"chromium: {why}")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError(f"chromium closed its DevTools pipe (exit {self.proc.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


def find_chromium(path: str = CHROMIUM) -> str | None:
    """``path`` if it is an executable, else ``chromium`` on the PATH, else None."""
    if os.access(path, os.X_OK):
        return path
    return shutil.which("chromium")


def inspect_page(url, *, screenshot=None, size=(1280, 1600), timeout: float = 60.0,
                 chromium: str | None = None) -> PageReport:
    """Open ``url`` (a ``file://``/``http://`` address, or a path to an HTML file) in a
    fresh headless Chromium, wait for it to load and for MathJax to typeset, and report
    (:class:`PageReport`); with ``screenshot``, save a PNG of the first ``size`` pixels.
    The browser resolves no host names, so a page that needs the network shows it."""
    chromium = chromium or find_chromium()
    if chromium is None:
        raise FileNotFoundError(f"chromium not found at {CHROMIUM} nor on the PATH: "
                                f"apt-get install chromium")
    if not str(url).startswith(("file:", "http:", "https:")):
        url = Path(url).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="minijoint-chromium-") as profile:
        pipe = _Pipe(chromium, profile, size)
        try:
            target = pipe.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout)
            session = pipe.send("Target.attachToTarget", {"targetId": target["targetId"],
                                                          "flatten": True})["sessionId"]
            pipe.send("Page.enable", session=session)
            pipe.send("Emulation.setDeviceMetricsOverride", {"width": size[0], "height": size[1],
                      "deviceScaleFactor": 1, "mobile": False}, session=session)
            pipe.send("Page.navigate", {"url": str(url)}, session=session)
            pipe.wait_for("Page.loadEventFired", timeout)
            result = pipe.send("Runtime.evaluate", {"expression": _REPORT_JS, "awaitPromise": True,
                               "returnByValue": True}, session=session, timeout=timeout)
            if "exceptionDetails" in result:
                raise RuntimeError(f"the page check failed in {url}: {result['exceptionDetails']}")
            seen = result["result"]["value"]
            if screenshot is not None:
                shot = pipe.send("Page.captureScreenshot", {"format": "png"}, session=session,
                                 timeout=timeout)
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        finally:
            pipe.close()
    return PageReport(url=str(url), title=seen["title"], images=seen["images"], math=seen["math"],
                      mathjax_version=seen["mathjax_version"], raw_math=seen["raw_math"],
                      external=seen["external"], text=seen["text"])
