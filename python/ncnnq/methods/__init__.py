"""Calibration math, one module per method: thresholds from statistics, weight scales from weights.

- ``kl``, ``aciq``, ``eq``: ncnn2table's methods (eq made practical, see eq.py);
- ``mse``: thresholds minimizing the activations' quantization error;
- ``best``: ncnnq's own — the widest weights ncnn's int8 Winograd provably allows, then eq.

``registry.METHODS`` names them and says what each needs; ``ncnnq.calibrate`` runs them.
"""
