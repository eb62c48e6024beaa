"""The few filesystem calls the artifact store makes, for a local folder, without fsspec.

fsspec (and the asyncio it imports) costs about 40 ms at start-up, which every ``keel``
command would pay for the default store, a local folder. Local paths use this class;
every other URL goes through fsspec. The method names and behaviour are fsspec's, so the
store's code is the same for both.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterator
from typing import IO, Any

__all__ = ["LocalFS"]


class LocalFS:
    """fsspec's ``LocalFileSystem`` subset: open, put_file, exists, find, rm, makedirs..."""

    def open(self, path: str, mode: str = "rb") -> IO[Any]:
        return open(path, mode)

    def put_file(self, source: str, target: str, **kwargs: Any) -> None:
        shutil.copyfile(source, target)  # sendfile/copy_file_range: copied in the kernel

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def find(self, path: str) -> list[str]:
        return sorted(self._walk(path))

    def _walk(self, path: str) -> Iterator[str]:
        for folder, _, files in os.walk(path):
            for name in files:
                yield os.path.join(folder, name)

    def rm(self, path: str) -> None:
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        os.makedirs(path, exist_ok=exist_ok)

    def size(self, path: str) -> int:
        return os.stat(path).st_size

    def modified(self, path: str) -> dt.datetime:
        return dt.datetime.fromtimestamp(os.stat(path).st_mtime, tz=dt.UTC)

    def mv(self, source: str, target: str) -> None:
        os.replace(source, target)
