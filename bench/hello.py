"""The baseline of bench/check.py: Flask on waitress answering a constant JSON object, started with
otabox's thread count, so the ratio shows what otabox's own work costs on top of its stack.

Run: python bench/hello.py --port 8081 --threads 8"""
from __future__ import annotations

import argparse
import logging

import waitress
from flask import Flask, jsonify


def make_app() -> Flask:
    app = Flask("hello")

    @app.get("/hello")
    def hello():
        return jsonify({"hello": "world"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # as otabox does: no log line per busy moment
    waitress.serve(make_app(), host="127.0.0.1", port=args.port, threads=args.threads, _quiet=True)


if __name__ == "__main__":
    main()
