"""Dual-discriminator GAN of Kim et al. (ECCV-W 2020), the report's detector 3."""
