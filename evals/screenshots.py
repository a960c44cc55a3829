"""Screenshots of the chat page for the README: `python -m evals.screenshots [OUT_DIR]` (`make screenshots`).

Indexes corpus/ into a temporary directory, serves it and, in Debian's chromium through Playwright:
asks about the corpus, adds an article through the library panel, asks about it, opens
citation [1] and saves a desktop PNG with the library and the source side by side, and two at
mobile width: the conversation (asked before the article was added) and the library panel. `--favicon` also redraws
server/static/favicon.ico from favicon.svg (16, 32 and 48 px)."""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

from evals.live import CHROMIUM_FLAGS, serving
from qa.config import Settings
from qa.engine import QAEngine
from server import create_app

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "server" / "static"

# A short made-up article, added through the page the way a user would paste one.
NEW_ARTICLE = {
    "title": "Harbor Bridge reopens after eight months of repairs",
    "published": "2024-05-06",
    "url": "https://example.org/harbor-bridge",
    "text": "The Harbor Bridge in Port Ellison reopened to traffic on Monday after eight months of repairs. "
    "The repairs were led by the engineer Marta Lindqvist, who replaced all 212 steel cables. "
    "City officials said the work cost 41 million dollars, less than first planned.\n\n"
    "Commuters had used a ferry service while the bridge was closed. "
    "The ferry will keep running on weekends until the end of the summer.",
}


def _answered(page) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#conversation > li").last.locator(".bubble.bot:not(.streaming)")).to_be_visible(timeout=30_000)


def ask(page, question: str) -> None:
    page.fill("#question", question)
    page.press("#question", "Enter")
    _answered(page)


def add_article(page, fields: dict) -> None:
    from playwright.sync_api import expect

    page.click("#library-toggle")
    expect(page.locator("#library-list .doc").first).to_be_visible()
    details = page.locator("#add-article")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    page.fill("#add-title", fields["title"])
    page.fill("#add-text", fields["text"])
    page.fill("#add-url", fields["url"])
    page.fill("#add-published", fields["published"])
    page.click("#add-submit")
    expect(page.locator("#library-status")).to_contain_text("Added", timeout=60_000)


def main(out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine = QAEngine(Settings(data_dir=Path(tmp)))
        engine.library.ingest([ROOT / "corpus"])
        with serving(create_app(engine=engine)) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            # mobile: a conversation over corpus/
            mobile = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
            mobile.goto(url)
            for question in ("who leads ISIS-K?", "Where is he from?", "Who won the 2018 World Cup?"):
                ask(mobile, question)
            mobile.screenshot(path=str(out / "chat-mobile.png"))
            print(out / "chat-mobile.png")

            # desktop: the library panel, the conversation and the source, side by side
            page = browser.new_page(viewport={"width": 1440, "height": 860})
            page.goto(url)
            for question in ("who leads ISIS-K?", "Where is he from?"):
                ask(page, question)
            add_article(page, NEW_ARTICLE)
            page.locator("#add-article summary").click()  # folded again: the list is the point
            for question in ("Who led the repairs of the Harbor Bridge?", "Who won the 2018 World Cup?"):
                ask(page, question)
            page.locator("#conversation > li").first.locator(".cite").first.click()
            expect(page.locator("#source-panel mark")).to_be_visible()
            page.screenshot(path=str(out / "chat-desktop.png"))
            print(out / "chat-desktop.png")

            # mobile: the library panel over the conversation, with the new article
            mobile.click("#library-toggle")
            expect(mobile.locator("#library-list .doc")).to_have_count(2)
            mobile.screenshot(path=str(out / "library-mobile.png"))
            print(out / "library-mobile.png")
            browser.close()


def favicon() -> Path:
    """favicon.ico (16, 32, 48 px PNGs drawn by chromium from favicon.svg), for browsers and tools
    that ask for /favicon.ico and do not read SVG icons."""
    from PIL import Image
    from playwright.sync_api import sync_playwright

    svg = (STATIC / "favicon.svg").read_text()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 48, "height": 48})
        page.set_content(f"<style>html,body{{margin:0;background:transparent}}svg{{width:48px;height:48px;display:block}}</style>{svg}")
        big = Image.open(io.BytesIO(page.screenshot(omit_background=True))).convert("RGBA")
        browser.close()
    ico = STATIC / "favicon.ico"
    big.save(ico, format="ICO", sizes=[(16, 16), (32, 32), (48, 48)])
    return ico


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--favicon"]
    if "--favicon" in sys.argv[1:]:
        print(favicon())
    main(Path(args[0]) if args else ROOT / "server" / "screenshots")
