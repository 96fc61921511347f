"""Degradation-parameter estimation and the parameter-aware classifier (Endo, Tanaka, Okutomi).

* :class:`ParamEstimator`: Uchida's dilated CNN predicting a JPEG quality or a noise sigma per pixel,
  averaged over the image; :func:`estimate` runs the shipped estimators.
* :class:`ParamAwareClassifier`: Endo's VGG-like classifier with the parameter as a second input,
  estimated by a frozen estimator when unknown.
* :func:`quality_from_jpeg`: the quality a JPEG file's own quantisation tables say (the exact baseline).
* :func:`read_jpeg_history`: the quality a decoded JPEG's pixels say (their DCT quantisation lattice), or that
  they show no JPEG history; :func:`estimate` takes it where it reads one.
* :func:`read_value_levels`: how many levels a region's 8-bit values were quantized to (Ahn's quantization), or
  that they lie on no lattice; :func:`read_impulse_amount`: the share of its values salt and pepper replaced.
* :func:`read_flat_noise`: the noise sigma of any spectrum (a camera's) from a photo's flattest patches;
  :func:`read_blur_sigma`: a Gaussian blur's sigma from the edges (re-blur gradient ratio);
  :func:`read_fnoise_strength`: Ahn's 1/f noise strength f from a region's flattest patches.
* :func:`interval_mean_accuracy`: Endo's Eq. 1.
"""
from .api import estimate, get_estimator
from .checkpoint import load_estimator, read_checkpoint_meta, save_estimator, shipped_weights
from .metrics import JPEG_INTERVALS, NOISE_INTERVALS, interval_mean_accuracy, interval_table
from .models import ParamAwareClassifier, ParamEstimator
from .jpeg_lattice import LatticeReading, read_jpeg_history
from .qtables import TableQuality, quality_from_jpeg, quality_from_tables
from .impulses import ImpulseReading, read_impulse_amount
from .noise_flat import FlatNoiseReading, read_flat_noise
from .blur_width import BlurReading, read_blur_sigma
from .pink_noise import read_fnoise_strength
from .value_lattice import LevelsReading, read_value_levels
from .targets import TARGETS, get_target

try:  # the model registry (distortx.models.registry) lists Endo's two architectures
    from . import archs  # noqa: F401
except ImportError:  # an older distortx without the registry: the modules above still work
    pass

__all__ = [
    "BlurReading", "FlatNoiseReading", "ImpulseReading", "JPEG_INTERVALS", "LatticeReading", "LevelsReading", "NOISE_INTERVALS", "ParamAwareClassifier", "ParamEstimator", "TARGETS", "TableQuality",
    "estimate", "get_estimator", "get_target", "interval_mean_accuracy", "interval_table", "load_estimator", "read_checkpoint_meta",
    "quality_from_jpeg", "read_blur_sigma", "read_flat_noise", "read_fnoise_strength", "quality_from_tables", "read_impulse_amount", "read_jpeg_history", "read_value_levels", "save_estimator", "shipped_weights",
]
