"""Keep credentials out of everything the reconciler prints: errors, plans, comments, logs."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<secret>[^@/\s]+)@")
_QUERY = re.compile(
    r"(?P<key>password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key)=(?P<value>[^&\s\"']+)", re.IGNORECASE
)


def redact(text: str) -> str:
    """`https://bob:s3cret@host` -> `https://bob:***@host`; `?token=abc` -> `?token=***`."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)
    return _QUERY.sub(lambda m: f"{m['key']}=***", text)
