"""Collection throughput against a local PagerDuty-like server (issue 3 / issue 7: within 1.2x of the ideal).

A server on 127.0.0.1 (in its own process, so it does not compete with the collector for the GIL) answers
``GET /services/{id}`` after ``--latency-ms``; the real ``pagerduty`` collector and ``run_collection`` collect
``Service`` for ``--n`` entities at ``--concurrency`` into a fresh fact store, then run again: the second (warm)
run must make 0 requests because every fact is fresh. Prints the wall times against the ideal
N * latency / concurrency and the request counts (as counted by the server). "CPU s" is the collecting process's
CPU time (``time.process_time``: the event loop plus the store thread), "loop s" the event loop's alone (the
thread that runs it, ``time.thread_time``): compare those, not wall time, between versions on a busy machine.

The "bare" row is the reference measured in the same run against the same server: plain ``httpx.AsyncClient``
(one pool of ``--concurrency`` connections, an ``asyncio.Semaphore``), the same N GETs, each body parsed as JSON,
nothing stored. Target (issue 7 / issue 16): the cold run within 1.2x of the ideal, or within 1.1x of bare httpx,
and 0 requests on the warm run.

Run from the repository root::

    python bench/bench_collect.py --n 2000 --latency-ms 50 --concurrency 32
    python bench/bench_collect.py --host gitlab --n 2000 --latency-ms 50 --concurrency 32

``--host gitlab``: the ``gitlab`` collector's ``ProjectDetails`` instead, each entity a project
(``gitlab.com/project-slug: bench/service-<i>``) on a self-hosted GitLab at the server's ``127.0.0.1:<port>``
(``integrations.gitlab``), so the request path carries the URL-encoded project path (``bench%2Fservice-1``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from soundcheck_cli.catalog.model import Entity  # noqa: E402
from soundcheck_cli.collectors.runner import run_collection  # noqa: E402
from soundcheck_cli.config.model import CollectorSettings, Settings  # noqa: E402
from soundcheck_cli.facts.store import open_store  # noqa: E402


def _serve(latency: float, ready: multiprocessing.Queue, counter: multiprocessing.Value, host: str = "pagerduty") -> None:  # type: ignore[type-arg]
    """A minimal HTTP/1.1 keep-alive server: every request is answered after ``latency`` seconds."""

    class Protocol(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]
            self.buffer = b""

        def data_received(self, data: bytes) -> None:
            self.buffer += data
            while b"\r\n\r\n" in self.buffer:
                head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
                path = head.split(b" ", 2)[1].split(b"?")[0].decode()
                if path == "/__count":
                    self._reply(json.dumps({"requests": counter.value}).encode(), 0)
                    continue
                with counter.get_lock():
                    counter.value += 1
                sid = path.rsplit("/", 1)[-1]
                if host == "gitlab":  # GET /api/v4/projects/bench%2Fservice-<i>: a few fields of GitLab's project
                    name = sid.replace("%2F", "/")
                    body = json.dumps({"id": len(name), "path_with_namespace": name, "default_branch": "main",
                                       "visibility": "private", "archived": False}).encode()
                else:
                    body = json.dumps({"service": {"id": sid, "name": f"Service {sid}", "status": "active"}}).encode()
                self._reply(body, latency)

        def _reply(self, body: bytes, delay: float) -> None:
            response = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            loop = asyncio.get_running_loop()
            if delay:
                loop.call_later(delay, self._write, response)
            else:
                self._write(response)

        def _write(self, response: bytes) -> None:
            if not self.transport.is_closing():
                self.transport.write(response)  # type: ignore[attr-defined]

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Protocol, "127.0.0.1", 0, backlog=1024)
        ready.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def _entities(n: int, host: str = "pagerduty") -> list[Entity]:
    def annotations(i: int) -> dict[str, str]:
        if host == "gitlab":
            return {"gitlab.com/project-slug": f"bench/service-{i}"}
        return {"pagerduty.com/service-id": f"P{i:06d}"}

    return [
        Entity.from_data(
            {
                "apiVersion": "backstage.io/v1alpha1",
                "kind": "Component",
                "metadata": {"name": f"service-{i}", "annotations": annotations(i)},
                "spec": {"type": "service", "lifecycle": "production", "owner": "team-a"},
            }
        )
        for i in range(n)
    ]


async def _bare_httpx(port: int, n: int, concurrency: int) -> None:
    """The same requests with plain httpx: the floor a collector built on it can reach on this machine."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    slots = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits) as client:

        async def one(i: int) -> None:
            async with slots:
                response = await client.get(f"/services/P{i:06d}")
                response.raise_for_status()
                response.json()

        await asyncio.gather(*(one(i) for i in range(n)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="entities (default 2000)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="server latency per request (default 50)")
    parser.add_argument("--concurrency", type=int, default=32, help="collector concurrency (default 32)")
    parser.add_argument("--batch-size", type=int, default=None, help="collector batchSize (default: the runtime's)")
    parser.add_argument("--host", choices=("pagerduty", "gitlab"), default="pagerduty", help="the API and collector")
    args = parser.parse_args()

    ready: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    counter = multiprocessing.Value("l", 0)
    server = multiprocessing.Process(target=_serve, args=(args.latency_ms / 1000, ready, counter, args.host), daemon=True)
    server.start()
    port = ready.get(timeout=10)
    block: dict = {
        "token": "bench-token",
        "server": f"http://127.0.0.1:{port}",
        "concurrency": args.concurrency,
        "frequency": {"hours": 1},
        "collects": [{"type": "Service"}],
    }
    collector_id = args.host
    app_config: dict = {}
    if args.host == "gitlab":
        block = {"concurrency": args.concurrency, "frequency": {"hours": 1}, "collects": [{"type": "ProjectDetails"}]}
        app_config["integrations"] = {"gitlab": [
            {"host": f"127.0.0.1:{port}", "apiBaseUrl": f"http://127.0.0.1:{port}/api/v4", "token": "bench-token"}]}
    if args.batch_size:
        block["batchSize"] = args.batch_size
    app_config["soundcheck"] = {"collectors": {collector_id: block}}
    settings = Settings(files=(), collectors=(CollectorSettings(collector_id, block),), app_config=app_config)
    entities = _entities(args.n, args.host)
    # Import what the first run would import lazily (httpcore, jsonschema, the collector), so that the timing is
    # the collection itself; process start-up is measured on its own (issue 7, ``soundcheck --help``).
    started = time.perf_counter()
    import httpcore  # noqa: F401
    import jsonschema  # noqa: F401

    import soundcheck_cli.http.client  # noqa: F401
    import soundcheck_cli.collectors.gitlab  # noqa: F401
    import soundcheck_cli.collectors.pagerduty  # noqa: F401
    imports = time.perf_counter() - started
    ideal = args.n * (args.latency_ms / 1000) / args.concurrency
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp, open_store(os.path.join(tmp, "store")) as store:
            for label in ("cold", "warm"):
                before = counter.value
                started = time.perf_counter()
                cpu0 = time.process_time()
                loop0 = time.thread_time()
                summary = run_collection(settings, entities, store, collector_ids=[collector_id])
                wall = time.perf_counter() - started
                cpu = time.process_time() - cpu0
                loop = time.thread_time() - loop0
                pd = summary.collector(collector_id)
                rows.append((label, wall, cpu, loop, counter.value - before, pd.collected, pd.fresh, pd.failed))
        before = counter.value
        started = time.perf_counter()
        cpu0 = time.process_time()
        loop0 = time.thread_time()
        asyncio.run(_bare_httpx(port, args.n, args.concurrency))
        wall, cpu, loop = time.perf_counter() - started, time.process_time() - cpu0, time.thread_time() - loop0
        rows.append(("bare", wall, cpu, loop, counter.value - before, args.n, 0, 0))
    finally:
        server.terminate()

    print(f"collection benchmark ({collector_id}): {platform.python_implementation()} {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, N={args.n}, latency={args.latency_ms:g} ms, concurrency={args.concurrency}")
    print(f"ideal N*latency/concurrency = {ideal:.3f} s (first-use imports, not timed: {imports:.3f} s)")
    print(f"{'run':<6}{'wall s':>9}{'x ideal':>9}{'CPU s':>8}{'loop s':>8}{'requests':>10}{'collected':>11}{'fresh':>7}"
          f"{'failed':>8}")
    for label, wall, cpu, loop, requests, collected, fresh, failed in rows:
        ratio = f"{wall / ideal:.2f}" if label != "warm" else "-"
        print(f"{label:<6}{wall:>9.3f}{ratio:>9}{cpu:>8.2f}{loop:>8.2f}{requests:>10}{collected:>11}{fresh:>7}{failed:>8}")
    cold, warm, bare = rows
    print(f"cold / bare httpx = {cold[1] / bare[1]:.2f}")
    ok = (cold[1] <= 1.2 * ideal or cold[1] <= 1.1 * bare[1]) and warm[4] == 0
    print(f"target: cold within 1.2x of ideal or 1.1x of bare httpx, and 0 warm requests -> {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
