"""The HTTP API through httpx: the session's tokens, refreshed on a 401."""
import time

import httpx

from convertix_cli import exitcodes, store
from convertix_cli.names import disposition_name, safe_name

API = "/api/v1"
TIMEOUT = httpx.Timeout(30.0, read=120.0)


class CliError(Exception):
    """Ends the command with `exit_code`, printing `message`."""

    def __init__(self, message, exit_code, code=None, details=None):
        super().__init__(message)
        self.message, self.exit_code, self.code, self.details = message, exit_code, code, details


def _exit_code(status):
    if status == 401:
        return exitcodes.AUTH
    if status == 503:
        return exitcodes.CONNECTION
    return exitcodes.REFUSED


def api_error(response):
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        error = {"code": f"HTTP_{response.status_code}", "message": response.reason_phrase}
    return CliError(f"{error.get('code')}: {error.get('message')}", _exit_code(response.status_code),
                    code=error.get("code"), details=error.get("details"))


class Client:
    def __init__(self, url):
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, timeout=TIMEOUT)
        self.session = store.load(self.url)
        self._formats = None

    def close(self):
        self.http.close()

    # --- requests ---
    def request(self, method, path, auth=True, **kwargs):
        """One request; on a 401 the token is refreshed and it is sent once more."""
        base_headers = kwargs.pop("headers", {})
        for attempt in range(2):
            headers = dict(base_headers)
            if auth:
                headers["Authorization"] = "Bearer " + self.access_token()
            try:
                response = self.http.request(method, API + path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                raise CliError(f"cannot reach {self.url}: {exc}", exitcodes.CONNECTION) from exc
            if response.status_code == 401 and auth and attempt == 0 and self._refresh():
                continue
            return response
        return response

    def call(self, method, path, expect=(200,), **kwargs):
        response = self.request(method, path, **kwargs)
        if response.status_code not in expect:
            raise api_error(response)
        return response

    def json(self, method, path, expect=(200,), **kwargs):
        return self.call(method, path, expect=expect, **kwargs).json()

    def formats(self):
        """GET /formats, asked once per command: what the server reads and
        writes, and its tables (file endings, final statuses)."""
        if self._formats is None:
            self._formats = self.json("GET", "/formats", auth=False)
        return self._formats

    # --- the session ---
    def access_token(self):
        if not self.session:
            raise CliError(f"not signed in to {self.url}: run `convertix login`", exitcodes.AUTH)
        if self.session["expires_at"] - time.time() < 10:
            self._refresh()
        return self.session["access_token"]

    def _refresh(self):
        try:
            response = self.http.post(API + "/auth/refresh", headers={
                "Authorization": "Bearer " + self.session["refresh_token"]})
        except httpx.TransportError as exc:
            raise CliError(f"cannot reach {self.url}: {exc}", exitcodes.CONNECTION) from exc
        if response.status_code != 200:
            store.save(self.url, None)
            raise CliError("the session has ended: run `convertix login` again", exitcodes.AUTH)
        body = response.json()
        self.session.update(access_token=body["access_token"],
                            expires_at=time.time() + body["expires_in"])
        store.save(self.url, self.session)
        return True

    def login(self, username, password):
        try:
            response = self.http.post(API + "/auth/login",
                                      json={"username": username, "password": password})
        except httpx.TransportError as exc:
            raise CliError(f"cannot reach {self.url}: {exc}", exitcodes.CONNECTION) from exc
        if response.status_code != 200:
            raise api_error(response)
        body = response.json()
        self.session = {"username": username, "access_token": body["access_token"],
                        "refresh_token": body["refresh_token"],
                        "expires_at": time.time() + body["expires_in"]}
        store.save(self.url, self.session)

    def logout(self):
        if self.session:
            self.request("POST", "/auth/logout")
        store.save(self.url, None)
        self.session = None


def filename_of(response, fallback):
    """A safe base name for a downloaded file: the server's name
    (`Content-Disposition`) cut down to what cannot leave a folder, or
    `fallback` (made safe too) when nothing of it is left."""
    return safe_name(disposition_name(response.headers.get("content-disposition")), fallback)
