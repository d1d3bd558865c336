"""Diagnostics that return data: gradient flow through time, Jacobian spectra, clipping.

Plotting lives in :mod:`rnnlab.diagnostics.plots`.
"""

from rnnlab.diagnostics.gradflow import (
    GradientFlow,
    gradient_flow,
    hidden_tensors,
    state_tensors,
)
from rnnlab.diagnostics.jacobian import JacobianSpectrum, cell_jacobians, jacobian_spectrum

__all__ = [
    "GradientFlow",
    "JacobianSpectrum",
    "cell_jacobians",
    "gradient_flow",
    "hidden_tensors",
    "jacobian_spectrum",
    "state_tensors",
]
