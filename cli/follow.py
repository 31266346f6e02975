"""`durasumi watch` for humans: event lines, progress bars, and what a pending form needs."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn

from durasumi.cli.output import status_text
from durasumi.cli.render import answer_command, event_line

if TYPE_CHECKING:
    from durasumi.workflows.models import FormRequest, JobEvent

__all__ = ["Follower", "progress_of"]


def progress_of(data: dict[str, Any]) -> tuple[float, str] | None:
    """(percent, counter text) of a progress event's data, or None if it has no counters.

    ``percent`` wins; else ``done`` out of ``total``.

    Example:
        >>> progress_of({"done": 3, "total": 12})
        (25.0, '3/12')
        >>> progress_of({"percent": 40}), progress_of({"rows": 7})
        ((40.0, ''), None)
    """
    done, total = _number(data.get("done")), _number(data.get("total"))
    counted = done is not None and total is not None and total > 0
    counter = f"{data['done']}/{data['total']}" if counted else ""
    percent = _number(data.get("percent"))
    if percent is None and done is not None and total:
        percent = 100 * done / total
    if percent is None:
        return None
    return min(max(percent, 0.0), 100.0), counter


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


class Follower:
    """Prints a job's events; on a terminal, progress events drive one progress bar.

    Off a terminal (a pipe, a log file) every event is a line, progress included, so
    nothing is lost to a redrawn bar.
    """

    def __init__(self, console: Console, job_id: str) -> None:
        self.console = console
        self.job_id = job_id
        self.live = console.is_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._asked: set[str] = set()

    def __enter__(self) -> Follower:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def event(self, event: JobEvent) -> None:
        """Show one event: a progress bar update, or a line."""
        counters = progress_of(event.data) if event.kind.value == "progress" else None
        if self.live and counters is not None:
            self._bar(event.message, *counters)
            return
        self.console.print(event_line(event), soft_wrap=True)

    def waiting(self, request: FormRequest) -> None:
        """Say the job waits for ``request`` and print the command that answers it (once)."""
        if request.request_id in self._asked:
            return
        self._asked.add(request.request_id)
        deadline = f", before {request.deadline:%Y-%m-%d %H:%M} UTC" if request.deadline else ""
        self.console.print(
            f"[bold magenta]waiting for input[/]: form {request.form.id} "
            f"({request.form.title}){deadline}",
            highlight=False,
            soft_wrap=True,
        )
        self.console.print(
            f"  answer with: {answer_command(self.job_id, request)}",
            highlight=False,
            soft_wrap=True,
        )
        self.console.print(
            f"  (durasumi inspect {self.job_id} lists every field and its rules)",
            style="dim",
            highlight=False,
            soft_wrap=True,
        )

    def done(self, status: str) -> None:
        """The job ended (or the stream did) with ``status``."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self.console.print(f"{self.job_id}: {status_text(status)}", highlight=False, soft_wrap=True)

    def _bar(self, message: str, percent: float, counter: str) -> None:
        progress, task = self._progress, self._task
        if progress is None or task is None:
            progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[counter]}"),
                console=self.console,
            )
            progress.start()
            task = progress.add_task(message, total=100, counter=counter)
            self._progress, self._task = progress, task
        progress.update(task, completed=percent, description=message, counter=counter)
