"""POST /api/v1/reports/batch: a café hub's relay of several kiosks' signed reports."""

from __future__ import annotations

import contextlib
import gzip
import zlib

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine

from kiosk_agent.contracts.report import (
    HEADER_KIOSK_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_BATCH_BYTES,
    BatchItem,
    ReportError,
    decode_batch,
    encode_batch,
    encode_body,
)
from tests.regional_server.helpers import (
    REPORTS_PATH,
    Clock,
    World,
    enroll,
    make_report,
    new_code,
    signed_headers,
)


def _item(headers: dict[str, str], body: bytes) -> BatchItem:
    return BatchItem(
        headers[HEADER_KIOSK_ID],
        headers[HEADER_TIMESTAMP],
        headers[HEADER_SIGNATURE],
        "gzip",
        body,
    )


def test_each_item_is_checked_as_its_own_post(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    code = new_code(engine, world.region_a, clock, uses=2)
    a, b = enroll(client, code), enroll(client, code)
    now = int(clock())
    items = []
    for kiosk, n in ((a, 5), (b, 7)):
        body = encode_body(make_report(kiosk, {"sessions.login": n}))
        items.append(_item(signed_headers(kiosk, body, now), body))
    tampered = encode_body(make_report(a, {"sessions.login": 1000}))
    items.append(_item(signed_headers(a, encode_body(make_report(a, {})), now), tampered))
    stale = encode_body(make_report(b, {"sessions.login": 1}))
    items.append(_item(signed_headers(b, stale, now - 3600), stale))
    items.append(items[0])  # a retry in the same batch
    r = client.post(REPORTS_PATH + "/batch", content=encode_batch(items))
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [
        "stored",
        "stored",
        {"error": "bad_signature", "status": 401},
        {"error": "stale_timestamp", "status": 401},
        "duplicate",
    ]
    # and a single POST of the same report afterwards is a duplicate too
    single = client.post(
        REPORTS_PATH, content=items[1].body, headers=signed_headers(b, items[1].body, now)
    )
    assert single.json()["status"] == "duplicate"


def test_a_compressed_batch_of_plain_items(
    client: TestClient, engine: Engine, world: World, clock: Clock
) -> None:
    """What a hub sends: items signed over plain JSON, the whole batch deflated (or
    gzipped); each item is still checked against the bytes its kiosk signed."""
    code = new_code(engine, world.region_a, clock, uses=2)
    a, b = enroll(client, code), enroll(client, code)
    now = int(clock())
    items = []
    for kiosk, n in ((a, 2), (b, 3)):
        body = make_report(kiosk, {"sessions.login": n}).to_bytes()
        h = signed_headers(kiosk, body, now)
        items.append(
            BatchItem(h[HEADER_KIOSK_ID], h[HEADER_TIMESTAMP], h[HEADER_SIGNATURE], None, body)
        )
    plain = encode_batch(items)
    r = client.post(
        REPORTS_PATH + "/batch",
        content=zlib.compress(plain, 9),
        headers={"Content-Encoding": "deflate"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["results"] == ["stored", "stored"]
    r = client.post(
        REPORTS_PATH + "/batch", content=gzip.compress(plain), headers={"Content-Encoding": "gzip"}
    )
    assert r.json()["results"] == ["duplicate", "duplicate"]


@pytest.mark.parametrize(
    ("body", "encoding", "status"),
    [
        (zlib.compress(b"\0" * (MAX_BATCH_BYTES + 10), 9), "deflate", 413),  # a bomb
        (zlib.compress(b"k 1 s - 1\n{")[:-3], "deflate", 400),  # cut short
        (zlib.compress(b"k 1 s - 1\n{") + b"more", "deflate", 400),  # trailed
        (b"not deflate at all", "deflate", 400),
        (zlib.compress(b"k 1 s - 1\n{"), "br", 415),
    ],
)
def test_compressed_batch_refused(
    client: TestClient, body: bytes, encoding: str, status: int
) -> None:
    r = client.post(REPORTS_PATH + "/batch", content=body, headers={"Content-Encoding": encoding})
    assert r.status_code == status, r.text


def test_malformed_batch_is_refused(client: TestClient) -> None:
    r = client.post(REPORTS_PATH + "/batch", content=b"k 1 sig gzip 99\nshort")
    assert r.status_code == 400


@given(
    st.lists(
        st.tuples(
            st.from_regex(r"[A-Za-z0-9_-]{1,20}", fullmatch=True),
            st.from_regex(r"[0-9]{1,11}", fullmatch=True),
            st.from_regex(r"[A-Za-z0-9+/=]{1,90}", fullmatch=True),
            st.sampled_from([None, "gzip"]),
            st.binary(max_size=300),
        ),
        max_size=8,
    )
)
def test_batch_framing_round_trips(raw: list[tuple[str, str, str, str | None, bytes]]) -> None:
    items = [BatchItem(*t) for t in raw]
    assert decode_batch(encode_batch(items)) == items


@given(st.binary(max_size=400))
def test_batch_decoder_raises_only_report_error(data: bytes) -> None:
    with contextlib.suppress(ReportError):
        decode_batch(data)
