"""Grading: take-home packaging, safe unpacking, the sandboxed worker and its wire, reports. Never shipped."""
