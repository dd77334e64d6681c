"""The web console in a real browser: Debian's Chromium, headless, driven by Playwright, through the demo flow.

Every service runs as a process against the real Kafka, Redis and S3 under this test's prefix; the console is
the build in ``console/dist`` (scripts/setup.sh builds it) served by the gateway, and it reaches Tailor only
through the AWS SDK for JavaScript, SigV4-signed with the development identity typed into its sign-in page.
Screenshots of each step go to ``tests/browser/artifacts/`` (gitignored; docs/console.md).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tailor_gateway.config import CHECKOUT_CONSOLE_DIR
from tailor_shared.config import S3Settings
from tailor_shared.objectstore import ObjectStore
from tailor_tools import localstack, synthetic
from tailor_tools.identity import default_credential
from tests.conftest import GRPC_HEALTH_NAMES, RunningService, wait_grpc_serving

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ARTIFACTS = Path(__file__).parent / "artifacts"
AXE = CHECKOUT_CONSOLE_DIR.parent / "node_modules" / "axe-core" / "axe.min.js"
#: Debian's package (scripts/setup.sh installs it); Playwright's own browser download is not used.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Small enough that the training step takes seconds (the impressions and auto-update tests' settings).
SOLUTION_CONFIG = {"algorithmHyperParameters": {"hidden_dimension": "32", "bptt": "8"}}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert (CHECKOUT_CONSOLE_DIR / "index.html").is_file(), "console not built: run scripts/setup.sh"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    yield opened
    context.close()


def shoot(page: Page, step: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{step}.png"), full_page=True)


def audit(page: Page, what: str) -> None:
    """axe-core's WCAG checks (npm, console/node_modules) on the page as it is: no violation of any impact.
    Evaluated through the DevTools protocol, as the page's Content-Security-Policy refuses inline scripts."""
    page.evaluate(AXE.read_text() + ";0")
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => `${v.impact} ${v.id}: ${v.help} (${v.nodes.length}x, e.g. ${v.nodes[0].html})`)"
    )
    assert violations == [], f"{what}: {violations}"


def row(page: Page, table: str, text: str) -> Locator:
    """The row of the table named ``table`` (its caption) that contains ``text``."""
    return page.get_by_role("table", name=table).get_by_role("row").filter(has_text=text)


def test_demo_flow_through_the_console(
    spawn_service: Callable[..., RunningService], page: Page, s3_bucket: str, tmp_path: Path
) -> None:
    services = {name: spawn_service(name, wait=False) for name in ("control", "ingest", "stream", "trainer", "runtime")}
    for svc in services.values():
        if svc.name in GRPC_HEALTH_NAMES:
            wait_grpc_serving(svc, timeout=150)  # started together; on a loaded machine the imports take a while
    gateway = spawn_service(
        "gateway",
        TAILOR_GATEWAY_CONTROL_ADDRESS=services["control"].address,
        TAILOR_GATEWAY_EVENTS_ADDRESS=services["ingest"].address,
        TAILOR_GATEWAY_RUNTIME_ADDRESS=services["runtime"].address,
        TAILOR_RUNTIME_METADATA_REFRESH_S="1",
    )
    data = synthetic.generate(n_users=60, n_items=80, seed=11)
    objects = ObjectStore(S3Settings.from_env(localstack.StackConfig.from_env().s3_env()))
    location = f"s3://{s3_bucket}/console/interactions.csv"
    objects.write_bytes(location, synthetic.to_csv(data.interactions).encode())
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    dev = default_credential()
    name = f"console-{uuid.uuid4().hex[:8]}"

    # First paint, as the browser measured it (Performance API; docs/benchmarks.md, W2).
    page.goto(f"http://{gateway.address}/")
    assert page.url.endswith("/console/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    paint = page.evaluate(
        "() => Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]))"
    )
    nav = page.evaluate("() => performance.getEntriesByType('navigation')[0].toJSON()")
    print(
        f"console first paint {paint.get('first-paint', float('nan')):.0f} ms, first contentful paint "
        f"{paint.get('first-contentful-paint', float('nan')):.0f} ms, DOMContentLoaded "
        f"{nav['domContentLoadedEventEnd']:.0f} ms, {nav['transferSize']} bytes of HTML"
    )
    shoot(page, "01-sign-in")

    audit(page, "sign-in")
    # Keyboard only: the key field has the focus, Tab to the secret, Enter submits; Shift+Tab from the key field
    # reaches the skip link. A wrong secret is refused with the gateway's typed error.
    expect(page.get_by_label("Access key ID")).to_be_focused()
    page.keyboard.type(dev.access_key_id)
    page.keyboard.press("Tab")
    page.keyboard.type("not-the-secret")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("InvalidSignatureException")
    page.get_by_label("Access key ID").focus()
    page.keyboard.press("Shift+Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_label("Secret access key").fill(dev.secret_access_key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dataset groups", level=1)).to_be_visible()

    # Create the dataset group; it turns ACTIVE in the list.
    page.get_by_label("Dataset group name").fill(name)
    page.get_by_role("button", name="Create dataset group").click()
    expect(row(page, "Dataset groups", name)).to_contain_text("ACTIVE", timeout=30_000)
    shoot(page, "02-dataset-groups")
    page.get_by_role("link", name=name, exact=True).click()
    expect(page.get_by_role("heading", name=name, level=1)).to_contain_text("ACTIVE", timeout=30_000)

    # Schema + Interactions dataset.
    form = page.get_by_role("form", name="Create schema and dataset")
    form.get_by_label("Dataset type").select_option("Interactions")
    form.get_by_label("Dataset name").fill(f"{name}-interactions")
    form.get_by_label("Schema name").fill(f"{name}-schema")
    form.get_by_label("Schema (Avro JSON)").fill(json.dumps(synthetic.INTERACTIONS_SCHEMA))
    form.get_by_role("button", name="Create dataset").click()
    expect(row(page, "Datasets", f"{name}-interactions")).to_contain_text("ACTIVE", timeout=30_000)

    # Import the CSV from S3; the job's status moves to ACTIVE on the page by itself (polling).
    form = page.get_by_role("form", name="Create dataset import job")
    form.get_by_label("Import job name").fill(f"{name}-import")
    form.get_by_label("Data location (S3 path)").fill(location)
    form.get_by_role("button", name="Start import").click()
    expect(row(page, "Dataset import jobs", f"{name}-import")).to_contain_text("ACTIVE", timeout=120_000)
    shoot(page, "03-imported")

    # A filter with a parameter (used on the test page below).
    form = page.get_by_role("form", name="Create filter")
    form.get_by_label("Filter name").fill(f"{name}-seen")
    form.get_by_label("Filter expression").fill("EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($TYPES)")
    form.get_by_role("button", name="Create filter").click()
    expect(row(page, "Filters", f"{name}-seen")).to_contain_text("ACTIVE", timeout=30_000)

    # An event tracker: its tracking id is in the form's answer (PutEvents below, for the Live page).
    form = page.get_by_role("form", name="Create event tracker")
    form.get_by_label("Event tracker name").fill(f"{name}-tracker")
    form.get_by_role("button", name="Create event tracker").click()
    created = form.get_by_text("tracking ID")
    expect(created).to_be_visible()
    found = re.search(r"tracking ID ([0-9a-zA-Z-]+)", created.inner_text())
    assert found, created.inner_text()
    tracking_id = found.group(1)
    expect(row(page, "Event trackers", f"{name}-tracker")).to_contain_text("ACTIVE", timeout=30_000)

    # Solution (User-Personalization, small) and a trained version.
    form = page.get_by_role("form", name="Create solution")
    form.get_by_label("Solution name").fill(f"{name}-up")
    form.get_by_label("Recipe").select_option("arn:aws:personalize:::recipe/aws-user-personalization")
    form.get_by_label("Solution config (JSON, optional)").fill(json.dumps(SOLUTION_CONFIG))
    form.get_by_role("button", name="Create solution").click()
    expect(row(page, "Solutions", f"{name}-up")).to_contain_text("ACTIVE", timeout=30_000)
    page.get_by_role("button", name=f"Train {name}-up: create a solution version").click()
    version = row(page, "Solution versions", f"{name}-up")  # the Solution column names it
    expect(version).to_have_count(1, timeout=30_000)
    shoot(page, "04-training")
    expect(version).to_contain_text("ACTIVE", timeout=240_000)

    # Campaign on that version, with item metadata.
    form = page.get_by_role("form", name="Create campaign")
    form.get_by_label("Campaign name").fill(f"{name}-campaign")
    form.get_by_role("button", name="Create campaign").click()
    expect(row(page, "Campaigns", f"{name}-campaign")).to_contain_text("ACTIVE", timeout=120_000)
    shoot(page, "05-campaign")
    audit(page, "dataset group")

    # Test recommendations for a user who has history: items of the catalogue, with scores, through the page.
    row(page, "Campaigns", f"{name}-campaign").get_by_role("link", name="Test").click()
    expect(page.get_by_role("heading", name="Test recommendations")).to_be_visible()
    assert f"{name}-campaign" in page.get_by_label("Campaign or recommender").locator("option:checked").inner_text()
    user = str(data.interactions[0]["USER_ID"])
    page.get_by_label("User ID").fill(user)
    page.get_by_label("Number of results").fill("5")
    page.get_by_role("button", name="Get recommendations").click()
    results = page.get_by_role("table", name="Recommended items")
    expect(results.get_by_role("row")).to_have_count(6, timeout=30_000)  # header + 5 items
    shoot(page, "06-recommendations")
    catalogue = {str(i["ITEM_ID"]) for i in data.items}
    for r in range(1, 6):
        cells = results.get_by_role("row").nth(r).get_by_role("cell").all_inner_texts()
        assert cells[0] == str(r) and cells[1] in catalogue, cells
        assert 0 < float(cells[2]) <= 1, cells  # a softmax score
    expect(page.get_by_text("Recommendation ID: ")).not_to_contain_text("(none)")

    # The same request with the filter and its parameter: none of the user's own items come back.
    seen = {str(i["ITEM_ID"]) for i in data.interactions if i["USER_ID"] == user}
    page.get_by_label("Filter", exact=True).select_option(label=f"{name}-seen")
    page.get_by_label("Filter parameters (NAME=value, one a line)", exact=True).fill('TYPES="view","click","purchase"')
    answer = page.get_by_text("Recommendation ID: ")
    before = answer.inner_text()
    page.get_by_role("button", name="Get recommendations").click()
    expect(answer).not_to_have_text(before)  # each answer has its own recommendation id
    expect(results.get_by_role("row")).to_have_count(6)
    shoot(page, "06b-filtered")
    audit(page, "test recommendations")
    filtered = [results.get_by_role("row").nth(r).get_by_role("cell").nth(1).inner_text() for r in range(1, 6)]
    assert not seen & set(filtered), (seen, filtered)

    # And a promotion (the same filter as its own, 40 %): 2 of the 5 items say they are promoted.
    page.get_by_label("Promotion filter", exact=True).select_option(label=f"{name}-seen")
    page.get_by_label("Promoted items (percent)").fill("40")
    page.get_by_label("Promotion filter parameters (NAME=value, one a line)").fill('TYPES="view","click","purchase"')
    before = answer.inner_text()
    page.get_by_role("button", name="Get recommendations").click()
    expect(answer).not_to_have_text(before)
    expect(results.get_by_role("row")).to_have_count(6)
    shoot(page, "06c-promoted")
    reasons = [results.get_by_role("row").nth(r).get_by_role("cell").nth(3).inner_text() for r in range(1, 6)]
    assert sum("Promotion promotion" in reason for reason in reasons) == 2, reasons
    promoted = [results.get_by_role("row").nth(r).get_by_role("cell").nth(1).inner_text() for r in range(1, 6)]
    assert not seen & set(promoted), (seen, promoted)

    # Metrics of the solution: a row and a chart per metric for the trained version.
    page.go_back()
    row(page, "Solutions", f"{name}-up").get_by_role("link", name="Metrics").click()
    table = page.get_by_role("table", name="Metrics by solution version")
    expect(table).to_contain_text("normalized_discounted_cumulative_gain_at_10", timeout=30_000)
    expect(table.get_by_role("row")).to_have_count(2)  # header + the one version
    expect(page.get_by_role("figure", name="precision_at_5 by version")).to_be_visible()
    # The training's loss per epoch (the console read API's DescribeTrainingProgress).
    expect(page.get_by_role("figure", name="Training loss by epoch")).to_be_visible()
    shoot(page, "07-metrics")
    audit(page, "metrics")

    # Live: the user's recent events are the imported history, newest first.
    page.get_by_role("link", name="Live").click()
    page.get_by_label("Dataset group").select_option(label=name)
    page.get_by_label("User ID").fill(user)
    events = page.get_by_role("table", name=f"Recent events of {user}, newest first")
    expect(events).to_be_visible()
    # A live event through the gateway (boto3, as an application sends it) shows up on its own as the newest.
    item = str(data.items[-1]["ITEM_ID"])
    put = boto3.client(
        "personalize-events",
        endpoint_url=f"http://{gateway.address}",
        region_name="us-east-1",
        aws_access_key_id=dev.access_key_id,
        aws_secret_access_key=dev.secret_access_key,
    )
    put.put_events(
        trackingId=tracking_id,
        userId=user,
        sessionId=f"{name}-session",
        eventList=[{"eventType": "console-check", "itemId": item, "sentAt": dt.datetime.now(dt.UTC)}],
    )
    put.close()
    expect(events.get_by_role("row").nth(1)).to_contain_text(item, timeout=30_000)
    expect(events.get_by_role("row").nth(1)).to_contain_text("console-check")
    expect(page.get_by_role("table", name="Trending items")).to_be_visible()
    expect(page.get_by_text("This dataset group has no metric attribution.")).to_be_visible()
    shoot(page, "08-live")
    audit(page, "live")
    assert errors == [], errors
