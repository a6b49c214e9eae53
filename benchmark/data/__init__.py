"""Weld-4M data layer: Sample contract, loader, decoders, split, recipes, confounds (and their
report), data check, twin. Imports nothing of the suite but `benchmark.metrics` (the confounds
report scores its floors with it).

Names are loaded on first use, so that importing one module of the layer (the Sample contract,
the twin's recipe modes for `bench --help`) does not import pandas and the decoders.
"""
from importlib import import_module

_HOME = {
    "Dataset": "loader", "Exclusion": "loader", "load_dataset": "loader",
    **dict.fromkeys(("CATEGORIES", "CATEGORY_CODES", "MANIFEST_COLUMNS", "MODALITIES",
                     "SENSOR_CHANNELS", "SENSOR_HEADER", "SPLITS", "DataError", "Sample",
                     "WeldConfig"), "sample"),
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name in _HOME:
        return getattr(import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
