"""The safety notice laid out as images: body (title, tips, helpline box), buttons, and the
check that every locale fits a 1024×768 screen at the configured font size.

Pure Pillow, no Tk: the window only arranges what these functions draw, and `notices
check` measures with exactly the same code the window uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw

from kiosk_agent.content.countries import Country, contact_lines
from kiosk_agent.content.locales import Locale, fill, placeholders
from kiosk_agent.notices.render import (
    ZWSP,
    Color,
    TextStyle,
    draw_line,
    line_metrics,
    render_text,
    wrap,
)

BACKGROUND: Color = (255, 248, 236)  # warm paper, calmer than white
TITLE: Color = (31, 95, 91)
TEXT: Color = (34, 34, 34)
BULLET: Color = (242, 153, 74)
BOX: Color = (227, 241, 247)
BOX_TEXT: Color = (18, 64, 92)
ACK: Color = (46, 125, 91)
ACK_DISABLED: Color = (176, 176, 176)
LANG: Color = (255, 255, 255)
LANG_SELECTED: Color = (31, 95, 91)
WHITE: Color = (255, 255, 255)

MIN_FONT = 14
SMALL_SCREEN = (1024, 768)
SCREENS = ((1024, 768), (1366, 768))


@dataclass(frozen=True)
class NoticeContent:
    """The strings one notice shows, already filled for the café's country."""

    code: str
    script: str
    rtl: bool
    title: str
    tips: tuple[str, ...]
    helpline: str
    report: str
    acknowledge: str
    languages: str

    def wait(self, locale: Locale, seconds: int) -> str:
        return locale.text("notice.wait", seconds=seconds)


def notice_content(locale: Locale, country: Country | None) -> NoticeContent:
    lines = contact_lines(locale, country)
    return NoticeContent(
        code=locale.code,
        script=locale.script,
        rtl=locale.is_rtl,
        title=locale.text("notice.title"),
        tips=locale.tips,
        helpline=lines.helpline,
        report=lines.report,
        acknowledge=locale.text("notice.acknowledge"),
        languages=locale.text("notice.languages"),
    )


@dataclass(frozen=True)
class Frame:
    """Where the parts of the notice go on a screen of ``width`` × ``height``."""

    width: int
    height: int
    font_px: int

    @property
    def margin(self) -> int:
        return max(24, self.width // 32)

    @property
    def body_width(self) -> int:
        return min(self.width - 2 * self.margin, 1200)

    @property
    def top_bar(self) -> int:
        return int(self.font_px * 2.6)

    @property
    def bottom_bar(self) -> int:
        return int(self.font_px * 4.8)

    @property
    def body_height(self) -> int:
        return self.height - self.top_bar - self.bottom_bar - 16


def font_px(font_size: int, width: int, height: int) -> int:
    """``notices.font_size`` is the body size on a 1024×768 screen; scale with the screen."""
    return max(MIN_FONT, round(font_size * min(width / 1024, height / 768)))


@dataclass(frozen=True)
class Body:
    image: Image.Image
    overflow: bool  # some word was wider than a line


def render_body(content: NoticeContent, width: int, size: int) -> Body:
    """Title, tips with bullets, and the helpline/report box, ``width`` px wide."""
    script, rtl = content.script, content.rtl
    title_style = TextStyle(int(size * 1.5), TITLE, bold=True)
    tip_style = TextStyle(size, TEXT)
    box_style = TextStyle(size, BOX_TEXT)
    indent = int(size * 1.6)
    box_pad = int(size * 0.8)
    gap = int(size * 0.55)

    title_lines = wrap(content.title, script, title_style, width)
    tip_lines = [wrap(t, script, tip_style, width - indent) for t in content.tips]
    box_lines = [
        wrap(t, script, box_style, width - 2 * box_pad) for t in (content.helpline, content.report)
    ]
    ta, td = line_metrics(script, title_style)
    ba, bd = line_metrics(script, tip_style)
    title_h = int((ta + td) * 1.1)
    line_h = int((ba + bd) * 1.12)

    height = title_h * len(title_lines) + gap * 2
    height += sum(line_h * len(t) + gap for t in tip_lines)
    box_h = sum(line_h * len(b) for b in box_lines) + 2 * box_pad + gap
    height += gap + box_h
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    y = 0
    for line in title_lines:
        draw_line(
            draw, line, title_style, left=0, right=width, baseline=y + ta, rtl=rtl, center=True
        )
        y += title_h
    y += gap * 2
    radius = max(4, size // 4)
    for lines in tip_lines:
        cy = y + ba - size * 0.35
        cx = width - indent / 2 if rtl else indent / 2
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=BULLET)
        for line in lines:
            left, right = (0, width - indent) if rtl else (indent, width)
            draw_line(draw, line, tip_style, left=left, right=right, baseline=y + ba, rtl=rtl)
            y += line_h
        y += gap
    y += gap
    draw.rounded_rectangle((0, y, width - 1, y + box_h - gap), radius=size // 2, fill=BOX)
    y += box_pad
    for lines in box_lines:
        for line in lines:
            draw_line(
                draw, line, box_style, left=box_pad, right=width - box_pad, baseline=y + ba, rtl=rtl
            )
            y += line_h
    overflow = any(ln.overflow for group in (title_lines, *tip_lines, *box_lines) for ln in group)
    return Body(img, overflow)


def fit_body(content: NoticeContent, frame: Frame) -> tuple[Body, int]:
    """The body at the largest size ≤ ``frame.font_px`` that fits; (body, size used)."""
    size = frame.font_px
    while True:
        body = render_body(content, frame.body_width, size)
        if body.image.height <= frame.body_height or size <= MIN_FONT:
            return body, size
        size -= 1


def render_button(
    text: str, script: str, rtl: bool, size: int, fg: Color, bg: Color, max_width: int
) -> Image.Image:
    """A button face: the label centred on a rounded, coloured plate."""
    style = TextStyle(size, fg, bold=True)
    label = render_text(
        text, script, style, max_width=max_width, rtl=rtl, background=bg, padding=(size, size // 2)
    )
    plate = Image.new("RGB", label.size, BACKGROUND)
    ImageDraw.Draw(plate).rounded_rectangle(
        (0, 0, label.width - 1, label.height - 1), radius=size // 2, fill=bg
    )
    mask = Image.new("L", label.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (0, 0, label.width - 1, label.height - 1), radius=size // 2, fill=255
    )
    plate.paste(label, (0, 0), mask)
    return plate


def fit_problems(locale: Locale, country: Country | None, font_size: int) -> list[str]:
    """Why ``locale`` does not fit a 1024×768 screen at ``font_size`` (empty: it fits)."""
    problems: list[str] = []
    width, height = SMALL_SCREEN
    frame = Frame(width, height, font_px(font_size, width, height))
    content = notice_content(locale, country)
    body = render_body(content, frame.body_width, frame.font_px)
    if body.image.height > frame.body_height:
        problems.append(
            f"notice: {body.image.height} px tall at font size {font_size}, "
            f"{frame.body_height} px available on 1024×768"
        )
    if body.overflow:
        problems.append("notice: a word is wider than a line (add a space or \\u200b)")
    button_max = int(width * 0.6)
    for key in ("notice.acknowledge", "language.name"):
        one_line = wrap(locale.text(key), locale.script, TextStyle(frame.font_px, bold=True), 10**6)
        if one_line and one_line[0].width + 2 * frame.font_px > button_max:
            problems.append(f"{key}: wider than a button ({button_max} px)")
    wait = wrap(
        locale.text("notice.wait", seconds=88), locale.script, TextStyle(frame.font_px), 10**6
    )
    if wait and wait[0].width > width - 2 * frame.margin:
        problems.append("notice.wait: does not fit on one line")
    toast_width = TOAST_WIDTH - 2 * TOAST_PAD
    for key, limit in (("toast.title", 1), ("toast.body", 3)):
        lines = wrap(locale.text(key), locale.script, TextStyle(TOAST_FONT), toast_width)
        if len(lines) > limit:
            problems.append(f"{key}: {len(lines)} lines in a toast, at most {limit}")
    for key, text in locale.strings.items():
        filled = fill(text, dict.fromkeys(placeholders(text), "999"))
        chars = len(filled.replace(ZWSP, ""))
        if key.startswith("tray.") and chars > TRAY_MAX_CHARS:
            problems.append(f"{key}: {chars} characters, a menu item holds {TRAY_MAX_CHARS}")
    return problems


TOAST_WIDTH = 420
TOAST_PAD = 16
TOAST_FONT = 18
TRAY_MAX_CHARS = 64
