"""SendGrid's Handlebars helpers (sendgrid-v3 §5) for pybars3, with handlebars.js truthiness.

pybars3 calls a block helper as `helper(this, options, *args)` and the same helper used inline or
as a sub-expression as `helper(this, *args)`; each comparison helper here serves both forms."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pybars import Scope

Helper = Callable[..., Any]
_OPTION_KEYS = frozenset({"fn", "inverse", "helpers", "root"})
_DATE_TOKENS = re.compile(
    r"\[[^\]]*\]|YYYY|YY|MMMM|MMM|MM|M|DD|D|dddd|ddd|HH|H|hh|h|mm|m|ss|s|A|a|ZZ|Z"
)
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")  # fmt: skip
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")
_EPOCH_MS_THRESHOLD = 100_000_000_000  # larger numbers are milliseconds (year 5138 in seconds)


def truthy(value: Any) -> bool:
    """handlebars.js: empty string, 0, NaN, null, false and [] are false; every object is true."""
    if isinstance(value, Scope):
        value = value.context
    if value is None or value is False or value == "":
        return False
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value != 0 and not math.isnan(value)
    if isinstance(value, (list, tuple)):
        return len(value) > 0
    return True


def _is_options(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() >= _OPTION_KEYS


def _block_or_value(this: Any, args: tuple[Any, ...], outcome: bool) -> Any:
    """Block form renders `fn`/`inverse`; inline and sub-expression forms return the boolean."""
    if args and _is_options(args[0]):
        options = args[0]
        return options["fn"](this) if outcome else options["inverse"](this)
    return outcome


def _values(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return args[1:] if args and _is_options(args[0]) else args


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def loose_equal(left: Any, right: Any) -> bool:
    """SendGrid's `equals` coerces types: 3 equals "3"."""
    if left == right:
        return True
    a, b = _number(left), _number(right)
    return a is not None and b is not None and a == b


def _pair(args: tuple[Any, ...]) -> tuple[Any, Any]:
    values = _values(args)
    padded = (*values, None, None)
    return padded[0], padded[1]


def _if(this: Any, options: dict[str, Any], value: Any = None, **_: Any) -> Any:
    return options["fn"](this) if truthy(value) else options["inverse"](this)


def _unless(this: Any, options: dict[str, Any], value: Any = None, **_: Any) -> Any:
    # pybars3's own `unless` drops the {{else}} branch.
    return options["inverse"](this) if truthy(value) else options["fn"](this)


def _equals(this: Any, *args: Any, **_: Any) -> Any:
    return _block_or_value(this, args, loose_equal(*_pair(args)))


def _not_equals(this: Any, *args: Any, **_: Any) -> Any:
    return _block_or_value(this, args, not loose_equal(*_pair(args)))


def _compare(args: tuple[Any, ...], greater: bool) -> bool:
    left, right = (_number(v) for v in _pair(args))
    if left is None or right is None:
        return False
    return left > right if greater else left < right


def _greater_than(this: Any, *args: Any, **_: Any) -> Any:
    return _block_or_value(this, args, _compare(args, greater=True))


def _less_than(this: Any, *args: Any, **_: Any) -> Any:
    return _block_or_value(this, args, _compare(args, greater=False))


def _and(this: Any, *args: Any, **_: Any) -> Any:
    values = _values(args)
    return _block_or_value(this, args, bool(values) and all(truthy(v) for v in values))


def _or(this: Any, *args: Any, **_: Any) -> Any:
    return _block_or_value(this, args, any(truthy(v) for v in _values(args)))


def _length(this: Any, value: Any = None, *_: Any, **__: Any) -> int:
    if isinstance(value, Scope):
        value = value.context
    if isinstance(value, (str, list, tuple)):
        return len(value)
    return 0


def _insert(this: Any, value: Any = None, *args: Any, **hash_args: Any) -> Any:
    """`{{insert name "default=Customer"}}`: the value, or the default when it is missing/empty."""
    if value is not None and value != "":
        return value
    if "default" in hash_args:
        return hash_args["default"]
    for arg in args:
        if isinstance(arg, str) and arg.startswith("default="):
            return arg.removeprefix("default=")
    return ""


def _format_date(
    this: Any, value: Any = None, fmt: Any = None, offset: Any = None, **_: Any
) -> str:
    """`{{formatDate value "MMMM D, YYYY" "-0800"}}`; value is epoch (s or ms) or ISO 8601."""
    moment = parse_datetime(value)
    if moment is None:
        return ""
    zone = parse_offset(offset)
    if zone is not None:
        moment = moment.astimezone(zone)
    return format_datetime(moment, fmt if isinstance(fmt, str) and fmt else "YYYY-MM-DD")


def parse_datetime(value: Any) -> datetime | None:
    epoch = isinstance(value, str) and value.strip().lstrip("-").isdigit()
    number = _number(value) if epoch or not isinstance(value, str) else None
    if number is not None:
        seconds = number / 1000 if abs(number) >= _EPOCH_MS_THRESHOLD else number
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def parse_offset(value: Any) -> timezone | None:
    match = _OFFSET.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    sign = -1 if match.group(1) == "-" else 1
    minutes = int(match.group(2)) * 60 + int(match.group(3))
    return timezone(sign * timedelta(minutes=minutes))


def format_datetime(moment: datetime, fmt: str) -> str:
    return _DATE_TOKENS.sub(lambda m: _date_token(moment, m.group(0)), fmt)


def _date_token(moment: datetime, token: str) -> str:
    if token.startswith("["):
        return token[1:-1]
    hour12 = moment.hour % 12 or 12
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    hours, minutes = divmod(abs(int(offset.total_seconds())) // 60, 60)
    table = {
        "YYYY": f"{moment.year:04d}", "YY": f"{moment.year % 100:02d}",
        "MMMM": _MONTHS[moment.month - 1], "MMM": _MONTHS[moment.month - 1][:3],
        "MM": f"{moment.month:02d}", "M": str(moment.month),
        "DD": f"{moment.day:02d}", "D": str(moment.day),
        "dddd": _DAYS[moment.weekday()], "ddd": _DAYS[moment.weekday()][:3],
        "HH": f"{moment.hour:02d}", "H": str(moment.hour),
        "hh": f"{hour12:02d}", "h": str(hour12),
        "mm": f"{moment.minute:02d}", "m": str(moment.minute),
        "ss": f"{moment.second:02d}", "s": str(moment.second),
        "A": "AM" if moment.hour < 12 else "PM", "a": "am" if moment.hour < 12 else "pm",
        "ZZ": f"{sign}{hours:02d}{minutes:02d}", "Z": f"{sign}{hours:02d}:{minutes:02d}",
    }  # fmt: skip
    return table[token]


HELPERS: Mapping[str, Helper] = {
    "if": _if,
    "unless": _unless,
    "equals": _equals,
    "notEquals": _not_equals,
    "greaterThan": _greater_than,
    "lessThan": _less_than,
    "and": _and,
    "or": _or,
    "length": _length,
    "insert": _insert,
    "formatDate": _format_date,
}
