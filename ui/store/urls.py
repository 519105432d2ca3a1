"""DATABASE_URL as a person may see it: the password masked in the URL and in whatever the driver
says about it."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit


def mask(url: str) -> str:
    """`postgresql://glm:secret@host/db?password=x` → `postgresql://glm:***@host/db?password=***`."""
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed [IPv6 bracket: show no more than the scheme
        return url.split(":", 1)[0] + "://***"
    netloc = parts.netloc
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        user = credentials.split(":", 1)[0]
        netloc = f"{user}:***@{host}" if ":" in credentials else f"{user}@{host}"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if netloc == parts.netloc and not any(k.lower() == "password" for k, _ in pairs):
        return url
    query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def secrets_of(url: str) -> list[str]:
    """The passwords a URL carries, as written and decoded, longest first."""
    found = re.findall(r"://[^:/@\s]*:([^@\s]+)@", url)  # also where urlsplit gives up
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    found += [parts.password] if parts.password else []
    found += [v for k, v in parse_qsl(parts.query) if k.lower() == "password" and v]
    return sorted({*found, *map(unquote, found)}, key=len, reverse=True)


def reason(error: BaseException, url: str = "") -> str:
    """The driver's first line about `error`, with no password of `url` in it."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    for secret in secrets_of(url):
        text = text.replace(secret, "***")
    text = re.sub(r"(://[^:/@\s]*):[^@\s]*@", r"\1:***@", text)  # any URL with user:password@
    return re.sub(r"password=\S+", "password=***", text)
