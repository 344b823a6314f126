"""Noise schedule and DDIM steps (zero-terminal-SNR betas, trailing timesteps), in plain PyTorch.

The same maths as diffusers' ``DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085,
beta_end=0.012, rescale_betas_zero_snr=True, timestep_spacing="trailing", set_alpha_to_one=True)``
(tests compare the two when diffusers is installed); no diffusers import at run time.

Prediction types: ``epsilon`` (the published full model), ``v_prediction`` and ``sample`` (x0).
With zero terminal SNR, ``alpha_bar(999) = 0`` and an epsilon model cannot give ``x0`` at the first
step; the x0 estimate then uses ``alpha_bar >= 2**-24`` (the floor diffusers' Euler scheduler uses).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from see3d.errors import See3DError

PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")
SPACINGS = ("trailing", "see3d", "leading", "linspace")
BETA_SCHEDULES = ("scaled_linear", "linear")
#: How a DDIM step picks the timestep it goes to: ``next`` = the next sampling timestep (the last
#: step to alpha_bar = 1); ``published`` = ``t - T // steps`` as diffusers' DDIMScheduler.step does it
#: (the See3D pipeline), the last step to :attr:`NoiseSchedule.final_alpha_cumprod`.
DDIM_RULES = ("next", "published")
ALPHA_BAR_FLOOR = 2.0**-24


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    """Shift and scale sqrt(alpha_bar) so the last timestep has zero SNR (Lin et al. 2024, Alg. 1)."""
    alphas = 1.0 - betas
    ab_sqrt = torch.cumprod(alphas, 0).sqrt()
    a0, at = ab_sqrt[0].clone(), ab_sqrt[-1].clone()
    ab_sqrt = (ab_sqrt - at) * a0 / (a0 - at)
    ab = ab_sqrt**2
    alphas = torch.cat([ab[0:1], ab[1:] / ab[:-1]])
    return 1.0 - alphas


@dataclass
class NoiseSchedule:
    """SD-style scaled-linear (or linear) betas, optionally rescaled to zero terminal SNR.

    ``set_alpha_to_one``: the alpha_bar after the last step is 1 (True) or ``alphas_cumprod[0]``
    (False, as diffusers' DDIMScheduler with that setting). ``steps_offset``: added to ``leading``
    timesteps (diffusers' convention).
    """

    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    zero_snr: bool = True
    beta_schedule: str = "scaled_linear"
    set_alpha_to_one: bool = True
    steps_offset: int = 0

    def __post_init__(self) -> None:
        n = self.num_train_timesteps
        if self.beta_schedule == "scaled_linear":
            betas = torch.linspace(self.beta_start**0.5, self.beta_end**0.5, n, dtype=torch.float32) ** 2
        elif self.beta_schedule == "linear":
            betas = torch.linspace(self.beta_start, self.beta_end, n, dtype=torch.float32)
        else:
            raise See3DError(f"unknown beta schedule {self.beta_schedule!r}: use one of {', '.join(BETA_SCHEDULES)}")
        if self.zero_snr:
            betas = rescale_zero_terminal_snr(betas)
        self.betas = betas
        self.alphas_cumprod = torch.cumprod(1.0 - betas, 0)
        self.final_alpha_cumprod = 1.0 if self.set_alpha_to_one else float(self.alphas_cumprod[0])

    def _ab(self, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        ab = self.alphas_cumprod.to(like.device)[t.long().to(like.device)].to(like.dtype)
        return ab.reshape(-1, *([1] * (like.ndim - 1)))

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``sqrt(ab_t) x0 + sqrt(1 - ab_t) eps``, ``t`` one per leading index."""
        ab = self._ab(t, x0)
        return ab.sqrt() * x0 + (1.0 - ab).sqrt() * noise

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, prediction_type: str) -> torch.Tensor:
        """Regression target of the network for ``prediction_type``."""
        if prediction_type == "epsilon":
            return noise
        if prediction_type == "sample":
            return x0
        if prediction_type == "v_prediction":
            ab = self._ab(t, x0)
            return ab.sqrt() * noise - (1.0 - ab).sqrt() * x0
        raise See3DError(f"unknown prediction type {prediction_type!r}: use one of {', '.join(PREDICTION_TYPES)}")

    def predict_x0_eps(self, out: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, prediction_type: str):
        """``(x0, eps)`` estimates from the network output."""
        ab = self._ab(t, x_t)
        if prediction_type == "epsilon":
            eps = out
            x0 = (x_t - (1.0 - ab).sqrt() * eps) / ab.clamp_min(ALPHA_BAR_FLOOR).sqrt()
        elif prediction_type == "sample":
            x0 = out
            eps = (x_t - ab.sqrt() * x0) / (1.0 - ab).clamp_min(1e-12).sqrt()
        elif prediction_type == "v_prediction":
            x0 = ab.sqrt() * x_t - (1.0 - ab).sqrt() * out
            eps = ab.sqrt() * out + (1.0 - ab).sqrt() * x_t
        else:
            raise See3DError(f"unknown prediction type {prediction_type!r}: use one of {', '.join(PREDICTION_TYPES)}")
        return x0, eps

    def timesteps(self, steps: int, spacing: str = "trailing", strength: float = 1.0) -> list[int]:
        """Sampling timesteps, descending.

        ``trailing`` (diffusers): ``round(arange(T, 0, -T/steps)) - 1`` -> 999, 949, ... for 20 steps.
        ``see3d`` (the public inference script): ``arange(999, 0, -(999 // steps))``.
        ``leading`` (diffusers): ``arange(steps) * (T // steps) + steps_offset``, descending.
        ``linspace`` (diffusers): ``round(linspace(0, T - 1, steps))``, descending.
        ``strength < 1`` keeps only timesteps ``<= strength * T`` (start from a partly noised image).
        """
        if steps < 1:
            raise See3DError(f"steps must be at least 1, got {steps}")
        if not 0.0 < strength <= 1.0:
            raise See3DError(f"strength must be in (0, 1], got {strength}")
        n = self.num_train_timesteps
        if spacing == "trailing":
            ts = np.round(np.arange(n, 0, -n / steps)).astype(np.int64) - 1
        elif spacing == "see3d":
            ts = np.arange(n - 1, 0, -max(1, (n - 1) // steps)).astype(np.int64)
        elif spacing == "leading":
            ts = (np.arange(0, steps) * (n // steps)).round()[::-1].astype(np.int64) + self.steps_offset
        elif spacing == "linspace":
            ts = np.linspace(0, n - 1, steps).round()[::-1].astype(np.int64)
        else:
            raise See3DError(f"unknown timestep spacing {spacing!r}: use one of {', '.join(SPACINGS)}")
        ts = [int(t) for t in ts if t <= strength * n]
        if not ts:
            raise See3DError(f"strength {strength} leaves no sampling step; raise it or the number of steps")
        return ts

    def prev_timestep(self, ts: list[int], i: int, steps: int, rule: str = "next") -> int:
        """Where the DDIM step from ``ts[i]`` goes (see :data:`DDIM_RULES`); negative = past the end."""
        if rule == "next":
            return ts[i + 1] if i + 1 < len(ts) else -1
        if rule == "published":
            return ts[i] - self.num_train_timesteps // steps
        raise See3DError(f"unknown DDIM rule {rule!r}: use one of {', '.join(DDIM_RULES)}")

    def ddim_step(self, out: torch.Tensor, t: int, t_prev: int, x_t: torch.Tensor, prediction_type: str) -> torch.Tensor:
        """Deterministic DDIM (eta = 0) from ``t`` to ``t_prev``.

        ``t_prev < 0``: the end of sampling, alpha_bar = :attr:`final_alpha_cumprod` (1 unless
        ``set_alpha_to_one`` is False). With zero terminal SNR an epsilon output at ``t = 999``
        (alpha_bar = 0) carries no information about x0: the estimate floors alpha_bar at 2**-24,
        so the step stays finite (diffusers' DDIMScheduler returns inf / nan there).
        """
        tt = torch.full((x_t.shape[0],), t, dtype=torch.long)
        x0, eps = self.predict_x0_eps(out, x_t, tt, prediction_type)
        ab_prev = float(self.alphas_cumprod[t_prev]) if t_prev >= 0 else self.final_alpha_cumprod
        return ab_prev**0.5 * x0 + (1.0 - ab_prev) ** 0.5 * eps
