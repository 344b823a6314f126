"""3D Gaussian Splatting: rasterizer (CPU numba / dense PyTorch reference / gsplat), SH colours."""

from see3d.gs.rasterize import RasterOutput, rasterize
from see3d.gs.sh import SH_C0, eval_sh, num_sh_bases, rgb_to_sh, sh_to_rgb
from see3d.gs.model import GaussianModel
from see3d.gs.export import load_gaussians, load_ply, load_splat, save_ply, save_point_cloud, save_splat
from see3d.gs.train import GSTrainConfig, evaluate_views, fit_gaussians, render_views

__all__ = ["RasterOutput", "rasterize", "eval_sh", "num_sh_bases", "rgb_to_sh", "sh_to_rgb", "SH_C0",
           "GaussianModel", "GSTrainConfig", "fit_gaussians", "render_views", "evaluate_views",
           "save_ply", "load_ply", "save_splat", "load_splat", "save_point_cloud", "load_gaussians"]
