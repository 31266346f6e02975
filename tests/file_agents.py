"""Agents for the payload-store tests: a big result, and a file in, a file out."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, JsonValue
from temporalio import activity, workflow

from durasumi.activities.files import read_file, write_file
from durasumi.workflows.agent import AgentWorkflow
from durasumi.workflows.forms import Field, Form
from durasumi.workflows.models import AgentRunInput

# What the big result repeats: the tests look for it in history and in the store.
MARKER = "durasumi-big-result-plaintext-"


def big_text(megabytes: int) -> str:
    """``megabytes`` MB of the marker (the tests build the same text to compare)."""
    size = megabytes * 1_000_000
    return (MARKER * (size // len(MARKER) + 1))[:size]


@workflow.defn(name="big-result")
class BigResult(AgentWorkflow):
    """Returns a result of ``megabytes`` MB: far over Temporal's 2 MB payload limit."""

    input_form = Form(
        id="big", title="Big", fields=[Field.number("megabytes", "Megabytes", min=1, max=50)]
    )

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        data = self.validated_input(job)
        return {"text": big_text(int(str(data["megabytes"])))}


class Upload(BaseModel):
    url: str


class Echoed(BaseModel):
    url: str
    sha256: str
    size: int


ECHO_PREFIX = b"echo:"


@activity.defn
async def echo_file(upload: Upload) -> Echoed:
    """Read the uploaded file; write ``echo:`` + its bytes as a new file; its URL."""
    data = await read_file(upload.url)
    url = await write_file(
        ECHO_PREFIX + data, content_type="application/octet-stream", name="e.bin"
    )
    return Echoed(url=url, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


@workflow.defn(name="file-echo")
class FileEcho(AgentWorkflow):
    """Takes a file field, answers with a file result (``outputFormat: url``)."""

    input_form = Form(
        id="doc",
        title="Document",
        fields=[Field.file("doc", "Document", accept="application/octet-stream,.bin")],
    )
    activities = (echo_file,)

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        data = self.validated_input(job)
        echoed: Echoed = await self.step(echo_file, Upload(url=str(data["doc"])))
        return {"file": echoed.url, "sha256": echoed.sha256, "size": echoed.size}


class Sized(BaseModel):
    size: int
    sha256: str


@activity.defn
async def size_file(upload: Upload) -> Sized:
    """The size and digest of an uploaded file."""
    data = await read_file(upload.url)
    return Sized(size=len(data), sha256=hashlib.sha256(data).hexdigest())


ATTACH = Form(
    id="attach", title="Attach", fields=[Field.file("attachment", "Attachment", accept="text/*")]
)


@workflow.defn(name="file-ask")
class FileAsk(AgentWorkflow):
    """Asks for a file in a form during the job, then reads it."""

    input_form = Form(id="start", title="Start", fields=[Field.text("note", "Note")])
    activities = (size_file,)

    @workflow.run
    async def run(self, job: AgentRunInput) -> dict[str, JsonValue]:
        answer = await self.ask(ATTACH)
        sized: Sized = await self.step(size_file, Upload(url=str(answer["attachment"])))
        return {"size": sized.size, "sha256": sized.sha256}
