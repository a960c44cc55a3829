"""LlamaIndex's Chroma vector store, writing each sentence as its vector and what names it.

ChromaVectorStore.add also stores every node serialised (`_node_content`, ids of its source) and its
text, which nothing here reads: searches ask Chroma for ids and distances, and the snapshot holds the
rest (the text is the article's, kept once in the texts collection). The serialised nodes took about
half of Chroma's memory and disk per sentence (20,000 sentences: 95 MB of RSS and 80 MB on disk through
`add`, 61 MB and 40 MB without them); the texts a further 12 MB of RSS for a 4.9 MB article's 5,886
chunks (49 -> 37 MB written alone).
"""

from __future__ import annotations

from typing import Any, List

from llama_index.core.schema import BaseNode
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
        )  # fmt: skip
        return ids
