"""A keep-alive HTTP/1.1 load generator that costs the server's cores as little as it can.

The benchmark's client runs on the same two cores as the servers it measures, and whatever CPU it
spends per request is taken from them: the faster server loses the larger share. SageMaker's own
front end runs elsewhere. http.client with one thread per connection spends much more
CPU per request (header objects, email-style response parsing, the GIL passed between threads);
this client keeps every connection in one thread on one selector, sends a request prepared once
as bytes, and reads only the status line and Content-Length of each answer.
"""
import selectors
import socket
import time

_HEADER_END = b"\r\n\r\n"


class ResponseError(RuntimeError):
    pass


def request_bytes(host, port, path, body, content_type, accept, method="POST", headers=None):
    """One request as bytes; a content type or accept of None is left out, `headers` are added."""
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s:%d" % (host, port)]
    for name, value in (("Content-Type", content_type), ("Accept", accept)):
        if value is not None:
            lines.append("%s: %s" % (name, value))
    lines += ["%s: %s" % item for item in (headers or {}).items()]
    lines += ["Content-Length: %d" % len(body), "Connection: keep-alive"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection:
    __slots__ = ("sock", "buffer", "sent_at", "status", "expected", "response", "body_at", "closing")

    def __init__(self, address):
        self.sock = socket.create_connection(address, timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buffer = b""
        self.sent_at = 0.0
        self.status = None
        self.expected = None  # bytes of the whole response, once its header is in
        # The last whole response (its body from body_at), and whether it said Connection: close.
        self.response, self.body_at, self.closing = b"", 0, False

    def send(self, request):
        self.sent_at = time.monotonic()
        self.sock.setblocking(True)
        self.sock.sendall(request)
        self.sock.setblocking(False)

    def receive(self):
        """Reads what the socket holds; returns True once a whole response is in."""
        data = self.sock.recv(1 << 20)
        if not data:
            raise ResponseError("the server closed a keep-alive connection")
        self.buffer += data
        if self.expected is None:
            end = self.buffer.find(_HEADER_END)
            if end < 0:
                return False
            head = self.buffer[:end].decode("latin-1")
            lines = head.split("\r\n")
            self.status = int(lines[0].split(" ", 2)[1])
            length = None
            self.closing = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection":
                    self.closing = value.strip().lower() == "close"
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    raise ResponseError("chunked responses are not supported by this client")
            if length is None:
                raise ResponseError("a response without Content-Length: %r" % lines[0])
            self.body_at = end + len(_HEADER_END)
            self.expected = self.body_at + length
        if len(self.buffer) < self.expected:
            return False
        if len(self.buffer) > self.expected:
            raise ResponseError("the server sent more than one response to one request")
        self.response, self.buffer, self.expected = self.buffer, b"", None
        return True


def run(host, port, request, concurrency, seconds, warmup=1.0):
    """Keeps `concurrency` copies of `request` (bytes from request_bytes) in flight on as many
    keep-alive connections for `warmup` + `seconds`; returns (requests/s, latencies in s) of the
    answers that arrived within the measured window. Raises ResponseError if any answer was not a
    200."""
    connections = [_Connection((host, port)) for _ in range(concurrency)]
    selector = selectors.DefaultSelector()
    latencies, errors = [], {}
    start = time.monotonic()
    begin, end = start + warmup, start + warmup + seconds
    try:
        for connection in connections:
            selector.register(connection.sock, selectors.EVENT_READ, connection)
            connection.send(request)
        busy = len(connections)
        while busy:
            events = selector.select(timeout=60)
            if not events:
                raise ResponseError("no answer for 60 s")
            for key, _ in events:
                connection = key.data
                if not connection.receive():
                    continue
                done = time.monotonic()
                if connection.status != 200:
                    errors[connection.status] = errors.get(connection.status, 0) + 1
                if begin <= done <= end:
                    latencies.append(done - connection.sent_at)
                if done < end:
                    connection.send(request)
                else:
                    selector.unregister(connection.sock)
                    busy -= 1
    finally:
        selector.close()
        for connection in connections:
            connection.sock.close()
    if errors:
        raise ResponseError("%d requests failed (statuses %s)" % (sum(errors.values()), sorted(errors)))
    return len(latencies) / seconds, latencies
