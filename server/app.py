"""The app factory. Settings and the engine are made once, in the lifespan, and reached through
dependencies (server/deps.py); the model and index load at start-up, not on the first request."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_swagger import patch_fastapi
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp

from qa.config import ServerSettings, Settings
from qa.engine import QAEngine
from qa.errors import BackendUnavailable
from qa.ingest.heap import few_arenas
from server import api, deps, errors, feeds, library_pages, openai_api, pages, security
from server.limits import BodyLimit
from server.methods import Methods
from server.runtime import Runtime


class App(FastAPI):
    """FastAPI with the security and HEAD/OPTIONS layers outside Starlette's error middleware, so every
    response, a 500 included, carries the security headers."""

    def build_middleware_stack(self) -> ASGIApp:
        return security.Guard(Methods(super().build_middleware_stack(), self.router.routes), self.server_settings)

    def server_settings(self) -> ServerSettings:
        runtime = getattr(self.state, "runtime", None)  # made by the lifespan; the defaults until then
        return runtime.settings.server if runtime is not None else ServerSettings()


# What routes answer beyond what their decorators declare (better moved there when those files change).
ROUTE_RESPONSES: dict[object, dict[int, dict[str, Any]]] = {
    api.add_document: {200: {"description": "Nothing new: the articles were updated, unchanged or duplicates"}},
    api.ask: {409: {}},
    api.chat_stream: {409: {}},
    openai_api.chat_completions: {
        200: {"description": "A chat.completion; with `stream: true`, Server-Sent Events of chat.completion.chunk "
              "objects, ending with `data: [DONE]`", "content": {"text/event-stream": {}}},
        409: {},
    },
}  # fmt: skip


def _calls(dependant: Dependant) -> list[object]:
    return [c for d in dependant.dependencies for c in (d.call, *_calls(d))]


def statuses(route: Any, method: str) -> dict[int, dict[str, Any] | None]:
    """What a route can answer besides its declared success: the refusals of the layers around every
    route (Host check, cross-site check, body limit, validation) and of the dependencies it uses, and
    ROUTE_RESPONSES. `route` is an APIRoute, or the route context newer FastAPI gives for one."""
    out: dict[int, dict[str, Any] | None] = {400: None}
    if method in security.UNSAFE:
        out |= {403: None, 413: None}
    if route.dependant.path_params:
        out[404] = None
    if route.dependant.path_params or route.dependant.query_params or route.body_field or route.openapi_extra:
        out[422] = None
    for call in _calls(route.dependant):
        out |= dict.fromkeys(deps.REFUSALS.get(call, ()))
    return out | ROUTE_RESPONSES.get(route.endpoint, {})


class Health(BaseModel):
    status: str
    detail: str | None = None
    articles: int | None = None
    llm: str | None = None  # backend and model behind generative answers; None: extractive only


def create_app(settings: Settings | None = None, *, engine: QAEngine | None = None) -> FastAPI:
    """Settings (from the environment unless given) and the engine are made once, in the lifespan;
    `engine` lets tests share one already-loaded model."""

    few_arenas()  # served without `qa serve` too (uvicorn server.app:app): before the engine's threads

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        s = engine.settings if engine is not None else settings or Settings()
        app.state.runtime = Runtime(s, (lambda: engine) if engine is not None else (lambda: QAEngine(s)))
        app.state.runtime.start()
        refresher = feeds.Refresher(app.state.runtime, s.feeds.refresh_minutes)
        refresher.start()
        yield
        refresher.stop.set()

    app = App(
        title="News Q&A", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
        description="Grounded, cited answers from news articles. Every answer sentence is an exact quote with offsets.",
    )  # fmt: skip
    patch_fastapi(app, redirect_from_root_to_docs=False)  # /docs with Swagger UI served from the package: offline
    errors.install(app)
    errors.declare(app, statuses)
    app.add_middleware(BodyLimit)
    app.add_middleware(security.DocsPolicy)
    app.mount("/static", StaticFiles(directory=pages.HERE / "static"), name="static")

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"], summary="Ready once the model and index are loaded",
             responses={503: {"model": Health}})  # fmt: skip
    async def readyz(rt: Runtime = Depends(deps.runtime)):
        if not rt.ready.is_set():
            status = "unavailable" if rt.retrying else "failed" if rt.error else "loading"
            body = Health(status=status, detail=rt.error)
            return JSONResponse(body.model_dump(), status_code=503)
        llm = rt.settings.llm
        try:
            articles = await run_in_threadpool(lambda: rt.library().count())
        except BackendUnavailable as err:  # loaded, but Chroma went away since
            return JSONResponse(Health(status="unavailable", detail=str(err)).model_dump(), status_code=503)
        return Health(
            status="ready", articles=articles, llm=f"{llm.backend}:{llm.model} at {llm.base_url}" if llm.enabled else None,
        )  # fmt: skip

    app.include_router(api.router)
    app.include_router(feeds.router)
    app.include_router(openai_api.router)
    app.include_router(pages.router)
    app.include_router(library_pages.router)
    return app
