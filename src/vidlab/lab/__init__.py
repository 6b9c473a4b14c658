"""Codec lab: encode/decode sweeps, RD curves, BD-rate, enhancer comparison, reports."""
