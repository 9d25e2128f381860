"""uvicorn's HTTP/1.1 protocol, answering requests it cannot parse (a `Content-Length: -1`, a
broken header) with the OpenAI error envelope instead of a plain-text 400: clients parse every
error body as JSON."""

from __future__ import annotations

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol


class EnvelopeH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        body = orjson.dumps({"error": {
            "message": f"We could not parse your HTTP request: {msg}",
            "type": "invalid_request_error", "param": None, "code": None}})
        headers = [(b"content-type", b"application/json"), (b"connection", b"close"),
                   (b"content-length", str(len(body)).encode())]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()
