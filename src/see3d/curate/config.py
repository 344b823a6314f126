"""Settings of a curation run: one dataclass, every threshold with its source.

Pixel thresholds are given at :attr:`CurateConfig.ref_size` (a 480-pixel short side, the
"~480p" of the paper) and scaled to the size a step works at, so a 160 x 120 test clip and a
1080p video are judged alike. The published values (REFERENCE.md section 4 and the public
WebVi3D scripts) are marked "published"; where see3d differs, the docstring says why.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from see3d.errors import See3DError


@dataclass(frozen=True)
class CurateConfig:
    # ---- decoding (step 1: temporal-spatial downsampling)
    #: short side of the analysed frames, in pixels (published: ~480p); never upscaled
    analysis_size: int = 480
    #: videos: analyse every n-th decoded frame (published: every 2nd)
    stride: int = 2
    #: folders of frames (photo walks, already sparse): every n-th image
    folder_stride: int = 1
    #: only the first seconds of a video (published: 150 s); ``None`` = the whole video
    max_seconds: float | None = None
    #: pixel thresholds are stated at this short side and scaled to the working size
    ref_size: int = 480

    # ---- shots and clips
    #: PySceneDetect ContentDetector threshold (its default, 27); ``0`` = no shot splitting
    shot_threshold: float = 27.0
    #: split folders of frames into shots too (off: a photo walk is one capture, and its large
    #: steps between photos look like cuts to a content detector)
    folder_shots: bool = False
    #: shortest shot, in analysed frames (cuts closer than this are suppressed)
    shot_min_frames: int = 8
    #: frames per clip, in analysed frames; longer shots give several clips (published: ~20 per kept clip)
    clip_frames: int = 32
    #: clips with fewer analysed frames are dropped ("too_few_frames")
    min_clip_frames: int = 12

    # ---- quality
    #: a frame is black when its mean luma (0-255) is below this
    black_luma: float = 16.0
    #: drop when more than this share of the clip's frames is black
    max_black_fraction: float = 0.2
    #: drop when the clip's median mean luma is outside [dark_luma, bright_luma]
    dark_luma: float = 25.0
    bright_luma: float = 235.0
    #: ... or when the median share of clipped pixels (luma <= 3 or >= 252) exceeds this
    max_clipped_fraction: float = 0.5
    #: drop when the median variance of the Laplacian (at ``ref_size``) is below this
    blur_min: float = 15.0

    # ---- static-camera pre-check (published: s2_generate_flow_earlycheck.py)
    #: Canny thresholds of the edge maps (published 50, 100)
    canny_low: int = 50
    canny_high: int = 100
    #: edge maps of frames two apart "match" at a normalised template score >= this (published 0.7)
    edge_match: float = 0.7
    #: the pre-check looks at the first n analysed frames (published: 20)
    static_frames: int = 20
    #: drop as static when at least this share of the edge pairs match (published: 8 of 9)
    static_fraction: float = 8 / 9
    #: a flow is "still" when its mean |u| + |v| is at most this many pixels (published 0.4)
    still_flow_px: float = 0.4
    #: drop as static when at least this share of the early flows is still (published: 20 of 20)
    still_fraction: float = 0.95

    # ---- flow-based dynamic filter (published: s3_generate_mask.py, s4_filter.py)
    #: optical flow: ``dis`` (OpenCV DIS, CPU) or ``onnx:PATH`` (a learned model from local weights)
    flow: str = "dis"
    #: short side at which flow is computed (DIS at 240 px: ~1 ms a pair; scores are scaled to ``ref_size``)
    flow_size: int = 240
    #: videos: flow is computed for every n-th pair of consecutive analysed frames (the static and
    #: dynamic decisions are shares of pairs: every 2nd pair estimates them at half the cost);
    #: folders of frames (short, large steps between photos) use every pair
    pair_step: int = 2
    #: flow correspondences drawn for the fundamental matrix (published: 500, LMedS)
    f_points: int = 500
    #: robust estimator of the fundamental matrix: ``lmeds`` (published), ``ransac`` or ``magsac``
    f_method: str = "ransac"
    #: inlier distance of ``ransac`` / ``magsac``, pixels at ``ref_size``
    f_threshold: float = 1.0
    #: a pixel moves on its own when its Sampson distance exceeds this (pixels at ``ref_size``);
    #: published: Sampson error > H*W/8100 in (H+W)/2-scaled units at 240-270p, i.e. ~2.5 px there
    sampson_px: float = 5.0
    #: ... and above this share of the pixel's own flow length (flow errors grow with the motion)
    sampson_rel: float = 0.2
    #: only errors above this quantile of the frame can be motion (published 0.8)
    error_quantile: float = 0.8
    #: ignore pixels whose forward and backward flows disagree (occlusions, flow failures)
    fb_check: bool = True
    #: forward-backward tolerance: |f + b| < alpha (|f| + |b|) + beta pixels at the flow's size
    #: (published 0.5, 0.5 with RAFT on video; DIS on photo walks needs 0.1: see docs/curate.md)
    fb_alpha: float = 0.1
    fb_beta: float = 0.5
    #: only textured pixels can be motion: smaller structure-tensor eigenvalue above this (0 = all)
    texture_min: float = 1e-4
    #: only pixels that the flow maps onto the same grey value (within this, of 255) can be motion
    #: (0 = off): a wrong flow (occlusion, parallax it could not follow) is not motion
    photo_max: float = 12.0
    #: a frame pair is "dynamic" when its motion mask covers more than this share (published 1e-4
    #: with RAFT; DIS flow is noisier at object borders, so see3d uses 0.5%)
    mask_ratio_min: float = 0.005
    #: drop as dynamic when at least this share of the pairs is dynamic (published 0.6)
    dynamic_fraction: float = 0.6

    # ---- small-viewpoint filter (published: s4_filter.py)
    #: tracked points (published: 100 SuperPoint keypoints + CoTracker; here Shi-Tomasi + pyramidal LK)
    tracks: int = 100
    #: track every n-th analysed frame (published: every 4th extracted frame)
    track_step: int = 2
    #: forward-backward error above which a track is lost, pixels at ``ref_size``
    track_fb_px: float = 1.0
    #: a track is judged when it is followed through at least this share of the clip
    track_min_span: float = 0.5
    #: circle fit: smallest circle through 3 (or across 2) of the points holding this share (published 0.6)
    circle_inliers: float = 0.6
    #: circle hypotheses per track (published: 500)
    circle_iters: int = 100
    #: drop when at least ``small_fraction`` of the judged tracks have radius <= ``small_radius_px``
    #: and the mean radius is <= ``mean_radius_px`` (published: 40 of 100 tracks, 20 px, 10 px)
    small_radius_px: float = 20.0
    mean_radius_px: float = 10.0
    small_fraction: float = 0.4
    #: fewer judged tracks than this: the motion is too large to follow, the filter passes
    min_tracks: int = 10

    # ---- semantic filter (optional; published: Mask R-CNN, person count over the first 21 frames)
    #: ``None`` = off; ``onnx:PATH`` = a detector from local weights (see ``see3d.curate.semantic``)
    semantic: str | None = None
    semantic_frames: int = 21
    semantic_score: float = 0.5
    #: drop when more than this many person/animal detections are found in those frames (published 10)
    semantic_max: int = 10

    # ---- decisions
    #: run every filter even after one has dropped the clip (slower; full scores in the report)
    all_scores: bool = False

    # ---- output
    #: short side of the stored JPEG frames (<= analysis_size; 0 = the analysed size)
    out_size: int = 0
    jpeg_quality: int = 90
    #: a shard is closed when it holds at least this many bytes (whole inputs per shard)
    shard_bytes: int = 256 * 2**20
    #: thumbnails in summary.md: frames per strip and their height
    thumb_frames: int = 6
    thumb_height: int = 64

    def __post_init__(self) -> None:
        pos = ("analysis_size", "stride", "folder_stride", "ref_size", "clip_frames", "min_clip_frames", "flow_size",
               "f_points", "pair_step", "track_step", "tracks", "circle_iters", "jpeg_quality", "shard_bytes", "thumb_frames", "thumb_height",
               "static_frames", "semantic_frames")  # fmt: skip
        for name in pos:
            if int(getattr(self, name)) < 1:
                raise See3DError(f"curate config: {name} must be >= 1, got {getattr(self, name)}")
        if self.min_clip_frames < 3:
            raise See3DError("curate config: min_clip_frames must be >= 3 (a circle needs 3 points)")
        if self.min_clip_frames > self.clip_frames:
            raise See3DError(f"curate config: min_clip_frames {self.min_clip_frames} > clip_frames {self.clip_frames}")
        if not 0 <= self.out_size <= self.analysis_size:
            raise See3DError(f"curate config: out_size must be in [0, analysis_size={self.analysis_size}], got {self.out_size}")
        if not (self.flow in ("dis", "dis:ultrafast", "dis:fast", "dis:medium") or self.flow.startswith("onnx:")):
            raise See3DError(f"curate config: flow must be 'dis', 'dis:ultrafast|fast|medium' or 'onnx:PATH', got {self.flow!r}")
        if self.semantic is not None and not self.semantic.startswith("onnx:"):
            raise See3DError(f"curate config: semantic must be 'onnx:PATH' or off, got {self.semantic!r}")
        for name in ("static_fraction", "still_fraction", "dynamic_fraction", "small_fraction", "error_quantile",
                     "circle_inliers", "track_min_span", "max_black_fraction", "max_clipped_fraction", "mask_ratio_min"):  # fmt: skip
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise See3DError(f"curate config: {name} must be in [0, 1], got {v}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise See3DError(f"curate config: max_seconds must be > 0, got {self.max_seconds}")

    @property
    def output_size(self) -> int:
        return self.out_size or self.analysis_size

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "CurateConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise See3DError(f"curate config: unknown fields {', '.join(unknown)}")
        return cls(**d)

    def digest(self) -> str:
        """A short hash of every setting (a dataset is curated with one set of settings)."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]
