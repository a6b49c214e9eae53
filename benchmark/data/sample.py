"""The Sample record: one weld, its category, split, configuration and files per modality.

This is the contract between the data layer and everything to its right. Decoders in
`benchmark.data.decode` turn a Sample into arrays; nothing else opens dataset files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Category codes are the last two digits of a run id (`08-17-22-0011-00`). Code 12 exists only in
# the synthetic twin: a bead that belongs to another configuration's process.
CATEGORIES: dict[int, str] = {
    0: "Good",
    1: "Excessive_Penetration",
    2: "Burnthrough",
    3: "Porosity",
    4: "Porosity_w_Excessive_Penetration",
    5: "Undercut",
    6: "Overlap",
    7: "Lack_of_Fusion",
    8: "Excessive_Convexity",
    9: "Spatter",
    10: "Warping",
    11: "Crater_Cracks",
    12: "Process_Result_Mismatch",
}
CATEGORY_CODES: dict[str, int] = {name: code for code, name in CATEGORIES.items()}
SPLITS = ("TRAIN", "VAL", "TEST")
MODALITIES = ("video", "audio", "sensor", "image")

# The six process channels, selected by name (never by position) from the sensor CSV.
SENSOR_CHANNELS = (
    "Pressure",
    "CO2 Weld Flow",
    "Feed",
    "Primary Weld Current",
    "Wire Consumed",
    "Secondary Weld Voltage",
)
# The real header, trailing space after `Remarks` included; data rows carry 9 fields.
SENSOR_HEADER = ("Date", "Time", "Part No") + SENSOR_CHANNELS + ("Remarks ",)

MANIFEST_COLUMNS = (
    "CATEGORY", "WELD_TYPE", "THICKNESS_MM", "STEEL_TYPE", "SAMPLES", "CURRENT_A", "VOLTAGE_V",
    "GAS_BAR", "ROBOT_SPEED_CPM", "DIRECTORY", "SUBDIRS", "SPLIT",
)


class DataError(ValueError):
    """A dataset file is missing, unreadable or malformed. The message names the file."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class WeldConfig:
    """The weld configuration: what the robot was set to do (manifest set-points)."""

    weld_type: str  # FILLET or NON_FILLET
    thickness_mm: float
    steel_type: str
    current_a: float
    voltage_v: float
    gas_bar: float
    robot_speed_cpm: float

    @property
    def key(self) -> str:
        return f"{self.weld_type}/{self.steel_type}/{self.thickness_mm:g}mm"


@dataclass(frozen=True)
class Sample:
    id: str  # the run id, e.g. 08-17-22-0011-00
    category: str  # one of CATEGORIES' names
    split: str  # TRAIN, VAL or TEST
    config: WeldConfig
    directory: Path  # <root>/<configuration folder>/<run id>
    video: Path | None = None
    audio: Path | None = None
    sensor: Path | None = None
    images: tuple[Path, ...] = ()  # post-weld views, sorted by file name
    masks: tuple[Path, ...] | None = None  # one PNG per view, same stem, where masks/ exists
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def code(self) -> int:
        return CATEGORY_CODES[self.category]

    @property
    def label(self) -> int:
        """Binary label: 0 normal, 1 defective."""
        return int(self.category != "Good")

    def has(self, modality: str) -> bool:
        if modality == "image":
            return len(self.images) > 0
        return getattr(self, modality) is not None
