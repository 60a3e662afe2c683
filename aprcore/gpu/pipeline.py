"""Layer-split (pipeline) decode over several GPUs of one host.

Each device holds a contiguous range of layers as a `GpuDecoder` stage of its own
(weights, KV cache and CUDA graph on that device); the first stage embeds the token,
the last one applies the final norm and the LM head. Per token, each stage runs its
layers on its own stream, then the hidden state (one `hidden_size` float32 vector) moves
to the next device with a peer copy, ordered by an event: no NCCL, no host round trip.

The same split runs with every stage on one device (`devices=(0, 0)`), which is how a
one-GPU host tests the stage boundaries; on two GPUs the copy is a real peer copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..arrays import GpuUnavailable
from ..config import ModelConfig
from ..weights import layer_prefix
from . import faults as gpu_faults
from .decoder import GpuDecoder
from .device import require_cupy

_LAYER = "model.layers."
_PEER_ALREADY_ENABLED = 704  # cudaErrorPeerAccessAlreadyEnabled: a second pipeline on the same pair


def split_layers(n_layers: int, n_stages: int) -> list[range]:
    """Contiguous layer ranges, one per stage, sizes differing by at most one."""
    if n_stages < 1 or n_stages > n_layers:
        raise ValueError(f"cannot split {n_layers} layers over {n_stages} stages")
    base, extra = divmod(n_layers, n_stages)
    out, start = [], 0
    for s in range(n_stages):
        stop = start + base + (1 if s < extra else 0)
        out.append(range(start, stop))
        start = stop
    if gpu_faults.active() == "pipeline_boundary_layer_runs_twice":  # a fault, on purpose
        out = out[:1] + [range(r.start - 1, r.stop) for r in out[1:]]
    return out


def stage_weights(cfg: ModelConfig, weights: Mapping[str, Any], layers: range) -> tuple[ModelConfig, dict[str, Any]]:
    """The config and weights of one stage: its layers renumbered from 0, plus the
    embedding, final norm and head (a stage uses them only at the ends of the pipeline)."""
    out: dict[str, Any] = {}
    for name, w in weights.items():
        if not name.startswith(_LAYER):
            out[name] = w
            continue
        index, _, rest = name[len(_LAYER):].partition(".")
        i = int(index)
        if i in layers:
            out[layer_prefix(i - layers.start) + rest] = w
    return dataclasses.replace(cfg, num_hidden_layers=len(layers)), out


class PipelineDecoder:
    """Greedy decode of one model with its layers split over `devices` (CUDA ids)."""

    def __init__(self, cfg: ModelConfig, dense: Mapping[str, np.ndarray], devices: Sequence[int] = (0, 1),
                 *, max_seq: int = 1024, use_graph: bool = True) -> None:
        cp = require_cupy()
        have = cp.cuda.runtime.getDeviceCount()
        missing = sorted({d for d in devices if not 0 <= d < have})
        if missing:
            raise GpuUnavailable(f"the pipeline needs GPUs {list(devices)}, this host has {have}")
        self.cp, self.cfg, self.devices = cp, cfg, list(devices)
        ranges = split_layers(cfg.num_hidden_layers, len(self.devices))
        self.ranges = ranges
        self.stages: list[GpuDecoder] = []
        for i, (dev, layers) in enumerate(zip(self.devices, ranges, strict=True)):
            scfg, sw = stage_weights(cfg, dense, layers)
            with cp.cuda.Device(dev):
                self.stages.append(GpuDecoder(scfg, sw, max_seq=max_seq, use_graph=use_graph,
                                              take_tokens=i == 0, make_logits=i == len(ranges) - 1))
        self._peer(cp)
        #: per stage but the last: the event after which the next stage has copied its x
        self._copied: list[Any] = [None] * len(self.stages)

    def _peer(self, cp: Any) -> None:
        """Let each stage's device read the previous one's memory directly, where the
        hardware allows (otherwise the driver stages the copy through the host)."""
        for a, b in zip(self.devices, self.devices[1:], strict=False):
            if a != b and cp.cuda.runtime.deviceCanAccessPeer(b, a):
                with cp.cuda.Device(b):
                    try:
                        cp.cuda.runtime.deviceEnablePeerAccess(a)
                    except cp.cuda.runtime.CUDARuntimeError as exc:
                        if exc.status != _PEER_ALREADY_ENABLED:
                            raise

    def step(self, token: int) -> Any:
        """One position through every stage; returns the last stage's device logits,
        ready on the last stage's stream (read them there, as `forward` does).

        Events order the stages both ways: a stage's copy-in waits until the previous
        stage has finished its layers, and a stage's next step waits until the next stage
        has copied its hidden state out, so back-to-back steps never overwrite a hidden
        state that is still being read.
        """
        cp = self.cp
        prev = None
        for i, st in enumerate(self.stages):
            if prev is not None:
                done = cp.cuda.Event(disable_timing=True)
                with cp.cuda.Device(prev.device):
                    done.record(prev.stream)
                with cp.cuda.Device(st.device):
                    st.stream.wait_event(done)
                    cp.cuda.runtime.memcpyPeerAsync(st.x.data.ptr, st.device, prev.x.data.ptr, prev.device,
                                                    prev.x.nbytes, st.stream.ptr)
                    copied = cp.cuda.Event(disable_timing=True)
                    copied.record(st.stream)
                self._copied[i - 1] = copied
            with cp.cuda.Device(st.device):
                if i < len(self.stages) - 1 and self._copied[i] is not None:
                    st.stream.wait_event(self._copied[i])
                st.step(token)
            prev = st
        return self.stages[-1].logits

    def reset(self) -> None:
        for st in self.stages:
            st.reset()

    def forward(self, token_ids: Any) -> np.ndarray:
        """float32 logits [len(token_ids), vocab] for a fresh sequence, on the host."""
        ids = [int(t) for t in np.asarray(token_ids).reshape(-1)]
        self.reset()
        last = self.stages[-1]
        out = np.empty((len(ids), self.cfg.vocab_size), np.float32)
        for i, t in enumerate(ids):
            self.step(t)
            with self.cp.cuda.Device(last.device):
                out[i] = last.logits.get(stream=last.stream)
        return out

    def generate(self, prompt: Any, n_new: int) -> list[int]:
        """Greedy continuation (the next token is read back each step)."""
        ids = [int(t) for t in np.asarray(prompt).reshape(-1)]
        self.reset()
        logits = None
        for t in ids:
            logits = self.step(t)
        out: list[int] = []
        last = self.stages[-1]
        for _ in range(n_new):
            # On the last stage's stream: the null stream does not wait for it, and an
            # argmax there could read the previous step's logits.
            with self.cp.cuda.Device(last.device), last.stream:
                nxt = int(logits.argmax().get(stream=last.stream))
            out.append(nxt)
            logits = self.step(nxt)
        return out
