"""A scripted LLM server on loopback that speaks the real protocols: OpenAI's /v1/chat/completions
(JSON and Server-Sent Events) and Ollama's /api/chat (JSON and NDJSON). Tests set the next reply and
read back the requests it received; the generative bench uses it too. It stands in for an external LLM service only."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    text: str | Callable[[str], str] = ""  # or made from the prompt: "cite the passage that says X"
    status: int = 200
    delay: float = 0.0  # seconds before the reply starts (a slow or hung server)
    raw: bytes | None = None  # sent as the body instead of a well-formed reply (garbage)
    chunk_delay: float = 0.0  # seconds between streamed pieces
    chars: bool = False  # stream one character at a time, as tokenizers cut "[1]" into "[", "1", "]"
    hang_after: int | None = None  # streamed pieces sent before the server goes silent for `hang` seconds
    hang: float = 60.0


def reader(prompt: str) -> str:
    """A stand-in "model" that answers from the prompt it is given: the sentence of the passages that
    shares most (stemmed) words with the question, cited with its passage's number. It reads, it
    never knows."""
    from qa.text import sentence_spans, terms

    question = re.search(r"Question: (.*)", prompt)
    asked = set(terms(question.group(1) if question else ""))
    best, best_score = None, 0
    for number, body in re.findall(r'<passage number="(\d+)">(.*?)</passage>', prompt, re.S):
        text = body.split("Text:", 1)[-1]
        for start, end in sentence_spans(text):
            sentence = " ".join(text[start:end].split())
            if sentence.endswith("?") or not sentence.endswith((".", "!", "\u201d", '"')):
                continue  # questions and headline lines answer nothing
            score = len(asked & set(terms(sentence)))
            if score > best_score:
                best, best_score = (sentence, number), score
    return f"{best[0]} [{best[1]}]" if best else "The articles don't say."


class _Quiet(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A client that hangs up (its timeout, or a closed keep-alive connection) is not an error here."""
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


class LLMServer:
    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.default: Reply | None = None  # used when no scripted reply is queued
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self.httpd = _Quiet(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def script(self, *replies: "Reply | str | Callable[[str], str]") -> None:
        with self._lock:
            self.requests.clear()
            self.replies = [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def _next(self, body: dict) -> Reply:
        with self._lock:
            self.requests.append(body)
            reply = self.replies.pop(0) if self.replies else None
        if reply is None:
            reply = self.default or Reply(reader)
        prompt = body["messages"][-1]["content"] if body.get("messages") else ""
        return dataclasses.replace(reply, text=reply.text(prompt)) if callable(reply.text) else reply

    def start(self) -> "LLMServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet test output
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(
                        200, json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}).encode()
                    )
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if not self.path.rstrip("/").endswith(("/chat/completions", "/api/chat")):
                    # Ollama's client asks about the model first: answer, without using up a scripted reply
                    return self._send(
                        200, json.dumps({"model_info": {}, "capabilities": ["completion"], "details": {}}).encode()
                    )
                reply = server._next(body)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    return self._send(
                        reply.status,
                        json.dumps({"error": {"message": "scripted failure", "type": "server_error"}}).encode(),
                    )
                ollama = self.path.startswith("/api/chat")
                if reply.raw is not None:  # garbage where the protocol expects JSON, streamed or not
                    streamed = body.get("stream", ollama)
                    framed = reply.raw + b"\n" if ollama else b"data: " + reply.raw + b"\n\n"
                    return self._send(
                        200,
                        framed if streamed else reply.raw,
                        "text/event-stream" if streamed and not ollama else "application/json",
                    )
                if not body.get("stream", ollama):  # Ollama streams unless told not to
                    return self._send(200, json.dumps(self._whole(reply.text, body, ollama)).encode())
                self._stream(reply, body, ollama)

            def _whole(self, text: str, body: dict, ollama: bool) -> dict:
                if ollama:
                    return {"model": body.get("model"), "created_at": "2026-01-01T00:00:00Z", "done": True, "done_reason": "stop",
                            "message": {"role": "assistant", "content": text}}  # fmt: skip
                return {
                    "id": "chatcmpl-scripted", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }  # fmt: skip

            def _stream(self, reply: Reply, body: dict, ollama: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson" if ollama else "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                pieces = list(reply.text) if reply.chars else re.findall(r"\S+\s*|\s+", reply.text)
                try:
                    for i, piece in enumerate(pieces):
                        if i == reply.hang_after:
                            time.sleep(reply.hang)
                        if ollama:
                            line = (
                                json.dumps(
                                    {
                                        "model": body.get("model"),
                                        "message": {"role": "assistant", "content": piece},
                                        "done": False,
                                    }
                                )
                                + "\n"
                            )
                        else:
                            chunk = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": body.get("model"),
                                     "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}  # fmt: skip
                            line = f"data: {json.dumps(chunk)}\n\n"
                        self._chunk(line.encode())
                        if reply.chunk_delay:
                            time.sleep(reply.chunk_delay)
                    if ollama:
                        self._chunk(
                            (
                                json.dumps(
                                    {
                                        "model": body.get("model"),
                                        "message": {"role": "assistant", "content": ""},
                                        "done": True,
                                        "done_reason": "stop",
                                    }
                                )
                                + "\n"
                            ).encode()
                        )
                    else:
                        self._chunk(b"data: [DONE]\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (its timeout): nothing to clean up

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return Handler
