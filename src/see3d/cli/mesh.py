"""``see3d mesh``: fuse a see3d folder's depths into a TSDF volume and write a coloured mesh."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from see3d.cli._options import overwrite_option
from see3d.errors import See3DError


def mesh_cmd(
    folder: Path = typer.Argument(..., help="A see3d generate / synth output folder (transforms.json, the views, depth/*.npy; or scene.ply with --depth-from gaussians)."),
    out: Path = typer.Option(..., "-o", "--out", help="Mesh file: .ply (binary, vertex colours), .glb or .obj (these two need trimesh: pip install 'see3d\\[mesh]')."),
    depth_from: str = typer.Option("auto", "--depth-from", help="views (the folder's depth/*.npy) | gaussians (depths rendered from its scene.ply at the same cameras) | auto (views when present)."),
    voxel_size: Optional[float] = typer.Option(None, "--voxel-size", help="Voxel edge in metres (default: the longest side of the scene's bounds / --resolution)."),
    resolution: int = typer.Option(256, "--resolution", min=8, max=1024, help="Voxels along the longest side of the scene's bounds when no --voxel-size is given."),
    trunc: float = typer.Option(4.0, "--trunc", min=1.0, help="Truncation distance of the signed distance, in voxels."),
    generated_weight: float = typer.Option(0.5, "--generated-weight", min=0.0, max=1.0, help="Weight of generated pixels (`masks/*.png` == 0) against pixels seen in the input photo (1); 0 fuses only what the photo saw."),
    min_faces: int = typer.Option(32, "--min-faces", min=0, help="Remove connected pieces with fewer faces than this (floaters)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Fuse the views' depth maps into a TSDF volume and extract a coloured triangle mesh.

    The voxel size follows the scene's scale (its bounds / --resolution); marching cubes runs
    only between voxels that a view observed. The mesh is in the folder's world frame (metres).

    Example: see3d generate --example motorcycle --no-gaussians -o out && see3d mesh out -o mesh.ply
    """
    from see3d.io import atomic_file, check_output
    from see3d.mesh import fuse_depths, load_folder_views, write_mesh
    from see3d.mesh.io import check_mesh_suffix

    fmt = check_mesh_suffix(out)
    if voxel_size is not None and not voxel_size > 0:
        raise See3DError(f"--voxel-size must be a positive number of metres, got {voxel_size}")
    real = check_output(out, inputs=[folder], overwrite=overwrite, kind="file")
    t0 = time.perf_counter()
    views = load_folder_views(folder, depth_from=depth_from, generated_weight=generated_weight)
    mesh, vol = fuse_depths(
        views.images,
        views.depths,
        views.intrinsics,
        views.poses,
        voxel_size=voxel_size,
        resolution=resolution,
        trunc_voxels=trunc,
        pixel_weights=views.weights,
        min_component_faces=min_faces,
        progress=not quiet,
    )
    if len(mesh.faces) == 0:
        raise See3DError("the fused surface is empty (every piece was smaller than --min-faces)")
    with atomic_file(real) as tmp:
        write_mesh(tmp, mesh, fmt)
    if not quiet:
        X, Y, Z = vol.shape
        print(
            f"wrote {out}: {len(mesh.vertices)} vertices, {len(mesh.faces)} faces from {len(views.images)} views "
            f"(depths from {views.source}; voxel {vol.voxel * 100:.2f} cm, {X}x{Y}x{Z}) in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )


def register(app: typer.Typer, groups: dict) -> None:
    app.command("mesh")(mesh_cmd)
