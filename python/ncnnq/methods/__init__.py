"""Calibration math, one module per method: thresholds from statistics, weight scales from weights."""
