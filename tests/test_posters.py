"""`appealbot qr`: the grids' posters, rendered as a printer would and their QR codes read
back with zbarimg (Debian's zbar-tools), PDF pages through pdftoppm (poppler-utils)."""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import segno
from PIL import Image

from bot import posters
from bot.cli import main
from messages.catalog import t
from tests.web_helpers import REQUIRE_BROWSER, SCREENSHOTS

PUBLIC = "https://sq.example.gov.cn"
CONFIG = Path(__file__).resolve().parent.parent / "config.yaml"
WECHAT = "http://weixin.qq.com/r/sq-example"  # what a WeChat account's own QR code carries


def qr(*args: str, config: Path = CONFIG) -> int:
    return main(["--config", str(config), "qr", *args])


def tool(name: str) -> str:
    """The path of a Debian tool the test needs; skipped (failed in CI) without it."""
    found = shutil.which(name)
    if found is None:
        reason = f"{name} is missing (apt install poppler-utils zbar-tools)"
        if REQUIRE_BROWSER:
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def decoded(png: Path) -> str:
    done = subprocess.run(  # noqa: S603 - our own file
        [tool("zbarimg"), "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def printed(pdf: str) -> Path:
    """The PDF's page as a PNG at 100 dpi, as a printer would have it."""
    subprocess.run(  # noqa: S603 - our own file
        [tool("pdftoppm"), "-r", "100", "-png", "-singlefile", pdf, "page"], check=True
    )
    return Path("page.png").resolve()


@pytest.fixture(autouse=True)
def public_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("APPEALBOT_SERVER__PUBLIC_URL", PUBLIC)
    monkeypatch.chdir(tmp_path)


def test_a_grids_pdf_poster_prints_a_qr_code_of_its_page(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qr("--grid", "东湖3网格", "--out", "dh3.pdf") == 0
    assert capsys.readouterr().out == "dh3.pdf\n"
    page = printed("dh3.pdf")
    with Image.open(page) as image:
        assert image.size == (827, 1170)  # A4 (210 × 297 mm) at 100 dpi
    assert decoded(page) == f"{PUBLIC}/m/dh3"
    if os.environ.get("APPEALBOT_SCREENSHOTS") == "1":
        shutil.copy("page.png", SCREENSHOTS / "poster.png")


def test_all_grids_get_a_poster_each_and_an_svg_carries_the_same(tmp_path: Path) -> None:
    assert qr("--all", "--format", "png", "--out", "posters") == 0
    made = sorted(path.name for path in (tmp_path / "posters").iterdir())
    assert made == [f"poster-{code}.png" for code in sorted(["cg1", "cg2", "dh3", "qs1", "by1"])]
    assert decoded(tmp_path / "posters" / "poster-qs1.png") == f"{PUBLIC}/m/qs1"
    assert qr("--grid", "by1", "--out", "by1.svg") == 0
    page = ET.parse(tmp_path / "by1.svg").getroot()  # noqa: S314 - our own file
    texts = [element.text for element in page.iter("{http://www.w3.org/2000/svg}text")]
    assert t("poster.grid", grid="白云乡1网格") in texts and f"{PUBLIC}/m/by1" in texts


def test_an_unknown_grid_or_no_chinese_font_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert qr("--grid", "西湖1网格") == 1
    error = capsys.readouterr().err
    assert error.startswith("appealbot: unknown grid '西湖1网格'") and "东湖3网格 (dh3)" in error
    monkeypatch.setattr(posters, "FONT_DIRS", (tmp_path,))
    assert qr("--grid", "dh3", "--out", "dh3.png") == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "install fonts-noto-cjk" in error
    assert not (tmp_path / "dh3.png").exists()


def test_the_telegram_deep_link_and_the_wechat_accounts_code_join_the_page_s(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "center"
    folder.mkdir()
    shutil.copy(CONFIG, folder / "config.yaml")
    segno.make(WECHAT, error="m").save(folder / "wechat.png", scale=8)
    monkeypatch.setenv("APPEALBOT_CHANNELS__TELEGRAM__USERNAME", "ShiFanQuBot")
    # Relative to the config file's folder, not to the working directory (tmp_path).
    monkeypatch.setenv("APPEALBOT_CHANNELS__WECHAT__QR_IMAGE", "wechat.png")
    assert qr("--grid", "dh3", config=folder / "config.yaml") == 0
    deep_link = "https://t.me/ShiFanQuBot?start=grid_dh3"
    assert set(decoded(printed("poster-dh3.pdf")).splitlines()) == {
        f"{PUBLIC}/m/dh3",
        deep_link,
        WECHAT,
    }
    assert qr("--grid", "dh3", "--out", "dh3.svg", config=folder / "config.yaml") == 0
    page = ET.parse(tmp_path / "dh3.svg").getroot()  # noqa: S314 - our own file
    texts = [element.text for element in page.iter("{http://www.w3.org/2000/svg}text")]
    assert t("poster.telegram") in texts and t("poster.wechat") in texts
    assert len(list(page.iter("{http://www.w3.org/2000/svg}path"))) == 2  # the page's, t.me
    assert len(list(page.iter("{http://www.w3.org/2000/svg}image"))) == 1  # WeChat's


def test_a_wechat_qr_image_missing_or_not_an_image_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "wechat.png"
    monkeypatch.setenv("APPEALBOT_CHANNELS__WECHAT__QR_IMAGE", str(missing))
    assert qr("--all", "--out", "posters") == 1
    error = capsys.readouterr().err
    assert error == f"appealbot: channels.wechat.qr_image: {missing}: No such file or directory\n"
    missing.write_text("not a picture", encoding="utf-8")
    assert qr("--all", "--out", "posters") == 1
    error = capsys.readouterr().err
    assert error == f"appealbot: channels.wechat.qr_image: {missing}: not an image file\n"
    assert list((tmp_path / "posters").iterdir()) == []
