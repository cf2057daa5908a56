"""One implementation of the explicit filters (date range, outlets), rendered for both retrieval paths.

``FilterRule.of(filters)`` compiles a :class:`rag.schema.Filters` once into integer
date keys and outlet keys, and ``mask()`` renders it as a boolean mask over the lexical
index's per-chunk columns; the dense search keeps the chunks that mask admits (see
:meth:`rag.retrieve.Retriever._dense`). An undated chunk never passes a date bound.
Explicit filters are exact; dates read from a question are a ranking signal
(:mod:`rag.retrieve`), never a filter. An outlet is matched by its canonical name, so
the retriever first :func:`resolved` what the user typed through the outlet table the
index was built with ("cnn.com", "CNN Wire" and "cnn" all select "CNN").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from rag.outlets import OutletNames
from rag.schema import Filters, date_key, outlet_key


def resolved(filters: Filters, names: OutletNames) -> Filters:
    """``filters`` with each outlet as ingest names it (:meth:`OutletNames.canonical`): ``cnn.com`` -> ``CNN``."""
    if not filters.outlets:
        return filters
    return replace(filters, outlets=tuple(dict.fromkeys(names.canonical(o) for o in filters.outlets)))


@dataclass(frozen=True)
class FilterRule:
    since: int | None  # YYYYMMDD keys, inclusive
    until: int | None
    outlets: tuple[str, ...]  # outlet keys
    undated: bool = False  # undated chunks pass the date bounds (candidate pools only; never an explicit filter)

    @classmethod
    def of(cls, filters: Filters | None, undated: bool = False) -> FilterRule | None:
        """The compiled rule, or None when ``filters`` admit everything."""
        if not filters:
            return None
        return cls(date_key(filters.since) if filters.since else None,
                   date_key(filters.until) if filters.until else None,
                   tuple(outlet_key(o) for o in filters.outlets), undated)

    def mask(self, date_keys: np.ndarray, outlet_codes: np.ndarray, outlet_table: np.ndarray) -> np.ndarray:
        """Which rows (chunks) pass, given per-row date keys (0 = undated) and outlets (each row's position in
        a table of outlet keys)."""
        dated = np.ones(len(date_keys), dtype=bool)
        if self.since is not None:
            dated &= date_keys >= self.since
        if self.until is not None:
            dated &= (date_keys <= self.until) & (date_keys > 0)
        allowed = dated | (date_keys == 0) if self.undated else dated
        if self.outlets:
            allowed &= np.isin(outlet_table, list(self.outlets))[outlet_codes]
        return allowed
