"""Input pipeline: ``build_dataset(source, split, ..., PipelineConfig) -> (tf.data.Dataset, DatasetInfo)``.

May import only :mod:`efficientnet_tf.preprocessing` and ``efficientnet_tf.data``: never the model,
weights, serving, training or cli.
"""
from efficientnet_tf.data.config import DataConfig, PipelineConfig
from efficientnet_tf.data.pipeline import DatasetInfo, build_dataset

__all__ = ["DataConfig", "DatasetInfo", "PipelineConfig", "build_dataset"]
