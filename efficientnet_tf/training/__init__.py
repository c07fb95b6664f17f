"""Training: config, optimizer, LR schedule, weight EMA, strategies and the custom training loop."""
from efficientnet_tf.training.config import TrainConfig, parse
from efficientnet_tf.training.ema import ExponentialMovingAverage
from efficientnet_tf.training.optimizer import RMSpropTF, build_optimizer, l2_loss, l2_variables
from efficientnet_tf.training.schedule import WarmupDecay
from efficientnet_tf.training.run import main
from efficientnet_tf.training.trainer import Diverged, Trainer
