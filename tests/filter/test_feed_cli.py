"""`kiosk-agent feed ...` end to end, including a generated list of a million names."""

from __future__ import annotations

import os
import random
import stat
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, run_cli


def _keygen(tmp_path: Path, name: str = "signing.key") -> tuple[Path, str]:
    key = tmp_path / name
    done = run_cli(["feed", "keygen", "--out", str(key)])
    assert done.returncode == 0, done.stderr
    pub = done.stdout.strip().splitlines()[-1]
    assert pub.startswith("ed25519:") and len(pub) == 52
    return key, pub


def test_keygen_and_pubkey(tmp_path: Path) -> None:
    key, pub = _keygen(tmp_path)
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    again = run_cli(["feed", "pubkey", "--key", str(key)])
    assert again.stdout.strip() == pub
    exists = run_cli(["feed", "keygen", "--out", str(key)])
    assert exists.returncode == 1 and "--force" in exists.stderr
    assert run_cli(["feed", "pubkey", "--key", str(tmp_path / "none")]).returncode == 1
    (tmp_path / "junk.key").write_text("junk")
    junk = run_cli(["feed", "pubkey", "--key", str(tmp_path / "junk.key")])
    assert junk.returncode == 1 and "Traceback" not in junk.stderr


def test_build_verify_inspect_check_publish(tmp_path: Path) -> None:
    key, pub = _keygen(tmp_path)
    csam = tmp_path / "csam.txt"
    csam.write_text(
        "# test list\nevil.example\n0.0.0.0 bad.example\nnot valid line\n"
        "http://www.pages.example/a/b.html\n"
    )
    groom = tmp_path / "grooming.txt"
    groom.write_text("||chat.example^\n")
    full1 = tmp_path / "full-1.bundle"
    cats = ["--category", f"csam={csam}", "--category", f"grooming={groom}"]
    common = ["--key", str(key), "--list-id", "hotline", *cats]
    done = run_cli(["feed", "build", *common, "--version", "1", "--out", str(full1), "--progress"])
    assert done.returncode == 0, done.stderr
    assert "csam.txt:4: skipped" in done.stderr and "[####" in done.stderr
    assert "hotline v1 full, 5 entries" in done.stdout

    ok = run_cli(["feed", "verify", str(full1), "--trust", pub])
    assert ok.returncode == 0 and ok.stdout.startswith("OK ") and len(ok.stdout.splitlines()) == 1
    _, other = _keygen(tmp_path, "other.key")
    bad = run_cli(["feed", "verify", str(full1), "--trust", other])
    assert bad.returncode == 1 and "untrusted_key" in bad.stdout
    rb = run_cli(["feed", "verify", str(full1), "--trust", pub, "--applied-version", "1"])
    assert rb.returncode == 1 and "rollback" in rb.stdout

    info = run_cli(["feed", "inspect", str(full1)])
    assert info.returncode == 0 and "version:      1" in info.stdout
    assert "csam" in info.stdout and "suspect hosts" in info.stdout
    for word in ("evil", "bad.example", "pages", "chat"):
        assert word not in info.stdout
        assert word.encode() not in full1.read_bytes()

    csam.write_text("evil.example\nnew.example\n")
    d12, full2 = tmp_path / "delta-1-2.bundle", tmp_path / "full-2.bundle"
    done = run_cli(
        [
            "feed",
            "build",
            *common,
            "--version",
            "2",
            "--base",
            str(full1),
            "--full-out",
            str(full2),
            "--out",
            str(d12),
        ]
    )
    assert done.returncode == 0, done.stderr
    assert "delta from v1" in done.stdout
    names = ["new.example", "a.evil.example", "bad.example", "chat.example", "x.test",
             "http://www.pages.example/a/b.html"]  # fmt: skip
    expected = [
        "new.example blocked csam",
        "a.evil.example blocked csam",
        "bad.example allowed",
        "chat.example blocked grooming",
        "x.test allowed",
        "http://www.pages.example/a/b.html allowed",
    ]
    for args in (
        [str(d12), "--base", str(full1)],
        [str(full2)],
    ):
        chk = run_cli(["feed", "check", *args, "--trust", pub, *names])
        assert chk.returncode == 0, chk.stderr
        assert chk.stdout.splitlines() == expected
    v1 = run_cli(["feed", "check", str(full1), "--trust", pub, "http://www.pages.example/a/b.html"])
    assert v1.stdout.strip() == "http://www.pages.example/a/b.html blocked csam"
    nobase = run_cli(["feed", "check", str(d12), "--trust", pub, "x.test"])
    assert nobase.returncode == 1 and "base_mismatch" in nobase.stderr

    feeddir = tmp_path / "feeds" / "hotline"
    assert run_cli(["feed", "publish", str(full1), "--dir", str(feeddir)]).returncode == 0
    done = run_cli(["feed", "publish", str(full2), str(d12), "--dir", str(feeddir), "--trust", pub])
    assert done.returncode == 0, done.stderr
    assert "hotline v2" in done.stdout and "from v1" in done.stdout
    assert sorted(p.name for p in feeddir.iterdir()) == [
        "delta-1-2.bundle",
        "full-2.bundle",
        "manifest.json",
    ]
    again = run_cli(["feed", "publish", str(full1), "--dir", str(feeddir)])
    assert again.returncode == 1 and "not newer" in again.stderr


def test_build_user_errors(tmp_path: Path) -> None:
    key, _ = _keygen(tmp_path)
    src = tmp_path / "l.txt"
    src.write_text("x y\n" * 5)
    out = str(tmp_path / "o.bundle")
    base = ["feed", "build", "--key", str(key), "--list-id", "hotline", "--out", out]
    for extra, message in (
        (["--version", "1", "--category", f"c={src}", "--max-bad-lines", "2"], "bad lines"),
        (["--version", "1", "--category", "c"], "NAME=SOURCEFILE"),
        (["--version", "1", "--category", f"c={tmp_path}/none"], "cannot read"),
        (["--version", "0", "--category", f"c={src}"], "--version"),
        (["--version", "1", "--category", f"c={src}", "--expires", "soon"], "--expires"),
    ):
        done = run_cli([*base, *extra])
        assert done.returncode == 1, extra
        assert message in done.stderr and "Traceback" not in done.stderr
    assert not Path(out).exists()


def test_demo_keys_are_marked() -> None:
    demo = REPO_ROOT / "config" / "demo"
    pub_lines = (demo / "DEMO-feed-signing.pub").read_text().splitlines()
    assert "DEMO" in pub_lines[0]
    pub = pub_lines[-1]
    done = run_cli(["feed", "pubkey", "--key", str(demo / "DEMO-feed-signing.key")])
    assert done.stdout.strip() == pub
    assert pub not in (REPO_ROOT / "config" / "agent.example.yaml").read_text()


@pytest.mark.slow
def test_a_million_names(tmp_path: Path) -> None:
    """The whole CLI path on a generated list of 1M names (well under a minute)."""
    key, pub = _keygen(tmp_path)
    rnd = random.Random(7)
    words = [
        "".join(rnd.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=10)) for _ in range(1000)
    ]
    src = tmp_path / "million.txt"
    with src.open("w") as f:
        for i in range(1_000_000):
            f.write(f"{words[i % 1000]}{i}.{words[(i * 7) % 1000]}.test\n")
    bundle = tmp_path / "full-1.bundle"
    start = time.monotonic()
    done = run_cli(
        ["feed", "build", "--key", str(key), "--list-id", "big", "--version", "1",
         "--category", f"csam={src}", "--out", str(bundle)],
        timeout=300,
    )  # fmt: skip
    build_s = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert "1,000,000 entries" in done.stdout
    assert bundle.stat().st_size / 1_000_000 <= 6.0
    assert run_cli(["feed", "verify", str(bundle), "--trust", pub], timeout=120).returncode == 0
    hit = f"www.{words[5]}5.{words[35]}.test"
    chk = run_cli(["feed", "check", str(bundle), "--trust", pub, hit, "miss.test"], timeout=120)
    assert chk.stdout.splitlines() == [f"{hit} blocked csam", "miss.test allowed"]
    print(f"1M names: build {build_s:.1f} s")


def test_check_blocks_names_at_any_depth_below_a_listed_name(tmp_path: Path) -> None:
    """Issue 17: a listed name of six labels covers names below it at any depth."""
    key, pub = _keygen(tmp_path)
    src = tmp_path / "csam.txt"
    src.write_text("a.b.c.d.e.example\n")
    bundle = tmp_path / "full-1.bundle"
    common = ["--key", str(key), "--list-id", "hotline", "--category", f"csam={src}"]
    done = run_cli(["feed", "build", *common, "--version", "1", "--out", str(bundle)])
    assert done.returncode == 0, done.stderr
    deepest = ".".join(["x"] * 100) + ".a.b.c.d.e.example"
    names = [
        "a.b.c.d.e.example",
        "x.a.b.c.d.e.example",
        "y.x.a.b.c.d.e.example",
        deepest,
        "http://x.y.a.b.c.d.e.example/page.html",
        "b.c.d.e.example",
        "xa.b.c.d.e.example",
    ]
    chk = run_cli(["feed", "check", str(bundle), "--trust", pub, *names])
    assert chk.returncode == 0, chk.stderr
    assert chk.stdout.splitlines() == [
        *(f"{n} blocked csam" for n in names[:5]),
        "b.c.d.e.example allowed",
        "xa.b.c.d.e.example allowed",
    ]
