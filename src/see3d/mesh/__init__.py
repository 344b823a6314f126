"""Surface reconstruction: posed depth maps -> TSDF volume -> coloured triangle mesh (``see3d mesh``)."""

from see3d.mesh.folder import DEPTH_SOURCES, FolderViews, load_folder_views
from see3d.mesh.io import MESH_FORMATS, read_mesh, write_mesh
from see3d.mesh.tsdf import Mesh, TSDFVolume, fuse_depths, remove_small_components

__all__ = [
    "DEPTH_SOURCES",
    "FolderViews",
    "load_folder_views",
    "MESH_FORMATS",
    "read_mesh",
    "write_mesh",
    "Mesh",
    "TSDFVolume",
    "fuse_depths",
    "remove_small_components",
]
