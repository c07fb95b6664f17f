"""Input pipeline: ``build_dataset(source, split, ...) -> (tf.data.Dataset, DatasetInfo)``.

Depends only on :mod:`efficientnet_tf.preprocessing`, never on the model.
"""
from efficientnet_tf.data.pipeline import DatasetInfo, build_dataset

__all__ = ["DatasetInfo", "build_dataset"]
