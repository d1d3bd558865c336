"""Diagnostics that return data: gradient flow through time (per layer and module),
Jacobian spectra, clipping, exposure bias, HM-RNN boundaries.

Plotting lives in :mod:`rnnlab.diagnostics.plots`.
"""

from rnnlab.diagnostics.boundaries import (
    BoundaryAgreement,
    SegmentingCell,
    boundary_agreement,
    boundary_matrix,
    hmrnn_boundaries,
    is_word_boundary,
    word_boundaries,
)
from rnnlab.diagnostics.exposure import (
    ExposureCurve,
    KnownProcess,
    StepModel,
    exposure_bias,
    kl_to_model,
)
from rnnlab.diagnostics.exposure_text import TextSource
from rnnlab.diagnostics.gradflow import (
    FlowCurve,
    GradientFlow,
    StatePart,
    early_late_ratio,
    gradient_flow,
    hidden_tensors,
    state_parts,
    state_tensors,
)
from rnnlab.diagnostics.jacobian import JacobianSpectrum, cell_jacobians, jacobian_spectrum

__all__ = [
    "BoundaryAgreement",
    "ExposureCurve",
    "FlowCurve",
    "GradientFlow",
    "JacobianSpectrum",
    "KnownProcess",
    "SegmentingCell",
    "StatePart",
    "StepModel",
    "TextSource",
    "boundary_agreement",
    "boundary_matrix",
    "cell_jacobians",
    "early_late_ratio",
    "exposure_bias",
    "gradient_flow",
    "hidden_tensors",
    "hmrnn_boundaries",
    "is_word_boundary",
    "jacobian_spectrum",
    "kl_to_model",
    "state_parts",
    "state_tensors",
    "word_boundaries",
]
