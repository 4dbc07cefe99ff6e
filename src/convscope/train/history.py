"""The per-epoch record of a training run, like ``keras.callbacks.History``.

Like Keras' ``History``, it is also the callback that records it: ``fit`` puts it after
the user's callbacks, so the keys they add to an epoch's logs are recorded too.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .._io import write_text
from ..errors import FormatError

#: Keys every :func:`convscope.train.fit` history has, in this order (``val_*`` only when
#: the data set has a validation split).
STANDARD_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "time_s")


def _to_number(value: Any) -> Any:
    """Turn numpy/torch scalars into ``float`` (``int`` stays ``int``); other values pass."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", 0) == 0:
        out = item()
        return out if isinstance(out, int) and not isinstance(out, bool) else float(out)
    return value


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _from_json(value: Any) -> Any:
    return math.nan if value is None else value


class History:
    """Per-epoch numbers of a training run: ``history.history["val_loss"][epoch]``.

    ``history.history`` is a ``dict[str, list]`` as in Keras, with one entry per epoch
    for every key. A key that a callback adds only on some epochs holds ``nan`` on the
    others (``null`` in JSON, an empty cell in CSV).

    Example:
        >>> h = History()
        >>> h.append({"epoch": 1, "loss": 0.5})
        >>> h.append({"epoch": 2, "loss": 0.25})
        >>> h["loss"], len(h)
        ([0.5, 0.25], 2)
        >>> History.from_json(h.to_json()) == h
        True
    """

    def __init__(self, history: Mapping[str, list[Any]] | None = None) -> None:
        self.history: dict[str, list[Any]] = {k: list(v) for k, v in (history or {}).items()}
        lengths = {len(v) for v in self.history.values()}
        if len(lengths) > 1:
            raise FormatError(f"history columns have different lengths: {sorted(lengths)}")

    def __len__(self) -> int:
        """Number of epochs recorded."""
        return len(next(iter(self.history.values()))) if self.history else 0

    def __getitem__(self, key: str) -> list[Any]:
        return self.history[key]

    def __contains__(self, key: object) -> bool:
        return key in self.history

    def __iter__(self) -> Iterator[str]:
        return iter(self.history)

    def keys(self) -> list[str]:
        """The recorded keys, in insertion order."""
        return list(self.history)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, History):
            return NotImplemented
        if list(self.history) != list(other.history):
            return False
        for key, values in self.history.items():
            for a, b in zip(values, other.history[key], strict=True):
                both_nan = isinstance(a, float) and isinstance(b, float) and a != a and b != b
                if a != b and not both_nan:
                    return False
        return True

    def __repr__(self) -> str:
        return f"History(epochs={len(self)}, keys={self.keys()})"

    def append(self, logs: Mapping[str, Any]) -> None:
        """Add one epoch; keys new to the history are back-filled with ``nan``."""
        n = len(self)
        for key, value in logs.items():
            if key not in self.history:
                self.history[key] = [math.nan] * n
            self.history[key].append(_to_number(value))
        for values in self.history.values():
            if len(values) == n:  # a key this epoch did not report
                values.append(math.nan)

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any], model: Any = None) -> None:
        """Record an epoch as a training callback: ``epoch`` (1-based) then ``logs``.

        Example:
            >>> h = History()
            >>> h.on_epoch_end(0, {"loss": 0.5})
            >>> h.last()
            {'epoch': 1, 'loss': 0.5}
        """
        self.append({"epoch": epoch + 1, **logs})

    def last(self) -> dict[str, Any]:
        """The numbers of the last epoch (an empty dict when there is none)."""
        return {k: v[-1] for k, v in self.history.items()} if len(self) else {}

    def to_dict(self) -> dict[str, list[Any]]:
        """A JSON-safe copy (non-finite floats become ``None``)."""
        return {k: [_json_safe(v) for v in values] for k, values in self.history.items()}

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """Return the history as JSON text; also write it atomically to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"
        if path is not None:
            write_text(path, text)
        return text

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """Return the history as CSV (one row per epoch); also write it to ``path`` if given."""
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        keys = self.keys()
        writer.writerow(keys)
        for i in range(len(self)):
            row = []
            for key in keys:
                value = _json_safe(self.history[key][i])
                if value is None:
                    row.append("")
                elif isinstance(value, float):
                    row.append(repr(value))
                elif isinstance(value, (int, str)):
                    row.append(str(value))
                else:
                    row.append(json.dumps(value))
            writer.writerow(row)
        text = buf.getvalue()
        if path is not None:
            write_text(path, text)
        return text

    @classmethod
    def from_json(cls, source: str | os.PathLike) -> History:
        """Read a history written by :meth:`to_json` (a path or the JSON text itself).

        Raises:
            FormatError: the file or text is not a history.
        """
        text = str(source)
        if not text.lstrip().startswith("{"):
            path = Path(source)
            if not path.exists():
                raise FormatError(f"history file {path} does not exist")
            text = path.read_text(encoding="utf-8")
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"not a history JSON: {exc}") from None
        if not isinstance(record, dict) or not all(isinstance(v, list) for v in record.values()):
            raise FormatError("not a history JSON: expected an object of lists")
        return cls({k: [_from_json(v) for v in values] for k, values in record.items()})
