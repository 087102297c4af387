"""Keeping credentials in connection URLs (ledger, Redis state) out of logs and error messages.

Shared by the ledger and dispatch state so neither depends on the other just for this.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def redact(url: str) -> str:
    """The URL with any password replaced, safe to log or print."""
    return _PASSWORD.sub(r"\1***@", url)


def scrub(text: str, url: str) -> str:
    """`text` (e.g. a driver's exception message) with the URL's password, in the URL's
    percent-encoded and in its decoded form, replaced by `***`."""
    try:
        password = urlsplit(url).password
    except ValueError:  # an unparsable URL: fall back to redacting URL-shaped substrings
        password = None
    if password:
        for form in {password, unquote(password)}:
            text = text.replace(form, "***")
    return redact(text)
