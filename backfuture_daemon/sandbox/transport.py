"""The sandbox's HTTP transport: aiohttp's server, except that a request it cannot parse gets a
fixed 400 and a one-line log. aiohttp's own answer and log quote the offending raw line, which
may be an `X-MEXC-APIKEY` or `KC-API-KEY` header. server.py runs every venue app on `AppRunner`.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

MALFORMED_BODY = "400 Bad Request: malformed HTTP request (request line or a header)\n"


class _QuietRequestHandler(RequestHandler):
    __slots__ = ()

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        # Name the class of the problem only: the parser's message quotes the raw bytes.
        log.warning(
            "malformed HTTP request from %s (%s); answered %s",
            request.remote,
            type(exc).__name__,
            status,
        )
        response = web.Response(status=status, text=MALFORMED_BODY, content_type="text/plain")
        response.force_close()
        return response


class _QuietServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _QuietRequestHandler(self, loop=self._loop, **self._kwargs)


class AppRunner(web.AppRunner):
    """`web.AppRunner` whose connections use `_QuietRequestHandler`."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _QuietServer
        return server
