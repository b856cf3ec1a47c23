"""Defaults shared by the pages, the CLI and the report, typed in one place."""

from __future__ import annotations

DEFAULT_RESAMPLES = 1000
"""Bootstrap replicates behind every interval."""

DEFAULT_SEED = 0
"""Seed of the bootstrap streams (split ``i`` draws from ``default_rng([seed, i])``)."""

DEFAULT_CONFIDENCE = 0.95
"""Level of every interval."""

DEFAULT_N_BINS = 15
"""Confidence bins of ECE and the reliability diagrams."""
