"""The safety notice laid out as images: the message (one tip with its picture), the
helpline box, the feedback and acknowledge buttons, and the check that every locale fits.

Pure Pillow, no Tk: the window only arranges what these functions draw, ``compose`` puts
the same pieces on one image exactly as the window places them (screenshots and layout
tests without a display), and `notices check` measures with the same code.

Order on screen, by what matters to a child: the message first and largest, then the
helpline (number large, "free" / "confidential" only where the country data says so),
then the report address; the greeting is a small line above. Every text colour has a
contrast ratio of at least 4.5:1 on its background (WCAG 2.1 AA), the disabled button
included: checked on the rendered pixels by the tests (``contrast.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw

from kiosk_agent.content.countries import Country, contact_lines
from kiosk_agent.content.locales import ICONS_DIR, Locale, Tip, fill, placeholders
from kiosk_agent.notices.render import (
    ZWSP,
    Color,
    TextStyle,
    WrappedLine,
    draw_line,
    line_metrics,
    render_text,
    wrap,
)

BACKGROUND: Color = (255, 248, 236)  # warm paper, calmer than white
TITLE: Color = (31, 95, 91)
TEXT: Color = (34, 34, 34)
MUTED: Color = (92, 82, 70)  # author line: 7:1 on the paper, still quieter than the text
BOX: Color = (227, 241, 247)
BOX_TEXT: Color = (18, 64, 92)
ACK: Color = (46, 125, 91)
# Disabled: dark grey on light grey (5.6:1). White on mid grey was 2.1:1, unreadable.
ACK_DISABLED: Color = (222, 222, 222)
ACK_DISABLED_TEXT: Color = (84, 84, 84)
LANG: Color = (255, 255, 255)
LANG_SELECTED: Color = (31, 95, 91)
WHITE: Color = (255, 255, 255)
FEEDBACK: Color = (255, 255, 255)
FEEDBACK_TEXT: Color = (31, 95, 91)
FEEDBACK_CHOSEN: Color = (31, 95, 91)

MIN_FONT = 14
SMALL_SCREEN = (1024, 768)
SCREENS = ((800, 600), (1024, 768), (1366, 768), (1920, 1080))
MESSAGE_SCALE = 1.45  # the tip's size relative to the body size
HELPLINE_SCALE = 1.3
ICON_SCALE = 3.2  # the picture's side relative to the body size


@dataclass(frozen=True)
class NoticeContent:
    """The strings one notice shows, already filled for the café's country."""

    code: str
    script: str
    rtl: bool
    title: str
    tip: Tip
    helpline: str
    helpline_notes: str
    report: str
    acknowledge: str
    languages: str
    helped: str
    not_for_me: str

    def wait(self, locale: Locale, seconds: int) -> str:
        return locale.text("notice.wait", seconds=seconds)


def notice_content(
    locale: Locale, country: Country | None, tip_id: str | None = None
) -> NoticeContent:
    """The notice's texts in ``locale`` with tip ``tip_id`` (the first tip if absent)."""
    lines = contact_lines(locale, country)
    tip = (locale.tip(tip_id) if tip_id else None) or locale.tips[0]
    return NoticeContent(
        code=locale.code,
        script=locale.script,
        rtl=locale.is_rtl,
        title=locale.text("notice.title"),
        tip=tip,
        helpline=lines.helpline,
        helpline_notes=lines.helpline_notes,
        report=lines.report,
        acknowledge=locale.text("notice.acknowledge"),
        languages=locale.text("notice.languages"),
        helped=locale.text("notice.helped"),
        not_for_me=locale.text("notice.not_for_me"),
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
    def feedback_bar(self) -> int:
        return int(self.font_px * 3.2)

    @property
    def bottom_bar(self) -> int:
        return int(self.font_px * 5.4)

    @property
    def body_height(self) -> int:
        return self.height - self.top_bar - self.feedback_bar - self.bottom_bar - 24


def font_px(font_size: int, width: int, height: int) -> int:
    """``notices.font_size`` is the body size on a 1024×768 screen; scale with the screen.

    Never below ``font_size`` on a 1024×768 or larger screen (smaller screens scale down).
    """
    return max(MIN_FONT, round(font_size * min(width / 1024, height / 768)))


@lru_cache(maxsize=8)
def icon_image(name: str, px: int) -> Image.Image:
    """The tip picture ``name`` scaled to fit ``px`` × ``px`` (RGBA).

    Read by ``png.read_png`` (Pillow's PNG plugin costs the UI 0.9 MB for good); a
    picture it does not handle (from a content pack) is read by Pillow.
    """
    from kiosk_agent.notices.png import PngError, read_png  # first notice only

    path = ICONS_DIR / f"{name}.png"
    try:
        img = read_png(path.read_bytes())
    except PngError:
        with Image.open(path) as src:
            img = src.convert("RGBA")
    img.thumbnail((px, px), Image.Resampling.LANCZOS)
    return img


@dataclass(frozen=True)
class TextBox:
    """Where one text block was drawn and in which colours (for the layout tests)."""

    box: tuple[int, int, int, int]
    fg: Color
    bg: Color
    lines: tuple[WrappedLine, ...]
    max_width: float


@dataclass(frozen=True)
class Body:
    image: Image.Image
    overflow: bool  # some word was wider than a line
    texts: tuple[TextBox, ...] = ()


def _line_h(script: str, style: TextStyle) -> tuple[int, int]:
    """(ascent, line height) for lines of ``style``."""
    ascent, descent = line_metrics(script, style)
    return ascent, int((ascent + descent) * 1.12)


def render_body(content: NoticeContent, width: int, size: int) -> Body:
    """Greeting, message with its picture, and the helpline box, ``width`` px wide."""
    script, rtl = content.script, content.rtl
    title_style = TextStyle(size, TITLE, bold=True)
    msg_style = TextStyle(round(size * MESSAGE_SCALE), TEXT, bold=True)
    author_style = TextStyle(size, MUTED)  # quieter by colour, never smaller
    help_style = TextStyle(round(size * HELPLINE_SCALE), BOX_TEXT, bold=True)
    box_style = TextStyle(size, BOX_TEXT)
    icon_px = round(size * ICON_SCALE)
    gap = int(size * 0.6)
    box_pad = int(size * 0.8)
    text_w = width - icon_px - gap
    inner_w = width - 2 * box_pad

    title_lines = wrap(content.title, script, title_style, width)
    msg_lines = wrap(content.tip.text, script, msg_style, text_w)
    author_lines = (
        wrap(content.tip.author, script, author_style, text_w) if content.tip.author else []
    )
    help_lines = wrap(content.helpline, script, help_style, inner_w)
    notes_lines = (
        wrap(content.helpline_notes, script, box_style, inner_w) if content.helpline_notes else []
    )
    report_lines = wrap(content.report, script, box_style, inner_w)
    ta, th = _line_h(script, title_style)
    ma, mh = _line_h(script, msg_style)
    aa, ah = _line_h(script, author_style)
    ha, hh = _line_h(script, help_style)
    ba, bh = _line_h(script, box_style)

    msg_text_h = mh * len(msg_lines) + (gap // 2 + ah * len(author_lines) if author_lines else 0)
    msg_h = max(icon_px, msg_text_h)
    box_h = (
        2 * box_pad
        + hh * len(help_lines)
        + bh * len(notes_lines)
        + gap // 2
        + bh * len(report_lines)
    )
    height = th * len(title_lines) + gap + msg_h + 2 * gap + box_h
    img = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(img)
    texts: list[TextBox] = []

    def block(
        lines: list[WrappedLine],
        style: TextStyle,
        ascent: int,
        line_h: int,
        left: int,
        right: int,
        top: int,
        bg: Color,
        center: bool = False,
    ) -> int:
        y = top
        for line in lines:
            draw_line(
                draw,
                line,
                style,
                left=left,
                right=right,
                baseline=y + ascent,
                rtl=rtl,
                center=center,
            )
            y += line_h
        if lines:
            texts.append(
                TextBox((left, top, right, y), style.color, bg, tuple(lines), right - left)
            )
        return y

    y = block(title_lines, title_style, ta, th, 0, width, 0, BACKGROUND, center=True) + gap
    # The message: picture on the reading side, text beside it, centred on each other.
    icon = icon_image(content.tip.icon, icon_px)
    icon_x = width - icon.width if rtl else 0
    img.paste(
        icon,
        (icon_x + (icon_px - icon.width) // 2 * (-1 if rtl else 1), y + (msg_h - icon.height) // 2),
        icon,
    )
    left, right = (0, width - icon_px - gap) if rtl else (icon_px + gap, width)
    ty = y + (msg_h - msg_text_h) // 2
    ty = block(msg_lines, msg_style, ma, mh, left, right, ty, BACKGROUND)
    if author_lines:
        block(author_lines, author_style, aa, ah, left, right, ty + gap // 2, BACKGROUND)
    y += msg_h + 2 * gap
    draw.rounded_rectangle((0, y, width - 1, y + box_h - 1), radius=size // 2, fill=BOX)
    y += box_pad
    y = block(help_lines, help_style, ha, hh, box_pad, width - box_pad, y, BOX)
    y = block(notes_lines, box_style, ba, bh, box_pad, width - box_pad, y, BOX)
    y += gap // 2
    block(report_lines, box_style, ba, bh, box_pad, width - box_pad, y, BOX)
    groups = (title_lines, msg_lines, author_lines, help_lines, notes_lines, report_lines)
    overflow = any(ln.overflow for group in groups for ln in group)
    return Body(img, overflow, tuple(texts))


def fit_body(content: NoticeContent, frame: Frame) -> tuple[Body, int]:
    """The body at the largest size ≤ ``frame.font_px`` that fits; (body, size used)."""
    size = frame.font_px
    while True:
        body = render_body(content, frame.body_width, size)
        if body.image.height <= frame.body_height or size <= MIN_FONT:
            return body, size
        size -= 1


def render_button(
    text: str,
    script: str,
    rtl: bool,
    size: int,
    fg: Color,
    bg: Color,
    max_width: int,
    *,
    border: Color | None = None,
    min_width: int = 0,
) -> Image.Image:
    """A button face: the label centred on a rounded, coloured plate (optional border)."""
    style = TextStyle(size, fg, bold=True)
    label = render_text(
        text,
        script,
        style,
        max_width=max_width,
        rtl=rtl,
        background=bg,
        padding=(size, size // 2),
        center=True,
        min_width=max(0, min_width - 2 * size),
    )
    plate = Image.new("RGB", label.size, BACKGROUND)
    box = (0, 0, label.width - 1, label.height - 1)
    mask = Image.new("L", label.size, 0)
    ImageDraw.Draw(mask).rounded_rectangle(box, radius=size // 2, fill=255)
    plate.paste(label, (0, 0), mask)
    if border is not None:
        width = max(2, size // 10)
        ImageDraw.Draw(plate).rounded_rectangle(box, radius=size // 2, outline=border, width=width)
    return plate


def ack_face(content: NoticeContent, frame: Frame, enabled: bool) -> Image.Image:
    return render_button(
        content.acknowledge,
        content.script,
        content.rtl,
        int(frame.font_px * 1.1),
        WHITE if enabled else ACK_DISABLED_TEXT,
        ACK if enabled else ACK_DISABLED,
        int(frame.width * 0.6),
    )


def feedback_face(content: NoticeContent, frame: Frame, helpful: bool, chosen: bool) -> Image.Image:
    """One of the two optional feedback buttons ("This helped" / "Not for me")."""
    text = content.helped if helpful else content.not_for_me
    return render_button(
        text,
        content.script,
        content.rtl,
        frame.font_px,
        WHITE if chosen else FEEDBACK_TEXT,
        FEEDBACK_CHOSEN if chosen else FEEDBACK,
        int(frame.width * 0.4),
        border=FEEDBACK_TEXT,
        min_width=int(frame.font_px * 7),
    )


def lang_face(locale: Locale, frame: Frame, selected: bool) -> Image.Image:
    return render_button(
        locale.name,
        locale.script,
        locale.is_rtl,
        frame.font_px,
        WHITE if selected else TITLE,
        LANG_SELECTED if selected else LANG,
        400,
    )


def wait_face(content: NoticeContent, text: str, frame: Frame) -> Image.Image:
    return render_text(
        text,
        content.script,
        TextStyle(frame.font_px, TEXT),
        max_width=frame.width - 2 * frame.margin,
        rtl=content.rtl,
        background=BACKGROUND,
        center=True,
    )


@dataclass(frozen=True)
class Region:
    """A drawn element of the composed notice: its box, and the text lines it holds."""

    name: str
    box: tuple[int, int, int, int]
    lines: tuple[WrappedLine, ...] = ()
    max_width: float = 0.0


@dataclass(frozen=True)
class Composed:
    image: Image.Image
    regions: tuple[Region, ...]
    body_fits: bool
    overflow: bool
    size: int  # body font size used


def compose(
    content: NoticeContent,
    frame: Frame,
    *,
    languages: tuple[Locale, ...] = (),
    wait_text: str | None = None,
    chosen: bool | None = None,
) -> Composed:
    """The whole notice on one image, placed as the window places its parts.

    ``wait_text``: the countdown line (the acknowledge button is then disabled);
    ``chosen``: the feedback button pressed (True helpful, False not), if any.
    """
    img = Image.new("RGB", (frame.width, frame.height), BACKGROUND)
    regions: list[Region] = []

    def put(name: str, face: Image.Image, x: int, y: int) -> None:
        img.paste(face, (x, y))
        regions.append(Region(name, (x, y, x + face.width, y + face.height)))

    # Language bar: a centred row of buttons, mirrored for right-to-left locales.
    y = 8 + 4
    if len(languages) > 1:
        faces = [(loc.code, lang_face(loc, frame, loc.code == content.code)) for loc in languages]
        if content.rtl:
            faces.reverse()
        total = sum(f.width + 16 for _, f in faces)
        x = (frame.width - total) // 2 + 8
        for code, face in faces:
            put(f"lang-{code}", face, x, y)
            x += face.width + 16
    body, size = fit_body(content, frame)
    bottom_top = frame.height - 16 - frame.bottom_bar
    fb_top = bottom_top - frame.feedback_bar
    body_top = frame.top_bar + 8 + max(0, (fb_top - frame.top_bar - 8 - body.image.height) // 2)
    body_x = (frame.width - body.image.width) // 2
    img.paste(body.image, (body_x, body_top))
    for t in body.texts:
        x0, y0, x1, y1 = t.box
        regions.append(
            Region(
                "body",
                (x0 + body_x, y0 + body_top, x1 + body_x, y1 + body_top),
                t.lines,
                t.max_width,
            )
        )
    helped = feedback_face(content, frame, True, chosen is True)
    not_for_me = feedback_face(content, frame, False, chosen is False)
    pair = [("helped", helped), ("not_for_me", not_for_me)]
    if content.rtl:
        pair.reverse()
    total = helped.width + not_for_me.width + frame.font_px * 2
    x = (frame.width - total) // 2
    fy = fb_top + (frame.feedback_bar - max(helped.height, not_for_me.height)) // 2
    for name, face in pair:
        put(name, face, x, fy)
        x += face.width + frame.font_px * 2
    ack = ack_face(content, frame, enabled=wait_text is None)
    ay = frame.height - 16 - ack.height
    if wait_text is not None:
        wait = wait_face(content, wait_text, frame)
        put("wait", wait, (frame.width - wait.width) // 2, ay - 6 - wait.height)
    put("ack", ack, (frame.width - ack.width) // 2, ay)
    fits = body.image.height <= frame.body_height and body_top + body.image.height <= fb_top
    return Composed(img, tuple(regions), fits, body.overflow, size)


def fit_problems(locale: Locale, country: Country | None, font_size: int) -> list[str]:
    """Why ``locale`` does not fit a 1024×768 screen at ``font_size`` (empty: it fits).

    Every tip is measured: the notice shows one at a time, any of them.
    """
    problems: list[str] = []
    width, height = SMALL_SCREEN
    frame = Frame(width, height, font_px(font_size, width, height))
    for tip in locale.tips:
        content = notice_content(locale, country, tip.id)
        body = render_body(content, frame.body_width, frame.font_px)
        if body.image.height > frame.body_height:
            problems.append(
                f"notice ({tip.id}): {body.image.height} px tall at font size {font_size}, "
                f"{frame.body_height} px available on 1024×768"
            )
        if body.overflow:
            problems.append(f"notice ({tip.id}): a word is wider than a line")
    button_max = int(width * 0.6)
    for key in ("notice.acknowledge", "language.name"):
        one_line = wrap(locale.text(key), locale.script, TextStyle(frame.font_px, bold=True), 10**6)
        if one_line and one_line[0].width + 2 * frame.font_px > button_max:
            problems.append(f"{key}: wider than a button ({button_max} px)")
    for key in ("notice.helped", "notice.not_for_me"):
        one_line = wrap(locale.text(key), locale.script, TextStyle(frame.font_px, bold=True), 10**6)
        if one_line and one_line[0].width + 2 * frame.font_px > int(width * 0.4):
            problems.append(f"{key}: wider than a feedback button ({int(width * 0.4)} px)")
    forms = locale.plurals.get("notice.wait") or {"other": locale.strings["notice.wait"]}
    for cat, form in forms.items():
        line = fill(form, {"seconds": 88})
        wait = wrap(line, locale.script, TextStyle(frame.font_px), 10**6)
        if wait and wait[0].width > width - 2 * frame.margin:
            problems.append(f"notice.wait ({cat}): does not fit on one line")
    toast_width = TOAST_WIDTH - 2 * TOAST_PAD
    for key, limit in (("toast.title", 1), ("toast.body", 3)):
        lines = wrap(locale.text(key), locale.script, TextStyle(TOAST_FONT), toast_width)
        if len(lines) > limit:
            problems.append(f"{key}: {len(lines)} lines in a toast, at most {limit}")
    from kiosk_agent.notices.tray import today_line  # `notices check` only

    strings = dict(locale.strings)
    strings["tray.today_line"] = today_line(locale, 999, 999, 999)  # the longest it gets
    for key, text in strings.items():
        filled = fill(text, dict.fromkeys(placeholders(text), "999"))
        chars = len(filled.replace(ZWSP, ""))
        if key.startswith("tray.") and chars > TRAY_MAX_CHARS:
            problems.append(f"{key}: {chars} characters, a menu item holds {TRAY_MAX_CHARS}")
    return problems


TOAST_WIDTH = 420
TOAST_PAD = 16
TOAST_FONT = 18
TRAY_MAX_CHARS = 64
