"""Training for the aprcore decoder: forward with cached activations, hand-written backward,
AdamW, schedules, a standard-library corpus, checkpoints that resume bit-exactly, and
the pretrain / distill loops behind `python -m aprcore pretrain|distill`.

Everything runs on numpy or cupy arrays with the same code: the array module is taken
from the weights (`aprcore.arrays.get_array_module`), so moving the weights to the GPU moves the training.
"""

from .graph import backward, cross_entropy, forward, loss_and_grads
from .optim import AdamW, clip_grad_norm, lr_at

__all__ = ["AdamW", "backward", "clip_grad_norm", "cross_entropy", "forward",
           "loss_and_grads", "lr_at"]
