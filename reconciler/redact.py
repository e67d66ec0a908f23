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


_URL = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?:[^/@\s?#]*@)?(?P<rest>[^\s?#]*)(?P<tail>[?#]\S*)?")


def redact_url(url: str) -> str:
    """A batch URL as it may be shown: no user info, no query or fragment at all.

    Batch URLs are often presigned (the signature is in the query) or carry credentials: only
    scheme, host and path are safe to print, write into reports or log to MLflow."""
    match = _URL.fullmatch(url.strip())
    if match is None:
        return redact(url)
    tail = "?***" if match["tail"] else ""
    return f"{match['scheme']}{match['rest']}{tail}"
