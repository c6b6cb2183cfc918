"""Accuracy harness: events and tracks of the pipeline against labelled video."""
