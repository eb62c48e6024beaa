"""Which pickled values Keel unpickles from its stores: sealed by this project, or trusted.

Pipeline step outputs of kind ``object`` are the only pickles Keel writes to a store, and
unpickling runs code. Anyone who can write both stores can put a pickle of their own under a
step's cache entry, so an object is unpickled only when

- it carries a *seal*: an HMAC-SHA256 of its content digest under this project's key, which
  lives outside the stores (``KEEL_SIGNING_KEY``, else ``.keel/secret``, created on first use
  with mode 0600); since the bytes are verified against the digest on every read, a valid
  seal means the bytes are the ones this project (or a holder of the key) stored; or
- the project says every writer of its stores is trusted: ``[store] trusted = true`` in
  ``keel.toml`` (``KEEL_STORE_TRUSTED``).

Everything else a store holds (Parquet, JSON, plain files, YAML manifests) is read with
parsers that cannot run code.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from keel.config import Config
from keel.errors import ConfigError, InputError
from keel.store._pipelines import StepIO

__all__ = ["SEAL", "ObjectTrust", "UntrustedObjectError"]

SEAL = "seal"
"""The key of a ``StepIO.detail`` that holds an object's seal (hex HMAC-SHA256)."""

KEY_VARIABLE = "KEEL_SIGNING_KEY"
SECRET_FILE = "secret"  # under .keel/
MIN_KEY_LENGTH = 32
_CONTEXT = b"keel object v1\0"

_TRUST_HINT = (
    "Run it again to store a sealed copy (keel run --force STEP). If another project or "
    "machine wrote it on purpose, give both the same KEEL_SIGNING_KEY; set [store] trusted = "
    "true in keel.toml only if every writer of the metadata and artifact stores is trusted "
    "(docs/security.md)."
)


class UntrustedObjectError(InputError):
    """A pickled value in a store is not sealed by this project and the store is not trusted."""


@dataclass(frozen=True)
class ObjectTrust:
    """This project's rule for unpickling: its key, and whether its stores are trusted."""

    key: bytes = field(repr=False)
    trusted: bool = False

    @classmethod
    def of(cls, config: Config, env: Mapping[str, str] | None = None) -> ObjectTrust:
        """The rule of the project ``config`` describes (creating its key on first use)."""
        env = os.environ if env is None else env
        shared = env.get(KEY_VARIABLE)
        if shared is not None:
            if len(shared) < MIN_KEY_LENGTH:
                raise ConfigError(
                    f"{KEY_VARIABLE} is {len(shared)} characters long; a signing key needs "
                    f"at least {MIN_KEY_LENGTH}.",
                    hint='Make one with: python -c "import secrets; print(secrets.token_hex(32))"',
                )
            return cls(shared.encode(), config.store_trusted)
        return cls(_local_key(config.state_dir / SECRET_FILE), config.store_trusted)

    def seal(self, digest: str) -> str:
        """The seal of the content ``digest`` under this key."""
        return hmac.new(self.key, _CONTEXT + digest.encode(), hashlib.sha256).hexdigest()

    def sealed(self, item: StepIO) -> StepIO:
        """``item`` with its seal when it is a pickled object (other kinds are unchanged)."""
        if item.kind != "object":
            return item
        return replace(item, detail={**item.detail, SEAL: self.seal(item.digest)})

    def problem(self, item: StepIO) -> str | None:
        """Why ``item`` must not be unpickled, or ``None`` when it may (or is no pickle)."""
        if item.kind != "object" or self.trusted:
            return None
        found = item.detail.get(SEAL)
        if not isinstance(found, str) or not found:
            return "it has no seal from this project's key"
        if not hmac.compare_digest(found, self.seal(item.digest)):
            return "its seal does not match this project's key"
        return None

    def check(self, item: StepIO, *, where: str) -> None:
        """Raise :class:`UntrustedObjectError` unless ``item`` may be unpickled."""
        reason = self.problem(item)
        if reason is not None:
            raise UntrustedObjectError(
                f"{where} is a pickle that Keel will not load: {reason}, and the store is "
                "not marked trusted (loading a pickle can run any code).",
                hint=_TRUST_HINT,
            )


def _local_key(path: Path) -> bytes:
    """The key in ``path``, written first (0600, atomically) when there is none."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="ascii") as out:
                out.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):  # another process wrote one first
                os.link(tmp, path)  # unlike a rename, never replaces an existing key
        finally:
            tmp.unlink(missing_ok=True)
    key = path.read_text(encoding="ascii", errors="replace").strip()
    if len(key) < MIN_KEY_LENGTH:
        raise ConfigError(
            f"{path} holds no signing key (expected {MIN_KEY_LENGTH}+ characters).",
            hint="Delete it; Keel writes a new one (cached pickles are then re-made once).",
        )
    return key.encode()
