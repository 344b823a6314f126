"""Reading and writing: images, depth maps, camera files, videos, point clouds."""

from see3d.io.atomic import MARKER, atomic_file, atomic_output_dir, check_output, is_see3d_output
from see3d.io.cameras import CameraSet, read_metric3d_annotations, read_transforms_json, write_transforms_json
from see3d.io.depthmaps import colorize_depth, load_depth, save_depth_npy, save_depth_png, validate_depth
from see3d.io.images import list_images, load_image, save_image, to_float, to_uint8
from see3d.io.ply import read_point_ply, write_point_ply
from see3d.io.video import read_video, write_video

__all__ = [
    "MARKER",
    "atomic_file",
    "check_output",
    "is_see3d_output",
    "atomic_output_dir",
    "CameraSet",
    "read_metric3d_annotations",
    "read_transforms_json",
    "write_transforms_json",
    "colorize_depth",
    "load_depth",
    "save_depth_npy",
    "save_depth_png",
    "validate_depth",
    "list_images",
    "load_image",
    "save_image",
    "to_float",
    "to_uint8",
    "read_point_ply",
    "write_point_ply",
    "read_video",
    "write_video",
]
