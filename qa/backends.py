"""The one factory for backends: the embedding model, the answer model, the Chroma client and the LLM. Imports are lazy so
that `qa --help` is instant, and a missing package names what to install."""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from qa.config import BUNDLED_MODEL, AnswerSettings, ChromaSettings, EmbeddingSettings, LLMSettings
from qa.errors import BackendUnavailable, IndexUnreachable
from qa.models.files import model_path

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.llms import LLM

    from qa.answer.model import AnswerModel

# Nothing may reach a model hub or a telemetry endpoint at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TQDM_DISABLE", "1")  # library progress bars; ours pass `disable` explicitly


def _missing(package: str, err: ImportError) -> BackendUnavailable:
    return BackendUnavailable(f"{err.name or package} is not installed: pip install '{package}'")


def model_label(settings: EmbeddingSettings) -> str:
    """The name recorded in the index, stable across machines. Both runtimes of the bundled model give the
    same vectors (to 1e-6), so they share a name; a variant whose vectors differ (int8) would need its own."""
    return "sentence-transformers/all-MiniLM-L6-v2" if settings.model == BUNDLED_MODEL else settings.model


@lru_cache(maxsize=4)
def _embedding(model: str, runtime: str, device: str, batch_size: int) -> "BaseEmbedding":
    if runtime == "onnx":
        from qa.models.embedding import OnnxEmbedding

        try:
            return OnnxEmbedding(batch_size=batch_size)
        except ImportError as err:
            raise _missing("onnxruntime", err) from err
        except Exception as err:  # onnxruntime raises its own types for a bad file
            raise BackendUnavailable(f"cannot load the ONNX embedder: {err}") from err
    try:
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
    except ImportError as err:
        raise _missing("llama-index-embeddings-huggingface", err) from err
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    try:
        return HuggingFaceEmbedding(
            model_name=model_path(model), device=device, embed_batch_size=batch_size, show_progress_bar=False
        )
    except OSError as err:
        raise BackendUnavailable(f"cannot load embedding model {model!r} offline: {err}") from err


def embedding_model(settings: EmbeddingSettings) -> "BaseEmbedding":
    """Loaded once per process and shared: loading costs seconds, embedding costs milliseconds."""
    return _embedding(settings.model, settings.runtime, settings.device, settings.batch_size)


@lru_cache(maxsize=2)
def _answer_model(path: str) -> "AnswerModel":
    from qa.answer.model import AnswerModel

    try:
        return AnswerModel(Path(path))
    except ImportError as err:
        raise _missing("onnxruntime", err) from err
    except (OSError, ValueError, KeyError) as err:
        raise BackendUnavailable(f"cannot load the answer model from {path}: {err}") from err


def answer_model(settings: AnswerSettings) -> "AnswerModel | None":
    """The trained answer model, loaded once per process; None for the linear ranker alone."""
    match settings.model:
        case "linear":
            return None
        case "trained":
            from qa.answer.model import MODEL_DIR

            return _answer_model(str(settings.model_path or MODEL_DIR))


def chroma_client(settings: ChromaSettings, *, data_dir: os.PathLike[str] | str) -> "ClientAPI":
    try:
        import chromadb
        from chromadb.config import Settings as ChromaClientSettings
    except ImportError as err:
        raise _missing("chromadb", err) from err
    if settings.host is None:
        path = os.path.join(data_dir, "chroma")
        os.makedirs(path, exist_ok=True)
        return _embedded_client(path)
    client_settings = ChromaClientSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        return chromadb.HttpClient(
            host=settings.host, port=settings.port, ssl=settings.ssl, settings=client_settings
        )
    except Exception as err:  # chromadb raises several types for an unreachable server
        raise IndexUnreachable(f"the search index (Chroma at {settings.host}:{settings.port}) is not reachable: {err}") from err


_SYSTEMS: dict[int, object] = {}  # id(client) -> the chromadb System it alone uses


def _embedded_client(path: str) -> "ClientAPI":
    """A client with a System of its own. chromadb shares one System per path in a process, and a System
    never reloads its in-memory vector index from disk; reopening after another process wrote needs a new one."""
    from chromadb.api import ServerAPI
    from chromadb.api.client import Client
    from chromadb.config import Settings as ChromaClientSettings
    from chromadb.config import System

    system = System(ChromaClientSettings(anonymized_telemetry=False, allow_reset=False, is_persistent=True, persist_directory=path))
    system.instance(ServerAPI)
    system.start()
    client = Client.from_system(system)
    _SYSTEMS[id(client)] = system
    return client


def release_chroma(client: "ClientAPI", *, after_s: float = 10.0) -> None:
    """Stop an embedded client's System once questions already running on it are done with it; with
    `after_s` 0, now, in this thread."""
    system = _SYSTEMS.pop(id(client), None)
    if system is not None and after_s <= 0:
        system.stop()
    elif system is not None:
        timer = threading.Timer(after_s, system.stop)
        timer.daemon = True
        timer.start()


def llm(settings: LLMSettings) -> "LLM | None":
    """The configured LLM through LlamaIndex's own integration, or None for extractive answers only.
    Retries are off: a failed call falls back to the extractive answer at once, within the timeout."""
    if settings.backend == "none":
        return None
    key = settings.api_key.get_secret_value() if settings.api_key else None
    if settings.backend == "ollama":
        try:
            from llama_index.llms.ollama import Ollama
        except ImportError as err:
            raise _missing("llama-index-llms-ollama", err) from err
        return Ollama(
            model=settings.model, base_url=settings.base_url, request_timeout=settings.timeout,
            temperature=settings.temperature, additional_kwargs={"num_predict": settings.max_tokens},
            headers={"Authorization": f"Bearer {key}"} if key else None,
        )  # fmt: skip
    try:
        from llama_index.llms.openai_like import OpenAILike
    except ImportError as err:
        raise _missing("llama-index-llms-openai-like", err) from err
    # No tokenizer: OpenAILike then never reaches for tiktoken, which downloads its tables at run time.
    return OpenAILike(
        model=settings.model, api_base=settings.base_url, api_key=key or "none", is_chat_model=True,
        max_tokens=settings.max_tokens, temperature=settings.temperature, timeout=settings.timeout, max_retries=0,
    )  # fmt: skip
