"""Orchestration of the stages into user-facing jobs."""

from see3d.pipeline.generate import GenerateConfig, GenerateResult, generate, generate_views

__all__ = ["GenerateConfig", "GenerateResult", "generate", "generate_views"]
