"""Artifact download from a loopback S3 server: dflowctl's S3Store vs a bare minio loop.

Two cases, both `archive: none` as Argo stores them:
  big   one 256 MB object          target: >= 90% of fget_object's throughput
  small 1,000 small files (prefix) target: >= 4x faster than a fget_object loop
The S3 server (moto) runs as a separate process on 127.0.0.1. Each side runs
REPEATS times alternately (the big file REPEATS + 2); the best time counts. Prints ratios, not a test.
Usage: python bench/download.py [BIG_MB] [N_SMALL] [REPEATS]
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dflowctl.repository import S3Repository  # noqa: E402
from dflowctl.storage import S3Store  # noqa: E402

BUCKET = "bench"


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


def best(fn, repeats: int, setup=None) -> float:  # type: ignore[no-untyped-def]
    """Best wall time of ``fn``; ``setup`` (not timed) runs before each call."""
    times = []
    for _ in range(repeats):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    big_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    n_small = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    repeats = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    from minio import Minio

    proc, host = start_moto()
    work = Path(tempfile.mkdtemp(prefix="dflowctl-bench-"))
    try:
        client = Minio(host, "bench", "bench", secure=False, region="us-east-1")
        client.make_bucket(BUCKET)
        src = work / "big.bin"
        with open(src, "wb") as fh:
            for _ in range(big_mb):
                fh.write(os.urandom(1024 * 1024))
        # uploaded from a child process, so that this process's peak RSS is the downloads' only
        up = (
            "import sys; from minio import Minio; Minio(sys.argv[1], 'bench', 'bench', secure=False, "
            "region='us-east-1').fput_object(sys.argv[2], 'wf/pod/big.bin', sys.argv[3], part_size=64 << 20)"
        )
        subprocess.run([sys.executable, "-c", up, host, BUCKET, str(src)], check=True)
        src.unlink()
        small = work / "small.bin"
        for i in range(n_small):
            small.write_bytes(os.urandom(512 + (i * 37) % 4096))
            client.fput_object(BUCKET, f"wf/pod/many/d{i % 10}/f{i:04d}.bin", str(small))
        small.unlink()
        print(f"loopback moto at {host}: 1 x {big_mb} MB, {n_small} small files; best of {repeats}")

        repo = S3Repository(
            host, BUCKET, secure=False, region="us-east-1", access_key="bench", secret_key="bench"
        )
        store = S3Store(repo, workers=int(os.environ.get("BENCH_WORKERS", "16")))
        rss0 = rss_mb()

        def ours_big() -> None:
            dest = work / "ours-big"
            if dest.exists():
                dest.unlink()
            store.fetch({"name": "big", "archive": {"none": {}}, "s3": {"key": "wf/pod/big.bin"}}, dest)

        def bare_big() -> None:
            client.fget_object(BUCKET, "wf/pod/big.bin", str(work / "bare-big"))

        def ours_small() -> None:
            store.fetch(
                {"name": "many", "archive": {"none": {}}, "s3": {"key": "wf/pod/many"}}, work / "ours-small"
            )

        def bare_small() -> None:
            for obj in client.list_objects(BUCKET, prefix="wf/pod/many/", recursive=True):
                name = obj.object_name
                client.fget_object(BUCKET, name, str(work / "bare-small" / name[len("wf/pod/many/") :]))

        t_bare_big = t_ours_big = float("inf")
        for _ in range(repeats + 2):  # alternate, so both see the same machine state; big runs are cheap
            t_bare_big = min(t_bare_big, best(bare_big, 1))
            t_ours_big = min(t_ours_big, best(ours_big, 1))
        rss_big = rss_mb() - rss0
        assert (work / "ours-big").stat().st_size == big_mb * 1024 * 1024
        t_bare_small = t_ours_small = float("inf")
        for _ in range(repeats):
            t_bare_small = min(
                t_bare_small,
                best(bare_small, 1, lambda: shutil.rmtree(work / "bare-small", ignore_errors=True)),
            )
            t_ours_small = min(
                t_ours_small,
                best(ours_small, 1, lambda: shutil.rmtree(work / "ours-small", ignore_errors=True)),
            )
        assert len(list((work / "ours-small").rglob("*.bin"))) == n_small

        # the server's own ceiling: the same GETs, in parallel, bodies dropped (no files written)
        from concurrent.futures import ThreadPoolExecutor

        keys = [o.object_name for o in client.list_objects(BUCKET, prefix="wf/pod/many/", recursive=True)]

        def get_only(key: str) -> None:
            resp = client.get_object(BUCKET, key)
            resp.read()
            resp.release_conn()

        def ceiling() -> None:
            with ThreadPoolExecutor(store.workers) as pool:
                list(pool.map(get_only, keys))

        t_ceiling = best(ceiling, repeats)

        # re-run over identical files: nothing is transferred
        t0 = time.perf_counter()
        store.fetch(
            {"name": "many", "archive": {"none": {}}, "s3": {"key": "wf/pod/many"}}, work / "ours-small"
        )
        t_skip = time.perf_counter() - t0

        big_ratio = t_bare_big / t_ours_big
        small_ratio = t_bare_small / t_ours_small
        print(
            f"big   : minio fget {big_mb / t_bare_big:7.1f} MB/s | dflowctl {big_mb / t_ours_big:7.1f} MB/s "
            f"| throughput ratio {big_ratio:.2f} (target >= 0.90) {'OK' if big_ratio >= 0.9 else 'MISS'}"
        )
        print(
            f"small : minio loop {t_bare_small:6.2f} s   | dflowctl {t_ours_small:6.2f} s "
            f"| speed-up {small_ratio:.1f}x (target >= 4x) {'OK' if small_ratio >= 4 else 'MISS'}"
        )
        print(
            f"        server ceiling (bare parallel GETs, nothing written) {t_ceiling:6.2f} s "
            f"= {t_bare_small / t_ceiling:.1f}x; dflowctl reaches {t_ceiling / t_ours_small:.0%} of it"
        )
        print(f"re-run over identical small files: {t_skip:.2f} s (nothing downloaded)")
        print(
            f"bench process peak RSS growth over the big downloads: {rss_big:.0f} MB ({big_mb} MB object, streamed)"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
