"""HTTP clients made of the standard library: API calls, many at once, and a browser session."""

import http.client
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.cookies import SimpleCookie


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    seconds: float
    cookies: list[str] = field(default_factory=list)

    def json(self):
        return json.loads(self.body or b"null")

    @property
    def outcome(self) -> str | int:
        """The error code of a refusal (`insufficient_funds`), else the status."""
        if self.status < 400:
            return self.status
        try:
            return self.json()["code"]
        except (ValueError, KeyError, TypeError):
            return f"{self.status} {self.body[:120]!r}"


class Http:
    """One request per connection, as independent clients make them."""

    def __init__(self, port: int, token: str | None = None):
        self.port, self.token = port, token

    def connect(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        connection.connect()
        return connection

    def call(self, method: str, path: str, body=None, *, headers=None, connection=None) -> Answer:
        headers = {"Accept-Language": "en", **(headers or {})}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        if isinstance(body, dict | list):
            body, headers["Content-Type"] = json.dumps(body, ensure_ascii=False).encode(), "application/json"
        connection = connection or self.connect()
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
            return Answer(
                status=response.status,
                headers={name.lower(): value for name, value in response.getheaders()},
                body=content,
                seconds=time.perf_counter() - started,
                cookies=response.msg.get_all("Set-Cookie") or [],
            )
        finally:
            connection.close()

    def api(self, method: str, path: str, body=None, **kwargs) -> Answer:
        return self.call(method, "/api/v1/" + path, body, **kwargs)


def at_once(port: int, requests: list[tuple]) -> tuple[list[Answer], float]:
    """Send each (token, method, API path, body, headers) from a thread and a connection
    of its own, all released together once every connection is open.
    Returns the answers in order and the seconds from the release to the last answer."""
    answers: list[Answer | BaseException | None] = [None] * len(requests)
    released: list[float] = []
    barrier = threading.Barrier(len(requests), action=lambda: released.append(time.perf_counter()))

    def send(index: int, token: str, method: str, path: str, body, headers) -> None:
        client = Http(port, token)
        try:
            connection = client.connect()
            barrier.wait(timeout=60)
            answers[index] = client.api(method, path, body, headers=headers, connection=connection)
        except BaseException as error:
            answers[index] = error

    threads = [threading.Thread(target=send, args=(i, *request), daemon=True) for i, request in enumerate(requests)]
    return run_all(threads, answers), time.perf_counter() - released[0]


def in_parallel(port: int, requests: list[tuple], concurrency: int) -> tuple[list[Answer], float]:
    """Send each (token, method, API path, body, headers) from `concurrency` threads
    taking the next one as soon as their last is answered, as a busy client does.
    Returns the answers in order and the seconds from the first request to the last answer."""
    answers: list[Answer | BaseException | None] = [None] * len(requests)
    pending = iter(range(len(requests)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(pending, None)
            if index is None:
                return
            token, method, path, body, headers = requests[index]
            try:
                answers[index] = Http(port, token).api(method, path, body, headers=headers)
            except BaseException as error:
                answers[index] = error

    threads = [threading.Thread(target=work, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    return run_all(threads, answers), time.perf_counter() - started


def run_all(threads: list[threading.Thread], answers: list) -> list[Answer]:
    """Start the threads, wait for them, and raise unless every request got an answer."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    broken = [answer for answer in answers if not isinstance(answer, Answer)]
    if broken:
        raise RuntimeError(f"{len(broken)} of {len(answers)} requests got no answer, e.g. {broken[0]!r}")
    return answers


def latency(answers: list[Answer]) -> str:
    times = sorted(answer.seconds for answer in answers)
    return f"p50 {times[len(times) // 2]:.2f} s, max {times[-1]:.2f} s"


class Browser:
    """A signed-in user of the pages: its cookies, each form's hidden fields, no redirect followed."""

    def __init__(self, port: int):
        self.http, self.cookies = Http(port), {}

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> Answer:
        headers = {"Accept-Language": "zh-hans", "Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if content_type:
            headers["Content-Type"] = content_type
        answer = self.http.call(method, path, body, headers=headers)
        for line in answer.cookies:
            for name, morsel in SimpleCookie(line).items():
                self.cookies[name] = morsel.value
        return answer

    def page(self, path: str) -> str:
        answer = self.request("GET", path)
        if answer.status != 200:
            raise RuntimeError(f"GET {path}: {answer.status}")
        return answer.body.decode()

    def hidden_fields(self, path: str) -> dict[str, str]:
        """The CSRF token and the once-only submission key of the page's form."""
        html = self.page(path)
        fields = {}
        for name in ("csrfmiddlewaretoken", "submission"):
            match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
            if match:
                fields[name] = match.group(1)
        return fields

    def post(self, path: str, fields: dict, files: dict[str, tuple[str, bytes]] | None = None) -> Answer:
        body, content_type = multipart(fields, files or {})
        return self.request("POST", path, body, content_type)

    def sign_in(self, username: str, password: str) -> None:
        fields = {**self.hidden_fields("/accounts/login/"), "username": username, "password": password}
        answer = self.post("/accounts/login/", fields)
        if answer.status != 302 or "sessionid" not in self.cookies:
            raise RuntimeError(f"signing in as {username}: {answer.status}")

    def json(self, path: str):
        return json.loads(self.page(path))


def multipart(fields: dict, files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for name, (filename, content) in files.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        parts.append(f"{head}Content-Type: application/octet-stream\r\n\r\n".encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
