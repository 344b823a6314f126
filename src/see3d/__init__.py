"""see3d: one photo, a few photos or a text prompt -> an explorable 3D scene.

Stages (sub-packages): ``camera`` -> ``depth`` -> ``warp`` -> ``fill``/``mvd`` -> ``gs``
-> ``pipeline`` -> ``cli``; beside them ``synth``, ``curate``, ``eval`` and ``io``.
"""

__version__ = "0.1.0"
