"""Convolutional variational autoencoder (the report's detector 2)."""
