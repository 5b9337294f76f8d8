"""The trail's bytes are spelt by hand for speed (an import images and hashes a row each):
they must stay exactly the bytes `json` and `hmac` give, or every older entry would stop
verifying and every newer one would verify only here."""

from __future__ import annotations

import hashlib
import hmac
import json

from hypothesis import given
from hypothesis import strategies as st

from vpslog.audit import CHAINED, _keyed, _mac, _message, chained, stored_image, verifies

VALUES = st.one_of(st.none(), st.text(), st.integers(), st.booleans(), st.floats())
"""What a stored value can be (text with any character, big numbers, and what SQLite's REAL gives)."""


@given(st.dictionaries(st.text(), VALUES, max_size=25))
def test_an_image_is_the_json_of_its_sorted_fields(image):
    assert stored_image(image) == json.dumps(image, sort_keys=True, ensure_ascii=False)


def test_a_missing_image_stays_null():
    assert stored_image(None) is None


@given(st.lists(VALUES, max_size=12))
def test_a_message_is_the_compact_json_of_its_values(values):
    expected = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    assert _message(values) == expected


@given(st.binary(max_size=200), st.binary(max_size=2000))
def test_the_keyed_hash_is_hmac_sha256_for_any_secret_and_message(secret, message):
    assert _mac(_keyed(secret), message) == hmac.new(secret, message, hashlib.sha256).hexdigest()


@given(st.binary(min_size=1, max_size=80),
       st.lists(st.tuples(st.text(max_size=8), st.sampled_from(["insert", "amend"]), st.text(max_size=40),
                          st.none() | st.text(max_size=30)), min_size=1, max_size=6))
def test_chained_entries_verify_and_link(secret, made):
    entries = [("2026-01-01T00:00:00Z", actor, action, "session", record_id, None, after, "why")
               for actor, action, record_id, after in made]
    rows = list(chained(secret, (7, "f" * 64), entries))
    assert [row[0] for row in rows] == list(range(8, 8 + len(rows)))
    assert rows[0][CHAINED.index("prev_hash")] == "f" * 64
    for earlier, later in zip(rows, rows[1:]):
        assert later[CHAINED.index("prev_hash")] == earlier[-1]
    assert all(verifies(secret, dict(zip((*CHAINED, "hash"), row))) for row in rows)
