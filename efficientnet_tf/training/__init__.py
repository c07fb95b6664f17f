"""Training: config, optimizer, LR schedule, weight EMA, strategies and the custom training loop.

May import: data, models, serving (the run exports at its end), ``preprocessing``, ``run_dir`` and
``efficientnet_tf.training``. Never scaling or cli.
"""
from efficientnet_tf.training.config import TrainConfig
from efficientnet_tf.training.ema import ExponentialMovingAverage
from efficientnet_tf.training.optimizer import RMSpropTF, build_optimizer, l2_loss, l2_variables
from efficientnet_tf.training.schedule import WarmupDecay
from efficientnet_tf.training.trainer import Diverged, Trainer
