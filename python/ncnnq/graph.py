"""What calibration and its methods ask of a model's graph beyond its layer list."""

from __future__ import annotations

from ._native import Model


def split_sources(model: Model) -> dict[str, str]:
    """Each blob a Split produced -> the blob it copies (through chains of Splits). The copies
    hold the same data, so their statistics are collected once, on the source."""
    source = {
        top: layer.bottoms[0] for layer in model.layers if layer.type == "Split" and layer.bottoms for top in layer.tops
    }

    def resolve(blob: str) -> str:
        seen = set()
        while blob in source and blob not in seen:
            seen.add(blob)
            blob = source[blob]
        return blob

    return {blob: resolve(blob) for blob in source}
