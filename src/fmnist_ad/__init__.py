"""fmnist_ad: reproducible image anomaly detection on FashionMNIST.

``fmnist_ad.load_detector("ae")`` gives a trained detector with ``score_samples``,
``decision_function`` and ``predict`` (imported on first use: importing the package stays free of
torch for the pipeline's light stages).
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "load_detector":
        from fmnist_ad.scoring import load_detector

        return load_detector
    raise AttributeError(f"module 'fmnist_ad' has no attribute {name!r}")
