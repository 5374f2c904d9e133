"""`appealbot qr`: a printable A4 poster (码上办) per grid — the center's name, a call to
action, the QR code of the mobile page with the grid's code (`server.public_url`/m/<code>),
the grid — as PDF or PNG (drawn with Pillow in a CJK font found on this machine) or SVG."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import segno
from PIL import Image, ImageDraw, ImageFont

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


class PosterError(Exception):
    """What stops a poster, said in one line."""


@dataclass(frozen=True)
class Poster:
    center: str
    code: str
    grid: str
    url: str

    def texts(self) -> Iterator[tuple[str, int, int, str]]:
        """(text, its middle's height, size in pixels, colour), top to bottom."""
        yield self.center, 110, 56, "#ffffff"
        yield t("poster.title"), 225, 104, "#ffffff"
        yield t("poster.call"), 420, 68, INK
        yield t("poster.grid", grid=self.grid), QR_TOP + QR_SIZE + 90, 56, INK
        yield t("poster.steps"), QR_TOP + QR_SIZE + 190, 40, GREY
        yield t("poster.free"), QR_TOP + QR_SIZE + 260, 40, GREY
        yield self.url, HEIGHT - 110, 30, GREY

    def qr(self) -> segno.QRCode:
        return segno.make(self.url, error="q", micro=False)


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
    for code, path in chosen:
        poster = Poster(settings.center.name, code, grids[code], f"{settings.server.url}/m/{code}")
        write(poster, path)
        print(path)
    return 0


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
    for text, middle, size, colour in poster.texts():
        face = ImageFont.truetype(str(font), size)
        draw.text((WIDTH // 2, middle), text, font=face, fill=colour, anchor="mm")
    qr = poster.qr()
    scale = QR_SIZE // qr.symbol_size(border=4)[0]
    left = (WIDTH - qr.symbol_size(scale=scale, border=4)[0]) // 2
    for y, row in enumerate(qr.matrix_iter(border=4)):
        for x, dark in enumerate(row):
            if dark:
                top_left = (left + x * scale, QR_TOP + y * scale)
                bottom_right = (top_left[0] + scale - 1, top_left[1] + scale - 1)
                draw.rectangle((top_left, bottom_right), fill="#000000")
    return image


def svg(poster: Poster) -> str:
    """The same page as SVG: the viewer's Chinese font, the QR code as one path."""
    qr = poster.qr()
    modules = qr.symbol_size(border=4)[0]
    scale = QR_SIZE / modules
    left = (WIDTH - QR_SIZE) / 2
    dark = "".join(
        f"M{x},{y}h1v1h-1z"
        for y, row in enumerate(qr.matrix_iter(border=4))
        for x, module in enumerate(row)
        if module
    )
    texts = "".join(
        f'<text x="{WIDTH // 2}" y="{middle}" font-size="{size}" fill="{colour}" '
        f'text-anchor="middle" dominant-baseline="central">{escape(text)}</text>'
        for text, middle, size, colour in poster.texts()
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="Noto Sans CJK SC, Source Han Sans SC, '
        f'PingFang SC, Microsoft YaHei, sans-serif">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>'
        f'<rect width="{WIDTH}" height="300" fill="{BLUE}"/>{texts}'
        f'<path transform="translate({left},{QR_TOP}) scale({scale})" d="{dark}"/></svg>\n'
    )
