"""The S3 stand-in's objects kept on disk between local runs, as S3 keeps them between executions.

moto holds buckets in memory only: every run used to start with empty buckets, so a rerun after a
crash found none of the model-call checkpoints and staged outputs the interrupted run had written
(functions/processing/staging), and the versions it uploaded were gone, so the objects it had
stored came back under new version ids and were processed again. `S3Journal` keeps the objects of
the run's buckets in one append-only file in the work folder:

* `install()` marks every key moto's S3 backend writes or deletes in those buckets, and `app(wsgi)`
  wraps moto's WSGI application so that, once a request is answered (metadata and content type
  are set by then), each key it touched is appended with all its versions (moto's own pickled
  FakeKey, version ids and ETags included). A kill -9 loses at most the request in flight.
* `restore()` puts them back into a fresh moto (the buckets exist by then), and rewrites the file
  with one record per key.

Nothing in the pipeline knows: it sees the same bucket contents a real bucket would show after
the crash. `--fresh` deletes the file.
"""
from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

Record = tuple[str, str, list[Any]]  # bucket, key, every version moto holds for it (oldest first)


class S3Journal:
    """One work folder's S3 objects (buckets `buckets` of moto account `account`), in `path`."""

    def __init__(self, path: Path, buckets: Iterable[str], account: str) -> None:
        self.path = path
        self.buckets = frozenset(buckets)
        self.account = account
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._originals: dict[str, Callable[..., Any]] = {}

    # -- moto's backend --------------------------------------------------------------------
    def _backend(self) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[self.account]["aws"]

    def install(self) -> None:
        """Mark the keys moto's S3 backend writes or deletes (per request thread)."""
        from moto.s3.models import S3Backend

        journal = self

        def marking(name: str) -> Callable[..., Any]:
            original = getattr(S3Backend, name)

            def wrapper(backend: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
                result = original(backend, bucket_name, key_name, *args, **kwargs)
                if bucket_name in journal.buckets and backend.account_id == journal.account:
                    journal._dirty().add((bucket_name, key_name))
                return result

            self._originals[name] = original
            return wrapper

        for name in ("put_object", "delete_object"):  # copy and multipart completion call put_object
            setattr(S3Backend, name, marking(name))

    def uninstall(self) -> None:
        from moto.s3.models import S3Backend

        for name, original in self._originals.items():
            setattr(S3Backend, name, original)
        self._originals.clear()

    def _dirty(self) -> set[tuple[str, str]]:
        if not hasattr(self._local, "dirty"):
            self._local.dirty = set()
        return self._local.dirty

    def app(self, wsgi: Callable[..., Any]) -> Callable[..., Any]:
        """`wsgi` (moto's application), writing what each request changed once it is answered."""

        def application(environ: dict, start_response: Callable) -> Any:
            try:
                return wsgi(environ, start_response)
            finally:
                self.flush()

        return application

    def flush(self) -> None:
        """Append the keys this thread changed since its last flush."""
        dirty = self._dirty()
        if not dirty:
            return
        backend = self._backend()
        blobs = []
        for bucket_name, key_name in sorted(dirty):
            bucket = backend.buckets.get(bucket_name)
            versions = list(bucket.keys.getlist(key_name, [])) if bucket is not None else []
            blobs.append(pickle.dumps((bucket_name, key_name, versions), protocol=pickle.HIGHEST_PROTOCOL))
        dirty.clear()
        with self._write_lock, self.path.open("ab") as out:
            for blob in blobs:
                out.write(blob)
            out.flush()

    # -- between runs ----------------------------------------------------------------------
    def load(self) -> dict[tuple[str, str], list[Any]]:
        """The last record of every key in the file; a record cut short by a kill ends the read."""
        state: dict[tuple[str, str], list[Any]] = {}
        if not self.path.is_file():
            return state
        with self.path.open("rb") as f:
            while True:
                try:
                    bucket, key, versions = pickle.load(f)  # noqa: S301 - our own file, written by this module
                except EOFError:
                    break
                except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError):
                    break  # the tail a kill cut short
                state[(bucket, key)] = versions
        return state

    def restore(self) -> int:
        """Put the kept objects back into moto's buckets (which must exist) and compact the file;
        returns how many keys came back."""
        state = self.load()
        backend = self._backend()
        kept: list[Record] = []
        for (bucket_name, key_name), versions in state.items():
            if bucket_name not in self.buckets or bucket_name not in backend.buckets or not versions:
                continue
            backend.buckets[bucket_name].keys.setlist(key_name, versions)
            kept.append((bucket_name, key_name, versions))
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as out:
            for record in kept:
                pickle.dump(record, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, self.path)
        return len(kept)

    def delete(self) -> None:
        """Forget everything kept (`--fresh`)."""
        self.path.unlink(missing_ok=True)
