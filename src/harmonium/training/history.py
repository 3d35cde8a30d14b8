"""Per-epoch training metrics returned by :func:`harmonium.fit`."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["History"]


@dataclass
class History:
    """The metrics of each epoch, in order.

    Attributes
    ----------
    records : list of dict
        One dict per epoch: ``epoch``, ``seconds``, ``samples_per_s`` and the monitored
        metrics (``recon_error``, ``pseudo_ll``; with validation data ``val_pseudo_ll``
        and ``free_energy_gap`` = mean F(held-out) - mean F(train)).

    Examples
    --------
    >>> h = History([{"epoch": 1, "recon_error": 0.2}, {"epoch": 2, "recon_error": 0.1}])
    >>> h["recon_error"]
    [0.2, 0.1]
    """

    records: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, metric: str) -> list[float]:
        """Values of one metric over the epochs (``nan`` where it was not measured)."""
        if not any(metric in r for r in self.records):
            raise KeyError(f"no metric {metric!r}; recorded: {sorted(self.metrics)}")
        return [r.get(metric, float("nan")) for r in self.records]

    @property
    def metrics(self) -> list[str]:
        """Names of the recorded metrics, first-seen order."""
        names: dict[str, None] = {}
        for r in self.records:
            names.update(dict.fromkeys(r))
        return list(names)

    def plot(self, metrics: list[str] | None = None):
        """One panel per metric against the epoch; returns a matplotlib Figure."""
        from harmonium.plot import plot_history

        return plot_history(self, metrics)
