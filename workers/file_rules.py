"""What a MIP-003 ``file`` field accepts: its ``accept`` rule against an upload's type and name."""

from __future__ import annotations

from typing import Literal

from durasumi.workflows.form_fields import FieldType
from durasumi.workflows.forms import Form

__all__ = ["accepts", "file_field_accept"]


def file_field_accept(form: Form, field_id: str) -> str | Literal[False] | None:
    """The ``accept`` rule of the file field ``field_id`` (None: any type; False: no such field)."""
    for field in form.all_fields():
        if field.id == field_id and field.type is FieldType.FILE:
            rules = [v.value for v in field.validations if v.validation == "accept"]
            return rules[0] if rules else None
    return False


def accepts(accept: str, content_type: str, name: str) -> bool:
    """Whether a file of ``content_type`` called ``name`` matches an HTML-style ``accept``.

    Entries are MIME types (``application/pdf``), wildcards (``image/*``, ``*/*``) or file
    name extensions (``.csv``), comma-separated, as in MIP-003 and HTML.

    Example:
        >>> accepts("image/*,.csv", "image/png", "a.png"), accepts(".csv", "text/plain", "a.txt")
        (True, False)
    """
    mime = content_type.split(";")[0].strip().lower()
    lowered = name.lower()
    for entry in (e.strip().lower() for e in accept.split(",")):
        if not entry:
            continue
        if entry.startswith("."):
            if lowered.endswith(entry):
                return True
        elif entry == "*/*" or entry == mime:
            return True
        elif entry.endswith("/*") and mime.startswith(entry[:-1]):
            return True
    return False
