"""``imagen-mock``: the command line. ``imagen-mock serve`` runs the mock under granian."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "main"]

_ENV_PREFIX = "IMAGEN_MOCK_"


def _env(name: str, default: Any, convert: Callable[[str], Any] = str) -> Any:
    raw = os.environ.get(_ENV_PREFIX + name)
    return default if raw is None or raw == "" else convert(raw)


def _flag(raw: str) -> bool:
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every option's default can come from an environment variable."""
    from mock_server.storage.redis_store import DEFAULT_PREFIX

    parser = argparse.ArgumentParser(
        prog="imagen-mock",
        description="Offline mock of Replicate's google/imagen-4-ultra predictions API.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve the mock over HTTP or HTTPS",
        description=(
            "Serve the predictions API at /v1 and /replicate/v1. Each option may also be "
            "set through the environment variable named in its help; the flag wins."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = serve.add_argument
    add("--host", default=_env("HOST", "127.0.0.1"), help="address to bind [IMAGEN_MOCK_HOST]")
    add("--port", type=int, default=_env("PORT", 8000, int), help="port [IMAGEN_MOCK_PORT]")
    add(
        "--token",
        default=_env("TOKEN", None),
        help="accept only this Bearer token; by default any non-empty token [IMAGEN_MOCK_TOKEN]",
    )
    add(
        "--starting-seconds",
        type=float,
        default=_env("STARTING_SECONDS", 1.0, float),
        help="how long a prediction stays 'starting' [IMAGEN_MOCK_STARTING_SECONDS]",
    )
    add(
        "--processing-seconds",
        type=float,
        default=_env("PROCESSING_SECONDS", 3.0, float),
        help="how long it stays 'processing' [IMAGEN_MOCK_PROCESSING_SECONDS]",
    )
    add(
        "--recording",
        type=Path,
        default=_env("RECORDING", None, Path),
        help="take phase durations and log lines from a recorded live run "
        "(exchanges-live.json of make contract or make drift) instead of the two options "
        "above [IMAGEN_MOCK_RECORDING]",
    )
    add(
        "--retention-seconds",
        type=float,
        default=_env("RETENTION_SECONDS", 3600.0, float),
        help="input, output and logs are removed this long after a prediction ends "
        "[IMAGEN_MOCK_RETENTION_SECONDS]",
    )
    add(
        "--record-ttl-seconds",
        type=float,
        default=_env("RECORD_TTL_SECONDS", 86400.0, float),
        help="predictions are forgotten this long after creation [IMAGEN_MOCK_RECORD_TTL_SECONDS]",
    )
    add(
        "--threads",
        type=int,
        default=_env("THREADS", 1024, int),
        help="most pool threads per worker process, started as needed, for requests that "
        "may wait; each held 'Prefer: wait' request uses one [IMAGEN_MOCK_THREADS]",
    )
    add(
        "--workers",
        type=int,
        default=_env("WORKERS", 1, int),
        help="worker processes; more than one needs --redis-url [IMAGEN_MOCK_WORKERS]",
    )
    add(
        "--redis-url",
        default=_env("REDIS_URL", None),
        help="keep predictions in this Redis (redis://host:port/db) so several workers or "
        "hosts share them; by default they live in the process [IMAGEN_MOCK_REDIS_URL]",
    )
    add(
        "--redis-prefix",
        default=_env("REDIS_PREFIX", DEFAULT_PREFIX),
        help="prefix of every Redis key, so several mocks can share one Redis apart "
        "[IMAGEN_MOCK_REDIS_PREFIX]",
    )
    add(
        "--tls",
        action="store_true",
        default=_env("TLS", False, _flag),
        help="serve HTTPS with a certificate from a locally generated CA [IMAGEN_MOCK_TLS]",
    )
    add(
        "--ca-file",
        type=Path,
        default=_env("CA_FILE", None, Path),
        help="with --tls, write the CA certificate (PEM) here [IMAGEN_MOCK_CA_FILE]",
    )
    add(
        "--trusted-proxies",
        type=int,
        default=_env("TRUSTED_PROXIES", 0, int),
        help="number of proxies in front whose X-Forwarded-* headers to trust "
        "[IMAGEN_MOCK_TRUSTED_PROXIES]",
    )
    add(
        "--max-body-bytes",
        type=int,
        default=_env("MAX_BODY_BYTES", 1024 * 1024, int),
        help="larger request bodies get 413 [IMAGEN_MOCK_MAX_BODY_BYTES]",
    )
    add(
        "--access-log",
        action="store_true",
        default=_env("ACCESS_LOG", False, _flag),
        help="log every request to stderr [IMAGEN_MOCK_ACCESS_LOG]",
    )
    add(
        "--webhook-secret",
        type=_webhook_secret,
        default=_env("WEBHOOK_SECRET", None),
        help="'whsec_<base64>' secret that signs webhook deliveries; by default a random "
        "one per run [IMAGEN_MOCK_WEBHOOK_SECRET]",
    )
    add(
        "--webhook-allowed-hosts",
        default=_env("WEBHOOK_ALLOWED_HOSTS", "localhost,127.0.0.1,::1"),
        help="comma-separated hosts webhook deliveries may be sent to; '*' allows any "
        "(deliveries elsewhere are logged as refused) [IMAGEN_MOCK_WEBHOOK_ALLOWED_HOSTS]",
    )
    add(
        "--faults",
        type=_fault_rates,
        default=_env("FAULTS", ""),
        help="answer this share of API requests with a fault, KIND:RATE,... with KIND one of "
        "429, 402, 500, 503, drop (e.g. 429:0.05,503:0.02) [IMAGEN_MOCK_FAULTS]",
    )
    add(
        "--seed",
        type=int,
        default=_env("SEED", None, int),
        help="seed of the --faults draw: the same seed and requests give the same faults; "
        "random (and logged) by default [IMAGEN_MOCK_SEED]",
    )
    return parser


def _redis_answers(url: str) -> bool:
    """Whether the Redis at ``url`` answers a PING (else say why on stderr)."""
    import redis

    try:
        with redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3) as client:
            client.ping()
    except (ValueError, redis.RedisError) as exc:
        print(f"imagen-mock: cannot use --redis-url {url}: {exc}", file=sys.stderr)
        return False
    return True


def _fault_rates(raw: str) -> str:
    from mock_server.domain.faults import FaultError, parse_rates

    try:
        parse_rates(raw)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return raw


def _webhook_secret(raw: str) -> str:
    from mock_server.webhooks.signing import secret_key

    try:
        secret_key(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return raw


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``imagen-mock`` command."""
    args = build_parser().parse_args(argv)
    if args.ca_file is not None and not args.tls:
        print("imagen-mock: --ca-file needs --tls", file=sys.stderr)
        return 2
    if args.workers < 1 or args.threads < 1:
        print("imagen-mock: --workers and --threads must be at least 1", file=sys.stderr)
        return 2
    if args.redis_url and not _redis_answers(args.redis_url):
        return 2
    if args.workers > 1 and not args.redis_url:
        print(
            "imagen-mock: --workers above 1 needs --redis-url (each process would "
            "otherwise keep its own predictions)",
            file=sys.stderr,
        )
        return 2
    config = {
        "MOCK_TOKEN": args.token,
        "MOCK_STARTING_SECONDS": args.starting_seconds,
        "MOCK_PROCESSING_SECONDS": args.processing_seconds,
        "MOCK_RETENTION_SECONDS": args.retention_seconds,
        "MOCK_RECORDING": str(args.recording) if args.recording else None,
        "MOCK_RECORD_TTL_SECONDS": args.record_ttl_seconds,
        "MOCK_TRUSTED_PROXIES": args.trusted_proxies,
        "MAX_CONTENT_LENGTH": args.max_body_bytes,
        "MOCK_WEBHOOK_SECRET": args.webhook_secret,
        "MOCK_WEBHOOK_ALLOWED_HOSTS": args.webhook_allowed_hosts,
        "MOCK_FAULTS": args.faults,
        "MOCK_SEED": args.seed,
        "MOCK_REDIS_URL": args.redis_url,
        "MOCK_REDIS_PREFIX": args.redis_prefix,
    }
    from mock_server.serving.server import serve

    tls_dir = tempfile.TemporaryDirectory(prefix="imagen-mock-tls-") if args.tls else None
    try:
        tls = None
        if tls_dir is not None:
            from mock_server.serving.tls import make_certificates

            tls = make_certificates(Path(tls_dir.name), args.host, args.ca_file)
            print(f"imagen-mock: CA certificate at {tls.ca_file}", file=sys.stderr)
        scheme = "https" if tls else "http"
        print(f"imagen-mock: serving {scheme}://{args.host}:{args.port}/v1", file=sys.stderr)
        serve(
            config,
            host=args.host,
            port=args.port,
            threads=args.threads,
            workers=args.workers,
            tls=tls,
            access_log=args.access_log,
        )
    finally:
        if tls_dir is not None:
            tls_dir.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
