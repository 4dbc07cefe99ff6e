"""The HTML report: everything the five seeds compute and draw, for one model, in one page.

``build_report`` runs the pipeline data -> capture -> metrics -> render and assembles the
results into ``OUT/index.html`` (self-contained: inline CSS, no scripts, figures in
``OUT/figures/``), ``OUT/metrics.json`` (every number the page shows, under stable keys)
and the figures. It only assembles: numbers come from :mod:`convscope.metrics`,
pictures from :mod:`convscope.render`.

Example:
    >>> import convscope as cs  # doctest: +SKIP
    >>> model, meta = cs.models.load_model("runs/demo")
    >>> data = cs.data.load("mnist5k")
    >>> report = cs.report.build_report(model, data, "runs/demo/report")
    >>> report.index
    PosixPath('runs/demo/report/index.html')
"""

from __future__ import annotations

from .build import METRICS_KEYS, Report, build_report, default_probe_indices, report_for_run

__all__ = ["METRICS_KEYS", "Report", "build_report", "default_probe_indices", "report_for_run"]
