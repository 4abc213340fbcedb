"""A quick-look plot of an ATLAS light curve (matplotlib is imported only when called)."""

from __future__ import annotations

import numpy as np

from astroquery_ext._base.extras import require_extra

__all__ = ["plot_lightcurve", "FILTER_COLORS"]

#: Colours of the ATLAS filters (c: cyan, o: orange); other filters are grey.
FILTER_COLORS = {"c": "#17a2b8", "o": "#ff7f0e"}


def plot_lightcurve(table, ax=None, *, atlas_id=None, show_duplicates: bool = False):
    """Plot detections and non-detection limits of one object, per filter.

    Parameters
    ----------
    table : `~astropy.table.Table`
        A table from `~astroquery_ext.atlas.AtlasClass.get_lightcurves` (or one
        with at least ``mjd``, ``mag``, ``filter``; ``magerr``, ``mag5sig``,
        ``detected``, ``dup`` are used when present).
    ax : `matplotlib.axes.Axes`, optional
        Where to draw; default: a new figure's axes.
    atlas_id : int, optional
        The object to plot when the table holds several.
    show_duplicates : bool
        Also draw rows marked ``dup == -1``.

    Returns
    -------
    `matplotlib.axes.Axes`
        Detections are points with error bars; negative-flux detections
        (``mag < 0``) hollow points at ``|mag|``; non-detections downward
        triangles at their 5-sigma limit ``mag5sig``. Magnitudes increase
        downwards.

    Raises
    ------
    astroquery_ext.exceptions.MissingExtraError
        Without matplotlib (``pip install "astroquery-ext[plot]"``); an `ImportError`.
    ValueError
        The table lacks the columns, or holds several objects and
        ``atlas_id`` is not given.
    """
    require_extra("plot", "plot_lightcurve")
    import matplotlib.pyplot as plt
    missing = [c for c in ("mjd", "mag", "filter") if c not in table.colnames]
    if missing:
        raise ValueError(f"the table has no column {', '.join(missing)}: pass a table from get_lightcurves()")
    if "atlas_id" in table.colnames:
        ids = np.unique(np.asarray(table["atlas_id"]))
        if atlas_id is not None:
            table = table[np.asarray(table["atlas_id"]) == int(atlas_id)]
            if not len(table):
                raise ValueError(f"the table has no rows for atlas_id {atlas_id}")
        elif len(ids) > 1:
            raise ValueError(f"the table holds {len(ids)} objects; choose one with atlas_id=")
        label_id = int(table["atlas_id"][0]) if len(table) else None
    else:
        label_id = atlas_id
    if ax is None:
        _, ax = plt.subplots()
    n = len(table)
    detected = (np.asarray(table["detected"], dtype=bool) if "detected" in table.colnames
                else ~np.ma.getmaskarray(table["mag"]))
    if "dup" in table.colnames and not show_duplicates:
        keep = np.ma.filled(np.ma.asarray(table["dup"]), 0) != -1
    else:
        keep = np.ones(n, dtype=bool)
    mjd = np.asarray(table["mjd"], dtype=float)
    mag = np.ma.filled(np.ma.asarray(table["mag"], dtype=float), np.nan)
    err = (np.ma.filled(np.ma.asarray(table["magerr"], dtype=float), np.nan) if "magerr" in table.colnames
           else np.full(n, np.nan))
    limit = (np.ma.filled(np.ma.asarray(table["mag5sig"], dtype=float), np.nan) if "mag5sig" in table.colnames
             else np.full(n, np.nan))
    filters = np.asarray(table["filter"]).astype(str)
    for name in sorted(set(filters.tolist())):
        color = FILTER_COLORS.get(name, "0.5")
        in_filter = (filters == name) & keep
        positive = in_filter & detected & (mag >= 0)
        negative = in_filter & detected & (mag < 0)
        limits = in_filter & ~detected & np.isfinite(limit)
        if positive.any():
            ax.errorbar(mjd[positive], mag[positive], yerr=err[positive], fmt="o", ms=4, color=color,
                        label=f"{name}")
        if negative.any():
            ax.errorbar(mjd[negative], -mag[negative], yerr=err[negative], fmt="o", ms=4, mfc="none",
                        color=color, label=f"{name} negative flux")
        if limits.any():
            ax.scatter(mjd[limits], limit[limits], marker="v", s=12, alpha=0.3, color=color,
                       label=f"{name} 5\u03c3 limit")
    if not ax.yaxis_inverted():
        ax.invert_yaxis()
    ax.set_xlabel("MJD")
    ax.set_ylabel("AB magnitude")
    if label_id is not None:
        ax.set_title(f"ATLAS {label_id}")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return ax
