"""Edge: the web — the query log's side: searches and clicks logged, 热门搜索, /admin/stats behind a token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, jsonify, redirect, render_template, request, url_for

from searchsvc.search.model import SearchResult
from searchsvc.stats.log import MAX_SESSION_CHARS, Click, QueryLog, Search, log_path
from searchsvc.stats.report import MAX_LIMIT, Blocklist, QueryCount, chart_bars, popular, read_report
from searchsvc.web.errors import error_response

QUERY_LOG = "searchsvc.query_log"  # the app.extensions keys this module owns
POPULAR = "searchsvc.popular"
ADMIN_COOKIE = "searchsvc_admin"
POPULAR_SECONDS = 60.0  # how long a worker reuses the popular queries it read
LOOPBACK = ("127.0.0.1", "::1")


def init_app(app: Flask) -> None:
    """The query log beside the index (unless STATS is False) and the routes that read it."""
    stats = app.config["STATS"]
    if stats is not False:
        backend = app.config["BACKEND"]
        index_dir = Path(backend.index_dir if backend else app.config["INDEX_DIR"])
        app.extensions[QUERY_LOG] = QueryLog(log_path(index_dir, stats), days=app.config["STATS_DAYS"])
    else:
        app.extensions[QUERY_LOG] = None
    blocklist = app.config["POPULAR_BLOCKLIST"]
    app.extensions[POPULAR] = (Blocklist(Path(blocklist) if blocklist else None), {})
    app.add_url_rule("/api/click", "api_click", api_click, methods=["POST"])
    app.add_url_rule("/api/popular", "api_popular", api_popular)
    app.add_url_rule("/admin/stats", "admin_stats", admin_stats)
    app.add_url_rule("/admin/login", "admin_login", admin_login, methods=["POST"])


def query_log(app: Flask) -> QueryLog | None:
    return app.extensions.get(QUERY_LOG)  # type: ignore[no-any-return]


def log_search(result: SearchResult, session: str | None) -> None:
    """Log a reader's search (not a filter alone); `session`, the page load's random id, folds its prefix chain."""
    found = query_log(current_app)
    if found is None or not result.request.q.strip():
        return
    found.record(Search(typed=result.request.q, hits=result.total, page=result.request.page, backend=_backend(),
                        session=session))


def new_session() -> str:
    """A random id for a page the server renders with results: its script reports clicks with it."""
    return secrets.token_hex(12)


def _backend() -> str:
    backend = current_app.config["BACKEND"]
    return backend.kind if backend else "whoosh"


def api_click() -> Response:
    """A reader opened a hit (navigator.sendBeacon): `sid`, `position` (1 = the first hit), `id`."""
    session, post = request.form.get("sid", ""), request.form.get("id", "")
    try:
        position = int(request.form.get("position", ""))
    except ValueError:
        position = 0
    if not 0 < len(session) <= MAX_SESSION_CHARS or not 0 < position <= 10_000 or len(post) > 1000:
        return error_response(400, "bad_request", "a click needs sid, position (1-10000) and id")
    found = query_log(current_app)
    if found is not None:
        found.record(Click(session=session, post=post, position=position))
    return Response(status=204)


def popular_queries(limit: int = 8) -> tuple[QueryCount, ...]:
    """The week's most searched queries that found posts, read at most every POPULAR_SECONDS."""
    log = query_log(current_app)
    if log is None:
        return ()
    blocklist, cache = current_app.extensions[POPULAR]
    found = cache.get(limit)
    if found is None or time.monotonic() - found[0] > POPULAR_SECONDS:
        try:
            found = cache[limit] = (time.monotonic(), popular(log.path, limit, blocklist.queries()))
        except (sqlite3.Error, OSError) as exc:  # the page still answers without them
            current_app.logger.warning("query log: popular queries not read from %s: %s", log.path, exc)
            return ()
    return found[1]  # type: ignore[no-any-return]


def api_popular() -> Response:
    try:
        limit = int(request.args.get("limit", "8"))
    except ValueError:
        limit = 0
    if not 0 < limit <= MAX_LIMIT:
        return error_response(400, "bad_request", f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return jsonify({"queries": [{"query": q.query, "searches": q.searches} for q in popular_queries(limit)]})


def _cookie_value(token: str) -> str:
    """What the login cookie holds: derived from the token, never the token itself."""
    return hmac.new(token.encode("utf-8"), b"searchsvc admin session", hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _admin_denied() -> Any:
    """None when the request may see the stats; else the page that says why (401 or 403)."""
    token = current_app.config["ADMIN_TOKEN"]
    if not token:  # loopback only, and not through a proxy (which would make every reader loopback)
        proxied = request.headers.get("X-Forwarded-For") or request.headers.get("Forwarded")
        if request.remote_addr in LOOPBACK and not proxied:
            return None
        return _login_page(403, "未设置 SEARCHSVC_ADMIN_TOKEN：统计页只对本机开放。")
    header = request.headers.get("Authorization", "").encode("latin-1", "replace").decode("utf-8", "replace")
    if header.startswith("Bearer "):  # (HTTP carries header bytes as latin-1: a UTF-8 token reads back whole)
        return None if _same(header[len("Bearer "):].strip(), token) else _login_page(401, "令牌不正确。")
    cookie = request.cookies.get(ADMIN_COOKIE)
    if cookie is not None and _same(cookie, _cookie_value(token)):
        return None
    return _login_page(401, "请输入管理令牌。" if cookie is None else "登录已失效，请重新输入令牌。")


def _login_page(status: int, message: str) -> Any:
    response = current_app.make_response((render_template("admin_login.html", message=message,
                                                          form=status == 401), status))
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="searchsvc admin"'
    return response


def admin_login() -> Any:
    token = current_app.config["ADMIN_TOKEN"]
    if not token:
        return _login_page(403, "未设置 SEARCHSVC_ADMIN_TOKEN：统计页只对本机开放。")
    if not _same(request.form.get("token", ""), token):
        return _login_page(401, "令牌不正确。")
    response = redirect(url_for("admin_stats"), code=303)
    response.set_cookie(ADMIN_COOKIE, _cookie_value(token), httponly=True, samesite="Strict", secure=request.is_secure,
                        path="/admin")
    return response


def admin_stats() -> Any:
    denied = _admin_denied()
    if denied is not None:
        return denied
    try:
        days = min(max(int(request.args.get("days", "30")), 1), 366)
    except ValueError:
        days = 30
    log = query_log(current_app)
    report = read_report(log.path, days=days) if log is not None else None
    response = current_app.make_response(render_template(
        "admin_stats.html", report=report, days=days, bars=chart_bars(report.per_day) if report else ()))
    response.headers["Cache-Control"] = "no-store"
    return response
