"""Scale-out figures: update-check throughput with 1, 2 and 4 otabox processes on PostgreSQL against
the same on SQLite, and a download answered by a redirect to the bucket against one streamed by otabox.

    python bench/scaleout.py [--seconds 4] [--connections 32] [--size-mb 20]

Needs Debian's postgresql (a private server is started as in the test suite) and moto (an S3 API
server on loopback); wrk for real figures. On a 2-core machine the load generator shares the cores
with the servers, so more than two processes can only show the overhead of more processes: quote the
ratios with the machine they came from."""
from __future__ import annotations

import argparse
import hashlib
import sys

import common
import load
import requests

sys.path.insert(0, str(common.ROOT / "tests"))
from conftest import S3_ENV, MotoServer  # noqa: E402
from postgres import PostgresServer  # noqa: E402

SLUG = "com.example.scale"
SECRET_KEY = "3f8a0d6c2b9e41f7a5c8d0e2b4f6a8c1d3e5f7092b4d6f8a1c3e5a7b9d0f2e4c"


def prepare(workspace, data_dir, env: dict, size_mb: int) -> tuple[dict, dict]:
    """One app with a released bundle of `size_mb`, made through a first server; returns the app and
    the bundle."""
    server = workspace.start(common.otabox_server, data_dir, env)
    api = common.Api(server.url, common.create_admin_key(data_dir, env))
    app = api.create_app(SLUG)
    archive = common.write_random_zip(workspace.dir / f"bundle-{size_mb}.zip", size_mb * 1024 * 1024)
    bundle = api.upload_file(SLUG, "1.0.0", archive)
    api.release(SLUG, bundle["id"])
    server.stop()
    return app, bundle


def check_target(url: str, app: dict) -> load.Target:
    return load.Target(f"{url}/api/v1/apps/{SLUG}/check?platform=ios&version=builtin&deviceId=dev-{{n}}",
                       headers=(("X-Client-Key", app["clientKey"]),))


def measure_checks(workspace, data_dir, env, app, processes: int, seconds: float, connections: int):
    server = workspace.start(common.otabox_server, data_dir, env, ("--workers", str(processes)))
    try:
        target = check_target(server.url, app)
        load.run(target, 1, connections)  # warm-up: serving state, connections
        return max((load.run(target, seconds, connections) for _ in range(2)), key=lambda r: r.rps)
    finally:
        server.stop()


def measure_download(workspace, data_dir, env, app, bundle, seconds: float, connections: int):
    """/dl/ requests per second as otabox answers them (a 302 for the bucket, the bytes otherwise),
    and the SHA-256 of one download followed to its bytes."""
    server = workspace.start(common.otabox_server, data_dir, env)
    try:
        offer = requests.get(check_target(server.url, app).url.replace("{n}", "1"),
                             headers={"X-Client-Key": app["clientKey"]}).json()["bundle"]
        followed = requests.get(offer["url"])
        assert hashlib.sha256(followed.content).hexdigest() == bundle["sha256"], "a download lost bytes"
        result = load.run(load.Target(offer["url"], span=1), seconds, connections)
        return result, followed.history[0].status_code if followed.history else followed.status_code
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--size-mb", type=int, default=20)
    args = parser.parse_args()
    common.print_header("scale-out: processes on SQLite and PostgreSQL, downloads from a bucket", load.tool_name())
    with common.Workspace() as workspace:
        postgres = PostgresServer(common.free_port())
        workspace.callback(postgres.stop)
        moto = MotoServer(workspace.dir)
        workspace.callback(moto.stop)
        bucket = f"bench-{common.free_port()}"
        import boto3

        boto3.client("s3", endpoint_url=moto.endpoint_url, **_credentials()).create_bucket(Bucket=bucket)
        engines = {
            "sqlite": ({}, workspace.dir / "sqlite-data"),
            "postgresql": ({"OTABOX_DATABASE_URL": postgres.new_database(), "OTABOX_SECRET_KEY": SECRET_KEY},
                           workspace.dir / "pg-data"),
        }
        checks = {}
        for engine, (env, data_dir) in engines.items():
            app, _ = prepare(workspace, data_dir, env, 1)
            for processes in (1, 2, 4):
                checks[engine, processes] = measure_checks(workspace, data_dir, env, app, processes, args.seconds,
                                                           args.connections)
        base = checks["sqlite", 1].rps
        print("\n| processes | SQLite req/s | p99 ms | PostgreSQL req/s | p99 ms | PG / SQLite | vs SQLite x1 |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for processes in (1, 2, 4):
            lite, pg = checks["sqlite", processes], checks["postgresql", processes]
            print(f"| {processes} | {lite.rps:.0f} | {lite.p99_ms:.2f} | {pg.rps:.0f} | {pg.p99_ms:.2f} | "
                  f"{common.ratio(pg.rps, lite.rps):.2f} | {common.ratio(pg.rps, base):.2f} |")
        downloads = {}
        for store, extra in (("streamed by otabox", {}),
                             ("302 to the bucket", {**S3_ENV, "OTABOX_STORAGE_URL": f"s3://{bucket}/bundles",
                                                    "OTABOX_S3_ENDPOINT_URL": moto.endpoint_url})):
            env = {**engines["postgresql"][0], "OTABOX_DATABASE_URL": postgres.new_database(), **extra}
            data_dir = workspace.dir / f"dl-{len(downloads)}"
            app, bundle = prepare(workspace, data_dir, env, args.size_mb)
            downloads[store] = measure_download(workspace, data_dir, env, app, bundle, args.seconds, 8)
        print(f"\n| {args.size_mb} MB bundle, 8 connections | otabox answers/s | MB/s through otabox | status |")
        print("| --- | --- | --- | --- |")
        for store, (result, status) in downloads.items():
            print(f"| {store} | {result.rps:.0f} | {result.mb_per_s:.1f} | {status} |")
        streamed, redirected = downloads["streamed by otabox"][0], downloads["302 to the bucket"][0]
        print(f"\nSUMMARY checks PG/SQLite x1 {common.ratio(checks['postgresql', 1].rps, base):.2f}, "
              f"x2 {common.ratio(checks['postgresql', 2].rps, checks['sqlite', 2].rps):.2f}, "
              f"x4 {common.ratio(checks['postgresql', 4].rps, checks['sqlite', 4].rps):.2f}; PG x4/x1 "
              f"{common.ratio(checks['postgresql', 4].rps, checks['postgresql', 1].rps):.2f}; download answers "
              f"redirect/stream {common.ratio(redirected.rps, streamed.rps):.1f}")


def _credentials() -> dict:
    return {"aws_access_key_id": S3_ENV["AWS_ACCESS_KEY_ID"], "aws_secret_access_key": S3_ENV["AWS_SECRET_ACCESS_KEY"],
            "region_name": S3_ENV["AWS_DEFAULT_REGION"]}


if __name__ == "__main__":
    main()
