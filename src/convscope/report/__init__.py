"""The HTML report: everything the five seeds compute and draw, for one model, in one page.

``build_report`` scans the data once (data -> capture -> every metric's accumulator),
then each section of :mod:`convscope.report.sections` computes its result, draws its
figures (each once; line charts as SVG) and renders its Jinja2 template into
``OUT/index.html`` (no scripts; one stylesheet in ``OUT/static/``; figures in
``OUT/figures/``, each with its size and ``loading="lazy"``); ``OUT/metrics.json``
holds every number the page shows, under stable keys. It only assembles: numbers come
from :mod:`convscope.metrics`, pictures from :mod:`convscope.render`.

Example:
    >>> import dataclasses, tempfile, convscope as cs
    >>> data = cs.data.load("mnist5k")
    >>> small = dataclasses.replace(data, x_test=data.x_test[:40], y_test=data.y_test[:40])
    >>> report = cs.report.build_report(cs.models.build("mnist_convnet"), small, tempfile.mkdtemp())
    >>> report.index.name, sorted(report.metrics)[:3]
    ('index.html', ['atlas', 'channels', 'convscope_version'])
"""

from __future__ import annotations

from .build import build_report
from .inputs import default_probe_indices
from .outputs import METRICS_KEYS, Report
from .run import report_for_run

__all__ = ["METRICS_KEYS", "Report", "build_report", "default_probe_indices", "report_for_run"]
