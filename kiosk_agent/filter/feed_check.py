"""One feed check: fetch (with ETags), verify, write the new index file. No event loop.

The service runs it in a short-lived worker process (``kiosk-agent worker feed-check``,
see ``kiosk_agent/service/worker.py`` and docs/worker-process.md), so that ``cryptography``,
``requests``/``ssl`` and the memory that building a 1M-entry index takes never enter
the long-running service. The worker answers with ``CheckResult.to_json()``; the
service reads it back with ``parse_check_result``, which trusts nothing, then opens the
new index file and swaps it in (``kiosk_agent.filter.updater``).

Steps (docs/contracts.md, "Feed directory"):

1. A feed directory: GET ``manifest.json`` with ``If-None-Match``; 304 or an unchanged
   version ends the check. Otherwise fetch the delta from the applied version when the
   manifest lists it, else the full bundle. A URL naming a ``.bundle`` file is fetched
   (with its own ETag) and applied as it is.
2. Verify through ``feed.read_bundle`` (trusted key, signature, rollback, base, expiry
   judged with the clock corrected from servers' ``Date`` headers), and that the bundle's
   list is one this feed may carry (``allowed_lists``: ``filter.feeds[].lists``, else the
   list first applied from the feed): a hotline's key must not rewrite another
   hotline's list (``wrong_list``, issue 15).
3. ``index.apply_bundle`` writes the new index file beside the old one and renames it
   into place.

Nothing here prints or logs a list entry: results carry versions, reasons and messages.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kiosk_agent.config import Config, FeedConfig
from kiosk_agent.contracts import feed, manifest
from kiosk_agent.filter import index

MAX_BUNDLE = 512 * 1024 * 1024
RESULTS = ("applied", "up_to_date", "rejected", "unreachable")
MAX_DETAIL = 1000
MAX_ETAG = 1024
_REASON = re.compile(r"^[a-z0-9_]{1,32}\Z")
_LIST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
_ETAG_FIELDS = ("manifest_etag", "bundle_etag")


class FetchError(Exception):
    """A feed file could not be fetched; the message says why in plain words."""


@dataclass(frozen=True)
class Fetched:
    """One fetched file: ``path`` is None when the server said it had not changed (304)."""

    path: Path | None
    etag: str | None
    temporary: bool = False

    def discard(self) -> None:
        if self.temporary and self.path is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()


class Fetcher(Protocol):
    def fetch(self, url: str, etag: str | None, limit: int) -> Fetched:
        """GET ``url`` (blocking) unless its ETag is still ``etag``."""
        ...


class FileFetcher:
    """``file://`` URLs: the file itself; its ETag is its size and modification time."""

    def fetch(self, url: str, etag: str | None, limit: int) -> Fetched:
        import urllib.request  # here: it pulls in http.client and email (≈ 15 ms at start)

        path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
        try:
            st = path.stat()
        except OSError as e:
            raise FetchError(f"cannot read {path}: {e.strerror}") from None
        tag = f'"{st.st_size}-{st.st_mtime_ns}"'
        if etag == tag:
            return Fetched(None, tag)
        if st.st_size > limit:
            raise FetchError(f"{path} is larger than {limit} bytes")
        return Fetched(path, tag)


class HttpFetcher:
    """``https://`` / ``http://`` through ``direct_http`` (upstream DNS, corrected clock)."""

    timeout: tuple[float, float] = (15, 60)

    def __init__(self, config: Config, download_dir: Path) -> None:
        self.config = config
        self.download_dir = download_dir
        self._session: Any = None

    def session(self) -> Any:
        if self._session is None:
            from kiosk_agent.net.clock import clock_for
            from kiosk_agent.net.direct_http import session_for_config

            self._session = session_for_config(self.config, clock=clock_for(self.config.state_dir))
        return self._session

    def fetch(self, url: str, etag: str | None, limit: int) -> Fetched:
        import requests

        headers = {"If-None-Match": etag} if etag else {}
        try:
            response = self.session().get(url, headers=headers, stream=True, timeout=self.timeout)
        except (requests.RequestException, OSError) as e:
            raise FetchError(f"cannot reach {_origin(url)}: {_short(e)}") from None
        except Exception as e:  # NoUpstreamError and DNS failures from direct_http
            raise FetchError(f"cannot reach {_origin(url)}: {_short(e)}") from None
        with response:
            if response.status_code == 304:
                return Fetched(None, etag)
            if response.status_code != 200:
                raise FetchError(f"{_origin(url)} answered HTTP {response.status_code}")
            self.download_dir.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=".download.", dir=self.download_dir)
            size = 0
            try:
                with os.fdopen(fd, "wb") as f:
                    for chunk in response.iter_content(64 * 1024):
                        size += len(chunk)
                        if size > limit:
                            raise FetchError(f"{_origin(url)} sent more than {limit} bytes")
                        f.write(chunk)
            except (requests.RequestException, OSError) as e:
                with contextlib.suppress(OSError):
                    os.unlink(name)
                raise FetchError(f"download from {_origin(url)} failed: {_short(e)}") from None
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(name)
                raise
            return Fetched(Path(name), response.headers.get("ETag"), temporary=True)


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def _short(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check, as the worker reports it to the service.

    ``result``: applied | up_to_date | rejected | unreachable. ``reason``: a short token
    for a rejection (a ``FeedError`` code, ``unreachable``, ``bad_manifest``,
    ``index_error``, ``worker_*``). For ``applied``, ``list_id``, ``version`` and
    ``index_path`` name the new index file. ``etags`` holds the ETags to remember
    (``manifest_etag``, ``bundle_etag``); a field not in it stays as it was.
    """

    result: str
    reason: str | None = None
    detail: str | None = None
    list_id: str | None = None
    version: int | None = None
    index_path: str | None = None
    etags: dict[str, str | None] = field(default_factory=dict)
    via: str | None = None
    hub_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "result": self.result,
            "reason": self.reason,
            "detail": None if self.detail is None else self.detail[:MAX_DETAIL],
            "list_id": self.list_id,
            "version": self.version,
            "index": self.index_path,
            "via": self.via,
            "hub_reason": self.hub_reason,
        }
        data.update(self.etags)
        return data


def _opt(obj: Mapping[str, Any], key: str, kind: type, limit: int | None = None) -> Any:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{key} is not a {kind.__name__}")
    if limit is not None and isinstance(value, str) and len(value) > limit:
        raise ValueError(f"{key} is longer than {limit}")
    return value


def parse_check_result(obj: Mapping[str, Any], state_dir: Path) -> CheckResult:
    """A worker's answer as a ``CheckResult``; ``ValueError`` unless every field is what
    the protocol allows, and an applied index lies where this service keeps it."""
    known = {
        *("result", "reason", "detail", "list_id", "version", "index", "via", "hub_reason"),
        *_ETAG_FIELDS,
    }
    extra = set(obj) - known
    if extra:
        raise ValueError(f"unknown field {sorted(extra)[0]!r}")
    result = obj.get("result")
    if result not in RESULTS:
        raise ValueError("result is not one of " + ", ".join(RESULTS))
    reason = _opt(obj, "reason", str)
    if reason is not None and not _REASON.match(reason):
        raise ValueError("reason is not a short token")
    if (reason is None) != (result in ("applied", "up_to_date")):
        raise ValueError(f"reason does not fit result {result}")
    detail = _opt(obj, "detail", str, MAX_DETAIL)
    list_id = _opt(obj, "list_id", str)
    if list_id is not None and not _LIST_ID.match(list_id):
        raise ValueError("list_id is not a list id")
    version = _opt(obj, "version", int)
    if version is not None and not 0 <= version < 2**63:
        raise ValueError("version is out of range")
    path = _opt(obj, "index", str, 4096)
    if result == "applied":
        if list_id is None or version is None or path is None:
            raise ValueError("an applied result names no list, version or index")
        if path != str(index.index_path(state_dir, list_id)):
            raise ValueError("the index is not where this service keeps it")
    elif path is not None:
        raise ValueError(f"a {result} result names an index")
    etags = {k: _opt(obj, k, str, MAX_ETAG) for k in _ETAG_FIELDS if k in obj}
    via = _opt(obj, "via", str)
    if via not in (None, "hub"):
        raise ValueError("via is not hub")
    hub_reason = _opt(obj, "hub_reason", str)
    if hub_reason is not None and not _REASON.match(hub_reason):
        raise ValueError("hub_reason is not a short token")
    return CheckResult(result, reason, detail, list_id, version, path, etags, via, hub_reason)


@dataclass
class FeedCheck:
    """Checks one feed once (blocking). ``applied``: the versions the service's index
    holds, per list id; ``list_id`` and the ETags: what the service remembers."""

    feed_config: FeedConfig
    state_dir: Path
    fetchers: Mapping[str, Fetcher]
    now: Callable[[], float]
    applied: Mapping[str, int]
    list_id: str | None = None
    manifest_etag: str | None = None
    bundle_etag: str | None = None
    etags: dict[str, str | None] = field(default_factory=dict)
    allowed_lists: tuple[str, ...] = ()
    """The list ids this feed may carry; empty: any (the first applied is then pinned)."""

    def _wrong_list(self, list_id: str) -> CheckResult | None:
        if not self.allowed_lists or list_id in self.allowed_lists:
            return None
        return CheckResult(
            "rejected",
            "wrong_list",
            detail=f"this feed carries {', '.join(self.allowed_lists)}, not {list_id}",
        )

    hub: str | None = None
    """The café hub to ask first (``http://ADDRESS:PORT``), or None."""
    bundle_hub: str | None = None
    """A café hub to take bundle files from, the manifest coming from the server: a kiosk
    past the withholding bound (``hub.roles.use_hub_for_feed``) reads what is current
    from the server, and the bundle that names from the hub first (verified the same
    way, and it must be the version the server's manifest names)."""
    _hub_refusal: str | None = None

    def run(self) -> CheckResult:
        from dataclasses import replace

        if self.hub is None or self.feed_config.url.endswith(".bundle"):
            result = self._run()
            return replace(result, hub_reason=self._hub_refusal) if self._hub_refusal else result
        from kiosk_agent.hub.roles import HUB_WAIT, hub_feed_url

        fetcher = HttpFetcher(*self._hub_fetcher_args())
        fetcher.timeout = (HUB_WAIT[0], 120.0)  # the hub may be fetching the file upstream
        via_hub = FeedCheck(
            FeedConfig(hub_feed_url(self.hub, self.feed_config.url), self.feed_config.trust),
            self.state_dir,
            {"http": fetcher},
            self.now,
            self.applied,
            list_id=self.list_id,
        )._run()
        if via_hub.result in ("applied", "up_to_date"):
            # The hub's ETags are not the server's: the direct check keeps its own.
            return replace(via_hub, etags={}, via="hub")
        # Refused (a rollback, a key not trusted...) or silent: the regional server itself.
        return replace(self._run(), hub_reason=via_hub.reason)

    def _hub_fetcher_args(self) -> tuple[Config, Path]:
        http = self.fetchers.get("http") or self.fetchers.get("https")
        config = getattr(http, "config", None)
        return (config if isinstance(config, Config) else Config(), self.state_dir / "downloads")

    def _run(self) -> CheckResult:
        url = self.feed_config.url
        applied = self.applied.get(self.list_id) if self.list_id is not None else None
        try:
            if url.endswith(".bundle"):
                fetched = self._fetcher(url).fetch(url, self.bundle_etag, MAX_BUNDLE)
                if fetched.path is None:
                    return self._result("up_to_date")
                try:
                    outcome = self._apply(fetched.path, applied, single=True)
                finally:
                    fetched.discard()
                if outcome.result in ("applied", "up_to_date"):
                    self.etags["bundle_etag"] = fetched.etag
                return self._result(outcome)
            return self._result(self._check_directory(applied))
        except FetchError as e:
            return self._result("unreachable", "unreachable", detail=str(e))

    def _result(self, outcome: CheckResult | str, *args: Any, **kw: Any) -> CheckResult:
        if isinstance(outcome, str):
            outcome = CheckResult(outcome, *args, **kw)
        return CheckResult(
            outcome.result,
            outcome.reason,
            outcome.detail,
            outcome.list_id,
            outcome.version,
            outcome.index_path,
            dict(self.etags),
        )

    def _fetcher(self, url: str) -> Fetcher:
        scheme = urllib.parse.urlsplit(url).scheme
        fetcher = self.fetchers.get(scheme)
        if fetcher is None:
            raise FetchError(f"unsupported feed URL scheme {scheme!r}")
        return fetcher

    def _check_directory(self, applied: int | None) -> CheckResult:
        base = self.feed_config.url.rstrip("/")
        fetcher = self._fetcher(base)
        etag = self.manifest_etag if applied is not None else None
        fetched = fetcher.fetch(f"{base}/{manifest.MANIFEST}", etag, manifest.MAX_MANIFEST)
        if fetched.path is None:
            return CheckResult("up_to_date")
        try:
            m = manifest.parse_manifest(fetched.path.read_bytes())
        except (manifest.ManifestError, OSError) as e:
            return CheckResult("rejected", "bad_manifest", detail=str(e))
        finally:
            fetched.discard()
        wrong = self._wrong_list(m.list_id)
        if wrong is not None:
            return wrong
        if self.list_id is not None and m.list_id != self.list_id:
            applied = self.applied.get(m.list_id)
        name = manifest.choose_file(m, applied)
        if name is None:
            self.etags["manifest_etag"] = fetched.etag
            return CheckResult("up_to_date")
        outcome = self._from_bundle_hub(name, applied, m.latest) or self._fetch_and_apply(
            fetcher, base, name, applied
        )
        if outcome.reason == "base_mismatch" and name != m.full:
            # The delta does not fit the index on disk (a damaged or replaced index): the
            # full bundle repairs that in the same check.
            outcome = self._fetch_and_apply(fetcher, base, m.full, None)
        if outcome.result == "applied":
            self.etags["manifest_etag"] = fetched.etag
        return outcome

    def _from_bundle_hub(self, name: str, applied: int | None, latest: int) -> CheckResult | None:
        """The bundle ``name`` (of version ``latest``, as the server's manifest says) from
        ``bundle_hub``, applied; None when the hub cannot serve it or serves anything
        else (then the server's copy is fetched; a refusal is kept as the hub's)."""
        if self.bundle_hub is None:
            return None
        from kiosk_agent.hub.roles import HUB_WAIT, hub_feed_url

        fetcher = HttpFetcher(*self._hub_fetcher_args())
        fetcher.timeout = (HUB_WAIT[0], 120.0)
        base = hub_feed_url(self.bundle_hub, self.feed_config.url)
        try:
            fetched = fetcher.fetch(f"{base}/{name}", None, MAX_BUNDLE)
        except FetchError:
            return None
        assert fetched.path is not None
        try:
            try:
                version = feed.read_header(fetched.path).version
            except feed.FeedError as e:
                self._hub_refusal = e.code
                return None
            if version != latest:  # an older signed bundle under the new name: withheld
                self._hub_refusal = "rollback"
                return None
            outcome = self._apply(fetched.path, applied, single=False)
        finally:
            fetched.discard()
        if outcome.result == "rejected" and outcome.reason != "base_mismatch":
            self._hub_refusal = outcome.reason
            return None
        return outcome

    def _fetch_and_apply(
        self, fetcher: Fetcher, base: str, name: str, applied: int | None
    ) -> CheckResult:
        fetched = fetcher.fetch(f"{base}/{name}", None, MAX_BUNDLE)
        assert fetched.path is not None
        try:
            return self._apply(fetched.path, applied, single=False)
        finally:
            fetched.discard()

    def _apply(self, path: Path, applied: int | None, *, single: bool) -> CheckResult:
        try:
            header = feed.read_header(path)
            wrong = self._wrong_list(header.list_id)
            if wrong is not None:
                return wrong  # before anything else: the applied version is another list's
            if single:
                # A bare bundle URL may serve the version already applied: not a rollback.
                applied = self.applied.get(header.list_id)
                if applied is not None and header.version == applied:
                    return CheckResult("up_to_date")
            bundle = feed.read_bundle(
                path, self.feed_config.trust, applied_version=applied, now=self.now()
            )
            wrong = self._wrong_list(bundle.header.list_id)
            if wrong is not None:
                return wrong
            target = index.index_path(self.state_dir, bundle.header.list_id)
            index.apply_bundle(target, bundle)
        except feed.FeedError as e:
            return CheckResult("rejected", e.code, detail=str(e))
        except (index.IndexError_, OSError, ValueError) as e:
            return CheckResult("rejected", "index_error", detail=_short(e))
        return CheckResult(
            "applied",
            list_id=bundle.header.list_id,
            version=bundle.header.version,
            index_path=str(target),
        )


def default_fetchers(config: Config, state_dir: Path) -> dict[str, Fetcher]:
    http = HttpFetcher(config, state_dir / "downloads")
    return {"file": FileFetcher(), "https": http, "http": http}


def _param_str(params: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ValueError(f"job parameter {key} is not a string")
    return value


def check_params(
    feed_config: FeedConfig,
    state_dir: Path,
    applied: Mapping[str, int],
    list_id: str | None,
    manifest_etag: str | None,
    bundle_etag: str | None,
    allowed_lists: tuple[str, ...] = (),
    hub: str | None = None,
    bundle_hub: str | None = None,
) -> dict[str, Any]:
    """The worker job's parameters (the service's view: trust keys, versions, ETags, the
    lists the feed may carry)."""
    return {
        "lists": list(allowed_lists),
        "hub": hub,
        "bundle_hub": bundle_hub,
        "url": feed_config.url,
        "trust": list(feed_config.trust),
        "state_dir": str(state_dir),
        "applied": dict(applied),
        "list_id": list_id,
        "manifest_etag": manifest_etag,
        "bundle_etag": bundle_etag,
    }


def feed_check_job(config: Config, params: Mapping[str, Any]) -> dict[str, Any]:
    """``kiosk-agent worker feed-check``: one check with the service's parameters.

    The trust keys and the state folder come from the service, not from the config file
    as it is on disk now (an operator may have edited it since the service started).
    """
    from dataclasses import replace

    from kiosk_agent.net.clock import clock_for

    url = _param_str(params, "url", required=True)
    trust = params.get("trust")
    if not isinstance(trust, list) or not all(isinstance(k, str) for k in trust):
        raise ValueError("job parameter trust is not a list of keys")
    state_dir = Path(_param_str(params, "state_dir", required=True) or "")
    applied = params.get("applied")
    if not isinstance(applied, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
        for k, v in applied.items()
    ):
        raise ValueError("job parameter applied is not a map of versions")
    lists = params.get("lists", [])
    if not isinstance(lists, list) or not all(
        isinstance(x, str) and _LIST_ID.match(x) for x in lists
    ):
        raise ValueError("job parameter lists is not a list of list ids")
    assert url is not None
    config = replace(config, state_dir=state_dir)
    check = FeedCheck(
        FeedConfig(url, tuple(trust)),
        state_dir,
        default_fetchers(config, state_dir),
        clock_for(state_dir).now,
        applied,
        list_id=_param_str(params, "list_id"),
        manifest_etag=_param_str(params, "manifest_etag"),
        bundle_etag=_param_str(params, "bundle_etag"),
        allowed_lists=tuple(lists),
        hub=_param_str(params, "hub"),
        bundle_hub=_param_str(params, "bundle_hub"),
    )
    for hub in (check.hub, check.bundle_hub):
        if hub is not None and not hub.startswith("http://"):
            raise ValueError("job parameter hub is not a hub address")
    return check.run().to_json()
