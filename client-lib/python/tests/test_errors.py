# SPDX-License-Identifier: MIT
"""bkclient's BK_E* constants equal include/broker/errors.h, and every code has bk_strerror text."""

from __future__ import annotations

import pathlib
import re

import bkclient
from bkclient import _lib


def test_codes_match_errors_h():
    header = pathlib.Path(__file__).resolve().parents[3] / "include" / "broker" / "errors.h"
    codes = dict(re.findall(r"#define (BK_E[A-Z]+) \((-\d+)\)", header.read_text()))
    assert codes, "no BK_E* codes found in errors.h"
    for name, value in codes.items():
        assert getattr(_lib, name) == int(value), name
        assert getattr(bkclient, name) == int(value), name
        assert "unknown" not in bkclient.strerror(int(value)).lower()
