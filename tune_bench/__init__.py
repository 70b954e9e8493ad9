"""tune-bench: Ray Tune sweeps for ResNet and SVM studies, and the tables they produce."""

__version__ = "0.1.0"
