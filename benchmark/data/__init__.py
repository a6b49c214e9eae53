"""Weld-4M data layer: Sample contract, loader, decoders and data check."""
from .loader import Dataset, Exclusion, load_dataset
from .sample import (CATEGORIES, CATEGORY_CODES, MANIFEST_COLUMNS, MODALITIES, SENSOR_CHANNELS,
                     SENSOR_HEADER, SPLITS, DataError, Sample, WeldConfig)

__all__ = [
    "CATEGORIES", "CATEGORY_CODES", "MANIFEST_COLUMNS", "MODALITIES", "SENSOR_CHANNELS",
    "SENSOR_HEADER", "SPLITS", "DataError", "Dataset", "Exclusion", "Sample", "WeldConfig",
    "load_dataset",
]
