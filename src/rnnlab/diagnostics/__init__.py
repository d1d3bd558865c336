"""Diagnostics that return data: gradient flow through time, Jacobian spectra, clipping,
exposure bias.

Plotting lives in :mod:`rnnlab.diagnostics.plots`.
"""

from rnnlab.diagnostics.exposure import ExposureCurve, exposure_bias, kl_to_model
from rnnlab.diagnostics.gradflow import (
    GradientFlow,
    gradient_flow,
    hidden_tensors,
    state_tensors,
)
from rnnlab.diagnostics.jacobian import JacobianSpectrum, cell_jacobians, jacobian_spectrum

__all__ = [
    "ExposureCurve",
    "GradientFlow",
    "JacobianSpectrum",
    "cell_jacobians",
    "exposure_bias",
    "gradient_flow",
    "hidden_tensors",
    "jacobian_spectrum",
    "kl_to_model",
    "state_tensors",
]
