"""Cameras: intrinsics, poses (OpenCV camera-to-world), projection, trajectories."""

from see3d.camera.intrinsics import Intrinsics
from see3d.camera.pose import as_pose, invert, look_at, opencv_to_opengl, opengl_to_opencv
from see3d.camera.projection import (
    project_points,
    project_points_torch,
    transform_points,
    unproject_depth,
    unproject_depth_torch,
)
from see3d.camera.trajectory import TRAJECTORIES, TrajectoryConfig, make_trajectory, scene_depth_of

__all__ = [
    "Intrinsics",
    "as_pose",
    "invert",
    "look_at",
    "opencv_to_opengl",
    "opengl_to_opencv",
    "project_points",
    "project_points_torch",
    "transform_points",
    "unproject_depth",
    "unproject_depth_torch",
    "TRAJECTORIES",
    "TrajectoryConfig",
    "make_trajectory",
    "scene_depth_of",
]
