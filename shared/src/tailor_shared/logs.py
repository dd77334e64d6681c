"""JSON logs to stdout, configured once per process, so every service's logs are machine-readable."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

#: ``scheme://user:password@host`` (Redis URLs with an ACL user, S3 or Kafka URLs with credentials).
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")
#: ``password=…``, ``"sasl.password": "…"``, ``secret_access_key='…'``, ``token: …`` in settings dumps and errors.
_SECRET_FIELD = re.compile(
    r"(?P<head>(?:password|passwd|secret[a-z_]*|sasl\.password|session_token|ssl\.key\.password|token)"
    r"[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\"'\s,;&)}]+)",
    re.IGNORECASE,
)
REDACTED = "***"


def redact(text: str) -> str:
    """``text`` with passwords in URLs and the values of password/secret/token fields replaced by ``***``: every log
    line passes through it, so a settings dump, a client library's error or a URL never leaks a secret (ADR 0027)."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{REDACTED}@", text)
    return _SECRET_FIELD.sub(lambda m: m["head"] + (m["value"] if m["value"] in ("None", "null") else REDACTED), text)


_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": round(record.created, 3),
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                if isinstance(value, int | float | bool | None):
                    payload[key] = value
                else:
                    payload[key] = redact(value if isinstance(value, str) else repr(value))
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, separators=(",", ":"))


_configured = False


def logging_dict_config(service: str, level: str = "INFO") -> dict[str, Any]:
    """The same JSON-to-stdout set-up as a ``logging.config.dictConfig`` dict, for frameworks (Faust's
    worker) that insist on configuring logging themselves."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter, "service": service}},
        "handlers": {"stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}},
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {name: {"level": _library_level(level)} for name in _NOISY},
    }


#: Libraries whose INFO and DEBUG records are too many: held at INFO or above even when the service runs DEBUG.
#: A logger's own level also saves building the record (an idle Faust worker built aiokafka's DEBUG records
#: several times a second while the root logger was at DEBUG for its spinner: docs/benchmarks.md "Idle cost").
_NOISY = ("aiokafka", "faust", "mode", "grpc")


def _library_level(level: str) -> int:
    return max(logging.INFO, int(logging.getLevelName(level)))


def configure_logging(service: str, level: str = "INFO") -> None:
    """Idempotent: the first call wins, later calls (e.g. from libraries' entry points) change nothing."""
    global _configured
    if _configured:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(_library_level(level))
    _configured = True
