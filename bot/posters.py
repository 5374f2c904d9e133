"""`appealbot qr`: a printable A4 poster (码上办) per grid — the center's name, a call to
action, the QR code of the mobile page with the grid's code (`server.public_url`/m/<code>),
the grid, and where configured smaller codes below: the Telegram bot's deep link into the grid
and the WeChat account's own QR image — as PDF or PNG (drawn with Pillow in a CJK font found
on this machine) or SVG."""

from __future__ import annotations

import argparse
import base64
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import segno
from PIL import Image, ImageDraw, ImageFont, ImageOps

from bot.settings import Settings
from messages.catalog import t

log = logging.getLogger(__name__)

WIDTH, HEIGHT = 1240, 1754  # A4 at 150 dots per inch
DPI = 150
BLUE, INK, GREY = "#1f4e8c", "#1f2328", "#57606a"
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts")
# Files of fonts with Chinese characters, the preferred first.
CJK_FONTS = ("NotoSansCJK-Bold", "NotoSansCJK-Regular", "NotoSerifCJK", "SourceHanSans", "wqy")
FORMATS = ("pdf", "png", "svg")
QR_TOP, QR_SIZE = 520, 760
# With more codes: the page's smaller, the others in a row below it.
SHARED_QR_SIZE, EXTRA_SIZE = 480, 260
EXTRAS_TOP = QR_TOP + SHARED_QR_SIZE + 290


class PosterError(Exception):
    """What stops a poster, said in one line."""


@dataclass(frozen=True)
class Poster:
    center: str
    code: str
    grid: str
    url: str
    telegram: str | None = None  # the bot's deep link into the grid
    wechat: Image.Image | None = None  # the WeChat account's own QR code

    def extras(self) -> list[tuple[str, segno.QRCode | Image.Image, int]]:
        """The smaller codes in a row below the page's: (caption, code, its middle's x)."""
        codes: list[tuple[str, segno.QRCode | Image.Image]] = []
        if self.telegram is not None:
            codes.append((t("poster.telegram"), qr(self.telegram)))
        if self.wechat is not None:
            codes.append((t("poster.wechat"), self.wechat))
        return [
            (text, code, WIDTH * n // (len(codes) + 1)) for n, (text, code) in enumerate(codes, 1)
        ]

    def qr_size(self) -> int:
        return SHARED_QR_SIZE if self.extras() else QR_SIZE

    def squares(self) -> Iterator[tuple[segno.QRCode | Image.Image, int, int, int]]:
        """(code, left, top, size) of each square on the page: the page's, then the extras."""
        yield qr(self.url), (WIDTH - self.qr_size()) // 2, QR_TOP, self.qr_size()
        for _, code, middle in self.extras():
            yield code, middle - EXTRA_SIZE // 2, EXTRAS_TOP, EXTRA_SIZE

    def texts(self) -> Iterator[tuple[str, int, int, int, str]]:
        """(text, its middle's x and y, size in pixels, colour), top to bottom."""
        middle, below = WIDTH // 2, QR_TOP + self.qr_size()
        yield self.center, middle, 110, 56, "#ffffff"
        yield t("poster.title"), middle, 225, 104, "#ffffff"
        yield t("poster.call"), middle, 420, 68, INK
        yield t("poster.grid", grid=self.grid), middle, below + 90, 56, INK
        yield t("poster.steps"), middle, below + 190, 40, GREY
        yield t("poster.free"), middle, below + 260, 40, GREY
        for caption, _, x in self.extras():
            yield caption, x, EXTRAS_TOP + EXTRA_SIZE + 25, 32, INK
        yield self.url, middle, HEIGHT - 110, 30, GREY


def qr(text: str) -> segno.QRCode:
    return segno.make(text, error="q", micro=False)


def command(settings: Settings, args: argparse.Namespace) -> int:
    """`appealbot qr --grid NAME|CODE [--out FILE]` or `--all [--out DIR] [--format F]`."""
    grids = settings.grids
    if args.all:
        if not grids:
            raise PosterError("no grids in the config (grids: code → name)")
        folder = Path(args.out or ".")
        folder.mkdir(parents=True, exist_ok=True)
        chosen = [(code, folder / f"poster-{code}.{args.format}") for code in grids]
    else:
        code = next((c for c, name in grids.items() if args.grid in (c, name)), None)
        if code is None:
            known = ", ".join(f"{name} ({c})" for c, name in grids.items()) or "none"
            raise PosterError(f"unknown grid {args.grid!r}; the grids of the config: {known}")
        chosen = [(code, Path(args.out or f"poster-{code}.pdf"))]
    username = settings.channels.telegram.username
    wechat = picture(settings.channels.wechat.qr_image)
    for code, path in chosen:
        telegram = f"https://t.me/{username}?start=grid_{code}" if username else None
        url = f"{settings.server.url}/m/{code}"
        write(Poster(settings.center.name, code, grids[code], url, telegram, wechat), path)
        print(path)
    return 0


def picture(path: Path | None) -> Image.Image | None:
    """The WeChat account's QR image of `channels.wechat.qr_image`, if set."""
    if path is None:
        return None
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except OSError as exc:  # missing, unreadable, not an image
        reason = exc.strerror or "not an image file"
        raise PosterError(f"channels.wechat.qr_image: {path}: {reason}") from exc


def write(poster: Poster, path: Path) -> None:
    kind = path.suffix.lower().lstrip(".")
    if kind not in FORMATS:
        raise PosterError(f"{path}: a poster is .pdf, .png or .svg")
    if kind == "svg":
        path.write_text(svg(poster), encoding="utf-8")
        return
    image = drawn(poster, cjk_font())
    image.save(path, "PDF" if kind == "pdf" else "PNG", resolution=DPI, dpi=(DPI, DPI))


def cjk_font() -> Path:
    found = [
        file
        for folder in FONT_DIRS
        if folder.is_dir()
        for file in folder.rglob("*")
        if file.suffix.lower() in (".ttc", ".otf", ".ttf")
    ]
    for name in CJK_FONTS:
        match = next((file for file in sorted(found) if file.name.startswith(name)), None)
        if match is not None:
            return match
    folders = ", ".join(str(folder) for folder in FONT_DIRS)
    raise PosterError(f"no Chinese (CJK) font under {folders}: install fonts-noto-cjk")


def drawn(poster: Poster, font: Path) -> Image.Image:
    image = Image.new("RGB", (WIDTH, HEIGHT), "#ffffff")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, WIDTH, 300), fill=BLUE)
    for text, x, y, size, colour in poster.texts():
        face = ImageFont.truetype(str(font), size)
        draw.text((x, y), text, font=face, fill=colour, anchor="mm")
    for code, left, top, size in poster.squares():
        square = pixels(code, size)
        margin = (size - square.width) // 2, (size - square.height) // 2
        image.paste(square, (left + margin[0], top + margin[1]))
    return image


def pixels(code: segno.QRCode | Image.Image, size: int) -> Image.Image:
    """A code as at most size × size pixels: a QR code's modules whole pixels each."""
    if isinstance(code, Image.Image):
        return ImageOps.contain(code, (size, size))
    modules = int(code.symbol_size(border=4)[0])
    bitmap = Image.new("1", (modules, modules))
    bitmap.putdata([0 if dark else 1 for row in code.matrix_iter(border=4) for dark in row])
    scale = size // modules
    return bitmap.resize((modules * scale, modules * scale), Image.Resampling.NEAREST)


def svg(poster: Poster) -> str:
    """The same page as SVG: the viewer's Chinese font, each QR code as one path."""
    texts = "".join(
        f'<text x="{x}" y="{y}" font-size="{size}" fill="{colour}" '
        f'text-anchor="middle" dominant-baseline="central">{escape(text)}</text>'
        for text, x, y, size, colour in poster.texts()
    )
    squares = "".join(svg_square(*square) for square in poster.squares())
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Noto Sans CJK SC, Source Han Sans SC, '
        f'PingFang SC, Microsoft YaHei, sans-serif">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>'
        f'<rect width="{WIDTH}" height="300" fill="{BLUE}"/>{texts}{squares}</svg>\n'
    )


def svg_square(code: segno.QRCode | Image.Image, left: int, top: int, size: int) -> str:
    if isinstance(code, Image.Image):
        png = io.BytesIO()
        code.save(png, "PNG")
        data = base64.b64encode(png.getvalue()).decode("ascii")
        return (
            f'<image x="{left}" y="{top}" width="{size}" height="{size}" '
            f'href="data:image/png;base64,{data}"/>'
        )
    scale = size / code.symbol_size(border=4)[0]
    dark = "".join(
        f"M{x},{y}h1v1h-1z"
        for y, row in enumerate(code.matrix_iter(border=4))
        for x, module in enumerate(row)
        if module
    )
    return f'<path transform="translate({left},{top}) scale({scale})" d="{dark}"/>'
