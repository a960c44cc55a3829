"""Feeds over HTTP (`/api/feeds`: list, follow, stop following, refresh now) and `qa serve`'s own
refresher, which takes the same write turns as every other writer."""

from __future__ import annotations

import logging
import threading

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.concurrency import run_in_threadpool

from qa.ingest.feeds import FeedInfo
from qa.library import Library
from qa.schemas import FIELD_LIMITS
from server import deps
from server.schemas import ErrorBody

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/feeds", tags=["feeds"], responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody},
                                                               422: {"model": ErrorBody}, 503: {"model": ErrorBody}})  # fmt: skip


class FeedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: StrictStr = Field(min_length=1, max_length=FIELD_LIMITS["url"], description="An RSS, Atom or JSON Feed link.")
    name: StrictStr | None = Field(None, min_length=1, max_length=200, description="Default: the feed's own title.")
    refresh: bool = Field(True, description="Index its entries before answering (false: at the next refresh).")


class Followed(BaseModel):
    feed: FeedInfo
    new: bool = Field(description="False when the feed was followed already.")


@router.get("", response_model=list[FeedInfo], dependencies=[Depends(deps.require_read)], summary="Feeds followed")
async def feeds(library: Library = Depends(deps.library)) -> list[FeedInfo]:
    return await run_in_threadpool(library.feeds.list)


@router.post("", response_model=Followed, status_code=201, dependencies=[Depends(deps.require_write), Depends(deps.json_body)],
             summary="Follow a feed: it is fetched and read first (a link that is not a feed is refused)",
             responses={413: {"model": ErrorBody}})  # fmt: skip
async def follow(body: FeedIn, response: Response, library: Library = Depends(deps.library)) -> Followed:
    info, new = await run_in_threadpool(library.feeds.add, body.url, name=body.name)
    if new and body.refresh:
        info = (await run_in_threadpool(library.feeds.refresh, [info.id]))[0]
    if not new:
        response.status_code = 200
    return Followed(feed=info, new=new)


@router.post("/{feed_id}/refresh", response_model=FeedInfo, dependencies=[Depends(deps.require_write)],
             summary="Fetch a feed's new entries now (also when it is backing off)", responses={404: {"model": ErrorBody}})  # fmt: skip
async def refresh(feed_id: str, library: Library = Depends(deps.library)) -> FeedInfo:
    return (await run_in_threadpool(library.feeds.refresh, [feed_id], force=True))[0]


class Unfollowed(BaseModel):
    removed: str


@router.delete("/{feed_id}", response_model=Unfollowed, dependencies=[Depends(deps.require_write)],
               summary="Stop following a feed (its articles stay)", responses={404: {"model": ErrorBody}})  # fmt: skip
async def unfollow(feed_id: str, library: Library = Depends(deps.library)) -> Unfollowed:
    await run_in_threadpool(library.feeds.remove, feed_id)
    return Unfollowed(removed=feed_id)


class Refresher:
    """Every QA_FEEDS_REFRESH_MINUTES, the feeds that are due; a feed another server refreshed within
    the interval, or is refreshing now, is left to it."""

    def __init__(self, runtime, minutes: float) -> None:
        self._runtime, self.minutes = runtime, minutes
        self.stop = threading.Event()

    def start(self) -> None:
        if self.minutes > 0:
            threading.Thread(target=self._run, name="qa-feeds", daemon=True).start()

    def _run(self) -> None:
        while not self._runtime.ready.wait(5):  # first once the engine is up; never if it failed to load
            if self.stop.is_set() or (self._runtime.done.is_set() and not self._runtime.retrying):
                return
        while not self.stop.is_set():
            try:
                self._runtime.library().feeds.refresh(due_only=True)
            except Exception as err:  # a refresh that fails is logged and tried again next time, never fatal
                log.warning("feed refresh failed: %s", err)
            self.stop.wait(self.minutes * 60)
