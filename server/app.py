"""The app factory. Settings and the engine are made once, in the lifespan, and reached through
dependencies (server/deps.py); the model and index load at start-up, not on the first request."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_swagger import patch_fastapi
from pydantic import BaseModel

from qa.config import Settings
from qa.engine import QAEngine
from server import api, deps, errors, openai_api, pages
from server.limits import BodyLimit
from server.runtime import Runtime


class Health(BaseModel):
    status: str
    detail: str | None = None
    articles: int | None = None
    llm: str | None = None  # backend and model behind generative answers; None: extractive only


def create_app(settings: Settings | None = None, *, engine: QAEngine | None = None) -> FastAPI:
    """Settings (from the environment unless given) and the engine are made once, in the lifespan;
    `engine` lets tests share one already-loaded model."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        s = engine.settings if engine is not None else settings or Settings()
        app.state.runtime = Runtime(s, (lambda: engine) if engine is not None else (lambda: QAEngine(s)))
        app.state.runtime.start()
        yield

    app = FastAPI(
        title="News Q&A", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None, swagger_ui_oauth2_redirect_url=None,
        description="Grounded, cited answers from news articles. Every answer sentence is an exact quote with offsets.",
    )  # fmt: skip
    patch_fastapi(app, redirect_from_root_to_docs=False)  # /docs with Swagger UI served from the package: offline
    errors.install(app)
    app.add_middleware(BodyLimit)
    app.mount("/static", StaticFiles(directory=pages.HERE / "static"), name="static")

    @app.get("/healthz", response_model=Health, tags=["health"], summary="Liveness")
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"], summary="Ready once the model and index are loaded",
             responses={503: {"model": Health}})  # fmt: skip
    async def readyz(rt: Runtime = Depends(deps.runtime)):
        if not rt.ready.is_set():
            body = Health(status="failed" if rt.error else "loading", detail=rt.error)
            return JSONResponse(body.model_dump(), status_code=503)
        llm = rt.settings.llm
        return Health(
            status="ready", articles=len(rt.engine().index.snapshot().articles),
            llm=f"{llm.backend}:{llm.model} at {llm.base_url}" if llm.enabled else None,
        )  # fmt: skip

    app.include_router(api.router)
    app.include_router(openai_api.router)
    app.include_router(pages.router)
    return app
