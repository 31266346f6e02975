"""The browser console at /console, driven in headless Chromium against the real stack.

The real API (uvicorn), real workers on the session's Temporal dev server, and, for the
paid job, the offline Cardano ledger on a time-skipping server (test_api_paid's fixture).
The browser only ever talks to the API, with the key it was signed in with.

Needs Chromium from the OS (Debian: ``apt-get install -y chromium``), as test_webui_codec.
Screenshots go to the test's temp folder; ``DURASUMI_CONSOLE_SHOTS=docs/img`` writes the
ones docs/console.md shows.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.async_api import Browser, BrowserContext, Page, Route, expect

from durasumi.api.app import create_app
from durasumi.api.routes.console import CONSOLE_DIR
from durasumi.cli.escrow import _payment_request
from durasumi.client import jobs
from durasumi.client.jobs import job_result
from durasumi.workers.settings import Settings
from durasumi.workflows.escrow_models import EscrowState
from durasumi.workflows.forms import Field, Form, Group, ShowWhen
from durasumi.workflows.models import JobStatus
from tests.api_fixtures import Api
from tests.conftest import ROOT
from tests.test_api_paid import PaidApi, paid_api  # noqa: F401  (fixture)
from tests.test_escrow_saga import env  # noqa: F401  (the time-skipping server fixture)
from tests.test_webui_codec import CHROMIUM, browser  # noqa: F401  (fixture)

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install -y chromium; or set "
    "DURASUMI_CHROMIUM to a Chromium binary)",
)
VIEWPORT = {"width": 1280, "height": 900}


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:  # noqa: F811
    ctx = await browser.new_context(viewport=VIEWPORT)
    yield ctx
    await ctx.close()


class Console:
    """One browser tab on the console, failing the test on any script error."""

    def __init__(self, page: Page, url: str, shots: Path) -> None:
        self.page = page
        self.url = url
        self.shots = shots
        self.errors: list[str] = []
        page.on("pageerror", lambda err: self.errors.append(str(err)))

    async def sign_in(self, key: str) -> None:
        await self.page.goto(f"{self.url}/console")
        await self.page.fill("#api-key", key)
        await self.page.click("#sign-in button[type=submit]")
        await expect(self.page.locator("#agents")).to_be_visible()

    async def shot(self, name: str) -> None:
        await self.page.screenshot(path=self.shots / f"console-{name}.png", full_page=True)

    def job_id(self) -> str:
        assert "#/job/" in self.page.url, self.page.url
        return unquote(self.page.url.split("#/job/", 1)[1])

    async def jobs_rows(self) -> list[str]:
        return [
            str(await row.get_attribute("data-job"))
            for row in await self.page.locator("#jobs tbody tr").all()
        ]


async def sse_blocks(response: httpx.Response) -> AsyncIterator[str]:
    """The raw blocks (each ending in a blank line) of a text/event-stream response."""
    buffer = ""
    async for text in response.aiter_text():
        buffer += text
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            yield block + "\n\n"


def shots_folder(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("DURASUMI_CONSOLE_SHOTS") or tmp_path)
    folder = folder if folder.is_absolute() else ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Every kind of field, groups nested two deep, a group shown only for one plan, and a field
# whose own condition adds to its group's (rendered as {"all": [...]}).
ORDER = Form(
    id="order",
    title="Order",
    fields=[
        Field.email("email", "E-mail"),
        Field.option("plan", "Plan", ["basic", "pro"]),
        Field.info("note", "About billing", description="Pro plans are invoiced."),
        Field.hidden("source", "Source", value="console"),
    ],
    groups=[
        Group(
            id="billing",
            title="Billing",
            visible_when=ShowWhen(field="plan", equals="pro"),
            fields=[
                Field.text("vat", "VAT id", min=4),
                Field.number("seats", "Seats", min=1, max=50, integer=True),
            ],
            groups=[
                Group(
                    id="invoice",
                    title="Invoice",
                    fields=[
                        Field.option("extras", "Extras", ["pdf", "paper"], multiple=True),
                        Field.url(
                            "portal",
                            "Portal",
                            optional=True,
                            visible_when=ShowWhen.model_validate(
                                {"field": "extras", "in": ["paper"]}
                            ),
                        ),
                    ],
                )
            ],
        ),
        Group(
            id="when",
            title="When",
            fields=[
                Field.date("start", "Start date"),
                Field.range("priority", "Priority", min=1, max=5),
                Field.radio("speed", "Speed", ["slow", "fast"]),
                Field.checkbox("terms", "I agree"),
                Field.textarea("comment", "Comment", optional=True, max=200),
            ],
        ),
    ],
)


async def start_trip(console: Console, destination: str) -> str:
    """Start a trip-planner job from the agents page; its id."""
    page = console.page
    await page.goto(f"{console.url}/console#/agents")
    await (
        page.locator("tr[data-agent=trip-planner]").get_by_role("link", name="Start a job").click()
    )
    await page.locator("#start-form").get_by_label("Where to?").fill(destination)
    await page.get_by_role("button", name="Start job").click()
    await page.wait_for_url("**/console#/job/*")
    return console.job_id()


def test_console_files_are_served_from_the_package(tmp_path: Path) -> None:
    http = TestClient(create_app(Settings(home=tmp_path)))  # no lifespan: no Temporal needed
    page = http.get("/console")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert 'src="console/console.js"' in page.text and 'href="console/console.css"' in page.text
    script = http.get("/console/console.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert http.get("/console/console.css").headers["content-type"].startswith("text/css")
    assert http.get("/console/index.html").status_code == 404  # only the two assets
    assert http.get("/console/..%2Fapp.py").status_code == 404
    slash = http.get("/console/", follow_redirects=False)
    assert slash.status_code == 308 and slash.headers["location"] == "../console"
    # Offline and escaped: nothing from another origin, no HTML built from strings.
    for name in ("index.html", "console.js", "console.css"):
        text = (CONSOLE_DIR / name).read_text()
        assert "http://" not in text and "https://" not in text.replace("https://…", ""), name
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in text, (name, sink)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"durasumi.api" = ["console/*"]' in pyproject  # in the wheel


@needs_chromium
async def test_console_runs_a_conversation_job(
    sqlite_api: Api, context: BrowserContext, tmp_path: Path
) -> None:
    api = sqlite_api
    console = Console(await context.new_page(), api.url, shots_folder(tmp_path))
    page = console.page

    # A refused key stays out; alice's key signs in and lists the agents.
    await page.goto(f"{api.url}/console")
    await page.fill("#api-key", "dsk_nope_nope")
    await page.click("#sign-in button[type=submit]")
    await expect(page.locator("#sign-in [role=alert]")).to_contain_text("refused")
    await console.sign_in(api.keys["alice"])
    assert await page.evaluate("sessionStorage.getItem('durasumi.apiKey')") == api.keys["alice"]
    trip = page.locator("tr[data-agent=trip-planner]")
    await expect(trip).to_contain_text("available")
    await expect(trip.locator(".price")).to_have_text("free")
    await console.shot("agents")

    # The start form rendered from input_schema: the server's field error shows beside it.
    await trip.get_by_role("link", name="Start a job").click()
    start = page.locator("#start-form")
    where = start.get_by_label("Where to?")
    await where.fill("X")
    await start.get_by_role("button", name="Start job").click()
    error = start.locator("[data-field=destination] .field-error")
    await expect(error).to_contain_text("at least 2 characters")
    await expect(where).to_have_attribute("aria-invalid", "true")
    await console.shot("start-error")
    destination = f"Lisbon {uuid.uuid4().hex[:8]}"
    await where.fill(destination)
    await start.get_by_role("button", name="Start job").click()
    await page.wait_for_url("**/console#/job/*")
    first_job = console.job_id()

    # The first form: a conditional field appears live; a refused answer keeps every value.
    who = page.locator("#answer-form[data-form=travellers]")
    await expect(who).to_be_visible()
    ages = who.locator("[data-field=children_ages]")
    await expect(ages).to_be_hidden()
    children = who.get_by_label("Are children coming along?")
    await children.check()
    await expect(ages).to_be_visible()
    await ages.locator("input").fill("4, 7")
    await who.get_by_label("Adults").fill("0")
    await who.get_by_role("button", name="Send answer").click()
    await expect(who.locator("[data-field=adults] .field-error")).to_contain_text("at least 1")
    await expect(ages.locator("input")).to_have_value("4, 7")
    await expect(children).to_be_checked()
    await expect(who.get_by_label("Adults")).to_have_value("0")
    await console.shot("job-form")
    await who.get_by_label("Adults").fill("2")
    await who.get_by_role("button", name="Send answer").click()

    # The second form replaces it; the job completes and its result shows.
    budget = page.locator("#answer-form[data-form=budget]")
    await expect(budget).to_be_visible()
    await budget.get_by_label("Budget level").select_option("comfort")
    await budget.get_by_label("Anything else?").fill("window seats")
    await budget.get_by_role("button", name="Send answer").click()
    await expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
    summary = (
        f"4 traveller(s) to {destination}, with children aged 4, 7, comfort budget; "
        "noted: window seats"
    )
    await expect(page.locator("#result")).to_contain_text(summary)
    await expect(page.locator("#stream-state")).to_have_text("ended")
    await expect(page.locator("#pending")).to_be_hidden()
    kinds = await page.locator("#events li").evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds.count("form_requested") == 2 and kinds.count("form_submitted") == 2, kinds
    assert "result" in kinds
    await console.shot("job-completed")

    # A second job, newest first in the list; a status filter leaves only the finished one.
    second_job = await start_trip(console, f"Porto {uuid.uuid4().hex[:8]}")
    await expect(page.locator("#answer-form[data-form=travellers]")).to_be_visible()
    await page.goto(f"{api.url}/console#/jobs?agent=trip-planner")
    for _ in range(50):  # visibility catches up within a second or two
        rows = await console.jobs_rows()
        if second_job in rows and first_job in rows:
            break
        await page.get_by_role("button", name="Refresh").click()
        await page.wait_for_timeout(200)
    rows = await console.jobs_rows()
    assert rows[0] == second_job and rows.index(first_job) > 0, rows
    await expect(page.locator(f"#jobs tr[data-job='{second_job}']")).to_contain_text(
        "awaiting_input"
    )
    await console.shot("jobs")
    await page.locator("#filter-status").select_option("completed")
    await page.wait_for_url("**status=completed*")
    await expect(page.locator(f"#jobs tr[data-job='{first_job}']")).to_be_visible()
    assert second_job not in await console.jobs_rows()

    # Cancel the second one from its page.
    await page.goto(f"{api.url}/console#/job/{second_job}")
    await page.locator("#cancel").click()
    await page.locator("#cancel-confirm").click()
    await expect(page.locator("#job-status")).to_have_text("cancelled", timeout=30_000)
    view = await jobs.job_view(api.stack.client, second_job)
    assert view.status is JobStatus.CANCELLED
    assert (await jobs.job_view(api.stack.client, first_job)).status is JobStatus.COMPLETED

    # Signing out forgets the key.
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.locator("#sign-in")).to_be_visible()
    assert await page.evaluate("sessionStorage.getItem('durasumi.apiKey')") is None
    assert console.errors == []


@needs_chromium
async def test_console_shows_a_paid_jobs_escrow(
    paid_api: PaidApi,  # noqa: F811
    context: BrowserContext,
    tmp_path: Path,
) -> None:
    api = paid_api.api
    console = Console(await context.new_page(), api.url, shots_folder(tmp_path))
    page = console.page
    await console.sign_in(api.keys["alice"])
    agent = page.locator("tr[data-agent=paid-echo]")
    await expect(agent.locator(".price")).to_have_text("25 ADA")
    await agent.get_by_role("link", name="Start a job").click()
    start = page.locator("#start-form")
    await expect(start).to_contain_text("costs 25 ADA")
    await start.get_by_label("Text").fill("hello")
    await start.get_by_label("How it ends").select_option("ok")
    await start.get_by_role("button", name="Start job").click()
    await page.wait_for_url("**/console#/job/*")
    job_id = console.job_id()

    # Nobody paid yet: the job waits, its escrow is not locked.
    await expect(page.locator("#job-status")).to_have_text("awaiting_payment")
    escrow = page.locator("#escrow")
    await expect(escrow.locator("#escrow-state")).to_have_text(EscrowState.NOT_LOCKED.value)
    await expect(escrow).to_contain_text("25 ADA")
    view = await jobs.job_view(paid_api.client, job_id)
    assert view.escrow is not None
    await expect(escrow).to_contain_text(view.escrow.blockchain_identifier[:24])
    await console.shot("escrow")

    # The dev buyer pays; the job runs, and settles once its clock is skipped to unlockTime.
    paid_api.dev.pay(_payment_request(view, view.escrow), int(time.time() * 1000))
    handle = jobs.job_handle(paid_api.client, job_id)
    await paid_api.env.fast_forward(handle, None)
    assert (await job_result(handle)).status is JobStatus.COMPLETED
    await expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
    await expect(page.locator("#result")).to_contain_text("echo: hello")
    await expect(escrow.locator("#escrow-state")).to_have_text(EscrowState.WITHDRAWN.value)
    await expect(escrow).to_contain_text("withdraw")
    assert console.errors == []


@needs_chromium
async def test_console_shows_progress(
    sqlite_api: Api, context: BrowserContext, tmp_path: Path
) -> None:
    console = Console(await context.new_page(), sqlite_api.url, shots_folder(tmp_path))
    page = console.page
    await console.sign_in(sqlite_api.keys["bob"])
    # The first event stream drops after two events: the console reconnects and resumes.
    streams: list[str | None] = []

    async def drop_first(route: Route) -> None:
        streams.append(route.request.headers.get("last-event-id"))
        if len(streams) > 1:
            await route.continue_()
            return
        blocks: list[str] = []
        async with (
            sqlite_api.client("bob") as http,
            http.stream("GET", urlsplit(route.request.url).path) as stream,
        ):
            async for block in sse_blocks(stream):
                blocks.append(block)
                if len(blocks) == 2:
                    break
        body = "".join(blocks)
        await route.fulfill(status=200, headers={"content-type": "text/event-stream"}, body=body)

    await page.route("**/jobs/*/events", drop_first)
    await (
        page.locator("tr[data-agent=batch-report]").get_by_role("link", name="Start a job").click()
    )
    start = page.locator("#start-form")
    await start.get_by_label("Number of chunks").fill("4")
    await start.get_by_label("Seconds per chunk").fill("0.5")
    await start.get_by_role("button", name="Start job").click()
    await page.wait_for_url("**/console#/job/*")
    # Live: the bar is seen part-filled (checked on every animation frame), then full.
    midway = "() => { const p = document.querySelector('#progress progress');"
    midway += " return p !== null && p.value > 0 && p.value < 100; }"
    await page.wait_for_function(midway, timeout=30_000)
    bar = page.locator("#progress progress")
    await expect(bar).to_have_attribute("data-percent", "100", timeout=30_000)
    await expect(page.locator("#progress")).to_contain_text("chunk 4/4 done")
    await expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)
    await expect(page.locator("#result")).to_contain_text("digests")
    await console.shot("progress")
    assert await page.locator("#progress progress").count() == 1  # one bar, updated in place
    assert streams == [None, "2"], streams
    seqs = await page.locator("#events li").evaluate_all("els => els.map(e => +e.dataset.seq)")
    assert seqs == list(range(1, len(seqs) + 1)), seqs  # no event lost or shown twice
    assert console.errors == []


@needs_chromium
async def test_console_renders_groups_and_conditions_like_the_server(
    sqlite_api: Api, context: BrowserContext, tmp_path: Path
) -> None:
    async with sqlite_api.client("operator") as http:
        resp = await http.post(
            "/agents",
            json={
                "name": "console-order",
                "description": "Registered by the test; no worker serves it.",
                "task_queue": f"nobody-{uuid.uuid4().hex[:8]}",
                "input_form": ORDER.model_dump(mode="json"),
            },
        )
    assert resp.status_code == 201, resp.text
    console = Console(await context.new_page(), sqlite_api.url, shots_folder(tmp_path))
    page = console.page
    await console.sign_in(sqlite_api.keys["alice"])
    await expect(page.locator("tr[data-agent=console-order]")).to_contain_text("offline")

    # The converter for pending forms renders exactly what the server's input_schema is.
    for form in (ORDER, ORDER.model_copy(update={"groups": []})):
        rendered = await page.evaluate(
            "form => window.durasumiConsole.formToSchema(form)", form.model_dump(mode="json")
        )
        assert rendered == form.to_input_schema()

    await page.goto(f"{sqlite_api.url}/console#/start/console-order")
    start = page.locator("#start-form")
    legends = ["Order", "Billing", "Billing / Invoice", "When"]
    await expect(start.locator("fieldset legend")).to_have_text(legends)
    billing = start.locator("fieldset[data-group=billing]")
    invoice = start.locator("fieldset[data-group=invoice]")
    portal = start.locator("[data-field=portal]")
    await expect(billing).to_be_hidden()
    await expect(invoice).to_be_hidden()
    await expect(start.locator("[data-field=source]")).to_be_hidden()  # a fixed hidden value
    await expect(start.locator("[data-field=note]")).to_contain_text("Pro plans are invoiced.")
    await start.get_by_label("Plan").select_option("pro")
    await expect(billing).to_be_visible()
    await expect(invoice).to_be_visible()
    await expect(portal).to_be_hidden()
    await start.get_by_label("paper").check()  # {"all": [plan is pro, extras has paper]}
    await expect(portal).to_be_visible()

    # Refused: every error beside its field, in whichever group it is.
    await start.get_by_label("E-mail").fill("not-an-address")
    await billing.get_by_label("VAT id").fill("ab")
    await billing.get_by_label("Seats").fill("3")
    await start.get_by_role("button", name="Start job").click()
    errors = {
        "email": "e-mail address",
        "vat": "at least 4 characters",
        "start": "is required",
        "speed": "is required",
    }
    for field, message in errors.items():
        await expect(start.locator(f"[data-field={field}] .field-error")).to_contain_text(message)
    await expect(start.locator("[data-field=seats] .field-error")).to_be_hidden()
    await console.shot("groups")

    # Back to the basic plan: the billing group hides again, its values kept for later.
    await start.get_by_label("Plan").select_option("basic")
    await expect(billing).to_be_hidden()
    await expect(billing.get_by_label("VAT id")).to_have_value("ab")

    # What is sent: only what is shown and has a value, typed as the form's check wants.
    await start.get_by_label("E-mail").fill("ada@example.org")
    await start.get_by_label("Start date").fill("2030-05-17")
    await start.get_by_label("fast").check()
    await expect(start.locator("[data-field=priority] output")).to_have_text("3")
    sent: list[dict[str, Any]] = []

    async def capture(route: Route) -> None:  # no job: nobody serves this agent
        sent.append(route.request.post_data_json)
        await route.abort()

    await page.route("**/start_job", capture)
    await start.get_by_role("button", name="Start job").click()
    await expect(start.locator(".form-errors")).to_contain_text("cannot be reached")
    body = sent[0]
    assert re.fullmatch(r"[0-9a-f]{16}", body["identifier_from_purchaser"]), body
    assert body["input_data"] == {
        "email": "ada@example.org",
        "plan": "basic",
        "start": "2030-05-17",
        "priority": 3,
        "speed": "fast",
        "terms": False,
    }
    assert ORDER.check(body["input_data"]).ok
    assert console.errors == []
