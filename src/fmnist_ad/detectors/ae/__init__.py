"""Convolutional autoencoder + KDE on its codes (the report's detector 1)."""
