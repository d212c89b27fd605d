"""`kiosk-agent demo`: the whole system on loopback, unprivileged, in a temporary folder.

What runs (each a real part, started the way an operator or a coordinator would):
a local test upstream DNS responder (stands in for the café's ISP resolver; never the
machine's own), a demo hotline list built and signed with a key made for this run and
marked DEMO, the regional server on SQLite with a DEMO region, coordinator and enrollment
code, the agent's service (resolver on 127.0.0.1:5353, or a free port), enrolled; then a
few scripted customer sessions (the notice window on a display, its text in the terminal
otherwise) that resolve allowed and blocked demo names; the counts are flushed, uploaded,
and read back from the dashboard's JSON. It keeps running for a browser until Ctrl-C.

The parts are driven through their command lines (`kiosk-agent feed/service/enroll/report`,
`kiosk-server`), in subprocesses: the demo exercises the same paths as a real café.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from kiosk_agent.config import HostPort, load_config
from kiosk_agent.demo.upstream import DEMO_RECORDS, DemoUpstream
from kiosk_agent.errors import UserError
from kiosk_agent.net.dns_probe import resolve, wait_until_answering
from kiosk_agent.net.ports import free_port, port_is_free
from kiosk_agent.service.pin import hash_pin

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent
PREFERRED_RESOLVER_PORT = 5353

DEMO_REGION = ("KE-NBO", "Nairobi (DEMO)", "KE")
DEMO_LOGIN = ("coordinator@demo.example", "demo-coordinator")
DEMO_PIN = "2468"
DEMO_LIST_ID = "demo-hotline"
DEMO_CATEGORIES: dict[str, list[str]] = {
    # category -> the demo list's entries (reserved names only; see DEMO_RECORDS)
    "abuse_material": ["blocked-demo.test"],
    "grooming": ["unsafe-chat.example"],
}
ALLOWED_NAMES = ("news.example", "homework-help.example", "games.example", "football.test")
# Each customer tries a name under each listed entry: every count ends >= 5, so the
# dashboard shows it (cells under 5 are shown as "<5" to protect small cafés). Names differ
# per customer because the resolver counts one attempt per name per 10 s (a browser asks
# for A, AAAA and HTTPS records of the same name at once).
BLOCKED_PATTERNS = ("pictures-{i}.blocked-demo.test", "room-{i}.unsafe-chat.example")
LIST_PROBE = "first-check.blocked-demo.test"
# 8: the dashboard adds a noise of up to 3 to every count (cell key method) and shows
# counts under 5 as "<5"; 8 - 3 is still a number.
CUSTOMERS = 8


class DemoError(UserError):
    """A part of the demo did not start or answer; the message says which and where its log is."""


@dataclass
class NameResult:
    name: str
    outcome: str  # "allowed 192.0.2.10", "blocked (NXDOMAIN)", "no answer"
    blocked: bool


@dataclass
class DemoReport:
    """What the demo did, for the summary and for tests."""

    resolver: HostPort | None = None
    resolver_ready_seconds: float | None = None
    dashboard: str | None = None
    enrolled: bool = False
    sessions: int = 0
    names: list[NameResult] = field(default_factory=list)
    uploaded: bool = False
    indicators: dict[str, Any] | None = None
    upstream_queries: int = 0
    blocked_attempts: int = 0  # blocked lookups of distinct names (what the counters see)
    leaked: list[str] = field(default_factory=list)  # listed names that reached the upstream
    skipped: list[str] = field(default_factory=list)


def _listed() -> list[str]:
    return [name for names in DEMO_CATEGORIES.values() for name in names]


def have_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def agent_config(
    workdir: Path,
    *,
    resolver: HostPort,
    upstream: HostPort,
    control_port: int,
    blockpage_port: int,
    server: str | None,
    trust: str | None,
) -> dict[str, Any]:
    """The demo kiosk's config: loopback everywhere, quick flushes, never the system DNS."""
    feeds = []
    if server and trust:
        feeds = [{"url": f"{server}/feeds/{DEMO_LIST_ID}", "trust": [trust]}]
    return {
        "demo": True,  # marks it as a demo config (see config.DEMO_FEED_KEYS)
        "state_dir": str(workdir / "kiosk" / "state"),
        "cafe": {
            "name": "Sunrise Net Café (DEMO)",
            "country": "KE",
            "region": DEMO_REGION[0],
            "languages": ["sw", "en"],
        },
        "operator": {"pin_scrypt": hash_pin(DEMO_PIN)},
        "filter": {
            "listen": [str(resolver)],
            "upstreams": [str(upstream)],
            "upstream_timeout": "1s",
            "block_answer": "nxdomain",
            "blockpage_listen": f"127.0.0.1:{blockpage_port}",
            "manage_system_dns": False,  # a demo never touches this machine's DNS settings
            "feeds": feeds,
            "update_every": "1m",
        },
        "notices": {"triggers": ["billing_hook", "agent_start"], "min_display": "3s"},
        "reporting": {
            "server": server,
            "flush_every": "1s",
            "upload_every": "1m",
            "max_link_utilization": 1.0,
        },
        "control": {"listen": f"127.0.0.1:{control_port}"},
    }


class Dashboard:
    """Logs in to the regional server's dashboard like a coordinator and reads its JSON."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.jar)
        )

    def login(self, email: str, password: str) -> None:
        with self.opener.open(f"{self.base}/login", timeout=10) as r:
            page = r.read().decode("utf-8", "replace")
        m = re.search(r'name="csrf_token"\s+value="([^"]+)"', page) or re.search(
            r'value="([^"]+)"\s+name="csrf_token"', page
        )
        if not m:
            raise DemoError("the dashboard's login page has no csrf_token field")
        form = urllib.parse.urlencode(
            {"email": email, "password": password, "csrf_token": m.group(1), "next": "/"}
        ).encode()
        with self.opener.open(f"{self.base}/login", data=form, timeout=10) as r:
            r.read()

    def indicators(self) -> dict[str, Any]:
        with self.opener.open(f"{self.base}/api/v1/indicators", timeout=10) as r:
            data = json.loads(r.read())
        if not isinstance(data, dict):
            raise DemoError("the dashboard's JSON is not an object")
        return data


def region_counts(indicators: dict[str, Any], region: str = DEMO_REGION[0]) -> dict[str, Any]:
    """The region row of the dashboard's regions table (sessions, blocked, ...)."""
    table = indicators.get("tables", {}).get("regions", {})
    for row in table.get("rows", []):
        if row.get("key") == region:
            values = row.get("values", {})
            return values if isinstance(values, dict) else {}
    return {}


class Demo:
    """Starts the parts, runs the script, prints what happened, cleans up."""

    def __init__(
        self,
        workdir: Path,
        *,
        say: Callable[[str], None] = print,
        resolver_port: int = PREFERRED_RESOLVER_PORT,
        show_window: bool | None = None,
        python: str = sys.executable,
    ) -> None:
        self.workdir = workdir
        self.say = say
        self.resolver_port = resolver_port
        self.show_window = bool(os.environ.get("DISPLAY")) if show_window is None else show_window
        self.python = python
        self.logs = workdir / "logs"
        self.processes: list[tuple[str, subprocess.Popen[bytes], TextIO]] = []
        self.upstream: DemoUpstream | None = None
        self.report = DemoReport()
        self.config_path = workdir / "kiosk" / "agent.yaml"

    # -- processes ----------------------------------------------------------------------

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(PACKAGE_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self._server_env)
        if extra:
            env.update(extra)
        return env

    @property
    def _server_env(self) -> dict[str, str]:
        data = self.workdir / "server"
        return {
            "KIOSK_SERVER_DATA": str(data),
            "KIOSK_SERVER_DB": f"sqlite:///{data / 'server.sqlite'}",
        }

    def _agent(self, *args: str) -> list[str]:
        return [self.python, "-m", "kiosk_agent", *args]

    def _server(self, *args: str) -> list[str]:
        return [self.python, "-m", "regional_server", *args]

    def run_step(
        self, name: str, argv: Sequence[str], *, input: str | None = None, timeout: float = 120
    ) -> str:
        """Run one command to completion; its output, or ``DemoError`` with the log's tail."""
        done = subprocess.run(
            list(argv),
            input=input,
            capture_output=True,
            text=True,
            env=self._env(),
            timeout=timeout,
            check=False,
            cwd=self.workdir,
        )
        log = self.logs / f"{name}.log"
        log.write_text(f"$ {' '.join(argv)}\n{done.stdout}\n{done.stderr}", encoding="utf-8")
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            raise DemoError(f"{name} failed (exit {done.returncode}): {' / '.join(tail)}")
        return done.stdout

    def spawn(self, name: str, argv: Sequence[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("w", encoding="utf-8")
        proc = subprocess.Popen(
            list(argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self._env(),
            cwd=self.workdir,
            start_new_session=True,  # Ctrl-C reaches the demo, which stops them in order
        )
        self.processes.append((name, proc, log))
        return proc

    def _alive(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is not None:
            tail = (self.logs / f"{name}.log").read_text(errors="replace").strip().splitlines()
            raise DemoError(f"{name} exited ({proc.returncode}): {' / '.join(tail[-5:])}")

    def cleanup(self) -> None:
        for name, proc, log in reversed(self.processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            log.close()
            del name
        self.processes.clear()
        if self.upstream is not None:
            self.upstream.stop()
            self.upstream = None

    # -- the script ---------------------------------------------------------------------

    def step(self, text: str) -> None:
        self.say(f"\n== {text}")

    def detail(self, text: str) -> None:
        self.say(f"   {text}")

    def run(self) -> DemoReport:
        """Everything up to the summary (the caller waits for Ctrl-C, then ``cleanup``)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.workdir / "kiosk").mkdir(exist_ok=True)
        self.say(f"kiosk-agent demo — everything on loopback, in {self.workdir}")

        self.step("A local test upstream (stands in for the café's internet provider)")
        self.upstream = DemoUpstream().start()
        self.detail(f"DNS responder on {self.upstream.address} with {len(DEMO_RECORDS)} demo names")

        trust = self._build_feed()
        server = self._start_server()
        resolver = self._resolver_address()
        self._write_config(resolver, server, trust)
        self._start_service(resolver)
        self._enroll(server)
        self._wait_for_list()
        self._customers(resolver)
        self._upload()
        self._read_dashboard()
        self.report.upstream_queries = self.upstream.queries
        self.report.leaked = sorted(
            n
            for n in self.upstream.names_seen
            if any(n == b or n.endswith("." + b) for b in _listed())
        )
        self._summary()
        return self.report

    def _build_feed(self) -> str | None:
        self.step("A hotline list, hashed and signed with a DEMO key")
        feed = self.workdir / "feed"
        feed.mkdir(exist_ok=True)
        key = feed / "DEMO-publisher-key.pem"
        out = self.run_step("feed-keygen", self._agent("feed", "keygen", "--out", str(key)))
        trust = out.strip().splitlines()[-1].strip()
        args = [
            "feed", "build", "--key", str(key), "--list-id", DEMO_LIST_ID, "--version", "1",
            "--expires", "30d", "--out", str(feed / f"{DEMO_LIST_ID}-1.bundle"),
        ]  # fmt: skip
        for category, names in DEMO_CATEGORIES.items():
            source = feed / f"DEMO-{category}.txt"
            source.write_text("\n".join(names) + "\n", encoding="utf-8")
            args += ["--category", f"{category}={source}"]
        self.run_step("feed-build", self._agent(*args))
        for category in DEMO_CATEGORIES:
            # The publisher keeps the cleartext list; the kiosk only ever sees hashes.
            (feed / f"DEMO-{category}.txt").unlink()
        n = sum(len(v) for v in DEMO_CATEGORIES.values())
        self.detail(f"{n} entries in {len(DEMO_CATEGORIES)} categories, signed by {trust[:24]}…")
        return trust

    def _start_server(self) -> str | None:
        self.step("The regional server (SQLite), with a DEMO region, coordinator and code")
        if not have_module("regional_server.cli"):
            self._skip("the regional server is not installed (pip install -e '.[server]')")
            return None
        (self.workdir / "server").mkdir(exist_ok=True)
        code, name, country = DEMO_REGION
        self.run_step("server-init", self._server("init-db"))
        self.run_step(
            "server-region", self._server("create-region", code, name, "--country", country)
        )
        email, password = DEMO_LOGIN
        self.run_step(
            "server-user",
            self._server("create-user", email, "--role", "coordinator", "--region", code),
            input=password + "\n",
        )
        out = self.run_step(
            "server-code",
            self._server("create-enrollment-code", "--region", code, "--expires", "1d"),
        )
        self.enrollment_code = out.strip().splitlines()[-1].strip()
        bundle = self.workdir / "feed" / f"{DEMO_LIST_ID}-1.bundle"
        if bundle.is_file():
            self.run_step("server-publish", self._server("publish-feed", str(bundle)))
        port = free_port()
        proc = self.spawn(
            "server", self._server("serve", "--host", "127.0.0.1", "--port", str(port))
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        while True:
            self._alive("server", proc)
            try:
                with opener.open(f"{base}/login", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise DemoError("the regional server did not answer within 60 s (logs/server.log)")
            time.sleep(0.2)
        self.report.dashboard = base + "/"
        self.detail(f"dashboard {base}/  (region {code}, enrollment code {self.enrollment_code})")
        return base

    def _resolver_address(self) -> HostPort:
        port = self.resolver_port
        if port == 0:  # any free port (tests run in parallel)
            return HostPort("127.0.0.1", free_port())
        if not port_is_free(port):
            new = free_port()
            self.say(f"\n   note: 127.0.0.1:{port} is taken on this machine; using port {new}")
            port = new
        return HostPort("127.0.0.1", port)

    def _write_config(self, resolver: HostPort, server: str | None, trust: str | None) -> None:
        assert self.upstream is not None
        data = agent_config(
            self.workdir,
            resolver=resolver,
            upstream=self.upstream.address,
            control_port=free_port(),
            blockpage_port=free_port(),
            server=server,
            trust=trust,
        )
        text = "# DEMO kiosk config written by `kiosk-agent demo` (loopback only)\n"
        self.config_path.write_text(text + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        load_config(self.config_path)  # the demo's config must pass the agent's own checks

    def _start_service(self, resolver: HostPort) -> None:
        self.step(f"The kiosk's service: local resolver on {resolver}")
        started = time.monotonic()
        proc = self.spawn("service", self._agent("service", "--config", str(self.config_path)))
        waited = wait_until_answering(resolver, within=30.0, interval=0.02)
        if waited is None:
            self._alive("service", proc)
            raise DemoError(f"the resolver did not answer on {resolver} within 30 s")
        self.report.resolver = resolver
        self.report.resolver_ready_seconds = time.monotonic() - started
        self.detail(f"answering {self.report.resolver_ready_seconds:.2f} s after start")

    def _enroll(self, server: str | None) -> None:
        self.step("Enroll the kiosk with the regional server")
        code = getattr(self, "enrollment_code", None)
        if server is None or code is None:
            self._skip("no regional server: not enrolled")
            return
        out = self.run_step(
            "enroll",
            self._agent(
                "enroll", "--config", str(self.config_path), "--server", server, "--code", code
            ),
        )
        self.report.enrolled = True
        for line in out.strip().splitlines()[-2:]:
            self.detail(line)

    def _control(self) -> Any:
        from kiosk_agent.service.control_client import ControlClient

        return ControlClient.from_config(load_config(self.config_path))

    def _wait_for_list(self) -> None:
        if self.report.resolver is None:
            return
        self.step("The service fetches the signed list from the server")
        deadline = time.monotonic() + 30
        probe = LIST_PROBE
        while time.monotonic() < deadline:
            answer = resolve(self.report.resolver, probe, timeout=1.0)
            if answer is not None and answer[0] == 3:
                # NXDOMAIN comes from the agent: the demo upstream has an address for
                # every name under a listed domain. Probes made before the list was
                # applied did reach the upstream; the leak check starts from here.
                self.report.blocked_attempts += 1  # this lookup is counted as one too
                if self.upstream is not None:
                    self.upstream.names_seen.clear()
                self.detail("list applied: listed names are answered NXDOMAIN")
                return
            time.sleep(0.3)
        self._skip("the list was not applied within 30 s (logs/service.log)")

    def _customers(self, resolver: HostPort) -> None:
        self.step(f"{CUSTOMERS} scripted customer sessions")
        if self.report.resolver is None:
            self._skip("no service: nothing to resolve through")
            return
        try:
            control = self._control()
        except Exception as e:  # the control API is the service's; say so and go on
            control = None
            self._skip(f"control API not reachable ({e}): sessions are not counted")
        for i in range(CUSTOMERS):
            if i == 0:
                self._show_notice(control)
            if control is not None:
                control.post_event({"type": "session_started", "trigger": "billing_hook"})
                control.post_event({"type": "notice_shown", "locale": "sw"})
                control.post_event({"type": "notice_ack", "locale": "sw"})
                self.report.sessions += 1
            blocked = (p.format(i=i + 1) for p in BLOCKED_PATTERNS)
            names = (ALLOWED_NAMES[i % len(ALLOWED_NAMES)], *blocked)
            for name in names:
                result = self._lookup(resolver, name)
                self.report.blocked_attempts += result.blocked
                if i == 0 or result.blocked:
                    self.report.names.append(result)
                if i == 0:
                    self.detail(f"customer 1 opens {name:32} -> {result.outcome}")
        self.detail(f"customers 2-{CUSTOMERS} did the same with other sites and pages")

    def _lookup(self, resolver: HostPort, name: str) -> NameResult:
        answer = resolve(resolver, name, timeout=3.0)
        if answer is None:
            return NameResult(name, "no answer", False)
        rcode, addresses = answer
        if rcode == 3 and not any(name == n or name.endswith("." + n) for n in _listed()):
            return NameResult(name, "does not exist (NXDOMAIN)", False)
        if rcode == 3:
            return NameResult(name, "blocked (NXDOMAIN)", True)
        if addresses:
            return NameResult(name, f"allowed {', '.join(addresses)}", False)
        return NameResult(name, f"rcode {rcode}", False)

    def _show_notice(self, control: Any) -> None:
        if self.show_window:
            # The real notice window: the person watching can read it and press OK.
            self.spawn(
                "notice-window", self._agent("notices", "show", "--locale", "sw", "--country", "KE")
            )
            self.detail("the safety notice is on screen (Swahili); the script goes on meanwhile")
            return
        for line in notice_text("sw", "KE"):
            self.detail(f"  │ {line}")

    def _upload(self) -> None:
        self.step("Counts flushed to the outbox and uploaded (signed, gzip)")
        if not self.report.enrolled:
            self._skip("not enrolled: counts stay on the kiosk")
            return
        time.sleep(2.5)  # two flush intervals: every event is in the outbox
        out = self.run_step(
            "report-upload",
            self._agent("report", "upload", "--now", "--config", str(self.config_path)),
        )
        self.report.uploaded = True
        for line in out.strip().splitlines()[-3:]:
            self.detail(line)

    def _read_dashboard(self) -> None:
        if self.report.dashboard is None or not self.report.uploaded:
            return
        self.step("What the coordinator sees (read from the dashboard's JSON)")
        board = Dashboard(self.report.dashboard)
        board.login(*DEMO_LOGIN)
        self.report.indicators = board.indicators()
        counts = region_counts(self.report.indicators)
        shown = {
            k: counts.get(k)
            for k in ("sessions", "blocked", "kiosks_enrolled", "kiosks_on_newest")
            if k in counts
        }
        self.detail(f"region {DEMO_REGION[0]}: {shown}")

    def _skip(self, why: str) -> None:
        self.report.skipped.append(why)
        self.detail(f"skipped: {why}")

    def _summary(self) -> None:
        r = self.report
        self.step("What happened")
        self.detail(f"{r.sessions} customer sessions, {r.blocked_attempts} blocked lookups")
        if r.leaked:
            self.detail(f"PROBLEM: {len(r.leaked)} listed name(s) reached the upstream")
        else:
            self.detail(
                f"the upstream saw {r.upstream_queries} queries, none for a listed name: "
                "blocked lookups never leave the kiosk"
            )
        if r.dashboard:
            email, password = DEMO_LOGIN
            self.detail(f"dashboard: {r.dashboard}  login: {email} / {password}")
        if r.resolver:
            self.detail(f"try it:  dig @{r.resolver.host} -p {r.resolver.port} news.example")
            self.detail(f"         dig @{r.resolver.host} -p {r.resolver.port} blocked-demo.test")
        self.detail(f"logs: {self.logs}")
        if r.skipped:
            self.detail(f"{len(r.skipped)} part(s) skipped (see above)")


def notice_text(locale: str, country: str) -> list[str]:
    """The safety notice as terminal lines (when there is no display for the window)."""
    try:
        from kiosk_agent.content.countries import contact_lines, country_for
        from kiosk_agent.content.locales import load_locale

        loc = load_locale(locale)
    except Exception:
        return ["(the notice texts are not in this build)"]
    contact = contact_lines(loc, country_for(country))
    lines = [loc.strings.get("notice.title", ""), ""]
    lines += [f"• {tip}" for tip in loc.tips]
    lines += ["", contact.helpline, contact.report]
    lines += ["", f"[ {loc.strings.get('notice.acknowledge', 'OK')} ]"]
    return lines


@contextlib.contextmanager
def demo_folder(keep: Path | None) -> Iterator[Path]:
    """A fresh temporary folder (removed afterwards), or ``keep`` if given (kept)."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    path = Path(tempfile.mkdtemp(prefix="kiosk-agent-demo-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
