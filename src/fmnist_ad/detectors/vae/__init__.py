"""Convolutional variational autoencoder (the report's detector 2)."""

from fmnist_ad.detectors.vae.detector import VAEDetector

__all__ = ["VAEDetector"]
