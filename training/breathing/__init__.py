"""Breathing-pattern classifiers (BI-AT-GRU and the comparison models); see training/README.md."""
