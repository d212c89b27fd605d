"""CLDR plural rules for whole numbers, evaluated without Babel (pure).

Each locale file carries its language's CLDR cardinal rules (``language.plural``, e.g.
Arabic ``few: "n % 100 = 3..10"``); ``notices check`` compares them with Babel's CLDR
data (``content/check.py``). The UI only ever shows whole numbers (seconds, hours), so
the operands are those of an integer: ``n = i``, ``v = w = f = t = c = e = 0``. Babel is
not imported at run time: its locale data costs 6.7 MB of resident memory in the UI
process and its package 36 MB on disk (docs/notices.md).

Grammar (CLDR TR35 "Plural rules syntax", both the ``=`` / ``!=`` / ``%`` spelling and
Babel's ``in`` / ``not in`` / ``mod``)::

    condition  = and_cond ("or" and_cond)*
    and_cond   = relation ("and" relation)*
    relation   = operand ("%" | "mod" value)? ("=" | "!=" | "in" | "not in") ranges
    ranges     = (value | value ".." value) ("," ...)*
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

CATEGORIES = ("zero", "one", "two", "few", "many", "other")
OPERANDS = frozenset("niwvftce")
MAX_RULE = 400

_TOKEN = re.compile(r"\s*(\.\.|!=|=|%|,|[a-z]+|[0-9]+)")

Predicate = Callable[[int], bool]


class PluralRuleError(ValueError):
    """A plural rule that is not CLDR syntax (or uses what whole numbers never need)."""


def _tokens(rule: str) -> list[str]:
    if len(rule) > MAX_RULE:
        raise PluralRuleError(f"rule longer than {MAX_RULE} characters")
    out: list[str] = []
    pos = 0
    text = rule.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise PluralRuleError(f"unexpected {text[pos : pos + 10]!r} in {rule!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, rule: str) -> None:
        self.rule = rule
        self.toks = _tokens(rule)
        self.pos = 0

    def peek(self) -> str | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise PluralRuleError(f"rule ends too early: {self.rule!r}")
        self.pos += 1
        return tok

    def number(self) -> int:
        tok = self.take()
        if not tok.isdigit() or len(tok) > 9:
            raise PluralRuleError(f"expected a number, got {tok!r} in {self.rule!r}")
        return int(tok)

    def condition(self) -> Predicate:
        parts = [self.and_condition()]
        while self.peek() == "or":
            self.take()
            parts.append(self.and_condition())
        return lambda n: any(p(n) for p in parts)

    def and_condition(self) -> Predicate:
        parts = [self.relation()]
        while self.peek() == "and":
            self.take()
            parts.append(self.relation())
        return lambda n: all(p(n) for p in parts)

    def relation(self) -> Predicate:
        operand = self.take()
        if operand not in OPERANDS:
            raise PluralRuleError(f"unknown operand {operand!r} in {self.rule!r}")
        modulus: int | None = None
        if self.peek() in ("%", "mod"):
            self.take()
            modulus = self.number()
            if modulus == 0:
                raise PluralRuleError(f"modulo 0 in {self.rule!r}")
        op = self.take()
        negate = False
        if op == "not":
            if self.take() != "in":
                raise PluralRuleError(f"expected 'not in' in {self.rule!r}")
            negate = True
        elif op == "!=":
            negate = True
        elif op not in ("=", "in"):
            raise PluralRuleError(f"expected = or != after {operand!r} in {self.rule!r}")
        ranges = [self.range()]
        while self.peek() == ",":
            self.take()
            ranges.append(self.range())
        whole = operand in ("n", "i")  # of a whole number; v w f t c e are 0

        def relation(n: int) -> bool:
            value = n if whole else 0
            if modulus is not None:
                value %= modulus
            hit = any(lo <= value <= hi for lo, hi in ranges)
            return hit != negate

        return relation

    def range(self) -> tuple[int, int]:
        lo = self.number()
        if self.peek() == "..":
            self.take()
            hi = self.number()
            if hi < lo:
                raise PluralRuleError(f"empty range {lo}..{hi} in {self.rule!r}")
            return lo, hi
        return lo, lo


def parse_rule(rule: str) -> Predicate:
    """The predicate of one CLDR rule (samples after ``@`` are ignored)."""
    parser = _Parser(rule.split("@", 1)[0])
    if parser.peek() is None:
        raise PluralRuleError("empty rule")
    predicate = parser.condition()
    if parser.peek() is not None:
        raise PluralRuleError(f"unexpected {parser.peek()!r} in {rule!r}")
    return predicate


def parse_rules(rules: Mapping[str, str]) -> dict[str, Predicate]:
    """Category -> predicate; ``other`` needs no rule (it is what matches nothing else)."""
    out: dict[str, Predicate] = {}
    for category, rule in rules.items():
        if category not in CATEGORIES or category == "other":
            raise PluralRuleError(f"{category!r} is not a CLDR category with a rule")
        out[category] = parse_rule(rule)
    return out


def category(rules: Mapping[str, Predicate], n: int) -> str:
    """The CLDR category of the whole number ``n`` (``other`` when no rule matches)."""
    for name in CATEGORIES[:-1]:
        predicate = rules.get(name)
        if predicate is not None and predicate(abs(n)):
            return name
    return "other"
