"""Shared fixtures: real Chroma (embedded in tmp_path, or a `chroma run` server), the real bundled
embedding model loaded once per session, and an isolated data directory for every test."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from qa import backends
from qa.config import ChromaSettings, EmbeddingSettings, Settings
from qa.engine import QAEngine
from tests.support.helpers import CORPUS, chroma_run, started


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own data directory and no stray QA_* settings."""
    for key in list(os.environ):
        if key.startswith("QA_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("QA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def embed_model():
    """The bundled all-MiniLM-L6-v2, loaded once; backends caches it for in-process CLI calls too."""
    return backends.embedding_model(EmbeddingSettings())


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory):
    """A real `chroma run` process on loopback, shared by the session."""
    with chroma_run(tmp_path_factory.mktemp("chroma-server")) as (host, port, _):
        yield (host, port)


@pytest.fixture(params=["embedded", "server"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for both Chroma modes: the same suite runs embedded and against `chroma run`."""
    if request.param == "server":
        host, port = request.getfixturevalue("chroma_server")
        # a fresh collection prefix per test keeps tests independent on the shared server
        chroma = ChromaSettings(host=host, port=port, collection=f"t{uuid.uuid4().hex[:12]}")
        return Settings(data_dir=tmp_path / "data", chroma=chroma)
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
def engine(settings: Settings, embed_model) -> QAEngine:
    return QAEngine(settings, embed_model=embed_model)


@pytest.fixture
def local_engine(tmp_path: Path, embed_model) -> QAEngine:
    return QAEngine(Settings(data_dir=tmp_path / "data"), embed_model=embed_model)


@pytest.fixture
def corpus_engine(local_engine: QAEngine) -> QAEngine:
    local_engine.library.ingest([CORPUS])
    return local_engine


@pytest.fixture
def cli(embed_model, capsys: pytest.CaptureFixture[str]):
    """Run `qa ARGS` in-process (the model stays loaded); returns (exit code, stdout, stderr)."""
    from qa.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


# -- the server ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def shared_corpus_engine(tmp_path_factory: pytest.TempPathFactory, embed_model) -> QAEngine:
    """One engine over corpus/ for the read-only server tests (questions never change the index)."""
    engine = QAEngine(Settings(data_dir=tmp_path_factory.mktemp("served")), embed_model=embed_model)
    engine.library.ingest([CORPUS])
    return engine


@pytest.fixture
def client(shared_corpus_engine: QAEngine):
    """The real app through FastAPI's TestClient (HTTP over the ASGI interface), lifespan included."""
    from fastapi.testclient import TestClient

    from server import create_app

    with started(TestClient(create_app(engine=shared_corpus_engine))) as c:
        yield c


@pytest.fixture(scope="session")
def live_url(shared_corpus_engine: QAEngine):
    """A real uvicorn server over corpus/ on a free loopback port."""
    from evals.live import serving
    from server import create_app

    with serving(create_app(engine=shared_corpus_engine)) as url:
        yield url


# -- generative mode -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def llm():
    """The scripted LLM server on loopback (OpenAI and Ollama protocols): the one test double here."""
    from evals.scripted_llm import LLMServer

    server = LLMServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def gen_engine(tmp_path_factory: pytest.TempPathFactory, embed_model, llm) -> QAEngine:
    """An engine over corpus/ whose LLM is the scripted server. The timeout is far above any scripted
    reply's time on a busy machine; the deadline tests use their own engine with a short one."""
    from qa.config import LLMSettings

    settings = LLMSettings(backend="openai", base_url=f"{llm.url}/v1", model="scripted", timeout=30)
    engine = QAEngine(Settings(data_dir=tmp_path_factory.mktemp("generative"), llm=settings), embed_model=embed_model)
    engine.library.ingest([CORPUS])
    return engine
