"""Issue 24: the README stays a short page and the reference in docs/ stays complete and true:
every setting is in docs/configuration.md by its environment variable, every route of the app is in
docs/api.md, and every relative link in README.md and docs/*.md points at a file that exists.
No network, no model: the app is built but never started (its lifespan loads the engine)."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest
from pydantic import BaseModel

from qa.config import Settings
from server import create_app
from server.methods import flat_routes

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def env_names(settings: type[BaseModel] = Settings) -> list[str]:
    """QA_ plus the field name, and for a nested group QA_ plus the group, `_`, and its field: the
    names pydantic-settings reads with env_prefix QA_, env_nested_delimiter `_` and
    env_nested_max_split 1 (QA_ANSWER_MODEL_THRESHOLD is answer.model_threshold)."""
    config = Settings.model_config
    prefix, delimiter = config["env_prefix"], config["env_nested_delimiter"]
    names = []
    for name, field in settings.model_fields.items():
        group = field.annotation
        if isinstance(group, type) and issubclass(group, BaseModel):
            names += [f"{prefix}{name}{delimiter}{sub}".upper() for sub in group.model_fields]
        else:
            names.append(f"{prefix}{name}".upper())
    return names


def mentions(text: str, name: str) -> bool:
    """`name` as a whole variable name: QA_ANSWER_MODEL_PATH does not count for QA_ANSWER_MODEL."""
    return re.search(rf"(?<![A-Z0-9_]){re.escape(name)}(?![A-Z0-9_])", text) is not None


def test_env_names_are_the_ones_settings_reads(monkeypatch: pytest.MonkeyPatch):
    names = env_names()
    assert {"QA_DATA_DIR", "QA_ANSWER_MODEL", "QA_ANSWER_MODEL_THRESHOLD", "QA_CHROMA_HOST", "QA_API_KEY",
            "QA_SERVER_ALLOWED_HOSTS", "QA_LLM_MIN_SUPPORT"} <= set(names)  # fmt: skip
    monkeypatch.setenv("QA_ANSWER_MODEL_THRESHOLD", "0.3")
    monkeypatch.setenv("QA_CHROMA_HNSW_SEARCH_EF", "123")
    monkeypatch.setenv("QA_RETRIEVAL_CANDIDATES", "40")
    s = Settings(_env_file=None)
    assert (s.answer.model_threshold, s.chroma.hnsw_search_ef, s.retrieval.candidates) == (0.3, 123, 40)


def test_every_setting_is_in_the_configuration_doc():
    doc = (DOCS / "configuration.md").read_text(encoding="utf-8")
    missing = [name for name in env_names() if not mentions(doc, name)]
    assert not missing, f"docs/configuration.md does not name {missing}"


def test_a_missing_setting_is_noticed():
    doc = (DOCS / "configuration.md").read_text(encoding="utf-8")
    without = re.sub(r"(?<![A-Z0-9_])QA_ANSWER_MODEL(?![A-Z0-9_])", "", doc)
    assert mentions(doc, "QA_ANSWER_MODEL") and not mentions(without, "QA_ANSWER_MODEL")
    assert mentions(without, "QA_ANSWER_MODEL_PATH")


def routes() -> set[tuple[str, str]]:
    """(method, path) of every route of the app, path parameters written `{}`. Skipped: the static-file
    mount (/static, no methods: its files are the page's own scripts, not an interface) and HEAD, which
    Starlette adds beside GET by itself (server/methods.py answers HEAD wherever GET is)."""
    out = set()
    for route in flat_routes(create_app().routes):
        path = re.sub(r"\{[^}]*\}", "{}", getattr(route, "path_format", None) or route.path)
        out |= {(m, path) for m in getattr(route, "methods", None) or () if m != "HEAD"}
    return out


def test_every_route_is_in_the_api_doc():
    found = routes()
    assert {("POST", "/api/ask"), ("POST", "/v1/chat/completions"), ("GET", "/library/{}")} <= found
    doc = re.sub(r"\{[^}]*\}", "{}", (DOCS / "api.md").read_text(encoding="utf-8"))
    missing = sorted(
        f"{method} {path}" for method, path in found
        if not re.search(rf"\b{method} {re.escape(path)}(?![\w/{{}}-])", doc)
    )  # fmt: skip
    assert not missing, f"docs/api.md does not mention {missing}"


LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+\s+(.+?)\s*$", page.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files(page: Path):
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / unquote(path)) if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to missing files or headings: {broken}"


def test_the_docs_exist_and_the_readme_links_them():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("usage", "api", "configuration", "evals", "speed", "architecture"):
        assert (DOCS / f"{name}.md").is_file() and f"(docs/{name}.md" in readme, name
    assert not (ROOT / "ARCHITECTURE.md").exists()


def test_the_readme_is_short_and_has_the_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make test" in readme and "make run" in readme
    assert len(readme.splitlines()) < 150
