"""The text boxes benches/ppocr_int8.py counts: DB's binarized map, regions, score filter, matching."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benches"))
from ppocr_int8 import components, matched_boxes, text_boxes


def test_regions_are_4_connected_and_labelled_by_their_first_pixel():
    mask = np.zeros((6, 7), bool)
    mask[0, 0:3] = True  # a bar
    mask[1, 2] = mask[2, 2] = mask[2, 1] = True  # bending back under it: one region
    mask[3, 4] = mask[4, 5] = True  # diagonal neighbours: two regions
    labels = components(mask)
    assert labels[0, 0] == labels[2, 1] == 1
    assert labels[3, 4] == 3 * 7 + 4 + 1 and labels[4, 5] == 4 * 7 + 5 + 1
    assert (labels[~mask] == 0).all()


def test_boxes_keep_large_confident_regions_only():
    prob = np.zeros((1, 64, 80), np.float32)
    prob[0, 5:15, 10:60] = 0.9  # a word
    prob[0, 30:40, 10:20] = 0.35  # above the binary threshold, below the box score
    prob[0, 50:52, 70:72] = 0.95  # too small
    prob[0, 45:55, 30:50] = 0.8
    prob[0, 49, 30:50] = 0.1  # a gap splits it in two
    assert text_boxes(prob) == [(10, 5, 60, 15), (30, 45, 50, 49), (30, 50, 50, 55)]
    assert text_boxes(np.zeros((1, 8, 8), np.float32)) == []


def test_each_candidate_box_matches_one_reference_box_at_iou_half():
    reference = [(0, 0, 10, 10), (0, 0, 10, 9), (20, 20, 30, 30)]
    assert matched_boxes(reference, [(0, 0, 10, 10)]) == 1  # used once only
    assert matched_boxes(reference, [(0, 0, 10, 10), (0, 0, 10, 9), (20, 20, 30, 24)]) == 2  # IoU 0.4 is no match
    assert matched_boxes(reference, []) == 0
