"""LlamaIndex's Chroma vector store, writing each sentence as its text, its vector and what names it.

ChromaVectorStore.add also stores every node serialised (`_node_content`, ids of its source), which
nothing here reads: searches ask Chroma for ids and distances, and the snapshot holds the rest. Those
fields took about half of Chroma's memory and disk per sentence (20,000 sentences: 95 MB of RSS and
80 MB on disk through `add`, 61 MB and 40 MB as written here).
"""

from __future__ import annotations

from typing import Any, List

from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.vector_stores.chroma import ChromaVectorStore

KEPT = ("hash", "sent", "chunk")  # deletes and scoped searches filter on the hash


class SentenceStore(ChromaVectorStore):
    def add(self, nodes: List[BaseNode], **add_kwargs: Any) -> List[str]:
        if not nodes:
            return []
        ids = [n.node_id for n in nodes]
        self._collection.add(
            ids=ids, embeddings=[n.get_embedding() for n in nodes],
            metadatas=[{k: n.metadata[k] for k in KEPT} for n in nodes],
            documents=[n.get_content(metadata_mode=MetadataMode.NONE) for n in nodes],
        )  # fmt: skip
        return ids
