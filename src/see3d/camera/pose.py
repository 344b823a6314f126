"""Camera poses: one convention inside see3d, converters at the file boundary.

**Convention.** A pose is a 4x4 float64 *camera-to-world* matrix ``c2w`` in the
OpenCV camera convention: camera x right, y down, z forward (the direction of
view).  ``world_point = c2w @ [x_cam, y_cam, z_cam, 1]``.  Depth maps hold the
camera-frame z (distance along the optical axis, not along the ray).

``transforms.json`` (instant-ngp / nerfstudio / NeRF) stores camera-to-world
matrices in the OpenGL convention (x right, y up, z backward).  The two differ
by flipping the camera's y and z axes: ``c2w_gl = c2w_cv @ diag(1, -1, -1, 1)``;
the conversion is its own inverse.
"""

from __future__ import annotations

import numpy as np

from see3d.errors import See3DError

_FLIP_YZ = np.diag([1.0, -1.0, -1.0, 1.0])


def as_pose(c2w: np.ndarray, name: str = "pose") -> np.ndarray:
    """Validate and return a 4x4 float64 camera-to-world matrix (a rigid transform)."""
    m = np.asarray(c2w, dtype=np.float64)
    if m.shape == (3, 4):
        m = np.vstack([m, [0.0, 0.0, 0.0, 1.0]])
    if m.shape != (4, 4):
        raise See3DError(f"{name}: expected a 4x4 (or 3x4) matrix, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise See3DError(f"{name}: matrix has NaN or infinite entries")
    R = m[:3, :3]
    if not np.allclose(m[3], [0, 0, 0, 1], atol=1e-6):
        raise See3DError(f"{name}: last row must be [0, 0, 0, 1], got {m[3].tolist()}")
    if not np.allclose(R.T @ R, np.eye(3), atol=1e-3) or np.linalg.det(R) < 0:
        raise See3DError(f"{name}: rotation part is not a proper rotation (orthonormal, det +1)")
    return m


def opencv_to_opengl(c2w: np.ndarray) -> np.ndarray:
    """OpenCV camera-to-world (x right, y down, z forward) -> OpenGL/NeRF (y up, z back)."""
    return np.asarray(c2w, dtype=np.float64) @ _FLIP_YZ


def opengl_to_opencv(c2w: np.ndarray) -> np.ndarray:
    """OpenGL/NeRF camera-to-world -> OpenCV camera-to-world (inverse of :func:`opencv_to_opengl`)."""
    return np.asarray(c2w, dtype=np.float64) @ _FLIP_YZ


def invert(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid 4x4 transform (works on ``[..., 4, 4]``)."""
    T = np.asarray(T, dtype=np.float64)
    R = T[..., :3, :3]
    t = T[..., :3, 3]
    out = np.zeros_like(T)
    Rt = np.swapaxes(R, -1, -2)
    out[..., :3, :3] = Rt
    out[..., :3, 3] = -(Rt @ t[..., None])[..., 0]
    out[..., 3, 3] = 1.0
    return out


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = (0.0, -1.0, 0.0)) -> np.ndarray:
    """OpenCV camera-to-world at ``eye`` looking at ``target``.

    ``up`` is the world direction that should appear *up* in the image; with the
    default ``(0, -1, 0)`` a camera at the origin looking down +z has the identity pose.
    """
    eye = np.asarray(eye, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    up = np.asarray(up, dtype=np.float64)
    z = target - eye
    n = np.linalg.norm(z)
    if n < 1e-12:
        raise See3DError("look_at: eye and target coincide")
    z = z / n
    x = np.cross(-up, z)  # camera x (right) = down x forward
    if np.linalg.norm(x) < 1e-9:
        raise See3DError("look_at: viewing direction is parallel to the up vector")
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = x, y, z, eye
    return c2w


def rotation_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], dtype=np.float64)


def rotation_y(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float64)


def rotation_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], dtype=np.float64)


def make_pose(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T
