"""The feed check's answer, as the service reads it back from a worker: strictly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.filter import index
from kiosk_agent.filter.feed_check import CheckResult, parse_check_result

STATE = Path("/var/lib/kiosk-agent")


def applied(**change: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "result": "applied",
        "reason": None,
        "detail": None,
        "list_id": "hotline",
        "version": 7,
        "index": str(index.index_path(STATE, "hotline")),
        "manifest_etag": '"abc"',
    }
    data.update(change)
    return data


def test_an_applied_answer_round_trips() -> None:
    result = parse_check_result(applied(), STATE)
    assert (result.result, result.list_id, result.version) == ("applied", "hotline", 7)
    assert result.etags == {"manifest_etag": '"abc"'}
    assert parse_check_result(result.to_json(), STATE) == result


@pytest.mark.parametrize(
    "change",
    [
        {"result": "done"},
        {"result": None},
        {"reason": "rollback"},  # an applied result has no reason
        {"index": "/etc/passwd"},  # an index outside the state folder
        {"index": str(index.index_path(STATE, "other"))},  # another list's index
        {"list_id": "../x"},
        {"list_id": None},
        {"version": -1},
        {"version": True},
        {"version": 2**63},
        {"version": "7"},
        {"detail": "x" * 1001},
        {"manifest_etag": 5},
        {"bundle_etag": "x" * 2000},
        {"entries": ["a.test"]},  # unknown field
    ],
)
def test_wrong_answers_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        parse_check_result(applied(**change), STATE)


def test_rejections_need_a_token_reason_and_name_no_index() -> None:
    ok = {"result": "rejected", "reason": "bad_signature", "detail": "signature does not verify"}
    assert parse_check_result(ok, STATE).reason == "bad_signature"
    for bad in (
        {"result": "rejected"},
        {"result": "rejected", "reason": "Bad Signature!"},
        {"result": "rejected", "reason": "x" * 33},
        {"result": "unreachable", "reason": "unreachable", "index": applied()["index"]},
        {"result": "up_to_date", "reason": "nothing"},
    ):
        with pytest.raises(ValueError):
            parse_check_result(bad, STATE)


def test_etags_not_in_the_answer_stay_unchanged() -> None:
    result = parse_check_result({"result": "up_to_date", "bundle_etag": None}, STATE)
    assert result.etags == {"bundle_etag": None}
    assert CheckResult("up_to_date").to_json()["index"] is None


_values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.text(max_size=40)
    | st.sampled_from(["applied", "rejected", "hotline", str(index.index_path(STATE, "hotline"))])
)


@given(
    st.dictionaries(
        st.sampled_from(
            ["result", "reason", "detail", "list_id", "version", "index", "manifest_etag", "x"]
        ),
        _values,
    )
)
def test_the_parser_returns_a_result_or_raises_value_error(obj: dict[str, Any]) -> None:
    try:
        result = parse_check_result(obj, STATE)
    except ValueError:
        return
    assert result.result in ("applied", "up_to_date", "rejected", "unreachable")
    if result.result == "applied":
        assert result.index_path == str(index.index_path(STATE, result.list_id or ""))


def test_worker_job_carries_the_feeds_lists(tmp_path: Path) -> None:
    from kiosk_agent.config import Config, FeedConfig
    from kiosk_agent.filter.feed_check import check_params, feed_check_job

    feed = FeedConfig((tmp_path / "none.bundle").as_uri(), ("ed25519:" + "A" * 43 + "=",))
    params = check_params(feed, tmp_path, {}, None, None, None, ("hotline-a",))
    assert params["lists"] == ["hotline-a"]
    answer = feed_check_job(Config(state_dir=tmp_path), params)
    assert answer["result"] == "unreachable"
    with pytest.raises(ValueError, match="lists"):
        feed_check_job(Config(state_dir=tmp_path), {**params, "lists": ["../x"]})
