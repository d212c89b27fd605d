"""Every dashboard string in all four languages; numbers, dates and weeks per locale
(Babel, CLDR); errors in the app's layout and language; Arabic right to left."""

from __future__ import annotations

import re
import string
from datetime import date

from fastapi.testclient import TestClient

from regional_server.dashboard.formats import Formatter
from regional_server.dashboard.i18n import LANGUAGES, MESSAGES, RTL, choose_language
from regional_server.indicators import NO_DATA
from tests.regional_server.helpers import World, login

TEMPLATES_KEY = re.compile(r"""\bt\(\s*["']([a-z_.0-9]+)["']""")


def _fields(text: str) -> set[str]:
    return {f for _l, f, _s, _c in string.Formatter().parse(text) if f}


def test_every_string_in_all_four_languages() -> None:
    assert set(LANGUAGES) == {"en", "fr", "ar", "pt"} and {"ar"} == RTL
    english = MESSAGES["en"]
    for lang in LANGUAGES:
        assert set(MESSAGES[lang]) == set(english), lang
        for key, text in MESSAGES[lang].items():
            assert text.strip(), (lang, key)
            # The same placeholders: a translation cannot drop or rename a value.
            assert _fields(text) == _fields(english[key]), (lang, key)
    # Only words: a French page has no untranslated English sentence left.
    same = [k for k in english if MESSAGES["fr"][k] == english[k] and " " in english[k]]
    assert not same, same


def test_every_key_a_template_or_module_uses_exists() -> None:
    from tests.conftest import REPO_ROOT

    used: set[str] = set()
    for path in (REPO_ROOT / "regional_server").rglob("*"):
        if path.suffix in (".html", ".py"):
            text = path.read_text(encoding="utf-8")
            used |= set(TEMPLATES_KEY.findall(text))
            used |= set(re.findall(r'translate\(\s*\w+,\s*"([a-z_.0-9]+)"', text))
    missing = sorted(k for k in used if k not in MESSAGES["en"])
    assert not missing, missing


def test_numbers_dates_and_weeks_per_locale() -> None:
    en, fr, pt, ar = (Formatter(x) for x in ("en", "fr", "pt", "ar"))
    assert en.decimal(2166.7) == "2,166.7"
    assert fr.decimal(2166.7).replace("\u202f", " ").replace("\xa0", " ") == "2 166,7"
    assert pt.decimal(2166.7) == "2.166,7"
    assert en.week("2026-W37") == "W37 2026" and fr.week("2026-W37") == "S37 2026"
    assert en.date(date(2026, 9, 8)) == "Sep 8, 2026"
    assert "sept." in fr.date(date(2026, 9, 8))
    assert ar.date(date(2026, 9, 8)) == "08\u200f/09\u200f/2026"  # CLDR medium, with RLM marks
    assert fr.category("abuse_material") == "Contenus d'abus"
    assert en.category("new_thing") == "New thing"  # unknown tokens stay readable
    assert ar.direction == "rtl" and fr.direction == "ltr"
    # Hidden, no data and zero differ in every language.
    for f in (en, fr, pt, ar):
        cells = {str(f.cell(v, "count", 5)) for v in (None, NO_DATA, 0)}
        assert len(cells) == 3


def test_language_choice() -> None:
    assert choose_language("ar", None, None) == "ar"
    assert choose_language(None, None, "pt-BR,pt;q=0.9") == "pt"
    assert choose_language("xx", "fr", "ar") == "fr"


def test_errors_in_the_layout_and_language(client: TestClient, world: World) -> None:
    login(client, world.coord_a)
    r = client.get("/?region=SN-DKR&lang=fr")
    assert r.status_code == 404
    assert '<html lang="fr" dir="ltr">' in r.text and 'class="top"' in r.text
    assert "existe pas" in r.text
    r = client.get("/?from=yesterday&lang=pt")
    assert r.status_code == 400 and "Estes filtros não podem ser usados" in r.text
    r = client.get("/?lang=ar")
    assert '<html lang="ar" dir="rtl">' in r.text and "لوحة المتابعة" in r.text
    # JSON keeps its machine-readable error.
    r = client.get("/api/v1/indicators?region=SN-DKR")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
