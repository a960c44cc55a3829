"""The shipped models' files: checksums, onnxruntime sessions, the bundled embedder. Imported by the
factory (qa.backends) and by the models themselves; it imports nothing of ours above qa.config."""
