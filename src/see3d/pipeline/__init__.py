"""Orchestration of the stages into user-facing jobs."""

from see3d.pipeline.single_view import GenerateConfig, GenerateResult, generate, generate_views

__all__ = ["GenerateConfig", "GenerateResult", "generate", "generate_views"]
