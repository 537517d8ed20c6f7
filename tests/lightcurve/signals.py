"""Synthetic transit signals shared by the light-curve tests (relative flux; days)."""

from __future__ import annotations

import numpy as np

from exohunt.lightcurve.views import fold


def box_transit(time, period, epoch, duration, depth):
    """Relative flux 1 with box transits (period, epoch, duration in days)."""
    return 1.0 - depth * (np.abs(fold(time, period, epoch)) < duration / 2)


def trapezoid_transit(time, period, epoch, duration, depth, ingress=0.2):
    """Relative flux with trapezoid transits: ingress and egress each ``ingress`` x duration."""
    edge = np.abs(fold(time, period, epoch)) - duration * (0.5 - ingress)
    return 1.0 - depth * np.clip(1 - edge / (ingress * duration), 0, 1)
