"""3D Gaussian Splatting: rasterizer (CPU numba / dense PyTorch reference / gsplat), SH colours."""

from see3d.gs.rasterize import RasterOutput, rasterize
from see3d.gs.sh import SH_C0, eval_sh, num_sh_bases, rgb_to_sh, sh_to_rgb

__all__ = ["RasterOutput", "rasterize", "eval_sh", "num_sh_bases", "rgb_to_sh", "sh_to_rgb", "SH_C0"]
