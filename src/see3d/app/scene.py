"""The copy of a run's 3DGS scene that the page's 3D viewer shows.

Gradio's ``Model3D`` draws Gaussian splats with gsplat.js, whose camera always starts at the same
orbit (alpha = beta = 0.5 rad about the origin, radius 5; camera axes as OpenCV's: x right,
y down, z forward) and cannot be set from Python. A scene from ``see3d generate`` lives in the
input camera's frame, so shown as it is, the viewer starts far off to the side and orbits about
the *camera* instead of the scene. The copy is moved (rotation, translation) and scaled so that
the input camera sits where the viewer's camera starts and the scene's median depth is the
orbit radius: the first picture is the photo's point of view and dragging turns the scene about
its middle. The viewer's focal length is fixed (1132 px), so the copy is also scaled about the
orbit centre until the photo's height fills the canvas (a smaller model at the same distance
looks like a wider lens). Only degree-0 colours travel (a rotated scene would need its higher-order ones
rotated too; the quick fit of ``see3d generate`` has none). The copy is a standard 3DGS ``.ply``
(Gradio 6.31 draws ``.ply`` splats but showed nothing for a ``.splat`` in headless Chromium).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

#: gsplat.js orbit controls as Gradio creates them (``new OrbitControls(camera, canvas)``).
VIEWER_ALPHA = 0.5
VIEWER_BETA = 0.5
VIEWER_RADIUS = 5.0
#: gsplat.js camera focal length (fx = fy, canvas pixels, whatever the canvas size).
VIEWER_FOCAL = 1132.0


def viewer_start_pose() -> np.ndarray:
    """OpenCV camera-to-world pose of the viewer's first camera (looking at the origin, no roll)."""
    from see3d.camera import look_at

    a, b, r = VIEWER_ALPHA, VIEWER_BETA, VIEWER_RADIUS
    eye = np.array([r * math.sin(a) * math.cos(b), -r * math.sin(b), -r * math.cos(a) * math.cos(b)])
    return look_at(eye, np.zeros(3))


def _rot_to_quat(R: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z) of a rotation matrix."""
    w = math.sqrt(max(0.0, 1.0 + R[0, 0] + R[1, 1] + R[2, 2])) / 2
    x = math.copysign(math.sqrt(max(0.0, 1.0 + R[0, 0] - R[1, 1] - R[2, 2])) / 2, R[2, 1] - R[1, 2])
    y = math.copysign(math.sqrt(max(0.0, 1.0 - R[0, 0] + R[1, 1] - R[2, 2])) / 2, R[0, 2] - R[2, 0])
    z = math.copysign(math.sqrt(max(0.0, 1.0 - R[0, 0] - R[1, 1] + R[2, 2])) / 2, R[1, 0] - R[0, 1])
    return np.array([w, x, y, z])


def _quat_mul(a, b):
    """Hamilton product of (w, x, y, z) quaternions (``a`` [4], ``b`` [N, 4])."""
    import torch

    aw, ax, ay, az = (float(v) for v in a)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], -1)


def scene_depth(model) -> float:
    """Median depth (z in the input camera's frame) of the Gaussians that are not transparent."""
    z = model.means[:, 2].detach().double().numpy()
    op = model.opacities.detach().numpy()
    keep = (z > 0) & (op >= 0.1)
    z = z[keep] if keep.sum() >= 10 else z[z > 0]
    return float(np.median(z)) if z.size else 1.0


def fit_factor(image_height: int, fy: float, canvas_height: float, margin: float = 0.95) -> float:
    """Scale about the orbit centre that makes the photo's height at the median depth fill
    ``margin`` of a canvas ``canvas_height`` pixels high (the viewer's focal length is fixed)."""
    return margin * canvas_height * fy / (VIEWER_FOCAL * image_height)


def in_camera_frame(model, c2w: np.ndarray):
    """``model`` seen from the camera ``c2w`` (OpenCV camera-to-world): its means and rotations
    in that camera's frame."""
    import torch

    from see3d.gs import GaussianModel

    w2c = np.linalg.inv(np.asarray(c2w, dtype=np.float64))
    R = torch.as_tensor(w2c[:3, :3], dtype=torch.float32)
    t = torch.as_tensor(w2c[:3, 3], dtype=torch.float32)
    with torch.no_grad():
        return GaussianModel(model.means @ R.T + t, _quat_mul(_rot_to_quat(w2c[:3, :3]), model.quats),
                             model.log_scales.clone(), model.opacity_logits.clone(), model.sh.clone())


def to_viewer_frame(model, fit: float = 1.0, c2w: np.ndarray | None = None):
    """``(moved model, camera-to-world of the viewer's start camera)``: ``model`` (in the frame of
    the camera ``c2w``; None = the model's frame is the input camera's, as ``see3d generate``
    writes it) scaled so its median depth is the viewer's orbit radius, then by ``fit`` about the
    orbit centre (see :func:`fit_factor`), and placed so the viewer starts at that camera."""
    import torch

    from see3d.gs import GaussianModel

    if c2w is not None:
        model = in_camera_frame(model, c2w)
    s = VIEWER_RADIUS / scene_depth(model)
    C = viewer_start_pose()
    R = torch.as_tensor(C[:3, :3], dtype=torch.float32)
    t = torch.as_tensor(C[:3, 3], dtype=torch.float32)
    centre = torch.tensor([0.0, 0.0, VIEWER_RADIUS])
    with torch.no_grad():
        cam = centre + fit * (model.means * s - centre)  # in the input camera's frame
        moved = GaussianModel(
            means=cam @ R.T + t,
            quats=_quat_mul(_rot_to_quat(C[:3, :3]), model.quats),
            log_scales=model.log_scales + math.log(s * fit),
            opacity_logits=model.opacity_logits.clone(),
            sh=model.sh[:, :1].clone(),
        )
    return moved, C


def write_viewer_scene(scene_ply: Path, out: Path, fit: float = 1.0, c2w: np.ndarray | None = None) -> Path:
    """``out`` (a 3DGS ``.ply``): the scene of ``scene_ply`` in the viewer's frame, starting at the
    camera ``c2w`` (made once)."""
    from see3d.gs import load_ply, save_ply

    if not out.is_file():
        save_ply(to_viewer_frame(load_ply(scene_ply), fit, c2w)[0], out)
    return out
