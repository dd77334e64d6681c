"""The web console's first paint in headless Debian Chromium (issue 19: "first paint under a second locally").

    uv run python bench/console_paint.py [--loads 15]

Starts a gateway serving ``console/dist`` (no backends needed: the sign-in page makes no API call), then loads
``/console/`` in a fresh browser context each time (cold: nothing cached) and by reloading one context (warm:
the hashed assets come from the browser cache, ``index.html`` is revalidated). Reports, from the browser's
Performance API: first contentful paint, DOMContentLoaded, the load event, and when the sign-in form was
interactive (its heading visible to Playwright). Medians and p99 of the runs, cold and warm side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

import harness
from playwright.sync_api import Page, sync_playwright

from tailor_gateway.config import CHECKOUT_CONSOLE_DIR

METRICS = ("first-contentful-paint", "domContentLoaded", "load", "sign-in ready")


def measure(page: Page, url: str, reload: bool) -> dict[str, float]:
    if reload:
        page.reload()
    else:
        page.goto(url)
    page.get_by_role("heading", name="Sign in").wait_for()
    ready = float(page.evaluate("() => performance.now()"))
    page.wait_for_load_state("load")
    paint = page.evaluate(
        "() => performance.getEntriesByType('paint').find(e => e.name === 'first-contentful-paint')?.startTime ?? -1"
    )
    nav = page.evaluate("() => performance.getEntriesByType('navigation')[0].toJSON()")
    return {
        "first-contentful-paint": float(paint),
        "domContentLoaded": float(nav["domContentLoadedEventEnd"]),
        "load": float(nav["loadEventEnd"]),
        "sign-in ready": ready,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=15)
    args = parser.parse_args()
    if not (CHECKOUT_CONSOLE_DIR / "index.html").is_file():
        raise SystemExit("console not built: run scripts/setup.sh")
    workdir = Path(tempfile.mkdtemp(prefix="console-paint-"))
    gateway = harness.start_service("gateway", {"TAILOR_CONSOLE_DIR": str(CHECKOUT_CONSOLE_DIR)}, workdir)
    url = f"http://127.0.0.1:{gateway.port}/console/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or gateway.proc.poll() is not None:
                    raise SystemExit(gateway.log.read_text(errors="replace")[-3000:]) from None
                time.sleep(0.2)
        runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": []}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium") or "/usr/bin/chromium")
            measure(browser.new_page(), url, reload=False)  # the gateway's and Chromium's own first-use costs
            for _ in range(args.loads):
                context = browser.new_context()
                runs["cold"].append(measure(context.new_page(), url, reload=False))
                context.close()
            context = browser.new_context()
            page = context.new_page()
            measure(page, url, reload=False)
            for _ in range(args.loads):
                runs["warm"].append(measure(page, url, reload=True))
            browser.close()
    finally:
        gateway.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    sizes = sorted((f.stat().st_size for f in (CHECKOUT_CONSOLE_DIR / "assets").iterdir()), reverse=True)
    load = os.getloadavg()
    print(f"{args.loads} loads each; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1 / 5 / 15 min)")
    print(f"Built assets: {len(sizes)} files, largest {sizes[0] / 1024:.0f} KiB (before gzip).\n")
    print("| ms | cold median | cold p99 | warm median | warm p99 |")
    print("|---|---:|---:|---:|---:|")
    for metric in METRICS:
        row = []
        for kind in ("cold", "warm"):
            values = [r[metric] for r in runs[kind]]
            row += [f"{harness.pct(values, 0.5):.0f}", f"{harness.pct(values, 0.99):.0f}"]
        print(f"| {metric} | {' | '.join(row)} |")


if __name__ == "__main__":
    main()
