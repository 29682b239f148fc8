"""fmnist_ad: reproducible image anomaly detection on FashionMNIST."""

__version__ = "0.1.0"
