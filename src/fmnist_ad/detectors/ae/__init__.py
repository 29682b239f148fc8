"""Convolutional autoencoder + KDE on its codes (the report's detector 1)."""

from fmnist_ad.detectors.ae.detector import AEDetector

__all__ = ["AEDetector"]
