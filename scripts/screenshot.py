#!/usr/bin/env python
"""Headless-Chromium screenshot of a local HTML file or an http(s) URL, reporting what went wrong on the page.

Usage::

    python scripts/screenshot.py PAGE_OR_URL OUT.png [--width 1280] [--full-page/--no-full-page]
                                 [--chromium PATH] [--timeout 30]

``PAGE_OR_URL`` is a local file (turned into a ``file://`` URL) or an ``http(s)://`` / ``file://`` URL.
The page is loaded, given time to reach the "networkidle" state, and saved as a PNG. Console errors,
uncaught page exceptions, failed requests and an HTTP error status of the page itself are printed.

Exit codes: 0 = screenshot saved, no problems; 1 = problems were found (the screenshot is still saved
unless the page could not be loaded at all); 2 = setup error (playwright or Chromium missing, no such file).

Playwright drives the system Chromium (``apt-get install chromium``); ``playwright install`` is never
needed. The browser is ``--chromium PATH``, else ``$T5SUM_CHROMIUM``, else the first of chromium /
chromium-browser / google-chrome on ``PATH``. Tests can import :func:`screenshot` via importlib.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Error, Request

ENV_VAR = "T5SUM_CHROMIUM"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome")
URL_SCHEMES = ("http", "https", "file")
VIEWPORT_HEIGHT = 800  # the viewport's height; --full-page captures the whole page anyway
INSTALL_HINT = "apt-get install chromium"


class SetupError(RuntimeError):
    """Something needed to take the screenshot is missing; the message is one sentence for the user."""


@dataclass
class Capture:
    """What one page load gave: the page title, whether a PNG was written, and the problems seen."""

    title: str = ""
    saved: bool = False
    problems: list[str] = field(default_factory=list)


def find_chromium(explicit: str | None = None) -> str:
    """Path of the Chromium executable: ``explicit``, else ``$T5SUM_CHROMIUM``, else a browser on ``PATH``."""
    for source, value in (("--chromium", explicit), (ENV_VAR, os.environ.get(ENV_VAR))):
        if value:
            found = shutil.which(value)
            if found is None:
                raise SetupError(f"Chromium not found: {source}={value} is not an executable file.")
            return found
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise SetupError(
        f"Chromium not found: none of {', '.join(BROWSER_NAMES)} is on PATH; "
        f"install it with `{INSTALL_HINT}` or pass --chromium PATH (or set {ENV_VAR})."
    )


def to_url(target: str) -> str:
    """``target`` itself if it is an http(s)/file URL, else the ``file://`` URL of an existing local file."""
    if urlparse(target).scheme in URL_SCHEMES:
        return target
    path = Path(target).expanduser()
    if not path.is_file():
        raise SetupError(f"No such file: {target} (give a local HTML file or an http(s):// URL).")
    return path.resolve().as_uri()


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Playwright appends long browser logs), or its type."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def capture(
    target: str,
    out: Path,
    width: int = 1280,
    full_page: bool = True,
    chromium: str | None = None,
    timeout_s: float = 30.0,
) -> Capture:
    """Load ``target`` in headless Chromium, save a PNG to ``out``; return title, saved flag and problems.

    Raises :class:`SetupError` if playwright or Chromium is missing, Chromium will not start, or a local
    ``target`` does not exist.
    """
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise SetupError(
            "playwright is not installed; run `pip install -e '.[browser]'` (the browser itself comes from "
            f"`{INSTALL_HINT}`, not `playwright install`)."
        ) from None
    executable = find_chromium(chromium)
    url = to_url(target)
    result = Capture()
    problems = result.problems

    def on_console(message: ConsoleMessage) -> None:
        where = message.location.get("url") or ""
        # Chromium asks every http(s) server for /favicon.ico by itself; a 404 there is not the page's fault.
        if message.type == "error" and urlparse(where).path != "/favicon.ico":
            problems.append(f"console error: {message.text}" + (f" [{where}]" if where else ""))

    def on_page_error(error: Error) -> None:
        problems.append(f"page error: {error.message}")

    def on_request_failed(request: Request) -> None:
        problems.append(f"request failed: {request.url} ({request.failure or 'unknown error'})")

    timeout_ms = timeout_s * 1000
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=executable, headless=True, args=["--no-sandbox"]
            )
        except PlaywrightError as exc:
            reason = f"is it a Chromium/Chrome executable?): {_first_line(exc)}"
            raise SetupError(f"Could not start Chromium at {executable} ({reason}") from None
        try:
            page = browser.new_page(viewport={"width": width, "height": VIEWPORT_HEIGHT})
            page.on("console", on_console)
            page.on("pageerror", on_page_error)
            page.on("requestfailed", on_request_failed)
            try:
                response = page.goto(url, wait_until="load", timeout=timeout_ms)
            except PlaywrightError as exc:
                problems.append(f"could not load {url}: {_first_line(exc)}")
                return result
            if response is not None and not response.ok:
                problems.append(f"page returned HTTP {response.status} {response.status_text}: {url}")
            try:
                page.wait_for_load_state("networkidle", timeout=timeout_ms)
            except PlaywrightError:
                problems.append(f"network still busy after {timeout_s:g} s; the screenshot may be incomplete")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=full_page)
            result.saved = True
            result.title = page.title()
        finally:
            browser.close()
    return result


def screenshot(
    target: str, out: Path, width: int = 1280, full_page: bool = True, chromium: str | None = None
) -> list[str]:
    """Save a PNG of ``target`` (local file or URL) to ``out``; return the problems seen (empty if none).

    Problems are console errors, uncaught page errors, failed requests and an HTTP error status of the
    page. Raises :class:`SetupError` if playwright or Chromium is missing or a local ``target`` is absent.
    """
    return capture(target, out, width=width, full_page=full_page, chromium=chromium).problems


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("page", metavar="PAGE_OR_URL", help="local HTML file, or http(s):// / file:// URL")
    parser.add_argument("out", metavar="OUT.png", type=Path, help="where to write the PNG")
    parser.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels (1280)")
    parser.add_argument(
        "--full-page",
        action=argparse.BooleanOptionalAction,
        default=True,
        help=f"capture the whole scrollable page (default), or only the {VIEWPORT_HEIGHT}-px-high viewport",
    )
    parser.add_argument("--chromium", metavar="PATH", help=f"Chromium executable (default: ${ENV_VAR}, PATH)")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds allowed for loading and for network idle (30)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = capture(
            args.page,
            args.out,
            width=args.width,
            full_page=args.full_page,
            chromium=args.chromium,
            timeout_s=args.timeout,
        )
    except SetupError as exc:
        print(f"screenshot.py: {exc}", file=sys.stderr)
        return 2
    for problem in result.problems:
        print(f"PROBLEM {problem}")
    if result.saved:
        print(f"saved {args.out}")
        print(f"title {result.title!r}")
    else:
        print(f"no screenshot saved: {args.page} did not load")
    if result.problems:
        print(f"{len(result.problems)} problem(s) found")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
