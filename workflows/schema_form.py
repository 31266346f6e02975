"""A MIP-003 ``input_schema`` read back into a durasumi :class:`Form`.

A remote agent describes its input (``/input_schema``) and each ``awaiting_input`` in
MIP-003's vocabulary; durasumi shows buyers :class:`Form` objects. This is the reverse of
``Form.to_input_schema``: ``input_data`` becomes the form's fields, ``input_groups`` its
groups, validations and ``data`` are kept, ``data.visibleWhen`` becomes ``visible_when``.

The schema is the remote's word, and MIP-003 calls it advisory (the agent validates
anyway), so reading it is lenient where that loses nothing the buyer needs: unknown keys
are dropped, an unknown type is read as ``text``, a validation durasumi cannot apply is
dropped, and a visibility condition durasumi cannot express (several at once, or one that
names a later field) makes its field optional instead. Anything else that makes no form
(no list of fields, a field without an id, duplicate ids) raises ``ValueError``.

Imported inside the Temporal workflow sandbox: pure, deterministic code only.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from durasumi.workflows.form_fields import Field, FieldType, ShowWhen
from durasumi.workflows.forms import Form, Group

__all__ = ["form_from_input_schema"]

_FIELD_KEYS = ("id", "type", "name", "data", "validations")
_DATA_KEYS = (
    "placeholder",
    "description",
    "default",
    "values",
    "min",
    "max",
    "step",
    "outputFormat",
    "value",
)
_RULES = ("min", "max", "format", "accept", "optional")


def form_from_input_schema(schema: Any, *, form_id: str, title: str) -> Form:
    """The :class:`Form` a MIP-003 ``input_schema`` describes.

    Args:
        schema: ``{"input_data": [field, ...]}`` or ``{"input_groups": [{id, title,
            input_data}, ...]}`` as an agent serves it.
        form_id: The form's id (a group with the same id is renamed).
        title: The form's title.

    Returns:
        The form, ready for ``Form.check``.

    Raises:
        ValueError: The schema describes no form (the message says why).

    Example:
        >>> form = form_from_input_schema(
        ...     {"input_data": [{"id": "topic", "type": "string", "name": "Topic"}]},
        ...     form_id="start", title="Start",
        ... )
        >>> form.check({"topic": "cats"}).values
        {'topic': 'cats'}
    """
    if not isinstance(schema, dict):
        raise ValueError("input_schema is not a JSON object")
    groups_raw = schema.get("input_groups")
    if groups_raw is not None:
        if not isinstance(groups_raw, list):
            raise ValueError("input_groups is not a list")
        return _build(form_id, title, [], [_group(g, i) for i, g in enumerate(groups_raw)])
    fields_raw = schema.get("input_data", [])
    if not isinstance(fields_raw, list):
        raise ValueError("input_data is not a list")
    return _build(form_id, title, [_field(f) for f in fields_raw], [])


def _build(form_id: str, title: str, fields: list[Field], groups: list[Group]) -> Form:
    taken = {g.id for g in groups}
    while form_id in taken:  # a group may not share the form's id
        form_id += "-form"
    try:
        return Form(id=form_id, title=title, fields=fields, groups=groups)
    except ValidationError:
        pass
    # Conditions naming later or unknown fields: drop them (their fields become optional).
    try:
        return Form(
            id=form_id,
            title=title,
            fields=[_unconditional(f) for f in fields],
            groups=[
                g.model_copy(update={"fields": [_unconditional(f) for f in g.fields]})
                for g in groups
            ],
        )
    except ValidationError as err:
        raise ValueError(f"input_schema is not a usable form: {_first(err)}") from None


def _group(raw: Any, index: int) -> Group:
    if not isinstance(raw, dict):
        raise ValueError(f"input_groups[{index}] is not an object")
    fields = raw.get("input_data")
    if not isinstance(fields, list) or not fields:
        raise ValueError(f"input_groups[{index}] has no input_data fields")
    group_id = raw.get("id")
    title = raw.get("title")
    return Group(
        id=str(group_id) if group_id else f"group-{index + 1}",
        title=str(title) if title else str(group_id or f"Group {index + 1}"),
        fields=[_field(f) for f in fields],
    )


def _field(raw: Any) -> Field:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        raise ValueError(f"a field has no id: {str(raw)[:120]}")
    body = {k: raw[k] for k in _FIELD_KEYS if k in raw}
    try:
        body["type"] = FieldType(str(body.get("type", "text")))
    except ValueError:
        body["type"] = FieldType.TEXT
    body["name"] = str(body.get("name") or raw["id"])
    data = body.get("data")
    condition: Any = None
    if isinstance(data, dict):
        condition = data.get("visibleWhen")
        body["data"] = {k: data[k] for k in _DATA_KEYS if k in data}
        if isinstance(body["data"].get("values"), list):
            body["data"]["values"] = [str(v) for v in body["data"]["values"]]
    else:
        body.pop("data", None)
    rules = body.get("validations")
    body["validations"] = [
        {"validation": r["validation"], "value": r.get("value", "")}
        for r in (rules if isinstance(rules, list) else [])
        if isinstance(r, dict) and r.get("validation") in _RULES
    ]
    field = _validated(body)
    show = _condition(condition)
    if show is not None:
        try:
            return Field.model_validate({**field.model_dump(), "visible_when": show})
        except ValidationError:
            pass
    return _optional(field) if condition else field


def _validated(body: dict[str, Any]) -> Field:
    try:
        return Field.model_validate(body)
    except ValidationError:
        pass
    # Drop the rules durasumi cannot apply to this type, keeping "optional".
    kept = [v for v in body["validations"] if v["validation"] == "optional"]
    try:
        return Field.model_validate({**body, "validations": kept})
    except ValidationError as err:
        raise ValueError(f"field {body['id']!r} is not usable: {_first(err)}") from None


def _condition(raw: Any) -> ShowWhen | None:
    if isinstance(raw, dict) and "all" in raw:
        conds = raw["all"]
        if not (isinstance(conds, list) and len(conds) == 1):
            return None
        raw = conds[0]
    try:
        return ShowWhen.model_validate(raw) if raw is not None else None
    except ValidationError:
        return None


def _unconditional(field: Field) -> Field:
    if field.visible_when is None:
        return field
    return _optional(field.model_copy(update={"visible_when": None}))


def _optional(field: Field) -> Field:
    """``field`` without its condition, optional (it may be hidden at the remote)."""
    dumped = field.model_dump()
    dumped.get("data", {}).pop("visibleWhen", None)
    rules = [v for v in dumped.get("validations", []) if v["validation"] != "optional"]
    dumped["validations"] = [*rules, {"validation": "optional", "value": "true"}]
    return Field.model_validate(dumped)


def _first(err: ValidationError) -> str:
    first = err.errors()[0]
    return str(first.get("msg", err))
