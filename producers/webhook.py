"""The webhook service: S3 event notifications POSTed over HTTP become commits and removals.

It accepts the same AWS JSON documents as the Kafka topic, one per request,
and responds only once the result is durable:

- 200: every record is committed, removed, ignored or a duplicate;
- 202: records wait in a quiet window (a restart before the window closes
  leaves them to the reconciler);
- 400: the body is not a notification; it went to the dead-letter topic;
- 413: the body is larger than the limit; nothing was recorded;
- 503: S3 or Kafka failed; the sender should retry later.

Requests are handled one at a time, so commits to one repo never race.
"""

from __future__ import annotations

import json
import logging
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, HTTPServer

from custody.errors import CustodyError, TransientError
from custody.kafka import DeadLetterWriter
from custody.settings import Settings
from custody.shutdown import StopSignal
from producers.context import ProducerContext
from producers.handling import MessageTicket, NotificationHandler
from producers.notifications import InvalidNotification, parse_message
from producers.retrying import StopRequested, retry_a_few
from producers.settings import KeyEncoding, ProducerSettings

log = logging.getLogger(__name__)

SERVICE = "producers-webhook"
MAX_BODY_BYTES = 10 * 1024 * 1024
ATTEMPTS = 3
TICK_S = 0.5


class WebhookRecord:
    """A request body in the shape `DeadLetterWriter` reads from a Kafka message.

    The "topic" names the endpoint and the "offset" counts requests since the
    service started, so dead letters of the webhook can be distinguished.
    """

    def __init__(self, endpoint: str, number: int, body: bytes) -> None:
        self._endpoint = endpoint
        self._number = number
        self._body = body

    def topic(self) -> str:
        return self._endpoint

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._number

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes:
        return self._body


class WebhookService:
    """An HTTP server on `webhook_host:webhook_port` that feeds a NotificationHandler."""

    def __init__(
        self,
        settings: Settings,
        producer_settings: ProducerSettings,
        *,
        stop: StopSignal,
        host: str | None = None,
        port: int | None = None,
        key_encoding: KeyEncoding | None = None,
    ) -> None:
        self.stop = stop
        self.key_encoding: KeyEncoding = key_encoding or producer_settings.webhook_key_encoding
        self.retry_delay_s = producer_settings.retry_delay_s
        self.context = ProducerContext(settings, producer_settings, service=SERVICE)
        self.handler = NotificationHandler(self.context, via="webhook", run=self._retry)
        self.dead_letters = DeadLetterWriter(self.context.producer, service=SERVICE)
        self.requests = 0
        address = (host or producer_settings.webhook_host, producer_settings.webhook_port if port is None else port)
        self.server = HTTPServer(address, _request_handler(self))
        self.server.timeout = TICK_S

    @property
    def address(self) -> tuple[str, int]:
        """Return the (host, port) the server listens on; the port is real even when 0 was asked for."""
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    @property
    def counters(self):
        """Return the outcome counters of the service."""
        return self.context.counters

    def run(self) -> None:
        """Serve requests until the stop signal is set."""
        host, port = self.address
        log.info("service=%s listening on http://%s:%d key_encoding=%s", SERVICE, host, port, self.key_encoding)
        try:
            while not self.stop.is_set():
                self.server.handle_request()
                self._flush_windows()
        finally:
            self.server.server_close()
            self.context.close()
            log.info("service=%s stopped counters=%s", SERVICE, dict(self.counters))

    def handle_body(self, body: bytes, path: str) -> tuple[HTTPStatus, dict]:
        """Process one request body; return the status and a JSON-ready response."""
        self.requests += 1
        request_id = uuid.uuid4().hex
        try:
            parsed = parse_message(body, key_encoding=self.key_encoding, source_id=f"webhook:{request_id}")
        except InvalidNotification as exc:
            return self._dead_letter(body, path, str(exc))

        if parsed.test_event:
            self.context.count("test events")
            return HTTPStatus.OK, {"request": request_id, "status": "test event ignored"}

        answered = False
        problems_found: list[str] = []

        def on_done(problems: list[str]) -> None:
            # Records that waited in a quiet window finish after the response was
            # sent, so their problems go to the dead-letter topic from here.
            problems_found.extend(problems)
            if problems and answered:
                self._dead_letter(body, path, "; ".join(problems))

        ticket = MessageTicket(len(parsed.notifications), on_done, problems=parsed.problems)
        try:
            self.handler.handle([(notification, ticket) for notification in parsed.notifications])
        except (TransientError, StopRequested) as exc:
            log.warning("service=%s request=%s failed: %s; responding 503 so the sender retries", SERVICE, request_id, exc)
            return HTTPStatus.SERVICE_UNAVAILABLE, {"request": request_id, "error": str(exc)}

        answered = True
        if problems_found:
            return self._dead_letter(body, path, "; ".join(problems_found))
        if not ticket.finished:
            return HTTPStatus.ACCEPTED, {"request": request_id, "status": "waiting in a quiet window"}
        return HTTPStatus.OK, {"request": request_id, "status": "recorded", "records": len(parsed.notifications)}

    def _dead_letter(self, body: bytes, path: str, reason: str) -> tuple[HTTPStatus, dict]:
        host, port = self.address
        record = WebhookRecord(f"webhook:http://{host}:{port}{path}", self.requests, body)
        try:
            self._retry(lambda: self.dead_letters.send(record, reason=reason, error_type="InvalidNotification"), "dead-letter delivery")  # type: ignore[arg-type]
        except TransientError as exc:
            return HTTPStatus.SERVICE_UNAVAILABLE, {"error": f"the record is invalid ({reason}) and the dead-letter topic failed: {exc}"}
        self.context.count("dead letters")
        return HTTPStatus.BAD_REQUEST, {"error": reason, "dead_lettered": True}

    def _flush_windows(self) -> None:
        try:
            self.handler.flush_due()
        except CustodyError as exc:
            # The windows stay open and are tried again on the next tick.
            log.warning("service=%s committing quiet windows failed: %s; retrying on the next tick", SERVICE, exc)

    def _retry(self, action, description: str):
        return retry_a_few(action, attempts=ATTEMPTS, delay_s=self.retry_delay_s, description=description, stop=self.stop)


def _request_handler(service: WebhookService) -> type[BaseHTTPRequestHandler]:
    class NotificationRequestHandler(BaseHTTPRequestHandler):
        server_version = "custody-webhook"

        def do_GET(self) -> None:  # noqa: N802 - name fixed by http.server
            if self.path.rstrip("/") in ("/health", "/healthz"):
                self._answer(HTTPStatus.OK, {"status": "ok"})
            else:
                self._answer(HTTPStatus.NOT_FOUND, {"error": f"no such path {self.path}; POST notifications to any path"})

        def do_POST(self) -> None:  # noqa: N802 - name fixed by http.server
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"body of {length} bytes is above the limit of {MAX_BODY_BYTES}"})
                return
            body = self.rfile.read(length)
            status, answer = service.handle_body(body, self.path)
            self._answer(status, answer)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature fixed by http.server
            log.debug("service=%s %s %s", SERVICE, self.address_string(), format % args)

        def _answer(self, status: HTTPStatus, answer: dict) -> None:
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return NotificationRequestHandler
