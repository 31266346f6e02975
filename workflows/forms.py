"""MIP-003 forms: fields in (nested) groups, conditional visibility, checks and input_schema.

A :class:`Form` is what an agent asks the buyer for, at job start (``input_data``) or later
(``awaiting_input``). ``Form.check`` validates a submission and returns every problem at once;
``Form.to_input_schema`` renders the MIP-003 ``input_schema`` and ``Form.schema_hash`` its
``input_schema_hash``.

Decisions worth knowing:

* Document order is: the form's own fields, then each group depth first (its fields, then
  its subgroups). A ``visible_when`` (on a field or a group) must name a field that comes
  **earlier** in that order (for a group: before the group), so conditions never cycle and
  are evaluated in one pass. Condition values must be valid values of the named field.
* A condition is evaluated against the named field's cleaned value; a field that is hidden,
  or optional and not given, has no value and so fails every condition. When the named field
  itself was invalid the dependent's visibility is unknown: its value (if any) is still
  type-checked, but it is neither required nor reported as ``hidden``.
* ``data.default`` is a UI hint and is never filled in; a ``hidden``-type field's fixed
  ``data.value`` is filled in when omitted. A display-only ``none`` field that receives a
  value yields code ``unknown``. ``FormCheck.values`` holds only visible fields that have a
  value, in document order.
* MIP-003 has no place for conditions on groups, so ``to_input_schema`` copies a group's
  condition into each of its fields' ``data.visibleWhen``. One condition is rendered as
  ``{"field", "equals"|"in"}``; several (nested groups, plus the field's own) as
  ``{"all": [condition, ...]}``, all of which must hold.

Imported inside the Temporal workflow sandbox: pure, deterministic code only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic import Field as _PydField

from durasumi.workflows.form_fields import (
    Field,
    FieldData,
    FieldError,
    FieldOptions,
    FieldType,
    Scalar,
    ShowWhen,
    Validation,
)

__all__ = [
    "Field",
    "FieldData",
    "FieldError",
    "FieldOptions",
    "FieldType",
    "Form",
    "FormCheck",
    "FormValidationError",
    "Group",
    "Scalar",
    "ShowWhen",
    "Validation",
]

_Conds = tuple[ShowWhen, ...]
_State = Literal["ok", "absent", "unknown"]


class Group(BaseModel):
    """A titled group of fields; groups nest, and a group may be conditionally visible.

    Example:
        >>> g = Group(id="billing", title="Billing", fields=[Field.text("vat", "VAT id")])
        >>> [f.id for f in g.fields]
        ['vat']
    """

    model_config = ConfigDict(extra="forbid")

    id: str = _PydField(min_length=1)
    title: str
    fields: list[Field] = _PydField(default_factory=list)
    groups: list[Group] = _PydField(default_factory=list)
    visible_when: ShowWhen | None = None

    def has_fields(self) -> bool:
        """Whether this group or any subgroup holds a field."""
        return bool(self.fields) or any(g.has_fields() for g in self.groups)


class FormCheck(BaseModel):
    """The outcome of :meth:`Form.check`: cleaned values and every error found.

    Example:
        >>> form = Form(id="f", title="F", fields=[Field.number("n", "N")])
        >>> form.check({"n": "3"}).values
        {'n': 3}
    """

    values: dict[str, Any] = _PydField(default_factory=dict)
    errors: list[FieldError] = _PydField(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when there are no errors."""
        return not self.errors

    def by_field(self) -> dict[str, list[FieldError]]:
        """The errors grouped by field id, in the order found."""
        grouped: dict[str, list[FieldError]] = {}
        for error in self.errors:
            grouped.setdefault(error.field, []).append(error)
        return grouped


class FormValidationError(ValueError):
    """Raised by :meth:`Form.clean` when a submission has errors; carries them all.

    Example:
        >>> form = Form(id="f", title="F", fields=[Field.text("who", "Who")])
        >>> try:
        ...     form.clean({})
        ... except FormValidationError as exc:
        ...     print(exc.errors[0].code)
        required
    """

    def __init__(self, errors: list[FieldError]) -> None:
        """Build the error from the field errors (the message summarises them)."""
        self.errors = list(errors)
        summary = "; ".join(f"{e.field}: {e.message}" for e in self.errors)
        super().__init__(f"invalid values: {summary}")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by the errors, not the message."""
        return (type(self), (self.errors,))


class Form(BaseModel):
    """A MIP-003 input form: top-level fields plus (nested) groups.

    Construction checks that field ids are unique across the whole form, group ids are
    unique and differ from the form id, groups are not empty, and every ``visible_when``
    names an earlier field (see the module docstring) with a value valid for that field.

    Example:
        >>> form = Form(id="order", title="Order", fields=[
        ...     Field.option("plan", "Plan", ["basic", "pro"]),
        ...     Field.number("seats", "Seats", min=1, max=10,
        ...                  visible_when=ShowWhen(field="plan", equals="pro")),
        ... ])
        >>> form.check({"plan": "pro", "seats": "3"}).values
        {'plan': 'pro', 'seats': 3}
        >>> [e.code for e in form.check({"plan": "basic", "seats": 3}).errors]
        ['hidden']
    """

    model_config = ConfigDict(extra="forbid")

    id: str = _PydField(min_length=1)
    title: str
    description: str | None = None
    fields: list[Field] = _PydField(default_factory=list)
    groups: list[Group] = _PydField(default_factory=list)

    @model_validator(mode="after")
    def _check_structure(self) -> Form:
        problems = _structure_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def all_fields(self) -> list[Field]:
        """Every field, flattened in document order."""
        return [f for f, _ in self._entries()]

    def check(self, values: Mapping[str, Any]) -> FormCheck:
        """Validate a submission and return cleaned values plus every problem found.

        Args:
            values: The submitted ``input_data``, keyed by field id.

        Returns:
            A :class:`FormCheck`; ``values`` holds the cleaned values of visible fields.
        """
        entries = self._entries()
        by_id = {f.id: f for f, _ in entries}
        cleaned: dict[str, Any] = {}
        state: dict[str, _State] = {}
        errors: list[FieldError] = []
        for f, conds in entries:
            raw = values.get(f.id)
            given = not _empty(raw)
            if f.type is FieldType.NONE:
                if given:
                    errors.append(_error(f.id, "unknown", "display-only field takes no value"))
                state[f.id] = "absent"
                continue
            shown = _shown(conds, by_id, cleaned, state)
            if shown is False:
                if given:
                    errors.append(_error(f.id, "hidden", "field is not shown, so takes no value"))
                state[f.id] = "absent"
                continue
            if not given and f.type is FieldType.HIDDEN and f.data.value is not None:
                raw, given = f.data.value, True
            if not given:
                if shown and f.required:
                    errors.append(_error(f.id, "required", "is required"))
                state[f.id] = "absent" if shown and not f.required else "unknown"
                continue
            value, problems = f.check_value(raw)
            errors.extend(problems)
            if problems or shown is None:
                state[f.id] = "unknown"
                continue
            cleaned[f.id] = value
            state[f.id] = "ok"
        for key in sorted((k for k in values if k not in by_id), key=str):
            errors.append(_error(str(key), "unknown", "is not a field of this form"))
        return FormCheck(values=cleaned, errors=errors)

    def clean(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Return the cleaned values, or raise :class:`FormValidationError` with every error.

        Args:
            values: The submitted ``input_data``, keyed by field id.

        Returns:
            The cleaned values of the visible fields.

        Raises:
            FormValidationError: The submission has at least one error.
        """
        result = self.check(values)
        if not result.ok:
            raise FormValidationError(result.errors)
        return result.values

    def to_input_schema(self) -> dict[str, Any]:
        """The MIP-003 ``input_schema``: ``{"input_data": [...]}`` or ``{"input_groups": [...]}``.

        Without groups the fields are listed as they are. With groups, the top-level fields
        form a first group (id = form id, title = form title) and nested groups are
        flattened depth first, titles joined as ``"Parent / Child"``; group conditions are
        carried into each field's ``data.visibleWhen``. Groups without direct fields are
        not listed (their titles live on in their subgroups' titles).
        """
        if not self.groups:
            return {"input_data": [_render(f, _own(f)) for f in self.fields]}
        groups: list[dict[str, Any]] = []
        if self.fields:
            rendered = [_render(f, _own(f)) for f in self.fields]
            groups.append({"id": self.id, "title": self.title, "input_data": rendered})

        def visit(group: Group, titles: tuple[str, ...], inherited: _Conds) -> None:
            conds = inherited + _own(group)
            titles = (*titles, group.title)
            if group.fields:
                rendered = [_render(f, conds + _own(f)) for f in group.fields]
                groups.append({"id": group.id, "title": " / ".join(titles), "input_data": rendered})
            for sub in group.groups:
                visit(sub, titles, conds)

        for group in self.groups:
            visit(group, (), ())
        return {"input_groups": groups}

    def schema_hash(self) -> str:
        """MIP-003 ``input_schema_hash``: sha256 hex of the canonical JSON of the schema.

        Canonical JSON: sorted keys, separators ``(",", ":")``, non-ASCII unescaped, UTF-8.
        """
        text = json.dumps(
            self.to_input_schema(), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def _entries(self) -> list[tuple[Field, _Conds]]:
        """Each field in document order with every condition it is shown under."""
        out: list[tuple[Field, _Conds]] = [(f, _own(f)) for f in self.fields]

        def visit(group: Group, inherited: _Conds) -> None:
            conds = inherited + _own(group)
            out.extend((f, conds + _own(f)) for f in group.fields)
            for sub in group.groups:
                visit(sub, conds)

        for group in self.groups:
            visit(group, ())
        return out


# -- helpers ------------------------------------------------------------------------------


def _own(item: Field | Group) -> _Conds:
    return (item.visible_when,) if item.visible_when is not None else ()


def _error(field: str, code: str, message: str) -> FieldError:
    return FieldError(field=field, code=code, message=message)


def _empty(raw: Any) -> bool:
    return raw is None or raw == "" or raw == []


def _same(a: Any, b: Any) -> bool:
    """Equality that keeps booleans apart from numbers (``True != 1`` here)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _matches(cond: ShowWhen, ref: Field, value: Any) -> bool:
    expected = [ref.check_value(e)[0] for e in cond.expected()]
    items = value if isinstance(value, list) else [value]
    return any(_same(item, e) for item in items for e in expected)


def _shown(
    conds: _Conds,
    by_id: Mapping[str, Field],
    cleaned: Mapping[str, Any],
    state: Mapping[str, _State],
) -> bool | None:
    """True/False when every condition is decided, None when one depends on a bad value."""
    result: bool | None = True
    for cond in conds:
        st = state.get(cond.field, "unknown")
        if st == "absent" or (
            st == "ok" and not _matches(cond, by_id[cond.field], cleaned[cond.field])
        ):
            return False
        if st == "unknown":
            result = None
    return result


def _render(field: Field, conds: _Conds) -> dict[str, Any]:
    """A field's MIP-003 dict with ``conds`` (not just its own) as ``data.visibleWhen``."""
    dumped = field.model_dump(mode="json")
    data = {k: v for k, v in dumped.get("data", {}).items() if k != "visibleWhen"}
    if len(conds) == 1:
        data["visibleWhen"] = conds[0].model_dump(mode="json")
    elif conds:
        data["visibleWhen"] = {"all": [c.model_dump(mode="json") for c in conds]}
    out = {k: dumped[k] for k in ("id", "type", "name")}
    if data:
        out["data"] = data
    if "validations" in dumped:
        out["validations"] = dumped["validations"]
    return out


def _structure_problems(form: Form) -> list[str]:
    problems: list[str] = []
    seen: dict[str, Field] = {}
    group_ids: set[str] = set()

    def check_condition(owner: str, cond: ShowWhen) -> None:
        ref = seen.get(cond.field)
        if ref is None:
            problems.append(f"{owner}: visible_when names {cond.field!r}, not an earlier field")
        elif ref.type is FieldType.NONE:
            problems.append(f"{owner}: visible_when names display-only field {ref.id!r}")
        else:
            for expected in cond.expected():
                _, errs = ref.check_value(expected)
                if errs:
                    problems.append(
                        f"{owner}: visible_when value {expected!r} is not valid "
                        f"for field {ref.id!r} ({errs[0].message})"
                    )

    def add_fields(fields: list[Field]) -> None:
        for f in fields:
            if f.visible_when is not None:
                check_condition(f"field {f.id!r}", f.visible_when)
            if f.id in seen:
                problems.append(f"duplicate field id {f.id!r}")
            else:
                seen[f.id] = f

    def visit(group: Group) -> None:
        if group.id in group_ids or group.id == form.id:
            problems.append(
                f"duplicate group id {group.id!r} (group ids and the form id must be unique)"
            )
        group_ids.add(group.id)
        if not group.has_fields():
            problems.append(f"group {group.id!r} has no fields")
        if group.visible_when is not None:
            check_condition(f"group {group.id!r}", group.visible_when)
        add_fields(group.fields)
        for sub in group.groups:
            visit(sub)

    add_fields(form.fields)
    for group in form.groups:
        visit(group)
    return problems
