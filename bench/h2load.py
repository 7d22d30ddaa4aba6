"""Drives gRPC unary calls with h2load (nghttp2-client) and reads back what happened.

h2load is an HTTP/2 load generator written in C: it costs a fraction of a core
where a Python client would compete with the server for the same two cores.
It knows nothing about gRPC, so:

* each request body is a pre-serialised gRPC message (1 byte 0, 4-byte
  big-endian length, protobuf bytes) posted with `content-type:
  application/grpc` and `te: trailers`;
* h2load posts the same `-d` file on every request. The LD_PRELOAD shim
  (h2load_shim.c, built here with the system C compiler) hands it the next
  of N same-length bodies instead, so GetCohort reads a different id on
  every call and UpdateCohort never has two calls racing on one row;
* h2load counts HTTP 200 as success even when the gRPC status is an error;
  the shim counts the grpc-status values it sees, and those are the errors
  reported.

For HTTP/JSON through the gateway (grpc=False) a request is the method, one
of N URLs (h2load's --input-file, taken round robin) and an optional JSON
body, and any non-2xx status is the error.

For a mixed load from one process (`requests=`), the shim replaces each
request's path, authorization and body with the next of a list of whole
requests, and logs every call (its kind, start, latency and status), so one
h2load drives many methods, tenants and tokens, and each method's latency is
still known.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from cohorts.priority import lower_priority

SHIM_SOURCE = Path(__file__).with_name("h2load_shim.c")


def grpc_frame(message: bytes) -> bytes:
    """A gRPC length-prefixed message: uncompressed flag, length, bytes."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


INSTALL_HINT = "install it with `apt-get install nghttp2-client` (Debian, Ubuntu)"


class ToolMissing(RuntimeError):
    """A program the benchmark drives is not installed; the message says how to get it."""


def ensure_h2load() -> str:
    """The h2load executable (Debian's nghttp2-client); ToolMissing says how to install it."""
    found = shutil.which("h2load")
    if found is None:
        raise ToolMissing(f"the benchmark needs h2load: {INSTALL_HINT}")
    return found


def ensure_shim(build_dir: Path) -> Path:
    """The shim shared object, compiled once per source version."""
    source = SHIM_SOURCE.read_bytes()
    target = build_dir / f"h2load_shim-{hashlib.sha256(source).hexdigest()[:12]}.so"
    if target.exists():
        return target
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise ToolMissing("the benchmark builds a C shim for h2load: `apt-get install gcc`")
    build_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".tmp")
    subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(partial), str(SHIM_SOURCE), "-ldl"],
        check=True,
    )
    partial.rename(target)
    return target


@dataclass(frozen=True)
class Request:
    """One whole request of a mixed load: kind indexes the caller's own list of kinds."""

    kind: int
    path: str
    authorization: str
    body: bytes


def write_requests(path: Path, requests: Sequence[Request]) -> None:
    """The shim's requests file: a 16-byte header (kind and three lengths), then the bytes."""
    with path.open("wb") as out:
        for request in requests:
            target = request.path.encode()
            authorization = request.authorization.encode()
            out.write(
                struct.pack(
                    "=IIII", request.kind, len(target), len(authorization), len(request.body)
                )
            )
            out.write(target + authorization + request.body)


@dataclass(frozen=True)
class CallRecord:
    """One finished call of a mixed load, as the shim logged it (status -1: none seen)."""

    kind: int
    start_us: int
    latency_us: int
    grpc_status: int
    http_status: int


@dataclass
class H2Result:
    """What one h2load process reported, plus the shim's gRPC status counts."""

    label: str
    grpc: bool = True
    seconds: float = 0.0
    rps: float = 0.0
    done: int = 0
    succeeded: int = 0
    failed: int = 0
    errored: int = 0
    timeout: int = 0
    http_non_2xx: int = 0
    grpc_status: dict[int, int] = field(default_factory=dict)
    http_ok: int = 0
    http_failed: int = 0
    bodies: int = 0
    latencies_us: list[int] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    cpu_seconds: float = 0.0
    output: str = ""

    @property
    def grpc_ok(self) -> int:
        """Calls answered OK (warm-up included): grpc-status 0, or an HTTP 2xx."""
        return self.grpc_status.get(0, 0) if self.grpc else self.http_ok

    @property
    def grpc_errors(self) -> int:
        return sum(count for code, count in self.grpc_status.items() if code != 0)

    @property
    def errors(self) -> int:
        """Failed calls: gRPC errors (warm-up included) and h2load's own failures."""
        # h2load's "failed" already includes errored and non-2xx responses.
        if not self.grpc:
            unanswered = max(0, self.failed - self.http_non_2xx)  # resets, broken connections
            return self.http_failed + unanswered + self.timeout
        missing_status = max(0, self.succeeded - sum(self.grpc_status.values()))
        return self.grpc_errors + self.failed + self.timeout + missing_status


_FINISHED = re.compile(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s")
_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
    r"(\d+) errored, (\d+) timeout"
)
_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")


class H2Load:
    """One running h2load process sending rotating requests to one method."""

    def __init__(
        self,
        *,
        h2load: str,
        shim: Path,
        urls: list[str],
        bodies: list[bytes],
        headers: dict[str, str],
        clients: int,
        streams: int,
        duration: float,
        warmup: float,
        workdir: Path,
        label: str,
        niceness: int = 0,
        grpc: bool = True,
        requests: Sequence[Request] = (),
    ) -> None:
        if len({len(body) for body in bodies}) > 1:
            raise ValueError(f"{label}: rotating bodies must all have the same length")
        self.label = label
        self.grpc = grpc
        self.streams = streams
        self._dir = Path(tempfile.mkdtemp(prefix=f"{label}-", dir=workdir))
        data = self._dir / "body.bin"
        # h2load posts (and sends content-length) only with a -d file; the shim
        # then swaps in each request's own body.
        data.write_bytes(bodies[0] if bodies else requests[0].body if requests else b"")
        env = os.environ | {
            "LD_PRELOAD": str(shim),
            "H2SHIM_DATA": str(data),
            "H2SHIM_STATUS_OUT": str(self._dir / "status.txt"),
        }
        if requests:
            write_requests(self._dir / "requests.bin", requests)
            env |= {
                "H2SHIM_REQUESTS": str(self._dir / "requests.bin"),
                "H2SHIM_CALLS_OUT": str(self._dir / "calls.txt"),
            }
        elif len(bodies) > 1:
            (self._dir / "bodies.bin").write_bytes(b"".join(bodies))
            env |= {
                "H2SHIM_BODIES": str(self._dir / "bodies.bin"),
                "H2SHIM_BODY_LEN": str(len(bodies[0])),
            }
        command = [
            h2load,
            "-c",
            str(clients),
            "-m",
            str(streams),
            "-t",
            "1",
            "-D",
            f"{max(int(duration * 1000), 1)}ms",
            "--warm-up-time",
            f"{max(int(warmup * 1000), 1)}ms",
            "--log-file",
            str(self._dir / "requests.log"),
        ]
        if bodies or requests:
            command += ["-d", str(data)]
        for name, value in headers.items():
            command += ["-H", f"{name}: {value}"]
        if len(urls) > 1:
            (self._dir / "urls.txt").write_text("\n".join(urls) + "\n")
            command += ["--input-file", str(self._dir / "urls.txt")]
        else:
            command += urls
        self.command = command
        self._stdout = open(self._dir / "stdout.txt", "w")  # noqa: SIM115 - closed in wait()
        # h2load stands in for clients on other machines but shares the cores
        # with the server, so it runs at the server's priority (in a session
        # of its own, as the server is), neither ahead of it nor behind.
        at_servers_priority = functools.partial(lower_priority, niceness) if niceness else None
        self._process = subprocess.Popen(
            command,
            env=env,
            stdout=self._stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=at_servers_priority,  # noqa: PLW1509 - the harness starts no threads
        )

    @property
    def pid(self) -> int:
        return self._process.pid

    def local_ports(self, server_port: int) -> list[int]:
        """The client ports of this h2load's connections to server_port."""
        try:
            root = psutil.Process(self._process.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        ports = []
        for process in processes:
            try:
                connections = process.net_connections(kind="tcp")
            except psutil.NoSuchProcess:
                continue
            ports += [c.laddr.port for c in connections if c.raddr and c.raddr.port == server_port]
        return ports

    def wait(self) -> H2Result:
        """Wait for h2load to finish and parse its report, request log and status counts."""
        _, status, usage = os.wait4(self._process.pid, 0)
        self._process.returncode = os.waitstatus_to_exitcode(status)
        self._stdout.close()
        output = (self._dir / "stdout.txt").read_text(errors="replace")
        result = H2Result(
            label=self.label,
            grpc=self.grpc,
            output=output,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
        )
        if self._process.returncode != 0:
            print(output, file=sys.stderr)
            raise RuntimeError(f"{self.label}: h2load exited with {self._process.returncode}")
        finished = _FINISHED.search(output)
        requests = _REQUESTS.search(output)
        statuses = _STATUS.search(output)
        if finished is None or requests is None or statuses is None:
            print(output, file=sys.stderr)
            raise RuntimeError(f"{self.label}: cannot parse the h2load report")
        scale = 0.001 if finished.group(2) == "ms" else 1.0
        result.seconds = float(finished.group(1)) * scale
        result.rps = float(finished.group(3))
        total, _, done, succeeded, failed, errored, timeout = map(int, requests.groups())
        result.done, result.succeeded = done, succeeded
        result.failed, result.errored, result.timeout = failed, errored, timeout
        result.http_non_2xx = sum(int(n) for n in statuses.groups()[1:])
        status_file = self._dir / "status.txt"
        if status_file.exists():
            for line in status_file.read_text().splitlines():
                key, value = line.split()
                if key == "bodies":
                    result.bodies = int(value)
                elif key in ("http_ok", "http_failed"):
                    setattr(result, key, int(value))
                else:
                    result.grpc_status[int(key)] = int(value)
        calls = self._dir / "calls.txt"
        if calls.exists():
            for line in calls.read_text().splitlines():
                kind, start, latency, grpc_status, http_status = map(int, line.split())
                result.calls.append(CallRecord(kind, start, latency, grpc_status, http_status))
        log = self._dir / "requests.log"
        if log.exists():
            for line in log.read_text().splitlines():
                parts = line.split("\t")
                if len(parts) >= 3 and parts[1] != "-1":
                    result.latencies_us.append(int(parts[2]))
        shutil.rmtree(self._dir, ignore_errors=True)
        return result

    def kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()


def percentile(sorted_values: list[int], q: float) -> float:
    """Nearest-rank percentile of sorted values (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100 * len(sorted_values))))
    return float(sorted_values[rank - 1])
