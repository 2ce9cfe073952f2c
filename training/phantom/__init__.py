"""Synthetic infant lumbar-spine ultrasound clips with pixel ground truth.

``generate_clip(seed, view)`` draws an infant, a probe and its motion from ``seed``; the clip
renders frames on demand (``PhantomFrame``: image, one mask channel per structure of
``label_config.schema.STRUCTURES``, time) and can be written as MP4 or DICOM.
"""

from training.phantom.clip import PhantomClip, PhantomFrame, generate_clip
from training.phantom.writers import write_dicom, write_mp4

__all__ = ["PhantomClip", "PhantomFrame", "generate_clip", "write_dicom", "write_mp4"]
