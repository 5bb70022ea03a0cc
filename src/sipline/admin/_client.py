"""A small blocking client of the admin API, for the CLI console."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

__all__ = ["AdminClient", "AdminClientError"]


class AdminClientError(Exception):
    """The API could not be reached or answered an error (one line for people)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AdminClient:
    def __init__(self, url: str, token: str, *, timeout: float = 10.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise AdminClientError(f"{url!r} is not an http:// or https:// URL")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int | float | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> tuple[int, bytes, str]:
        """(status, body, content type) of a 2xx answer; ``AdminClientError`` otherwise."""
        target = self.url + path
        if query:
            pairs = {k: str(v) for k, v in query.items() if v is not None}
            if pairs:
                target += "?" + urllib.parse.urlencode(pairs)
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(target, data=data, method=method, headers=headers)  # noqa: S310 - http(s) checked above
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return response.status, response.read(), response.headers.get_content_type()
        except urllib.error.HTTPError as error:
            with error:
                raise AdminClientError(_error_text(error.code, error.read()), error.code) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise AdminClientError(
                f"cannot reach the admin API at {self.url} ({reason}); is `sipline serve` running?"
            ) from None

    def get_json(self, path: str, **query: str | int | float | None) -> Any:
        return _decode(self.request("GET", path, query=query)[1])

    def post_json(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return _decode(self.request("POST", path, body=body if body is not None else {})[1])

    def delete_json(self, path: str) -> Any:
        return _decode(self.request("DELETE", path)[1])


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        raise AdminClientError("the admin API answered something that is not JSON") from None


def _error_text(status: int, data: bytes) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        text = body["error"]
        problems = body.get("problems")
        if isinstance(problems, list) and problems:
            text += ": " + "; ".join(str(p) for p in problems)
        return f"{text} (HTTP {status})"
    return f"the admin API answered HTTP {status}"
