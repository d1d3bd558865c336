"""Deep output (Pascanu, Gulcehre, Cho & Bengio 2014): an MLP head instead of a linear one."""

from __future__ import annotations

from torch import Tensor, nn

from rnnlab._checks import check_positive, check_unit_interval

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


class DeepOutput(nn.Module):
    r"""An MLP between the recurrent layers and the readout (a deep-output RNN's head).

    .. math::
        \begin{aligned}
        u^{(1)} &= \phi(W_1 h + b_1) \\
        u^{(k)} &= \phi(W_k u^{(k-1)} + b_k), \qquad k = 2..K \\
        o &= W_{out} u^{(K)} + b_{out}
        \end{aligned}

    with ``K = num_layers`` hidden layers of ``hidden_size`` units and :math:`\phi` tanh or
    ReLU; dropout, when set, is applied to each :math:`u^{(k)}`. It maps the last axis, so it
    serves a seq->vec head ``(B, H)`` and a per-step head ``(B, T, H)`` alike.

    Args:
        input_size: the layers' output size H.
        hidden_size: width of the hidden layers (``--deep-output N``).
        output_size: classes or values.
        num_layers: K, hidden layers of the MLP (1 by default).
        activation: ``"tanh"`` or ``"relu"``.
        dropout: dropout probability on the hidden layers.

    Shapes: ``(..., input_size)`` -> ``(..., output_size)``.

    Example::

        head = DeepOutput(128, 256, 10)
        model = Seq2Vec(build_layers("gru", 1, 128), 10, head=head)

    Notes:
        Pascanu et al. (2014), "How to construct deep recurrent neural networks": the
        deep-output RNN (DO-RNN) puts an MLP between the hidden state and the output so that
        the map from the state to the prediction need not be linear; here the MLP is the
        model's head, and the recurrence is untouched.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        num_layers: int = 1,
        activation: str = "tanh",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive("input_size", input_size)
        check_positive("hidden_size", hidden_size)
        check_positive("output_size", output_size)
        check_positive("num_layers", num_layers)
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}"
            )
        check_unit_interval("dropout", dropout)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = output_size
        modules: list[nn.Module] = []
        size = input_size
        for _ in range(num_layers):
            modules += [nn.Linear(size, hidden_size), ACTIVATIONS[activation]()]
            if dropout > 0:
                modules.append(nn.Dropout(dropout))
            size = hidden_size
        self.hidden = nn.Sequential(*modules)
        self.out = nn.Linear(size, output_size)

    def forward(self, h: Tensor) -> Tensor:
        return self.out(self.hidden(h))


def check_head(head: nn.Module, input_size: int, output_size: int) -> None:
    """One-line error when a model head's declared sizes do not fit ``input_size ->
    output_size`` (read from ``in_features``/``out_features`` or ``input_size``/``output_size``;
    a head that declares neither is taken as is)."""
    fan_in = getattr(head, "in_features", getattr(head, "input_size", None))
    fan_out = getattr(head, "out_features", getattr(head, "output_size", None))
    if fan_in is not None and fan_in != input_size:
        raise ValueError(f"head takes {fan_in} features, but the layers give {input_size}")
    if fan_out is not None and fan_out != output_size:
        raise ValueError(f"head gives {fan_out} outputs, but output_size is {output_size}")
