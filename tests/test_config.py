from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kiosk_agent.config import (
    Config,
    ConfigError,
    HostPort,
    config_from_mapping,
    declared_keys,
    load_config,
    parse_config,
    parse_duration,
    parse_host_port,
)
from tests.conftest import REPO_ROOT, run_cli

EXAMPLE = REPO_ROOT / "config" / "agent.example.yaml"
KEY = "ed25519:" + "A" * 43 + "="


def test_example_config_is_valid_and_documents_every_key() -> None:
    config = load_config(EXAMPLE)
    assert config.cafe.country == "KE"
    assert config.filter.listen == (HostPort("127.0.0.1", 53),)
    text = EXAMPLE.read_text()
    # Every field of every section appears in the example file.
    import dataclasses

    def fields(obj: Any, prefix: str = "") -> list[str]:
        out = []
        for f in dataclasses.fields(obj):
            if f.name == "source":
                continue
            value = getattr(obj, f.name)
            out.append(f.name)
            if dataclasses.is_dataclass(value) and not isinstance(value, HostPort):
                out.extend(fields(value))
        return out

    for name in fields(config):
        assert f"{name}:" in text, f"config/agent.example.yaml does not document {name}"


def test_defaults_from_empty_document() -> None:
    config = parse_config("")
    assert config.filter.block_answer == "nxdomain"
    assert config.filter.manage_system_dns is False
    assert config.notices.min_display == 8.0


def test_all_errors_reported_at_once_with_key_value_and_allowed() -> None:
    text = """
cafe: {country: kenya, languages: []}
filter:
  listen: ["127.0.0.1:99999"]
  block_answer: refuse
  update_every: often
  feeds:
    - url: ftp://x
      trust: [nope]
notices: {triggers: [login, lunch]}
reporting: {max_link_utilization: 3}
control: {listen: "0.0.0.0:8053"}
bogus: 1
"""
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    problems = info.value.problems
    joined = "\n".join(problems)
    for fragment in (
        "cafe.country: 'kenya'",
        "cafe.languages: []",
        "filter.listen:",
        "filter.block_answer: 'refuse' is not allowed; expected nxdomain or sinkhole",
        "filter.update_every: 'often'",
        "filter.feeds[0].url: 'ftp://x'",
        "filter.feeds[0].trust: ['nope']",
        "notices.triggers:",
        "reporting.max_link_utilization: 3",
        "control.listen: '0.0.0.0:8053'",
        "bogus: unknown key",
    ):
        assert fragment in joined, fragment
    assert len(problems) == 11


def test_yaml_syntax_error_names_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("cafe: {name: [\n")
    assert "line" in info.value.problems[0]


def test_feed_needs_url_and_trust() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("filter: {feeds: [{}]}")
    joined = "\n".join(info.value.problems)
    assert "filter.feeds[0].url" in joined and "filter.feeds[0].trust" in joined


def test_valid_feed() -> None:
    config = parse_config(
        f"filter: {{feeds: [{{url: 'file:///srv/feed', trust: ['{KEY}']}}], "
        "upstreams: ['127.0.0.1:5300', auto]}"
    )
    assert config.filter.feeds[0].trust == (KEY,)
    assert config.filter.feeds[0].lists == ()  # the first list applied is pinned
    assert config.filter.upstreams == ("127.0.0.1:5300", "auto")


def test_feed_lists() -> None:
    feed = f"url: 'file:///srv/feed', trust: ['{KEY}']"
    config = parse_config(f"filter: {{feeds: [{{{feed}, lists: [hotline-a, b.2]}}]}}")
    assert config.filter.feeds[0].lists == ("hotline-a", "b.2")
    for bad in ("[]", "hotline", "['../x']", "[1]"):
        with pytest.raises(ConfigError) as info:
            parse_config(f"filter: {{feeds: [{{{feed}, lists: {bad}}}]}}")
        assert "filter.feeds[0].lists" in "\n".join(info.value.problems)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("8s", 8), ("10m", 600), ("6h", 21600), ("30d", 2592000), (45, 45), ("250ms", 0.25)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "-1s", True, None, "5 years"])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_parse_host_port() -> None:
    assert parse_host_port("127.0.0.1:53") == HostPort("127.0.0.1", 53)
    assert parse_host_port("[::1]:5353") == HostPort("::1", 5353)
    assert parse_host_port("::1", 53) == HostPort("::1", 53)
    assert str(HostPort("::1", 53)) == "[::1]:53"
    for bad in ("localhost:53", "1.2.3.4:0", "[::1", "1.2.3.4"):
        with pytest.raises(ValueError):
            parse_host_port(bad)


def test_config_check_cli(tmp_path: Path) -> None:
    ok = run_cli(["config", "check", str(EXAMPLE)])
    assert ok.returncode == 0 and "config OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("filter: {block_answer: refuse}\nnotices: {min_display: forever}\n")
    done = run_cli(["config", "check", str(bad)])
    assert done.returncode == 1
    assert "filter.block_answer" in done.stderr and "notices.min_display" in done.stderr
    assert "Traceback" not in done.stderr


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
section_keys = st.sampled_from(
    ["state_dir", "cafe", "operator", "filter", "notices", "reporting", "control", "x"]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(section_keys, yaml_values, max_size=7))
def test_fuzz_mapping_only_raises_config_error(data: dict[str, Any]) -> None:
    try:
        config_from_mapping(data)
    except ConfigError as e:
        assert e.problems and all(isinstance(p, str) for p in e.problems)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_text_only_raises_config_error(text: str) -> None:
    with contextlib.suppress(ConfigError):
        parse_config(text)


def test_round_trip_of_example_via_yaml() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    assert config_from_mapping(data).cafe.name == load_config(EXAMPLE).cafe.name


DEMO_KEY = "ed25519:rhp28ZHKQKvTFLRmViAt5opfJXTY6tfgSeZ2B0Ny4TI="


def test_demo_key_is_trusted_only_by_a_demo_config() -> None:
    feeds = f"filter: {{feeds: [{{url: 'file:///srv/feed', trust: ['{DEMO_KEY}']}}]}}\n"
    with pytest.raises(ConfigError) as info:
        parse_config(feeds)
    assert "published DEMO key" in info.value.problems[0]
    assert parse_config("demo: true\n" + feeds).demo is True


def test_demo_key_file_is_the_one_config_refuses() -> None:
    pub = (REPO_ROOT / "config" / "demo" / "DEMO-feed-signing.pub").read_text().split()
    assert DEMO_KEY in pub


def test_a_demo_config_never_manages_system_dns() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("demo: true\nfilter: {manage_system_dns: true}\n")
    assert "filter.manage_system_dns" in info.value.problems[0]


def declared_paths(cls: type, prefix: str = "") -> list[str]:
    """Every declared key as a dotted path; a list of mappings as ``name[0]``."""
    out = []
    for f, spec in declared_keys(cls):
        path = prefix + f.name
        out.append(path)
        if spec.section is not None:
            out.extend(declared_paths(spec.section, path + "."))
        if spec.items is not None:
            out.extend(declared_paths(spec.items, path + "[0]."))
    return out


def lookup(data: Any, path: str) -> bool:
    """Whether the dotted ``path`` is a key in the parsed YAML ``data``."""
    for part in path.split("."):
        name, _, index = part.partition("[")
        if not isinstance(data, dict) or name not in data:
            return False
        data = data[name]
        if index:
            if not isinstance(data, list) or not data:
                return False
            data = data[0]
    return True


def test_every_declared_key_is_in_the_example_config() -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    paths = declared_paths(Config)
    assert "filter.cache.stale_for" in paths and "filter.feeds[0].trust" in paths
    missing = [p for p in paths if not lookup(data, p)]
    assert not missing, f"config/agent.example.yaml does not document {missing}"


def test_every_field_is_a_declared_key() -> None:
    # A field added without its declaration would be neither read nor refused.
    def walk(cls: type) -> list[str]:
        declared = {f.name: spec for f, spec in declared_keys(cls)}
        out = [
            f"{cls.__name__}.{f.name}" for f in dataclasses.fields(cls) if f.name not in declared
        ]
        for spec in declared.values():
            inner = spec.section or spec.items
            if inner is not None:
                out.extend(walk(inner))
        return out

    assert walk(Config) == ["Config.source"]


def test_null_feed_url_or_trust_counts_as_missing() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("filter: {feeds: [{url: null, trust: null}]}")
    assert info.value.problems == [
        "filter.feeds[0].url: None is not allowed; a feed needs a url",
        "filter.feeds[0].trust: None is not allowed; a feed needs at least one trusted key",
    ]


def test_problems_follow_the_declaration_order() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config("filter: {p2p: {policy: x}, listen: [], cache: {max_entries: -1}}\nzz: 1")
    assert [p.split(":")[0] for p in info.value.problems] == [
        "zz",
        "filter.listen",
        "filter.cache.max_entries",
        "filter.p2p.policy",
    ]


def document(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    """YAML-ish mappings that use the declared keys (and a stray one) at every level."""
    entries: dict[str, st.SearchStrategy[Any]] = {}
    for f, spec in declared_keys(cls):
        if spec.section is not None:
            entries[f.name] = document(spec.section) | yaml_values
        elif spec.items is not None:
            entries[f.name] = st.lists(document(spec.items) | yaml_values, max_size=3)
        else:
            entries[f.name] = yaml_values | nearly_valid
    entries["stray"] = yaml_values
    return st.fixed_dictionaries({}, optional=entries)


NEARLY_VALID = ["8s", "250ms", "1d", "127.0.0.1:53", "[::1]:53", "0.0.0.0:8053", "auto"]
NEARLY_VALID += ["https://x.example", "file:///srv/feed", KEY, DEMO_KEY, "login", "sinkhole"]
NEARLY_VALID += ["22:00-06:00", "scrypt$x", "KE"]
nearly_valid = st.sampled_from(NEARLY_VALID) | st.lists(
    st.sampled_from(["sw", "en", "127.0.0.1:53", KEY, "dns.google", "nope"]), max_size=3
)


@settings(max_examples=300, deadline=None)
@given(document(Config), st.booleans())
def test_fuzz_declared_keys_only_raise_config_error(data: dict[str, Any], demo: bool) -> None:
    if demo:
        data["demo"] = True
    try:
        config = config_from_mapping(data)
    except ConfigError as e:
        assert e.problems and all(isinstance(p, str) and ": " in p for p in e.problems)
    else:
        assert isinstance(config, Config)
        assert all(feed.url and feed.trust for feed in config.filter.feeds)


def test_safe_search_is_on_by_default_and_a_bare_false_turns_every_engine_off() -> None:
    on = config_from_mapping({}).filter.safe_search
    assert (on.enabled, on.google, on.youtube) == (True, True, "moderate")
    assert (
        config_from_mapping({"filter": {"safe_search": False}}).filter.safe_search.enabled is False
    )
    # YAML reads a bare `off` as false: it means YouTube off, not a bad value.
    doc = yaml.safe_load("filter: {safe_search: {youtube: off, bing: false}}")
    got = config_from_mapping(doc).filter.safe_search
    assert (got.enabled, got.youtube, got.bing) == (True, "off", False)
    with pytest.raises(ConfigError) as e:
        config_from_mapping({"filter": {"safe_search": "maybe"}})
    assert (
        "filter.safe_search: 'maybe' is not allowed; expected a mapping of keys, true or false"
        in str(e.value)
    )


def test_reports_are_daily_an_hourly_period_is_refused() -> None:
    # No time finer than the day leaves a kiosk; the server would refuse it anyway (422).
    with pytest.raises(ConfigError) as e:
        config_from_mapping({"reporting": {"period": "hour"}})
    assert "reporting.period: 'hour' is not allowed; expected day (reports are daily)" in str(
        e.value
    )
