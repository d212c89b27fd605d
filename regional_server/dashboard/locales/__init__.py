"""Dashboard messages in the languages added after English and French (machine
translations, not reviewed by a native speaker: docs/i18n.md)."""
