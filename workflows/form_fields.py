"""MIP-003 input fields: field types, validations, the :class:`Field` model and its value checks.

Imported inside the Temporal workflow sandbox: pure, deterministic code (stdlib + pydantic),
no I/O, no clock, no randomness, no mutable module state. :mod:`workflows.forms` builds forms
from these fields and re-exports every public name here.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from enum import StrEnum
from typing import Any, Literal, TypedDict, Unpack

from pydantic import BaseModel, ConfigDict, field_validator, model_serializer, model_validator
from pydantic import Field as _PydField

__all__ = [
    "Field",
    "FieldData",
    "FieldError",
    "FieldOptions",
    "FieldType",
    "Scalar",
    "ShowWhen",
    "Validation",
]

Scalar = bool | int | float | str
"""A JSON scalar: the values a visibility condition may compare against."""


class FieldType(StrEnum):
    """The MIP-003 input types (HTML input types; ``string`` is an alias of ``text``).

    Example:
        >>> FieldType("datetime-local") is FieldType.DATETIME_LOCAL
        True
    """

    TEXT = "text"
    STRING = "string"
    TEXTAREA = "textarea"
    NUMBER = "number"
    BOOLEAN = "boolean"
    OPTION = "option"
    NONE = "none"
    EMAIL = "email"
    PASSWORD = "password"
    TEL = "tel"
    URL = "url"
    DATE = "date"
    DATETIME_LOCAL = "datetime-local"
    TIME = "time"
    MONTH = "month"
    WEEK = "week"
    COLOR = "color"
    RANGE = "range"
    FILE = "file"
    HIDDEN = "hidden"
    SEARCH = "search"
    CHECKBOX = "checkbox"
    RADIO = "radio"


_T = FieldType
_TEXT = frozenset(
    {_T.TEXT, _T.STRING, _T.TEXTAREA, _T.PASSWORD, _T.SEARCH, _T.TEL, _T.EMAIL, _T.URL, _T.HIDDEN}
)
_NUMERIC = frozenset({_T.NUMBER, _T.RANGE})
_BOOL = frozenset({_T.BOOLEAN, _T.CHECKBOX})
_TEMPORAL = frozenset({_T.DATE, _T.DATETIME_LOCAL, _T.TIME, _T.MONTH, _T.WEEK})
_COUNTED = frozenset({_T.OPTION, _T.FILE})
_AUTO_FORMAT = {_T.EMAIL: "email", _T.URL: "url", _T.TEL: "tel-pattern"}
_FORMATS = frozenset({"email", "url", "nonempty", "integer", "tel-pattern"})
_NUMBER_FORMATS = frozenset({"integer", "nonempty"})

_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_URL = re.compile(r"^https?://(?:[^\s/?#@]+@)?[^\s/?#@:]+(?::\d{1,5})?(?:[/?#]\S*)?$", re.I)
_TELNUM = re.compile(r"^\+?[\d\s().\-/]{3,32}$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_TEMPORAL_RE = {
    _T.DATE: re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    _T.DATETIME_LOCAL: re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?$"),
    _T.TIME: re.compile(r"^\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?$"),
    _T.MONTH: re.compile(r"^(\d{4})-(\d{2})$"),
    _T.WEEK: re.compile(r"^(\d{4})-W(\d{2})$"),
}
_TEMPORAL_HINT = {
    _T.DATE: "YYYY-MM-DD",
    _T.DATETIME_LOCAL: "YYYY-MM-DDTHH:MM",
    _T.TIME: "HH:MM",
    _T.MONTH: "YYYY-MM",
    _T.WEEK: "YYYY-Www",
}


class FieldError(BaseModel):
    """One problem with a submitted value, keyed by field id.

    ``code`` is one of ``required``, ``type``, ``min``, ``max``, ``format``, ``choice``,
    ``hidden`` (a value for a field that is not shown) or ``unknown`` (no such input).

    Example:
        >>> FieldError(field="seats", code="min", message="must be at least 1").code
        'min'
    """

    field: str
    code: str
    message: str


class ShowWhen(BaseModel):
    """Conditional visibility: show only when another field's cleaned value matches.

    Exactly one of ``equals`` (one value) or ``in_`` (any of several; JSON key ``in``) is set.
    For a multi-select option the condition holds when any selected item matches.

    Example:
        >>> ShowWhen(field="plan", equals="pro").model_dump()
        {'field': 'plan', 'equals': 'pro'}
        >>> ShowWhen.model_validate({"field": "plan", "in": ["pro", "team"]}).in_
        ['pro', 'team']
    """

    model_config = ConfigDict(extra="forbid")

    field: str
    equals: Scalar | None = None
    in_: list[Scalar] | None = None

    @model_validator(mode="before")
    @classmethod
    def _rename_in(cls, data: Any) -> Any:
        if isinstance(data, dict) and "in" in data:
            data = {("in_" if k == "in" else k): v for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> ShowWhen:
        if (self.equals is None) == (self.in_ is None):
            raise ValueError("a visibility condition needs exactly one of 'equals' or 'in'")
        if self.in_ is not None and not self.in_:
            raise ValueError("a visibility condition's 'in' list must not be empty")
        return self

    @model_serializer
    def _dump(self) -> dict[str, Any]:
        if self.in_ is None:
            return {"field": self.field, "equals": self.equals}
        return {"field": self.field, "in": list(self.in_)}

    def expected(self) -> list[Scalar]:
        """The values the condition accepts (``[equals]`` or the ``in`` list)."""
        if self.in_ is not None:
            return list(self.in_)
        return [self.equals] if self.equals is not None else []


class Validation(BaseModel):
    """One MIP-003 validation rule: ``{"validation": ..., "value": "<string>"}``.

    Numbers and booleans given as ``value`` are turned into their MIP-003 strings.

    Example:
        >>> Validation(validation="min", value="2").model_dump()
        {'validation': 'min', 'value': '2'}
    """

    model_config = ConfigDict(extra="forbid")

    validation: Literal["min", "max", "format", "accept", "optional"]
    value: str

    @field_validator("value", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value) if isinstance(value, int | float) else value


class FieldData(BaseModel):
    """The MIP-003 ``data`` object of a field; keys that are ``None`` are left out of JSON.

    ``output_format`` is the JSON key ``outputFormat``. ``min``/``max``/``step`` (range
    sliders) are strings as in MIP-003; numbers given are stringified.

    Example:
        >>> FieldData(placeholder="Ada", min=1).model_dump()
        {'placeholder': 'Ada', 'min': '1'}
    """

    model_config = ConfigDict(extra="forbid")

    placeholder: str | None = None
    description: str | None = None
    default: Any = None
    values: list[str] | None = None
    min: str | None = None
    max: str | None = None
    step: str | None = None
    output_format: str | None = None
    value: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _rename_output_format(cls, data: Any) -> Any:
        if isinstance(data, dict) and "outputFormat" in data:
            data = {("output_format" if k == "outputFormat" else k): v for k, v in data.items()}
        return data

    @field_validator("min", "max", "step", mode="before")
    @classmethod
    def _number_text(cls, value: Any) -> Any:
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        return str(value) if numeric else value

    @model_serializer
    def _dump(self) -> dict[str, Any]:
        pairs = [
            ("placeholder", self.placeholder),
            ("description", self.description),
            ("default", self.default),
            ("values", self.values),
            ("min", self.min),
            ("max", self.max),
            ("step", self.step),
            ("outputFormat", self.output_format),
            ("value", self.value),
        ]
        return {k: (list(v) if isinstance(v, list) else v) for k, v in pairs if v is not None}


class FieldOptions(TypedDict, total=False):
    """Keyword options every :class:`Field` constructor takes."""

    optional: bool
    description: str | None
    placeholder: str | None
    default: Any
    visible_when: ShowWhen | None


class _Reject(Exception):
    """Internal: a value failed one check (``code``, ``message``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Field(BaseModel):
    """One MIP-003 input field; ``model_dump()`` is exactly the MIP-003 field object.

    Our extension ``visible_when`` is written into ``data.visibleWhen`` (MIP-003 clients
    ignore unknown data keys) and read back from there, so JSON round trips are lossless.
    Fields are required unless they carry ``{"validation": "optional", "value": "true"}``.
    The constructors (``Field.text``, ``Field.number``, ...) take :class:`FieldOptions`:
    ``optional``, ``description``, ``placeholder``, ``default`` and ``visible_when``.

    Example:
        >>> Field.number("seats", "Seats", min=1).model_dump()["validations"]
        [{'validation': 'min', 'value': '1'}]
        >>> Field.option("plan", "Plan", ["basic", "pro"]).check_value("pro")
        ('pro', [])
    """

    model_config = ConfigDict(extra="forbid")

    id: str = _PydField(min_length=1)
    type: FieldType
    name: str
    data: FieldData = _PydField(default_factory=FieldData)
    validations: list[Validation] = _PydField(default_factory=list)
    visible_when: ShowWhen | None = None

    @model_validator(mode="before")
    @classmethod
    def _lift_visible_when(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("data"), dict):
            inner = data["data"]
            if "visibleWhen" in inner:
                inner = {k: v for k, v in inner.items() if k != "visibleWhen"}
                data = {**data, "data": inner, "visible_when": data["data"]["visibleWhen"]}
        return data

    @model_validator(mode="after")
    def _check_definition(self) -> Field:
        problems = [f"field {self.id!r}: {p}" for p in _definition_problems(self)]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_serializer
    def _dump(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "type": self.type.value, "name": self.name}
        data = self.data.model_dump()
        if self.visible_when is not None:
            data["visibleWhen"] = self.visible_when.model_dump()
        if data:
            out["data"] = data
        if self.validations:
            out["validations"] = [v.model_dump() for v in self.validations]
        return out

    @property
    def required(self) -> bool:
        """Whether a visible field must be given (MIP-003: required unless ``optional``)."""
        if self.type is FieldType.NONE:
            return False
        return not any(
            v.validation == "optional" and v.value.lower() == "true" for v in self.validations
        )

    def check_value(self, raw: Any) -> tuple[Any, list[FieldError]]:
        """Coerce and validate one non-empty submitted value (visibility is the form's job).

        Args:
            raw: The submitted value, as decoded from JSON.

        Returns:
            ``(cleaned, [])`` when valid, else ``(None, errors)`` with every problem found.
        """
        try:
            value = _coerce(self, raw)
        except _Reject as bad:
            return None, [FieldError(field=self.id, code=bad.code, message=bad.message)]
        errors: list[FieldError] = []
        rules: list[tuple[str, str]] = [(v.validation, v.value) for v in self.validations]
        if self.type is FieldType.RANGE:
            rules += [(k, b) for k, b in (("min", self.data.min), ("max", self.data.max)) if b]
        for kind, rule in rules:
            try:
                if kind in ("min", "max"):
                    _check_bound(self.type, kind, rule, value)
                elif kind == "format":
                    _check_format(rule, value)
            except _Reject as bad:
                errors.append(FieldError(field=self.id, code=bad.code, message=bad.message))
        return (None, errors) if errors else (value, [])

    # -- constructors -------------------------------------------------------------------

    @classmethod
    def _make(
        cls,
        type_: FieldType,
        id_: str,
        name: str,
        opts: FieldOptions,
        rules: tuple[tuple[str, Any], ...] = (),
        **data: Any,
    ) -> Field:
        validations = [
            Validation.model_validate({"validation": k, "value": v})
            for k, v in rules
            if v is not None
        ]
        if opts.get("optional"):
            validations.append(Validation(validation="optional", value="true"))
        fd = FieldData(
            description=opts.get("description"),
            placeholder=opts.get("placeholder"),
            default=opts.get("default"),
            **data,
        )
        return cls(
            id=id_,
            type=type_,
            name=name,
            data=fd,
            validations=validations,
            visible_when=opts.get("visible_when"),
        )

    @classmethod
    def of(
        cls,
        type: FieldType | str,
        id: str,
        name: str,
        *,
        min: Any = None,
        max: Any = None,
        format: str | None = None,
        values: list[str] | None = None,
        **opts: Unpack[FieldOptions],
    ) -> Field:
        """Any type, e.g. ``Field.of("month", "start", "Start month", min="2025-01")``."""
        rules = (("min", min), ("max", max), ("format", format))
        return cls._make(FieldType(type), id, name, opts, rules, values=values)

    @classmethod
    def text(
        cls,
        id: str,
        name: str,
        *,
        min: int | None = None,
        max: int | None = None,
        format: str | None = None,
        **opts: Unpack[FieldOptions],
    ) -> Field:
        """Single-line text; ``min``/``max`` bound its length, ``format`` e.g. ``nonempty``."""
        return cls._make(_T.TEXT, id, name, opts, (("min", min), ("max", max), ("format", format)))

    @classmethod
    def textarea(
        cls,
        id: str,
        name: str,
        *,
        min: int | None = None,
        max: int | None = None,
        format: str | None = None,
        **opts: Unpack[FieldOptions],
    ) -> Field:
        """Multi-line text; ``min``/``max`` bound its length."""
        rules = (("min", min), ("max", max), ("format", format))
        return cls._make(_T.TEXTAREA, id, name, opts, rules)

    @classmethod
    def password(
        cls,
        id: str,
        name: str,
        *,
        min: int | None = None,
        max: int | None = None,
        **opts: Unpack[FieldOptions],
    ) -> Field:
        """Password text; ``min``/``max`` bound its length."""
        return cls._make(_T.PASSWORD, id, name, opts, (("min", min), ("max", max)))

    @classmethod
    def email(
        cls, id: str, name: str, *, max: int | None = None, **opts: Unpack[FieldOptions]
    ) -> Field:
        """E-mail address (always format-checked)."""
        return cls._make(_T.EMAIL, id, name, opts, (("format", "email"), ("max", max)))

    @classmethod
    def url(
        cls, id: str, name: str, *, max: int | None = None, **opts: Unpack[FieldOptions]
    ) -> Field:
        """An http(s) URL (always format-checked)."""
        return cls._make(_T.URL, id, name, opts, (("format", "url"), ("max", max)))

    @classmethod
    def tel(cls, id: str, name: str, **opts: Unpack[FieldOptions]) -> Field:
        """Telephone number: digits, spaces, ``+()./-`` (always format-checked)."""
        return cls._make(_T.TEL, id, name, opts, (("format", "tel-pattern"),))

    @classmethod
    def number(
        cls,
        id: str,
        name: str,
        *,
        min: float | None = None,
        max: float | None = None,
        integer: bool = False,
        **opts: Unpack[FieldOptions],
    ) -> Field:
        """A number; ``min``/``max`` bound its value, ``integer`` adds ``format: integer``."""
        rules = (("min", min), ("max", max), ("format", "integer" if integer else None))
        return cls._make(_T.NUMBER, id, name, opts, rules)

    @classmethod
    def range(
        cls,
        id: str,
        name: str,
        *,
        min: float,
        max: float,
        step: float | None = None,
        **opts: Unpack[FieldOptions],
    ) -> Field:
        """A slider from ``min`` to ``max`` (bounds in ``data``, enforced too)."""
        return cls._make(_T.RANGE, id, name, opts, min=min, max=max, step=step)

    @classmethod
    def boolean(cls, id: str, name: str, **opts: Unpack[FieldOptions]) -> Field:
        """A true/false switch (``false`` is a value, so a required boolean may be false)."""
        return cls._make(_T.BOOLEAN, id, name, opts)

    @classmethod
    def checkbox(cls, id: str, name: str, **opts: Unpack[FieldOptions]) -> Field:
        """A single checkbox (true/false)."""
        return cls._make(_T.CHECKBOX, id, name, opts)

    @classmethod
    def option(
        cls,
        id: str,
        name: str,
        values: list[str],
        *,
        multiple: bool = False,
        min: int | None = None,
        max: int | None = None,
        **opts: Unpack[FieldOptions],
    ) -> Field:
        """Select from ``values``: single (min = max = 1) unless ``multiple``."""
        if not multiple:
            min, max = (1 if min is None else min), (1 if max is None else max)
        return cls._make(
            _T.OPTION, id, name, opts, (("min", min), ("max", max)), values=list(values)
        )

    @classmethod
    def radio(cls, id: str, name: str, values: list[str], **opts: Unpack[FieldOptions]) -> Field:
        """Pick exactly one of ``values``."""
        return cls._make(_T.RADIO, id, name, opts, values=list(values))

    @classmethod
    def date(
        cls,
        id: str,
        name: str,
        *,
        min: str | None = None,
        max: str | None = None,
        **opts: Unpack[FieldOptions],
    ) -> Field:
        """A date ``YYYY-MM-DD``; ``min``/``max`` are dates in the same form."""
        return cls._make(_T.DATE, id, name, opts, (("min", min), ("max", max)))

    @classmethod
    def time(
        cls,
        id: str,
        name: str,
        *,
        min: str | None = None,
        max: str | None = None,
        **opts: Unpack[FieldOptions],
    ) -> Field:
        """A time of day ``HH:MM[:SS]``."""
        return cls._make(_T.TIME, id, name, opts, (("min", min), ("max", max)))

    @classmethod
    def file(
        cls,
        id: str,
        name: str,
        *,
        accept: str | None = None,
        min: int | None = None,
        max: int | None = None,
        **opts: Unpack[FieldOptions],
    ) -> Field:
        """File upload(s), delivered as URL(s) (``outputFormat: url``); min/max count files."""
        rules = (("accept", accept), ("min", min), ("max", max))
        return cls._make(_T.FILE, id, name, opts, rules, output_format="url")

    @classmethod
    def hidden(cls, id: str, name: str, value: str, **opts: Unpack[FieldOptions]) -> Field:
        """A fixed hidden value; when omitted the check fills it in, when sent it must match."""
        return cls._make(_T.HIDDEN, id, name, opts, value=value)

    @classmethod
    def info(cls, id: str, name: str, **opts: Unpack[FieldOptions]) -> Field:
        """Display-only text (type ``none``); it takes no value."""
        return cls._make(_T.NONE, id, name, opts)


# -- definition checks ------------------------------------------------------------------


def _definition_problems(f: Field) -> list[str]:
    problems: list[str] = []
    if f.type in (_T.OPTION, _T.RADIO):
        values = f.data.values or []
        if not values:
            problems.append(f"type {f.type.value} needs a non-empty data.values")
        elif len(set(values)) != len(values):
            problems.append("data.values has duplicates")
    if f.visible_when is not None and f.visible_when.field == f.id:
        problems.append("visible_when refers to the field itself")
    for v in f.validations:
        kind, rule = v.validation, v.value
        if kind in ("min", "max"):
            if _bound_kind(f.type) is None:
                problems.append(f"{kind} does not apply to type {f.type.value}")
                continue
            try:
                _parse_bound(f.type, rule)
            except ValueError:
                problems.append(f"{kind} value {rule!r} is not valid for type {f.type.value}")
        elif kind == "format":
            if rule not in _FORMATS:
                problems.append(f"unknown format {rule!r}")
            elif f.type not in _TEXT and not (f.type in _NUMERIC and rule in _NUMBER_FORMATS):
                problems.append(f"format {rule!r} does not apply to type {f.type.value}")
        elif kind == "accept" and f.type is not _T.FILE:
            problems.append("accept applies only to type file")
        elif kind == "optional" and rule.lower() not in ("true", "false"):
            problems.append(f"optional value must be 'true' or 'false', not {rule!r}")
    if f.type is _T.RANGE:
        for key, text in (("min", f.data.min), ("max", f.data.max), ("step", f.data.step)):
            if text is not None and not _FLOAT.match(text.strip()):
                problems.append(f"data.{key} {text!r} is not a number")
    return problems


# -- value checks -----------------------------------------------------------------------


def _coerce(f: Field, raw: Any) -> Any:
    """Type check and coerce; raises :class:`_Reject`."""
    t = f.type
    if t in _TEXT:
        if not isinstance(raw, str):
            raise _Reject("type", "must be a string")
        if t in _AUTO_FORMAT:
            _check_format(_AUTO_FORMAT[t], raw)
        if t is _T.HIDDEN and f.data.value is not None and raw != f.data.value:
            raise _Reject("choice", f"must be the fixed value {f.data.value!r}")
        return raw
    if t in _NUMERIC:
        return _to_number(raw)
    if t in _BOOL:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise _Reject("type", "must be true or false")
    if t in (_T.OPTION, _T.RADIO):
        return _choose(f, raw)
    if t in _TEMPORAL:
        if not isinstance(raw, str):
            raise _Reject("type", f"must be a string {_TEMPORAL_HINT[t]}")
        try:
            _parse_temporal(t, raw)
        except ValueError:
            raise _Reject("format", f"must be a valid {t.value} ({_TEMPORAL_HINT[t]})") from None
        return raw
    if t is _T.COLOR:
        if not isinstance(raw, str):
            raise _Reject("type", "must be a string #rrggbb")
        if not _COLOR.match(raw):
            raise _Reject("format", "must be a colour #rrggbb")
        return raw.lower()
    if t is _T.FILE:
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            raise _Reject("type", "must be a file reference or a list of them")
        if f.data.output_format == "url" and not all(_URL.match(i) for i in items):
            raise _Reject("format", "must be http(s) URL(s)")
        return raw if isinstance(raw, str) else list(items)
    raise _Reject("unknown", "display-only field takes no value")


def _to_number(raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise _Reject("type", "must be a number")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if _INT.match(text):
            return int(text)
        if not _FLOAT.match(text):
            raise _Reject("type", "must be a number")
        raw = float(text)
    if not isinstance(raw, float) or not math.isfinite(raw):
        raise _Reject("type", "must be a finite number")
    return int(raw) if raw.is_integer() and abs(raw) <= 2**53 else raw


def _choose(f: Field, raw: Any) -> str | list[str]:
    allowed = f.data.values or []
    if isinstance(raw, str):
        items: list[Any] = [raw]
    elif isinstance(raw, list) and f.type is _T.OPTION:
        items = raw
    else:
        kinds = "a string or a list of strings" if f.type is _T.OPTION else "a string"
        raise _Reject("type", f"must be {kinds}")
    if not all(isinstance(i, str) for i in items):
        raise _Reject("type", "selected items must be strings")
    if len(set(items)) != len(items):
        raise _Reject("choice", "an item is selected more than once")
    bad = [i for i in items if i not in allowed]
    if bad:
        raise _Reject("choice", f"not one of {allowed}: {', '.join(map(repr, bad))}")
    return raw if isinstance(raw, str) else list(items)


def _check_format(fmt: str, value: Any) -> None:
    if fmt == "integer":
        ok = isinstance(value, int) or (isinstance(value, str) and bool(_INT.match(value.strip())))
        if not ok:
            raise _Reject("format", "must be an integer")
        return
    if not isinstance(value, str):
        return  # text formats only constrain strings; numbers are always "nonempty"
    if fmt == "nonempty" and not value.strip():
        raise _Reject("format", "must not be blank")
    if fmt == "email" and not _EMAIL.match(value):
        raise _Reject("format", "must be an e-mail address")
    if fmt == "url" and not _URL.match(value):
        raise _Reject("format", "must be an http(s) URL")
    if fmt == "tel-pattern" and not (_TELNUM.match(value) and sum(c.isdigit() for c in value) >= 3):
        raise _Reject("format", "must be a telephone number")


def _parse_temporal(t: FieldType, text: str) -> Any:
    """Parse a temporal value into something comparable; raises ValueError."""
    match = _TEMPORAL_RE[t].match(text)
    if not match:
        raise ValueError(text)
    if t is _T.DATE:
        return date.fromisoformat(text)
    if t is _T.DATETIME_LOCAL:
        return datetime.fromisoformat(text)
    if t is _T.TIME:
        return time.fromisoformat(text)
    year, part = int(match.group(1)), int(match.group(2))
    if t is _T.MONTH:
        if not 1 <= part <= 12:
            raise ValueError(text)
    else:
        date.fromisocalendar(year, part, 1)  # raises for week 0, or 53 in a 52-week year
    return (year, part)


def _bound_kind(t: FieldType) -> str | None:
    if t in _TEXT:
        return "length"
    if t in _NUMERIC:
        return "number"
    if t in _TEMPORAL:
        return "temporal"
    return "count" if t in _COUNTED else None


def _parse_bound(t: FieldType, text: str) -> Any:
    kind, text = _bound_kind(t), text.strip()
    if kind in ("length", "count"):
        if not text.isdigit():
            raise ValueError(text)
        return int(text)
    if kind == "number":
        if not _FLOAT.match(text):
            raise ValueError(text)
        return float(text) if not _INT.match(text) else int(text)
    return _parse_temporal(t, text)


def _check_bound(t: FieldType, which: str, rule: str, value: Any) -> None:
    bound, kind = _parse_bound(t, rule), _bound_kind(t)
    if kind == "length":
        measured = len(value)
    elif kind == "count":
        measured = 1 if isinstance(value, str) else len(value)
    elif kind == "number":
        measured = value
    else:
        measured = _parse_temporal(t, value)
    low = which == "min"
    if (measured >= bound) if low else (measured <= bound):
        return
    word = "least" if low else "most"
    rule = rule.strip()
    message = {
        "length": f"must be at {word} {rule} characters long",
        "count": f"must have at {word} {rule} selected",
        "number": f"must be at {word} {rule}",
        "temporal": f"must be {'on or after' if low else 'on or before'} {rule}",
    }[kind or "number"]
    raise _Reject(which, message)
