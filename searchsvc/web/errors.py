"""Edge: the web — errors as the one JSON envelope for the API, as a page for readers."""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from searchsvc.backends.base import BackendUnavailable
from searchsvc.search.errors import IndexMissing
from searchsvc.search.parse import QueryError


def init_app(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(IndexMissing, _no_index)
    app.register_error_handler(BackendUnavailable, _unavailable)
    app.register_error_handler(QueryError, _bad_request)
    app.register_error_handler(Exception, _unexpected)


def error_response(status: int, code: str, message: str) -> Response:
    """The one JSON error envelope of the API."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    return response


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path in ("/healthz", "/search.atom")


def _bad_request(exc: QueryError) -> Response:
    return error_response(400, "bad_request", str(exc))


def _http_error(exc: HTTPException) -> Any:
    code = (exc.name or "error").lower().replace(" ", "_")
    if _wants_json():
        return error_response(exc.code or 500, code, exc.description or code)
    return render_template("error.html", status=exc.code, message=exc.description), exc.code


def _no_index(exc: IndexMissing) -> Any:
    message = f"{exc.reason} Run `searchsvc reindex` first."
    if _wants_json():
        return error_response(503, "no_index", message)
    return render_template("error.html", status=503, message=message), 503


def _unavailable(exc: BackendUnavailable) -> Any:
    current_app.logger.warning("%s", exc)  # the message never holds the API key
    if _wants_json():
        return error_response(503, "search_unavailable", "the search cluster is not answering; try again shortly")
    return render_template("error.html", status=503, message="搜索服务暂时不可用，请稍后再试。"), 503


def _unexpected(exc: Exception) -> Any:
    current_app.logger.exception("unexpected error on %s", request.path)
    if _wants_json():
        return error_response(500, "internal_error", "the server could not answer this request")
    return render_template("error.html", status=500, message="服务器出错了，请稍后再试。"), 500
