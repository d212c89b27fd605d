"""One check of the regional server's signed directories (blocking; run in a worker).

In order, because each step trusts what the one before accepted:

1. **keys** (``updates.keys``): every announcement above the one last accepted, each
   verified against the chain so far and the pinned roots (``contracts/keys.py``); the
   trust state is saved in ``state_dir/keys.json`` after each.
2. **content** (``updates.content``): the pack this kiosk should hold (staged rollout:
   ``contracts/signed_dir.py``), verified with the pinned content keys as the
   announcements left them, checked like ``notices check`` (its font rule included:
   ``shipped_glyphs``), applied (``content/pack.py``).
3. **settings** (``updates.settings``): the region's overlay, verified the same way,
   refused when it names a local-only key or makes the config invalid, saved
   (``config_overlay.py``); the service then takes its live keys (``config_live.py``).
4. **release** (``updates.release``): a newer program release for this kiosk's stage,
   downloaded (resumed) when the link has room, verified, unpacked beside the running
   release and left ``staged`` for the switch helper (``switch.py``), which the service
   starts.

A refusal keeps what was applied before. The answer lists one result per kind and the
key changes accepted; the service turns them into ``SignedRejected`` / ``KeyChanged``
events (counted as ``<kind>.rejected.<code>``, ``keys.changed.<how>``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiosk_agent.atomic import write_text_atomic
from kiosk_agent.config import Config, ConfigError
from kiosk_agent.contracts import keys, signed, signed_dir

if TYPE_CHECKING:
    from kiosk_agent.content.locales import Locale

KEYS_STATE = "keys.json"
MAX_FILE = 16 * 1024 * 1024
MAX_RELEASE = 80 * 1024 * 1024
RELEASE_DOWNLOAD_SECONDS = 1200.0
"""One check downloads for at most this long (the worker's own limit is 30 min); the
rest comes at the next check, which the service then runs sooner (``component.py``)."""
HUB_RELEASE_WAIT = 2.0
"""A kiosk waits for the café hub to fetch a release (its 503) at most this many
``updates.check_every`` from the first time it asked for that version, then downloads it
from the regional server itself: a hub that never gets it delays an update that long."""
HUB_WAIT_FILE = "hub-wait.json"
RESULTS = ("applied", "up_to_date", "rejected", "unreachable", "off", "staged", "deferred")
KINDS = ("keys", "content", "settings", "cafe_settings", "release")


@dataclass
class KindResult:
    kind: str
    result: str
    reason: str | None = None
    version: int | None = None
    detail: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "result": self.result,
            "reason": self.reason,
            "version": self.version,
            "detail": None if self.detail is None else self.detail[:500],
        }


@dataclass
class CheckAnswer:
    results: list[KindResult] = field(default_factory=list)
    key_changes: list[str] = field(default_factory=list)
    key_refusals: list[str] = field(default_factory=list)
    """The codes of every announcement refused in this check (each is counted)."""
    hub_refusals: list[tuple[str, str]] = field(default_factory=list)
    """(kind, code) of what the café hub served and this kiosk refused (each is counted;
    the regional server was then asked itself)."""
    via_hub: bool = False
    """Every directory was read through the café hub (not the regional server)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "results": [r.to_json() for r in self.results],
            "key_changes": list(self.key_changes),
            "key_refusals": list(self.key_refusals),
            "hub_refusals": [list(x) for x in self.hub_refusals],
            "via_hub": self.via_hub,
        }


settings_subject = signed_dir.settings_subject


def source_urls(config: Config) -> dict[str, str | None]:
    """Each kind's directory URL: configured, else under the reporting server's /feeds."""
    u = config.updates
    server = config.reporting.server
    base = f"{server.rstrip('/')}/feeds" if server else None

    def pick(url: str | None, name: str) -> str | None:
        return url if url is not None else (f"{base}/{name}" if base else None)

    region = pick(u.settings.url, settings_subject(config.cafe.region))
    cafe = signed_dir.cafe_settings_subject(config.cafe.region, config.cafe.name)
    return {
        "keys": pick(u.keys.url, "keys"),
        "content": pick(u.content.url, "content"),
        "settings": region,
        # Beside the region's directory, wherever that is.
        "cafe_settings": f"{region.rstrip('/').rsplit('/', 1)[0]}/{cafe}" if region else None,
        "release": pick(u.release.url, "releases"),
    }


def load_trust_state(state_dir: Path) -> keys.TrustState:
    try:
        return keys.TrustState.from_json(json.loads((state_dir / KEYS_STATE).read_text("utf-8")))
    except (OSError, ValueError):
        return keys.TrustState()


def save_trust_state(state_dir: Path, state: keys.TrustState) -> None:
    write_text_atomic(state_dir / KEYS_STATE, json.dumps(state.to_json(), indent=1) + "\n")


class Unreachable(Exception):
    """A file could not be fetched."""


Fetch = Callable[[str, int], bytes]
"""GET a URL (at most ``limit`` bytes) or raise ``Unreachable``."""


def fetcher_from(fetchers: Mapping[str, Any]) -> Fetch:
    """A ``Fetch`` over the feed updater's fetchers (``file``, ``https``, ``http``)."""
    import urllib.parse

    from kiosk_agent.filter.feed_check import FetchError

    def fetch(url: str, limit: int) -> bytes:
        scheme = urllib.parse.urlsplit(url).scheme
        f = fetchers.get(scheme)
        if f is None:
            raise Unreachable(f"unsupported URL scheme {scheme!r}")
        try:
            got = f.fetch(url, None, limit)
        except FetchError as e:
            raise Unreachable(str(e)) from None
        try:
            assert got.path is not None
            return bytes(got.path.read_bytes())
        except OSError as e:
            raise Unreachable(str(e)) from None
        finally:
            got.discard()

    return fetch


def shipped_glyphs(loc: Locale) -> list[str]:
    """The ``notices check`` font rule with the fonts this program ships: characters of
    ``loc`` that neither its script's font nor the Latin one can draw. Run on the kiosk
    for every new content pack (issue 21), in the updates worker: only there does the
    check load the fonts' cmap tables (and Pillow, which ``notices.check`` imports)."""
    from kiosk_agent.notices.check import font_problems

    try:
        return font_problems(loc)
    except KeyError:  # a script this program ships no font for
        return [f"fonts: this program has no font for the script {loc.script}"]


@dataclass
class UpdatesCheck:
    """One check of every configured kind. ``local`` is the parsed local agent.yaml (the
    overlay is validated over it); ``kiosk_id`` and ``cafe`` place the kiosk in a stage."""

    config: Config
    fetch: Fetch
    now: Callable[[], float]
    local: Mapping[str, Any]
    kiosk_id: str | None = None
    link_room: bool = True
    """The service's view of the café's link (``reporting``'s gate): a release waits when
    the link is busy or outside the off-peak hours."""
    opener: Any = None
    """``download.Opener`` for http(s) release downloads (resumable); None: file:// only."""
    running_version: str | None = None
    """The service's program version (a worker may be started from another build)."""
    hub: str | None = None
    """The café hub to read the directories through first (docs/cafe-hub.md)."""
    release_hub: str | None = None
    """The café hub to take a release's program from first even when ``hub`` is None
    because the manifests are read from the server (the withholding bound): the server's
    manifest names the version, so the hub can only serve that one or be refused."""

    def __post_init__(self) -> None:
        self._fetch = self.fetch
        self._hub_pass = False
        self._hub_refused: list[tuple[str, str]] = []
        """(kind, code) of releases the hub served and this kiosk refused."""

    def run(self) -> CheckAnswer:
        """One check: through the café hub first, when there is one; anything it could
        not serve or served and was refused, again from the regional server itself. Every
        file is verified with this kiosk's own keys either way, so a hub can withhold or
        replay (refused as a rollback), never make a kiosk accept something."""
        if self.hub is None:
            return self._run(self.fetch)
        direct = self.fetch
        hub = self.hub
        urls = [u for u in source_urls(self.config).values() if u]

        def via_hub(url: str, limit: int) -> bytes:
            from kiosk_agent.hub.roles import hub_feed_url

            base, _, name = url.rstrip("/").rpartition("/")
            if base not in urls:
                return direct(url, limit)
            return direct(f"{hub_feed_url(hub, base)}/{name}", limit)

        answer = self._run(via_hub, hub_pass=True)
        # The release step went to the regional server itself already when the hub could
        # not serve it or served what was refused (``_release``), so its outcome, staged
        # or deferred included, needs no second read, and a second read must not download
        # for another slice.
        release = [r for r in answer.results if r.kind == "release"]
        if all(
            r.result in ("applied", "up_to_date", "off")
            for r in answer.results
            if r.kind != "release"
        ):
            answer.via_hub = True
            answer.hub_refusals = list(self._hub_refused)
            return answer
        again = self._run(direct, release=False)
        again.results.extend(release)
        again.key_changes[:0] = answer.key_changes
        again.key_refusals[:0] = answer.key_refusals
        again.hub_refusals = [
            (r.kind, r.reason or "other")
            for r in answer.results
            if r.result == "rejected" and r.kind not in ("keys", "release")
        ] + self._hub_refused
        return again

    def _run(self, fetch: Fetch, *, release: bool = True, hub_pass: bool = False) -> CheckAnswer:
        self._fetch = fetch
        self._hub_pass = hub_pass
        answer = CheckAnswer()
        urls = source_urls(self.config)
        state = load_trust_state(self.config.state_dir)
        if urls["keys"]:
            state = self._keys(urls["keys"], state, answer)
        else:
            answer.results.append(KindResult("keys", "off"))
        steps = (
            ("content", self._content),
            ("settings", self._settings),
            ("cafe_settings", self._cafe_settings),
        )
        for kind, step in steps:
            url = urls[kind]
            trust = self._trust("settings" if kind == "cafe_settings" else kind, state)
            if not url or not trust:
                answer.results.append(KindResult(kind, "off"))
                continue
            answer.results.append(step(url, trust))
        if not release:
            return answer
        url = urls["release"]
        trust = self._trust("release", state)
        if not url or not trust:
            answer.results.append(KindResult("release", "off"))
        else:
            answer.results.append(self._release(url, trust))
        return answer

    def _release(self, url: str, trust: frozenset[str]) -> KindResult:
        from kiosk_agent import __version__
        from kiosk_agent.contracts import release
        from kiosk_agent.installer import release as installed
        from kiosk_agent.updates import download
        from kiosk_agent.updates import release_state as rs
        from kiosk_agent.updates.service_control import control_for

        control = control_for(self.config)
        if control is None:
            return KindResult("release", "off", detail="not an installed release on Linux")
        state_dir = self.config.state_dir
        state = rs.load(state_dir)
        running = release.running_number(self.running_version or __version__)
        from_hub = self._hub_pass and self.hub is not None
        file_hub = self.hub if from_hub else self.release_hub
        try:
            try:
                m = self._manifest(url)
            except (Unreachable, signed_dir.ManifestError) as e:
                if not from_hub:
                    raise
                # The hub could not serve the manifest (or served junk): the server's.
                if isinstance(e, signed_dir.ManifestError):
                    self._hub_refused.append(("release", "bad_manifest"))
                file_hub = None
                m = signed_dir.parse_manifest(
                    self.fetch(_manifest_url(url), signed_dir.MAX_MANIFEST)
                )
        except Unreachable as e:
            return KindResult("release", "unreachable", "unreachable", detail=str(e))
        except signed_dir.ManifestError as e:
            return KindResult("release", "rejected", "bad_manifest", detail=str(e))
        target = signed_dir.target_version(m, self.kiosk_id, self.config.cafe.name)
        now = self.now()
        # The operator's postponement is on this PC's own clock, as it was written.
        postponed = rs.is_postponed(rs.postponed_until(state_dir), time.time())
        why = rs.should_fetch(state, target, running, postponed=postponed)
        if why == "up_to_date":
            return KindResult("release", "up_to_date", version=rs.floor_version(state, running))
        if why is not None:
            return KindResult("release", "deferred", why, version=target)
        if not self.link_room:
            return KindResult("release", "deferred", "link_busy", version=target)
        name = m.files[target]
        floor = rs.floor_version(state, running)
        deadline = time.monotonic() + RELEASE_DOWNLOAD_SECONDS
        f: signed.SignedFile | None = None
        if file_hub is not None:
            got = self._release_from_hub(file_hub, url, name, target, trust, floor, now, deadline)
            if isinstance(got, KindResult):
                return got  # paused, or the hub is fetching it for the café
            f = got  # None: the hub cannot serve it, or served what was refused
        part = rs.folder(state_dir) / "download" / f"{name}.part"
        if f is None:
            try:
                download.download(
                    f"{url.rstrip('/')}/{name}", part, MAX_RELEASE, self.opener,
                    deadline=deadline,
                )  # fmt: skip
                data = part.read_bytes()
            except download.DownloadPaused as e:
                return KindResult("release", "deferred", "download_paused", target, str(e))
            except (download.DownloadError, OSError) as e:
                return KindResult("release", "unreachable", "unreachable", detail=str(e))
            try:
                f = release.read_release(data, trust, floor=floor, now=now)
            except signed.SignedError as e:
                part.unlink(missing_ok=True)  # never resume onto bytes that failed the checks
                return KindResult("release", "rejected", e.code, detail=str(e))
            finally:
                del data
        program_version = release.version_text(f.claims.version)
        program = part.with_name("program")
        try:
            program.write_bytes(f.body)
            staged = installed.install_release(
                program,
                control.program_dir,
                installed.new_release_name(program_version),
                control.executable_name,
            )
        except installed.ReleaseError as e:
            # Signed, but not a program this PC can lay out: never fetched again.
            rs.save(state_dir, replace(state, bad=(*state.bad, f.claims.version)))
            return KindResult("release", "rejected", "invalid", detail=str(e))
        except OSError as e:
            return KindResult("release", "rejected", "write_error", detail=str(e))
        finally:
            program.unlink(missing_ok=True)
        candidate = rs.Candidate(f.claims.version, program_version, staged.name)
        previous = installed.current_release(control.program_dir, control.executable_name)
        rs.save(state_dir, replace(state, phase="staged", candidate=candidate,
                                   previous=previous, attempts=0))  # fmt: skip
        for done in (
            part,
            part.with_name(f"{name}.hub.part"),
            rs.folder(state_dir) / HUB_WAIT_FILE,
        ):
            done.unlink(missing_ok=True)
        return KindResult("release", "staged", version=f.claims.version, detail=program_version)

    def _release_from_hub(
        self,
        hub: str,
        url: str,
        name: str,
        target: int,
        trust: frozenset[str],
        floor: int | None,
        now: float,
        deadline: float,
    ) -> signed.SignedFile | KindResult | None:
        """The release from the café hub, verified with this kiosk's own keys and
        required to be the version the manifest named (a replayed older file is a
        ``rollback``); a ``KindResult`` to wait (a paused download, or the hub fetching
        it for the café, within ``HUB_RELEASE_WAIT``); None to download it from the
        regional server (the hub cannot serve it, or served what was refused: counted)."""
        from kiosk_agent.contracts import release
        from kiosk_agent.hub.roles import hub_feed_url
        from kiosk_agent.updates import download
        from kiosk_agent.updates import release_state as rs

        part = rs.folder(self.config.state_dir) / "download" / f"{name}.hub.part"
        resumed = part.is_file() and part.stat().st_size > 0
        try:
            download.download(
                f"{hub_feed_url(hub, url.rstrip('/'))}/{name}", part, MAX_RELEASE,
                self.opener, deadline=deadline,
            )  # fmt: skip
            data = part.read_bytes()
        except download.DownloadPaused as e:
            return KindResult("release", "deferred", "download_paused", target, str(e))
        except download.DownloadError as e:
            # A cut on the LAN keeps what arrived: resumed from the hub at the next check
            # rather than 25 MB more over the café's uplink; both waits share one bound.
            cut = e.status is None and part.is_file() and part.stat().st_size > 0
            if (e.status == 503 or cut) and not self._hub_wait_over(target, now):
                why = "hub_fetching" if e.status == 503 else "download_paused"
                return KindResult("release", "deferred", why, target, str(e))
            return None
        except OSError:
            return None
        try:
            f = release.read_release(data, trust, floor=floor, now=now)
            if f.claims.version != target:
                raise signed.Rollback(f"the hub served version {f.claims.version} as {name}")
        except signed.SignedError as e:
            part.unlink(missing_ok=True)  # never resume onto bytes that failed the checks
            if resumed and not self._hub_wait_over(target, now):
                # The partial bytes may be what a power cut damaged on this PC: the whole
                # file from the hub at the next check before the hub is blamed (counted).
                return KindResult("release", "deferred", "download_again", target, str(e))
            self._hub_refused.append(("release", e.code))
            return None
        finally:
            del data
        return f

    def _hub_wait_over(self, target: int, now: float) -> bool:
        """Whether this kiosk has waited ``HUB_RELEASE_WAIT`` × ``check_every`` for the hub
        to fetch release ``target`` (counted from its first 503 for that version)."""
        from kiosk_agent.updates import release_state as rs

        path = rs.folder(self.config.state_dir) / HUB_WAIT_FILE
        since: float | None = None
        try:
            mark = json.loads(path.read_text("utf-8"))
            if isinstance(mark, dict) and mark.get("version") == target:
                value = mark.get("since")
                if isinstance(value, int | float) and not isinstance(value, bool):
                    since = float(value)
        except (OSError, ValueError):
            pass
        if since is None or since > now:  # first wait for this version (or a clock reset)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(path, json.dumps({"version": target, "since": now}) + "\n")
            return False
        return hub_wait_over(since, now, self.config.updates.check_every)

    def _trust(self, kind: str, state: keys.TrustState) -> frozenset[str]:
        pinned = getattr(self.config.updates, kind).trust
        return keys.effective_keys(pinned, state, self.now())

    def _manifest(self, url: str) -> signed_dir.Manifest:
        return signed_dir.parse_manifest(self._fetch(_manifest_url(url), signed_dir.MAX_MANIFEST))

    def _names(self, url: str, applied: int | None, *, chain: bool) -> list[str]:
        m = self._manifest(url)
        return signed_dir.to_fetch(m, applied, self.kiosk_id, self.config.cafe.name, chain=chain)

    def _keys(self, url: str, state: keys.TrustState, answer: CheckAnswer) -> keys.TrustState:
        try:
            names = self._names(url, state.version, chain=True)
        except Unreachable as e:
            answer.results.append(KindResult("keys", "unreachable", "unreachable", detail=str(e)))
            return state
        except signed_dir.ManifestError as e:
            answer.results.append(KindResult("keys", "rejected", "bad_manifest", detail=str(e)))
            return state
        result = KindResult("keys", "up_to_date", version=state.version)
        for name in names:
            try:
                data = self._fetch(f"{url.rstrip('/')}/{name}", MAX_FILE)
                state, change = keys.accept(
                    data, state, self.config.updates.keys.roots, now=self.now()
                )
            except Unreachable as e:
                result = KindResult("keys", "unreachable", "unreachable", detail=str(e))
                break
            except signed.SignedError as e:
                # Each announcement is judged on its own against the chain so far: a
                # refused one (a forgery on the server) must not block the good ones after
                # it; those that built on it fail their own chain check.
                result = KindResult("keys", "rejected", e.code, detail=str(e))
                answer.key_refusals.append(e.code)
                continue
            save_trust_state(self.config.state_dir, state)
            answer.key_changes.append(change.how)
            if result.result != "rejected":
                result = KindResult("keys", "applied", version=state.version)
        answer.results.append(result)
        return state

    def _one(self, kind: str, url: str, applied: int | None) -> bytes | KindResult:
        try:
            names = self._names(url, applied, chain=False)
            if not names:
                return KindResult(kind, "up_to_date", version=applied)
            return self._fetch(f"{url.rstrip('/')}/{names[0]}", MAX_FILE)
        except Unreachable as e:
            return KindResult(kind, "unreachable", "unreachable", detail=str(e))
        except signed_dir.ManifestError as e:
            return KindResult(kind, "rejected", "bad_manifest", detail=str(e))

    def _content(self, url: str, trust: frozenset[str]) -> KindResult:
        from kiosk_agent.content import pack

        applied = pack.applied_version(self.config.state_dir)
        got = self._one("content", url, applied)
        if isinstance(got, KindResult):
            return got
        try:
            version = pack.install_pack(
                self.config.state_dir, got, trust, now=self.now(), glyphs=shipped_glyphs
            )
        except signed.SignedError as e:
            return KindResult("content", "rejected", e.code, detail=str(e))
        except OSError as e:
            return KindResult("content", "rejected", "write_error", detail=str(e))
        return KindResult("content", "applied", version=version)

    def _settings(self, url: str, trust: frozenset[str]) -> KindResult:
        from kiosk_agent import config_overlay

        current = config_overlay.read_overlay(self.config.state_dir)
        got = self._one("settings", url, current.version if current else None)
        if isinstance(got, KindResult):
            return got
        return apply_overlay(self.config, self.local, got, trust, now=self.now())

    def _cafe_settings(self, url: str, trust: frozenset[str]) -> KindResult:
        from kiosk_agent import config_overlay

        current = config_overlay.read_overlay(self.config.state_dir, "cafe")
        got = self._one("cafe_settings", url, current.version if current else None)
        if isinstance(got, KindResult):
            # Most cafés have no overlay of their own: a missing directory is no failure.
            return KindResult("cafe_settings", "off") if got.result == "unreachable" else got
        return apply_overlay(self.config, self.local, got, trust, now=self.now(), which="cafe")


def _manifest_url(url: str) -> str:
    return f"{url.rstrip('/')}/{signed_dir.MANIFEST}"


def hub_wait_over(since: float, now: float, check_every: float) -> bool:
    """Pure: a kiosk that first found the hub fetching a release at ``since`` goes to the
    regional server itself once ``HUB_RELEASE_WAIT`` × ``check_every`` has passed."""
    return now - since >= HUB_RELEASE_WAIT * check_every


def apply_overlay(
    config: Config,
    local: Mapping[str, Any],
    data: bytes,
    trust: Iterable[str],
    *,
    now: float,
    which: str = "region",
) -> KindResult:
    """Verify a signed settings overlay for this kiosk's region (or its café: ``which``),
    check it over the local config (a café's over the region's), and keep it as the last
    good one; a refusal leaves the old one."""
    from kiosk_agent import config_overlay

    kind = "settings" if which == "region" else "cafe_settings"
    current = config_overlay.read_overlay(config.state_dir, which)
    if which == "region":
        subject = settings_subject(config.cafe.region)
        under: list[config_overlay.Overlay] = []
    else:
        subject = signed_dir.cafe_settings_subject(config.cafe.region, config.cafe.name)
        under = [o for o in [config_overlay.read_overlay(config.state_dir)] if o]
    try:
        f = signed.read_signed(
            data,
            trust,
            kind="settings",
            subject=subject,
            applied_version=current.version if current else None,
            now=now,
        )
        try:
            settings = config_overlay.parse_overlay_text(f.body)
            overlay = config_overlay.Overlay(f.claims.version, subject, f.claims.issuer, settings)
            config_overlay.effective_config(local, [*under, overlay])
        except (ValueError, ConfigError) as e:
            raise signed.Invalid(str(e).replace("\n", " ")) from None
        config_overlay.save_overlay(config.state_dir, overlay, which)
    except signed.SignedError as e:
        return KindResult(kind, "rejected", e.code, detail=str(e))
    except OSError as e:
        return KindResult(kind, "rejected", "write_error", detail=str(e))
    return KindResult(kind, "applied", version=f.claims.version)


def parse_answer(obj: object) -> CheckAnswer:
    """A worker's answer, trusting nothing; ``ValueError`` for anything else."""
    base = {"results", "key_changes", "key_refusals"}
    if not isinstance(obj, dict) or not base <= set(obj) <= base | {"hub_refusals", "via_hub"}:
        raise ValueError("the answer is not {results, key_changes, key_refusals[, hub_*]}")
    results, changes, refusals = obj["results"], obj["key_changes"], obj["key_refusals"]
    if not all(isinstance(x, list) and len(x) <= 200 for x in (results, changes, refusals)):
        raise ValueError("results, key_changes and key_refusals must be short lists")
    out = CheckAnswer()
    for r in results[: len(KINDS)]:
        if not isinstance(r, dict) or r.get("kind") not in KINDS or r.get("result") not in RESULTS:
            raise ValueError("a result of an unknown kind or outcome")
        reason, version, detail = r.get("reason"), r.get("version"), r.get("detail")
        if reason is not None and not (isinstance(reason, str) and reason.isidentifier()):
            raise ValueError("a reason that is not a token")
        if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
            raise ValueError("a version that is not a number")
        out.results.append(
            KindResult(
                r["kind"],
                r["result"],
                reason,
                version,
                detail if isinstance(detail, str) else None,
            )
        )
    for how in changes:
        if how not in ("rotation", "recovery", "revocation"):
            raise ValueError("an unknown key change")
        out.key_changes.append(how)
    for code in refusals:
        if not (isinstance(code, str) and code.isidentifier() and len(code) <= 32):
            raise ValueError("a refusal code that is not a token")
        out.key_refusals.append(code)
    hub_refusals = obj.get("hub_refusals", [])
    if not isinstance(hub_refusals, list) or len(hub_refusals) > len(KINDS):
        raise ValueError("hub_refusals must be a short list")
    for item in hub_refusals:
        if not (
            isinstance(item, list)
            and len(item) == 2
            and item[0] in KINDS
            and isinstance(item[1], str)
            and item[1].isidentifier()
            and len(item[1]) <= 32
        ):
            raise ValueError("a hub refusal that is not [kind, code]")
        out.hub_refusals.append((item[0], item[1]))
    via_hub = obj.get("via_hub", False)
    if not isinstance(via_hub, bool):
        raise ValueError("via_hub must be true or false")
    out.via_hub = via_hub
    return out


def updates_check_job(config: Config, params: Mapping[str, Any]) -> dict[str, Any]:
    """``kiosk-agent worker updates-check``: one check with the config the service runs."""
    from kiosk_agent import config_overlay
    from kiosk_agent.filter.feed_check import default_fetchers
    from kiosk_agent.net.clock import clock_for

    kiosk_id = params.get("kiosk_id")
    if kiosk_id is not None and not isinstance(kiosk_id, str):
        raise ValueError("job parameter kiosk_id is not a string")
    link_room = params.get("link_room", True)
    if not isinstance(link_room, bool):
        raise ValueError("job parameter link_room is not true or false")
    running = params.get("running_version")
    if running is not None and not isinstance(running, str):
        raise ValueError("job parameter running_version is not a string")
    hub = params.get("hub")
    if hub is not None and not (isinstance(hub, str) and hub.startswith("http://")):
        raise ValueError("job parameter hub is not an http:// address")
    release_hub = params.get("release_hub", hub)
    if release_hub is not None and not (
        isinstance(release_hub, str) and release_hub.startswith("http://")
    ):
        raise ValueError("job parameter release_hub is not an http:// address")
    source = Path(config.source)
    local = config_overlay.read_local(source) if source.is_file() else {}
    from kiosk_agent.filter.feed_check import HttpFetcher
    from kiosk_agent.updates.download import requests_opener

    http = HttpFetcher(config, config.state_dir / "downloads")

    def opener(url: str, headers: dict[str, str]) -> Any:
        return requests_opener(http.session())(url, headers)

    check = UpdatesCheck(
        config,
        fetcher_from(default_fetchers(config, config.state_dir)),
        clock_for(config.state_dir).now,
        local,
        kiosk_id,
        link_room=link_room,
        opener=opener,
        running_version=running,
        hub=hub,
        release_hub=release_hub,
    )
    return check.run().to_json()
