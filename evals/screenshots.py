"""Screenshots of the chat page for the README: `python -m evals.screenshots [OUT_DIR]` (`make screenshots`).

Indexes corpus/ into a temporary directory, serves it, asks a question, opens citation [1] and
saves a desktop and a mobile-width PNG (Debian's chromium through Playwright)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from evals.live import CHROMIUM_FLAGS, serving
from qa.config import Settings
from qa.engine import QAEngine
from server import create_app

ROOT = Path(__file__).resolve().parent.parent


def main(out: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        engine = QAEngine(Settings(data_dir=Path(tmp)))
        engine.library.ingest([ROOT / "corpus"])
        with serving(create_app(engine=engine)) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS)
            for name, viewport, mobile in (
                ("desktop", {"width": 1280, "height": 800}, False),
                ("mobile", {"width": 390, "height": 844}, True),
            ):
                page = browser.new_page(viewport=viewport, is_mobile=mobile, has_touch=mobile)
                page.goto(url)
                for question in ("who leads ISIS-K?", "Where is he from?", "Who won the 2018 World Cup?"):
                    page.fill("#question", question)
                    page.press("#question", "Enter")
                    expect(
                        page.locator("#conversation > li").last.locator(".bubble.bot:not(.streaming)")
                    ).to_be_visible(timeout=30_000)
                if not mobile:
                    page.locator("#conversation > li").first.locator(".cite").first.click()
                    expect(page.locator("#source-panel mark")).to_be_visible()
                page.screenshot(path=str(out / f"chat-{name}.png"))
                print(out / f"chat-{name}.png")
            browser.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "server" / "screenshots")
