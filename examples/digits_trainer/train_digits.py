"""(b) A trainer of my own: a scikit-learn MLP on the digits dataset, with its config model."""

from pydantic import BaseModel, ConfigDict, Field

import tune_bench


class Config(BaseModel):
    """The keys my trainer takes; a space file with another key or a bad value is refused."""

    model_config = ConfigDict(extra="forbid", strict=True)
    dataset: str = "digits"
    split: str = "seeds"
    hidden: int = Field(32, ge=1)
    alpha: float = Field(1e-4, gt=0)
    max_iter: int = Field(200, ge=1)
    seed: int = Field(0, ge=0)


@tune_bench.trainer(config=Config, metrics=["test_acc", "train_acc", "train_time_ms"])
def train(config: dict) -> dict:
    """Fit an MLP on the handed-over split; return the final metrics."""
    import time
    import warnings

    from sklearn.neural_network import MLPClassifier

    data = tune_bench.dataset()  # decoded once by the driver, from Ray's object store
    x_tr = data.train_x.reshape(len(data.train_y), -1).numpy() / 255.0
    x_te = data.test_x.reshape(len(data.test_y), -1).numpy() / 255.0
    clf = MLPClassifier((config["hidden"],), alpha=config["alpha"],
                        max_iter=config["max_iter"], random_state=config["seed"])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at small max_iter
        clf.fit(x_tr, data.train_y.numpy())
    return {"test_acc": float(clf.score(x_te, data.test_y.numpy())),
            "train_acc": float(clf.score(x_tr, data.train_y.numpy())),
            "train_time_ms": (time.perf_counter() - t0) * 1000}
