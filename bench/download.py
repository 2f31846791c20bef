"""Artifact download from a loopback S3 server: dflowctl's S3Store vs a bare minio loop.

Two cases, both `archive: none` as Argo stores them:
  big   one 256 MB object          target: >= 90% of fget_object's throughput
  small 1,000 small files (prefix) target: >= 4x faster than a fget_object loop
The S3 server (moto, `python -m moto.server`) runs as a separate process on
127.0.0.1 and serves both sides. Each side gets one untimed warm-up run, then
REPEATS timed runs, the two sides alternating; the median counts (min..max shown).
Also printed: the server's own ceiling (the same GETs in parallel, nothing written)
and the server's CPU time per request, read from /proc (Linux), which bound what
any client can reach against this server. Prints ratios, not a test.
Usage: python bench/download.py [BIG_MB] [N_SMALL] [REPEATS]   (env BENCH_WORKERS=16)

Another S3 server instead of moto (bench/cluster.py: the test cluster's keep-alive
gofakes3): env BENCH_S3_ENDPOINT=HOST:PORT, BENCH_S3_ACCESS_KEY, BENCH_S3_SECRET_KEY,
BENCH_S3_PID (its process, for the CPU figures) and BENCH_S3_NAME (how it is printed).
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dflowctl.repository import S3Repository  # noqa: E402
from dflowctl.storage import S3Store  # noqa: E402

BUCKET = "bench"
SMALL_PREFIX = "wf/pod/many/"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    host = f"127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://{host}/moto-api/data.json", timeout=1):
                return proc, host
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto server did not start")


class Server:
    """The S3 server both sides talk to: moto started here, or one given by BENCH_S3_* env."""

    def __init__(self) -> None:
        endpoint = os.environ.get("BENCH_S3_ENDPOINT")
        self.proc: subprocess.Popen[bytes] | None = None
        if endpoint:
            self.host = endpoint
            self.access = os.environ["BENCH_S3_ACCESS_KEY"]
            self.secret = os.environ["BENCH_S3_SECRET_KEY"]
            self.pid = int(os.environ.get("BENCH_S3_PID") or 0)
            self.name = os.environ.get("BENCH_S3_NAME") or f"S3 at {endpoint}"
        else:
            self.proc, self.host = start_moto()
            self.access = self.secret = "bench"
            self.pid = self.proc.pid
            self.name = f"loopback moto (separate process) at {self.host}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (0.0 where /proc is absent)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Side:
    """Timed runs of one side; ``setup`` (untimed) runs before each."""

    def __init__(self, fn: Callable[[], None], setup: Callable[[], None] | None, server_pid: int) -> None:
        self.fn = fn
        self.setup = setup
        self.pid = server_pid
        self.times: list[float] = []
        self.server_cpu: list[float] = []

    def run(self, timed: bool = True) -> None:
        if self.setup is not None:
            self.setup()
        c0 = cpu_seconds(self.pid)
        t0 = time.perf_counter()
        self.fn()
        dt = time.perf_counter() - t0
        if timed:
            self.times.append(dt)
            self.server_cpu.append(cpu_seconds(self.pid) - c0)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def spread(self, fmt: str = "{:.2f}") -> str:
        return f"{fmt.format(min(self.times))}..{fmt.format(max(self.times))}"

    def server_ms_per(self, n: int) -> float:
        return 1000 * statistics.median(self.server_cpu) / n


def alternate(sides: list[Side], repeats: int) -> None:
    for side in sides:  # warm-up: imports, first connections, page cache
        side.run(timed=False)
    for _ in range(repeats):
        for side in sides:
            side.run()


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    big_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    n_small = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    workers = int(os.environ.get("BENCH_WORKERS", "16"))
    import urllib3
    from minio import Minio

    server = Server()
    host, pid, access, secret = server.host, server.pid, server.access, server.secret
    work = Path(tempfile.mkdtemp(prefix="dflowctl-bench-"))
    client = Minio(host, access, secret, secure=False, region="us-east-1")
    try:
        if not client.bucket_exists(BUCKET):
            client.make_bucket(BUCKET)
        src = work / "big.bin"
        with open(src, "wb") as fh:
            for _ in range(big_mb):
                fh.write(os.urandom(1024 * 1024))
        # uploaded from a child process, so that this process's peak RSS is the downloads' only
        up = (
            "import os, sys; from minio import Minio; Minio(sys.argv[1], os.environ['K'], os.environ['S'], "
            "secure=False, region='us-east-1').fput_object(sys.argv[2], 'wf/pod/big.bin', sys.argv[3], "
            "part_size=64 << 20)"
        )
        keys = {"K": access, "S": secret}
        subprocess.run(
            [sys.executable, "-c", up, host, BUCKET, str(src)], check=True, env={**os.environ, **keys}
        )
        src.unlink()
        small = work / "small.bin"
        for i in range(n_small):
            small.write_bytes(os.urandom(512 + (i * 37) % 4096))
            client.fput_object(BUCKET, f"{SMALL_PREFIX}d{i % 10}/f{i:04d}.bin", str(small))
        small.unlink()

        probe = client.get_object(BUCKET, f"{SMALL_PREFIX}d0/f0000.bin")
        probe.read()
        keep_alive = (probe.headers.get("Connection") or "").lower() != "close"
        probe.release_conn()
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"{server.name}: 1 x {big_mb} MB, {n_small} small files; "
            f"{os.cpu_count()} CPUs, load average {load}; warm-up + median of {repeats}, "
            f"workers {workers}; server keep-alive: {'yes' if keep_alive else 'no (Connection: close)'}"
        )

        repo = S3Repository(
            host, BUCKET, secure=False, region="us-east-1", access_key=access, secret_key=secret
        )
        store = S3Store(repo, workers=workers)
        rss0 = rss_mb()

        def ours_big() -> None:
            store.fetch(
                {"name": "big", "archive": {"none": {}}, "s3": {"key": "wf/pod/big.bin"}}, work / "ours-big"
            )

        def bare_big() -> None:
            client.fget_object(BUCKET, "wf/pod/big.bin", str(work / "bare-big"))

        def rm(path: Path) -> Callable[[], None]:
            return lambda: path.unlink(missing_ok=True)

        big_bare = Side(bare_big, rm(work / "bare-big"), pid)
        big_ours = Side(ours_big, rm(work / "ours-big"), pid)
        alternate([big_bare, big_ours], repeats + 2)  # big runs are cheap; more of them, less noise
        rss_big = rss_mb() - rss0
        assert (work / "ours-big").stat().st_size == big_mb * 1024 * 1024

        def ours_small() -> None:
            store.fetch(
                {"name": "many", "archive": {"none": {}}, "s3": {"key": SMALL_PREFIX.rstrip("/")}},
                work / "ours-small",
            )

        def bare_small() -> None:
            for obj in client.list_objects(BUCKET, prefix=SMALL_PREFIX, recursive=True):
                name = obj.object_name
                client.fget_object(BUCKET, name, str(work / "bare-small" / name[len(SMALL_PREFIX) :]))

        def rmtree(path: Path) -> Callable[[], None]:
            return lambda: shutil.rmtree(path, ignore_errors=True)

        # the server's own ceiling: the same GETs, in parallel, bodies dropped (no files written,
        # no listing); its client's pool holds as many connections as there are threads
        keys = [o.object_name for o in client.list_objects(BUCKET, prefix=SMALL_PREFIX, recursive=True)]
        pooled = Minio(
            host, access, secret, secure=False, region="us-east-1",
            http_client=urllib3.PoolManager(maxsize=workers + 2),
        )  # fmt: skip

        def get_only(key: str) -> Any:
            resp = pooled.get_object(BUCKET, key)
            resp.read()
            resp.release_conn()

        def ceiling() -> None:
            with ThreadPoolExecutor(workers) as pool:
                list(pool.map(get_only, keys))

        small_bare = Side(bare_small, rmtree(work / "bare-small"), pid)
        small_ours = Side(ours_small, rmtree(work / "ours-small"), pid)
        small_ceiling = Side(ceiling, None, pid)
        alternate([small_bare, small_ours, small_ceiling], repeats)
        assert len(list((work / "ours-small").rglob("*.bin"))) == n_small

        # re-run over identical files: nothing is transferred
        t0 = time.perf_counter()
        ours_small()
        t_skip = time.perf_counter() - t0

        big_ratio = big_bare.median / big_ours.median
        small_ratio = small_bare.median / small_ours.median
        bound = small_bare.median / small_ceiling.median
        print(
            f"big   : minio fget {big_mb / big_bare.median:7.1f} MB/s | dflowctl {big_mb / big_ours.median:7.1f} MB/s "
            f"| throughput ratio {big_ratio:.2f} (target >= 0.90) {'OK' if big_ratio >= 0.9 else 'MISS'}"
        )
        print(f"        times: minio {big_bare.spread()} s, dflowctl {big_ours.spread()} s")
        print(
            f"small : minio loop {small_bare.median:6.2f} s   | dflowctl {small_ours.median:6.2f} s "
            f"| speed-up {small_ratio:.1f}x (target >= 4x) {'OK' if small_ratio >= 4 else 'MISS'}"
        )
        print(f"        times: minio {small_bare.spread()} s, dflowctl {small_ours.spread()} s")
        print(
            f"        server ceiling (parallel GETs, nothing written) {small_ceiling.median:6.2f} s "
            f"= {bound:.1f}x, the most any client reaches here; dflowctl reaches "
            f"{small_ceiling.median / small_ours.median:.0%} of it"
        )
        if small_bare.server_cpu[0] > 0:
            print(
                f"        server CPU per file: minio loop {small_bare.server_ms_per(n_small):.2f} ms (HEAD + GET), "
                f"dflowctl {small_ours.server_ms_per(n_small):.2f} ms (GET), "
                f"ceiling {small_ceiling.server_ms_per(n_small):.2f} ms (GET)"
            )
        print(f"re-run over identical small files: {t_skip:.2f} s (nothing downloaded)")
        print(
            f"bench process peak RSS growth over the big downloads: {rss_big:.0f} MB ({big_mb} MB object, streamed)"
        )
    finally:
        if server.proc is None:  # a server that stays: leave no bench objects in it
            names = [o.object_name for o in client.list_objects(BUCKET, prefix="wf/", recursive=True)]
            for name in names:
                client.remove_object(BUCKET, name)
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
