"""The trainers: plain functions that train one ResNet or one SVM and return its metrics.

No Ray here. The sweep layer calls these with data it decoded once and a callback that reports
each epoch to Tune; `tune-bench train` calls them directly.
"""

from tune_bench.train.resnet import train_resnet
from tune_bench.train.svm import train_svm

__all__ = ["train_resnet", "train_svm"]
