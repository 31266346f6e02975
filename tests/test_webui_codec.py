"""The Temporal Web UI shows a job's form answer only through the codec endpoint.

A real `durasumi dev` stack (dev server with `--ui-codec-endpoint`, the API, the workers,
the dev keyring it writes) and a real headless Chromium driven by Playwright: without an
operator's session the UI gets 401 from the codec endpoint and shows ciphertext; after the
operator signs in at /codec/login (and turns on the UI's "include cross-origin credentials",
set here through the UI's own local-storage settings) it shows the decoded answer. The dev
server's SQLite files hold neither secret.

Needs Chromium from the OS (Debian: ``apt-get install -y chromium``); Playwright drives it
as is, no browser download. Skipped, saying so, only when no Chromium is installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, Response, async_playwright, expect

from tests.test_dev import Dev, fetch_when_up, wait_status


def chromium() -> str | None:
    """A Chromium binary: DURASUMI_CHROMIUM, else the OS package's."""
    for candidate in (
        os.environ.get("DURASUMI_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
        shutil.which("google-chrome"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CHROMIUM = chromium()
VIEWPORT = {"width": 1400, "height": 1800}  # the job's input and result side by side
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium is not installed (Debian: apt-get install -y chromium; or set "
    "DURASUMI_CHROMIUM to a Chromium binary)",
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield instance
        finally:
            await instance.close()


async def open_job(page: Page, ui: str, job_id: str) -> list[int]:
    """Open the job's page; the statuses of the UI's calls to the codec endpoint."""
    codec_calls: list[int] = []

    def record(response: Response) -> None:
        if "/codec/decode" in response.url:
            codec_calls.append(response.status)

    page.on("response", record)
    async with page.expect_response(lambda r: "/codec/decode" in r.url):
        await page.goto(f"{ui}/namespaces/default/workflows/{job_id}")
    await page.wait_for_url("**/timeline")  # the UI redirects to the latest run
    return codec_calls


async def wait_form(dev: Dev, job_id: str, form_id: str) -> None:
    for _ in range(100):
        code, out, _ = await dev.cli("inspect", job_id, "--json")
        pending = json.loads(out)["job"]["pending_form"] if code == 0 else None
        if pending and pending["form"]["id"] == form_id:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{job_id} never asked for form {form_id}")


async def test_web_ui_decodes_only_for_a_signed_in_operator(
    tmp_path: Path, browser: Browser
) -> None:
    dev = Dev(tmp_path)
    banner = await dev.start()
    ui = f"http://127.0.0.1:{dev.env['DURASUMI_DEV_UI_PORT']}"
    api = f"http://127.0.0.1:{dev.env['DURASUMI_API_PORT']}"
    destination = f"Dest-{uuid.uuid4().hex[:12]}"
    answer = f"ages-{uuid.uuid4().hex[:16]}"  # the form answer, <= 40 characters
    try:
        assert "payloads       encrypted" in banner and f"{api}/codec/login" in banner
        await fetch_when_up(f"{api}/agents/trip-planner/availability")
        code, operator_key, err = await dev.cli(
            "keys", "create", "--role", "operator", "--owner", "ops"
        )
        assert code == 0, err
        code, out, err = await dev.cli(
            "start", "trip-planner", "-F", f"destination={destination}", "--json"
        )
        assert code == 0, err
        job_id = json.loads(out)["job_id"]
        await wait_status(dev, job_id, "awaiting_input")
        code, _, err = await dev.cli(
            "signal",
            job_id,
            "-F",
            "adults=2",
            "-F",
            "children=true",
            "-F",
            f"children_ages={answer}",
        )
        assert code == 0, err
        await wait_form(dev, job_id, "budget")  # paused on the second form

        # No session: the codec endpoint refuses, the UI shows the stored ciphertext.
        anonymous = await browser.new_context(viewport=VIEWPORT)
        page = await anonymous.new_page()
        calls = await open_job(page, ui, job_id)
        await expect(
            page.locator("#content").get_by_text("Codec Server could not connect")
        ).to_be_visible()
        assert calls and set(calls) == {401}, calls
        body = await page.inner_text("body")
        assert destination not in body and answer not in body
        assert "job_id" not in body  # not even the JSON keys: the input is one opaque blob
        await anonymous.close()

        # The operator signs in on the API's page; the UI sends the session cookie.
        operator = await browser.new_context(viewport=VIEWPORT)
        # The UI's Codec Server settings (persisted in local storage): this endpoint, with
        # cross-origin credentials, which the dev server's flags cannot turn on.
        endpoint = json.dumps(f"{api}/codec")
        await operator.add_init_script(
            f"localStorage.setItem('endpoint', JSON.stringify({endpoint}));"
            "localStorage.setItem('includeCredentials', 'true');"
            "localStorage.setItem('overrideRemoteCodecConfiguration', 'true');"
        )
        page = await operator.new_page()
        await page.goto(f"{api}/codec/login")
        await page.fill("input[name=key]", operator_key.strip())
        await page.click("button[type=submit]")
        await expect(page.get_by_text("Signed in")).to_be_visible()
        calls = await open_job(page, ui, job_id)
        await expect(page.get_by_text(destination).first).to_be_visible()  # the job's input
        await page.goto(page.url.rsplit("/", 1)[0] + "/history")
        await page.get_by_text("Workflow Execution Update Accepted").first.click()
        await expect(page.get_by_text(answer).first).to_be_visible()  # the form answer
        assert calls and set(calls) == {200}, calls
        await operator.close()
    finally:
        await dev.stop()

    # What the dev server wrote to disk holds the job, but none of its secrets.
    files = sorted(tmp_path.glob("temporal.db*"))  # noqa: ASYNC240 (the stack is stopped)
    stored = b"".join(f.read_bytes() for f in files)
    assert job_id.encode() in stored, files  # the right files, flushed
    assert destination.encode() not in stored and answer.encode() not in stored
