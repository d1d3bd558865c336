"""Loading a trained run folder back: ``rnnlab.load(run_dir)``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnlab._checks import check_device
from rnnlab._io import CheckpointError, read_json
from rnnlab._plugins import load_recorded
from rnnlab.decoding.seq2seq import decode_sources
from rnnlab.models.registry import build_model
from rnnlab.tasks.base import Batch, Task
from rnnlab.tasks.registry import build_task
from rnnlab.tasks.seq2seq import Seq2SeqCodec, collate_sources
from rnnlab.tasks.spec import TaskSpec
from rnnlab.tasks.tokens import UNK
from rnnlab.training.checkpoint import load_weights
from rnnlab.training.config import RunConfig
from rnnlab.training.run_folder import read_config


@dataclass
class TrainedRun:
    """A trained model with its configuration, ready to predict on new sequences.

    Attributes:
        run_dir: the run folder.
        config: the resolved :class:`RunConfig`.
        spec: the task's interface (:class:`~rnnlab.tasks.spec.TaskSpec`: kind, sizes,
            main metric, what :meth:`predict` returns). A conditional generator is sampled
            with :func:`rnnlab.generation.sample_run`, an encoder-decoder decodes text with
            :meth:`translate`.
        model: the model with the best checkpoint's weights, in eval mode.
        summary: the run's ``summary.json`` (empty while training has not finished).
        task_info: what the run recorded of its task (kind, sizes, the vocabulary of a
            language model, an encoder-decoder's codec, the corpus metadata).
    """

    run_dir: Path
    config: RunConfig
    spec: TaskSpec
    model: nn.Module
    summary: dict[str, Any]
    task_info: dict[str, Any]

    def task(self, T: int | None = None) -> Task:
        """Rebuild the run's task (its data must be available); ``T`` overrides its length
        or delay, to measure length generalisation (a copy model trained at ``T=200``,
        evaluated at ``T=1000``)."""
        options = self.config.task_options
        if T is not None:
            options = dataclasses.replace(options, T=T)
        return build_task(self.config.task, options)

    @property
    def codec(self) -> Seq2SeqCodec:
        """An encoder-decoder's vocabularies, tokenisers and decoding limit (saved with the
        run, so no corpus is needed)."""
        if "codec" not in self.task_info:
            raise ValueError(
                f"run {self.run_dir} is not an encoder-decoder (task kind {self.spec.kind!r})"
            )
        return Seq2SeqCodec.from_json(self.task_info["codec"])

    def translate(
        self,
        texts: Sequence[str],
        beam: int = 1,
        length_penalty: float = 0.6,
        batch_size: int = 64,
    ) -> list[str]:
        """Decode each text with an encoder-decoder run, in order: greedy (``beam=1``) or
        beam search of width ``beam``; the outputs are detokenised text. A blank text is
        answered by an empty output, with nothing decoded (one output per text, always).

        Example::

            run = rnnlab.load("runs/reverse-gru")
            run.translate(["a b c"])          # ['c b a']
        """
        return [text for text, _ in self._decode(texts, beam, length_penalty, batch_size)]

    def attention(self, text: str, beam: int = 1) -> tuple[list[str], list[str], Tensor]:
        """The source tokens, the output tokens (``<eos>`` last when emitted) and the
        attention weights ``(len(output), len(source) + 1)`` of one text (the last source
        column is the ``<eos>`` every source ends with)."""
        codec = self.codec
        src = codec.encode_source(text)
        x, lengths = collate_sources([src])
        device = next(self.model.parameters()).device
        out = decode_sources(
            self.model,
            x.to(device),
            lengths,
            codec.max_target_length,
            beam_size=beam,
            attention=True,
        )
        assert out.attention is not None
        weights = out.attention[0]
        out_tokens = codec.tgt_vocab.decode(out.tokens[0])
        if weights.shape[0] > len(out_tokens):
            out_tokens = [*out_tokens, "<eos>"]
        return self.source_tokens(text), out_tokens, weights

    def source_tokens(self, text: str) -> list[str]:
        """An encoder-decoder's source tokens of ``text`` as the encoder reads them, the
        ``<eos>`` every source ends with last; words outside the vocabulary are marked
        ``(unk)``."""
        codec = self.codec
        src = codec.encode_source(text)
        tokens = [*codec.source_tokenizer.tokenize(text), "<eos>"]
        unknown = {i for i, t in enumerate(src) if t == UNK}
        return [f"{t} (unk)" if i in unknown else t for i, t in enumerate(tokens)]

    def _decode(
        self, texts: Sequence[str], beam: int, length_penalty: float, batch_size: int
    ) -> list[tuple[str, list[int]]]:
        if isinstance(texts, str):
            raise ValueError("translate takes a list of texts, not one string")
        if not texts:
            return []
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text {i} is {type(text).__name__}, expected str")
        blank = [not text.strip() for text in texts]
        if any(blank):  # an empty line answers an empty line, with nothing decoded
            decoded = iter(
                self._decode(
                    [t for t, b in zip(texts, blank, strict=True) if not b],
                    beam,
                    length_penalty,
                    batch_size,
                )
            )
            return [("", []) if b else next(decoded) for b in blank]
        codec = self.codec
        x, lengths = collate_sources([codec.encode_source(t) for t in texts])
        device = next(self.model.parameters()).device
        out = decode_sources(
            self.model,
            x.to(device),
            lengths,
            codec.max_target_length,
            beam_size=beam,
            length_penalty=length_penalty,
            batch_size=batch_size,
        )
        return [(codec.decode_target(ids), ids) for ids in out.tokens]

    def outputs(self, x: Any, lengths: Any = None) -> Tensor:
        """Raw model outputs: logits ``(B, C)``/``(B, T, C)`` or values ``(B, K)``.

        ``x`` is an array or tensor of shape ``(B, T, D)``, or ``(B, T)`` when ``D = 1``.
        Encoder-decoders use :meth:`translate` instead.
        """
        if "codec" in self.task_info:
            raise ValueError("an encoder-decoder run decodes text: use run.translate(texts)")
        try:
            xt = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
            xt = xt.to(torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError) as exc:
            what = type(x).__name__
            raise TypeError(f"x must be an array of numbers, got {what} ({exc})") from None
        if not bool(torch.isfinite(xt).all()):
            raise ValueError("x holds NaN or Inf; expected finite numbers")
        input_size = self.model.input_size
        if xt.dim() == 2 and input_size == 1:
            xt = xt.unsqueeze(-1)
        if xt.dim() != 3 or xt.shape[-1] != input_size or xt.shape[0] == 0 or xt.shape[1] == 0:
            raise ValueError(
                f"x must have shape (B, T, {input_size})"
                + (" or (B, T)" if input_size == 1 else "")
                + f" with B, T >= 1, got {tuple(xt.shape)}"
            )
        lt = None if lengths is None else _check_lengths(lengths, xt.shape[0], xt.shape[1])
        device = next(self.model.parameters()).device
        with torch.no_grad():
            outputs, _ = self.model(
                Batch(xt.to(device), None, None if lt is None else lt.to(device))
            )
        return outputs

    def predict(self, x: Any, lengths: Any = None) -> Tensor:
        """Class indices ``(B,)`` (classify), tags ``(B, T)`` (tag) or values ``(B, K)``."""
        return self.spec.predict(self.outputs(x, lengths))


def load(run_dir: str | Path, device: str = "cpu", checkpoint: str = "best") -> TrainedRun:
    """Load a run folder written by ``rnnlab train`` (weights of the best ``val`` figure).

    Example::

        run = rnnlab.load("runs/mnist1d-gru")
        labels = run.predict(x)  # x: (B, 40, 1)
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise FileNotFoundError(f"run folder {folder} does not exist")
    raw = read_config(folder)
    check_device(device)
    if checkpoint not in ("best", "last"):
        raise ValueError(f"checkpoint must be 'best' or 'last', got {checkpoint!r}")
    load_recorded(list(raw.get("plugins", [])), f"run {folder}")
    config = RunConfig.from_dict(raw)
    info = raw.get("task_info")
    if not isinstance(info, dict):
        raise CheckpointError(f"{folder / 'config.json'} has no task_info")
    spec = TaskSpec.from_json(info)
    model = build_model(config.model, spec)
    model.to(device)
    load_weights(model, folder / f"{checkpoint}.safetensors")
    model.eval()
    summary_path = folder / "summary.json"
    summary = read_json(summary_path) if summary_path.exists() else {}
    return TrainedRun(folder, config, spec, model, summary, info)


def _check_lengths(lengths: Any, batch: int, steps: int) -> Tensor:
    """``lengths`` as a ``(B,)`` int64 tensor, or a one-line ``ValueError`` unless they are
    ``batch`` whole numbers in ``[1, steps]``."""
    try:
        values = torch.as_tensor(lengths if isinstance(lengths, Tensor) else np.asarray(lengths))
    except (TypeError, ValueError, RuntimeError):
        raise ValueError(f"lengths must be {batch} whole numbers, got {lengths!r}") from None
    if values.dim() != 1 or values.shape[0] != batch:
        raise ValueError(f"lengths must have shape ({batch},), got {tuple(values.shape)}")
    if values.is_floating_point() and not bool((values == values.round()).all()):
        raise ValueError(f"lengths must be whole numbers, got {values.tolist()}")
    if values.dtype == torch.bool or not bool(((values >= 1) & (values <= steps)).all()):
        raise ValueError(f"lengths must lie in [1, {steps}] (T), got {values.tolist()}")
    return values.long()
