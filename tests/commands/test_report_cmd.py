"""`kiosk-agent enroll`, `report show`, `report upload --now [--force]` as a user runs them."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from kiosk_agent.filter.updater import FeedState, save_state
from kiosk_agent.reporting.outbox import Outbox
from tests.conftest import run_cli
from tests.reporting.report_server import ReportServer

D = 86400


def _write_config(tmp_path: Path, server: str | None, budget: int = 200_000) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "reporting": {"server": server, "daily_budget_bytes": budget},
                "filter": {"upstreams": ["127.0.0.1:9"]},
            }
        )
    )
    return path


def _seed(state: Path, counts: dict[str, int], days_ago: int = 1) -> None:
    day = int(time.time() // D) * D - days_ago * D
    outbox = Outbox.in_state_dir(state)
    outbox.flush({(day, name): n for name, n in counts.items()}, D)
    outbox.close()


def test_enroll_show_upload(tmp_path: Path) -> None:
    with ReportServer({"CODE-1": ("KE-NBO", "KE")}) as server:
        config = _write_config(tmp_path, server.url)
        shown = run_cli(["report", "show", "--config", str(config)])
        assert shown.returncode == 0, shown.stderr
        assert "not enrolled yet" in shown.stdout

        done = run_cli(
            ["enroll", "--server", server.url, "--code", "WRONG", "--config", str(config)]
        )
        assert done.returncode == 1
        assert "unknown or used enrollment code" in done.stderr
        done = run_cli(
            ["enroll", "--server", server.url, "--code", "CODE-1", "--config", str(config)]
        )
        assert done.returncode == 0, done.stderr
        assert "Enrolled as kiosk k" in done.stdout and "KE-NBO" in done.stdout

        _seed(tmp_path / "state", {"blocked.csam": 3, "sessions.login": 12})
        # The service applied a list (its feeds.json): the report says so.
        save_state(
            tmp_path / "state",
            {"http://127.0.0.1:9/feeds/hotline": FeedState("u", list_id="hotline", version=41)},
        )
        shown = run_cli(["report", "show", "--config", str(config)])
        assert "Counted but not yet in a report (this period): 15." in shown.stdout

        sent = run_cli(["report", "upload", "--now", "--config", str(config)])
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.startswith("Sent 1 report(s)")
        assert server.state.counts == {"blocked.csam": 3, "sessions.login": 12}
        assert [r["feed_versions"] for r in server.state.reports] == [{"hotline": 41}]

        shown = run_cli(["report", "show", "--config", str(config)])
        assert "Waiting to be sent: nothing." in shown.stdout
        assert "Since install: 15 count(s) recorded, 15 confirmed by the server." in shown.stdout
        assert run_cli(["report", "upload", "--now", "--config", str(config)]).stdout.startswith(
            "Nothing to send"
        )


def test_budget_needs_force(tmp_path: Path) -> None:
    with ReportServer({"C": ("KE-NBO", "KE")}) as server:
        config = _write_config(tmp_path, server.url, budget=1000)
        assert (
            run_cli(
                ["enroll", "--server", server.url, "--code", "C", "--config", str(config)]
            ).returncode
            == 0
        )
        _seed(tmp_path / "state", {f"blocked.c{i * 7919}": i * 104729 + 1 for i in range(300)})
        refused = run_cli(["report", "upload", "--now", "--config", str(config)])
        assert refused.returncode == 1
        assert "budget is used up (add --force" in refused.stdout
        assert (
            "daily budget used up: 1" in run_cli(["report", "show", "--config", str(config)]).stdout
        )
        forced = run_cli(["report", "upload", "--now", "--force", "--config", str(config)])
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert sum(server.state.counts.values()) == sum(i * 104729 + 1 for i in range(300))


def test_upload_without_server_is_a_user_error(tmp_path: Path) -> None:
    config = _write_config(tmp_path, None)
    done = run_cli(["report", "upload", "--now", "--config", str(config)])
    assert done.returncode == 1
    assert "reporting.server is not set" in done.stderr
    assert "Traceback" not in done.stderr
    assert "no server configured" not in done.stdout
    shown = run_cli(["report", "show", "--json", "--config", str(config)])
    assert '"reports": []' in shown.stdout


def test_help_on_every_subcommand() -> None:
    for args in (["enroll"], ["report"], ["report", "show"], ["report", "upload"]):
        done = run_cli([*args, "--help"])
        assert done.returncode == 0 and "usage:" in done.stdout
