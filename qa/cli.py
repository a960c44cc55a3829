"""`qa`: thin command line over QAEngine (questions) and Library (articles). Errors a user can fix are one line and a non-zero exit."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path

from pydantic import BaseModel, ValidationError

from qa.errors import QAError
from qa.ingest.heap import few_arenas
from qa.progress import LOADING, is_terminal, plural, status

EXIT_USER_ERROR = 1
PLAIN_WIDTH = 100  # citations are wrapped to the terminal, or to this off a terminal
QUOTE_CHARS = 240  # a longer quote is cut at a word: the answer above already holds the whole of it


def _engine(**kwargs):
    from qa.config import Settings
    from qa.engine import QAEngine

    return QAEngine(Settings(), **kwargs)


def _library(**kwargs):
    from qa.config import Settings
    from qa.library import Library

    return Library(Settings(), **kwargs)


def _print_json(obj: BaseModel | list | dict) -> None:
    out = sys.stdout  # looked up per call: tests and pipes may swap it
    if isinstance(obj, BaseModel):
        out.write(obj.model_dump_json() + "\n")
    else:
        out.write(json.dumps([o.model_dump() if isinstance(o, BaseModel) else o for o in obj] if isinstance(obj, list) else obj) + "\n")


def _width() -> int:
    if not is_terminal(sys.stdout):
        return PLAIN_WIDTH
    return max(40, shutil.get_terminal_size((PLAIN_WIDTH, 24)).columns)


def _shorten(text: str, limit: int = QUOTE_CHARS) -> str:
    """One line of `text`, at most `limit` characters; a cut ends on a word and with "…"."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + "…"


def citation_lines(c, width: int) -> list[str]:
    """The quoted sentence first (what a reader wants to see), then the title and where it is."""
    head = f"  [{c.id}] "
    indent = " " * len(head)
    from qa.text import date_label

    source = c.site or c.source if c.source == c.url else c.source  # an article added by its link: its site, then the link
    place = f"({source} · {date_label(c.published)}, chars {c.start}-{c.end})" + (f" {c.url}" if c.url else "")
    where = f"{' '.join(c.title.split())} {place}" if c.title.strip() else place
    wrap = dict(width=width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    return textwrap.wrap(f'"{_shorten(c.quote)}"', initial_indent=head, **wrap) + textwrap.wrap(where, initial_indent=indent, **wrap)


def _print_answer(answer) -> None:
    out = sys.stdout
    out.write(answer.answer + "\n")
    width = _width()
    for c in answer.citations:
        out.write("".join(line + "\n" for line in citation_lines(c, width)))
    for u in answer.unsupported:
        out.write(f"  {'removed' if answer.verify == 'strict' else 'unverified'}: {u.text} ({u.reason})\n")
    for w in answer.warnings:
        out.write(f"  warning: {w}\n")
    if answer.scope is not None:
        out.write(f"  within {scope_words(answer.scope)}\n")
    if answer.period is not None:
        from qa.text import period_words

        out.write(f"  {period_words(answer.period)}\n")
    out.flush()



def scope_words(scope) -> str:
    """'2 articles: ids a, b; sources x; from 2021-01-01 to 2021-12-31', as the CLI and page say it."""
    f = scope.filters
    parts = [f"ids {', '.join(f.doc_ids)}" if f.doc_ids else "", f"sources {', '.join(f.sources)}" if f.sources else "",
             " ".join(x for x in (f"from {f.since}" if f.since else "", f"to {f.until}" if f.until else "") if x)]  # fmt: skip
    return f"{plural(scope.articles, 'article')}: " + "; ".join(p for p in parts if p)


def _add_scope_arguments(s: argparse.ArgumentParser) -> None:
    s.add_argument("--doc", action="append", metavar="ID", help="ask within this article (repeatable)")
    s.add_argument("--source", action="append", metavar="S", help="within a source: file, site, host or feed id (repeatable)")
    s.add_argument("--since", metavar="YYYY-MM-DD", help="within articles published on or after this day")
    s.add_argument("--until", metavar="YYYY-MM-DD", help="within articles published on or before this day")


def _filters(args: argparse.Namespace):
    """The scope flags as Filters (checked before anything loads), or None."""
    from qa.schemas import Filters

    given = {"doc_ids": args.doc, "sources": args.source, "since": args.since, "until": args.until}
    if not any(given.values()):
        return None
    try:
        return Filters(**given)
    except ValidationError as err:
        first = err.errors()[0]
        where = {"since": "--since", "until": "--until"}.get(str(first["loc"][0]) if first["loc"] else "", "the scope")
        raise QAError(f"{where}: {first['msg']}") from None


def add_mode_arguments(s: argparse.ArgumentParser, *, default: str | None, generative_help: str) -> None:
    s.add_argument("--mode", choices=["extractive", "generative"], default=default, help=generative_help)
    s.add_argument("--verify", choices=["strict", "flag"], default=None,
                   help="generative: drop (strict) or flag unsupported sentences (default: QA_LLM_VERIFY)")  # fmt: skip


ASK_MODE_HELP = "default: generative when an LLM is configured (QA_LLM_*), else extractive"


# -- commands ------------------------------------------------------------------------------------
def cmd_ingest(args: argparse.Namespace) -> int:
    from qa.config import Settings

    links = [p for p in args.paths if _is_link(p)]
    paths = [Path(p) for p in args.paths if not _is_link(p)] or ([] if links else [Settings().corpus_dir])
    report = _library().ingest(paths, links=links, prune=args.prune, replace=args.replace,
                               progress=True)  # a bar on a terminal, else a line now and then  # fmt: skip
    for path, reason in report.skipped.items():
        print(f"qa: warning: skipped {path}: {reason}", file=sys.stderr)
    for new, name in report.renamed.items():
        print(f"qa: note: {name!r} is another story's id, so this one was added as {new!r} "
              "(qa ingest --replace replaces instead)", file=sys.stderr)  # fmt: skip
    if args.json:
        _print_json(report)
    else:
        dups = f", {plural(len(report.duplicates), 'duplicate')}" if report.duplicates else ""
        print(
            f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged{dups}, "
            f"{len(report.deleted)} deleted, {len(report.skipped)} skipped; "
            f"{plural(report.sentences_embedded, 'sentence')} embedded in {report.seconds:.1f}s"
        )
    return EXIT_USER_ERROR if report.skipped else 0


def _is_link(arg: str) -> bool:
    return arg.lower().startswith(("http://", "https://"))


def cmd_feeds(args: argparse.Namespace) -> int:
    feeds = _library(check_model=args.feeds_cmd == "refresh").feeds
    if args.feeds_cmd == "add":
        info, new = feeds.add(args.url, name=args.name)
        print(f"{'following' if new else 'already following'} {info.name!r} as {info.id}", file=sys.stderr)
        if new and not args.no_refresh:
            info = feeds.refresh([info.id])[0]
            print(_feed_line(info))
        return 0
    if args.feeds_cmd == "remove":
        feeds.remove(args.id)
        print(f"stopped following {args.id}; its articles stay (qa docs delete removes one)")
        return 0
    infos = feeds.refresh(force=args.force) if args.feeds_cmd == "refresh" else feeds.list()
    if args.json:
        _print_json(infos)
    else:
        for info in infos:
            print(_feed_line(info))
        print(plural(len(infos), "feed"), file=sys.stderr)
    return EXIT_USER_ERROR if args.feeds_cmd == "refresh" and any(i.failures for i in infos) else 0


def _feed_line(info) -> str:
    last = f"last fetched {info.last_fetch}: {info.last_outcome}, {info.last_new} new" if info.last_fetch else "not fetched yet"
    backoff = f"; next try after {info.next_try}" if info.next_try else ""
    return f"{info.id}\t{info.name}\t{info.url}\t{plural(info.articles, 'article')}; {last}{backoff}"


def _questions(source: str) -> Iterable[str]:
    stream = sys.stdin if source == "-" else open(source, encoding="utf-8")
    with stream:
        for line in stream:
            if line.strip():
                yield line.rstrip("\n")


def cmd_ask(args: argparse.Namespace) -> int:
    if args.batch is None and args.question is None:
        raise QAError("give a question, or --batch FILE")
    if args.batch is not None:
        if args.batch != "-" and not Path(args.batch).is_file():
            raise QAError(f"no such file: {args.batch}")
        engine, failed = _loaded(_engine, args.mode), False
        for q in _questions(args.batch):
            try:
                _print_json(engine.ask(q, top_k=args.top_k, mode=args.mode, verify=args.verify, filters=args.filters))
            except QAError as err:
                failed = True
                _print_json({"question": q, "error": str(err)})
            sys.stdout.flush()
        return EXIT_USER_ERROR if failed else 0
    from qa.config import Settings
    from qa.text import check_question

    check_question(args.question, Settings().max_question_chars)  # refused before anything loads
    engine = _loaded(_engine, args.mode)
    answer = engine.ask(args.question, top_k=args.top_k, mode=args.mode, verify=args.verify, filters=args.filters)
    _print_json(answer) if args.json else _print_answer(answer)
    return 0


def _loaded(make: Callable, mode: str | None):
    """The engine with its models and index loaded, under a "loading model…" line on a terminal (off a
    terminal nothing is printed: logs and pipes get only the answers)."""
    with status(LOADING):
        engine = make()
        engine.resolve_mode(mode)  # generative without an LLM is refused before the model loads
        engine.warm_up()
    return engine


def cmd_chat(args: argparse.Namespace) -> int:
    from qa.schemas import Turn

    engine = _loaded(_engine, args.mode)
    history: list[Turn] = []
    print("Ask about the articles. /new starts a new conversation, /quit or Ctrl-D leaves.")
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print()
            return 0
        if line in ("/quit", "/exit"):
            return 0
        if line == "/new":
            history.clear()
            print("(new conversation)")
            continue
        if not line:
            continue
        try:
            answer = engine.ask(line, history=history, top_k=args.top_k, mode=args.mode, verify=args.verify, filters=args.filters)
        except QAError as err:
            print(f"qa: {err}")
            continue
        _print_answer(answer)
        history += [Turn(role="user", content=line), Turn(role="assistant", content=answer.answer)]


def cmd_docs(args: argparse.Namespace) -> int:
    library = _library(check_model=False)
    if args.docs_cmd == "list":
        docs = library.documents()
        if args.json:
            _print_json(docs)
        else:
            for d in docs:
                print(f"{d.id}\t{plural(d.chunks, 'chunk')}\t{d.title}\t{d.source}")
            print(plural(len(docs), "article"), file=sys.stderr)
    elif args.docs_cmd == "show":
        stored = library.document(args.id)
        _print_json(stored.article) if args.json else print(f"{stored.article.title}\n\n{stored.article.text}")
    else:
        library.delete(args.id)
        print(f"deleted {args.id}")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    report = _library(check_model=False).reindex(progress=True)
    print(f"re-indexed {plural(len(report.added), 'article')}; "
          f"{plural(report.sentences_embedded, 'sentence')} embedded in {report.seconds:.1f}s")  # fmt: skip
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from qa.config import Settings
    from server import create_app

    settings = Settings()
    host, port = args.host or settings.server.host, args.port or settings.server.port
    settings.server.host = host  # a name given with --host is one the server answers to
    print(f"serving on http://{host}:{port} (API docs at /docs); Ctrl-C stops", file=sys.stderr)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")
    return 0


# -- wiring --------------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="qa", description="Grounded, cited answers from news articles.")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("ingest", help="index files, folders or links (default: corpus/)")
    s.add_argument("paths", nargs="*", metavar="PATH|URL", help="files, folders, and http(s) links to articles or PDFs")
    s.add_argument("--prune", action="store_true", help="remove articles whose files are gone")
    s.add_argument("--replace", action="store_true",
                   help="a file named like a stored article of another story replaces it (default: added beside it)")  # fmt: skip
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_ingest)

    s = sub.add_parser("ask", help="answer one question")
    s.add_argument("question", nargs="?")
    s.add_argument("--json", action="store_true")
    s.add_argument("--top-k", type=int, default=None, metavar="N")
    s.add_argument("--batch", metavar="FILE", help="one question a line (- for stdin); prints JSON lines")
    add_mode_arguments(s, default=None, generative_help=ASK_MODE_HELP)
    _add_scope_arguments(s)
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("chat", help="multi-turn questions in the terminal")
    s.add_argument("--top-k", type=int, default=None, metavar="N")
    add_mode_arguments(s, default=None, generative_help=ASK_MODE_HELP)
    _add_scope_arguments(s)
    s.set_defaults(func=cmd_chat)

    s = sub.add_parser("docs", help="list, show or delete indexed articles")
    dsub = s.add_subparsers(dest="docs_cmd", required=True)
    d = dsub.add_parser("list")
    d.add_argument("--json", action="store_true")
    d = dsub.add_parser("show")
    d.add_argument("id")
    d.add_argument("--json", action="store_true")
    d = dsub.add_parser("delete")
    d.add_argument("id")
    s.set_defaults(func=cmd_docs)

    s = sub.add_parser("feeds", help="follow news feeds (RSS, Atom, JSON Feed): add, list, remove, refresh")
    fsub = s.add_subparsers(dest="feeds_cmd", required=True)
    f = fsub.add_parser("add", help="follow a feed and index its entries now")
    f.add_argument("url")
    f.add_argument("--name", help="default: the feed's own title")
    f.add_argument("--no-refresh", action="store_true", help="only follow it; its entries come at the next refresh")
    f = fsub.add_parser("list")
    f.add_argument("--json", action="store_true")
    f = fsub.add_parser("remove")
    f.add_argument("id")
    f = fsub.add_parser("refresh", help="fetch every feed's new entries (for cron; `qa serve` refreshes by itself)")
    f.add_argument("--force", action="store_true", help="also the feeds backing off after failures")
    f.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_feeds)

    s = sub.add_parser("serve", help="the web chat page and the HTTP API (default http://127.0.0.1:8000)")
    s.add_argument("--host", default=None, help="default: QA_SERVER_HOST or 127.0.0.1")
    s.add_argument("--port", type=int, default=None, help="default: QA_SERVER_PORT or 8000")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("reindex", help="re-embed every article with the configured model")
    s.set_defaults(func=cmd_reindex)

    for command in entry_points(group="qa.commands"):  # commands other packages add (evals: `qa eval`)
        command.load()(sub)
    return p


def _quiet_libraries() -> None:
    logging.basicConfig(level=logging.WARNING, format="qa: %(levelname)s: %(message)s")
    for name in ("chromadb", "httpx", "sentence_transformers", "transformers", "bm25s"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    few_arenas()  # before any thread starts (qa.ingest.heap)
    args = parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)[1:]
    if args.cmd in ("ask", "chat") and getattr(args, "top_k", None) is not None and not 1 <= args.top_k <= 50:
        print("qa: error: --top-k must be between 1 and 50", file=sys.stderr)
        return EXIT_USER_ERROR
    _quiet_libraries()
    try:
        if args.cmd in ("ask", "chat"):
            args.filters = _filters(args)
        return args.func(args)
    except QAError as err:
        print(f"qa: error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except ValidationError as err:  # a bad QA_* setting
        first = err.errors()[0]
        print(f"qa: error: bad setting {'.'.join(map(str, first['loc']))}: {first['msg']}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as err:  # the data directory cannot be written (full, read-only, no permission)
        failed = _storage_failure(err)
        if failed is None:
            raise
        print(f"qa: error: {failed}", file=sys.stderr)
        return EXIT_USER_ERROR


def _storage_failure(err: OSError):
    from qa.config import Settings
    from qa.errors import storage_error

    where = Path(err.filename).parent if isinstance(err.filename, str) else Settings().data_dir
    return storage_error(err, str(where), where)


if __name__ == "__main__":
    sys.exit(main())
