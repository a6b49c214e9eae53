"""Frozen backbones (`BACKBONES`), where their weights come from, the extractors and the feature
cache. Imports registry, profiles and data only."""
