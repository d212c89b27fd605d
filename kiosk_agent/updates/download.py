"""A large file fetched into a partial file that the next try resumes (HTTP ``Range``).

A release is ~25 MB over a café's slow link: a download cut by the link, a worker's
timeout or a power cut keeps what arrived in ``<name>.part`` and asks for the rest
(``Range: bytes=N-``). A server that ignores the range (200) sends the whole file again,
which replaces the partial one; ``416`` means the partial file is already whole. The
bytes are trusted only after the signed file's checks (``contracts/release.py``).
"""

from __future__ import annotations

import os
import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHUNK = 64 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)\Z")


class DownloadError(Exception):
    """The server could not be reached or answered what this reader cannot use;
    ``status`` is the HTTP status of an answer this reader could not use, if any (a café
    hub's 503: it is fetching the file for the café)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class DownloadPaused(DownloadError):
    """The time given to this try is up; the partial file is kept for the next."""


@dataclass(frozen=True)
class Resume:
    """How to treat an answer to a ranged request: ``append`` at ``offset``, ``restart``
    from zero, ``complete`` (nothing more to fetch), or ``error``."""

    action: str
    offset: int = 0


def plan_resume(have: int, status: int, content_range: str | None) -> Resume:
    """Pure: what an answer with ``status`` and ``Content-Range`` means for a partial file
    of ``have`` bytes."""
    if status == 200:
        return Resume("restart")
    if status == 416:
        return Resume("complete") if have > 0 else Resume("error")
    if status != 206 or content_range is None:
        return Resume("error")
    m = _CONTENT_RANGE.match(content_range.strip())
    if m is None:
        return Resume("error")
    start, end = int(m.group(1)), int(m.group(2))
    if start != have or end < start:
        return Resume("error")  # not the bytes asked for: never splice them in
    return Resume("append", start)


Opener = Callable[[str, dict[str, str]], Any]
"""GET ``url`` with headers; returns a ``requests``-like streaming response."""


def download(
    url: str,
    part: Path,
    limit: int,
    opener: Opener | None = None,
    *,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Path:
    """Fetch ``url`` into ``part`` (resuming what it holds); returns ``part`` when whole.

    ``file://`` URLs are copied (no resume needed). Raises ``DownloadError``; the partial
    file stays for the next try unless the answer made it useless. At ``deadline`` (of
    ``clock``) it stops with ``DownloadPaused``: a slow link finishes over several checks,
    and the worker is never killed by its own timeout mid-write."""
    scheme = urllib.parse.urlsplit(url).scheme
    part.parent.mkdir(parents=True, exist_ok=True)
    if scheme == "file":
        source = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path))
        try:
            data = source.read_bytes()
        except OSError as e:
            raise DownloadError(f"cannot read {source}: {e.strerror}") from None
        if len(data) > limit:
            raise DownloadError(f"{source} is larger than {limit} bytes")
        part.write_bytes(data)
        return part
    if opener is None:
        raise DownloadError(f"unsupported URL scheme {scheme!r}")
    have = part.stat().st_size if part.is_file() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = opener(url, headers)
    except Exception as e:  # requests, OSError, and direct_http's DNS errors
        raise DownloadError(f"cannot reach the server: {str(e)[:200]}") from None
    with response:
        plan = plan_resume(have, response.status_code, response.headers.get("Content-Range"))
        if plan.action == "complete":
            return part
        if plan.action == "error":
            if response.status_code in (206, 416):
                part.unlink(missing_ok=True)  # a range the server will not honour
            raise DownloadError(
                f"the server answered HTTP {response.status_code}", response.status_code
            )
        mode = "ab" if plan.action == "append" else "wb"
        size = have if plan.action == "append" else 0
        try:
            with part.open(mode) as f:
                for chunk in response.iter_content(CHUNK):
                    if deadline is not None and clock() > deadline:
                        f.flush()
                        os.fsync(f.fileno())
                        raise DownloadPaused(f"paused after {size} bytes; resumes next time")
                    size += len(chunk)
                    if size > limit:
                        f.close()
                        part.unlink(missing_ok=True)
                        raise DownloadError(f"the file is larger than {limit} bytes")
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise DownloadError(f"the download stopped: {str(e)[:200]}") from None
        except DownloadError:
            raise
        except Exception as e:  # requests' ChunkedEncodingError, ConnectionError mid-body
            raise DownloadError(f"the download stopped: {str(e)[:200]}") from None
    return part


def requests_opener(session: Any, timeout: tuple[float, float] = (15, 60)) -> Opener:
    """An ``Opener`` over a ``requests`` session (``net/direct_http.py``'s, in the worker)."""

    def open_(url: str, headers: dict[str, str]) -> Any:
        return session.get(url, headers=headers, stream=True, timeout=timeout)

    return open_
