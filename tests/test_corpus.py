from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import BadInput
from qa.ingest.cleaning import clean_text
from qa.ingest.fields import article_from_fields, slugify
from qa.ingest.formats import parse_text
from qa.ingest.readers import SUPPORTED_SUFFIXES, read_file, read_paths

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "corpus" / "isis-k-explainer.txt"
MAX = 1_000_000
BODY = "The council approved the new bridge on Tuesday.\n\nWork starts in spring, officials said.\n"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# ---------------------------------------------------------------- the real corpus file


def test_sample_article(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # relative input -> relative source
    [article] = read_file(Path("corpus/isis-k-explainer.txt"), max_bytes=MAX)
    assert article.id == "isis-k-explainer"
    assert article.source == "corpus/isis-k-explainer.txt"
    assert article.title == "Who are ISIS-K? Offshoot terror group threatening to attack in Afghanistan"
    text = article.text
    assert "The group is led by an Iraqi militant called Shahab al-Muhajir." in text
    assert "sign-up" not in text and "unsubscribe" not in text and "More info" not in text
    assert "Read Full Article" not in text and "Source:" not in text
    assert not text.startswith("Who are ISIS-K?")  # the title is not repeated in the body
    standfirst = "Joe Biden warns of 'growing risk' of an attack from ISIS"
    assert text.startswith(standfirst + "\n\nPeople in Afghanistan")
    assert text.endswith("“We are not just being overly cautious,” he said.")
    # real content mentioning a newsletter survives; curly quotes and dashes are untouched
    assert "A recent editorial in an ISIS newsletter claimed" in text
    assert "ISIS-K is an offshoot of ISIS – often referred to as Islamic State or Daesh." in text
    assert "\n\n\n" not in text


def test_sample_folder_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    scan = read_paths([Path("corpus")], max_bytes=MAX)
    assert scan.files == ["corpus/isis-k-explainer.txt"]
    assert [a.id for a in scan.articles] == ["isis-k-explainer"]
    assert scan.skipped == []


# ---------------------------------------------------------------- txt / md / html / jsonl


def test_txt_front_matter_with_date(tmp_path: Path) -> None:
    path = write(
        tmp_path / "Bridge News.txt",
        "---\ntitle: Bridge approved\nurl: https://example.com/bridge\npublished: 2021-08-26\n"
        "author: Jane Doe\n---\n" + BODY,
    )
    [a] = read_file(path, max_bytes=MAX)
    assert a.id == "bridge-news"
    assert a.title == "Bridge approved"
    assert a.url == "https://example.com/bridge"
    assert a.published == "2021-08-26"  # YAML date object stored as ISO string
    assert a.author == "Jane Doe"
    assert a.text == (
        "The council approved the new bridge on Tuesday.\n\nWork starts in spring, officials said."
    )
    assert a.source == str(path)


def test_md_front_matter_id_and_date(tmp_path: Path) -> None:
    path = write(
        tmp_path / "x.md",
        "---\nid: Bridge Story 1\ntitle: Bridge approved\npublished: 2021-08-26T10:30:00Z\n---\n"
        "# Bridge approved\n\n" + BODY,
    )
    [a] = read_file(path, max_bytes=MAX)
    assert a.id == "bridge-story-1"
    assert a.title == "Bridge approved"
    assert a.published is not None and a.published.startswith("2021-08-26T10:30:00")
    assert a.text.startswith("The council approved")  # repeated heading dropped


def test_md_heading_title_and_markup(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bridge.md",
        "\n# Council backs **new** bridge\n\n"
        "The [council](https://example.com/c) approved the **new** bridge.\n\n## Costs\n\nIt costs £40m.\n",
    )
    [a] = read_file(path, max_bytes=MAX)
    assert a.id == "bridge"
    assert a.title == "Council backs new bridge"
    assert a.text == "The council approved the new bridge.\n\nCosts\n\nIt costs £40m."


def test_txt_first_line_is_title(tmp_path: Path) -> None:
    path = write(tmp_path / "plain.txt", "\n\n  Bridge   approved  \n" + BODY)
    [a] = read_file(path, max_bytes=MAX)
    assert a.title == "Bridge approved"
    assert a.text.startswith("The council approved the new bridge on Tuesday.")
    assert a.url is None and a.published is None and a.author is None


def test_malformed_front_matter(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.txt", "---\ntitle: [unclosed\n---\n" + BODY)
    with pytest.raises(BadInput, match=r"bad\.txt: malformed front matter"):
        read_file(bad, max_bytes=MAX)
    unclosed = write(tmp_path / "open.txt", "---\ntitle: x\n" + BODY)
    with pytest.raises(BadInput, match="front matter is not closed"):
        read_file(unclosed, max_bytes=MAX)


HTML = """<!doctype html>
<html><head><title>Bridge approved | Example News</title>
<meta name="author" content="Jane Doe">
<meta property="article:published_time" content="2021-08-26">
<link rel="canonical" href="https://example.com/news/bridge"></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World news</a></li></ul></nav>
<div id="cookie-banner">We use cookies to improve your experience. Accept all cookies.</div>
<article>
<h1>Bridge approved</h1>
<p>The council voted on Tuesday to approve the new bridge across the river, ending a decade of debate.</p>
<p>Construction is expected to start next spring and cost about 40 million pounds, officials said.</p>
<p>Advertisement</p>
</article>
<footer><p>Copyright 2021 Example News. All rights reserved.</p><p>Follow us on Twitter</p></footer>
</body></html>
"""


def test_html_extracts_article_not_furniture(tmp_path: Path) -> None:
    [a] = read_file(write(tmp_path / "bridge.html", HTML), max_bytes=MAX)
    assert a.id == "bridge"
    assert a.title == "Bridge approved"
    assert a.text == (
        "The council voted on Tuesday to approve the new bridge across the river, ending a decade of debate."
        "\n\nConstruction is expected to start next spring and cost about 40 million pounds, officials said."
    )
    for junk in ("Home", "World news", "cookies", "All rights reserved", "Follow us", "Advertisement"):
        assert junk not in a.text
    assert a.url == "https://example.com/news/bridge"
    assert a.published == "2021-08-26"
    assert a.author == "Jane Doe"


def test_html_without_text(tmp_path: Path) -> None:
    page = (
        "<html><head><title>Nothing</title></head>"
        "<body><script>var x = 1;</script><img src=a.png></body></html>"
    )
    path = write(tmp_path / "empty.htm", page)
    with pytest.raises(BadInput, match=r"empty\.htm: no article text could be extracted from the HTML"):
        read_file(path, max_bytes=MAX)


def test_parse_text_for_uploads() -> None:
    a = parse_text("Bridge approved\n" + BODY, doc_id="upload-1", source="api", fmt="md")
    assert (a.id, a.title, a.source) == ("upload-1", "Bridge approved", "api")
    h = parse_text(HTML, doc_id="upload-2", source="api", fmt="html")
    assert h.text.startswith("The council voted on Tuesday")
    with pytest.raises(BadInput, match="unsupported format"):
        parse_text(BODY, doc_id="x", source="api", fmt="pdf")
    with pytest.raises(BadInput, match="has no article text"):
        parse_text("Just a title\n\nAdvertisement\n", doc_id="x", source="api")


def test_jsonl_good(tmp_path: Path) -> None:
    path = write(
        tmp_path / "feed.jsonl",
        '{"id": "A 1", "title": "First", "text": "One.\\n\\nRead more", "url": "https://e.com/1"}\n'
        "\n"
        '{"id": "b2", "title": "", "text": "Two.", "published": "2021-01-02", "author": "Ann"}\r\n',
    )
    first, second = read_file(path, max_bytes=MAX)
    assert (first.id, first.title, first.text, first.url) == ("a-1", "First", "One.", "https://e.com/1")
    assert (second.id, second.title, second.text) == ("b2", "b2", "Two.")
    assert (second.published, second.author) == ("2021-01-02", "Ann")
    assert first.source == second.source == str(path)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ('{"id": "a"}\n', r"line 1: missing `text`"),
        ('["a", "b"]\n', r"line 1: expected a JSON object"),
        ('{"id": "a", "text": "Advertisement"}\n', r"line 1: .*has no article text"),
    ],
)
def test_jsonl_with_no_good_record_rejects_whole_file(tmp_path: Path, lines: str, message: str) -> None:
    path = write(tmp_path / "feed.jsonl", lines)
    with pytest.raises(BadInput, match=r"feed\.jsonl: " + message):
        read_file(path, max_bytes=MAX)
    scan = read_paths([tmp_path], max_bytes=MAX)
    assert scan.articles == []  # no half-read file
    assert [(s.path, bool(s.reason)) for s in scan.skipped] == [(str(path), True)]


@pytest.mark.parametrize(
    ("lines", "line", "reason"),
    [
        ('{"id": "a", "text": "ok"}\n{"id": "b", "text": ', 2, "invalid JSON"),
        ('{"id": "a", "text": "ok"}\n\n{"title": "t", "text": "x"}\n', 3, "missing `id`"),
    ],
)
def test_jsonl_bad_record_is_skipped_and_the_rest_read(tmp_path: Path, lines: str, line: int, reason: str) -> None:
    path = write(tmp_path / "feed.jsonl", lines)
    assert [a.id for a in read_file(path, max_bytes=MAX)] == ["a"]
    scan = read_paths([tmp_path], max_bytes=MAX)
    assert [a.id for a in scan.articles] == ["a"]
    assert [(s.path, reason in s.reason) for s in scan.skipped] == [(f"{path}:{line}", True)]


# ---------------------------------------------------------------- scanning and bad files


def test_bad_files_skipped_good_file_read(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", "Good title\n" + BODY)
    write(tmp_path / "binary.txt", b"Title\n\x00\x01\x02 data")
    write(tmp_path / "latin.txt", "Café society\n\nNaïve résumé.".encode("latin-1"))
    write(tmp_path / "empty.md", "")
    write(tmp_path / "big.txt", "Big\n\n" + "word " * 400)
    write(tmp_path / "photo.png", b"\x89PNG")  # unsupported, ignored inside folders
    write(tmp_path / "notes.pdf", b"%PDF-1.4")  # read, and refused: not a readable PDF
    write(tmp_path / ".hidden.txt", "Hidden\n" + BODY)
    write(tmp_path / ".git" / "x.txt", "Hidden dir\n" + BODY)
    write(tmp_path / "sub" / "bom.txt", "\ufeffBOM title\n" + BODY)

    scan = read_paths([tmp_path], max_bytes=1000)
    assert [a.id for a in scan.articles] == ["good", "bom"]
    assert scan.articles[0].title == "Good title"
    assert scan.articles[1].title == "BOM title"  # the BOM is stripped, not part of the title
    reasons = {Path(s.path).name: s.reason for s in scan.skipped}
    assert set(reasons) == {"binary.txt", "latin.txt", "empty.md", "big.txt", "notes.pdf"}
    assert reasons["notes.pdf"].startswith("not a readable PDF")
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["latin.txt"]
    assert "empty" in reasons["empty.md"]
    assert "too large" in reasons["big.txt"]
    assert sorted(Path(f).name for f in scan.files) == [
        "big.txt", "binary.txt", "bom.txt", "empty.md", "good.txt", "latin.txt", "notes.pdf"
    ]
    assert scan.files == sorted(scan.files, key=lambda f: Path(f).parts)


def test_read_file_errors_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.txt", "Café".encode("latin-1"))
    with pytest.raises(BadInput, match=r"latin\.txt: not UTF-8"):
        read_file(path, max_bytes=MAX)
    big = write(tmp_path / "big.txt", "x" * 2000)
    with pytest.raises(BadInput, match=r"big\.txt: file is too large \(2000 bytes; the limit is 1000\)"):
        read_file(big, max_bytes=1000)


def test_explicit_unsupported_file_skipped(tmp_path: Path) -> None:
    png = write(tmp_path / "photo.png", b"\x89PNG")
    good = write(tmp_path / "a.txt", "Title\n" + BODY)
    scan = read_paths([png, good], max_bytes=MAX)
    assert [a.id for a in scan.articles] == ["a"]
    assert [(s.path, s.reason) for s in scan.skipped] == [(str(png), "unsupported file type")]
    assert scan.files == [str(good)]


def test_missing_path_raises_before_reading(tmp_path: Path) -> None:
    good = write(tmp_path / "a.txt", "Title\n" + BODY)
    missing = tmp_path / "nope"
    with pytest.raises(BadInput, match=f"no such file or directory: {missing}"):
        read_paths([good, missing], max_bytes=MAX)


def test_duplicate_ids(tmp_path: Path) -> None:
    write(tmp_path / "a" / "story.txt", "First\n" + BODY)
    write(tmp_path / "b" / "story.md", "# Second\n" + BODY)
    write(tmp_path / "c.jsonl", '{"id": "story", "text": "Third."}\n{"id": "other", "text": "Fourth."}\n')
    scan = read_paths([tmp_path], max_bytes=MAX)
    # a made id names a file: both files are read (qa.ingest.identity numbers the second when stored);
    # a given id names one article, so the jsonl record repeating it is skipped
    assert [(a.id, a.title) for a in scan.articles] == [("story", "First"), ("story", "Second"), ("other", "other")]
    first = str(tmp_path / "a" / "story.txt")
    dupes = {s.path: s.reason for s in scan.skipped}
    assert set(dupes) == {str(tmp_path / "c.jsonl")}
    for path, reason in dupes.items():
        assert "duplicate id 'story'" in reason and path in reason and first in reason


def test_same_file_twice_is_read_once(tmp_path: Path) -> None:
    good = write(tmp_path / "a.txt", "Title\n" + BODY)
    scan = read_paths([tmp_path, good], max_bytes=MAX)
    assert [a.id for a in scan.articles] == ["a"] and scan.skipped == [] and scan.files == [str(good)]


# ---------------------------------------------------------------- cleaning


def test_furniture_removed() -> None:
    furniture = [
        "We use your sign-up to provide content in ways you've consented to and to improve our "
        "understanding of you. This may include adverts from us and 3rd parties. You can unsubscribe "
        "at any time. More info",
        "Sign up for our newsletter",
        "Advertisement",
        "Read Full Article",
        "Read more: Council rejects plan",
        "Continue reading",
        "Source: Reuters",
        "Share this article",
        "Facebook Twitter WhatsApp Email",
        "Click here to subscribe",
        "© 2021 Example News. All rights reserved.",
        "Follow us on Twitter and Instagram",
        "Related articles",
        "(Image: Getty Images)",
        "Photo: AFP/Getty Images",
        "This website uses cookies to give you the best experience.",
        "Get our daily newsletter in your inbox. See our privacy policy.",
    ]
    text = "\n\n".join(["Real first paragraph."] + furniture + ["Real last paragraph."])
    assert clean_text(text) == "Real first paragraph.\n\nReal last paragraph."


def test_real_content_survives() -> None:
    content = [
        "Sources said the attack was planned.",
        "Officials signed up 200 volunteers.",
        "Source material for the report came from police files.",
        "The EU requires websites to obtain consent before setting cookies.",
        "The newsletter was published by the group's media wing.",
        "Read the statement in full, he told reporters.",
        "Copyright law was changed in 2019.",
        "US officials said they would share more information with allies.",
        "Getty Images photographers were at the scene when the blast happened.",
    ]
    text = "\n\n".join(content)
    assert clean_text(text) == text


def test_clean_text_whitespace() -> None:
    raw = (
        "\r\n  First  para\tline one\r\n  continues here  \r\n\r\n\r\n"
        "\u00a0Second\u00a0para \u2019quoted\u2019 \u2013 dash\u202fend\r\n"
    )
    # only U+00A0 becomes a space; curly quotes, dashes and other no-break spaces stay as they were
    expected = "First para line one continues here\n\nSecond para \u2019quoted\u2019 \u2013 dash\u202fend"
    assert clean_text(raw) == expected
    # no blank lines at all: every line is a paragraph
    assert clean_text("One.\nTwo.\n\tThree.") == "One.\n\nTwo.\n\nThree."
    assert clean_text(" \n\t\n ") == ""
    # every run of spaces, tabs, form feeds and vertical tabs is one space; a single space stays as it is
    assert clean_text("a \t b\fc\v\vd   e f \t") == "a b c d e f"


@pytest.mark.parametrize(
    "raw",
    [
        SAMPLE.read_text(encoding="utf-8"),
        "Single paragraph\nwrapped over\nlines.",
        "Para one\nwrapped.\n\nAdvertisement\n\nPara two.",
        "Title\n\nOnly one\nparagraph left\n\nRead more",
        "  a \u00a0 b\r\n\r\n\tc\t\td  ",
    ],
)
def test_clean_text_idempotent(raw: str) -> None:
    once = clean_text(raw)
    assert clean_text(once) == once


def test_article_from_fields() -> None:
    a = article_from_fields(doc_id="x", title="  ", text="Body\n\nAdvertisement", source="api", url=" ")
    assert (a.title, a.text, a.url) == ("x", "Body", None)
    with pytest.raises(BadInput, match="'x' has no article text"):
        article_from_fields(doc_id="x", title="T", text="Advertisement\n\nRead Full Article", source="api")
    with pytest.raises(BadInput, match="id is empty"):
        article_from_fields(doc_id=" ", title="T", text="Body", source="api")


def test_slugify() -> None:
    assert slugify("ISIS-K Explainer") == "isis-k-explainer"
    assert slugify("  Café -- Société__2021 ") == "cafe-societe-2021"
    assert slugify("isis-k-explainer") == "isis-k-explainer"
    non_latin = slugify("日本のニュース")
    assert non_latin.startswith("doc-") and non_latin == slugify("日本のニュース") != slugify("中国")
    assert ".jsonl" in SUPPORTED_SUFFIXES


def test_a_snippet_trailing_a_site_footer_is_kept_not_emptied():
    text = "Carlos Alcaraz beats Novak Djokovic to win Wimbledon. ABC News · Terms of Use · Privacy Policy · Your ..."
    assert clean_text(text) == text
    with pytest.raises(BadInput, match="no article text"):
        article_from_fields(doc_id="x", title="", text="Advertisement", source="s")
