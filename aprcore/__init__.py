"""aprcore: a numpy reference core of a Qwen2/Llama decoder stack, with a CuPy GPU backend."""

try:
    from .config import PRESETS, ConfigError, ModelConfig, preset
    from .formats import load, save
    from .model import KVCache, Model
except ModuleNotFoundError as exc:
    # `pip install pytest-falsify` without extras installs this package but not numpy and
    # friends: say which extra brings them, in one line, instead of numpy's bare name.
    if exc.name is None or exc.name.split(".")[0] == __name__:
        raise
    raise ModuleNotFoundError(
        f"aprcore needs the 'core' extra ({exc.name} is not installed): "
        "pip install 'pytest-falsify[core]'", name=exc.name) from None

__all__ = ["PRESETS", "ConfigError", "KVCache", "Model", "ModelConfig", "load", "preset", "save"]
