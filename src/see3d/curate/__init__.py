"""WebVi3D-style curation: raw videos -> 3D-aware multi-view clips (``see3d curate``).

Each step is a function that returns its scores (:class:`StepResult`):

>>> from see3d.curate import decode, detect_shots, quality_check, edge_check, dynamic_check, viewpoint_check
>>> from see3d.curate import analyse_clip, process_input, curate, CurateConfig
>>> summary = curate(["videos/", "walk/"], "dataset/", CurateConfig(), workers=4)   # doctest: +SKIP

See ``docs/curate.md`` for what each step does, its published threshold and the measured figures.
"""

from see3d.curate.config import CurateConfig
from see3d.curate.dataset import CurateDataset, is_dataset
from see3d.curate.decode import DecodeError, DecodeStats, Frame, decode, iter_frames_folder, iter_video
from see3d.curate.dynamic import dynamic_check, motion_mask, sampson_distance
from see3d.curate.engine import curate
from see3d.curate.flow import make_flow
from see3d.curate.inputs import expand_inputs
from see3d.curate.pipeline import STEPS, ClipVerdict, InputResult, analyse_clip, process_input
from see3d.curate.quality import quality_check
from see3d.curate.result import StepResult
from see3d.curate.semantic import semantic_check
from see3d.curate.shots import ShotDetector, detect_shots, split_clips
from see3d.curate.static import edge_check, flow_check
from see3d.curate.viewpoint import circle_radius, track_points, viewpoint_check

__all__ = [
    "STEPS",
    "ClipVerdict",
    "CurateConfig",
    "CurateDataset",
    "DecodeError",
    "DecodeStats",
    "Frame",
    "InputResult",
    "ShotDetector",
    "StepResult",
    "analyse_clip",
    "circle_radius",
    "curate",
    "decode",
    "detect_shots",
    "dynamic_check",
    "edge_check",
    "expand_inputs",
    "flow_check",
    "is_dataset",
    "iter_frames_folder",
    "iter_video",
    "make_flow",
    "motion_mask",
    "process_input",
    "quality_check",
    "sampson_distance",
    "semantic_check",
    "split_clips",
    "track_points",
    "viewpoint_check",
]
