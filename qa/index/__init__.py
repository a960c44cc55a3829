"""What is indexed and how it is searched: the Chroma store, the snapshot with BM25, the hybrid retriever."""
