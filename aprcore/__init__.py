"""aprcore: a numpy reference core of a Qwen2/Llama decoder stack, with a CuPy GPU backend."""

from .config import PRESETS, ConfigError, ModelConfig, preset
from .formats import load, save
from .model import KVCache, Model

__all__ = ["PRESETS", "ConfigError", "KVCache", "Model", "ModelConfig", "load", "preset", "save"]
