"""Dictionary line breaking for Thai, Lao, Khmer and Burmese (``notices/wordbreak.py``)."""

from __future__ import annotations

import itertools
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from kiosk_agent.content.locales import load_locale
from kiosk_agent.notices import wordbreak
from kiosk_agent.notices.render import ZWSP


def _pieces(text: str) -> list[str]:
    cuts = [0, *wordbreak.breaks(text), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def test_word_lists_are_sorted_and_searchable() -> None:
    for script in wordbreak.BLOCKS:
        lexicon = wordbreak.words(script)
        assert len(lexicon) > 20_000, script
        sample = [lexicon[i] for i in range(0, len(lexicon), 997)]
        assert sample == sorted(sample)
        for word in sample:
            assert lexicon.lookup(word) == (True, True)
            assert wordbreak.script_of(word[0]) == script
    assert wordbreak.words("Thai").lookup("โทรศัพ") == (False, True)
    assert wordbreak.words("Thai").lookup("ฮฮฮฮฮ") == (False, False)


def test_thai_words_are_found() -> None:
    assert _pieces("รหัสผ่านเป็นของหนูคนเดียว") == ["รหัส", "ผ่าน", "เป็น", "ของ", "หนู", "คน", "เดียว"]
    # a word is never cut after a vowel written before its consonant, nor before sara aa
    assert _pieces("เบอร์โทรศัพท์") == ["เบอร์", "โทรศัพท์"]


def test_khmer_words_are_found_and_punctuation_stays() -> None:
    assert _pieces("មិត្តពិតនឹងមិនសុំវាទេ។") == ["មិត្ត", "ពិត", "នឹង", "មិន", "សុំ", "វា", "ទេ។"]


def test_lao_and_burmese_are_broken() -> None:
    assert len(_pieces("ຢ່າເປີດກ້ອງໃຫ້ຄົນທີ່ເຈົ້າຮູ້ຈັກແຕ່ທາງອອນລາຍ")) >= 6
    assert len(_pieces("အွန်လိုင်းမှာတွေ့တဲ့လူတွေဟာ")) >= 3


def test_unknown_clusters_stay_together() -> None:
    # Latin and digits are not touched; an unknown Thai run is not cut at random
    assert wordbreak.breaks("hello 116 111") == ()
    assert wordbreak.breaks("ฮฮฮฮฮฮ") == ()


def test_no_shipped_locale_types_zero_width_spaces() -> None:
    for code in ("th", "km", "lo", "my"):
        loc = load_locale(code)
        assert all(ZWSP not in t.text for t in loc.tips), code
        assert ZWSP not in loc.text("notice.title"), code


_SCRIPT_TEXT = st.text(
    alphabet=st.sampled_from(
        "กขคงจฉชซญดตถทนบปผพฟมยรลวสหอฮะัาำิีึืุูเแโใไ็่้๊๋์ កខគឃងចឆជឈញដឋឌឍណតថទធនបផពភមយរលវសហឡអាិីឹឺុូួើឿៀេែៃោៅំះ្។ abc1. "
    ),
    max_size=60,
)


@given(_SCRIPT_TEXT)
def test_breaks_are_inside_and_never_split_a_cluster(text: str) -> None:
    cuts = wordbreak.breaks(text)
    assert list(cuts) == sorted(set(cuts))
    for i in cuts:
        assert 0 < i < len(text)
        assert unicodedata.category(text[i])[0] != "M"
        assert text[i - 1] not in "\u17d2\u1039"
        assert text[i - 1] not in "เแโใไ"


_WORD = st.text(alphabet=st.sampled_from("กขคงเแไะาำ่้ ក្ខគ"), min_size=1, max_size=14).filter(
    lambda w: "\n" not in w and w.strip() == w and w != ""
)


@given(st.lists(_WORD, max_size=40))
def test_front_coding_round_trips(words: list[str]) -> None:
    ordered = sorted(set(words))
    expected = "".join(w + "\n" for w in ordered) or "\n"
    assert wordbreak.front_decode(wordbreak.front_code(ordered)) == expected


@given(st.text(max_size=200))
def test_front_decoding_never_fails_on_any_text(text: str) -> None:
    decoded = wordbreak.front_decode(text)
    assert decoded.endswith("\n")
