"""Writing meshes: PLY (plyfile, binary, per-vertex colours), GLB and OBJ (trimesh)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from see3d.errors import See3DError

#: Output formats by file suffix.
MESH_FORMATS = (".ply", ".glb", ".obj")


def check_mesh_suffix(path: str | Path) -> str:
    suf = Path(path).suffix.lower()
    if suf not in MESH_FORMATS:
        raise See3DError(f"mesh file {Path(path).name}: unknown format {suf or '(no suffix)'}; use {', '.join(MESH_FORMATS)}")
    if suf in (".glb", ".obj"):
        try:
            import trimesh  # noqa: F401
        except ImportError:
            raise See3DError(f"writing {suf} needs trimesh: pip install 'see3d[mesh]' (or write .ply)") from None
    return suf


def write_mesh(path: str | Path, mesh, fmt: str | None = None) -> None:
    """Write ``mesh`` (:class:`see3d.mesh.Mesh`) to ``path``; the format is ``fmt`` or the suffix."""
    fmt = fmt or check_mesh_suffix(path)
    v = np.asarray(mesh.vertices, np.float32)
    f = np.asarray(mesh.faces, np.int32)
    col = mesh.colors
    if fmt == ".ply":
        from plyfile import PlyData, PlyElement

        fields = [("x", "f4"), ("y", "f4"), ("z", "f4")]
        if col is not None:
            fields += [("red", "u1"), ("green", "u1"), ("blue", "u1")]
        vert = np.empty(len(v), dtype=fields)
        vert["x"], vert["y"], vert["z"] = v.T
        if col is not None:
            vert["red"], vert["green"], vert["blue"] = np.asarray(col, np.uint8).T
        face = np.empty(len(f), dtype=[("vertex_indices", "i4", (3,))])
        face["vertex_indices"] = f
        PlyData([PlyElement.describe(vert, "vertex"), PlyElement.describe(face, "face")], text=False).write(str(path))
        return
    import trimesh

    vc = None if col is None else np.concatenate([np.asarray(col, np.uint8), np.full((len(v), 1), 255, np.uint8)], axis=1)
    tm = trimesh.Trimesh(vertices=v, faces=f, vertex_colors=vc, process=False)
    data = tm.export(file_type=fmt[1:])
    Path(path).write_bytes(data if isinstance(data, bytes) else data.encode())


def read_mesh(path: str | Path):
    """Read a mesh written by :func:`write_mesh` (PLY with plyfile; GLB / OBJ with trimesh)."""
    from see3d.mesh.tsdf import Mesh

    path = Path(path)
    if path.suffix.lower() == ".ply":
        from plyfile import PlyData

        ply = PlyData.read(str(path))
        vt = ply["vertex"]
        v = np.stack([vt["x"], vt["y"], vt["z"]], axis=1).astype(np.float64)
        f = np.stack(list(ply["face"]["vertex_indices"])).astype(np.int64) if len(ply["face"].data) else np.zeros((0, 3), np.int64)
        names = vt.data.dtype.names
        col = np.stack([vt["red"], vt["green"], vt["blue"]], axis=1).astype(np.uint8) if "red" in names else None
        return Mesh(v, f, col)
    import trimesh

    tm = trimesh.load(str(path), force="mesh", process=False)
    col = None
    if getattr(tm.visual, "vertex_colors", None) is not None and len(tm.visual.vertex_colors) == len(tm.vertices):
        col = np.asarray(tm.visual.vertex_colors)[:, :3].astype(np.uint8)
    return Mesh(np.asarray(tm.vertices, np.float64), np.asarray(tm.faces, np.int64), col)
